"""The synthesis network g (paper section 2, figure 1b; official `G_synthesis`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.errors import UserError
from tf_stylegan.layers import (
    Bias,
    Blur2D,
    EqualizedConv2D,
    EqualizedDense,
    InstanceNorm,
    NoiseInjection,
    PixelNorm,
    StyleMod,
    adain,
    lerp_clip,
    upscale2d,
)
from tf_stylegan.layers.noise import check_noise_mode
from tf_stylegan.networks._base import ConfigModel


def check_resolution(resolution, config):
    """Returns log2 of a valid network resolution (a power of two in [4, config.resolution])."""
    if resolution is None:
        return config.resolution_log2
    r = int(resolution)
    if r < 4 or r > config.resolution or r & (r - 1):
        raise ValueError(
            f"`resolution` must be a power of two in [4, {config.resolution}]. "
            f"Received: resolution={resolution!r}"
        )
    return int(math.log2(r))


def _is_one(alpha):
    return isinstance(alpha, (int, float)) and alpha >= 1


@keras.saving.register_keras_serializable(package="tf_stylegan")
class LayerEpilogue(keras.layers.Layer):
    """What follows every synthesis convolution: noise, bias, lrelu, norm, then AdaIN's style.

    Computes, in the official order: `x + noise * weight` -> `+ bias` -> leaky ReLU ->
    (pixel norm) -> instance norm -> `x * (y_s + 1) + y_b` (paper section 2 and 3.2).

    Args:
        channels: int. Feature maps of this layer.
        size: int. Spatial size (for the stored noise buffer).
        dlatent_size: int. Size of w.
        use_noise, use_pixel_norm, use_instance_norm, use_styles, use_wscale: bool switches
            (paper Table 1).

    Call arguments:
        x: [N, size, size, channels].
        w: [N, dlatent_size], this layer's dlatent.
        noise: "random" | "const" | "none" | tensor [N or 1, size, size, 1].
        seed: optional int32 [2] seed for stateless random noise.
    """

    def __init__(self, channels, size, dlatent_size, use_noise=True, use_pixel_norm=False,
                 use_instance_norm=True, use_styles=True, use_wscale=True, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)
        self.dlatent_size = int(dlatent_size)
        self.use_noise = bool(use_noise)
        self.use_pixel_norm = bool(use_pixel_norm)
        self.use_instance_norm = bool(use_instance_norm)
        self.use_styles = bool(use_styles)
        self.use_wscale = bool(use_wscale)
        x_shape = (None, self.size, self.size, self.channels)
        policy = self.dtype_policy
        self.noise = NoiseInjection(name="noise", dtype=policy) if use_noise else None
        self.bias = Bias(name="bias", dtype=policy)
        self.pixel_norm = PixelNorm(name="pixel_norm", dtype=policy) if use_pixel_norm else None
        self.instance_norm = InstanceNorm(name="instance_norm", dtype=policy) \
            if use_instance_norm else None
        self.style_mod = StyleMod(channels, use_wscale=use_wscale, name="style_mod",
                                  dtype=policy) if use_styles else None
        if self.noise is not None:
            self.noise.build(x_shape)
        self.bias.build(x_shape)
        if self.style_mod is not None:
            self.style_mod.build(x_shape, (None, self.dlatent_size))
        self.built = True

    def build(self, *args, **kwargs):
        self.built = True

    def call(self, x, w, noise="random", seed=None):
        if self.noise is not None:
            x = self.noise(x, noise=noise, seed=seed)
        x = tf.nn.leaky_relu(self.bias(x), alpha=0.2)
        if self.pixel_norm is not None:
            x = self.pixel_norm(x)
        if self.instance_norm is not None and self.style_mod is not None:
            # Instance norm + style modulation in one pass over x (`layers.adain`): the same
            # result as the two layers in turn (tests/tf_stylegan/layers/test_layers.py).
            return adain(x, self.style_mod.dense(w), self.instance_norm.epsilon)
        if self.instance_norm is not None:
            x = self.instance_norm(x)
        if self.style_mod is not None:
            x = self.style_mod(x, w)
        return x

    def compute_output_shape(self, x_shape, *args, **kwargs):
        return tuple(x_shape)

    def get_config(self):
        return {
            **super().get_config(), "channels": self.channels, "size": self.size,
            "dlatent_size": self.dlatent_size, "use_noise": self.use_noise,
            "use_pixel_norm": self.use_pixel_norm, "use_instance_norm": self.use_instance_norm,
            "use_styles": self.use_styles, "use_wscale": self.use_wscale,
        }


@keras.saving.register_keras_serializable(package="tf_stylegan")
class LevelOfDetail:
    """The `lod` of a progressive synthesis network (official Gs `lod` input): the level it
    renders when called without `resolution`, checked, serialized with the config. Mixed in
    before `ConfigModel`; the network sets `self._lod` in its constructor."""

    @property
    def lod(self):
        """The level of detail rendered when no `resolution` is given (0: full resolution)."""
        return self._lod

    @lod.setter
    def lod(self, value):
        value = float(value)
        top = self.config.resolution_log2 - 2
        if not 0.0 <= value <= top:
            raise UserError(f"`lod` must be in [0, {top}] for a {self.config.resolution}x"
                            f"{self.config.resolution} network. Received: lod={value}")
        self._lod = value

    def default_level(self):
        """(resolution, alpha, upscale factor) of the level rendered for `resolution=None`."""
        level = math.floor(self._lod)
        return self.config.resolution >> level, 1.0 - (self._lod - level), 2**level

    def get_config(self):
        config = super().get_config()
        config["lod"] = self._lod
        return config


class Synthesis(LevelOfDetail, ConfigModel):
    """Generates images from per-layer dlatents w, at any level of progressive growing.

    The 4x4 block starts from a learned constant (all ones, official init) or, when
    `const_input_layer` is off, from a dense layer of w[:, 0]; then one conv; every following
    resolution doubles with an up-conv + blur and one conv. Each conv is followed by the
    `LayerEpilogue` (noise, bias, lrelu, instance norm, style). A 1x1 "ToRGB" conv (gain 1,
    linear) exists for every resolution, as in the official template graph.

    Progressive growing runs only the layers of the requested `resolution` (nothing above it is
    computed); during a fade-in the output is `lerp(upscale(ToRGB(previous block)),
    ToRGB(new block), alpha)`, the official `lerp_clip` with alpha = 1 - frac(lod).

    `lod` is the level of detail the network renders at when no `resolution` is given: 0 (full
    resolution) for a fully grown network; a snapshot taken during progressive growing keeps
    the lod of that moment, as the official networks keep their `lod` variable. Then the
    network renders the level `resolution >> floor(lod)` with alpha = 1 - frac(lod) and
    nearest-upscales it by 2**floor(lod) to full size, as the official recursive `G_synthesis`
    does. Set `lod = 0` to render the full network instead.

    Args:
        config: NetworkConfig.
        lod: float in [0, log2(resolution) - 2]: the level rendered by default (0).

    Call arguments:
        w: [N, num_layers, dlatent_size]. Only the first `2*log2(resolution)-2` layers are used.
        noise: "random" (fresh N(0,1)), "const" (the stored per-layer buffers), "none", or a
            list of per-layer tensors [N or 1, size, size, 1].
        resolution: python int, the level to synthesize (default: full resolution).
        alpha: float or scalar tensor in [0, 1], weight of the new level during a fade-in.
        seed: optional int32 [2] seed making the random noise stateless and reproducible.

    Returns:
        images: [N, resolution, resolution, num_channels], nominally in [-1, 1].
    """

    def __init__(self, config, lod=0.0, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2
        self.lod = lod

        def epilogue(layer_idx, res_log2):
            return LayerEpilogue(
                nf(res_log2 - 1), 2**res_log2, cfg.dlatent_size, use_noise=cfg.use_noise,
                use_pixel_norm=cfg.use_pixel_norm, use_instance_norm=cfg.use_instance_norm,
                use_styles=cfg.use_styles, use_wscale=cfg.use_wscale,
                name=f"epilogue{layer_idx}", dtype=policy,
            )

        # 4x4 input: a learned constant [1, 4, 4, C] (NHWC), or a dense layer of w[:, 0].
        if cfg.const_input_layer:
            self.const = self.add_weight(
                name="const", shape=(1, 4, 4, nf(1)), initializer="ones", trainable=True
            )
            self.input_dense = None
        else:
            self.input_dense = EqualizedDense(
                nf(1) * 16, gain=math.sqrt(2) / 4, use_wscale=cfg.use_wscale, use_bias=False,
                name="input_dense", dtype=policy,
            )
            self.input_dense.build((None, cfg.dlatent_size))

        self.epilogues = [epilogue(0, 2), epilogue(1, 2)]
        conv = EqualizedConv2D(nf(1), 3, use_wscale=cfg.use_wscale, use_bias=False,
                               name="conv4x4", dtype=policy)
        conv.build((None, 4, 4, nf(1)))
        self.convs = [conv]  # convs[i] produces the input of epilogues[i + 1]
        self.blurs = []
        for res_log2 in range(3, R + 1):
            size = 2**res_log2
            up = EqualizedConv2D(
                nf(res_log2 - 1), 3, use_wscale=cfg.use_wscale, use_bias=False, resample="up",
                fused=cfg.uses_fused(size), name=f"conv{size}x{size}_up", dtype=policy,
            )
            up.build((None, size // 2, size // 2, nf(res_log2 - 2)))
            conv = EqualizedConv2D(nf(res_log2 - 1), 3, use_wscale=cfg.use_wscale,
                                   use_bias=False, name=f"conv{size}x{size}", dtype=policy)
            conv.build((None, size, size, nf(res_log2 - 1)))
            self.convs += [up, conv]
            self.epilogues += [epilogue(2 * res_log2 - 4, res_log2),
                               epilogue(2 * res_log2 - 3, res_log2)]
            self.blurs.append(Blur2D(cfg.blur_filter, name=f"blur{size}", dtype=policy)
                              if cfg.blur_filter else None)

        # ToRGB for every resolution 4..R (official ToRGB_lod{R - res_log2}).
        self.to_rgb = []
        for res_log2 in range(2, R + 1):
            layer = EqualizedConv2D(
                cfg.num_channels, 1, gain=1.0, use_wscale=cfg.use_wscale, use_bias=True,
                name=f"to_rgb{2**res_log2}", dtype=policy,
            )
            layer.build((None, 2**res_log2, 2**res_log2, nf(res_log2 - 1)))
            self.to_rgb.append(layer)
        self.built = True

    @property
    def noise_buffers(self):
        """The stored per-layer noise variables [1, H, W, 1] (official `noise0..`), or []."""
        return [e.noise.noise for e in self.epilogues if e.noise is not None]

    def noise_shapes(self, resolution=None):
        """Spatial sizes of the noise inputs of the layers used at `resolution`."""
        res_log2 = check_resolution(resolution, self.config)
        return [2 ** (i // 2 + 2) for i in range(2 * res_log2 - 2)]

    def call(self, w, noise="random", resolution=None, alpha=1.0, seed=None):
        cfg = self.config
        factor = 1
        if resolution is None and self._lod > 0:
            resolution, alpha, factor = self.default_level()
        check_noise_mode(noise)
        res_log2 = check_resolution(resolution, cfg)
        num_layers = 2 * res_log2 - 2
        if not isinstance(noise, str) and len(noise) < num_layers:
            raise ValueError(
                f"`noise` lists {len(noise)} tensors; resolution {2**res_log2} needs "
                f"{num_layers}."
            )
        w = tf.cast(w, self.compute_dtype)

        def epi(x, i):
            layer_noise = noise if isinstance(noise, str) else noise[i]
            layer_seed = None
            if seed is not None:
                layer_seed = rng.fold_in(seed, i)
            return self.epilogues[i](x, w[:, i], noise=layer_noise, seed=layer_seed)

        if self.input_dense is None:
            x = tf.tile(tf.cast(self.const, w.dtype), [tf.shape(w)[0], 1, 1, 1])
        else:
            # The official dense output is reshaped as NCHW: reorder to NHWC.
            x = self.input_dense(w[:, 0])
            x = tf.transpose(tf.reshape(x, [-1, cfg.nf(1), 4, 4]), [0, 2, 3, 1])
        x = epi(x, 0)
        x = epi(self.convs[0](x), 1)
        prev = x
        for k in range(3, res_log2 + 1):
            prev = x
            x = self.convs[2 * k - 5](x)
            if self.blurs[k - 3] is not None:
                x = self.blurs[k - 3](x)  # G blurs after the up-conv
            x = epi(x, 2 * k - 4)
            x = epi(self.convs[2 * k - 4](x), 2 * k - 3)  # [N, 2^k, 2^k, nf(k-1)]
        images = self.to_rgb[res_log2 - 2](x)
        if res_log2 > 2 and not _is_one(alpha):
            old = upscale2d(self.to_rgb[res_log2 - 3](prev))
            images = lerp_clip(old, images, alpha)
        return upscale2d(images, factor)
