"""Interpolation walks: frames that move through the latents of several seeds."""

import numpy as np
import tensorflow as tf

from apps.generation import make_labels, z_from_seeds
from tf_stylegan.errors import UserError
from tf_stylegan.images import to_uint8
from tf_stylegan.progress import Progress


def slerp(a, b, t):
    """Spherical interpolation of directions, linear interpolation of norms."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    d = np.clip(np.dot(ua, ub), -1.0, 1.0)
    theta = np.arccos(d)
    if theta < 1e-6:
        u = ua
    else:
        u = (np.sin((1 - t) * theta) * ua + np.sin(t * theta) * ub) / np.sin(theta)
    return (u * ((1 - t) * na + t * nb)).astype(np.float32)


def interpolation_frames(Gs, seeds, space="z", frames=60, loop=False, labels=None,
                         truncation_psi=None, truncation_cutoff=None, noise="const",
                         batch_size=8, progress=True):
    """Yields uint8 frames [H, W, C] walking through the latents of `seeds`.

    `space="z"`: slerp between the z of consecutive seeds, then map. `space="w"`: lerp between
    their w. Truncation (default: the config's psi/cutoff) is applied to each frame's w; the
    stored noise keeps the frames coherent. `frames` frames per transition (the endpoint seed
    starts the next one); with `loop` the walk returns to the first seed, otherwise the last
    seed's image ends it.
    """
    if space not in ("z", "w"):
        raise UserError(f"`space` must be 'z' or 'w'. Received: space={space!r}")
    seeds = list(seeds)
    if len(seeds) < 2:
        raise UserError(f"interpolation needs at least 2 seeds. Received: seeds={seeds}")
    if frames < 1:
        raise UserError(f"`frames` must be >= 1. Received: frames={frames}")
    cfg = Gs.config
    keys = seeds + seeds[:1] if loop else seeds
    z_keys = z_from_seeds(keys, cfg.latent_size)
    steps = [(k, j / frames) for k in range(len(keys) - 1) for j in range(frames)]
    if not loop:
        steps.append((len(keys) - 2, 1.0))
    if space == "w":
        w_keys = Gs.mapping(tf.constant(z_keys), make_labels(cfg, len(keys), labels)).numpy()
    psi = cfg.truncation_psi if truncation_psi is None else truncation_psi
    cutoff = cfg.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
    bar = Progress(len(steps), "interpolate", "frame", enabled=progress, leave=False)
    for i in range(0, len(steps), batch_size):
        chunk = steps[i:i + batch_size]
        if space == "z":
            z = np.stack([slerp(z_keys[k], z_keys[k + 1], t) for k, t in chunk])
            w = Gs.mapping(tf.constant(z), make_labels(cfg, len(chunk), labels))
        else:
            w = tf.constant(np.stack([(1 - t) * w_keys[k] + t * w_keys[k + 1]
                                      for k, t in chunk]).astype(np.float32))
        w = Gs.truncate(w, psi, cutoff)
        yield from np.asarray(to_uint8(Gs.synthesis(w, noise=noise)))
        bar.update(len(chunk))
    bar.close()
