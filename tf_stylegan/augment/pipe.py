"""`AugmentPipe`: adaptive discriminator augmentation's pipeline, stage by stage.

StyleGAN2-ADA (Karras et al. 2020, arXiv 2006.06676, section 2.3, appendix B) augments every
image the discriminator sees, reals and fakes, in the G loss, the D loss and the R1 penalty
(stylegan2-ada-pytorch `training/loss.py:50-126`). This is the official `AugmentPipe`
(`training/augment.py`) for NHWC images, in its order: the geometric ops (one resampling,
`geometric`), the colour ops (`color`), image-space filtering (`imgfilter`), noise and cutout
(`corruption`). A stage runs whenever one of its multipliers is > 0, whatever p, so at p = 0 the
geometric stage still resamples (identity matrices; the official output then differs from the
input by ~3e-6).

Randomness is stateless: `draw` makes the raw draws from a seed (`draws.draw`), and `apply` is
deterministic given them, so tests can feed the official recorded draws and training can resume
bit-exactly (fold the replica id into the seed, `rng.fold_in`, for per-replica draws, as each
official GPU draws its own). `__call__` is `apply(images, p, draw(..., seed))`.

Gradients flow to the images (the matrices, gains and masks come from the draws), to any order:
the R1 penalty is the gradient of D(aug(x)) with respect to x. With `static_padding=True` (the
default) every shape is static, so the pipe compiles with XLA (`geometric` explains how the
official data-dependent padding is reproduced exactly).
"""

from __future__ import annotations

import tensorflow as tf

from tf_stylegan.augment import draws as draws_lib
from tf_stylegan.augment.color import apply_color, color_matrix
from tf_stylegan.augment.corruption import apply_cutout, apply_noise, cutout_mask
from tf_stylegan.augment.geometric import apply_geometric, geometric_matrix
from tf_stylegan.augment.imgfilter import apply_imgfilter, imgfilter_gains
from tf_stylegan.augment.spec import DEFAULT_PRESET, MULTIPLIERS, AugmentSpec
from tf_stylegan.errors import UserError

__all__ = ["AugmentPipe"]

# The pipe's Python branches depend only on its configuration and static shapes, so AutoGraph
# has nothing to convert; letting it convert the pipe inside a caller's tf.function costs
# seconds of tracing.
_plain_python = tf.autograph.experimental.do_not_convert


class AugmentPipe:
    """The ADA augmentation pipeline.

    Args:
        static_padding: bool. Pad the geometric stage by the largest possible margin and mask
            (XLA-compilable, same result) instead of by the batch's own margin (cheaper at high
            resolution, not XLA-compilable). See `tf_stylegan.augment.geometric`.
        **kwargs: the multipliers and strengths of `AugmentSpec` (official defaults: every
            multiplier 0).

    Call arguments:
        images: [B, H, W, C] float tensor (any float dtype; computed in float32 and cast back),
            H, W and C static. C must be 1 or 3 if a colour op runs, H and W >= 22 with
            `imgfilter`.
        p: float32 scalar, the augmentation probability (values > 1 act as in the official
            code: each gate compares a uniform in (0, 1) with multiplier * p).
        seed: int32 [2], the stateless seed.

    Example:
        pipe = AugmentPipe.from_preset("bgc")
        y = pipe(images, p, seed)
    """

    def __init__(self, static_padding=True, **kwargs):
        self.spec = AugmentSpec.from_dict(kwargs)
        if not isinstance(static_padding, bool):
            raise UserError(f"`static_padding` must be a bool. Received: {static_padding!r}")
        self.static_padding = static_padding

    @classmethod
    def from_preset(cls, name=DEFAULT_PRESET, static_padding=True, **overrides):
        """The `--augpipe` preset `name` (`AUGMENT_PRESETS`), with `overrides` of its fields."""
        spec = AugmentSpec.from_preset(name, **overrides)
        return cls(static_padding=static_padding, **spec.to_dict())

    def get_config(self):
        """Plain JSON-able data: every multiplier and strength, and `static_padding`."""
        return {**self.spec.to_dict(), "static_padding": self.static_padding}

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config))

    def __repr__(self):
        on = {k: v for k, v in self.spec.to_dict().items() if k in MULTIPLIERS and v}
        return f"AugmentPipe({on}, static_padding={self.static_padding})"

    @_plain_python
    def draw(self, batch, height, width, channels, seed):
        """The raw random draws for a batch (`draws.draw`): {name: float32 tensor}."""
        return draws_lib.draw(self.spec, batch, height, width, channels, seed)

    @_plain_python
    def apply(self, images, p, draws):
        """The augmented images, deterministic given the raw `draws` (same shape and dtype)."""
        return self.stages(images, p, draws)["y"]

    @_plain_python
    def __call__(self, images, p, seed):
        images = tf.convert_to_tensor(images)
        self._check(images)
        batch = images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]
        _, height, width, channels = images.shape
        return self.apply(images, p, self.draw(batch, height, width, channels, seed))

    @_plain_python
    def stages(self, images, p, draws):
        """Every quantity of one application, as the official fixtures name them: the gated
        values, "G_inv_pix", "margin", "pad", "C", "imgfilter_g", "cutout_mask" (NHWC
        [B, H, W, 1]) for the stages that run, the output of each stage that runs
        ("stage_geom", "stage_color", "stage_imgfilter", "stage_noise", "stage_cutout", float32)
        and "y", the output in the input dtype."""
        images = tf.convert_to_tensor(images)
        self._check(images)
        _, height, width, channels = images.shape
        spec = self.spec
        x = tf.cast(images, tf.float32)
        gated = draws_lib.gated_values(spec, draws, p)
        out = dict(gated)
        if spec.geometric_enabled:
            out["G_inv_pix"] = geometric_matrix(gated, height, width)
            x = out["stage_geom"] = apply_geometric(x, out["G_inv_pix"], self.static_padding,
                                                    record=out)
        if spec.color_ops(channels):
            out["C"] = color_matrix(gated)
            x = out["stage_color"] = apply_color(x, out["C"])
        if spec.enabled("imgfilter"):
            out["imgfilter_g"] = imgfilter_gains(gated["imgfilter_t"])
            x = out["stage_imgfilter"] = apply_imgfilter(x, out["imgfilter_g"])
        if spec.enabled("noise"):
            x = out["stage_noise"] = apply_noise(x, gated["noise_sigma"], draws["noise_n"])
        if spec.enabled("cutout"):
            out["cutout_mask"] = cutout_mask(gated["cutout_size"], gated["cutout_center"],
                                             height, width)
            x = out["stage_cutout"] = apply_cutout(x, out["cutout_mask"])
        out["y"] = tf.cast(x, images.dtype)
        return out

    def _check(self, images):
        shape = images.shape
        if shape.rank != 4 or None in shape[1:]:
            raise UserError(f"AugmentPipe needs NHWC images with static H, W, C. "
                            f"Received shape {shape}")
        if not images.dtype.is_floating:
            raise UserError(f"AugmentPipe needs float images. Received dtype {images.dtype.name}")
        _, height, width, channels = shape
        if self.spec.color_ops(channels) and channels not in (1, 3):
            raise UserError(f"The colour augmentations need 1 or 3 channels. Received "
                            f"{channels} channels")
        if self.spec.enabled("imgfilter") and min(height, width) < 22:
            raise UserError(f"The imgfilter augmentation needs images of at least 22x22 "
                            f"pixels. Received {height}x{width}")

