"""Low-pass filter applied around every resampling op (paper section 2, after Zhang 2019)."""

import keras
import numpy as np
import tensorflow as tf


def blur_kernel(taps, normalize=True):
    """2-D kernel: the outer product of the 1-D taps, normalised to sum 1 (official `_blur2d`)."""
    f = np.asarray(taps, dtype=np.float64)
    k = np.outer(f, f)
    if normalize:
        k /= k.sum()
    return k.astype(np.float32)


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Blur2D(keras.layers.Layer):
    """Depthwise [1,2,1] x [1,2,1] / 16 blur with zero padding (SAME), official `blur2d`.

    The official layer defines a custom gradient with the flipped filter; for the symmetric
    filters used here that is exactly what automatic differentiation computes.

    Args:
        taps: sequence of ints. 1-D filter taps (default [1, 2, 1]).
        normalize: bool. Normalise the 2-D kernel to sum 1.
    """

    def __init__(self, taps=(1, 2, 1), normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.taps = tuple(int(t) for t in taps)
        self.normalize = bool(normalize)
        if len(self.taps) % 2 != 1:
            raise ValueError(f"`taps` must have odd length. Received: taps={self.taps}")
        self._kernel = blur_kernel(self.taps, self.normalize)

    def call(self, x):
        channels = x.shape[-1]
        k = tf.constant(self._kernel[:, :, None, None], dtype=x.dtype)
        k = tf.tile(k, [1, 1, channels, 1])
        return tf.nn.depthwise_conv2d(x, k, strides=[1, 1, 1, 1], padding="SAME")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "taps": list(self.taps), "normalize": self.normalize}
