"""AugmentPipe against the official StyleGAN2-ADA pipe (tests/fixtures/official-ada).

Fed the official recorded raw draws, every case's output, gated values, G_inv, padding, colour
matrix, imgfilter gains and cutout mask are compared with what the official code recorded, and
the resampling steps are checked one by one on the official intermediates. Tolerances: the
official float32 resampling itself is only good to ~1e-5 (an independent float64 port differs
from it by up to 8.9e-6, fixture README); we measure at most 9.9e-6 on the geometric cases and
6e-7 on the others.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.tf_stylegan.augment.official_cases import CASES, GEOMETRIC_CASES, Case, load_npz, nhwc
from tf_stylegan.augment import (
    apply_color,
    apply_cutout,
    apply_geometric,
    apply_imgfilter,
    apply_noise,
    color_matrix,
    cutout_mask,
    filter_bank,
    geometric_matrix,
    imgfilter_gains,
    sym6,
)
from tf_stylegan.augment.color import COLOR_VALUES, LUMA_AXIS
from tf_stylegan.augment.geometric import GEOMETRIC_VALUES, sampling_positions
from tf_stylegan.augment.grid_sample import bilinear_sample

GEOMETRIC_ATOL = 2e-5
OTHER_ATOL = 1e-6
GATED = ("xflip_i", "rotate90_i", "xint_t", "scale_s", "p_rot", "rotate_pre_theta", "aniso_s",
         "rotate_post_theta", "xfrac_t", "brightness_b", "contrast_c", "lumaflip_i", "hue_theta",
         "saturation_s", "imgfilter_t", "noise_sigma", "cutout_size", "cutout_center")


def _atol(name):
    return GEOMETRIC_ATOL if name in GEOMETRIC_CASES else OTHER_ATOL


def test_every_case_is_here():
    assert len(CASES) == 21 and len(GEOMETRIC_CASES) == 12


# Every case with the default static padding; the geometric ones (the only ones the padding
# mode concerns) also with the batch's own margin.
OUTPUT_CASES = ([pytest.param(name, True, id=f"{name}-static") for name in CASES]
                + [pytest.param(name, False, id=f"{name}-batch_margin")
                   for name in CASES if name in GEOMETRIC_CASES])


@pytest.mark.parametrize("name,static_padding", OUTPUT_CASES)
def test_output_matches_official(name, static_padding):
    case = Case(name, static_padding)
    y = case.pipe.apply(case.x, case.p, case.draws).numpy()
    np.testing.assert_allclose(y, nhwc(case.data["y"]), rtol=0, atol=_atol(name))


@pytest.mark.parametrize("name", CASES)
def test_gated_values_and_matrices_match_official(name):
    case = Case(name)
    got = case.stages()
    checked = 0
    if "p_rot" not in got:  # recorded in every case: 1 - sqrt(1 - 0 * p) without rotation
        assert case.data["p_rot"] == 0 and "rotate_pre_theta" not in case.data
        checked += 1
    for key in GATED:
        if key in got or key in case.data and key != "p_rot":
            np.testing.assert_allclose(got[key], case.official(key), rtol=1e-6, atol=1e-6,
                                       err_msg=key)
            checked += 1
    assert checked == sum(k in case.data for k in GATED) and checked >= 1
    for key, atol in (("G_inv_pix", 2e-6), ("margin", 1e-5), ("C", 5e-7),
                      ("imgfilter_g", 5e-7)):
        assert (key in got) == (key in case.data), key
        if key in got:
            np.testing.assert_allclose(got[key], case.data[key], rtol=0, atol=atol, err_msg=key)
    if "pad" in case.data:
        np.testing.assert_array_equal(got["pad"], case.data["pad"])
    if "cutout_mask" in case.data:
        np.testing.assert_array_equal(got["cutout_mask"], nhwc(case.data["cutout_mask"]))


@pytest.mark.parametrize("name", CASES)
def test_each_formula_from_official_inputs(name):
    """Each formula fed the official values it starts from (not our previous step): G_inv and C
    from the official gated values, the gains from the official band gains, the mask from the
    official size and centre; and each single-stage case's output from its official parameters."""
    case = Case(name)
    gated = {k: tf.constant(case.official(k)) for k in GATED if k in case.data}
    geometric = {k: v for k, v in gated.items() if k in GEOMETRIC_VALUES}
    color = {k: v for k, v in gated.items() if k in COLOR_VALUES}
    h, w = case.x.shape[1:3]
    if geometric:
        g_inv = geometric_matrix(geometric, h, w)
        np.testing.assert_allclose(g_inv, case.data["G_inv_pix"], rtol=0, atol=2e-6)
    if color:
        np.testing.assert_allclose(color_matrix(color), case.data["C"], rtol=0, atol=5e-7)
    if "imgfilter_t" in gated:
        np.testing.assert_allclose(imgfilter_gains(gated["imgfilter_t"]),
                                   case.data["imgfilter_g"], rtol=0, atol=5e-7)
    if "cutout_size" in gated:
        mask = cutout_mask(gated["cutout_size"], gated["cutout_center"], h, w)
        np.testing.assert_array_equal(mask, nhwc(case.data["cutout_mask"]))
    stage = {
        "xflip": lambda x: apply_geometric(x, case.data["G_inv_pix"]),
        "rotate": lambda x: apply_geometric(x, case.data["G_inv_pix"]),
        "xfrac": lambda x: apply_geometric(x, case.data["G_inv_pix"]),
        "hue": lambda x: apply_color(x, case.data["C"]),
        "color_gray_p1": lambda x: apply_color(x, case.data["C"]),
        "imgfilter": lambda x: apply_imgfilter(x, case.data["imgfilter_g"]),
        "noise": lambda x: apply_noise(x, case.official("noise_sigma"), case.official("noise_n")),
        "cutout": lambda x: apply_cutout(x, nhwc(case.data["cutout_mask"])),
    }.get(name)
    if stage is not None:
        np.testing.assert_allclose(stage(case.x), nhwc(case.data["y"]), rtol=0,
                                   atol=_atol(name))


@pytest.mark.parametrize("name", ["bgc_p0", "bgcfnc_p0"])
def test_p0_runs_every_stage_with_neutral_parameters(name):
    """At p = 0 the official pipe still resamples (identity G_inv, pad 6), applies C = I, unit
    band gains and an all-ones mask; its output is the input up to 2.7e-6 of rounding."""
    case = Case(name)
    got = case.stages()
    assert {"stage_geom", "stage_color"} <= set(got)
    np.testing.assert_array_equal(got["G_inv_pix"], np.tile(np.eye(3, dtype=np.float32),
                                                            [case.batch, 1, 1]))
    np.testing.assert_array_equal(got["pad"], [6, 6, 6, 6])
    np.testing.assert_array_equal(got["C"], np.tile(np.eye(4, dtype=np.float32),
                                                    [case.batch, 1, 1]))
    if "imgfilter_g" in got:
        np.testing.assert_array_equal(got["imgfilter_g"], np.ones([case.batch, 4]))
        np.testing.assert_array_equal(got["cutout_mask"], 1)
    np.testing.assert_allclose(got["y"], nhwc(case.data["y"]), rtol=0, atol=GEOMETRIC_ATOL)


def test_resampling_steps_match_official_intermediates():
    """aug_rotate, image 0, channel 0: reflect pad, sym6 upsampling, the sampling grid, the
    bilinear sampler and the downsampling, each from the official previous step."""
    inter = load_npz("resampling_rotate_image0.npz")
    case = Case("rotate")
    left, right, top, bottom = (int(v) for v in inter["pad"])
    x = case.x[:1, :, :, :1]
    padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")
    np.testing.assert_array_equal(padded[0, :, :, 0], inter["img_padded"])

    up = sym6.upsample_2x(tf.constant(inter["img_padded"][None, :, :, None]))
    np.testing.assert_allclose(up[0, :, :, 0], inter["img_up"], rtol=0, atol=1e-6)

    # The official normalized grid, as pixel positions of the upsampled image
    # (align_corners=False: ((g + 1) * size - 1) / 2).
    hu, wu = inter["img_up"].shape
    grid = inter["grid"].astype(np.float64)
    ix = ((grid[..., 0] + 1) * wu - 1) / 2
    iy = ((grid[..., 1] + 1) * hu - 1) / 2
    g_inv = tf.constant(case.data["G_inv_pix"][:1])
    our_ix, our_iy = sampling_positions(g_inv, 32, 32, float(left), float(top))
    np.testing.assert_allclose(our_ix[0], ix, rtol=0, atol=2e-5)
    np.testing.assert_allclose(our_iy[0], iy, rtol=0, atol=2e-5)

    # The sampler itself, at the float32 positions torch's CPU kernel computes from the grid:
    # (g + 1) rounded, then * (size / 2) - 0.5 rounded once (a fused multiply-add; without it
    # the positions move by an ulp and the samples by up to 1.4e-6).
    grid_plus_1 = (inter["grid"] + np.float32(1)).astype(np.float64)
    ix = (grid_plus_1[..., 0] * (wu / 2) - 0.5).astype(np.float32)
    iy = (grid_plus_1[..., 1] * (hu / 2) - 0.5).astype(np.float32)
    sampled = bilinear_sample(tf.constant(inter["img_up"][None, :, :, None]), ix[None], iy[None])
    np.testing.assert_allclose(sampled[0, :, :, 0], inter["img_sampled"], rtol=0, atol=2e-7)

    down = sym6.downsample_2x(tf.constant(inter["img_sampled"][None, :, :, None]))
    np.testing.assert_allclose(down[0, :, :, 0], case.data["y"][0, 0], rtol=0, atol=1e-6)


def test_filters_match_official():
    filters = load_npz("filters.npz")
    np.testing.assert_array_equal(sym6.SYM6.astype(np.float32), filters["wavelet_sym6"])
    np.testing.assert_array_equal(sym6.HZ_GEOM, filters["Hz_geom"])
    np.testing.assert_array_equal(filter_bank().astype(np.float32), filters["Hz_fbank"])
    np.testing.assert_array_equal(LUMA_AXIS, filters["luma_axis_v"])


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("name", ["bgcfnc_p0.5", "bgc_p1_64px", "color_gray_p1"])
def test_compiled_matches_official(name, jit_compile):
    """Under tf.function (with an unknown batch size) and with XLA (static shapes)."""
    case = Case(name)
    spec = tf.TensorSpec([None if not jit_compile else case.batch, *case.x.shape[1:]])
    apply = tf.function(case.pipe.apply, jit_compile=jit_compile,
                        input_signature=[spec, tf.TensorSpec([]),
                                         {k: tf.TensorSpec(v.shape) for k, v in
                                          case.draws.items()}])
    y = apply(case.x, case.p, case.draws).numpy()
    np.testing.assert_allclose(y, nhwc(case.data["y"]), rtol=0, atol=_atol(name))
