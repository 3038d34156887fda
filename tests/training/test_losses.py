"""Tests for training/losses.py against hand computations with toy G and D."""

import numpy as np
import pytest
import tensorflow as tf

import training.losses as losses_mod
from training.losses import (
    D_logistic_r1,
    D_wgan_gp,
    G_logistic_nonsaturating,
    G_wgan,
    grad_norm_scale_for,
    r1_scale_for,
)

N, R, C, LATENT = 3, 4, 2, 5
DIM = R * R * C
rng = np.random.default_rng(1234)
A = rng.normal(size=(LATENT, DIM)).astype(np.float32)  # Toy G: z -> z @ A as [N,R,R,C].
M = rng.normal(size=(DIM, DIM)).astype(np.float32) * 0.1
M = M + M.T  # Toy quadratic D: 0.5 x'Mx + b'x, input gradient Mx + b.
B = rng.normal(size=(DIM,)).astype(np.float32)
Z = rng.normal(size=(N, LATENT)).astype(np.float32)
X = rng.uniform(-1, 1, size=(N, R, R, C)).astype(np.float32)


def G_fn(z, labels):
    return tf.reshape(tf.matmul(z, A), [-1, R, R, C])


def D_quadratic(x, labels):
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    return (0.5 * tf.reduce_sum(flat * tf.matmul(flat, M), axis=1, keepdims=True)
            + tf.matmul(flat, B[:, None]))


def np_D(x):
    flat = x.reshape(len(x), -1).astype(np.float64)
    return 0.5 * np.einsum("ni,ij,nj->n", flat, M, flat) + flat @ B


def np_grad(x):
    return x.reshape(len(x), -1).astype(np.float64) @ M + B


def softplus(x):
    return np.log1p(np.exp(x))


def box_down(x, k):
    return tf.nn.avg_pool2d(x, k, k, "VALID")


def nearest_up(x, k):
    return tf.repeat(tf.repeat(x, k, axis=1), k, axis=2)


def test_G_logistic_nonsaturating():
    loss = G_logistic_nonsaturating(G_fn, D_quadratic, tf.constant(Z), None)
    fakes = (Z @ A).reshape(N, R, R, C)
    assert loss.shape == (N,) and loss.dtype == tf.float32
    np.testing.assert_allclose(loss.numpy(), softplus(-np_D(fakes)), rtol=1e-5)


def test_G_wgan():
    loss = G_wgan(G_fn, D_quadratic, tf.constant(Z))
    fakes = (Z @ A).reshape(N, R, R, C)
    np.testing.assert_allclose(loss.numpy(), -np_D(fakes), rtol=1e-5)


def test_D_logistic_r1_matches_hand_computation():
    loss, terms = D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X), None,
                                r1_gamma=10.0, r1_scale=0.25)
    fakes = (Z @ A).reshape(N, R, R, C)
    r1 = np.sum(np_grad(X) ** 2, axis=1)  # Analytical |grad D(x)|^2 of the quadratic D.
    expected = softplus(np_D(fakes)) + softplus(-np_D(X)) + 0.25 * r1 * 5.0
    assert loss.shape == (N,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(terms["r1_penalty"].numpy(), 0.25 * r1, rtol=1e-5)
    np.testing.assert_allclose(terms["real_scores"].numpy(), np_D(X), rtol=1e-5)
    np.testing.assert_allclose(terms["fake_scores"].numpy(), np_D(fakes), rtol=1e-5)


def test_D_logistic_r1_gradient_through_penalty():
    # D(x) = sum_j w_j x_j^2 with trainable w: d/dw of the loss needs the second-order graph.
    w = tf.Variable(rng.uniform(0.1, 0.5, size=(DIM,)).astype(np.float32))

    def D_fn(x, labels):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.reduce_sum(w * tf.square(flat), axis=1, keepdims=True)

    with tf.GradientTape() as tape:
        loss, _ = D_logistic_r1(G_fn, D_fn, tf.constant(Z), tf.constant(X), r1_gamma=10.0)
        total = tf.reduce_sum(loss)
    grad = tape.gradient(total, w).numpy()

    wn = w.numpy().astype(np.float64)
    f2 = ((Z @ A).reshape(N, -1).astype(np.float64)) ** 2
    r2 = X.reshape(N, -1).astype(np.float64) ** 2
    sig = lambda t: 1 / (1 + np.exp(-t))
    # d softplus(D(f))/dw = sig(D(f)) f^2; d softplus(-D(x))/dw = -sig(-D(x)) x^2;
    # R1 = sum_j (2 w_j x_j)^2, so d(5 R1)/dw_j = 40 w_j x_j^2.
    expected = (sig(f2 @ wn)[:, None] * f2 - sig(-(r2 @ wn))[:, None] * r2
                + 40 * wn[None] * r2).sum(axis=0)
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


def test_D_logistic_r1_gamma_zero_skips_the_penalty(monkeypatch):
    def no_tape(*args, **kwargs):
        raise AssertionError("input gradient computed although r1_gamma == 0")

    monkeypatch.setattr(losses_mod, "input_gradient", no_tape)
    loss, terms = D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X), r1_gamma=0.0)
    fakes = (Z @ A).reshape(N, R, R, C)
    np.testing.assert_allclose(loss.numpy(), softplus(np_D(fakes)) + softplus(-np_D(X)),
                               rtol=1e-5)
    assert set(terms) == {"real_scores", "fake_scores"}
    # With gamma != 0 the patched path is taken (so the check above can fail).
    with pytest.raises(AssertionError, match="input gradient"):
        D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X), r1_gamma=1.0)


@pytest.mark.parametrize("levels", [1, 2])
def test_r1_scale_equals_r1_on_upscaled_reals(levels):
    """Official: R1 w.r.t. nearest-upscaled reals that D box-downscales. Ours: R1 at the native
    resolution times r1_scale_for. They must agree."""
    k = 2 ** levels
    full = R * k
    D_full = lambda y, labels: D_quadratic(box_down(y, k), labels)
    G_full = lambda z, labels: nearest_up(G_fn(z, labels), k)
    reals_full = nearest_up(tf.constant(X), k)
    official, official_terms = D_logistic_r1(G_full, D_full, tf.constant(Z), reals_full)
    ours, ours_terms = D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X),
                                     r1_scale=r1_scale_for(R, full))
    np.testing.assert_allclose(ours_terms["r1_penalty"].numpy(),
                               official_terms["r1_penalty"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.numpy(), official.numpy(), rtol=1e-5)
    # The unscaled native R1 is 4^levels times larger: the scale matters.
    _, native = D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X))
    np.testing.assert_allclose(native["r1_penalty"].numpy(),
                               official_terms["r1_penalty"].numpy() * 4 ** levels, rtol=1e-5)


def test_D_wgan_gp_matches_hand_computation():
    u = np.array([0.1, 0.5, 0.9], np.float32)
    lam, eps, target = 10.0, 0.001, 2.0
    loss, terms = D_wgan_gp(G_fn, D_quadratic, tf.constant(Z), tf.constant(X),
                            wgan_lambda=lam, wgan_epsilon=eps, wgan_target=target,
                            grad_norm_scale=0.5, mixing_factors=tf.constant(u))
    fakes = (Z @ A).reshape(N, R, R, C)
    mixed = X + (fakes - X) * u[:, None, None, None]
    norms = 0.5 * np.linalg.norm(np_grad(mixed), axis=1)
    gp = (norms - target) ** 2  # Official: square(norm - target) * lambda / target^2.
    expected = np_D(fakes) - np_D(X) + gp * lam / target ** 2 + eps * np_D(X) ** 2
    assert loss.shape == (N,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(terms["mixed_norms"].numpy(), norms, rtol=1e-5)
    np.testing.assert_allclose(terms["gradient_penalty"].numpy(), gp, rtol=1e-5)
    # The scores are float32 sums of O(1) terms that cancel to O(0.01): compare them with an
    # absolute tolerance at float32 rounding, and the penalty with the scores it squares.
    real = terms["real_scores"].numpy()
    np.testing.assert_allclose(real, np_D(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms["epsilon_penalty"].numpy(), real.astype(np.float64) ** 2,
                               rtol=1e-6)


def test_D_wgan_gp_random_mixing_factors():
    # Linear D: the input gradient is w everywhere, so the penalty does not depend on u.
    wv = rng.normal(size=(DIM,)).astype(np.float32)
    D_lin = lambda x, labels: tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), wv[:, None])
    loss, terms = D_wgan_gp(G_fn, D_lin, tf.constant(Z), tf.constant(X))
    np.testing.assert_allclose(terms["mixed_norms"].numpy(), [np.linalg.norm(wv)] * N, rtol=1e-5)
    fakes = (Z @ A).reshape(N, -1)
    real = X.reshape(N, -1) @ wv
    expected = fakes @ wv - real + 10 * (np.linalg.norm(wv) - 1) ** 2 + 0.001 * real ** 2
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("levels", [1, 2])
def test_grad_norm_scale_equals_gp_on_upscaled_images(levels):
    """The gradient norm w.r.t. a k x nearest-upscaled image, for a D that box-downsamples it,
    is the native norm / k; with grad_norm_scale_for the native penalty equals the official one."""
    k = 2 ** levels
    full = R * k
    u = tf.constant([0.2, 0.6, 0.7])
    D_full = lambda y, labels: D_quadratic(box_down(y, k), labels)
    G_full = lambda z, labels: nearest_up(G_fn(z, labels), k)
    official, official_terms = D_wgan_gp(G_full, D_full, tf.constant(Z),
                                         nearest_up(tf.constant(X), k), mixing_factors=u)
    ours, ours_terms = D_wgan_gp(G_fn, D_quadratic, tf.constant(Z), tf.constant(X),
                                 grad_norm_scale=grad_norm_scale_for(R, full), mixing_factors=u)
    np.testing.assert_allclose(ours_terms["mixed_norms"].numpy(),
                               official_terms["mixed_norms"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.numpy(), official.numpy(), rtol=1e-5)
    # Scaling the penalty instead of the norm (as for R1) would be wrong: GP is not homogeneous.
    _, native = D_wgan_gp(G_fn, D_quadratic, tf.constant(Z), tf.constant(X), mixing_factors=u)
    np.testing.assert_allclose(native["mixed_norms"].numpy() / k,
                               official_terms["mixed_norms"].numpy(), rtol=1e-5)
    assert not np.allclose(native["gradient_penalty"].numpy() / k ** 2,
                           official_terms["gradient_penalty"].numpy(), rtol=1e-3)


def test_labels_reach_G_and_D():
    labels = tf.constant(np.eye(N, 4, dtype=np.float32))
    v = tf.constant([[1.0], [2.0], [3.0], [4.0]])
    D_lab = lambda x, lab: D_quadratic(x, None) + tf.matmul(lab, v)
    G_lab = lambda z, lab: G_fn(z, None) + tf.reduce_sum(lab) * 0.0 + 0.1 * lab[:, :1, None, None]
    loss, terms = D_logistic_r1(G_lab, D_lab, tf.constant(Z), tf.constant(X), labels)
    fakes = (Z @ A).reshape(N, R, R, C) + 0.1 * np.eye(N, 4)[:, 0, None, None, None]
    np.testing.assert_allclose(terms["fake_scores"].numpy(), np_D(fakes) + np.eye(N, 4) @ v.numpy()
                               .ravel(), rtol=1e-5)
    np.testing.assert_allclose(terms["real_scores"].numpy(), np_D(X) + [1, 2, 3], rtol=1e-5)


def test_works_inside_tf_function():
    fn = tf.function(lambda z, x: D_logistic_r1(G_fn, D_quadratic, z, x)[0])
    eager, _ = D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X))
    np.testing.assert_allclose(fn(tf.constant(Z), tf.constant(X)).numpy(), eager.numpy(),
                               rtol=1e-5)
    # gamma selects what is traced, so it cannot be a symbolic tensor.
    bad = tf.function(lambda g: D_logistic_r1(G_fn, D_quadratic, tf.constant(Z), tf.constant(X),
                                              r1_gamma=g)[0])
    with pytest.raises(ValueError, match="r1_gamma must be a Python number"):
        bad(tf.constant(10.0))


def test_scale_helpers_and_errors():
    assert r1_scale_for(1024, 1024) == 1.0
    assert r1_scale_for(16, 64) == 0.25 ** 2
    assert grad_norm_scale_for(8, 1024) == 0.5 ** 7
    with pytest.raises(ValueError, match="must not exceed"):
        r1_scale_for(64, 32)
    D_two = lambda x, labels: tf.concat([D_quadratic(x, labels)] * 2, axis=1)
    with pytest.raises(ValueError, match="one score per sample"):
        G_logistic_nonsaturating(G_fn, D_two, tf.constant(Z))
    with pytest.raises(ValueError, match="does not depend"):
        D_logistic_r1(G_fn, lambda x, labels: tf.ones([N, 1]), tf.constant(Z), tf.constant(X))
