"""The progressive StyleGAN2 synthesis network of the paper's configs B-D (Karras et al. 2020,
Table 1; official `G_synthesis_stylegan_revised`, NVlabs/stylegan2
`training/networks_stylegan2.py:307-410`)."""


import keras
import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.config import StyleGAN2RevisedConfig
from tf_stylegan.errors import UserError
from tf_stylegan.layers import ConstantInput, ToRGB, lerp_clip, upsample_2d, upscale2d
from tf_stylegan.layers.noise import check_noise_mode
from tf_stylegan.networks._base import ConfigModel
from tf_stylegan.networks.stylegan2.synthesis import SynthesisLayer
from tf_stylegan.networks.synthesis import LevelOfDetail, _is_one, check_resolution


@keras.saving.register_keras_serializable(package="tf_stylegan")
class RevisedSynthesis(LevelOfDetail, ConfigModel):
    """Generates images from per-layer dlatents w at any level of progressive growing.

    The layers are StyleGAN2's (`SynthesisLayer`: modulated 3x3 conv with demodulation, scalar
    noise strength, bias, sqrt(2)-lrelu; FIR up-conv in `Conv0_up`), in the architecture "orig"
    of `StyleGAN2Synthesis` (a learned constant, the `4x4` conv as layer 0, then `Conv0_up`
    (layer 2r-5) and `Conv1` (layer 2r-4) per resolution 2^r), plus a modulated ToRGB without
    demodulation at every level (official `ToRGB_lod{R - r}`), using `w[:, 2r-3]`.

    At level 2^r the image is `ToRGB_r(x_r)`; during a fade-in (alpha < 1) it is
    `lerp(upsample_2d(ToRGB_{r-1}(x_{r-1})), ToRGB_r(x_r), alpha)` with the FIR upsampling
    (official: `lerp(torgb(res), upsample_2d(torgb(res - 1)), lod - floor(lod))` in both
    structures), alpha = 1 - frac(lod).

    `lod` is the level rendered when no `resolution` is given, as in StyleGAN's `Synthesis`:
    the level `resolution >> floor(lod)`, nearest-upscaled by 2**floor(lod) to full size (the
    official 'recursive' structure's `naive_upsample_2d`).

    Args:
        config: StyleGAN2RevisedConfig.
        lod: float in [0, log2(resolution) - 2]: the level rendered by default (0).

    Call arguments:
        w: [N, num_layers, dlatent_size] (the rows of the level's layers are used).
        noise: "random" | "const" | "none" | list of tensors [N or 1, size, size, 1], one per
            layer of the level (`noise_shapes(resolution)`).
        resolution: python int, the level (default: the `lod` level).
        alpha: float or scalar tensor in [0, 1], weight of the new level during a fade-in.
        seed: optional int32 [2] seed making the random noise stateless.

    Returns:
        images: [N, r, r, num_channels] at level r (full size when `lod` upscales).
    """

    config_class = StyleGAN2RevisedConfig

    def __init__(self, config, lod=0.0, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2
        self.lod = lod

        def layer(filters, in_channels, res_log2, up, name):
            return SynthesisLayer(filters, in_channels, 2**res_log2, cfg.dlatent_size, up=up,
                                  resample_kernel=cfg.resample_kernel, name=name, dtype=policy)

        self.const = ConstantInput(nf(1), name="const", dtype=policy)
        self.const.build()
        # conv_layers[i] is synthesis layer i (official noise{i} / w[:, i]).
        self.conv_layers = [layer(nf(1), nf(1), 2, False, "conv4x4")]
        for r in range(3, R + 1):
            size = 2**r
            self.conv_layers.append(layer(nf(r - 1), nf(r - 2), r, True, f"conv{size}x{size}_up"))
            self.conv_layers.append(layer(nf(r - 1), nf(r - 1), r, False, f"conv{size}x{size}"))
        # to_rgb[r - 2] is the ToRGB of resolution 2^r (official ToRGB_lod{R - r}).
        self.to_rgb = []
        for r in range(2, R + 1):
            size = 2**r
            t = ToRGB(cfg.num_channels, name=f"to_rgb{size}", dtype=policy)
            t.build((None, size, size, nf(r - 1)), (None, cfg.dlatent_size))
            self.to_rgb.append(t)
        self.built = True

    @property
    def noise_buffers(self):
        """The stored per-layer noise variables [1, H, W, 1] (official `noise0..`)."""
        return [layer.noise.noise for layer in self.conv_layers]

    def noise_shapes(self, resolution=None):
        """Spatial sizes of the noise inputs of the layers used at `resolution`."""
        res_log2 = check_resolution(resolution, self.config)
        return [layer.size for layer in self.conv_layers[:2 * res_log2 - 3]]

    def call(self, w, noise="random", resolution=None, alpha=1.0, seed=None):
        factor = 1
        if resolution is None and self._lod > 0:
            resolution, alpha, factor = self.default_level()
        res_log2 = check_resolution(resolution, self.config)
        check_noise_mode(noise)
        num_noise = 2 * res_log2 - 3
        if not isinstance(noise, str) and len(noise) < num_noise:
            raise UserError(f"`noise` lists {len(noise)} tensors; resolution {2**res_log2} "
                            f"needs {num_noise}.")
        w = tf.cast(w, self.compute_dtype)

        def conv(x, i):
            layer_noise = noise if isinstance(noise, str) else noise[i]
            layer_seed = None if seed is None else rng.fold_in(seed, i)
            return self.conv_layers[i](x, w[:, i], noise=layer_noise, seed=layer_seed)

        def to_rgb(x, r):
            return self.to_rgb[r - 2](x, w[:, 2 * r - 3])

        x = conv(self.const(w), 0)
        prev = x
        for r in range(3, res_log2 + 1):
            prev = x
            x = conv(conv(x, 2 * r - 5), 2 * r - 4)
        images = to_rgb(x, res_log2)
        if res_log2 > 2 and not _is_one(alpha):
            old = upsample_2d(to_rgb(prev, res_log2 - 1), self.config.resample_kernel)
            images = lerp_clip(old, images, tf.cast(alpha, images.dtype))
        return upscale2d(images, factor)
