"""The progressive StyleGAN2 discriminator of the paper's configs B-D (Karras et al. 2020,
Table 1; official `D_stylegan`, NVlabs/stylegan2 `training/networks_stylegan2.py:512-606`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan.config import StyleGAN2RevisedConfig
from tf_stylegan.layers import EqualizedDense, FirConv2D, downscale2d, lerp_clip
from tf_stylegan.networks._base import ConfigModel
from tf_stylegan.networks.discriminator_head import DiscriminatorHead
from tf_stylegan.networks.synthesis import _is_one, check_resolution


@keras.saving.register_keras_serializable(package="tf_stylegan")
class RevisedDiscriminator(DiscriminatorHead, ConfigModel):
    """Scores images as real (high) or fake (low), at any level of progressive growing.

    StyleGAN's `D_basic` structure with StyleGAN2's layers (gain 1 in the weights, sqrt(2)
    after the leaky ReLU, FIR down-conv): a `FromRGB` (1x1 conv + lrelu, official
    `FromRGB_lod{R - r}`) at the input's resolution 2^r, then per resolution down to 8 a block
    `Conv0` (3x3) and `Conv1_down` (3x3 FIR down-conv, nf(r-1) -> nf(r-2)), then StyleGAN2's
    head (`DiscriminatorHead`: minibatch stddev, `4x4/Conv`, `4x4/Dense0`, linear `Output`,
    the label's column scoring a conditional image).

    The level is the images' resolution. During a fade-in (alpha < 1) the first block's output
    is blended with `FromRGB_{r-1}` of the images' 2x2 box downscale: `lerp(FromRGB_{r-1}(box(x)),
    block_r(FromRGB_r(x)), alpha)`, as the official 'recursive' structure (the one built for
    training) does with `naive_downsample_2d`; its 'linear' structure would use the FIR
    `downsample_2d` there.

    Args:
        config: StyleGAN2RevisedConfig.

    Call arguments:
        images: [N, r, r, num_channels], r a power of two in [4, resolution].
        labels: [N, label_size] or None.
        alpha: float or scalar tensor, weight of the new level during a fade-in.

    Returns:
        scores: [N, 1].
    """

    config_class = StyleGAN2RevisedConfig
    OUTPUT_ATTRIBUTE = "output_dense"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2

        def conv(filters, in_shape, kernel_size, name, **kw):
            layer = FirConv2D(filters, kernel_size, resample_kernel=cfg.resample_kernel,
                              activation="lrelu", name=name, dtype=policy, **kw)
            layer.build(in_shape)
            return layer

        # from_rgb[r - 2] reads the image at 2^r.
        self.from_rgb = [conv(nf(r - 1), (None, 2**r, 2**r, cfg.num_channels), 1,
                              f"from_rgb{2**r}") for r in range(2, R + 1)]
        # conv0[r - 3], conv1_down[r - 3]: the block of resolution 2^r.
        self.conv0, self.conv1_down = [], []
        for r in range(3, R + 1):
            size = 2**r
            shape = (None, size, size, nf(r - 1))
            self.conv0.append(conv(nf(r - 1), shape, 3, f"conv{size}x{size}"))
            self.conv1_down.append(conv(nf(r - 2), shape, 3, f"conv{size}x{size}_down",
                                        resample="down"))
        self.build_head(
            conv(nf(1), (None, 4, 4, self.head_channels()), 3, "conv4x4"),
            EqualizedDense(nf(0), gain=1.0, activation="lrelu", act_gain=math.sqrt(2),
                           name="dense0", dtype=policy),
            EqualizedDense(max(cfg.label_size, 1), gain=1.0, name="output", dtype=policy))
        self.built = True

    def call(self, images, labels=None, alpha=1.0):
        self.check_images(images)
        res_log2 = check_resolution(images.shape[1], self.config)
        img = tf.cast(images, self.compute_dtype)
        x = self.from_rgb[res_log2 - 2](img)
        for r in range(res_log2, 2, -1):
            x = self.conv1_down[r - 3](self.conv0[r - 3](x))
            if r == res_log2 and not _is_one(alpha):
                old = self.from_rgb[r - 3](downscale2d(img))
                x = lerp_clip(old, x, tf.cast(alpha, x.dtype))
        return self.head(x, labels)
