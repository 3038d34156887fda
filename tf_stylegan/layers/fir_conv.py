"""StyleGAN2's convolutions with FIR resampling (official `upsample_conv_2d`, `conv_downsample_2d`
in `dnnlib/tflib/ops/upfirdn_2d.py`, and `conv2d_layer` + `apply_bias_act` in
`training/networks_stylegan2.py`).

The resampling convolutions are fused with the FIR filter exactly as the official reference ops:
the up-conv pads once, before its transposed convolution, so it is *not* `upsample_2d` followed by
a SAME convolution (the one-pixel border of the upsampled map differs), and the down-conv filters
before a stride-2 VALID convolution, which is not a SAME convolution followed by
`downsample_2d`. Official kernels [k, k, in, out] are used as stored (cross-correlation).
"""

import keras
import tensorflow as tf

from tf_stylegan.layers.blur import blur_kernel
from tf_stylegan.layers.equalized import _check_activation, bias_act, weight_coefficients
from tf_stylegan.layers.upfirdn import DEFAULT_KERNEL, upfirdn_2d

RESAMPLE_MODES = (None, "up", "down")


def upsample_conv_2d(x, weight, taps=DEFAULT_KERNEL, factor=2, gain=1.0):
    """2x upsampling convolution of NHWC `x` with `weight` [k, k, in, out], official
    `upsample_conv_2d`.

    A stride-`factor` VALID transposed convolution with the kernel flipped spatially and its
    in/out axes swapped (so that, with the zero insertion it implies, the weight as stored is
    cross-correlated), giving `(H - 1) * factor + k` pixels; then the FIR filter times
    `gain * factor**2` with pads ((p + 1) // 2 + factor - 1, p // 2 + 1), p = kernel_size -
    factor - (k - 1): (1, 1) for a 3x3 weight and [1,3,3,1]. Output: [N, H*factor, W*factor, out].
    """
    k = int(weight.shape[0])
    kernel = blur_kernel(taps) * (gain * factor**2)
    p = (kernel.shape[0] - factor) - (k - 1)
    _, h, w, _ = x.shape
    out_channels = int(weight.shape[3])
    filters = tf.transpose(weight[::-1, ::-1], [0, 1, 3, 2])  # [k, k, out, in]
    output_shape = tf.stack([tf.shape(x)[0], (h - 1) * factor + k, (w - 1) * factor + k,
                             out_channels])
    x = tf.nn.conv2d_transpose(x, filters, output_shape, strides=factor, padding="VALID")
    x = tf.ensure_shape(x, [None, (h - 1) * factor + k, (w - 1) * factor + k, out_channels])
    return upfirdn_2d(x, kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1))


def conv_downsample_2d(x, weight, taps=DEFAULT_KERNEL, factor=2, gain=1.0):
    """Convolution with 2x downsampling of NHWC `x` by `weight` [k, k, in, out], official
    `conv_downsample_2d`: the FIR filter (sum `gain`) with pads ((p + 1) // 2, p // 2),
    p = kernel_size - factor + k - 1 ((2, 2) for a 3x3 weight and [1,3,3,1]), then a
    stride-`factor` VALID cross-correlation. Output: [N, H/factor, W/factor, out]."""
    k = int(weight.shape[0])
    kernel = blur_kernel(taps) * gain
    p = (kernel.shape[0] - factor) + (k - 1)
    x = upfirdn_2d(x, kernel, pad=((p + 1) // 2, p // 2))
    return tf.nn.conv2d(x, weight, strides=factor, padding="VALID")


@keras.saving.register_keras_serializable(package="tf_stylegan")
class FirConv2D(keras.layers.Layer):
    """StyleGAN2 convolution: `act(conv(x, W * c) + b) * act_gain`, optionally resampling.

    The official `conv2d_layer` followed by `apply_bias_act`: `W` [k, k, in, out] initialised
    N(0, 1) with the runtime coefficient `c = 1 / sqrt(k * k * in)` (gain 1, every StyleGAN2
    layer), a SAME convolution or, with `resample`, `upsample_conv_2d` / `conv_downsample_2d`;
    then the zero-init bias and the activation with its gain after it (sqrt(2) for "lrelu").

    Args:
        filters: int. Output channels.
        kernel_size: int. Odd kernel size.
        resample: None | "up" | "down".
        resample_kernel: sequence of numbers. 1-D taps of the FIR filter.
        use_bias: bool. Add the bias (the discriminator's `Skip` has none).
        activation: "linear" | "lrelu".
        conv_clamp: float or None. Clip the output to [-conv_clamp, conv_clamp] after the
            activation gain (stylegan2-ada-pytorch `Conv2dLayer`, `networks.py:165-168`).
    """

    def __init__(self, filters, kernel_size=3, resample=None, resample_kernel=DEFAULT_KERNEL,
                 use_bias=True, activation="linear", conv_clamp=None, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd. Received: kernel_size={kernel_size}")
        if resample not in RESAMPLE_MODES:
            raise ValueError(
                f"`resample` must be None, 'up' or 'down'. Received: resample={resample!r}"
            )
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.resample = resample
        self.resample_kernel = tuple(resample_kernel)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        k = self.kernel_size
        init_std, self.runtime_coef = weight_coefficients(k * k * in_channels, 1.0, 1.0, True)
        self.weight = self.add_weight(
            name="weight", shape=(k, k, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=init_std), trainable=True,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer="zeros", trainable=True
            )

    def call(self, x):
        w = tf.cast(self.weight, x.dtype) * self.runtime_coef
        if self.resample == "up":
            x = upsample_conv_2d(x, w, self.resample_kernel)
        elif self.resample == "down":
            x = conv_downsample_2d(x, w, self.resample_kernel)
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        return bias_act(x, self.bias, self.activation, clamp=self.conv_clamp)

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        if self.resample == "up":
            h, w = (None if h is None else h * 2), (None if w is None else w * 2)
        elif self.resample == "down":
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (n, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
            "resample": self.resample, "resample_kernel": list(self.resample_kernel),
            "use_bias": self.use_bias, "activation": self.activation,
            "conv_clamp": self.conv_clamp,
        }

