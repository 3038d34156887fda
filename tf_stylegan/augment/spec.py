"""What an augmentation pipe does: the probability multipliers, the strengths and the presets.

StyleGAN2-ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
arXiv 2006.06676, section 2.3 and appendix B) augments every image the discriminator sees; each
op acts with probability `multiplier * p`. `AugmentSpec` holds the official constructor
arguments of `AugmentPipe` (stylegan2-ada-pytorch `training/augment.py:118-124`): every
multiplier defaults to 0 (off) and every strength to the official default, which `train.py`
never changes. `AUGMENT_PRESETS` are the `--augpipe` choices of `train.py:271-283`, whose listed
multipliers are 1; `bgc` is the default (`train.py:264-265`).
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType

from tf_stylegan.errors import UserError

__all__ = ["AUGMENT_PRESETS", "AugmentSpec", "COLOR_OPS", "DEFAULT_PRESET", "GEOMETRIC_OPS",
           "MULTIPLIERS"]

# The probability multipliers, in the official order of application.
GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
MULTIPLIERS = GEOMETRIC_OPS + COLOR_OPS + ("imgfilter", "noise", "cutout")

_BLIT = ("xflip", "rotate90", "xint")
_GEOM = ("scale", "rotate", "aniso", "xfrac")
_COLOR = COLOR_OPS

# --augpipe name -> the multipliers it sets to 1 (all others 0), train.py:271-283.
AUGMENT_PRESETS = MappingProxyType({
    "blit": _BLIT,
    "geom": _GEOM,
    "color": _COLOR,
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": _BLIT + _GEOM,
    "bgc": _BLIT + _GEOM + _COLOR,
    "bgcf": _BLIT + _GEOM + _COLOR + ("imgfilter",),
    "bgcfn": _BLIT + _GEOM + _COLOR + ("imgfilter", "noise"),
    "bgcfnc": _BLIT + _GEOM + _COLOR + ("imgfilter", "noise", "cutout"),
})
DEFAULT_PRESET = "bgc"


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
    """Multipliers and strengths of the augmentation pipe (official defaults).

    Each op is applied to an image when a fresh uniform draw is below `multiplier * p`, so a
    multiplier of 0 disables the op and 1 applies it with probability p.

    Args:
        xflip, rotate90, xint: float. Multipliers of the "blit" ops: x-flip, rotation by a
            multiple of 90 degrees, integer translation.
        xint_max: float. Range of the integer translation, relative to the image size.
        scale, rotate, aniso, xfrac: float. Multipliers of the general geometric ops: isotropic
            scaling, arbitrary rotation, anisotropic scaling, fractional translation.
        scale_std: float. Log2 standard deviation of the isotropic scale.
        rotate_max: float. Range of the rotation, 1 = full circle.
        aniso_std: float. Log2 standard deviation of the anisotropic scale.
        xfrac_std: float. Standard deviation of the fractional translation, relative to the size.
        brightness, contrast, lumaflip, hue, saturation: float. Multipliers of the colour ops.
        brightness_std: float. Standard deviation of the additive brightness.
        contrast_std: float. Log2 standard deviation of the contrast.
        hue_max: float. Range of the hue rotation, 1 = full circle.
        saturation_std: float. Log2 standard deviation of the saturation.
        imgfilter: float. Multiplier of the image-space filtering.
        imgfilter_bands: 4 floats. Probability multipliers of the four frequency bands.
        imgfilter_std: float. Log2 standard deviation of a band's gain.
        noise: float. Multiplier of the additive RGB noise.
        noise_std: float. Scale of the half-normal noise standard deviation.
        cutout: float. Multiplier of cutout.
        cutout_size: float. Side of the cutout square, relative to the image size.
    """

    xflip: float = 0.0
    rotate90: float = 0.0
    xint: float = 0.0
    xint_max: float = 0.125
    scale: float = 0.0
    rotate: float = 0.0
    aniso: float = 0.0
    xfrac: float = 0.0
    scale_std: float = 0.2
    rotate_max: float = 1.0
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness: float = 0.0
    contrast: float = 0.0
    lumaflip: float = 0.0
    hue: float = 0.0
    saturation: float = 0.0
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1.0
    saturation_std: float = 1.0
    imgfilter: float = 0.0
    imgfilter_bands: tuple = (1.0, 1.0, 1.0, 1.0)
    imgfilter_std: float = 1.0
    noise: float = 0.0
    cutout: float = 0.0
    noise_std: float = 0.1
    cutout_size: float = 0.5

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "imgfilter_bands":
                try:
                    bands = tuple(float(b) for b in value)
                except (TypeError, ValueError):
                    bands = ()
                if len(bands) != 4 or not all(math.isfinite(b) and b >= 0 for b in bands):
                    raise UserError("`imgfilter_bands` must be 4 non-negative numbers. "
                                    f"Received: imgfilter_bands={value!r}")
                object.__setattr__(self, "imgfilter_bands", bands)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise UserError(f"`{field.name}` must be a non-negative number. "
                                f"Received: {field.name}={value!r}")
            object.__setattr__(self, field.name, float(value))

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "AugmentSpec":
        """The `--augpipe` preset `name` (multipliers 1), with `overrides` replacing fields."""
        if name not in AUGMENT_PRESETS:
            raise UserError(f"Unknown augmentation preset {name!r}; choose one of "
                            f"{', '.join(AUGMENT_PRESETS)}")
        return cls.from_dict({**{op: 1.0 for op in AUGMENT_PRESETS[name]}, **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentSpec":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise UserError(f"Unknown augmentation options: {unknown}")
        return cls(**d)

    def to_dict(self) -> dict:
        """Plain JSON data (the bands tuple becomes a list)."""
        d = dataclasses.asdict(self)
        d["imgfilter_bands"] = list(self.imgfilter_bands)
        return d

    # Which stages run (augment.py:270, 353-356, 372, 406, 414). They depend on the multipliers
    # only, not on p: with any geometric multiplier > 0 the resampling runs even at p = 0.
    @property
    def geometric_enabled(self) -> bool:
        return any(getattr(self, op) > 0 for op in GEOMETRIC_OPS)

    def color_ops(self, channels: int) -> tuple:
        """The colour ops that run on `channels`-channel images: hue and saturation only with
        more than one channel (augment.py:337, 345)."""
        return tuple(op for op in COLOR_OPS if getattr(self, op) > 0
                     and (channels > 1 or op not in ("hue", "saturation")))

    def enabled(self, op: str) -> bool:
        return getattr(self, op) > 0
