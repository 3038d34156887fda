"""Nearest-neighbour 2x upscale and 2x2 box downscale (official `upscale2d` / `downscale2d`)."""

import keras
import tensorflow as tf


def upscale2d(x, factor=2):
    """Nearest-neighbour upscale of an NHWC tensor by an integer factor."""
    if factor == 1:
        return x
    shape = tf.shape(x)
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    x = tf.reshape(x, [-1, h, 1, w, 1, c])
    x = tf.tile(x, [1, 1, factor, 1, factor, 1])
    return tf.reshape(x, [shape[0], h * factor, w * factor, c])


def downscale2d(x, factor=2):
    """Box-filter downscale of an NHWC tensor: the mean of each factor x factor block."""
    if factor == 1:
        return x
    return tf.nn.avg_pool2d(x, ksize=factor, strides=factor, padding="VALID")


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Upscale2D(keras.layers.Layer):
    """Nearest-neighbour upscale by `factor` (official `upscale2d`).

    Args:
        factor: int. Integer scale factor.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        return upscale2d(x, self.factor)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] * f, None if s[2] is None else s[2] * f, s[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Downscale2D(keras.layers.Layer):
    """Box-filter downscale by `factor` (official `downscale2d`: 2x2 average for factor 2).

    Args:
        factor: int. Integer scale factor.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        return downscale2d(x, self.factor)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] // f, None if s[2] is None else s[2] // f,
                s[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
