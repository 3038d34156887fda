"""Gradients through the pipe, first and second order, against finite differences.

For fixed draws the pipe is affine in the images, aug(x) = A x + b, so with a quadratic critic
D(y) = sum(w_c y_c^2) / 2 + sum(u y) the R1-style penalty P = |grad_x D(aug(x))|^2 is quadratic in
x and in w, and central differences of any step are exact up to float rounding: a large step
makes the check tight. This is StyleGAN2's R1 through the augmentation (stylegan2-ada-pytorch
loss.py:111-126): the gradient of the penalty with respect to D's weights needs the gradient of
the pipe's backward pass."""

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan.augment import AugmentPipe

SHAPE = (2, 24, 24, 3)  # imgfilter needs >= 22 px


@pytest.fixture(scope="module")
def setup():
    pipe = AugmentPipe.from_preset("bgcfnc")
    draws = pipe.draw(SHAPE[0], *SHAPE[1:], tf.constant([3, 8], tf.int32))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, SHAPE).astype(np.float32))
    u = tf.constant(rng.normal(size=SHAPE).astype(np.float32))
    w = tf.constant([0.7, -1.3, 0.4])
    dirs = rng.normal(size=(2,) + SHAPE).astype(np.float32)
    return pipe, draws, x, u, w, dirs


def _aug(pipe, draws, x):
    return pipe.apply(x, tf.constant(0.8), draws)


def _penalty_and_grads(pipe, draws, x, u, w):
    """P(x, w) and its gradients w.r.t. x and w, by nested tapes (as the R1 term is taken)."""
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, w])
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = _aug(pipe, draws, x)
            d = tf.reduce_sum(w * tf.square(y)) / 2 + tf.reduce_sum(u * y)
        grad_x = inner.gradient(d, x)
        penalty = tf.reduce_sum(tf.square(grad_x))
    return penalty, outer.gradient(penalty, x), outer.gradient(penalty, w)


def test_first_order_matches_finite_differences(setup):
    pipe, draws, x, u, _, dirs = setup
    with tf.GradientTape() as tape:
        tape.watch(x)
        f = tf.reduce_sum(u * _aug(pipe, draws, x))
    grad = tape.gradient(f, x).numpy()
    assert np.abs(grad).max() > 0.1
    for d in dirs:
        fd = (tf.reduce_sum(u * _aug(pipe, draws, x + d)) -
              tf.reduce_sum(u * _aug(pipe, draws, x - d))).numpy() / 2
        np.testing.assert_allclose(np.sum(grad * d), fd, rtol=1e-5)


@pytest.fixture(scope="module")
def traced(setup):
    """P and its gradients, in one tf.function (traced once: the FD checks call it often)."""
    pipe, draws, _, u, _, _ = setup
    return tf.function(lambda x, w: _penalty_and_grads(pipe, draws, x, u, w), autograph=False)


def test_second_order_matches_finite_differences(setup, traced):
    _, _, x, _, w, dirs = setup
    penalty, grad_x, grad_w = traced(x, w)
    plain = lambda xx, ww: traced(xx, ww)[0].numpy()  # noqa: E731
    for i, step in enumerate(np.eye(3, dtype=np.float32) * 0.5):
        fd = (plain(x, w + step) - plain(x, w - step)) / 1.0
        np.testing.assert_allclose(grad_w[i], fd, rtol=1e-5)
    for d in dirs:
        d = 0.5 * d
        fd = (plain(x + d, w) - plain(x - d, w)) / 2
        np.testing.assert_allclose(np.sum(grad_x.numpy() * d), fd, rtol=1e-4)
    assert penalty > 0 and np.abs(grad_w).min() > 1.0


def test_second_order_eager_equals_traced(setup, traced):
    pipe, draws, x, u, w, _ = setup
    for a, b in zip(_penalty_and_grads(pipe, draws, x, u, w), traced(x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
