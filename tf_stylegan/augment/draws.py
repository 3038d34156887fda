"""The random draws of the augmentation pipe, and the gating that turns them into parameters.

`draw` makes the raw draws, named as in the official fixtures (uniforms `*_u`, normals `*_n`,
gate uniforms `*_gate_u`), as stateless functions of the seed (`tf_stylegan.rng`): a resumed
run draws the same augmentations, and a replica that folds its id into the seed draws its own.
All the per-image uniforms come from one [B, 29] table and all the per-image normals from one
[B, 12] table, each draw in fixed columns (`_COLUMNS`), and the per-pixel noise from a third
seed; so every draw is the same whichever ops are enabled. Only the enabled ops' draws are
returned, hue and saturation only for more than one channel (augment.py:337, 345).

`gated_values` applies the official per-op gating and formulas (augment.py:196-263, 311-350,
378-387, 406-427): an op acts on an image when its gate uniform is below `multiplier * p`
(strict <, its own uniform per image), otherwise its parameter takes the neutral value. The
rotation probability is `p_rot = 1 - sqrt(clamp(1 - rotate * p, 0, 1))` for each of the pre- and
post-rotation, so that P(pre or post) = rotate * p (augment.py:233). With p > 1 every gate whose
multiplier is >= 1/p is always on, as in the official code (no clamp of p).

Shapes (our layout; the fixtures' trailing singleton axes are dropped): per-image draws are [B],
`xint_u`, `xfrac_n`, `cutout_center` are [B, 2] (x then y), `imgfilter_n` and `imgfilter_gate_u`
are [4, B] (band-major), `noise_n` is [B, H, W, C] (NHWC, where the fixtures hold NCHW).
"""

from __future__ import annotations

import math

import tensorflow as tf

from tf_stylegan import rng

__all__ = ["DRAW_NAMES", "draw", "enabled_ops", "gated_values"]

# Draw name -> (table, first column, columns): "u" the uniform table, "n" the normal table.
# The layout is part of the reproducibility contract: never reorder.
_COLUMNS = {
    "xflip_u": ("u", 0, 1), "xflip_gate_u": ("u", 1, 1),
    "rotate90_u": ("u", 2, 1), "rotate90_gate_u": ("u", 3, 1),
    "xint_u": ("u", 4, 2), "xint_gate_u": ("u", 6, 1),
    "scale_n": ("n", 0, 1), "scale_gate_u": ("u", 7, 1),
    "rotate_pre_u": ("u", 8, 1), "rotate_pre_gate_u": ("u", 9, 1),
    "aniso_n": ("n", 1, 1), "aniso_gate_u": ("u", 10, 1),
    "rotate_post_u": ("u", 11, 1), "rotate_post_gate_u": ("u", 12, 1),
    "xfrac_n": ("n", 2, 2), "xfrac_gate_u": ("u", 13, 1),
    "brightness_n": ("n", 4, 1), "brightness_gate_u": ("u", 14, 1),
    "contrast_n": ("n", 5, 1), "contrast_gate_u": ("u", 15, 1),
    "lumaflip_u": ("u", 16, 1), "lumaflip_gate_u": ("u", 17, 1),
    "hue_u": ("u", 18, 1), "hue_gate_u": ("u", 19, 1),
    "saturation_n": ("n", 6, 1), "saturation_gate_u": ("u", 20, 1),
    "imgfilter_n": ("n", 7, 4), "imgfilter_gate_u": ("u", 21, 4),
    "noise_sigma_n": ("n", 11, 1), "noise_gate_u": ("u", 25, 1),
    "cutout_gate_u": ("u", 26, 1), "cutout_center": ("u", 27, 2),
}
_TABLE_WIDTH = {"u": 29, "n": 12}
# Every raw draw's name: the per-image ones and the per-pixel noise.
DRAW_NAMES = tuple(_COLUMNS) + ("noise_n",)

# Op -> its draws. The rotation op has two (pre and post), each with its own gate.
_OP_DRAWS = {
    "xflip": ("xflip_u", "xflip_gate_u"),
    "rotate90": ("rotate90_u", "rotate90_gate_u"),
    "xint": ("xint_u", "xint_gate_u"),
    "scale": ("scale_n", "scale_gate_u"),
    "rotate": ("rotate_pre_u", "rotate_pre_gate_u", "rotate_post_u", "rotate_post_gate_u"),
    "aniso": ("aniso_n", "aniso_gate_u"),
    "xfrac": ("xfrac_n", "xfrac_gate_u"),
    "brightness": ("brightness_n", "brightness_gate_u"),
    "contrast": ("contrast_n", "contrast_gate_u"),
    "lumaflip": ("lumaflip_u", "lumaflip_gate_u"),
    "hue": ("hue_u", "hue_gate_u"),
    "saturation": ("saturation_n", "saturation_gate_u"),
    "imgfilter": ("imgfilter_n", "imgfilter_gate_u"),
    "noise": ("noise_sigma_n", "noise_gate_u", "noise_n"),
    "cutout": ("cutout_gate_u", "cutout_center"),
}


def enabled_ops(spec, channels):
    """The ops of `spec` that act on `channels`-channel images, in the official order."""
    color = spec.color_ops(channels)
    return tuple(op for op in _OP_DRAWS
                 if spec.enabled(op) and (op not in ("hue", "saturation") or op in color))


def draw(spec, batch, height, width, channels, seed):
    """The raw draws of every enabled op of `spec` for a batch of `batch` images of
    height x width x channels: {name: float32 tensor} (shapes in the module docstring).

    Args:
        spec: AugmentSpec.
        batch: int or int32 scalar tensor.
        height, width, channels: int.
        seed: int32 [2] tensor, the stateless seed.
    """
    names = [n for op in enabled_ops(spec, channels) for n in _OP_DRAWS[op]]
    if not names:
        return {}
    seeds = rng.split(tf.convert_to_tensor(seed, tf.int32), 3)
    tables = {"u": rng.stateless_uniform(tf.stack([batch, _TABLE_WIDTH["u"]]), seeds[0]),
              "n": rng.stateless_normal(tf.stack([batch, _TABLE_WIDTH["n"]]), seeds[1])}
    out = {}
    for name in names:
        if name == "noise_n":
            out[name] = rng.stateless_normal(tf.stack([batch, height, width, channels]),
                                             seeds[2])
            continue
        table, first, columns = _COLUMNS[name]
        value = tables[table][:, first:first + columns]
        if columns == 1:
            value = value[:, 0]
        elif columns == 4:  # the four bands, band-major as the official code draws them
            value = tf.transpose(value)
        out[name] = value
    return out


def _exp2(x):
    return tf.math.pow(tf.constant(2.0, tf.float32), x)


def gated_values(spec, draws, p):
    """The parameters the ops use, from the raw `draws` and the probability `p` (float32
    scalar): {name: float32 tensor}, named as in the official fixtures, only for the ops that
    drew. Neutral values where a gate is off: 0 for flips, rotations, translations, brightness
    and noise, 1 for scales, contrast, saturation and band gains, cutout size 0.

    Also "p_rot", the probability of each of the two rotations, when rotate is enabled.
    """
    p = tf.cast(p, tf.float32)
    f32 = lambda v: tf.constant(v, tf.float32)  # noqa: E731
    out = {}

    def gate(op, name, value, neutral):
        on = draws[name] < f32(getattr(spec, op)) * p
        if value.shape.rank > on.shape.rank:
            on = on[..., None]
        return tf.where(on, value, tf.zeros_like(value) + neutral)

    if "xflip_u" in draws:
        out["xflip_i"] = gate("xflip", "xflip_gate_u", tf.floor(draws["xflip_u"] * 2), 0.0)
    if "rotate90_u" in draws:
        out["rotate90_i"] = gate("rotate90", "rotate90_gate_u",
                                 tf.floor(draws["rotate90_u"] * 4), 0.0)
    if "xint_u" in draws:
        t = (draws["xint_u"] * 2 - 1) * f32(spec.xint_max)
        out["xint_t"] = gate("xint", "xint_gate_u", t, 0.0)
    if "scale_n" in draws:
        s = _exp2(draws["scale_n"] * f32(spec.scale_std))
        out["scale_s"] = gate("scale", "scale_gate_u", s, 1.0)
    if "rotate_pre_u" in draws:
        p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - f32(spec.rotate) * p, 0.0, 1.0))
        out["p_rot"] = p_rot
        for name in ("rotate_pre", "rotate_post"):
            theta = (draws[name + "_u"] * 2 - 1) * f32(math.pi) * f32(spec.rotate_max)
            on = draws[name + "_gate_u"] < p_rot
            out[name + "_theta"] = tf.where(on, theta, tf.zeros_like(theta))
    if "aniso_n" in draws:
        s = _exp2(draws["aniso_n"] * f32(spec.aniso_std))
        out["aniso_s"] = gate("aniso", "aniso_gate_u", s, 1.0)
    if "xfrac_n" in draws:
        out["xfrac_t"] = gate("xfrac", "xfrac_gate_u", draws["xfrac_n"] * f32(spec.xfrac_std),
                              0.0)
    if "brightness_n" in draws:
        out["brightness_b"] = gate("brightness", "brightness_gate_u",
                                   draws["brightness_n"] * f32(spec.brightness_std), 0.0)
    if "contrast_n" in draws:
        out["contrast_c"] = gate("contrast", "contrast_gate_u",
                                 _exp2(draws["contrast_n"] * f32(spec.contrast_std)), 1.0)
    if "lumaflip_u" in draws:
        out["lumaflip_i"] = gate("lumaflip", "lumaflip_gate_u",
                                 tf.floor(draws["lumaflip_u"] * 2), 0.0)
    if "hue_u" in draws:
        theta = (draws["hue_u"] * 2 - 1) * f32(math.pi) * f32(spec.hue_max)
        out["hue_theta"] = gate("hue", "hue_gate_u", theta, 0.0)
    if "saturation_n" in draws:
        out["saturation_s"] = gate("saturation", "saturation_gate_u",
                                   _exp2(draws["saturation_n"] * f32(spec.saturation_std)), 1.0)
    if "imgfilter_n" in draws:
        bands = []
        for i, strength in enumerate(spec.imgfilter_bands):
            t = _exp2(draws["imgfilter_n"][i] * f32(spec.imgfilter_std))
            prob = f32(spec.imgfilter) * p * f32(strength)
            bands.append(tf.where(draws["imgfilter_gate_u"][i] < prob, t, tf.ones_like(t)))
        out["imgfilter_t"] = tf.stack(bands)
    if "noise_sigma_n" in draws:
        out["noise_sigma"] = gate("noise", "noise_gate_u",
                                  tf.abs(draws["noise_sigma_n"]) * f32(spec.noise_std), 0.0)
    if "cutout_gate_u" in draws:
        size = tf.zeros_like(draws["cutout_gate_u"]) + f32(spec.cutout_size)
        out["cutout_size"] = gate("cutout", "cutout_gate_u", size, 0.0)
        out["cutout_center"] = draws["cutout_center"]
    return out
