"""The StyleGAN2 discriminator (Karras et al. 2020, section 4.1; official `D_stylegan2` in
NVlabs/stylegan2 `training/networks_stylegan2.py`)."""

import math

import keras
import tensorflow as tf

from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.layers import EqualizedDense, FirConv2D, downsample_2d
from tf_stylegan.networks._base import ConfigModel
from tf_stylegan.networks.discriminator_head import DiscriminatorHead
from tf_stylegan.networks.stylegan2.label_projection import LabelProjection
from tf_stylegan.networks.stylegan2.synthesis import check_full_resolution


@keras.saving.register_keras_serializable(package="tf_stylegan")
class StyleGAN2Discriminator(DiscriminatorHead, ConfigModel):
    """Scores images as real (high) or fake (low), official `D_stylegan2`.

    Every layer has gain 1 in its weight and sqrt(2) after its leaky ReLU. For each resolution
    2^r, r = R..3, a block: `Conv0` (3x3) and `Conv1_down` (3x3 FIR down-conv, nf(r-1) ->
    nf(r-2)). The image enters according to `config.d_architecture`:
      - "resnet" (config F): `FromRGB` (1x1 conv + lrelu) at the top resolution only; each block
        adds a 1x1 FIR down-conv of its input (no bias, linear),
        `x = (block(x) + skip(x)) / sqrt(2)`;
      - "orig": the same without the skips;
      - "skip": a `FromRGB` at every resolution added to the features, the image
        FIR-downsampled (`downsample_2d`) from level to level, and a last one at 4x4.
    Then the `DiscriminatorHead` at 4x4: minibatch stddev, 3x3 conv, dense 16*nf(1) -> nf(0) on
    the NCHW flattened features, and the linear `Output` dense to max(label_size, 1), the
    label's column scoring a conditional image. With `config.label_mapping == "embed"`
    (stylegan2-ada-pytorch) a conditional network's output layer is `cmap_dim` wide instead and
    scores by its projection onto the label embedding of `label_projection`
    (`LabelProjection`). With `config.conv_clamp`, every convolution but the skips clips its
    output (stylegan2-ada-pytorch `Conv2dLayer`).

    Args:
        config: StyleGAN2Config.

    Call arguments:
        images: [N, resolution, resolution, num_channels].
        labels: [N, label_size] or None.
        alpha: StyleGAN's fade-in weight, accepted for the same interface: 1 only.

    Returns:
        scores: [N, 1].
    """

    config_class = StyleGAN2Config
    OUTPUT_ATTRIBUTE = "output_dense"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2
        arch = cfg.d_architecture
        kernel = cfg.resample_kernel

        def conv(filters, in_shape, kernel_size, name, **kw):
            layer = FirConv2D(filters, kernel_size, resample_kernel=kernel, name=name,
                              dtype=policy, **kw)
            layer.build(in_shape)
            return layer

        clamp = {"conv_clamp": cfg.conv_clamp}

        def from_rgb(r):
            size = 2**r
            return conv(nf(r - 1), (None, size, size, cfg.num_channels), 1,
                        f"from_rgb{size}", activation="lrelu", **clamp)

        # from_rgb[r - 2] reads the image at 2^r; "resnet" and "orig" have the top one only.
        self.from_rgb = [from_rgb(r) if arch == "skip" or r == R else None
                         for r in range(2, R + 1)]
        # conv0[r - 3], conv1_down[r - 3], skips[r - 3]: the block of resolution 2^r.
        self.conv0, self.conv1_down, self.skips = [], [], []
        for r in range(3, R + 1):
            size = 2**r
            shape = (None, size, size, nf(r - 1))
            self.conv0.append(conv(nf(r - 1), shape, 3, f"conv{size}x{size}",
                                   activation="lrelu", **clamp))
            self.conv1_down.append(conv(nf(r - 2), shape, 3, f"conv{size}x{size}_down",
                                        resample="down", activation="lrelu", **clamp))
            if arch == "resnet":
                self.skips.append(conv(nf(r - 2), shape, 1, f"skip{size}x{size}",
                                       resample="down", use_bias=False))
        # The 4x4 head (gain 1 in the weights, sqrt(2) after the activation).
        projects = bool(cfg.label_size) and cfg.label_mapping == "embed"
        outputs = cfg.cmap_dim if projects else max(cfg.label_size, 1)
        self.build_head(
            conv(nf(1), (None, 4, 4, self.head_channels()), 3, "conv4x4", activation="lrelu",
                 **clamp),
            EqualizedDense(nf(0), gain=1.0, activation="lrelu", act_gain=math.sqrt(2),
                           name="dense0", dtype=policy),
            EqualizedDense(outputs, gain=1.0, name="output", dtype=policy))
        self.label_projection = None
        if projects:
            self.label_projection = LabelProjection(
                cfg.label_size, cfg.cmap_dim, cfg.d_mapping_layers, cfg.d_mapping_lrmul,
                name="label_projection", dtype=policy)
        self.built = True

    def score_labels(self, out, labels):
        if self.label_projection is None:
            return super().score_labels(out, labels)
        return self.label_projection.project(out, labels)

    def call(self, images, labels=None, alpha=1.0):
        cfg = self.config
        self.check_images(images, cfg.resolution)
        check_full_resolution(cfg, alpha=alpha)
        arch = cfg.d_architecture
        y = tf.cast(images, self.compute_dtype)
        x = None
        for r in range(cfg.resolution_log2, 2, -1):
            if arch == "skip" or r == cfg.resolution_log2:
                t = self.from_rgb[r - 2](y)
                x = t if x is None else x + t
            block_in = x
            x = self.conv1_down[r - 3](self.conv0[r - 3](x))
            if arch == "resnet":
                x = (x + self.skips[r - 3](block_in)) * (1 / math.sqrt(2))
            if arch == "skip":
                y = downsample_2d(y, cfg.resample_kernel)
        if arch == "skip":
            t = self.from_rgb[0](y)
            x = t if x is None else x + t
        elif x is None:  # a 4x4 network: the top FromRGB is the 4x4 one
            x = self.from_rgb[0](y)
        return self.head(x, labels)
