"""StyleGAN and StyleGAN2 losses as pure functions of callables (official `training/loss.py` of
NVlabs/stylegan and NVlabs/stylegan2).

Every loss takes `G_fn(latents, labels) -> images [N,H,W,C]` and `D_fn(images, labels) -> scores
[N,1]` (plain callables; in the training loop they are closures over the Keras models that fix the
resolution, the fade-in alpha and `training=True`) and returns the loss **per sample**, shape [N],
float32. Reduce it with `tf.nn.compute_average_loss(loss, global_batch_size=...)` under
`tf.distribute` (the official loop takes the mean over each GPU's minibatch and averages GPUs).

Each loss draws its own fakes from the `latents` it is given (the official losses do the same with
fresh latents); the D losses evaluate the fakes with the *real* minibatch's labels.

Resolution scaling (progressive growing). During growth the official loop feeds D the reals and
fakes nearest-upscaled to full resolution, and D box-downscales them back (2x2 averages) to the
current level. Our D runs at the current resolution directly, which gives the same scores
(a box average of a nearest-upscaled image is the image itself) but not the same input
gradients: with `k = 2 ** levels_below`, a D that starts with a k x k box average spreads
each native-pixel gradient `g` over k*k pixels as `g / k**2`, so for the same image

    |grad wrt upscaled image|**2 = sum over native pixels of k**2 * (g / k**2)**2
                                = |grad wrt native image|**2 / k**2.

Hence the official R1 penalty equals the native one times `r1_scale_for(...) = 0.25 ** levels`
and the official WGAN-GP gradient norm equals the native one times
`grad_norm_scale_for(...) = 0.5 ** levels` (the gradient penalty is not homogeneous in the norm,
so the norm itself must be rescaled before the penalty, not the penalty afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from tf_stylegan import rng

from .schedule import num_levels_below

__all__ = [
    "D_logistic_r1",
    "D_wgan_gp",
    "G_logistic_nonsaturating",
    "G_wgan",
    "grad_norm_scale_for",
    "path_length_penalty",
    "r1_penalty",
    "r1_scale_for",
]

GFn = Callable[[tf.Tensor, "tf.Tensor | None"], tf.Tensor]
DFn = Callable[[tf.Tensor, "tf.Tensor | None"], tf.Tensor]


def r1_scale_for(resolution: int, dataset_resolution: int) -> float:
    """Factor that turns R1 computed at `resolution` into the official full-resolution value.

    `0.25 ** num_levels_below(resolution, dataset_resolution)`: the official loop takes R1 w.r.t.
    the reals nearest-upscaled to `dataset_resolution`, which D box-downscales again; that squared
    gradient norm is the native-resolution one divided by 4 per level (see the module docstring;
    checked against R1 on upscaled reals in tests/training/test_losses.py). 1.0 at full
    resolution.
    """
    return 0.25 ** num_levels_below(resolution, dataset_resolution)


def grad_norm_scale_for(resolution: int, dataset_resolution: int) -> float:
    """Factor that turns a D input-gradient *norm* at `resolution` into the official full-res one.

    `0.5 ** num_levels_below(resolution, dataset_resolution)` (the square root of `r1_scale_for`);
    used by the WGAN-GP penalty, which is a nonlinear function of the norm.
    """
    return 0.5 ** num_levels_below(resolution, dataset_resolution)


def _scores(scores: tf.Tensor, name: str) -> tf.Tensor:
    """D output [N,1] (or [N]) -> float32 [N]."""
    scores = tf.convert_to_tensor(scores)
    if scores.shape.rank is not None and scores.shape.rank == 2 and scores.shape[-1] != 1:
        raise ValueError(
            f"D_fn must return one score per sample, shape [N, 1]. Received: {name} shape "
            f"{scores.shape}"
        )
    return tf.reshape(tf.cast(scores, tf.float32), [-1])


def _sum_squares_per_sample(x: tf.Tensor) -> tf.Tensor:
    """sum over every axis but the batch axis of x**2, float32 [N]."""
    x = tf.cast(x, tf.float32)
    return tf.reduce_sum(tf.square(tf.reshape(x, [tf.shape(x)[0], -1])), axis=1)


def _python_number(value, name: str) -> float:
    # A symbolic tensor cannot choose which graph is traced (autograph would also turn float()
    # of it into a cast), so refuse it explicitly.
    if tf.is_symbolic_tensor(value):
        raise ValueError(
            f"{name} must be a Python number (it selects what is traced). "
            f"Received: {name}={value!r}"
        )
    return float(value)


def input_gradient(D_fn: DFn, images: tf.Tensor, labels) -> tuple[tf.Tensor, tf.Tensor]:
    """Scores of `images` and d sum(scores) / d images, recorded so an outer tape can
    differentiate the gradient again (double backprop for R1 / the gradient penalty)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(images)
        scores = D_fn(images, labels)
        total = tf.reduce_sum(tf.cast(scores, tf.float32))
    grads = tape.gradient(total, images)
    if grads is None:
        raise ValueError("D_fn output does not depend on its images input; cannot take R1 / GP.")
    # The gradient through ops of data-dependent shapes (the augmentation's padding by the
    # batch's own margin) loses its static shape, which is the images'.
    return scores, tf.ensure_shape(grads, images.shape)


def G_logistic_nonsaturating(G_fn: GFn, D_fn: DFn, latents: tf.Tensor, labels=None) -> tf.Tensor:
    """Non-saturating logistic G loss (Goodfellow et al. 2014): `softplus(-D(G(z)))`, [N].

    Official `G_logistic_nonsaturating`. `labels` are passed to both G and D (the official loss
    uses random dataset labels for both).
    """
    fake_scores = _scores(D_fn(G_fn(latents, labels), labels), "fake_scores")
    return tf.nn.softplus(-fake_scores)


def D_logistic_r1(
    G_fn: GFn,
    D_fn: DFn,
    latents: tf.Tensor,
    reals: tf.Tensor,
    labels=None,
    r1_gamma: float = 10.0,
    r1_scale: float | tf.Tensor = 1.0,
    D_real_fn: DFn | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logistic D loss with the R1 penalty (Mescheder et al. 2018); official `D_logistic_simplegp`.

        loss = softplus(D(G(z))) + softplus(-D(x)) + r1_scale * sum_{H,W,C}(d sum D(x) / dx)**2
               * r1_gamma / 2

    Args:
        G_fn, D_fn: callables (see module docstring).
        latents: [N, latent_size] for the fakes.
        reals: [N,H,W,C] float, already processed (dynamic range, mirror, LOD fade) as the official
            `process_reals` does; R1 is taken with respect to this tensor.
        labels: [N, label_size] or None: the reals' labels, used for the fakes too (as official).
        r1_gamma: Python float. 10 in the official FFHQ config. 0 skips R1 entirely: no inner
            gradient tape, no second-order graph, and no `r1_penalty` entry in the terms.
        r1_scale: multiplies the R1 sum; `r1_scale_for(resolution, dataset_resolution)` makes the
            penalty equal to the official one when D runs below full resolution.
        D_real_fn: D for the reals, when it differs from `D_fn` (the training loop's augments
            the reals with draws of their own: StyleGAN2-ADA); R1 is still taken with respect
            to `reals`, through it.

    Returns:
        (loss [N] float32, terms) where terms = {"real_scores": [N], "fake_scores": [N],
        "r1_penalty": [N] (the scaled sum of squares before gamma/2, the official
        `Loss/r1_penalty`; present only when r1_gamma != 0)}.
    """
    r1_gamma = _python_number(r1_gamma, "r1_gamma")
    D_real_fn = D_real_fn or D_fn
    fake_scores = _scores(D_fn(G_fn(latents, labels), labels), "fake_scores")
    if r1_gamma != 0.0:
        reals = tf.convert_to_tensor(reals)
        real_scores, real_grads = input_gradient(D_real_fn, reals, labels)
        real_scores = _scores(real_scores, "real_scores")
        r1_penalty = _sum_squares_per_sample(real_grads) * tf.cast(r1_scale, tf.float32)
    else:
        real_scores = _scores(D_real_fn(reals, labels), "real_scores")
        r1_penalty = None
    loss = tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores)
    terms = {"real_scores": real_scores, "fake_scores": fake_scores}
    if r1_penalty is not None:
        loss += r1_penalty * (r1_gamma * 0.5)
        terms["r1_penalty"] = r1_penalty
    return loss, terms


def G_wgan(G_fn: GFn, D_fn: DFn, latents: tf.Tensor, labels=None) -> tf.Tensor:
    """WGAN G loss (Arjovsky et al. 2017): `-D(G(z))`, [N]. Official `G_wgan`."""
    return -_scores(D_fn(G_fn(latents, labels), labels), "fake_scores")


def D_wgan_gp(
    G_fn: GFn,
    D_fn: DFn,
    latents: tf.Tensor,
    reals: tf.Tensor,
    labels=None,
    wgan_lambda: float = 10.0,
    wgan_epsilon: float = 0.001,
    wgan_target: float = 1.0,
    grad_norm_scale: float | tf.Tensor = 1.0,
    mixing_factors: tf.Tensor | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """WGAN-GP D loss (Gulrajani et al. 2017) with ProGAN's drift term; official `D_wgan_gp`.

        loss = D(G(z)) - D(x)
               + (|grad_m| * grad_norm_scale - target)**2 * lambda / target**2
               + epsilon * D(x)**2
        m = x + (G(z) - x) * u,  u ~ U[0, 1) per sample,  grad_m = d sum D(m) / dm

    Args:
        G_fn, D_fn, latents, reals, labels: as in `D_logistic_r1`.
        wgan_lambda: gradient-penalty weight (10).
        wgan_epsilon: drift weight on the squared real scores (0.001, Karras et al. 2018).
        wgan_target: target gradient norm (1).
        grad_norm_scale: multiplies the gradient norm before the penalty;
            `grad_norm_scale_for(resolution, dataset_resolution)` reproduces the official penalty
            (taken on full-resolution upscaled images) when D runs below full resolution.
        mixing_factors: optional [N] or [N,1,1,1] interpolation weights `u`; drawn uniformly per
            sample when None (given only to make tests deterministic).

    Returns:
        (loss [N] float32, terms) with terms "real_scores", "fake_scores", "mixed_norms" (the
        scaled gradient norms), "gradient_penalty" ((norm - target)**2, before the weight) and
        "epsilon_penalty" (real_scores**2), all [N].
    """
    reals = tf.convert_to_tensor(reals)
    fakes = G_fn(latents, labels)
    real_scores = _scores(D_fn(reals, labels), "real_scores")
    fake_scores = _scores(D_fn(fakes, labels), "fake_scores")
    loss = fake_scores - real_scores

    if mixing_factors is None:
        mixing_factors = tf.random.uniform([tf.shape(fakes)[0], 1, 1, 1], 0.0, 1.0,
                                           dtype=fakes.dtype)
    mixing_factors = tf.reshape(tf.cast(mixing_factors, fakes.dtype), [-1, 1, 1, 1])
    mixed = tf.cast(reals, fakes.dtype) + (fakes - tf.cast(reals, fakes.dtype)) * mixing_factors
    _, mixed_grads = input_gradient(D_fn, mixed, labels)
    mixed_norms = tf.sqrt(_sum_squares_per_sample(mixed_grads))
    mixed_norms *= tf.cast(grad_norm_scale, tf.float32)
    gradient_penalty = tf.square(mixed_norms - wgan_target)
    loss += gradient_penalty * (wgan_lambda / (wgan_target ** 2))

    epsilon_penalty = tf.square(real_scores)
    loss += epsilon_penalty * wgan_epsilon
    terms = {
        "real_scores": real_scores,
        "fake_scores": fake_scores,
        "mixed_norms": mixed_norms,
        "gradient_penalty": gradient_penalty,
        "epsilon_penalty": epsilon_penalty,
    }
    return loss, terms


def r1_penalty(D_fn: DFn, reals: tf.Tensor, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
    """The R1 penalty alone: `sum_{H,W,C}(d sum D(x) / dx)**2` per sample, before the weight.

    StyleGAN2's lazy R1 step (official NVlabs/stylegan2 `D_logistic_r1`, its `reg` output,
    summarized as `Loss/gradient_penalty`); the caller multiplies it by `gamma / 2` and the
    regularization interval.

    Returns:
        (penalty [N] float32, real scores [N] float32).
    """
    real_scores, real_grads = input_gradient(D_fn, tf.convert_to_tensor(reals), labels)
    return _sum_squares_per_sample(real_grads), _scores(real_scores, "real_scores")


def path_length_penalty(
    G_fn: Callable,
    latents: tf.Tensor,
    labels,
    pl_mean: tf.Tensor,
    pl_decay: float,
    noise_seed: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Path-length regularization (Karras et al. 2020, sec. 3.2; official NVlabs/stylegan2
    `G_logistic_ns_pathreg`, its `reg` output).

        y ~ N(0, I) / sqrt(H * W), shaped like the images
        g = d sum(G(w) * y) / dw             w: the dlatents fed to synthesis [N, L, D]
        length = sqrt(mean_L(sum_D g**2))    per sample
        a' = a + pl_decay * (mean_batch(length) - a)
        penalty = (length - a')**2           per sample

    The penalty uses the updated mean `a'`, which is not gradient-stopped (as officially: a
    fraction pl_decay of the gradient flows through the mean).

    Args:
        G_fn: `G_fn(latents, labels) -> (images [N,H,W,C], dlatents [N,L,D])`, G in training
            mode (style mixing applies) returning the dlatents its synthesis was fed.
        latents, labels: the samples of the path-length pass.
        pl_mean: scalar float32, the running mean `a` before this pass.
        pl_decay: float. 0.01 officially.
        noise_seed: int32 [2], seed of `y`.

    Returns:
        (penalty [N], lengths [N], the updated mean a' (scalar)), float32.
    """
    # The tape records every op downstream of the latents and of the variables G reads, the
    # synthesis from the dlatents on among them, so the gradient can be taken with respect to
    # that intermediate tensor.
    latents = tf.convert_to_tensor(latents)
    with tf.GradientTape() as tape:
        tape.watch(latents)
        images, dlatents = G_fn(latents, labels)
        images = tf.cast(images, tf.float32)
        h, w = images.shape[1], images.shape[2]
        y = rng.stateless_normal(tf.shape(images), noise_seed) / math.sqrt(h * w)
        total = tf.reduce_sum(images * y)
    g = tape.gradient(total, dlatents)
    if g is None:
        raise ValueError("G_fn's images do not depend on the dlatents it returned.")
    g = tf.cast(g, tf.float32)
    lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(g), axis=2), axis=1))
    new_mean = pl_mean + pl_decay * (tf.reduce_mean(lengths) - pl_mean)
    return tf.square(lengths - new_mean), lengths, new_mean
