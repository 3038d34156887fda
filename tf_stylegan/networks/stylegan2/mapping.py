"""The StyleGAN2 mapping network (official `G_mapping` in NVlabs/stylegan2
`training/networks_stylegan2.py`; with `label_mapping="embed"`, stylegan2-ada-pytorch's
`MappingNetwork`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.layers import EqualizedDense
from tf_stylegan.networks.mapping import Mapping


@keras.saving.register_keras_serializable(package="tf_stylegan")
class StyleGAN2Mapping(Mapping):
    """Maps latents z (and optional labels) to per-layer dlatents w, as StyleGAN's `Mapping`.

    The same label embedding, pixel norm, `mapping_layers` dense layers (learning-rate
    multiplier 0.01, leaky ReLU on the last one too) and broadcast to every synthesis layer; the
    one difference is where the leaky ReLU's gain goes: every StyleGAN2 weight has gain 1 and
    the output is multiplied by sqrt(2) after the activation (official `apply_bias_act`). With
    the same stored weights that is `lrelu(sqrt(2) c W x + sqrt(2) b)`: the bias acts sqrt(2)
    larger than in StyleGAN, and it learns accordingly.

    Labels, by `config.label_mapping`:
      - "concat" (NVlabs/stylegan2 `LabelConcat`): `[z, labels @ E]`, normalized together;
      - "embed" (stylegan2-ada-pytorch `networks.py:203-204, 220-224`): `[norm(z),
        norm(embed(labels))]`, where `embed` (the layer `embed`) is a linear dense layer with
        bias and learning rate 1 to dlatent_size features; the first dense layer then has
        latent_size + dlatent_size inputs.

    Args:
        config: StyleGAN2Config.

    Call arguments:
        z: [N, latent_size] float.
        labels: [N, label_size] float (one-hot), or None when label_size is 0.

    Returns:
        w: [N, num_layers, dlatent_size].
    """

    config_class = StyleGAN2Config

    def _embeds(self):
        return bool(self.config.label_size) and self.config.label_mapping == "embed"

    def _build_label_input(self):
        if not self._embeds():
            return super()._build_label_input()
        cfg = self.config
        self.embed = EqualizedDense(cfg.dlatent_size, gain=1.0, name="embed",
                                    dtype=self.dtype_policy)
        self.embed.build((None, cfg.label_size))
        return cfg.latent_size + cfg.dlatent_size

    def _input(self, z, labels):
        if not self._embeds():
            return super()._input(z, labels)
        x = tf.cast(z, self.compute_dtype)
        y = self.embed(tf.cast(labels, x.dtype))
        if self.pixel_norm is not None:
            x, y = self.pixel_norm(x), self.pixel_norm(y)
        return tf.concat([x, y], axis=1)

    def _dense_layer(self, units, name):
        return EqualizedDense(
            units, gain=1.0, lrmul=self.config.mapping_lrmul, activation="lrelu",
            act_gain=math.sqrt(2), name=name, dtype=self.dtype_policy,
        )
