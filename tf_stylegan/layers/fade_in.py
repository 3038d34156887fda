"""Progressive-growing fade-in (ProGAN section 3): blend a new resolution level in."""

import keras
import tensorflow as tf


def lerp_clip(a, b, t):
    """`a + (b - a) * clip(t, 0, 1)`, official `tflib.lerp_clip`."""
    t = tf.clip_by_value(tf.cast(t, a.dtype), 0.0, 1.0)
    return a + (b - a) * t


@keras.saving.register_keras_serializable(package="tf_stylegan")
class FadeIn(keras.layers.Layer):
    """Blends the previous level `old` with the new level `new` by `alpha` in [0, 1].

    alpha = 0 gives `old`, alpha = 1 gives `new`; alpha may be a tensor, so one traced graph
    serves a whole fade-in. With the official fractional `lod`, alpha = 1 - frac(lod).

    Call arguments:
        old: tensor. Output of the lower-resolution path (already resampled to match `new`).
        new: tensor. Output of the new level.
        alpha: float or scalar tensor (keyword argument).
    """

    def call(self, old, new, alpha=1.0):
        return lerp_clip(old, new, alpha)

    def compute_output_shape(self, old_shape, new_shape=None, alpha_shape=None):
        return tuple(old_shape)
