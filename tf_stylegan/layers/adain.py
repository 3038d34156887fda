"""Adaptive instance normalization (paper section 2, eq. 1): instance norm + style modulation."""

import keras
import tensorflow as tf

from tf_stylegan.layers.equalized import EqualizedDense


def _centered_and_inv_std(x, epsilon):
    """float32 `x - mean_hw(x)` and `rsqrt(var_hw(x) + epsilon)` [N, 1, 1, C] of NHWC x."""
    x = tf.cast(x, tf.float32)
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return x, tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + epsilon)


def adain(x, style, epsilon=1e-8):
    """`StyleMod(InstanceNorm(x))` in one pass over x: `(x - m) * (rsqrt(v + eps) * (y_s + 1))
    + y_b`, with m, v the per-sample per-channel mean and variance and `style = [y_s, y_b]`
    [N, 2C] (the output of StyleMod's dense layer).

    Equal to the two layers up to float rounding; the normalization scale is folded into the
    style scale (a [N, 1, 1, C] product), so the activations are multiplied once instead of
    twice. Computed in float32, as the official `instance_norm`.
    """
    channels = x.shape[-1]
    centered, inv = _centered_and_inv_std(x, epsilon)
    style = tf.cast(style, tf.float32)[:, None, None, :]
    out = centered * (inv * (style[..., :channels] + 1.0)) + style[..., channels:]
    return tf.cast(out, x.dtype)


@keras.saving.register_keras_serializable(package="tf_stylegan")
class InstanceNorm(keras.layers.Layer):
    """Normalizes each feature map of each sample to zero mean, unit variance.

    `(x - mean_hw(x)) * rsqrt(mean_hw((x - mean)^2) + epsilon)`, computed in float32 as the
    official `instance_norm` does.

    Args:
        epsilon: float. Added to the variance.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        centered, inv = _centered_and_inv_std(x, self.epsilon)
        return tf.cast(centered * inv, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="tf_stylegan")
class StyleMod(keras.layers.Layer):
    """Style modulation: `x * (y_s + 1) + y_b` with `[y_s, y_b]` an affine transform of w.

    The affine map "A" of the paper is an equalized dense layer with gain 1 and a zero-init bias;
    the "+1" centres the scale on one (the paper's "bias of y_s initialised to 1"), official
    `style_mod`.

    Args:
        channels: int. Feature maps C of x; the dense layer outputs 2C.
        use_wscale: bool. Equalized learning rate for the affine map.

    Call arguments:
        x: [N, H, W, C] features.
        w: [N, dlatent_size] the dlatent of this layer.
    """

    def __init__(self, channels, use_wscale=True, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.use_wscale = bool(use_wscale)
        self.dense = EqualizedDense(
            2 * self.channels, gain=1.0, use_wscale=use_wscale, dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, x_shape, w_shape=None):
        if w_shape is None:  # Built from a single shape by Keras' build_from_config.
            raise ValueError("StyleMod.build needs the shapes of x and w.")
        self.dense.build(w_shape)

    def call(self, x, w):
        style = tf.cast(self.dense(w), x.dtype)
        ys = style[:, None, None, : self.channels]
        yb = style[:, None, None, self.channels:]
        return x * (ys + 1.0) + yb

    def compute_output_shape(self, x_shape, w_shape=None):
        return tuple(x_shape)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "use_wscale": self.use_wscale}
