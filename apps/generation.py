"""Latents, labels and uint8 images from a generator, as the official scripts make them.

Latents come from seeds as in the official `pretrained_example.py` / `generate_figures.py` /
StyleGAN2's `run_generator.py`: `z = np.random.RandomState(seed).randn(latent_size)`. Random
noise is drawn from a seed too (`seed_inputs`, `generate_images`), so every image is
reproducible bit for bit on one machine.
"""

import numpy as np
import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of
from tf_stylegan.images import to_uint8
from tf_stylegan.progress import track


def z_from_seed(seed, latent_size):
    """The official convention: `np.random.RandomState(seed).randn(latent_size)`, float32."""
    return np.random.RandomState(seed).randn(latent_size).astype(np.float32)


def z_from_seeds(seeds, latent_size):
    """[N, latent_size] float32: one `z_from_seed` row per seed."""
    return np.stack([z_from_seed(s, latent_size) for s in seeds]) if len(seeds) else \
        np.zeros([0, latent_size], np.float32)


def seed_inputs(Gs, seed, noise="random"):
    """z [1, latent_size] and the `noise` argument of `Gs` for the image of `seed`.

    z is `np.random.RandomState(seed).randn(1, latent_size)`, as in both families' official
    scripts. For a StyleGAN2 network, random noise continues that RandomState: the noise maps
    noise0, noise1, ... are drawn in layer order as `randn(1, 1, H, W)` each, as NVlabs/stylegan2
    `run_generator.py` (`generate_images`) sets the noise variables before rendering, so a seed
    gives the official image (the family's `seeded_noise`). For StyleGAN every other `noise` is
    returned unchanged: its official scripts draw random noise unseeded, and `generate_images`
    draws it statelessly from the seed instead.
    """
    rnd = np.random.RandomState(seed)
    z = rnd.randn(1, Gs.config.latent_size)
    if noise == "random" and family_of(Gs).seeded_noise:
        # [1, 1, H, W] (official NCHW) and [1, H, W, 1] hold the same draws in the same order.
        noise = [tf.constant(rnd.randn(1, size, size, 1), tf.float32)
                 for size in Gs.synthesis.noise_shapes()]
    return z, noise


def noise_seed(*values):
    """A stateless-RNG seed (int32 [2]) from python ints, for reproducible random noise."""
    h = 0
    for v in values:
        h = (h * 1000003 + int(v)) % (2**62)
    return tf.constant([h % 2**31, (h // 2**31) % 2**31], tf.int32)


def make_labels(config, n, labels=None):
    """Broadcasts one label vector [label_size] (or [n, label_size]) to [n, label_size].

    Returns None for unconditional networks; raises for a conditional network without labels.
    """
    if not config.label_size:
        if labels is not None:
            raise UserError("This network is unconditional (label_size=0): do not pass labels.")
        return None
    if labels is None:
        raise UserError(
            f"This network is conditional (label_size={config.label_size}): labels are required "
            "(generate.py: --class-idx or --labels)."
        )
    labels = np.asarray(labels, np.float32)
    if labels.ndim == 1:
        labels = np.broadcast_to(labels, [n, labels.shape[0]])
    if labels.shape != (n, config.label_size):
        raise UserError(
            f"labels must have shape [{config.label_size}] or [{n}, {config.label_size}]. "
            f"Received: shape={labels.shape}"
        )
    return tf.constant(labels)


def generate_images(Gs, z, labels=None, truncation_psi=None, truncation_cutoff=None,
                    noise="random", seed=None, batch_size=8, progress=False):
    """Runs Gs on z [N, latent_size] in minibatches and returns uint8 images [N, H, W, C].

    Args:
        Gs: Generator.
        z: float [N, latent_size].
        labels: float [N, label_size] or None.
        truncation_psi, truncation_cutoff: as `Generator.__call__` (None: the config defaults).
        noise: "random" | "const" | "none", or a list of noise maps (as `Gs.synthesis`).
        seed: optional python int; with random noise, minibatch b uses the stateless seed
            `noise_seed(seed, b)`, so results are reproducible.
        batch_size: images per forward pass (official figures use 8).
        progress: report progress (bool, or the description to show).
    """
    z = np.asarray(z, np.float32)
    out = []
    starts = range(0, len(z), batch_size)
    if progress:
        starts = track(starts, desc=progress if isinstance(progress, str) else "generate",
                       unit="batch", leave=False)
    for b, i in enumerate(starts):
        batch_labels = None if labels is None else labels[i:i + batch_size]
        s = None if seed is None else noise_seed(seed, b)
        images = Gs(tf.constant(z[i:i + batch_size]), batch_labels,
                    truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                    noise=noise, seed=s)
        out.append(np.asarray(to_uint8(images)))
    return np.concatenate(out) if out else np.zeros([0], np.uint8)


def synthesize(Gs, w, noise="const", seed=None):
    """uint8 images of dlatents w [N, num_layers, dlatent_size] (synthesis only, no truncation)."""
    w = tf.constant(np.asarray(w, np.float32))
    return np.asarray(to_uint8(Gs.synthesis(w, noise=noise, seed=seed)))
