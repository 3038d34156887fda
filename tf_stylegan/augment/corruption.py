"""The image-space corruptions: additive RGB noise and cutout (stylegan2-ada-pytorch
`augment.py:406-427`).

Noise: image b gets out = in + sigma_b * n, with n ~ N(0, 1) drawn for every pixel and channel
and sigma_b = |n_b| * noise_std (half-normal) when its gate is on, 0 otherwise.

Cutout: a square of side `cutout_size` (relative to W and to H) centred at a uniform point
(c_x, c_y) in [0, 1)^2 is set to 0 (mid-grey in [-1, 1]), clipped by the border. A pixel is kept
when |(col + 0.5) / W - c_x| >= side / 2 or |(row + 0.5) / H - c_y| >= side / 2; a gated-off
image has side 0, so it keeps every pixel.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["apply_cutout", "apply_noise", "cutout_mask"]


def apply_noise(images, sigma, noise_n):
    """`images` + `noise_n` * `sigma`: NHWC [B, H, W, C], sigma [B], noise_n [B, H, W, C]."""
    return images + noise_n * sigma[:, None, None, None]


def cutout_mask(size, center, height, width):
    """The [B, H, W, 1] float32 mask (1 = kept) of squares of side `size` [B] (relative) centred
    at `center` [B, 2] (x, y relative)."""
    col = (tf.range(width, dtype=tf.float32) + 0.5) / width
    row = (tf.range(height, dtype=tf.float32) + 0.5) / height
    half = (size / 2)[:, None, None]
    keep_x = tf.abs(col[None, None, :] - center[:, 0, None, None]) >= half
    keep_y = tf.abs(row[None, :, None] - center[:, 1, None, None]) >= half
    return tf.cast(keep_x | keep_y, tf.float32)[..., None]


def apply_cutout(images, mask):
    return images * mask
