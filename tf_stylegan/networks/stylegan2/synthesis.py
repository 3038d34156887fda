"""The StyleGAN2 synthesis network (Karras et al. 2020, sections 2 and 4; official
`G_synthesis_stylegan2` in NVlabs/stylegan2 `training/networks_stylegan2.py`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.errors import UserError
from tf_stylegan.layers import (
    ConstantInput,
    FirConv2D,
    ModulatedConv2D,
    ScalarNoiseInjection,
    ToRGB,
    bias_act,
    upsample_2d,
)
from tf_stylegan.layers.noise import check_noise_mode
from tf_stylegan.layers.upfirdn import DEFAULT_KERNEL
from tf_stylegan.networks._base import ConfigModel


def check_full_resolution(config, resolution=None, alpha=1.0):
    """StyleGAN2 networks do not grow: `resolution` must be None or the full resolution and
    `alpha` (the fade-in weight of StyleGAN's interface) 1."""
    if resolution is not None and int(resolution) != config.resolution:
        raise UserError(
            "StyleGAN2 networks run at their full resolution only (no progressive growing): "
            f"`resolution` must be None or {config.resolution}. Received: resolution={resolution!r}"
        )
    if not (isinstance(alpha, (int, float)) and alpha == 1):
        raise UserError(
            "StyleGAN2 networks have no fade-in (no progressive growing): `alpha` must be 1. "
            f"Received: alpha={alpha!r}"
        )


@keras.saving.register_keras_serializable(package="tf_stylegan")
class SynthesisLayer(keras.layers.Layer):
    """One StyleGAN2 synthesis convolution (official `layer()` in `G_synthesis_stylegan2`).

    In the official order: modulated 3x3 convolution with demodulation (with `up`, the FIR
    up-conv) -> `+ noise * noise_strength` (a scalar) -> `+ bias` -> leaky ReLU -> `* sqrt(2)`.
    There is no normalization layer.

    Args:
        filters: int. Output feature maps.
        in_channels: int. Input feature maps.
        size: int. Output spatial size (the size of the noise).
        dlatent_size: int. Size of w.
        up: bool. Upsample 2x (the `Conv0_up` layers).
        resample_kernel: sequence of numbers. 1-D taps of the FIR filter.
        conv_clamp: float or None. Clip the output to [-conv_clamp, conv_clamp] after the
            sqrt(2) (stylegan2-ada-pytorch `SynthesisLayer`, `networks.py:301-304`).

    Call arguments:
        x: [N, size, size, in_channels], or [N, size/2, size/2, in_channels] with `up`.
        w: [N, dlatent_size], this layer's dlatent.
        noise: "random" | "const" | "none" | tensor [N or 1, size, size, 1].
        seed: optional int32 [2] seed for stateless random noise.
    """

    def __init__(self, filters, in_channels, size, dlatent_size, up=False,
                 resample_kernel=DEFAULT_KERNEL, conv_clamp=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.in_channels = int(in_channels)
        self.size = int(size)
        self.dlatent_size = int(dlatent_size)
        self.up = bool(up)
        self.resample_kernel = tuple(resample_kernel)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        policy = self.dtype_policy
        in_size = self.size // 2 if self.up else self.size
        self.conv = ModulatedConv2D(self.filters, 3, demodulate=True, up=self.up,
                                    resample_kernel=self.resample_kernel, name="conv",
                                    dtype=policy)
        self.conv.build((None, in_size, in_size, self.in_channels), (None, self.dlatent_size))
        self.noise = ScalarNoiseInjection(name="noise", dtype=policy)
        self.noise.build((None, self.size, self.size, self.filters))
        self.bias = self.add_weight(
            name="bias", shape=(self.filters,), initializer="zeros", trainable=True
        )
        self.built = True

    def build(self, *args, **kwargs):
        self.built = True

    def call(self, x, w, noise="random", seed=None):
        x = self.conv(x, w)
        x = self.noise(x, noise=noise, seed=seed)
        return bias_act(x, self.bias, "lrelu", clamp=self.conv_clamp)

    def compute_output_shape(self, x_shape, *args, **kwargs):
        return (x_shape[0], self.size, self.size, self.filters)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "in_channels": self.in_channels,
            "size": self.size, "dlatent_size": self.dlatent_size, "up": self.up,
            "resample_kernel": list(self.resample_kernel), "conv_clamp": self.conv_clamp,
        }


@keras.saving.register_keras_serializable(package="tf_stylegan")
class StyleGAN2Synthesis(ConfigModel):
    """Generates images from per-layer dlatents w (official `G_synthesis_stylegan2`).

    A learned constant (N(0, 1) init) -> `4x4` conv (layer 0); then for each resolution
    2^r, r = 3..R: `Conv0_up` (layer 2r-5, FIR up-conv) and `Conv1` (layer 2r-4). Layer i uses
    `w[:, i]` and noise input i (there are num_layers - 1 of them). The images come out
    according to `config.g_architecture`:
      - "skip" (config F): a ToRGB at every resolution, using `w[:, 2r-3]`;
        `y = upsample_2d(y) + ToRGB_r(x)` (FIR upsampling, no scaling);
      - "orig": one ToRGB at the top resolution;
      - "resnet": each block adds a 1x1 FIR up-conv of its input (no bias, linear),
        `x = (block(x) + skip(x)) / sqrt(2)`; one ToRGB at the top.
    The top ToRGB uses `w[:, num_layers - 1]`, so every dlatent row is used.

    Args:
        config: StyleGAN2Config.

    Call arguments:
        w: [N, num_layers, dlatent_size].
        noise: "random" (fresh N(0,1)), "const" (the stored per-layer buffers, official
            `randomize_noise=False`), "none", or a list of num_layers - 1 tensors
            [N or 1, size, size, 1] (`noise_shapes()`).
        resolution, alpha: StyleGAN's growing arguments, accepted for the same interface:
            None (or the full resolution) and 1 only.
        seed: optional int32 [2] seed making the random noise stateless and reproducible.

    Returns:
        images: [N, resolution, resolution, num_channels], nominally in [-1, 1].
    """

    config_class = StyleGAN2Config

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2
        arch = cfg.g_architecture
        kernel = cfg.resample_kernel

        def layer(filters, in_channels, res_log2, up, name):
            return SynthesisLayer(filters, in_channels, 2**res_log2, cfg.dlatent_size, up=up,
                                  resample_kernel=kernel, conv_clamp=cfg.conv_clamp, name=name,
                                  dtype=policy)

        def to_rgb(res_log2):
            size = 2**res_log2
            t = ToRGB(cfg.num_channels, conv_clamp=cfg.conv_clamp, name=f"to_rgb{size}",
                      dtype=policy)
            t.build((None, size, size, nf(res_log2 - 1)), (None, cfg.dlatent_size))
            return t

        self.const = ConstantInput(nf(1), name="const", dtype=policy)
        self.const.build()
        # conv_layers[i] is synthesis layer i (official noise{i} / w[:, i]).
        self.conv_layers = [layer(nf(1), nf(1), 2, False, "conv4x4")]
        self.skips = []
        for r in range(3, R + 1):
            size = 2**r
            self.conv_layers.append(layer(nf(r - 1), nf(r - 2), r, True, f"conv{size}x{size}_up"))
            self.conv_layers.append(layer(nf(r - 1), nf(r - 1), r, False, f"conv{size}x{size}"))
            if arch == "resnet":
                skip = FirConv2D(nf(r - 1), 1, resample="up", resample_kernel=kernel,
                                 use_bias=False, name=f"skip{size}x{size}", dtype=policy)
                skip.build((None, size // 2, size // 2, nf(r - 2)))
                self.skips.append(skip)
        # to_rgb[r - 2] is the ToRGB of resolution 2^r; "orig" and "resnet" have the top one only.
        self.to_rgb = [to_rgb(r) if arch == "skip" or r == R else None for r in range(2, R + 1)]
        self.built = True

    @property
    def noise_buffers(self):
        """The stored per-layer noise variables [1, H, W, 1] (official `noise0..`)."""
        return [layer.noise.noise for layer in self.conv_layers]

    def noise_shapes(self, resolution=None):
        """Spatial sizes of the noise inputs: 4 for layer 0, then two per resolution."""
        check_full_resolution(self.config, resolution)
        return [layer.size for layer in self.conv_layers]

    def call(self, w, noise="random", resolution=None, alpha=1.0, seed=None):
        return self.block_outputs(w, noise, resolution, alpha, seed)[-1][1]

    def block_outputs(self, w, noise="random", resolution=None, alpha=1.0, seed=None):
        """The features and images after each resolution's block, as `call` computes them.

        Returns:
            A list, 4x4 first, of `(x, y)`: the features [N, 2^r, 2^r, nf(r - 1)] and the
            image so far [N, 2^r, 2^r, num_channels] (None where the architecture has no
            ToRGB yet), stylegan2-ada-pytorch's `SynthesisBlock` outputs `(x, img)`. The last
            image is the output of `call`.
        """
        cfg = self.config
        check_noise_mode(noise)
        check_full_resolution(cfg, resolution, alpha)
        num_noise = len(self.conv_layers)
        if not isinstance(noise, str) and len(noise) < num_noise:
            raise UserError(
                f"`noise` lists {len(noise)} tensors; resolution {cfg.resolution} needs "
                f"{num_noise}."
            )
        w = tf.cast(w, self.compute_dtype)

        def conv(x, i):
            layer_noise = noise if isinstance(noise, str) else noise[i]
            layer_seed = None if seed is None else rng.fold_in(seed, i)
            return self.conv_layers[i](x, w[:, i], noise=layer_noise, seed=layer_seed)

        def to_rgb(x, y, r):
            t = self.to_rgb[r - 2](x, w[:, 2 * r - 3])
            return t if y is None else y + t

        arch = cfg.g_architecture
        R = cfg.resolution_log2
        x = conv(self.const(w), 0)
        y = to_rgb(x, None, 2) if arch == "skip" or R == 2 else None
        blocks = [(x, y)]
        for r in range(3, R + 1):
            t = x
            x = conv(conv(x, 2 * r - 5), 2 * r - 4)
            if arch == "resnet":
                x = (x + self.skips[r - 3](t)) * (1 / math.sqrt(2))
            if arch == "skip":
                y = to_rgb(x, upsample_2d(y, cfg.resample_kernel), r)
            elif r == R:
                y = to_rgb(x, None, R)
            blocks.append((x, y))
        return blocks
