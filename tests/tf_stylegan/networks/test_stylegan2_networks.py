"""StyleGAN2's own network tests: official parameter counts, config F defaults and its
fields, the synthesis layer's formula, and the call interface without growing. (What both
families share: test_networks.py; numbers against the official code:
tests/tf_stylegan/test_legacy.py.)"""

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.layer_testing import run_layer_test
from tests.tf_stylegan.stylegan2_numpy import SQRT2, lrelu, np_modconv
from tests.tiny_networks import tiny_config
from tf_stylegan.errors import UserError
from tf_stylegan.networks.stylegan2 import SynthesisLayer

RNG = np.random.default_rng(4)


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
    with pytest.raises(UserError, match="Unknown StyleGAN2Config keys: \\['blur_filter'\\]"):
        sg.StyleGAN2Config.from_dict({"blur_filter": [1, 2, 1]})


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


def test_no_progressive_growing_in_the_shared_interface():
    cfg = tiny_config("stylegan2", 16)
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
