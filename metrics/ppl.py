"""Perceptual path length: ppl_zfull, ppl_wfull, ppl_zend, ppl_wend (Karras et al. 2019, sec. 4.1).

For each sample (the official `metrics/perceptual_path_length.py`, re-implemented):

1. draw two latents z0, z1 ~ N(0, I) and t ~ U(0, 1) ('full') or t = 0 ('end');
2. 'z' space: ``slerp(z0, z1, t)`` and ``slerp(z0, z1, t + eps)`` of the normalised latents,
   then the mapping network; 'w' space: the mapping of z0 and z1 (the full
   [N, num_layers, dlatent] outputs), then ``lerp(w0, w1, t)`` and ``lerp(w0, w1, t + eps)``;
3. synthesise both images with the SAME noise. The official code re-initialises the stored noise
   variables once per minibatch and synthesises with them (``randomize_noise=False``), so one
   noise draw is shared by every image of the minibatch. We pass one explicit list of fresh
   N(0, 1) tensors [1, H, W, 1] per minibatch to ``G.synthesis(w, noise=[...])`` (same effect,
   and Gs is not modified). A generator without `noise_shapes` but with stored
   ``noise_buffers`` gets them re-drawn per minibatch and restored afterwards;
4. crop the face region ``[3c:7c, 2c:6c]`` with ``c = H // 8`` (option `crop`, on by default as
   in the official v1 code, which always crops), box-downsample to 256 when larger, map
   [-1, 1] to [0, 255];
5. distance = LPIPS-VGG16(img(t), img(t + eps)) / eps^2 with eps = 1e-4.

The result is the mean of the distances d with ``lo <= d <= hi``, where lo is the 1st percentile
with ``interpolation='lower'`` and hi the 99th percentile with ``interpolation='higher'``
(np.percentile), exactly as the official code rejects outliers.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from metrics.image_ops import box_downsample_to, face_crop, to_rgb
from metrics.metric_inputs import LabelSampler, generator_config, progress_bar

__all__ = ["compute_ppl", "filtered_mean", "ppl_distances", "slerp"]


def _normalize(v):
    return v / tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1, keepdims=True))


def slerp(a, b, t):
    """Spherical interpolation of the normalised vectors a, b at t (result has unit norm).

    The angle's cosine is clipped to [-1, 1] so that rounding cannot make ``acos`` NaN.
    """
    a = _normalize(a)
    b = _normalize(b)
    d = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    p = t * tf.math.acos(tf.clip_by_value(d, -1.0, 1.0))
    c = _normalize(b - d * a)
    return _normalize(a * tf.math.cos(p) + c * tf.math.sin(p))


def filtered_mean(distances) -> float:
    """Mean of the distances between the 1st ('lower') and 99th ('higher') percentiles."""
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    if d.size == 0:
        raise ValueError("No path-length samples to average.")
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(np.mean(d[np.logical_and(lo <= d, d <= hi)]))


def _interleave(a, b):
    """[a0, b0, a1, b1, ...] along the batch axis."""
    return tf.reshape(tf.stack([a, b], axis=1), tf.concat([[-1], tf.shape(a)[1:]], axis=0))


def prepare_for_distance(images, crop: bool = True):
    """Official PPL image pipeline: face crop, box-downsample to 256, [-1, 1] -> [0, 255], RGB."""
    if crop:
        images = face_crop(images)
    images = box_downsample_to(images, 256)
    return to_rgb((tf.cast(images, tf.float32) + 1.0) * (255.0 / 2.0))


def ppl_distances(G, distance_fn, *, num_samples: int = 100000, space: str = "w",
                  sampling: str = "end", epsilon: float = 1e-4, crop: bool = True,
                  batch_size: int = 16, labels=None, seed: int = 0,
                  progress: bool = True) -> np.ndarray:
    """The per-sample scaled distances ``distance(img(t), img(t + eps)) / eps^2``.

    Args:
        G: generator with ``mapping(z, labels)`` -> [N, L, D] and
            ``synthesis(w, noise=...)`` -> NHWC in [-1, 1].
        distance_fn: callable ``(img0, img1) -> [B]`` on float RGB NHWC images in [0, 255]
            (normally the LPIPS model).
        num_samples: int. Number of path samples (official: 100,000).
        space: "z" or "w". sampling: "full" or "end".
        epsilon: float. Step (official 1e-4).
        crop: bool. Official face crop.
        batch_size: int. Pairs per minibatch (official: 16 per GPU); one noise draw each.
        labels: dataset label rows for conditional generators (None: random one-hot).
        seed: int. Seed of latents, t, labels and noise.

    Returns:
        float64 array [num_samples].
    """
    if space not in ("z", "w"):
        raise ValueError(f"`space` must be 'z' or 'w'. Received: space={space!r}")
    if sampling not in ("full", "end"):
        raise ValueError(f"`sampling` must be 'full' or 'end'. Received: sampling={sampling!r}")
    cfg = generator_config(G)
    rng = np.random.RandomState(seed)
    sampler = LabelSampler(cfg.label_size, labels, seed=seed + 1)
    tf_rng = tf.random.Generator.from_seed(seed + 2)
    synthesis = G.synthesis
    noise_shapes = getattr(synthesis, "noise_shapes", None)
    buffers = [] if noise_shapes is not None else list(getattr(synthesis, "noise_buffers", []))

    @tf.function(reduce_retracing=True)
    def step(z01, t, labels01, noise):
        if space == "w":
            w01 = G.mapping(z01, labels01)  # [2B, L, D]
            w0, w1 = w01[0::2], w01[1::2]
            tt = tf.cast(t[:, None, None], w01.dtype)
            w_e01 = _interleave(w0 + (w1 - w0) * tt, w0 + (w1 - w0) * (tt + epsilon))
        else:
            z0, z1 = z01[0::2], z01[1::2]
            tt = t[:, None]
            z_e01 = _interleave(slerp(z0, z1, tt), slerp(z0, z1, tt + epsilon))
            w_e01 = G.mapping(z_e01, labels01)
        images = prepare_for_distance(synthesis(w_e01, noise=noise), crop=crop)
        dist = distance_fn(images[0::2], images[1::2])
        return tf.reshape(tf.cast(dist, tf.float32), [-1]) * (1.0 / epsilon**2)

    saved = [tf.identity(v) for v in buffers]
    out = []
    try:
        with progress_bar(num_samples, f"ppl_{space}{sampling}{'' if crop else ' (no crop)'}",
                          progress) as bar:
            done = 0
            while done < num_samples:
                n = min(batch_size, num_samples - done)
                z01 = rng.standard_normal([2 * n, cfg.latent_size]).astype(np.float32)
                t = (rng.uniform(0.0, 1.0, [n]) if sampling == "full" else np.zeros([n]))
                c = sampler(n)
                c01 = None if c is None else tf.constant(np.repeat(c, 2, axis=0))
                if noise_shapes is not None:
                    noise = [tf_rng.normal([1, s, s, 1]) for s in noise_shapes()]
                else:
                    for v in buffers:  # One noise draw for the whole minibatch, as official.
                        v.assign(tf_rng.normal(v.shape, dtype=v.dtype))
                    noise = "const"
                dist = step(tf.constant(z01), tf.constant(t.astype(np.float32)), c01, noise)
                out.append(dist.numpy())
                done += n
                bar.update(n)
    finally:
        for v, value in zip(buffers, saved):
            v.assign(value)
    return np.concatenate(out).astype(np.float64)


def compute_ppl(G, distance_fn, **kwargs) -> float:
    """Perceptual path length: `filtered_mean` of `ppl_distances(G, distance_fn, **kwargs)`."""
    return filtered_mean(ppl_distances(G, distance_fn, **kwargs))
