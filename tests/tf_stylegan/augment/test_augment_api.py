"""AugmentPipe's construction, presets, config round trip, dtypes, shapes and refusals."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan.augment import AUGMENT_PRESETS, DEFAULT_PRESET, AugmentPipe
from tf_stylegan.errors import UserError

# The official constructor defaults (augment.py:118-124) and presets (train.py:271-283),
# transcribed from the reference sheet.
OFFICIAL_STRENGTHS = dict(xint_max=0.125, scale_std=0.2, rotate_max=1.0, aniso_std=0.2,
                          xfrac_std=0.125, brightness_std=0.2, contrast_std=0.5, hue_max=1.0,
                          saturation_std=1.0, imgfilter_bands=[1.0, 1.0, 1.0, 1.0],
                          imgfilter_std=1.0, noise_std=0.1, cutout_size=0.5)
BLIT = {"xflip", "rotate90", "xint"}
GEOM = {"scale", "rotate", "aniso", "xfrac"}
COLOR = {"brightness", "contrast", "lumaflip", "hue", "saturation"}
OFFICIAL_PRESETS = {
    "blit": BLIT, "geom": GEOM, "color": COLOR, "filter": {"imgfilter"}, "noise": {"noise"},
    "cutout": {"cutout"}, "bg": BLIT | GEOM, "bgc": BLIT | GEOM | COLOR,
    "bgcf": BLIT | GEOM | COLOR | {"imgfilter"},
    "bgcfn": BLIT | GEOM | COLOR | {"imgfilter", "noise"},
    "bgcfnc": BLIT | GEOM | COLOR | {"imgfilter", "noise", "cutout"},
}
ALL_OPS = BLIT | GEOM | COLOR | {"imgfilter", "noise", "cutout"}


def test_defaults_are_official():
    config = AugmentPipe().get_config()
    assert {k: v for k, v in config.items() if k in OFFICIAL_STRENGTHS} == OFFICIAL_STRENGTHS
    assert all(config[op] == 0 for op in ALL_OPS)
    assert set(config) == ALL_OPS | set(OFFICIAL_STRENGTHS) | {"static_padding"}


@pytest.mark.parametrize("name", sorted(OFFICIAL_PRESETS))
def test_presets_are_official(name):
    assert set(AUGMENT_PRESETS[name]) == OFFICIAL_PRESETS[name]
    config = AugmentPipe.from_preset(name).get_config()
    assert {op for op in ALL_OPS if config[op] == 1} == OFFICIAL_PRESETS[name]
    assert all(config[op] == 0 for op in ALL_OPS - OFFICIAL_PRESETS[name])
    assert {k: config[k] for k in OFFICIAL_STRENGTHS} == OFFICIAL_STRENGTHS


def test_preset_list_and_default():
    assert set(AUGMENT_PRESETS) == set(OFFICIAL_PRESETS) and DEFAULT_PRESET == "bgc"
    assert AugmentPipe.from_preset().get_config() == AugmentPipe.from_preset("bgc").get_config()


def test_config_round_trips_through_json():
    pipe = AugmentPipe.from_preset("bgcfnc", cutout_size=0.25, imgfilter_bands=[1, 0, 1, 2],
                                   static_padding=False)
    config = json.loads(json.dumps(pipe.get_config()))
    again = AugmentPipe.from_config(config)
    assert again.get_config() == pipe.get_config()
    assert again.spec == pipe.spec and again.static_padding is False
    x = tf.random.stateless_uniform([2, 32, 32, 3], [1, 2], -1, 1)
    seed = tf.constant([4, 5], tf.int32)
    np.testing.assert_array_equal(pipe(x, tf.constant(0.5), seed),
                                  again(x, tf.constant(0.5), seed))


@pytest.mark.parametrize("make, words", [
    (lambda: AugmentPipe.from_preset("bgcx"), "bgcx"),
    (lambda: AugmentPipe(xflip=-1), "xflip"),
    (lambda: AugmentPipe(rotate="1"), "rotate"),
    (lambda: AugmentPipe(scale=float("nan")), "scale"),
    (lambda: AugmentPipe(flip=1), "flip"),
    (lambda: AugmentPipe(imgfilter_bands=[1, 1, 1]), "imgfilter_bands"),
    (lambda: AugmentPipe(static_padding=1), "static_padding"),
])
def test_bad_options_are_user_errors(make, words):
    with pytest.raises(UserError, match=words):
        make()


@pytest.mark.parametrize("preset, shape, dtype, words", [
    ("color", [2, 32, 32, 2], tf.float32, "channels"),
    ("filter", [2, 16, 16, 3], tf.float32, "22x22"),
    ("bgc", [2, 32, 32], tf.float32, "NHWC"),
    ("bgc", [2, 32, 32, 3], tf.int32, "float"),
])
def test_bad_images_are_user_errors(preset, shape, dtype, words):
    x = tf.zeros(shape, dtype)
    with pytest.raises(UserError, match=words):
        AugmentPipe.from_preset(preset)(x, tf.constant(0.5), tf.constant([0, 0]))


def test_geometry_and_gray_colour_accept_other_channel_counts():
    # The geometric ops work for any channel count; with one channel the colour ops skip hue
    # and saturation, so a hue-only pipe leaves gray images to the other stages.
    seed = tf.constant([0, 1], tf.int32)
    x2 = tf.random.stateless_uniform([2, 32, 32, 2], [0, 1], -1, 1)
    assert AugmentPipe.from_preset("bg")(x2, tf.constant(0.7), seed).shape == x2.shape
    gray = tf.random.stateless_uniform([2, 32, 32, 1], [0, 2], -1, 1)
    hue = AugmentPipe(hue=1, saturation=1)
    np.testing.assert_array_equal(hue(gray, tf.constant(1.0), seed), gray)
    assert hue.draw(2, 32, 32, 1, seed) == {}


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float64])
def test_dtype_is_kept_and_computation_is_float32(dtype):
    pipe = AugmentPipe.from_preset("bgcfnc")
    x = tf.random.stateless_uniform([2, 32, 32, 3], [3, 3], -1, 1)
    seed = tf.constant([8, 9], tf.int32)
    ref = pipe(x, tf.constant(0.6), seed)
    y = pipe(tf.cast(x, dtype), tf.constant(0.6), seed)
    assert y.dtype == dtype and y.shape == x.shape
    tol = {tf.float16: 2e-2, tf.bfloat16: 0.1, tf.float64: 1e-6}[dtype]
    np.testing.assert_allclose(tf.cast(y, tf.float32), ref, rtol=0, atol=tol)


@pytest.mark.parametrize("size, channels", [(32, 3), (64, 3), (32, 1)])
def test_every_op_at_32_and_64_px(size, channels):
    pipe = AugmentPipe.from_preset("bgcfnc")
    x = tf.random.stateless_uniform([3, size, size, channels], [size, 0], -1, 1)
    seed = tf.constant([1, size], tf.int32)
    stages = pipe.stages(x, tf.constant(1.0), pipe.draw(3, size, size, channels, seed))
    assert {"stage_geom", "stage_color", "stage_imgfilter", "stage_noise",
            "stage_cutout"} <= set(stages)
    y = pipe(x, tf.constant(1.0), seed)
    np.testing.assert_array_equal(y, stages["y"])
    assert y.shape == x.shape and np.isfinite(y.numpy()).all()
    assert np.abs(y - x).max() > 0.5


def test_p_above_one_acts_like_saturated_gates():
    # xflip 0.5 * p 2.5 > 1: every gate is on, so every image takes its drawn floor(2u) (half
    # of them 1); with p clamped to 1, half the gates would be off.
    pipe = AugmentPipe(xflip=0.5)
    seed = tf.constant([2, 2], tf.int32)
    stages = pipe.stages(tf.zeros([64, 24, 24, 3]), tf.constant(2.5),
                         pipe.draw(64, 24, 24, 3, seed))
    draws = pipe.draw(64, 24, 24, 3, seed)
    np.testing.assert_array_equal(stages["xflip_i"], np.floor(draws["xflip_u"].numpy() * 2))
