"""Per-pixel noise inputs (StyleGAN paper section 3.2, "Stochastic variation"; StyleGAN2 keeps
them with one scalar strength per layer)."""

import keras
import tensorflow as tf

from tf_stylegan import rng

NOISE_MODES = ("random", "const", "none")


def check_noise_mode(noise):
    """Validates a synthesis `noise` argument: a mode string or per-layer tensors."""
    if isinstance(noise, str) and noise not in NOISE_MODES:
        raise ValueError(
            f"`noise` must be one of {NOISE_MODES} or a list of tensors. Received: noise={noise!r}"
        )


def select_noise(x, noise, buffer, seed=None):
    """The noise [N or 1, H, W, 1] (dtype of x) a noise layer adds, or None for "none".

    "random": fresh N(0, 1) per sample (stateless when `seed` is given); "const": the stored
    `buffer`; "none": None; a tensor: that noise.
    """
    if not isinstance(noise, str):
        return tf.cast(noise, x.dtype)
    check_noise_mode(noise)
    if noise == "none":
        return None
    if noise == "const":
        return tf.cast(buffer, x.dtype)
    shape = tf.concat([tf.shape(x)[:3], [1]], axis=0)
    if seed is None:
        return tf.random.normal(shape, dtype=x.dtype)
    return rng.stateless_normal(shape, seed, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="tf_stylegan")
class NoiseInjection(keras.layers.Layer):
    """Adds single-channel Gaussian noise scaled by a learned per-channel weight (zero init).

    Computes `x + n * weight[c]` with `n` of shape [N, H, W, 1] broadcast over channels (official
    `apply_noise`). The noise is chosen per call:
      - "random": freshly drawn N(0, 1) (training; stateless when a `seed` is given),
      - "const": the stored non-trainable buffer `noise` [1, H, W, 1] (official `noiseK`
        variables, `randomize_noise=False`), deterministic,
      - "none": no noise (x returned unchanged),
      - a tensor broadcastable to [N, H, W, 1]: that noise.
    """

    def build(self, input_shape):
        h, w, c = input_shape[1], input_shape[2], input_shape[3]
        self.weight = self.add_weight(
            name="weight", shape=(c,), initializer="zeros", trainable=True
        )
        self.noise = self.add_weight(
            name="noise", shape=(1, h, w, 1),
            initializer=keras.initializers.RandomNormal(stddev=1.0), trainable=False,
        )

    def call(self, x, noise="random", seed=None):
        n = select_noise(x, noise, self.noise, seed)
        if n is None:
            return x
        return x + n * tf.cast(self.weight, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="tf_stylegan")
class ScalarNoiseInjection(keras.layers.Layer):
    """Adds single-channel Gaussian noise scaled by one learned scalar (zero init), StyleGAN2.

    Computes `x + n * noise_strength` with `n` [N, H, W, 1] broadcast over channels; the
    official StyleGAN2 `layer()` has one trainable `noise_strength` of shape [] per layer where
    StyleGAN had a per-channel weight. The noise modes are those of `NoiseInjection`; the stored
    buffer `noise` [1, H, W, 1] is the official non-trainable `noiseK`.
    """

    def build(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        self.noise_strength = self.add_weight(
            name="noise_strength", shape=(), initializer="zeros", trainable=True
        )
        self.noise = self.add_weight(
            name="noise", shape=(1, h, w, 1),
            initializer=keras.initializers.RandomNormal(stddev=1.0), trainable=False,
        )

    def call(self, x, noise="random", seed=None):
        n = select_noise(x, noise, self.noise, seed)
        if n is None:
            return x
        return x + n * tf.cast(self.noise_strength, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
