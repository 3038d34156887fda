"""The colour augmentations: one 4x4 colour matrix per image, applied per pixel.

stylegan2-ada-pytorch `augment.py:307-366`. The ops compose by left multiplication, in order:
brightness (add b to every channel), contrast (scale by c), luma flip (the Householder reflection
I - 2 v v^T along the luma axis v = (1, 1, 1, 0)/sqrt(3): it inverts luma and keeps chroma), hue
(rotation by theta about v), saturation (scale the component orthogonal to v by s). So the
brightness offset is added first and then scaled by the contrast, and saturation acts last.
The saturation matrix also scales the homogeneous element, so C[3, 3] = s; row 3 is never used.

Applying C (augment.py:356-366): RGB out = C[:3, :3] rgb + C[:3, 3]. One channel: c = the mean
of rows 0-2 of C (a 4-vector) and out = x (c0 + c1 + c2) + c3; hue and saturation are skipped
for one channel (they draw nothing, augment.py:337, 345). Other channel counts are refused.
The result is not clamped.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_stylegan.augment import matrices

__all__ = ["COLOR_VALUES", "LUMA_AXIS", "apply_color", "color_matrix"]

COLOR_VALUES = ("brightness_b", "contrast_c", "lumaflip_i", "hue_theta", "saturation_s")
# The luma axis in homogeneous RGB (augment.py:328), float32 as the pipe holds it.
LUMA_AXIS = (np.array([1, 1, 1, 0]) / np.sqrt(3)).astype(np.float32)


def color_matrix(gated):
    """C [B, 4, 4] float32 from the gated values of the colour ops (`draws.gated_values`);
    absent ops are the identity."""
    present = [k for k in COLOR_VALUES if k in gated]
    if not present:
        raise ValueError("color_matrix needs the gated value of at least one colour op")
    batch = tf.shape(gated[present[0]])[0]
    c = matrices.eye(4, batch)
    v = tf.constant(LUMA_AXIS)
    vv = v[:, None] * v[None, :]  # the projection onto the luma axis
    identity = tf.eye(4, dtype=tf.float32)
    if "brightness_b" in gated:
        b = gated["brightness_b"]
        c = matrices.translate3d(b, b, b) @ c
    if "contrast_c" in gated:
        s = gated["contrast_c"]
        c = matrices.scale3d(s, s, s) @ c
    if "lumaflip_i" in gated:
        i = gated["lumaflip_i"][:, None, None]
        c = (identity - 2 * vv * i) @ c
    if "hue_theta" in gated:
        c = matrices.rotate3d(LUMA_AXIS, gated["hue_theta"]) @ c
    if "saturation_s" in gated:
        s = gated["saturation_s"][:, None, None]
        c = (vv + (identity - vv) * s) @ c
    return c


def apply_color(images, c):
    """Applies the colour matrices `c` [B, 4, 4] to NHWC float32 `images` with 1 or 3 channels."""
    channels = images.shape[-1]
    if channels == 3:
        return tf.einsum("bhwj,bij->bhwi", images, c[:, :3, :3]) + c[:, None, None, :3, 3]
    if channels == 1:
        mean = tf.reduce_mean(c[:, :3, :], axis=1)  # [B, 4]
        gain = tf.reduce_sum(mean[:, :3], axis=1)
        return images * gain[:, None, None, None] + mean[:, None, None, 3:]
    raise ValueError(f"colour augmentation needs 1 or 3 channels, got {channels}")
