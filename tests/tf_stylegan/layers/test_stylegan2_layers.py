"""StyleGAN2 layers against float64 numpy transcriptions of the official formulas.

The references (tests/tf_stylegan/stylegan2_numpy.py, plus the closed forms below) follow
NVlabs/stylegan2: `_upfirdn_2d_ref`, `upsample_2d`, `downsample_2d`, `upsample_conv_2d` (flipped
kernel, transposed convolution, FIR with its pads) and `conv_downsample_2d` in
`dnnlib/tflib/ops/upfirdn_2d.py`; `modulated_conv2d_layer`, `apply_bias_act`, `torgb` and the
constant input in `training/networks_stylegan2.py`. The modulated convolution is checked against
the per-sample weight form (official `fused_modconv=True`), which our layer does not compute.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.layer_testing import run_layer_test
from tests.tf_stylegan.stylegan2_numpy import (
    SQRT2,
    K,
    lrelu,
    np_conv_downsample,
    np_conv_same,
    np_modconv,
    np_upfirdn,
    np_upsample_conv,
    np_upsample_conv_equivalent,
)
from tf_stylegan.layers import (
    ConstantInput,
    EqualizedDense,
    FirConv2D,
    FirDownsample2D,
    FirUpsample2D,
    ModulatedConv2D,
    ScalarNoiseInjection,
    ToRGB,
    bias_act,
    conv_downsample_2d,
    downsample_2d,
    upfirdn_2d,
    upsample_2d,
    upsample_conv_2d,
)

RNG = np.random.default_rng(2)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def bilinear_up_1d(x, axis):
    """out[2i] = (x[i-1] + 3 x[i]) / 4, out[2i+1] = (3 x[i] + x[i+1]) / 4, zero borders."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    pad = np.concatenate([np.zeros_like(x[:1]), x, np.zeros_like(x[:1])])
    even = (pad[:-2] + 3 * pad[1:-1]) / 4
    odd = (3 * pad[1:-1] + pad[2:]) / 4
    out = np.stack([even, odd], axis=1).reshape((-1,) + x.shape[1:])
    return np.moveaxis(out, 0, axis)


def fir_down_1d(x, axis):
    """out[i] = (x[2i-1] + 3 x[2i] + 3 x[2i+1] + x[2i+2]) / 8, zero borders."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    pad = np.concatenate([np.zeros_like(x[:1]), x, np.zeros_like(x[:1])])
    out = (pad[0:-2:2] + 3 * pad[1:-1:2] + 3 * pad[2::2] + pad[3::2]) / 8
    return np.moveaxis(out, 0, axis)


# --- FIR resampling -----------------------------------------------------------------------------

@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)),
                                         (3, 2, (0, -1)), (1, 1, (-1, 2))])
def test_upfirdn_matches_official_reference(up, down, pad):
    # An asymmetric, non-separable kernel: the flip (true convolution) and every pad matter.
    kernel = RNG.standard_normal((3, 4))
    x = randn(2, 5, 5, 3)
    got = upfirdn_2d(tf.constant(x), kernel, up=up, down=down, pad=pad).numpy()
    ref = np_upfirdn(x, kernel, up, down, *pad)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # Without the flip (a cross-correlation) the result is different.
    wrong = np_upfirdn(x, kernel[::-1, ::-1], up, down, *pad)
    assert np.abs(got - wrong).max() > 1e-2


def test_upsample_2d_is_zero_padded_half_pixel_bilinear(tmp_path):
    x = randn(2, 5, 5, 3)
    got = run_layer_test(FirUpsample2D(), x, expected_shape=(2, 10, 10, 3), tmp_path=tmp_path)
    np.testing.assert_allclose(got, bilinear_up_1d(bilinear_up_1d(x, 1), 2), rtol=1e-5,
                               atol=1e-6)
    # ... which is upfirdn with K * 4 and pads (2, 1).
    np.testing.assert_allclose(got, np_upfirdn(x, K * 4, up=2, pad0=2, pad1=1), rtol=1e-5,
                               atol=1e-6)
    # Not a bilinear resize that clamps at the edges: the border is darker for a constant.
    ones = upsample_2d(tf.ones([1, 4, 4, 1])).numpy()[0, :, :, 0]
    np.testing.assert_allclose(ones[1:-1, 1:-1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(ones[0, 1:-1], 0.75, rtol=1e-6)


def test_downsample_2d_matches_official_formula(tmp_path):
    x = randn(2, 8, 8, 3)
    got = run_layer_test(FirDownsample2D(), x, expected_shape=(2, 4, 4, 3), tmp_path=tmp_path)
    np.testing.assert_allclose(got, fir_down_1d(fir_down_1d(x, 1), 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, np_upfirdn(x, K, down=2, pad0=1, pad1=1), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(downsample_2d(tf.constant(x)), got, rtol=1e-6)


# --- FIR resampling convolutions ----------------------------------------------------------------

@pytest.mark.parametrize("k", [3, 1])
def test_upsample_conv_matches_official_transposed_convolution(k):
    x, w = randn(2, 4, 4, 3), randn(k, k, 3, 5)
    got = upsample_conv_2d(tf.constant(x), tf.constant(w)).numpy()
    ref = np_upsample_conv(x, w)
    assert got.shape == ref.shape == (2, 8, 8, 5)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # The padded form with the weight as stored is the same op (no kernel flip when porting).
    np.testing.assert_allclose(np_upsample_conv_equivalent(x, w), ref, rtol=1e-9, atol=1e-9)
    plain = np_conv_same(np_upfirdn(x, K * 4, up=2, pad0=2, pad1=1), w)
    if k == 1:  # 1x1: exactly upsample_2d followed by the 1x1 conv
        np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)
    else:  # 3x3: not upsample_2d + SAME conv (the upsampled border is not zeroed) ...
        assert np.abs(got - plain).max() > 1e-2
        # ... and the stored kernel is not flipped.
        flipped = np_upsample_conv(x, w[::-1, ::-1])
        assert np.abs(got - flipped).max() > 1e-2


@pytest.mark.parametrize("k", [3, 1])
def test_conv_downsample_matches_official(k):
    x, w = randn(2, 8, 8, 3), randn(k, k, 3, 5)
    got = conv_downsample_2d(tf.constant(x), tf.constant(w)).numpy()
    ref = np_conv_downsample(x, w)
    assert got.shape == ref.shape == (2, 4, 4, 5)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    plain = np_upfirdn(np_conv_same(x, w), K, down=2, pad0=1, pad1=1)
    if k == 1:  # 1x1: exactly downsample_2d after the 1x1 conv
        np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)
    else:  # 3x3: not SAME conv + downsample_2d
        assert np.abs(got - plain).max() > 1e-2


@pytest.mark.parametrize("resample,kernel_size,activation,use_bias", [
    (None, 3, "lrelu", True), ("up", 3, "lrelu", True), ("down", 3, "lrelu", True),
    ("up", 1, "linear", False), ("down", 1, "linear", False), (None, 1, "lrelu", True),
])
def test_fir_conv_layer(tmp_path, resample, kernel_size, activation, use_bias):
    layer = FirConv2D(4, kernel_size, resample=resample, activation=activation,
                      use_bias=use_bias)
    x = randn(2, 8, 8, 3)
    layer.build(x.shape)
    if use_bias:
        layer.bias.assign(randn(4))
    size = {None: 8, "up": 16, "down": 4}[resample]
    out = run_layer_test(layer, x, expected_shape=(2, size, size, 4),
                         expected_trainable=2 if use_bias else 1, tmp_path=tmp_path)
    # Gain 1 in the weight, N(0, 1) storage: c = 1 / sqrt(fan_in).
    w = layer.weight.numpy() / math.sqrt(kernel_size * kernel_size * 3)
    ref = {None: np_conv_same, "up": np_upsample_conv,
           "down": np_conv_downsample}[resample](x, w)
    if use_bias:
        ref = ref + layer.bias.numpy()
    if activation == "lrelu":
        ref = lrelu(ref) * SQRT2  # the gain comes after the activation
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_fir_conv_init_statistics():
    layer = FirConv2D(256, 3)
    layer.build((None, 8, 8, 128))
    # Stored N(0, 1) (equalized learning rate, lrmul 1), bias zero.
    assert abs(np.std(layer.weight.numpy()) - 1.0) < 0.02
    assert np.all(layer.bias.numpy() == 0)


# --- gains ----------------------------------------------------------------------------------------

def test_bias_act_and_dense_post_activation_gain(tmp_path):
    x, b = randn(3, 5), randn(5)
    np.testing.assert_allclose(bias_act(tf.constant(x), b, "lrelu"), lrelu(x + b) * SQRT2,
                               rtol=1e-6)
    np.testing.assert_allclose(bias_act(tf.constant(x), b, "linear"), x + b, rtol=1e-6)
    np.testing.assert_allclose(bias_act(tf.constant(x), b, "lrelu", lrmul=0.01, gain=1.0),
                               lrelu(x + 0.01 * b), rtol=1e-6)
    # StyleGAN2's dense layer: gain 1 in the weight, sqrt(2) after the activation.
    layer = EqualizedDense(4, gain=1.0, lrmul=0.01, activation="lrelu", act_gain=SQRT2)
    layer.build(x.shape)
    layer.bias.assign(randn(4) * 50)
    out = run_layer_test(layer, x, expected_shape=(3, 4), expected_trainable=2,
                         tmp_path=tmp_path)
    ref = lrelu(x @ (layer.weight.numpy() * 0.01 / math.sqrt(5)) + 0.01 * layer.bias.numpy())
    np.testing.assert_allclose(out, ref * SQRT2, rtol=1e-5, atol=1e-6)


# --- modulated convolution, ToRGB, noise, constant -------------------------------------------

@pytest.mark.parametrize("demodulate,up,kernel_size", [
    (True, False, 3), (True, True, 3), (False, False, 1), (False, False, 3),
])
def test_modulated_conv_matches_per_sample_weights(tmp_path, demodulate, up, kernel_size):
    layer = ModulatedConv2D(5, kernel_size, demodulate=demodulate, up=up)
    x, w = randn(3, 4, 4, 6), randn(3, 7)
    layer.build(x.shape, w.shape)
    layer.affine.bias.assign(randn(6) * 0.5)
    size = 8 if up else 4
    out = run_layer_test(layer, x, w, expected_shape=(3, size, size, 5), expected_trainable=3,
                         tmp_path=tmp_path)
    ref = np_modconv(x, w, layer.weight.numpy(), layer.affine.weight.numpy(),
                     layer.affine.bias.numpy(), demodulate=demodulate, up=up)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_modulated_conv_style_bias_starts_at_one():
    # mod_bias is stored zero-initialised; the +1 is added at runtime (official `+ 1`).
    layer = ModulatedConv2D(4, 3)
    x, w = randn(2, 4, 4, 3), np.zeros((2, 8), np.float32)
    layer.build(x.shape, w.shape)
    assert np.all(layer.affine.bias.numpy() == 0)
    np.testing.assert_array_equal(layer.styles(w), np.ones((2, 3)))
    # Demodulation divides out a common scale of the style: s = 1 and s = 3 give the same map.
    a = layer(x, w).numpy()
    layer.affine.bias.assign(np.full(3, 2.0, np.float32))
    np.testing.assert_allclose(layer.styles(w), np.full((2, 3), 3.0), rtol=1e-6)
    np.testing.assert_allclose(layer(x, w), a, rtol=1e-4, atol=1e-5)


def test_to_rgb(tmp_path):
    layer = ToRGB(3)
    x, w = randn(2, 8, 8, 6), randn(2, 5)
    layer.build(x.shape, w.shape)
    layer.bias.assign(randn(3))
    layer.conv.affine.bias.assign(randn(6))
    out = run_layer_test(layer, x, w, expected_shape=(2, 8, 8, 3), expected_trainable=4,
                         tmp_path=tmp_path)
    conv = layer.conv
    ref = np_modconv(x, w, conv.weight.numpy(), conv.affine.weight.numpy(),
                     conv.affine.bias.numpy(), demodulate=False) + layer.bias.numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    # Not demodulated: the output scales with the style.
    demod = np_modconv(x, w, conv.weight.numpy(), conv.affine.weight.numpy(),
                       conv.affine.bias.numpy(), demodulate=True) + layer.bias.numpy()
    assert np.abs(out - demod).max() > 1e-2


def test_scalar_noise_injection(tmp_path):
    layer = ScalarNoiseInjection()
    x = randn(3, 4, 4, 5)
    layer.build(x.shape)
    assert layer.noise_strength.shape == () and layer.noise.shape == (1, 4, 4, 1)
    assert len(layer.trainable_weights) == 1 and len(layer.non_trainable_weights) == 1
    np.testing.assert_array_equal(layer(x, noise="random"), x)  # zero-init strength
    layer.noise_strength.assign(0.7)
    const = layer(x, noise="const").numpy()
    np.testing.assert_allclose(const, x + 0.7 * layer.noise.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(layer(x, noise="none"), x)
    r1, r2 = layer(x, noise="random").numpy(), layer(x, noise="random").numpy()
    assert np.abs(r1 - r2).max() > 0.1
    # One noise map per sample, the same on every channel, scaled by the one scalar.
    n = (r1 - x) / 0.7
    np.testing.assert_allclose(n, np.repeat(n[..., :1], 5, axis=-1), rtol=1e-4, atol=1e-5)
    assert abs(np.std(n[..., 0]) - 1.0) < 0.5 and np.abs(n[0] - n[1]).max() > 0.1
    seed = tf.constant([3, 4], tf.int32)
    np.testing.assert_array_equal(layer(x, noise="random", seed=seed),
                                  layer(x, noise="random", seed=seed))
    explicit = randn(3, 4, 4, 1)
    np.testing.assert_allclose(layer(x, noise=explicit), x + 0.7 * explicit, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="noise"):
        layer(x, noise="sometimes")
    run_layer_test(layer, x, call_kwargs={"noise": "const"}, tmp_path=tmp_path)


def test_constant_input(tmp_path):
    layer = ConstantInput(512)
    layer.build()
    const = layer.const.numpy()
    assert const.shape == (1, 4, 4, 512)
    # N(0, 1) init (StyleGAN used ones).
    assert abs(const.std() - 1.0) < 0.05 and abs(const.mean()) < 0.05
    w = randn(3, 8)
    out = run_layer_test(layer, w, expected_shape=(3, 4, 4, 512), expected_trainable=1,
                         tmp_path=tmp_path)
    np.testing.assert_array_equal(out, np.repeat(const, 3, axis=0))
