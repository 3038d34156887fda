"""Pixel-wise feature vector normalization (ProGAN section 4.2; StyleGAN normalizes z with it)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_stylegan")
class PixelNorm(keras.layers.Layer):
    """`x * rsqrt(mean(x^2 over the feature axis) + epsilon)`, official `pixel_norm`.

    Args:
        epsilon: float.
        axis: int. Feature axis (-1: channels of NHWC maps, or features of [N, F] vectors).
    """

    def __init__(self, epsilon=1e-8, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.axis = int(axis)

    def call(self, x):
        return x * tf.math.rsqrt(
            tf.reduce_mean(tf.square(x), axis=self.axis, keepdims=True) + self.epsilon
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "axis": self.axis}
