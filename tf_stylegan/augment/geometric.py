"""The geometric augmentations: one inverse matrix per image, then one resampling.

Matrix (stylegan2-ada-pytorch `augment.py:192-263`). The ops compose, by right multiplication of
their inverses, into G_inv, which maps an output pixel position to the input position it
samples. Positions are homogeneous (x, y, 1) relative to the image centre: pixel (row r, col c)
is at x = c - (W-1)/2, y = r - (H-1)/2, y pointing down. In order: x-flip, rotation by i * 90
degrees, integer translation (rounded half to even, in pixels), isotropic scale, pre-rotation,
anisotropic scale, post-rotation, fractional translation; so the forward transform applies the
flip first and the fractional translation last.

Resampling (augment.py:269-301), for the whole batch:
1. One margin for the batch: the four output corners mapped by every image's G_inv, how far the
   furthest lies beyond the image on each side, plus 6 (two sym6 half-lengths), clamped to
   [0, W-1] / [0, H-1] and rounded up (`geometric_padding`).
2. Reflect-pad the images by that margin (the edge pixel is not repeated).
3. Upsample 2x with sym6 (`sym6.upsample_2x`).
4. Sample bilinearly, zero outside the upsampled padded image, on a grid of 2H+12 x 2W+12
   positions: output position q (relative to the grid centre) samples 2 * G_inv((q + 1/2) / 2)
   - 1/2 (augment.py:291-298).
5. Low-pass and decimate with sym6 back to H x W (`sym6.downsample_2x`).

Static shapes (`static_padding=True`, the default). The official margin depends on the draws, so
step 2 has a data-dependent shape, which XLA cannot compile. Here the images are instead
reflect-padded by the largest possible margin, W-1 and H-1 on every side (its inner part is the
official reflection, whatever the official margin); then everything outside the official
padded window is zeroed, and after the upsampling everything outside the window's upsampled
extent is zeroed again. The upsampling then sees the zeros the official zero padding puts
around the window, and the sampler sees the zeros the official `padding_mode='zeros'` returns
beyond it, so the result is the official one (the same products; only the float rounding of the
positions differs) for any draws, not only when the margin covers every sampled position. The
cost is the area of the largest margin, (3W-2) x (3H-2) before the upsampling, where the
official code pads only as far as the batch needs (W + 12 at p = 0). `static_padding=False`
pads by the batch margin as the official code does: cheaper at high resolution, but not
XLA-compilable.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tf_stylegan.augment import matrices, sym6
from tf_stylegan.augment.grid_sample import bilinear_sample

__all__ = ["GEOMETRIC_VALUES", "apply_geometric", "geometric_matrix", "geometric_padding",
           "sampling_positions"]

GEOMETRIC_VALUES = ("xflip_i", "rotate90_i", "xint_t", "scale_s", "rotate_pre_theta", "aniso_s",
                    "rotate_post_theta", "xfrac_t")
# Extra margin and output border in original pixels: 2 * (12 taps // 4) (augment.py:277-283).
_HZ_PAD = len(sym6.HZ_GEOM) // 4


def geometric_matrix(gated, height, width):
    """G_inv [B, 3, 3] float32, in pixels relative to the image centre, from the gated values of
    the geometric ops (`draws.gated_values`); absent ops are the identity."""
    present = [k for k in GEOMETRIC_VALUES if k in gated]
    if not present:
        raise ValueError("geometric_matrix needs the gated value of at least one geometric op")
    batch = tf.shape(gated[present[0]])[0]
    g = matrices.eye(3, batch)
    if "xflip_i" in gated:
        g = g @ matrices.scale2d_inv(1 - 2 * gated["xflip_i"], 1)
    if "rotate90_i" in gated:
        g = g @ matrices.rotate2d_inv(tf.constant(-math.pi / 2, tf.float32) * gated["rotate90_i"])
    if "xint_t" in gated:
        t = gated["xint_t"]
        g = g @ matrices.translate2d_inv(tf.round(t[:, 0] * width), tf.round(t[:, 1] * height))
    if "scale_s" in gated:
        s = gated["scale_s"]
        g = g @ matrices.scale2d_inv(s, s)
    if "rotate_pre_theta" in gated:
        g = g @ matrices.rotate2d_inv(-gated["rotate_pre_theta"])
    if "aniso_s" in gated:
        s = gated["aniso_s"]
        g = g @ matrices.scale2d_inv(s, 1 / s)
    if "rotate_post_theta" in gated:
        g = g @ matrices.rotate2d_inv(-gated["rotate_post_theta"])
    if "xfrac_t" in gated:
        t = gated["xfrac_t"]
        g = g @ matrices.translate2d_inv(t[:, 0] * width, t[:, 1] * height)
    return g


def geometric_padding(g_inv, height, width):
    """The batch's reflect padding (augment.py:273-283): (margin, pad).

    margin: float32 [4] = (x0, y0, x1, y1), the extent beyond the left, top, right and bottom
    edges that the output corners sample, plus 6, clamped to [0, W-1] / [0, H-1].
    pad: int32 [4] = (left, right, top, bottom) = ceil(margin), in `tf.pad` order per axis.
    """
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = tf.constant([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], tf.float32)
    mapped = tf.matmul(g_inv, corners, transpose_b=True)[:, :2, :]  # [B, xy, corner]
    mapped = tf.reshape(tf.transpose(mapped, [1, 0, 2]), [2, -1])
    margin = tf.reduce_max(tf.concat([-mapped, mapped], 0), axis=1)
    margin = margin + tf.constant([2 * _HZ_PAD - cx, 2 * _HZ_PAD - cy] * 2, tf.float32)
    margin = tf.minimum(tf.maximum(margin, 0.0),
                        tf.constant([width - 1, height - 1] * 2, tf.float32))
    x0, y0, x1, y1 = tf.unstack(tf.cast(tf.math.ceil(margin), tf.int32))
    return margin, tf.stack([x0, x1, y0, y1])


def _window(size, start, stop):
    """[size] float32: 1 on [start, stop), 0 elsewhere."""
    r = tf.range(size)
    return tf.cast((r >= start) & (r < stop), tf.float32)


def apply_geometric(images, g_inv, static_padding=True, record=None):
    """Resamples NHWC float32 `images` [B, H, W, C] through the per-image inverse matrices
    `g_inv` [B, 3, 3] (module docstring). Returns [B, H, W, C]. If `record` is a dict, the
    margin and pad are stored in it."""
    height, width = images.shape[1], images.shape[2]
    margin, pad = geometric_padding(g_inv, height, width)
    if record is not None:
        record.update(margin=margin, pad=pad)
    left, right, top, bottom = tf.unstack(pad)
    if static_padding:
        my, mx = height - 1, width - 1
        canvas = tf.pad(images, [[0, 0], [my, my], [mx, mx], [0, 0]], mode="REFLECT")
        hc, wc = height + 2 * my, width + 2 * mx
        rows = _window(hc, my - top, my + height + bottom)
        cols = _window(wc, mx - left, mx + width + right)
        canvas = canvas * (rows[:, None, None] * cols[None, :, None])
        up = sym6.upsample_2x(canvas)
        rows = _window(2 * hc, 2 * (my - top), 2 * (my + height + bottom))
        cols = _window(2 * wc, 2 * (mx - left), 2 * (mx + width + right))
        up = up * (rows[:, None, None] * cols[None, :, None])
        offset_x, offset_y = float(mx), float(my)
    else:
        canvas = tf.pad(images, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")
        up = sym6.upsample_2x(canvas)
        offset_x, offset_y = tf.cast(left, tf.float32), tf.cast(top, tf.float32)

    ix, iy = sampling_positions(g_inv, height, width, offset_x, offset_y)
    return sym6.downsample_2x(bilinear_sample(up, ix, iy))


def sampling_positions(g_inv, height, width, left, top):
    """The positions (ix, iy) [B, 2H+12, 2W+12] float32, in pixels of the 2x-upsampled padded
    image, that the output grid samples (augment.py:291-298), for images padded by `left` and
    `top` pixels. Output position q (relative to the grid centre) samples the input position
    G_inv((q + 1/2) / 2), which is pixel 2 G_inv(...) + (W - 1) + 2 left of the upsampled image
    (and likewise for rows)."""
    vx = (tf.range(2 * width + 4 * _HZ_PAD, dtype=tf.float32) - (width + 2 * _HZ_PAD - 1)) / 2
    vy = (tf.range(2 * height + 4 * _HZ_PAD, dtype=tf.float32) - (height + 2 * _HZ_PAD - 1)) / 2
    g = g_inv[:, :2, :, None, None]  # [B, row, col, 1, 1]
    vx, vy = vx[None, None, :], vy[None, :, None]
    ix = 2 * (g[:, 0, 0] * vx + g[:, 0, 1] * vy + g[:, 0, 2]) + (width - 1) + 2 * left
    iy = 2 * (g[:, 1, 0] * vx + g[:, 1, 1] * vy + g[:, 1, 2]) + (height - 1) + 2 * top
    return ix, iy
