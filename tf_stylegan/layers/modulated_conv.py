"""Modulated convolution with weight demodulation (Karras et al. 2020, section 2.2, equations 1-3;
official `modulated_conv2d_layer` in NVlabs/stylegan2 `training/networks_stylegan2.py`).

StyleGAN2 replaces AdaIN: the style scales the convolution's input channels and, instead of
normalizing the activations, the output channels are divided by the expected L2 norm of the
modulated weight ("demodulation").
"""

import keras
import tensorflow as tf

from tf_stylegan.layers.equalized import EqualizedDense, weight_coefficients
from tf_stylegan.layers.fir_conv import upsample_conv_2d
from tf_stylegan.layers.upfirdn import DEFAULT_KERNEL

DEMODULATION_EPSILON = 1e-8


@keras.saving.register_keras_serializable(package="tf_stylegan")
class ModulatedConv2D(keras.layers.Layer):
    """Convolution whose weight is scaled per sample by a style from w, then demodulated.

    With `W` [k, k, I, O] stored N(0, 1) and scaled at runtime by `c = 1 / sqrt(k * k * I)`:
      1. style `s = affine(w) + 1` [N, I]: an equalized dense layer (gain 1) whose bias is
         stored zero-initialised, the +1 added at runtime (the paper's "bias initialised to 1";
         official `mod_weight` / `mod_bias`);
      2. modulation `W'[n] = W * c * s[n, i]` on the input channels;
      3. demodulation (when `demodulate`) `W''[n] = W'[n] * d[n, o]` with
         `d = rsqrt(sum over kh, kw, i of W'[n]^2 + 1e-8)`;
      4. convolution of each sample with its weight: SAME, or with `up` the official
         `upsample_conv_2d` (FIR filter `resample_kernel`).

    It is computed in the official non-fused form, `conv(x * s, W * c) * d`, which equals the
    per-sample weights exactly (the scales commute with the convolution) and needs no grouped
    convolution. No bias and no activation: the synthesis layer adds noise before its bias.

    Args:
        filters: int. Output channels O.
        kernel_size: int. Odd kernel size k.
        demodulate: bool. Demodulate (False for ToRGB).
        up: bool. Upsample 2x with the FIR up-conv.
        resample_kernel: sequence of numbers. 1-D taps of the FIR filter.

    Call arguments:
        x: [N, H, W, I] features.
        w: [N, dlatent_size] the dlatent of this layer.

    Returns:
        [N, H, W, O], or [N, 2H, 2W, O] with `up`.
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, up=False,
                 resample_kernel=DEFAULT_KERNEL, **kwargs):
        super().__init__(**kwargs)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd. Received: kernel_size={kernel_size}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.up = bool(up)
        self.resample_kernel = tuple(resample_kernel)

    def build(self, x_shape, w_shape=None):
        if w_shape is None:  # Built from a single shape by Keras' build_from_config.
            raise ValueError("ModulatedConv2D.build needs the shapes of x and w.")
        in_channels = int(x_shape[-1])
        k = self.kernel_size
        init_std, self.runtime_coef = weight_coefficients(k * k * in_channels, 1.0, 1.0, True)
        self.weight = self.add_weight(
            name="weight", shape=(k, k, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=init_std), trainable=True,
        )
        self.affine = EqualizedDense(in_channels, gain=1.0, name="affine",
                                     dtype=self.dtype_policy)
        self.affine.build(w_shape)

    def styles(self, w):
        """`s = affine(w) + 1` [N, I], the per-sample scales of the input channels."""
        return self.affine(w) + 1.0

    def call(self, x, w):
        s = tf.cast(self.styles(w), x.dtype)
        weight = tf.cast(self.weight, x.dtype) * self.runtime_coef
        x = x * s[:, None, None, :]
        if self.up:
            x = upsample_conv_2d(x, weight, self.resample_kernel)
        else:
            x = tf.nn.conv2d(x, weight, strides=1, padding="SAME")
        if self.demodulate:
            # sum_{kh,kw,i} (W c s_i)^2 = sum_i s_i^2 sum_{kh,kw} (W c)^2: [N, I] @ [I, O].
            sum_sq = tf.matmul(tf.square(s), tf.reduce_sum(tf.square(weight), axis=[0, 1]))
            x = x * tf.math.rsqrt(sum_sq + DEMODULATION_EPSILON)[:, None, None, :]
        return x

    def compute_output_shape(self, x_shape, w_shape=None):
        n, h, w = x_shape[0], x_shape[1], x_shape[2]
        if self.up:
            h, w = (None if h is None else h * 2), (None if w is None else w * 2)
        return (n, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
            "demodulate": self.demodulate, "up": self.up,
            "resample_kernel": list(self.resample_kernel),
        }
