"""Adaptive instance normalization (paper section 2, eq. 1): instance norm + style modulation."""

import keras
import tensorflow as tf

from tf_stylegan.layers.equalized import EqualizedDense


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
        dtype = x.dtype
        x = tf.cast(x, tf.float32)
        x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True)
                              + self.epsilon)
        return tf.cast(x, dtype)

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
