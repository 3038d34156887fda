"""2x up- and down-sampling with the sym6 wavelet filter, as the ADA geometric ops use them.

The geometric augmentations resample once, at twice the resolution: the padded image is
upsampled 2x with the 12-tap sym6 low-pass filter (stylegan2-ada-pytorch `augment.py:290`,
`upsample2d`), bilinearly sampled, then low-passed and decimated back (`augment.py:301`,
`downsample2d(padding=-6, flip_filter=True)`). The filter is normalized to unit DC gain
(`HZ_GEOM`, augment.py:167) and is orthonormal, so the pair reconstructs an unresampled image
exactly. It is not symmetric, so the orientations below matter:

- upsampling, per axis: a zero after every sample, zero-pad 6 before and 5 after, then a true
  convolution (taps flipped) with 2 * HZ_GEOM; N -> 2N (upfirdn2d.py:183-208, 308-343);
- downsampling, per axis: crop 1 sample at each end, correlate (taps not flipped) over the
  valid positions, keep every 2nd sample from the first; 2N + 12 -> N (upfirdn2d.py:376-381).

These are separable 1-D passes (24 taps per pixel instead of the 144 of a 2-D kernel, which
`tf_stylegan.layers.upfirdn.upfirdn_2d` would use), and the upsampling is computed in polyphase
form (two 6-tap filters on the input, interleaved) rather than by filtering inserted zeros.
Every op is linear in the image, differentiable to any order, and XLA-compilable; the spatial
sizes may be dynamic (the unpadded-margin path of `geometric.apply_geometric`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["HZ_GEOM", "SYM6", "downsample_2x", "upsample_2x"]

# Symlet-6 decomposition low-pass coefficients (augment.py:35; the published wavelet values).
SYM6 = np.array([
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
])
# The filter the pipe uses: sym6 with unit DC gain, normalized in float32 as the official
# `upfirdn2d.setup_filter` does (the float32 sum is 1.4142137, not the float64 sqrt(2)).
_SYM6_F32 = SYM6.astype(np.float32)
HZ_GEOM = _SYM6_F32 / _SYM6_F32.sum(dtype=np.float32)


def _correlate(x, taps, axis, stride=1):
    """Valid cross-correlation of NHWC `x` with the 1-D `taps` along `axis` (1 = H, 2 = W),
    keeping every `stride`-th output from the first."""
    taps = np.asarray(taps, np.float32)
    k = taps.shape[0]
    channels = x.shape[-1]
    kernel = taps.reshape([k, 1] if axis == 1 else [1, k])[:, :, None, None]
    kernel = tf.constant(np.tile(kernel, [1, 1, channels, 1]))
    y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="VALID")
    if stride > 1:
        y = y[:, ::stride] if axis == 1 else y[:, :, ::stride]
    return y


def _pad_axis(x, axis, before, after):
    pads = [[0, 0]] * 4
    pads[axis] = [before, after]
    return tf.pad(x, pads)


def _upsample_axis(x, axis):
    # out[2m] = sum_t f[2t] x[m-3+t] and out[2m+1] = sum_t f[2t+1] x[m-2+t], where f is the
    # flipped 2 * HZ_GEOM: the zero-insertion/pad (6, 5)/convolution of the module docstring
    # with the zero products left out.
    f = (2 * HZ_GEOM)[::-1]
    even = _correlate(_pad_axis(x, axis, 3, 2), f[0::2], axis)
    odd = _correlate(_pad_axis(x, axis, 2, 3), f[1::2], axis)
    y = tf.stack([even, odd], axis=axis + 1)
    shape = tf.unstack(tf.shape(y))
    static = y.shape.as_list()
    merged = static[axis] * 2 if static[axis] is not None else shape[axis] * 2
    new_shape = [static[i] if static[i] is not None else shape[i] for i in range(5)]
    new_shape = new_shape[:axis] + [merged] + new_shape[axis + 2:]
    return tf.reshape(y, new_shape)


def upsample_2x(x):
    """2x sym6 upsampling of NHWC `x` on both axes (W first, then H): [B,H,W,C] -> [B,2H,2W,C].
    DC gain 1 away from the borders (the gain 4 is split as 2 per axis)."""
    return _upsample_axis(_upsample_axis(x, 2), 1)


def downsample_2x(x):
    """sym6 low-pass and 2x decimation of NHWC `x`, cropping 1 sample at each end first:
    [B, 2H+12, 2W+12, C] -> [B, H, W, C]."""
    x = x[:, 1:-1, 1:-1]
    taps = HZ_GEOM
    return _correlate(_correlate(x, taps, 2, stride=2), taps, 1, stride=2)
