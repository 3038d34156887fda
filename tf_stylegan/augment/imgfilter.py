"""Image-space filtering: random per-band gains of a four-band filter bank.

stylegan2-ada-pytorch `augment.py:166-179, 372-400`.

Filter bank (`filter_bank`, [4, 43]): from the sym2 wavelet low-pass `lo` and its high-pass
mirror hi[k] = lo[k] (-1)^k, with lo2 = (lo * reversed lo) / 2 and hi2 = (hi * reversed hi) / 2
(7 taps each), start from the column (1, 0, 0, 0); for band i = 1, 2, 3 upsample every row by 2
(a zero between taps), convolve every row with lo2, and add hi2, centred, into row i. Row 0 is
the low-pass residual, row 3 the highest band; the rows sum to a unit impulse, so gains of 1
leave the image unchanged.

Gains (`imgfilter_gains`, [B, 4]): with the expected band powers e = (10, 1, 1, 1) / 13 and g = 1,
for each band i in order: t = 1 except t[i] = the band's gated gain 2^(n * imgfilter_std); then
t /= sqrt(sum_j e_j t_j^2) (so the expected power stays 1) and g *= t.

Filtering (`apply_imgfilter`): the 43-tap filter g_b @ bank (symmetric, the same for every
channel of image b), on the image reflect-padded by 21, along W then along H. It needs H, W >= 22.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["SYM2", "apply_imgfilter", "filter_bank", "imgfilter_gains"]

# Symlet-2 decomposition low-pass coefficients (augment.py:31; the published wavelet values).
SYM2 = np.array([-0.12940952255092145, 0.22414386804185735, 0.836516303737469,
                 0.48296291314469025])
# Expected power of each band (augment.py:375).
_EXPECTED_POWER = np.array([10, 1, 1, 1]) / 13


def filter_bank():
    """The [4, 43] float64 band-pass filter bank (module docstring)."""
    lo = SYM2
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.zeros((4, 1))
    bank[0, 0] = 1.0
    for band in range(1, 4):
        up = np.zeros((4, 2 * bank.shape[1] - 1))
        up[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in up])
        start = (bank.shape[1] - hi2.size) // 2
        bank[band, start:start + hi2.size] += hi2
    return bank


def imgfilter_gains(imgfilter_t):
    """g [B, 4] float32 from the gated per-band gains `imgfilter_t` [4, B] (module docstring)."""
    t_bands = tf.convert_to_tensor(imgfilter_t, tf.float32)
    e = tf.constant(_EXPECTED_POWER, tf.float32)
    ones = tf.ones_like(tf.transpose(t_bands))  # [B, 4]
    g = ones
    for band in range(4):
        t = tf.where(tf.range(4) == band, t_bands[band][:, None], ones)
        t = t / tf.sqrt(tf.reduce_sum(e * tf.square(t), axis=-1, keepdims=True))
        g = g * t
    return g


def apply_imgfilter(images, g):
    """Filters NHWC float32 `images` [B, H, W, C] with each image's gains `g` [B, 4]."""
    _, height, width, channels = images.shape
    if height < 22 or width < 22:
        raise ValueError(f"image-space filtering needs images of at least 22x22, got "
                         f"{height}x{width}")
    taps = tf.matmul(g, tf.constant(filter_bank(), tf.float32))  # [B, 43]
    half = taps.shape[-1] // 2
    taps = tf.repeat(taps, channels, axis=0)  # [B*C, 43], image-major as the folded channels
    # Fold the batch into the channels so that one depthwise convolution applies each image's
    # own filter (the official grouped convolution, augment.py:394-400).
    batch = tf.shape(images)[0]
    x = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, -1])
    x = tf.pad(x, [[0, 0], [half, half], [half, half], [0, 0]], mode="REFLECT")
    kernel = tf.transpose(taps)[:, :, None]  # [43, B*C, 1]
    x = tf.nn.depthwise_conv2d(x, kernel[None], [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, kernel[:, None], [1, 1, 1, 1], "VALID")
    x = tf.reshape(x, [height, width, batch, channels])
    return tf.transpose(x, [2, 0, 1, 3])
