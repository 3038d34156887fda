"""Each layer against a small numpy reference of the official formula."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_testing import run_layer_test
from tf_stylegan.layers import (
    Bias,
    Blur2D,
    Downscale2D,
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    InstanceNorm,
    MinibatchStddev,
    NoiseInjection,
    PixelNorm,
    StyleMod,
    Upscale2D,
    adain,
)

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def np_conv2d_same(x, w):
    """Cross-correlation, NHWC x HWIO, zero 'SAME' padding, stride 1."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, w.shape[3]), np.float64)
    for i in range(k):
        for j in range(k):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + wd], w[i, j])
    return out


def np_up(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def np_down(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def np_blur(x):
    f = np.array([1, 2, 1], np.float64)
    k = np.outer(f, f) / 16
    c = x.shape[-1]
    w = np.zeros((3, 3, c, c))
    for i in range(c):
        w[:, :, i, i] = k
    return np_conv2d_same(x, w)


@pytest.mark.parametrize("lrmul,use_wscale,activation", [
    (1.0, True, "lrelu"), (0.01, True, "lrelu"), (1.0, False, "linear"),
])
def test_equalized_dense_matches_formula(tmp_path, lrmul, use_wscale, activation):
    layer = EqualizedDense(5, gain=math.sqrt(2), lrmul=lrmul, use_wscale=use_wscale,
                           activation=activation)
    x = randn(3, 7)
    layer.build(x.shape)
    layer.bias.assign(randn(5))
    out = run_layer_test(layer, x, expected_shape=(3, 5), expected_trainable=2, tmp_path=tmp_path)
    he_std = math.sqrt(2) / math.sqrt(7)
    coef = he_std * lrmul if use_wscale else lrmul
    ref = x @ (layer.weight.numpy() * coef) + layer.bias.numpy() * lrmul
    if activation == "lrelu":
        ref = lrelu(ref)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_equalized_init_statistics():
    # Stored weights are N(0, 1/lrmul) with wscale, N(0, he_std/lrmul) without.
    w = EqualizedDense(256, lrmul=0.01)
    w.build((None, 512))
    assert abs(np.std(w.weight.numpy()) - 100.0) < 2.0
    w = EqualizedDense(256, use_wscale=False)
    w.build((None, 512))
    assert abs(np.std(w.weight.numpy()) - math.sqrt(2 / 512)) < 0.002
    assert np.all(w.bias.numpy() == 0)


def test_equalized_dense_flattens_inputs():
    layer = EqualizedDense(4)
    x = randn(2, 3, 3, 2)
    out = layer(x)
    assert out.shape == (2, 4)
    assert layer.weight.shape == (18, 4)


@pytest.mark.parametrize("resample", [None, "up", "down"])
def test_equalized_conv_matches_formula(tmp_path, resample):
    layer = EqualizedConv2D(4, 3, resample=resample, activation="lrelu")
    x = randn(2, 8, 8, 3)
    layer.build(x.shape)
    layer.bias.assign(randn(4))
    size = {None: 8, "up": 16, "down": 4}[resample]
    out = run_layer_test(layer, x, expected_shape=(2, size, size, 4), expected_trainable=2,
                         tmp_path=tmp_path)
    w = layer.weight.numpy() * (math.sqrt(2) / math.sqrt(27))
    xin = np_up(x) if resample == "up" else x
    ref = np_conv2d_same(xin, w)
    if resample == "down":
        ref = np_down(ref)
    ref = lrelu(ref + layer.bias.numpy())
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_fused_up_conv_is_upscale_plus_flipped_conv():
    # The official fused op (transposed conv with the 4x4 summed kernel) equals nearest
    # upsample + conv with the kernel flipped spatially (official `upscale2d_conv2d` is a
    # conv2d_transpose, which flips the kernel).
    fused = EqualizedConv2D(4, 3, resample="up", fused=True, use_bias=False)
    plain = EqualizedConv2D(4, 3, resample="up", fused=False, use_bias=False)
    x = randn(2, 6, 6, 3)
    fused.build(x.shape)
    plain.build(x.shape)
    plain.weight.assign(fused.weight.numpy()[::-1, ::-1])
    np.testing.assert_allclose(fused(x), plain(x), rtol=1e-4, atol=1e-5)
    # ... and is not the same as the unflipped kernel (the kernel is not symmetric).
    plain.weight.assign(fused.weight.numpy())
    assert np.abs(fused(x).numpy() - plain(x).numpy()).max() > 1e-2


def test_fused_down_conv_is_conv_plus_average():
    fused = EqualizedConv2D(4, 3, resample="down", fused=True)
    plain = EqualizedConv2D(4, 3, resample="down", fused=False)
    x = randn(2, 8, 8, 3)
    fused.build(x.shape)
    plain.build(x.shape)
    plain.weight.assign(fused.weight.numpy())
    np.testing.assert_allclose(fused(x), plain(x), rtol=1e-4, atol=1e-5)


def test_conv_argument_errors():
    with pytest.raises(ValueError, match="kernel_size"):
        EqualizedConv2D(4, 2)
    with pytest.raises(ValueError, match="resample"):
        EqualizedConv2D(4, 3, resample="sideways")
    with pytest.raises(ValueError, match="activation"):
        EqualizedDense(4, activation="relu6")


def test_blur_matches_reference(tmp_path):
    x = randn(2, 6, 6, 3)
    out = run_layer_test(Blur2D(), x, expected_shape=x.shape, expected_trainable=0,
                         tmp_path=tmp_path)
    np.testing.assert_allclose(out, np_blur(x), rtol=1e-5, atol=1e-6)
    # Normalised: a constant image keeps its value away from the zero-padded border.
    ones = np.ones((1, 6, 6, 1), np.float32)
    np.testing.assert_allclose(Blur2D()(ones)[0, 1:-1, 1:-1, 0], 1.0, rtol=1e-6)


def test_resampling(tmp_path):
    x = randn(2, 4, 4, 3)
    up = run_layer_test(Upscale2D(), x, expected_shape=(2, 8, 8, 3), tmp_path=tmp_path)
    np.testing.assert_array_equal(up, np_up(x))
    down = run_layer_test(Downscale2D(), x, expected_shape=(2, 2, 2, 3), tmp_path=tmp_path)
    np.testing.assert_allclose(down, np_down(x), rtol=1e-6)
    np.testing.assert_allclose(Downscale2D()(Upscale2D()(x)), x, rtol=1e-6)


def test_noise_injection_modes(tmp_path):
    layer = NoiseInjection()
    x = randn(3, 4, 4, 5)
    layer.build(x.shape)
    assert layer.weight.shape == (5,) and layer.noise.shape == (1, 4, 4, 1)
    assert len(layer.trainable_weights) == 1 and len(layer.non_trainable_weights) == 1
    # Zero-init weight: the layer starts as the identity whatever the noise.
    np.testing.assert_array_equal(layer(x, noise="random"), x)
    layer.weight.assign(np.arange(1, 6, dtype=np.float32))
    const = layer(x, noise="const").numpy()
    ref = x + layer.noise.numpy() * np.arange(1, 6, dtype=np.float32)
    np.testing.assert_allclose(const, ref, rtol=1e-6)
    np.testing.assert_array_equal(layer(x, noise="const"), const)  # deterministic
    np.testing.assert_array_equal(layer(x, noise="none"), x)
    r1, r2 = layer(x, noise="random").numpy(), layer(x, noise="random").numpy()
    assert np.abs(r1 - r2).max() > 0.1
    # One noise channel broadcast over the feature maps: (out - x) / weight is the same map.
    n = (r1 - x) / np.arange(1, 6, dtype=np.float32)
    np.testing.assert_allclose(n, np.repeat(n[..., :1], 5, axis=-1), rtol=1e-4, atol=1e-5)
    # Stateless with a seed.
    seed = tf.constant([1, 2], tf.int32)
    np.testing.assert_array_equal(layer(x, noise="random", seed=seed),
                                  layer(x, noise="random", seed=seed))
    explicit = randn(3, 4, 4, 1)
    np.testing.assert_allclose(layer(x, noise=explicit), x + explicit * np.arange(1, 6),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="noise"):
        layer(x, noise="sometimes")
    run_layer_test(layer, x, call_kwargs={"noise": "const"}, tmp_path=tmp_path)


def test_instance_norm(tmp_path):
    x = randn(2, 5, 5, 3) * 4 + 2
    out = run_layer_test(InstanceNorm(), x, expected_shape=x.shape, tmp_path=tmp_path)
    xc = x - x.mean(axis=(1, 2), keepdims=True)
    ref = xc / np.sqrt((xc**2).mean(axis=(1, 2), keepdims=True) + 1e-8)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_style_mod(tmp_path):
    layer = StyleMod(3)
    x, w = randn(2, 4, 4, 3), randn(2, 6)
    layer.build(x.shape, w.shape)
    layer.dense.bias.assign(randn(6))
    out = run_layer_test(layer, x, w, expected_shape=x.shape, expected_trainable=2,
                         tmp_path=tmp_path)
    style = w @ (layer.dense.weight.numpy() / math.sqrt(6)) + layer.dense.bias.numpy()
    ref = x * (style[:, None, None, :3] + 1) + style[:, None, None, 3:]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    # Zero style gives the identity: the scale is centred on 1.
    layer.dense.weight.assign(np.zeros((6, 6), np.float32))
    layer.dense.bias.assign(np.zeros(6, np.float32))
    np.testing.assert_allclose(layer(x, w), x, rtol=1e-6)


def test_adain_equals_style_mod_of_instance_norm():
    # The one-pass form LayerEpilogue uses: StyleMod(InstanceNorm(x)) with the same style.
    x, w = randn(2, 5, 5, 3) * 4 + 2, randn(2, 6)
    mod = StyleMod(3)
    mod.build(x.shape, w.shape)
    mod.dense.bias.assign(randn(6))
    two_layers = mod(InstanceNorm()(x), w).numpy()
    xc = x - x.mean(axis=(1, 2), keepdims=True)
    style = w @ (mod.dense.weight.numpy() / math.sqrt(6)) + mod.dense.bias.numpy()
    ref = (xc / np.sqrt((xc**2).mean(axis=(1, 2), keepdims=True) + 1e-8)
           * (style[:, None, None, :3] + 1) + style[:, None, None, 3:])
    out = adain(tf.constant(x), mod.dense(w)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out, two_layers, rtol=1e-5, atol=1e-5)
    half = adain(tf.constant(x, tf.bfloat16), mod.dense(w))
    assert half.dtype == tf.bfloat16


def test_pixel_norm(tmp_path):
    x = randn(4, 9) * 3
    out = run_layer_test(PixelNorm(), x, expected_shape=x.shape, tmp_path=tmp_path)
    np.testing.assert_allclose(out, x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-8),
                               rtol=1e-5, atol=1e-6)


def np_mbstd(x, group_size=4, num_new=1):
    n, h, w, c = x.shape
    g = min(group_size, n)
    m = n // g
    out = np.zeros((n, h, w, num_new), np.float64)
    for grp in range(m):
        members = [grp + k * m for k in range(g)]  # strided groups
        y = x[members].astype(np.float64)
        std = np.sqrt(y.var(axis=0) + 1e-8)  # [h, w, c]
        for f in range(num_new):
            chans = slice(f * c // num_new, (f + 1) * c // num_new)
            out[members, :, :, f] = std[:, :, chans].mean()
    return np.concatenate([x, out], axis=-1)


@pytest.mark.parametrize("n,group,num_new", [(8, 4, 1), (3, 4, 1), (8, 2, 2)])
def test_minibatch_stddev(tmp_path, n, group, num_new):
    x = randn(n, 4, 4, 6)
    layer = MinibatchStddev(group, num_new)
    out = run_layer_test(layer, x, expected_shape=(n, 4, 4, 6 + num_new), tmp_path=tmp_path)
    np.testing.assert_allclose(out, np_mbstd(x, group, num_new), rtol=1e-4, atol=1e-6)


def test_minibatch_stddev_rejects_indivisible_batch():
    with pytest.raises(tf.errors.InvalidArgumentError, match="divisible"):
        MinibatchStddev(4)(randn(6, 4, 4, 2))


def test_fade_in(tmp_path):
    old, new = randn(2, 4, 4, 3), randn(2, 4, 4, 3)
    layer = FadeIn()
    np.testing.assert_array_equal(layer(old, new, alpha=0.0), old)
    np.testing.assert_allclose(layer(old, new, alpha=1.0), new, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer(old, new, alpha=tf.constant(0.25)),
                               old + (new - old) * 0.25, rtol=1e-6)
    # Clipped like the official lerp_clip.
    np.testing.assert_allclose(layer(old, new, alpha=1.7), new, rtol=1e-6, atol=1e-7)
    assert FadeIn.from_config(layer.get_config()).get_config() == layer.get_config()


def test_bias(tmp_path):
    layer = Bias(lrmul=0.5)
    x = randn(2, 3, 3, 4)
    layer.build(x.shape)
    layer.bias.assign(np.arange(4, dtype=np.float32))
    out = run_layer_test(layer, x, expected_trainable=1, tmp_path=tmp_path)
    np.testing.assert_allclose(out, x + 0.5 * np.arange(4), rtol=1e-6)


def test_layers_run_under_mixed_precision():
    policy = keras.mixed_precision.DTypePolicy("mixed_bfloat16")
    x = randn(4, 8, 8, 3)
    conv = EqualizedConv2D(4, 3, resample="up", dtype=policy)
    norm = InstanceNorm(dtype=policy)
    y = norm(conv(x))
    assert y.dtype == tf.bfloat16 and conv.weight.dtype == "float32"
    ref = InstanceNorm()(EqualizedConv2D(4, 3, resample="up")(x) * 0)  # shape only
    assert y.shape == ref.shape
