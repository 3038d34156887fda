"""The geometric stage beyond the official fixtures: strong zooms, where the official batch
margin does not cover every sampled position, so the static-shape padding must reproduce the
official zeros (masking) to match. Ground truth: an independent float64 numpy transcription of
the official execution (geometric_numpy.py), itself checked against the official fixtures."""

import numpy as np
import pytest
import tensorflow as tf

from tests.tf_stylegan.augment import geometric_numpy
from tests.tf_stylegan.augment.official_cases import Case
from tf_stylegan.augment import apply_geometric, geometric_padding, matrices


@pytest.mark.parametrize("name", ["rotate", "xfrac", "aniso"])
def test_numpy_transcription_reproduces_official(name):
    case = Case(name)  # only geometric ops enabled: y is the geometric stage's output
    ref = geometric_numpy.geometric(case.data["x"], case.data["G_inv_pix"].astype(np.float64))
    np.testing.assert_allclose(ref, case.data["y"], rtol=0, atol=1e-5)
    assert geometric_numpy.margin_pad(case.data["G_inv_pix"], 32, 32) == tuple(
        case.data["pad"][[0, 2, 1, 3]])


def _matrices(scale, theta, tx=None, aniso=None):
    s = tf.constant(scale)
    a = tf.constant(aniso) if aniso is not None else tf.ones_like(s)
    t = tf.constant(tx) if tx is not None else tf.zeros_like(s)
    return (matrices.scale2d_inv(s, s) @ matrices.rotate2d(tf.constant(theta))
            @ matrices.scale2d_inv(a, 1 / a) @ matrices.translate2d(t, tf.zeros_like(s)))


# Zoom-outs (G_inv expands by 1/scale) reach past the official margin + 6 px; an anisotropic one
# on a non-square image, and a batch whose margin comes from one image only. In "clamped" the
# margin reaches its limit W-1 on every side and much of the grid samples beyond the padded
# image, where the official sampler returns zeros.
CASES = {
    "zoom_0.6": (dict(scale=[0.6], theta=[0.3]), (32, 32)),
    "zoom_0.5": (dict(scale=[0.5], theta=[0.3]), (32, 32)),
    "aniso_nonsquare": (dict(scale=[0.8], theta=[-0.2], aniso=[0.6], tx=[3.5]), (24, 40)),
    "mixed_batch": (dict(scale=[1.0, 0.62, 1.2], theta=[0.0, 0.7, -2.0], tx=[0.0, 1.0, 2.0]),
                    (32, 32)),
    "clamped": (dict(scale=[0.3], theta=[0.5]), (32, 32)),
}


@pytest.mark.parametrize("static_padding", [True, False], ids=["static", "batch_margin"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_strong_transforms_match_numpy_transcription(name, static_padding):
    params, (h, w) = CASES[name]
    g_inv = _matrices(**params)
    batch = g_inv.shape[0]
    x = np.random.default_rng(5).uniform(-1, 1, (batch, h, w, 3)).astype(np.float32)
    pad = geometric_padding(g_inv, h, w)[1].numpy()
    limit = np.array([w - 1, w - 1, h - 1, h - 1])
    # Clamped on every side, or on none (then the static canvas exceeds the padded image).
    assert np.all(pad == limit) if name == "clamped" else np.all(pad < limit), pad
    ref = geometric_numpy.geometric(np.transpose(x, (0, 3, 1, 2)), g_inv.numpy().astype(float))
    y = apply_geometric(tf.constant(x), g_inv, static_padding=static_padding).numpy()
    np.testing.assert_allclose(np.transpose(y, (0, 3, 1, 2)), ref, rtol=0, atol=2e-5)


def test_padding_matches_numpy_transcription():
    rng = np.random.default_rng(0)
    for h, w in ((32, 32), (24, 40)):
        g = rng.normal(0, 0.6, (6, 3, 3)).astype(np.float32)
        g[:, 2] = [0, 0, 1]
        margin, pad = geometric_padding(tf.constant(g), h, w)
        x0, y0, x1, y1 = geometric_numpy.margin_pad(g.astype(np.float64), h, w)
        np.testing.assert_array_equal(pad.numpy(), [x0, x1, y0, y1])
