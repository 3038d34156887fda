"""The discriminator (official `D_basic`: the ProGAN discriminator with blur and fused ops)."""

import math

import keras
import tensorflow as tf

from tf_stylegan.layers import Blur2D, EqualizedConv2D, EqualizedDense, downscale2d, lerp_clip
from tf_stylegan.networks._base import ConfigModel
from tf_stylegan.networks.discriminator_head import DiscriminatorHead
from tf_stylegan.networks.synthesis import _is_one, check_resolution


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Discriminator(DiscriminatorHead, ConfigModel):
    """Scores images as real (high) or fake (low), at any level of progressive growing.

    FromRGB (1x1 conv + lrelu) at the input resolution, then per resolution a 3x3 conv and a
    blur + 3x3 down-conv (fused at >= 128 px), down to 4x4, then the `DiscriminatorHead`:
    minibatch stddev, a 3x3 conv, dense 8192 -> 512 and a linear dense to max(label_size, 1)
    outputs, the label's column scoring a conditional image.

    The resolution is taken from the images; during a fade-in the first block's output is
    blended with `FromRGB(downscale(images))` at the next lower resolution by `alpha`.

    Args:
        config: NetworkConfig.

    Call arguments:
        images: [N, r, r, num_channels], r a power of two in [4, resolution].
        labels: [N, label_size] or None.
        alpha: float or scalar tensor, weight of the new level during a fade-in.

    Returns:
        scores: [N, 1].
    """

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        policy = self.dtype_policy
        nf = cfg.nf
        R = cfg.resolution_log2

        def conv(filters, in_shape, kernel=3, name=None, **kw):
            layer = EqualizedConv2D(filters, kernel, use_wscale=cfg.use_wscale,
                                    activation="lrelu", name=name, dtype=policy, **kw)
            layer.build(in_shape)
            return layer

        # FromRGB for every resolution 4..R (official FromRGB_lod{R - res_log2}).
        self.from_rgb = [
            conv(nf(k - 1), (None, 2**k, 2**k, cfg.num_channels), kernel=1,
                 name=f"from_rgb{2**k}")
            for k in range(2, R + 1)
        ]
        # blocks[k - 3] = (Conv0, blur, Conv1_down) of resolution 2^k, k = 3..R.
        self.conv0, self.blurs, self.conv1_down = [], [], []
        for k in range(3, R + 1):
            size = 2**k
            self.conv0.append(conv(nf(k - 1), (None, size, size, nf(k - 1)),
                                   name=f"conv{size}x{size}"))
            self.blurs.append(Blur2D(cfg.blur_filter, name=f"blur{size}", dtype=policy)
                              if cfg.blur_filter else None)
            self.conv1_down.append(conv(nf(k - 2), (None, size, size, nf(k - 1)),
                                        resample="down", fused=cfg.uses_fused(size),
                                        name=f"conv{size}x{size}_down"))
        # The 4x4 head (equalized layers: the gain is in the weight).
        self.build_head(
            conv(nf(1), (None, 4, 4, self.head_channels()), name="conv4x4"),
            EqualizedDense(nf(0), gain=math.sqrt(2), use_wscale=cfg.use_wscale,
                           activation="lrelu", name="dense0", dtype=policy),
            EqualizedDense(max(cfg.label_size, 1), gain=1.0, use_wscale=cfg.use_wscale,
                           name="dense1", dtype=policy))
        self.built = True

    def _block(self, x, k):
        x = self.conv0[k - 3](x)
        if self.blurs[k - 3] is not None:
            x = self.blurs[k - 3](x)  # D blurs before the down-conv
        return self.conv1_down[k - 3](x)

    def call(self, images, labels=None, alpha=1.0):
        cfg = self.config
        self.check_images(images)
        res_log2 = check_resolution(images.shape[1], cfg)
        img = tf.cast(images, self.compute_dtype)
        x = self.from_rgb[res_log2 - 2](img)
        for k in range(res_log2, 2, -1):
            x = self._block(x, k)
            if k == res_log2 and not _is_one(alpha):
                old = self.from_rgb[k - 3](downscale2d(img))
                x = lerp_clip(old, x, alpha)
        return self.head(x, labels)
