"""The style-based generator: mapping + synthesis, truncation, style mixing (official G_style)."""

import keras
import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.errors import UserError
from tf_stylegan.networks._base import ConfigModel
from tf_stylegan.networks.mapping import Mapping
from tf_stylegan.networks.synthesis import Synthesis, check_resolution


def _is_number(x, value):
    return isinstance(x, (int, float)) and float(x) == value


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Generator(ConfigModel):
    """z -> w (mapping) -> images (synthesis), with the truncation trick and style mixing.

    - `dlatent_avg` (non-trainable, zero init) tracks the mean of w: in training every forward
      pass sets `avg = lerp(mean_batch(w[:, 0]), avg, dlatent_avg_beta)` (paper section 4.1).
    - Inference applies the truncation trick `w' = avg + psi * (w - avg)` to the layers with index
      < `truncation_cutoff` (psi = 0.7 on the 8 coarsest layers by default; psi = 1 or None
      disables it). Training never truncates.
    - Training applies mixing regularization (paper section 3.1): with probability
      `style_mixing_prob` a second latent is mapped and used from a random crossover layer in
      [1, layers of the current resolution) onwards, one crossover per minibatch.

    Args:
        config: NetworkConfig.
        lod: float. The level of detail rendered when no `resolution` is given (see
            `Synthesis`): a snapshot taken during progressive growing renders its level,
            nearest-upscaled to full size, as the official Gs with its `lod` does.

    Call arguments:
        z: [N, latent_size].
        labels: [N, label_size] or None.
        truncation_psi: float, scalar tensor or None (None: the config's default, 0.7).
        truncation_cutoff: int or None (None: the config's default, 8).
        noise: "random" | "const" | "none" | list of tensors, as `Synthesis`.
        resolution: python int level for progressive growing (default: full).
        alpha: fade-in weight of the new level.
        training: bool. True: no truncation, style mixing, dlatent_avg update.
        seed: optional int32 [2]; makes every random draw of the call stateless.
        return_dlatents: bool. Also return the dlatents fed to the synthesis network (after
            style mixing or truncation), as the official `G_style`/`G_main` do with
            `return_dlatents=True`; the path-length regularizer differentiates the images
            with respect to them.

    Returns:
        images: [N, resolution, resolution, num_channels] in about [-1, 1]; with
        `return_dlatents`, the pair (images, dlatents [N, num_layers, dlatent_size]).

    Example:
        >>> cfg = NetworkConfig(resolution=32, fmap_base=256, fmap_max=64)
        >>> G = Generator(cfg)
        >>> images = G(tf.random.normal([4, 512]), truncation_psi=0.7)
    """

    # The sub-networks of this family (StyleGAN2Generator replaces them).
    mapping_class = Mapping
    synthesis_class = Synthesis

    def __init__(self, config, lod=0.0, **kwargs):
        super().__init__(config, **kwargs)
        policy = self.dtype_policy
        self.mapping = self.mapping_class(self.config, name="mapping", dtype=policy)
        # Only a growing family's synthesis takes `lod` (StyleGAN2's does not grow).
        lod_kwargs = {"lod": lod} if lod else {}
        self.synthesis = self.synthesis_class(self.config, name="synthesis", dtype=policy,
                                              **lod_kwargs)
        # MEAN aggregation lets each replica update the average under tf.distribute.
        self.dlatent_avg = self.add_weight(
            name="dlatent_avg", shape=(self.mapping.output_features,), initializer="zeros",
            trainable=False, aggregation="mean",
        )
        self.built = True

    @property
    def lod(self):
        """The synthesis' default level of detail (see `Synthesis`; 0 for StyleGAN2)."""
        return getattr(self.synthesis, "lod", 0.0)

    @lod.setter
    def lod(self, value):
        if not hasattr(self.synthesis, "lod"):
            if float(value) == 0.0:
                return
            raise UserError(f"{type(self).__name__} does not grow progressively: lod must be "
                            f"0. Received: lod={value}")
        self.synthesis.lod = value

    def get_config(self):
        config = super().get_config()
        if self.lod:
            config["lod"] = self.lod
        return config

    def update_dlatent_avg(self, w):
        """`avg <- mean_batch(w[:, 0]) + beta * (avg - mean_batch(w[:, 0]))` (official lerp)."""
        beta = self.config.dlatent_avg_beta
        if beta is None:
            return
        batch_avg = tf.reduce_mean(tf.cast(w[:, 0], tf.float32), axis=0)
        self.dlatent_avg.assign(batch_avg + (self.dlatent_avg - batch_avg) * beta)

    def truncate(self, w, truncation_psi=None, truncation_cutoff=None):
        """The truncation trick on the layers with index < cutoff (None: all layers)."""
        if truncation_psi is None or _is_number(truncation_psi, 1.0):
            return w
        layer_idx = tf.range(w.shape[1])[None, :, None]
        psi = tf.cast(truncation_psi, w.dtype)
        if truncation_cutoff is None:
            coefs = tf.ones_like(layer_idx, dtype=w.dtype) * psi
        else:
            coefs = tf.where(layer_idx < truncation_cutoff, psi, tf.ones([], w.dtype))
        avg = tf.cast(self.dlatent_avg, w.dtype)
        return avg + (w - avg) * coefs

    def mix_styles(self, w, z, labels=None, resolution=None, seed=None):
        """Mixing regularization: from a random crossover layer on, use the w of a second z."""
        prob = self.config.style_mixing_prob
        if not prob:
            return w
        cur_layers = 2 * check_resolution(resolution, self.config) - 2
        if seed is None:
            z2 = tf.random.normal(tf.shape(z), dtype=z.dtype)
            u = tf.random.uniform([])
            crossover = tf.random.uniform([], 1, max(cur_layers, 2), dtype=tf.int32)
        else:
            s = rng.split(seed, 3)
            z2 = rng.stateless_normal(tf.shape(z), s[0], dtype=z.dtype)
            u = rng.stateless_uniform([], s[1])
            crossover = rng.stateless_randint([], s[2], 1, max(cur_layers, 2))
        w2 = self.mapping(z2, labels)
        cutoff = tf.where(u < prob, crossover, cur_layers)
        layer_idx = tf.range(w.shape[1])[None, :, None]
        return tf.where(layer_idx < cutoff, w, w2)

    def call(self, z, labels=None, truncation_psi=None, truncation_cutoff=None, noise="random",
             resolution=None, alpha=1.0, training=False, seed=None, return_dlatents=False):
        cfg = self.config
        z = tf.convert_to_tensor(z)
        if z.shape.rank != 2 or z.shape[1] != cfg.latent_size:
            raise ValueError(
                f"`z` must have shape [N, {cfg.latent_size}]. Received: shape={z.shape}"
            )
        w = self.mapping(z, labels)
        if training:
            self.update_dlatent_avg(w)
            mix_seed = noise_seed = None
            if seed is not None:
                mix_seed, noise_seed = tf.unstack(rng.split(seed, 2))
            w = self.mix_styles(w, z, labels, resolution=resolution, seed=mix_seed)
        else:
            noise_seed = seed
            psi = cfg.truncation_psi if truncation_psi is None else truncation_psi
            cutoff = cfg.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
            w = self.truncate(w, psi, cutoff)
        images = self.synthesis(w, noise=noise, resolution=resolution, alpha=alpha,
                                seed=noise_seed)
        return (images, w) if return_dlatents else images
