"""StyleGAN2's regularizers as pure functions (training/losses.py) against hand computations,
the generator's `return_dlatents`, and the weights the StyleGAN2 phases put on them."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_generator, tiny_training_config
from tf_stylegan import rng
from training.loop import Trainer
from training.losses import path_length_penalty, r1_penalty

N, H, W, C, L, D = 3, 4, 2, 2, 5, 6
_rng = np.random.default_rng(7)
M = _rng.normal(size=(L, D, H * W * C)).astype(np.float32)  # images = sum_l w[:, l] @ M[l]
WLAT = _rng.normal(size=(N, L, D)).astype(np.float32)


def linear_G(z, labels):
    """A generator linear in its dlatents (here the latents themselves): the Jacobian-vector
    product of the path-length penalty is M[l] @ y, per layer."""
    w = tf.identity(z)
    images = tf.reshape(tf.einsum("nld,ldk->nk", w, M), [-1, H, W, C])
    return images, w


def test_path_length_penalty_closed_form():
    seed = tf.constant([3, 4], tf.int32)
    a0, decay = 0.7, 0.01
    penalty, lengths, new_mean = path_length_penalty(linear_G, tf.constant(WLAT), None,
                                                     tf.constant(a0), decay, seed)
    # y ~ N(0, I) / sqrt(H * W), the same draw, flattened like the images.
    y = (rng.stateless_normal([N, H, W, C], seed).numpy() / math.sqrt(H * W)).reshape(N, -1)
    g = np.einsum("ldk,nk->nld", M.astype(np.float64), y)  # d sum(G(w) * y) / dw
    want_lengths = np.sqrt(np.mean(np.sum(g**2, axis=2), axis=1))
    want_mean = a0 + decay * (want_lengths.mean() - a0)
    np.testing.assert_allclose(lengths.numpy(), want_lengths, rtol=1e-5)
    np.testing.assert_allclose(new_mean.numpy(), want_mean, rtol=1e-6)
    np.testing.assert_allclose(penalty.numpy(), (want_lengths - want_mean) ** 2, rtol=1e-4)


def test_path_length_penalty_gradient_flows_through_the_updated_mean():
    # The official penalty (l_i - m')**2 uses the updated mean m' = a + d (mean(l) - a)
    # without a stop-gradient. With the images scaled by s, l_i = s * l0_i, so
    #   d sum(penalty) / ds = sum 2 (l_i - m') (l0_i - d * mean(l0)),
    # while a stopped mean would give sum 2 (l_i - m') l0_i.
    scale, a, d = tf.Variable(1.5), 0.2, 0.5

    def G_fn(z, labels):
        images, w = linear_G(z, labels)
        return images * scale, w

    with tf.GradientTape() as tape:
        penalty, lengths, new_mean = path_length_penalty(
            G_fn, tf.constant(WLAT), None, tf.constant(a), d, tf.constant([1, 2], tf.int32))
        total = tf.reduce_sum(penalty)
    grad = float(tape.gradient(total, scale))
    length = lengths.numpy().astype(np.float64)
    l0, m = length / 1.5, float(new_mean)
    full = np.sum(2 * (length - m) * (l0 - d * l0.mean()))
    stopped = np.sum(2 * (length - m) * l0)
    assert grad == pytest.approx(full, rel=1e-4)
    assert abs(full - stopped) > 0.1 * abs(full)  # the two differ: the test tells them apart


def test_r1_penalty_closed_form():
    x = _rng.uniform(-1, 1, size=(N, 4, 4, 1)).astype(np.float32)
    c = 0.3

    def D_fn(images, labels):  # D(x) = c * sum(x**2): input gradient 2 c x
        return c * tf.reduce_sum(tf.square(images), axis=[1, 2, 3])[:, None]

    penalty, scores = r1_penalty(D_fn, tf.constant(x), None)
    np.testing.assert_allclose(penalty.numpy(), 4 * c**2 * np.sum(x**2, axis=(1, 2, 3)),
                               rtol=1e-5)
    np.testing.assert_allclose(scores.numpy(), c * np.sum(x**2, axis=(1, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_return_dlatents_gives_what_synthesis_was_fed(family):
    G = tiny_generator(family, 8, style_mixing_prob=1.0)
    z = tf.constant(np.random.RandomState(0).randn(4, 16), tf.float32)
    G.dlatent_avg.assign(tf.fill([16], 0.3))
    # Inference: the truncated dlatents, and the images are synthesis(w).
    images, w = G(z, truncation_psi=0.5, noise="const", return_dlatents=True)
    np.testing.assert_allclose(w.numpy(), G.truncate(G.mapping(z), 0.5,
                                                     G.config.truncation_cutoff).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(images.numpy(), G.synthesis(w, noise="const").numpy(),
                               rtol=1e-5, atol=1e-6)
    # Training: the post-mixing dlatents (mixing always on here: the last layers come from
    # a second latent), the same images as without return_dlatents.
    seed = tf.constant([5, 6], tf.int32)
    avg = G.dlatent_avg.numpy()
    images, w = G(z, training=True, seed=seed, return_dlatents=True)
    G.dlatent_avg.assign(avg)
    np.testing.assert_allclose(images.numpy(), G(z, training=True, seed=seed).numpy(),
                               rtol=1e-6, atol=1e-6)
    mapped = G.mapping(z).numpy()
    same = np.all(np.isclose(w.numpy(), mapped, atol=1e-6), axis=(0, 2))
    assert same[0] and not same[-1], same


def test_regularization_phases_weigh_the_penalties(tiny_data):
    # Official: the registered regularization loss is the penalty times its weight times the
    # interval (R1: gamma / 2 * 16; path length: pl_weight * 4).
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", r1_gamma=10.0), progress=False)
    reals, labels = next(iter(t.dataset.iterate(4, 8, shuffle=False)))
    values = t.step.loss_values(4, 8, reals, labels, 1.0, [1, 2], variant=("G_reg", "D_reg"))
    assert values["Loss/gradient_penalty"] > 0 and values["Loss/pl_penalty"] > 0
    assert values["Loss/D_reg"] == pytest.approx(values["Loss/gradient_penalty"] * 10 / 2 * 16,
                                                 rel=1e-5)
    assert values["Loss/G_reg"] == pytest.approx(values["Loss/pl_penalty"] * 2 * 4, rel=1e-5)
    # pl_mean, updated by the evaluation, is put back.
    assert float(t.losses.pl_mean.numpy()) == 0.0
