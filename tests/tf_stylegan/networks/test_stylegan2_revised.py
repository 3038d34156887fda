"""The progressive StyleGAN2 networks of the paper's configs B-D (family "stylegan2-revised"):
official parameter counts at 1024 and 32 built without running, the fade-ins (G: FIR
upsampling of the previous level's ToRGB; D: the box-downscaled image through the previous
FromRGB, as the official 'recursive' structure), the level rendered from `lod`, and `.keras`
round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tf_stylegan.stylegan2_numpy import np_upsample
from tests.tiny_networks import tiny_networks
from tf_stylegan.config import StyleGAN2RevisedConfig
from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of, get_family
from tf_stylegan.networks.stylegan2 import RevisedDiscriminator, RevisedGenerator

# Trainable parameters, derived from the facts sheet (official-stylegan2.md §2.9), not from
# this code. G_synthesis_stylegan_revised has the variables of config E's skip G: the constant,
# the same modulated convs and a ToRGB at every level (ToRGB_lod{L} instead of {r}x{r}/ToRGB),
# so at 1024 with fmap_base 8192 it counts "G skip 24,900,764" (= G orig 23,596,292 plus the
# ToRGBs of 4..512, sum over C = nf(r-1) of 516 C + 3 = 1,304,472). D_stylegan has a FromRGB at
# every level and Conv0 / Conv1_down / head as D_stylegan2: "D skip 23,087,249 (= v1 D_basic)".
# At 32 every width is 512 for fmap_base 8192 and 16384 alike, so G = config F's 32 (skip)
# 21,523,475 and D = config F's 32 (resnet) 21,507,073 minus the three 512x512 Skips
# (3 * 262,144) plus the FromRGBs at 16, 8 and 4 (3 * 2,048): 20,726,785 (the v1 sheet's D_basic
# at 32 has the same value).
COUNTS = {1024: (24_900_764, 23_087_249), 32: (21_523_475, 20_726_785)}


@pytest.mark.parametrize("resolution", [1024, 32])
def test_parameter_counts_of_configs_b_to_d(resolution):
    cfg = StyleGAN2RevisedConfig(resolution=resolution, fmap_base=8192)
    G, D = RevisedGenerator(cfg), RevisedDiscriminator(cfg)  # built eagerly, never run
    assert (G.count_params_trainable(), D.count_params_trainable()) == COUNTS[resolution]
    assert G.mapping.count_params_trainable() == 2_101_248


def test_registered_family_and_config_checks():
    family = get_family("stylegan2-revised")
    assert (family.generator_class, family.discriminator_class) == (RevisedGenerator,
                                                                    RevisedDiscriminator)
    assert family.progressive and family.losses == "stylegan2"
    assert family.schedule == "stylegan2-growing"
    G, _ = tiny_networks("stylegan2-revised", 8)
    assert family_of(G) is family
    # The official defaults of G_synthesis_stylegan_revised / D_stylegan; 'orig' only.
    assert StyleGAN2RevisedConfig().fmap_base == 16384
    with pytest.raises(UserError, match="g_architecture"):
        StyleGAN2RevisedConfig(g_architecture="skip")
    with pytest.raises(UserError, match="conv_clamp"):
        StyleGAN2RevisedConfig(conv_clamp=256)


def test_generator_fade_in_is_the_fir_upsampled_previous_level():
    # At alpha 0 the level-16 image is official `upsample_2d(ToRGB_8(x_8))`: the 8x8 image of
    # the level below, FIR-upsampled (numpy transcription), not nearest-upscaled; alpha blends
    # linearly towards the new ToRGB.
    G, _ = tiny_networks("stylegan2-revised", 16, label_size=0)
    synthesis = G.synthesis
    w = tf.random.normal([4, G.config.num_layers, 16], seed=1)  # distinct rows

    def run(resolution, alpha):
        return synthesis(w, noise="const", resolution=resolution, alpha=alpha).numpy()

    old = np_upsample(run(8, 1.0))
    new = run(16, 1.0)
    np.testing.assert_allclose(run(16, 0.0), old, rtol=0, atol=1e-5)
    np.testing.assert_allclose(run(16, 0.25), old + (new - old) * 0.25, rtol=0, atol=1e-5)
    assert np.abs(new - old).max() > 1e-2
    # The level of a snapshot's `lod`: 8x8 halfway through its fade-in, nearest-upscaled.
    synthesis.lod = 1.5
    got = synthesis(w, noise="const").numpy()
    expected = np.repeat(np.repeat(run(8, 0.5), 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_discriminator_fade_in_reads_the_box_downscaled_image():
    # At alpha 0 the level-16 D is the level-8 D on the 2x2 box means (official recursive
    # `naive_downsample_2d`), written here in numpy.
    _, D = tiny_networks("stylegan2-revised", 16, label_size=0)
    x = np.random.RandomState(0).randn(4, 16, 16, 3).astype(np.float32)
    box = x.reshape(4, 8, 2, 8, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(D(x, alpha=0.0), D(box, alpha=1.0), rtol=0, atol=1e-5)
    # The blend is of features (the first block's output), so the scores are not linear in
    # alpha; the new level does change them.
    assert np.abs(D(x, alpha=1.0) - D(x, alpha=0.0)).max() > 1e-3


def test_keras_round_trip(tmp_path):
    G, D = tiny_networks("stylegan2-revised", 16, label_size=2)
    G.lod = 0.5
    z, labels = tf.random.normal([4, 16]), tf.one_hot([0, 1, 1, 0], 2)
    G.save(tmp_path / "G.keras")
    D.save(tmp_path / "D.keras")
    G2 = keras.saving.load_model(tmp_path / "G.keras", safe_mode=True)
    D2 = keras.saving.load_model(tmp_path / "D.keras", safe_mode=True)
    assert (type(G2), type(D2)) == (RevisedGenerator, RevisedDiscriminator)
    assert G2.config == D2.config == G.config and G2.lod == 0.5
    images = G(z, labels, noise="const").numpy()
    np.testing.assert_array_equal(G2(z, labels, noise="const"), images)
    level = G(z, labels, noise="const", resolution=8, alpha=0.3).numpy()
    np.testing.assert_array_equal(G2(z, labels, noise="const", resolution=8, alpha=0.3), level)
    np.testing.assert_array_equal(D2(level, labels, alpha=0.3), D(level, labels, alpha=0.3))
    np.testing.assert_array_equal(G2.dlatent_avg.numpy(), G.dlatent_avg.numpy())


def test_top_level_is_stylegan2_orig():
    # At full resolution and alpha 1 G_synthesis_stylegan_revised computes what
    # G_synthesis_stylegan2 with architecture 'orig' does (one ToRGB at the top), and D_stylegan
    # what D_stylegan2 'orig' does (one FromRGB at the top): those are checked against the
    # official fixture and the numpy transcription (test_stylegan2_networks.py). Same weights
    # layer by layer; the revised networks' lower ToRGBs / FromRGBs are extra.
    G, D = tiny_networks("stylegan2-revised", 16, label_size=0)
    G2, D2 = tiny_networks("stylegan2", 16, label_size=0, seed=1, g_architecture="orig",
                           d_architecture="orig")
    s, s2 = G.synthesis, G2.synthesis
    pairs = [(G.mapping, G2.mapping), (s.const, s2.const), (s.to_rgb[-1], s2.to_rgb[-1]),
             (D.from_rgb[-1], D2.from_rgb[-1]), (D.conv4x4, D2.conv4x4),
             (D.dense0, D2.dense0), (D.output_dense, D2.output_dense)]
    pairs += list(zip(s.conv_layers, s2.conv_layers)) + list(zip(D.conv0, D2.conv0))
    pairs += list(zip(D.conv1_down, D2.conv1_down))
    for ours, theirs in pairs:
        assert len(ours.variables) == len(theirs.variables)
        for a, b in zip(ours.variables, theirs.variables):
            b.assign(a)
    G2.dlatent_avg.assign(G.dlatent_avg)
    z = tf.random.normal([4, 16], seed=2)
    images = G(z, truncation_psi=0.5, noise="const").numpy()
    np.testing.assert_allclose(images, G2(z, truncation_psi=0.5, noise="const"), atol=1e-6)
    np.testing.assert_allclose(D(images), D2(images), atol=1e-6)
    # Distinct dlatent rows: every layer and the ToRGB read their own row.
    w = tf.random.normal([4, G.config.num_layers, 16], seed=3)
    np.testing.assert_allclose(s(w, noise="const"), s2(w, noise="const"), atol=1e-6)
