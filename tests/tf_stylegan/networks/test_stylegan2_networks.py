"""StyleGAN2 networks: official parameter counts, config, the synthesis layer's formula, shapes,
truncation, mixing, noise, the shared call interface and `.keras` round trips. (Numbers against
the official code: tests/tf_stylegan/test_legacy_stylegan2.py.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.layer_testing import run_layer_test
from tests.tf_stylegan.stylegan2_numpy import SQRT2, lrelu, np_modconv
from tf_stylegan.errors import UserError
from tf_stylegan.networks.stylegan2 import SynthesisLayer

SMALL = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_fmaps=16)
RNG = np.random.default_rng(4)


def small_config(resolution=16, **kw):
    return sg.StyleGAN2Config(resolution=resolution, **{**SMALL, **kw})


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def count(*layers):
    return sum(int(np.prod(v.shape)) for layer in layers for v in layer.trainable_weights)


@pytest.mark.large
@pytest.mark.parametrize("resolution,expected", [
    (1024, (2_101_248, 28_268_812, 30_370_060, 29_012_513)),
    (256, (2_101_248, 27_933_090, 30_034_338, 28_864_129)),
])
def test_official_parameter_counts_config_f(resolution, expected):
    # The official print_layers totals of config F (built, never run).
    cfg = sg.StyleGAN2Config(resolution=resolution)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    got = (G.mapping.count_params_trainable(), G.synthesis.count_params_trainable(),
           G.count_params_trainable(), D.count_params_trainable())
    assert got == expected


@pytest.mark.large
def test_per_layer_counts_at_1024():
    cfg = sg.StyleGAN2Config(resolution=1024)
    s = sg.StyleGAN2Synthesis(cfg)
    assert count(s.const) == 8_192
    # 9*512*512 weight + 512*512 mod_weight + 512 mod_bias + 1 noise_strength + 512 bias.
    assert count(s.conv_layers[0]) == count(s.conv_layers[8]) == 2_622_465
    assert count(s.to_rgb[0]) == 264_195
    assert (count(s.conv_layers[15]), count(s.conv_layers[16]), count(s.to_rgb[8])) == (
        51_297, 25_665, 16_515)  # 1024: Conv0_up, Conv1, ToRGB
    assert len(s.noise_buffers) == 17
    assert sum(int(np.prod(b.shape)) for b in s.noise_buffers) == 2_796_176
    D = sg.StyleGAN2Discriminator(cfg)
    assert count(D.from_rgb[-1]) == 128
    assert (count(D.conv0[-1]), count(D.conv1_down[-1]), count(D.skips[-1])) == (
        9_248, 18_496, 2_048)
    assert count(D.conv4x4) == 2_364_416 and count(D.dense0) == 4_194_816
    assert count(D.output_dense) == 513


@pytest.mark.large
@pytest.mark.parametrize("arch,g_count,d_count", [
    ("orig", 23_596_292, 23_077_137), ("skip", 24_900_764, 23_087_249),
    ("resnet", 24_557_316, 24_038_161),
])
def test_official_parameter_counts_table2_config_e(arch, g_count, d_count):
    # The paper's Table 2 grid at 1024 with config E widths (fmap_base 8192).
    cfg = sg.StyleGAN2Config(fmap_base=8192, g_architecture=arch, d_architecture=arch)
    assert sg.StyleGAN2Generator(cfg).count_params_trainable() == g_count
    assert sg.StyleGAN2Discriminator(cfg).count_params_trainable() == d_count


def test_config_defaults_are_official_config_f():
    cfg = sg.StyleGAN2Config()
    assert cfg.family == "stylegan2" and sg.NetworkConfig.family == "stylegan"
    assert cfg.to_dict() == {
        "resolution": 1024, "num_channels": 3, "label_size": 0, "latent_size": 512,
        "dlatent_size": 512, "mapping_layers": 8, "mapping_fmaps": 512, "mapping_lrmul": 0.01,
        "normalize_latents": True, "fmap_base": 16384, "fmap_decay": 1.0, "fmap_min": 1,
        "fmap_max": 512, "g_architecture": "skip", "d_architecture": "resnet",
        "resample_kernel": [1, 3, 3, 1], "truncation_psi": 0.5, "truncation_cutoff": None,
        "dlatent_avg_beta": 0.995, "style_mixing_prob": 0.9, "mbstd_group_size": 4,
        "mbstd_num_features": 1,
    }
    assert cfg.num_layers == 18
    # Widths of the blocks 4, 8, ..., 1024 (block 2^r uses nf(r - 1)): config F, then E.
    assert [cfg.nf(r - 1) for r in range(2, 11)] == [512] * 5 + [256, 128, 64, 32]
    cfg_e = cfg.replace(fmap_base=8192)
    assert [cfg_e.nf(r - 1) for r in range(2, 11)] == [512] * 4 + [256, 128, 64, 32, 16]
    assert sg.StyleGAN2Config.from_dict(cfg.to_dict()) == cfg


def test_config_validation():
    with pytest.raises(UserError, match="g_architecture"):
        sg.StyleGAN2Config(g_architecture="dense")
    with pytest.raises(UserError, match="d_architecture"):
        sg.StyleGAN2Config(d_architecture="skipped")
    with pytest.raises(UserError, match="resample_kernel"):
        sg.StyleGAN2Config(resample_kernel=())
    with pytest.raises(UserError, match="power of two"):
        sg.StyleGAN2Config(resolution=48)
    with pytest.raises(UserError, match="Unknown StyleGAN2Config keys: \\['blur_filter'\\]"):
        sg.StyleGAN2Config.from_dict({"blur_filter": [1, 2, 1]})
    with pytest.raises(TypeError, match="must be a StyleGAN2Config"):
        sg.StyleGAN2Generator(sg.NetworkConfig(resolution=8))


@pytest.mark.parametrize("up", [False, True])
def test_synthesis_layer_matches_official_formula(tmp_path, up):
    # modconv (demodulated) -> + noise * strength -> + bias -> lrelu -> * sqrt(2).
    layer = SynthesisLayer(5, 4, 8, 6, up=up)
    layer.conv.affine.bias.assign(randn(4) * 0.3)
    layer.noise.noise_strength.assign(0.6)
    layer.bias.assign(randn(5))
    x, w = randn(3, 4 if up else 8, 4 if up else 8, 4), randn(3, 6)
    out = run_layer_test(layer, x, w, expected_shape=(3, 8, 8, 5), expected_trainable=5,
                         call_kwargs={"noise": "const"}, tmp_path=tmp_path)
    conv = layer.conv
    ref = np_modconv(x, w, conv.weight.numpy(), conv.affine.weight.numpy(),
                     conv.affine.bias.numpy(), demodulate=True, up=up)
    ref = ref + layer.noise.noise.numpy() * 0.6
    ref = lrelu(ref + layer.bias.numpy()) * SQRT2
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("g_arch,d_arch,label_size,channels", [
    ("skip", "resnet", 0, 3), ("orig", "orig", 3, 1), ("resnet", "skip", 0, 3),
])
def test_output_shapes_and_ranges(g_arch, d_arch, label_size, channels):
    cfg = small_config(16, g_architecture=g_arch, d_architecture=d_arch, label_size=label_size,
                       num_channels=channels)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    z = tf.random.normal([4, 16])
    labels = tf.one_hot([0, 1, 2, 0], label_size) if label_size else None
    assert G.mapping(z, labels).shape == (4, 6, 16)
    images = G(z, labels)
    assert images.shape == (4, 16, 16, channels)
    assert np.all(np.isfinite(images)) and np.abs(images).max() < 50
    scores = D(images, labels)
    assert scores.shape == (4, 1) and np.all(np.isfinite(scores))
    if label_size:
        with pytest.raises(UserError, match="labels"):
            D(images)


def test_truncation_defaults_to_psi_half_on_all_layers():
    G = sg.StyleGAN2Generator(small_config(16))
    G.dlatent_avg.assign(tf.random.normal([16]))
    z = tf.random.normal([3, 16])
    w = G.mapping(z)
    avg = G.dlatent_avg.numpy()
    expected = G.synthesis(avg + 0.5 * (w.numpy() - avg), noise="const").numpy()
    np.testing.assert_allclose(G(z, noise="const"), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(G(z, truncation_psi=1.0, noise="const"),
                               G.synthesis(w, noise="const"), rtol=1e-5, atol=1e-6)
    assert np.abs(G(z, noise="const").numpy() - G.synthesis(w, noise="const")).max() > 1e-3
    # An explicit cutoff still works as in StyleGAN.
    cut = G.truncate(w, 0.0, 2).numpy()
    np.testing.assert_allclose(cut[:, :2], np.broadcast_to(avg, (3, 2, 16)), rtol=1e-6)
    np.testing.assert_allclose(cut[:, 2:], w.numpy()[:, 2:], rtol=1e-5, atol=1e-6)


def test_style_mixing_uses_every_crossover_and_the_dlatent_average():
    G = sg.StyleGAN2Generator(small_config(16, style_mixing_prob=1.0))
    z = tf.random.normal([2, 16])
    w = G.mapping(z)
    seen = set()
    for s in range(40):
        mixed = G.mix_styles(w, z, seed=tf.constant([s, 9], tf.int32)).numpy()
        same = np.all(mixed == w.numpy(), axis=(0, 2))
        cutoff = int(np.argmin(same))
        assert 1 <= cutoff < 6 and np.all(same[:cutoff]) and not np.any(same[cutoff:])
        seen.add(cutoff)
    assert seen == {1, 2, 3, 4, 5}  # crossover in [1, num_layers): no growing, all layers
    G0 = sg.StyleGAN2Generator(small_config(8, style_mixing_prob=0.0))
    z = tf.random.normal([4, 16])
    w = G0.mapping(z).numpy()
    out = G0(z, training=True, truncation_psi=0.0, seed=tf.constant([1, 2]), noise="const")
    np.testing.assert_allclose(G0.dlatent_avg.numpy(), (1 - 0.995) * w[:, 0].mean(0),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out, G0.synthesis(w, noise="const"), rtol=1e-5, atol=1e-6)


def test_noise_inputs():
    G = sg.StyleGAN2Generator(small_config(16))
    s = G.synthesis
    assert s.noise_shapes() == [4, 8, 8, 16, 16]  # num_layers - 1: none on the constant
    assert [b.shape for b in s.noise_buffers] == [(1, n, n, 1) for n in s.noise_shapes()]
    w = G.mapping(tf.random.normal([2, 16]))
    # Zero-init strengths: no noise mode changes anything.
    np.testing.assert_allclose(s(w, noise="random"), s(w, noise="none"), rtol=1e-6, atol=1e-6)
    for layer in s.conv_layers:
        layer.noise.noise_strength.assign(0.5)
    const = s(w, noise="const").numpy()
    np.testing.assert_array_equal(s(w, noise="const"), const)
    explicit = [b.numpy() for b in s.noise_buffers]
    np.testing.assert_allclose(s(w, noise=explicit), const, rtol=1e-6, atol=1e-6)
    r1, r2 = s(w, noise="random").numpy(), s(w, noise="random").numpy()
    assert np.abs(r1 - r2).max() > 1e-3
    seed = tf.constant([5, 6], tf.int32)
    np.testing.assert_array_equal(s(w, noise="random", seed=seed), s(w, noise="random", seed=seed))
    with pytest.raises(UserError, match="lists 2 tensors.*needs 5"):
        s(w, noise=explicit[:2])


def test_no_progressive_growing_in_the_shared_interface():
    cfg = small_config(16)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    z = tf.random.normal([4, 16])
    # The full resolution and alpha 1 are accepted (StyleGAN's call interface).
    np.testing.assert_array_equal(G(z, resolution=16, alpha=1.0, noise="const"),
                                  G(z, noise="const"))
    with pytest.raises(UserError, match="resolution.*None or 16"):
        G(z, resolution=8)
    with pytest.raises(UserError, match="alpha.*must be 1"):
        G(z, alpha=0.5)
    with pytest.raises(UserError, match="alpha"):
        D(tf.zeros([4, 16, 16, 3]), alpha=tf.constant(0.5))
    with pytest.raises(UserError, match=r"\[N, 16, 16, 3\]"):
        D(tf.zeros([4, 8, 8, 3]))


@pytest.mark.parametrize("g_arch,d_arch", [("skip", "resnet"), ("orig", "orig"),
                                           ("resnet", "skip")])
def test_keras_round_trip(tmp_path, g_arch, d_arch):
    cfg = small_config(8, g_architecture=g_arch, d_architecture=d_arch, label_size=2)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    G.dlatent_avg.assign(tf.random.normal([16]))
    for layer in G.synthesis.conv_layers:
        layer.noise.noise_strength.assign(0.5)
    z, labels = tf.random.normal([4, 16]), tf.one_hot([0, 1, 1, 0], 2)
    G.save(tmp_path / "G.keras")
    D.save(tmp_path / "D.keras")
    assert sg.StyleGAN2Generator.from_config(G.get_config()).config == cfg
    G2 = keras.saving.load_model(tmp_path / "G.keras", safe_mode=True)
    D2 = keras.saving.load_model(tmp_path / "D.keras", safe_mode=True)
    assert isinstance(G2, sg.StyleGAN2Generator) and isinstance(D2, sg.StyleGAN2Discriminator)
    assert G2.config == D2.config == cfg
    images = G(z, labels, noise="const").numpy()
    np.testing.assert_array_equal(G2(z, labels, noise="const"), images)
    np.testing.assert_array_equal(D2(images, labels), D(images, labels))
    np.testing.assert_array_equal(G2.dlatent_avg.numpy(), G.dlatent_avg.numpy())


def test_training_pass_traces_once_under_tf_function():
    G = sg.StyleGAN2Generator(small_config(8))
    D = sg.StyleGAN2Discriminator(small_config(8))
    traces = []

    @tf.function
    def step(z, seed):
        traces.append(1)
        return D(G(z, training=True, seed=seed))

    for s in range(3):
        assert step(tf.random.normal([4, 16]), tf.constant([s, 0])).shape == (4, 1)
    assert len(traces) == 1


def test_runs_under_mixed_precision():
    policy = keras.mixed_precision.DTypePolicy("mixed_bfloat16")
    cfg = small_config(8)
    G = sg.StyleGAN2Generator(cfg, dtype=policy)
    D = sg.StyleGAN2Discriminator(cfg, dtype=policy)
    images = G(tf.random.normal([4, 16]))
    assert images.dtype == tf.bfloat16 and images.shape == (4, 8, 8, 3)
    assert D(images).shape == (4, 1)
    assert all(v.dtype == "float32" for v in G.weights)

