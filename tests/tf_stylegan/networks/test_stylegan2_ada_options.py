"""The stylegan2-ada-pytorch options of the StyleGAN2 networks (`label_mapping="embed"`, D's
`LabelProjection`, `conv_clamp`): their defaults keep today's networks exactly, their formulas
are the official ones (numpy transcriptions of stylegan2-ada-pytorch `training/networks.py`),
and they round-trip through `.keras` files and snapshots. (Against the official outputs:
tests/tf_stylegan/test_legacy_stylegan2_ada.py.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.layer_testing import run_layer_test
from tests.tf_stylegan.stylegan2_numpy import SQRT2, lrelu
from tf_stylegan.errors import UserError
from tf_stylegan.layers import FirConv2D, ToRGB, bias_act
from tf_stylegan.networks.stylegan2 import LabelProjection, SynthesisLayer
from tf_stylegan.snapshot import load_snapshot, save_snapshot

SMALL = dict(resolution=8, fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16,
             mapping_fmaps=16, mapping_layers=2)
ADA = dict(label_size=3, label_mapping="embed", d_mapping_layers=2, d_mapping_lrmul=0.1,
           d_cmap_dim=8, conv_clamp=0.5)
RNG = np.random.default_rng(7)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def normalize(x):
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def dense(layer, x):
    """An `EqualizedDense` in numpy: x @ W * lrmul / sqrt(fan_in) + b * lrmul."""
    w = layer.weight.numpy().astype(np.float64)
    return x @ w * layer.lrmul / np.sqrt(w.shape[0]) + layer.bias.numpy() * layer.lrmul


def randomize(model):
    for v in model.weights:
        v.assign(randn(*v.shape) * 0.5 + (0.3 if len(v.shape) == 1 else 0))


# --- the defaults are today's networks ------------------------------------------------------------
def test_defaults_build_the_networks_of_nvlabs_stylegan2():
    cfg = sg.StyleGAN2Config(**SMALL, label_size=3)
    assert (cfg.label_mapping, cfg.conv_clamp) == ("concat", None)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    assert [v.path for v in G.mapping.weights] == [
        "mapping/label_embedding", "dense0/weight", "dense0/bias", "dense1/weight", "dense1/bias"]
    assert not hasattr(G.mapping, "embed") and D.label_projection is None
    assert D.output_dense.weight.shape == (16, 3)  # one column per label
    # The score is the label's output column (NVlabs/stylegan2 D_stylegan2): linear in the
    # label vector.
    randomize(D)
    images = randn(1, 8, 8, 3)
    columns = np.concatenate([D(images, tf.one_hot([k], 3)) for k in range(3)], axis=1)
    mix = np.array([[0.2, 0.5, 0.3]], np.float32)
    np.testing.assert_allclose(D(images, mix), columns @ mix.T, rtol=1e-5)
    # Configs written before these options existed load as the same config.
    old = {k: v for k, v in cfg.to_dict().items()}
    assert set(old).isdisjoint(sg.config.ADA_OPTIONS)
    assert sg.StyleGAN2Config.from_dict(old) == cfg
    for layer in (FirConv2D(4), ToRGB(3)):
        assert layer.get_config()["conv_clamp"] is None


def test_config_options_validate_and_round_trip():
    cfg = sg.StyleGAN2Config(**SMALL, **ADA)
    assert cfg.cmap_dim == 8 and sg.StyleGAN2Config(**SMALL).cmap_dim == 16  # nf(1)
    d = cfg.to_dict()
    assert {k: d[k] for k in sg.config.ADA_OPTIONS} == {k: ADA[k] for k in sg.config.ADA_OPTIONS}
    assert sg.StyleGAN2Config.from_dict(d) == cfg
    for bad in (dict(label_mapping="onehot"), dict(d_mapping_layers=-1),
                dict(d_mapping_lrmul=0), dict(conv_clamp=-1.0), dict(conv_clamp=True),
                dict(d_cmap_dim=0)):
        with pytest.raises(UserError, match=next(iter(bad))):
            sg.StyleGAN2Config(**SMALL, **bad)


# --- the official formulas ----------------------------------------------------------------------
def test_embed_mapping_is_the_official_formula():
    # networks.py:220-232: x = normalize(z), y = normalize(embed(c)), x = cat([x, y]), then
    # the lrelu layers (times sqrt(2)); broadcast to num_ws.
    G = sg.StyleGAN2Generator(sg.StyleGAN2Config(**SMALL, **ADA))
    randomize(G.mapping)
    m = G.mapping
    assert m.embed.weight.shape == (3, 16) and m.dense_layers[0].weight.shape == (32, 16)
    z, c = randn(4, 16), np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
    x = np.concatenate([normalize(z.astype(np.float64)), normalize(dense(m.embed, c))], axis=1)
    for layer in m.dense_layers:
        x = lrelu(dense(layer, x)) * SQRT2
    got = np.asarray(m(z, c))
    assert got.shape == (4, 4, 16)
    np.testing.assert_allclose(got, np.repeat(x[:, None], 4, axis=1), rtol=1e-5, atol=1e-5)
    # Not the TF form (labels concatenated, then normalized together).
    concat = sg.StyleGAN2Generator(sg.StyleGAN2Config(**SMALL, label_size=3)).mapping
    assert concat.dense_layers[0].weight.shape == (32, 16) and not hasattr(concat, "embed")


def test_label_projection_is_the_official_formula(tmp_path):
    layer = LabelProjection(3, 8, num_layers=2, lrmul=0.1, name="proj")
    randomize(layer)
    c = np.eye(3, dtype=np.float32)[[1, 0, 2, 2]]
    cmap = normalize(dense(layer.embed, c))
    for fc in layer.dense_layers:
        cmap = lrelu(dense(fc, cmap)) * SQRT2
    run_layer_test(layer, c, expected_shape=(4, 8), expected_trainable=6, tmp_path=tmp_path)
    np.testing.assert_allclose(layer(c), cmap, rtol=1e-5, atol=1e-6)
    out = randn(4, 8)
    np.testing.assert_allclose(layer.project(out, c),
                               np.sum(out * cmap, axis=1, keepdims=True) / np.sqrt(8),
                               rtol=1e-5, atol=1e-6)


def test_clamp_follows_the_gain():
    # bias_act.py: act(x + b) * gain, then clamp.
    x, b = randn(2, 5, 5, 4) * 3, randn(4)
    want = np.clip(lrelu(x + b) * 0.9, -1.5, 1.5)
    np.testing.assert_allclose(bias_act(x, b, "lrelu", gain=0.9, clamp=1.5), want, rtol=1e-6)
    np.testing.assert_allclose(bias_act(x, b, "lrelu"), lrelu(x + b) * SQRT2, rtol=1e-6)


def test_layers_clip_their_output_with_conv_clamp():
    x, w = randn(2, 5, 5, 4) * 3, randn(2, 6)
    for layer, args, kwargs in ((FirConv2D(4, activation="lrelu", conv_clamp=0.25), (x,), {}),
                                (SynthesisLayer(4, 4, 5, 6, conv_clamp=0.25), (x, w),
                                 {"noise": "none"}),
                                (ToRGB(3, conv_clamp=0.25), (x, w), {})):
        clamped = np.asarray(layer(*args, **kwargs))
        free = layer.__class__.from_config({**layer.get_config(), "conv_clamp": None})
        free(*args, **kwargs)
        free.set_weights(layer.get_weights())
        unclamped = np.asarray(free(*args, **kwargs))
        assert np.abs(unclamped).max() > 0.5, layer.name
        np.testing.assert_allclose(clamped, np.clip(unclamped, -0.25, 0.25), rtol=1e-6)


# --- .keras and snapshots ---------------------------------------------------------------------
def test_ada_networks_round_trip_through_keras_and_snapshots(tmp_path):
    cfg = sg.StyleGAN2Config(**SMALL, **ADA)
    G, D = sg.StyleGAN2Generator(cfg), sg.StyleGAN2Discriminator(cfg)
    randomize(G.mapping)
    randomize(D)
    assert D.output_dense.weight.shape == (16, 8)
    assert len(D.label_projection.weights) == 6
    z, c = randn(4, 16), tf.one_hot([0, 2, 1, 1], 3)
    images = np.asarray(G(z, c, noise="const"))
    scores = np.asarray(D(images, c))
    G.save(tmp_path / "G.keras")
    D.save(tmp_path / "D.keras")
    G2 = keras.saving.load_model(tmp_path / "G.keras", safe_mode=True)
    D2 = keras.saving.load_model(tmp_path / "D.keras", safe_mode=True)
    assert G2.config == D2.config == cfg
    np.testing.assert_array_equal(G2(z, c, noise="const"), images)
    np.testing.assert_array_equal(D2(images, c), scores)
    save_snapshot(tmp_path / "s.zip", G, D, G, metadata={"source_format": "test"})
    G3, D3, Gs3, info = load_snapshot(tmp_path / "s.zip", with_info=True)
    assert info["config"]["label_mapping"] == "embed" and info["config"]["conv_clamp"] == 0.5
    np.testing.assert_array_equal(Gs3(z, c, noise="const"), images)
    np.testing.assert_array_equal(D3(images, c), scores)
