"""The mapping network f: Z -> W (paper section 2, figure 1b; official `G_mapping`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan.layers import EqualizedDense, PixelNorm
from tf_stylegan.networks._base import ConfigModel


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Mapping(ConfigModel):
    """Maps latents z (and optional labels) to per-layer dlatents w.

    Computes: optional label embedding `labels @ E` (E ~ N(0, 1), no equalized LR) concatenated
    to z; pixel norm; `mapping_layers` equalized dense layers with leaky ReLU (the last one too)
    and learning-rate multiplier 0.01; then w broadcast to every synthesis layer.

    Args:
        config: NetworkConfig.

    Call arguments:
        z: [N, latent_size] float.
        labels: [N, label_size] float (one-hot), or None when label_size is 0.

    Returns:
        w: [N, num_layers, dlatent_size].

    Reference: Karras et al. 2019, "A Style-Based Generator Architecture for GANs", section 2.
    """

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        self.pixel_norm = PixelNorm(name="pixel_norm", dtype=self.dtype_policy) \
            if cfg.normalize_latents else None
        in_features = self._build_label_input()
        self.dense_layers = []
        features = in_features
        for i in range(cfg.mapping_layers):
            units = cfg.dlatent_size if i == cfg.mapping_layers - 1 else cfg.mapping_fmaps
            layer = self._dense_layer(units, name=f"dense{i}")
            layer.build((None, features))
            self.dense_layers.append(layer)
            features = units
        self.output_features = features
        self.built = True

    def _build_label_input(self):
        """Creates the label embedding (when conditional); returns the first layer's fan-in."""
        cfg = self.config
        if cfg.label_size:
            self.label_embedding = self.add_weight(
                name="label_embedding", shape=(cfg.label_size, cfg.latent_size),
                initializer=keras.initializers.RandomNormal(stddev=1.0), trainable=True,
            )
        return cfg.latent_size * (2 if cfg.label_size else 1)

    def _input(self, z, labels):
        """The first dense layer's input: z with the embedded labels, normalized together."""
        cfg = self.config
        x = tf.cast(z, self.compute_dtype)
        if cfg.label_size:
            y = tf.matmul(tf.cast(labels, x.dtype), tf.cast(self.label_embedding, x.dtype))
            x = tf.concat([x, y], axis=1)
        if self.pixel_norm is not None:
            x = self.pixel_norm(x)
        return x

    def _dense_layer(self, units, name):
        """One mapping layer: StyleGAN puts the lrelu gain sqrt(2) into the weight."""
        return EqualizedDense(
            units, gain=math.sqrt(2), lrmul=self.config.mapping_lrmul,
            use_wscale=self.config.use_wscale, activation="lrelu", name=name,
            dtype=self.dtype_policy,
        )

    def call(self, z, labels=None):
        cfg = self.config
        if cfg.label_size and labels is None:
            raise ValueError(
                f"This network is conditional (label_size={cfg.label_size}): pass labels."
            )
        x = self._input(z, labels)
        for layer in self.dense_layers:
            x = layer(x)
        return tf.tile(x[:, None, :], [1, cfg.num_layers, 1])  # [N, num_layers, dlatent_size]
