"""FIR up/down-sampling of StyleGAN2 (NVlabs/stylegan2 `dnnlib/tflib/ops/upfirdn_2d.py`).

StyleGAN2 resamples with the separable FIR filter [1,3,3,1] x [1,3,3,1] / 64 (Karras et al. 2020,
section 4 and appendix B, after Zhang 2019) instead of StyleGAN's nearest/box resampling and
blur. The official op `upfirdn_2d` upsamples by zero insertion, pads (negative pads crop),
convolves with the filter and keeps every `down`-th pixel. This is the same computation in plain
TensorFlow ops on NHWC tensors (as the official reference implementation `_upfirdn_2d_ref`), so
it runs on CPUs, GPUs and in exported SavedModels without custom kernels.
"""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan.layers.blur import blur_kernel

DEFAULT_KERNEL = (1, 3, 3, 1)


def upfirdn_2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Zero-insertion upsampling, padding, FIR filtering and decimation of NHWC `x`.

    In the official order: (1) each pixel is followed by `up - 1` zeros on both axes; (2) the
    result is padded by `pad = (before, after)` zeros on both axes (a negative pad crops);
    (3) it is convolved (a true convolution: the kernel is flipped) with the 2-D `kernel`,
    keeping only the fully overlapping positions; (4) every `down`-th pixel is kept. The output
    size is `(H * up + before + after - kernel_size) // down + 1`.

    Args:
        x: [N, H, W, C] tensor with static H, W, C.
        kernel: 2-D numpy array, the FIR filter (see `blur_kernel`).
        up, down: int. Upsampling and downsampling factors.
        pad: (int, int). Padding before and after, on both spatial axes.
    """
    kernel = np.asarray(kernel, np.float64)
    _, h, w, c = x.shape
    if up > 1:
        x = tf.reshape(x, [-1, h, 1, w, 1, c])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
        x = tf.reshape(x, [-1, h * up, w * up, c])
    before, after = pad
    x = tf.pad(x, [[0, 0], [max(before, 0), max(after, 0)], [max(before, 0), max(after, 0)],
                   [0, 0]])
    if before < 0 or after < 0:
        size_h, size_w = x.shape[1], x.shape[2]
        x = x[:, max(-before, 0):size_h - max(-after, 0), max(-before, 0):size_w - max(-after, 0)]
    # A depthwise cross-correlation with the flipped kernel is the convolution; the stride keeps
    # the same pixels as the official `[::down]` after a stride-1 filter.
    flipped = kernel[::-1, ::-1]
    filters = tf.constant(np.tile(flipped[:, :, None, None], [1, 1, c, 1]), dtype=x.dtype)
    return tf.nn.depthwise_conv2d(x, filters, strides=[1, down, down, 1], padding="VALID")


def upsample_2d(x, taps=DEFAULT_KERNEL, factor=2, gain=1.0):
    """Upsamples NHWC `x` by `factor` with the FIR filter of `taps` (official `upsample_2d`).

    The filter is scaled by `gain * factor**2` so that a constant image keeps its value away
    from the borders; with p = kernel_size - factor the pads are ((p + 1) // 2 + factor - 1,
    p // 2), (2, 1) for [1,3,3,1]. The borders are zero-padded (it is not a bilinear resize
    that clamps at the edges).
    """
    kernel = blur_kernel(taps) * (gain * factor**2)
    p = kernel.shape[0] - factor
    return upfirdn_2d(x, kernel, up=factor, pad=((p + 1) // 2 + factor - 1, p // 2))


def downsample_2d(x, taps=DEFAULT_KERNEL, factor=2, gain=1.0):
    """Downsamples NHWC `x` by `factor` with the FIR filter of `taps` (official
    `downsample_2d`): filter (sum `gain`), pads ((p + 1) // 2, p // 2) with p = kernel_size -
    factor, (1, 1) for [1,3,3,1], then every `factor`-th pixel."""
    kernel = blur_kernel(taps) * gain
    p = kernel.shape[0] - factor
    return upfirdn_2d(x, kernel, down=factor, pad=((p + 1) // 2, p // 2))


class _FirResample(keras.layers.Layer):
    def __init__(self, taps=DEFAULT_KERNEL, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.taps = tuple(taps)
        self.factor = int(factor)

    def get_config(self):
        return {**super().get_config(), "taps": list(self.taps), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tf_stylegan")
class FirUpsample2D(_FirResample):
    """`upsample_2d` as a layer: FIR upsampling of NHWC images by `factor`.

    Args:
        taps: sequence of numbers. 1-D taps of the filter (default [1, 3, 3, 1]).
        factor: int. Upsampling factor.
    """

    def call(self, x):
        return upsample_2d(x, self.taps, self.factor)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] * f, None if s[2] is None else s[2] * f, s[3])


@keras.saving.register_keras_serializable(package="tf_stylegan")
class FirDownsample2D(_FirResample):
    """`downsample_2d` as a layer: FIR downsampling of NHWC images by `factor`.

    Args:
        taps: sequence of numbers. 1-D taps of the filter (default [1, 3, 3, 1]).
        factor: int. Downsampling factor.
    """

    def call(self, x):
        return downsample_2d(x, self.taps, self.factor)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] // f, None if s[2] is None else s[2] // f,
                s[3])
