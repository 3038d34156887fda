"""The label projection of stylegan2-ada-pytorch's conditional discriminator (Miyato & Koyama
2018, "cGANs with Projection Discriminator"; official `Discriminator.mapping` and
`DiscriminatorEpilogue`, stylegan2-ada-pytorch `training/networks.py:174-249, 663-665, 697-700`).
"""

import math

import keras
import tensorflow as tf

from tf_stylegan.layers import EqualizedDense, PixelNorm


@keras.saving.register_keras_serializable(package="tf_stylegan")
class LabelProjection(keras.layers.Layer):
    """Scores a conditional discriminator's output by its projection onto a label embedding.

    `cmap = fc_{L-1}(... fc_0(norm(embed(labels))))`: `embed` is a linear dense layer with bias
    (learning rate 1) to `cmap_dim` features, `norm` the second-moment normalization
    `x * rsqrt(mean(x^2) + 1e-8)`, and each `fc_i` a `cmap_dim`-wide dense layer with leaky ReLU
    times sqrt(2) and learning-rate multiplier `lrmul` (the official `MappingNetwork` with
    `z_dim=0`, no broadcast, no w average). The score is `sum(out * cmap) / sqrt(cmap_dim)`,
    `out` being the discriminator's `cmap_dim`-wide output layer.

    Args:
        label_size: int. Dimensionality of the (one-hot) labels.
        cmap_dim: int. Width of the embedding, the mapping layers and the projection.
        num_layers: int. Mapping layers after the embedding (8 in stylegan2-ada-pytorch's
            `train.py`; 0 in its TF-converted networks).
        lrmul: float. Learning-rate multiplier of the mapping layers (0.01; 0.1 in the
            TF-converted networks).

    Call arguments:
        labels: [N, label_size].

    Returns:
        cmap: [N, cmap_dim].
    """

    def __init__(self, label_size, cmap_dim, num_layers=8, lrmul=0.01, **kwargs):
        super().__init__(**kwargs)
        self.label_size = int(label_size)
        self.cmap_dim = int(cmap_dim)
        self.num_layers = int(num_layers)
        self.lrmul = float(lrmul)
        policy = self.dtype_policy
        self.embed = EqualizedDense(self.cmap_dim, gain=1.0, name="embed", dtype=policy)
        self.embed.build((None, self.label_size))
        self.normalize = PixelNorm(name="normalize", dtype=policy)
        self.dense_layers = []
        for i in range(self.num_layers):
            layer = EqualizedDense(self.cmap_dim, gain=1.0, lrmul=self.lrmul, activation="lrelu",
                                   act_gain=math.sqrt(2), name=f"dense{i}", dtype=policy)
            layer.build((None, self.cmap_dim))
            self.dense_layers.append(layer)
        self.built = True

    def build(self, *args, **kwargs):
        self.built = True

    def call(self, labels):
        x = self.normalize(self.embed(tf.cast(labels, self.compute_dtype)))
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def project(self, out, labels):
        """`sum(out * cmap(labels), axis=1, keepdims=True) / sqrt(cmap_dim)`: [N, 1]."""
        cmap = tf.cast(self(labels), out.dtype)
        return tf.reduce_sum(out * cmap, axis=1, keepdims=True) * (1 / math.sqrt(self.cmap_dim))

    def compute_output_shape(self, labels_shape):
        return (labels_shape[0], self.cmap_dim)

    def get_config(self):
        return {**super().get_config(), "label_size": self.label_size,
                "cmap_dim": self.cmap_dim, "num_layers": self.num_layers, "lrmul": self.lrmul}
