"""Bilinear sampling of images at arbitrary pixel positions, zero outside the image.

This is `torch.nn.functional.grid_sample(mode='bilinear', padding_mode='zeros',
align_corners=False)` as the ADA geometric ops call it (stylegan2-ada-pytorch `augment.py:298`),
with the grid already converted to pixel indices: the normalized coordinate g of
`align_corners=False` is the index ((g + 1) * size - 1) / 2 (grid_sample_gradfix.py:30). A
position between pixels blends the four neighbours with the bilinear weights; a neighbour
outside the image contributes 0.

It gathers, so it is linear in the image for fixed positions and differentiable to any order
with respect to the image (the R1 penalty of StyleGAN2 is taken through it, loss.py:111-126);
no gradient flows to the positions, which come from random draws.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["bilinear_sample"]


def bilinear_sample(images, ix, iy):
    """Samples NHWC `images` [B, Hi, Wi, C] at the pixel positions (`ix`, `iy`) [B, Ho, Wo]
    (column and row index, pixel k at k): returns [B, Ho, Wo, C], zero beyond the borders."""
    shape = tf.shape(images)
    hi, wi = shape[1], shape[2]
    channels = images.shape[-1]
    ix = tf.stop_gradient(ix)
    iy = tf.stop_gradient(iy)
    x0 = tf.floor(ix)
    y0 = tf.floor(iy)
    # Each corner's weight is the area of the opposite sub-rectangle.
    wx1, wy1 = ix - x0, iy - y0
    wx0, wy0 = 1 - wx1, 1 - wy1
    x0 = tf.cast(x0, tf.int32)
    y0 = tf.cast(y0, tf.int32)
    flat = tf.reshape(images, [shape[0], -1, channels])
    dynamic = tf.unstack(tf.shape(ix))
    out_shape = [s if s is not None else d for s, d in zip(ix.shape.as_list(), dynamic)]
    total = None
    for dy, wy in ((0, wy0), (1, wy1)):
        for dx, wx in ((0, wx0), (1, wx1)):
            x, y = x0 + dx, y0 + dy
            inside = (x >= 0) & (x < wi) & (y >= 0) & (y < hi)
            index = tf.clip_by_value(y, 0, hi - 1) * wi + tf.clip_by_value(x, 0, wi - 1)
            index = tf.reshape(index, [out_shape[0], -1])
            values = tf.gather(flat, index, batch_dims=1)
            weight = tf.where(inside, wx * wy, tf.zeros_like(wx))
            term = values * tf.reshape(weight, [out_shape[0], -1, 1])
            total = term if total is None else total + term
    return tf.reshape(total, out_shape + [channels])
