"""The random draws and the gating, statistically: each op acts with probability multiplier * p
(each rotation with p_rot = 1 - sqrt(1 - rotate * p), so that one of the two happens with
probability rotate * p), with the official parameter distributions. Every tolerance is 5
standard errors of the sample size (a pass by chance fails about once in 1.7 million)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.augment import AugmentPipe, gated_values

N = 40000
K = 5  # standard errors

# Distinct multipliers, so that a gate using the wrong one (or p alone) is seen; xint * p > 1.
MULTIPLIERS = dict(xflip=1.0, rotate90=0.5, xint=2.0, scale=0.25, rotate=0.9, aniso=0.7,
                   xfrac=0.6, brightness=1.0, contrast=0.4, lumaflip=0.8, hue=0.3,
                   saturation=1.1, imgfilter=0.5, noise=0.9, cutout=0.35)
STRENGTHS = dict(imgfilter_bands=[1.0, 0.5, 0.0, 2.0])


def _near(observed, expected, se, what):
    assert abs(observed - expected) <= K * se + 1e-12, (
        f"{what}: {observed} vs {expected} (5 SE = {K * se})")


def _rate(flags, q, what):
    _near(np.mean(flags), q, math.sqrt(q * (1 - q) / flags.size), what)


def _normal(z, what):
    z = np.asarray(z, np.float64)
    _near(z.mean(), 0.0, 1 / math.sqrt(z.size), f"{what} mean")
    _near(z.var(), 1.0, math.sqrt(2 / z.size), f"{what} variance")


def _uniform(u, lo, hi, what):
    u = np.asarray(u, np.float64)
    assert u.min() >= lo and u.max() <= hi, what
    _near(u.mean(), (lo + hi) / 2, (hi - lo) / math.sqrt(12 * u.size), f"{what} mean")


@pytest.fixture(scope="module")
def sample():
    pipe = AugmentPipe(**MULTIPLIERS, **STRENGTHS)
    p = 0.6
    draws = pipe.draw(N, 2, 2, 3, tf.constant([12, 34], tf.int32))
    gated = gated_values(pipe.spec, draws, tf.constant(p))
    return pipe, p, {k: v.numpy() for k, v in draws.items()}, \
        {k: v.numpy() for k, v in gated.items()}


def test_gate_frequencies_follow_multiplier_times_p(sample):
    pipe, p, _, g = sample
    m = {k: min(v * p, 1.0) for k, v in MULTIPLIERS.items()}
    _rate(g["xflip_i"] == 1, m["xflip"] / 2, "xflip")
    _rate(g["rotate90_i"] != 0, m["rotate90"] * 3 / 4, "rotate90")
    assert m["xint"] == 1.0 and np.all(g["xint_t"] != 0)  # xint * p = 1.2: always on
    for name, key, neutral in (("scale", "scale_s", 1), ("aniso", "aniso_s", 1),
                               ("xfrac", "xfrac_t", 0), ("brightness", "brightness_b", 0),
                               ("contrast", "contrast_c", 1), ("hue", "hue_theta", 0),
                               ("saturation", "saturation_s", 1), ("noise", "noise_sigma", 0),
                               ("cutout", "cutout_size", 0)):
        on = g[key] != neutral
        _rate(on if on.ndim == 1 else on.any(axis=1), m[name], name)
    _rate(g["lumaflip_i"] == 1, m["lumaflip"] / 2, "lumaflip")
    for band, strength in enumerate(STRENGTHS["imgfilter_bands"]):
        _rate(g["imgfilter_t"][band] != 1, min(m["imgfilter"] * strength, 1.0), f"band {band}")


def test_rotation_gates_follow_p_rot(sample):
    _, p, _, g = sample
    p_rot = 1 - math.sqrt(1 - MULTIPLIERS["rotate"] * p)
    np.testing.assert_allclose(g["p_rot"], p_rot, rtol=1e-6)
    pre, post = g["rotate_pre_theta"] != 0, g["rotate_post_theta"] != 0
    _rate(pre, p_rot, "pre-rotation")
    _rate(post, p_rot, "post-rotation")
    _rate(pre | post, MULTIPLIERS["rotate"] * p, "any rotation")
    _rate(pre & post, p_rot**2, "both rotations")


def test_rotation_probability_rule_clamps():
    pipe = AugmentPipe(rotate=1.0)
    draws = pipe.draw(4, 8, 8, 3, tf.constant([1, 1], tf.int32))
    for p, want in ((0.0, 0.0), (0.5, 1 - math.sqrt(0.5)), (1.0, 1.0), (3.0, 1.0)):
        got = gated_values(pipe.spec, draws, tf.constant(p))["p_rot"].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_parameter_distributions(sample):
    _, _, d, g = sample
    # Raw draws: uniforms in (0, 1), standard normals.
    for key in ("xflip_u", "rotate90_gate_u", "hue_u", "cutout_center", "imgfilter_gate_u"):
        _uniform(d[key], 0.0, 1.0, key)
    for key in ("scale_n", "aniso_n", "xfrac_n", "contrast_n", "saturation_n", "imgfilter_n",
                "noise_n"):
        _normal(d[key].ravel(), key)
    # Gated values where the op acts, against the official formulas' distributions.
    s = g["scale_s"][g["scale_s"] != 1]
    _normal(np.log2(s) / 0.2, "log2 scale / scale_std")
    a = g["aniso_s"][g["aniso_s"] != 1]
    _normal(np.log2(a) / 0.2, "log2 aniso / aniso_std")
    _normal(g["xfrac_t"][g["xfrac_t"][:, 0] != 0].ravel() / 0.125, "xfrac / xfrac_std")
    _normal(g["brightness_b"][g["brightness_b"] != 0] / 0.2, "brightness / brightness_std")
    _normal(np.log2(g["contrast_c"][g["contrast_c"] != 1]) / 0.5, "log2 contrast / std")
    _normal(np.log2(g["saturation_s"][g["saturation_s"] != 1]), "log2 saturation")
    _uniform(g["xint_t"].ravel(), -0.125, 0.125, "xint_t")
    for key in ("rotate_pre_theta", "hue_theta"):
        theta = g[key][g[key] != 0]
        _uniform(theta, -math.pi, math.pi, key)
    for k in range(4):
        _rate(g["rotate90_i"][g["rotate90_i"] != 0] == k, 1 / 3 if k else 0.0, f"rot90 {k}")
    sigma = g["noise_sigma"][g["noise_sigma"] != 0] / 0.1  # half-normal
    _near(sigma.mean(), math.sqrt(2 / math.pi), math.sqrt((1 - 2 / math.pi) / sigma.size),
          "noise sigma mean")
    assert set(np.unique(g["cutout_size"])) == {0.0, np.float32(0.5)}


def test_draws_are_independent(sample):
    _, _, d, _ = sample
    names = ["xflip_gate_u", "rotate90_gate_u", "scale_gate_u", "rotate_pre_gate_u",
             "rotate_post_gate_u", "brightness_gate_u", "noise_gate_u", "cutout_gate_u",
             "xflip_u", "scale_n"]
    rows = np.stack([d[k] for k in names] + [d["imgfilter_gate_u"][0], d["xint_u"][:, 0],
                                             d["xint_u"][:, 1], d["cutout_center"][:, 0]])
    corr = np.corrcoef(rows)
    off = corr[~np.eye(len(corr), dtype=bool)]
    assert np.abs(off).max() < K / math.sqrt(N), np.abs(off).max()


def test_draws_are_stateless_and_per_stream():
    pipe = AugmentPipe.from_preset("bgc")
    seed = tf.constant([7, 9], tf.int32)
    a = pipe.draw(16, 32, 32, 3, seed)
    b = pipe.draw(16, 32, 32, 3, seed)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = pipe.draw(16, 32, 32, 3, rng.fold_in(seed, 1))  # another replica
    assert not any(np.array_equal(a[k], c[k]) for k in a)
    # Enabling more ops leaves the draws of the others unchanged.
    more = AugmentPipe.from_preset("bgcfnc").draw(16, 32, 32, 3, seed)
    assert all(np.array_equal(a[k], more[k]) for k in a)
    assert set(more) - set(a) == {"imgfilter_n", "imgfilter_gate_u", "noise_sigma_n",
                                  "noise_gate_u", "noise_n", "cutout_gate_u", "cutout_center"}


def test_only_enabled_ops_draw_and_gray_skips_hue_saturation():
    color = AugmentPipe.from_preset("color")
    rgb = color.draw(2, 8, 8, 3, tf.constant([0, 1]))
    gray = color.draw(2, 8, 8, 1, tf.constant([0, 1]))
    assert {"hue_u", "saturation_n"} <= set(rgb)
    assert set(rgb) - set(gray) == {"hue_u", "hue_gate_u", "saturation_n", "saturation_gate_u"}
    assert set(AugmentPipe(xflip=1).draw(2, 8, 8, 3, tf.constant([0, 1]))) == {
        "xflip_u", "xflip_gate_u"}


def test_call_is_apply_of_draw_and_flips_half_the_images():
    """pipe(x, p, seed) == pipe.apply(x, p, pipe.draw(..., seed)); with xflip at p = 1 half the
    images come out mirrored (the sym6 resampling is not an exact permutation, so each output
    is classified by whether it is closer to the input or to its mirror image)."""
    pipe = AugmentPipe(xflip=1)
    n = 600
    base = np.random.default_rng(1).uniform(-1, 1, (n, 4, 4, 1)).astype(np.float32)
    x = tf.image.resize(tf.constant(base), [24, 24], method="bicubic")  # smooth images
    seed = tf.constant([5, 6], tf.int32)
    y = pipe(x, tf.constant(1.0), seed)
    again = pipe.apply(x, tf.constant(1.0), pipe.draw(n, 24, 24, 1, seed))
    np.testing.assert_array_equal(y, again)
    y, x = y.numpy(), x.numpy()
    to_same = np.abs(y - x).max(axis=(1, 2, 3))
    to_flip = np.abs(y - x[:, :, ::-1]).max(axis=(1, 2, 3))
    assert np.all(np.minimum(to_same, to_flip) < 0.05)
    _rate(to_flip < to_same, 0.5, "flipped outputs")


def test_draws_are_the_same_under_xla():
    """A run with --xla draws the same augmentations (tf_stylegan.rng): uniforms bit for bit,
    normals to float rounding."""
    pipe = AugmentPipe.from_preset("bgcfnc")
    seed = tf.constant([-123456789, 987654321], tf.int32)
    eager = pipe.draw(8, 24, 24, 3, seed)
    xla = tf.function(lambda s: pipe.draw(8, 24, 24, 3, s), jit_compile=True,
                      autograph=False)(seed)
    assert set(eager) == set(xla)
    for name in eager:
        if name.endswith("_u") or name == "cutout_center":
            np.testing.assert_array_equal(eager[name], xla[name], err_msg=name)
        else:
            np.testing.assert_allclose(eager[name], xla[name], rtol=0, atol=2e-6, err_msg=name)
