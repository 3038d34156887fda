"""Network configs: every shape and default of the official networks, one dataclass per family.

- `NetworkConfig` (family "stylegan"): the official values of `G_style`, `G_mapping`,
  `G_synthesis` and `D_basic` (NVlabs/stylegan `training/networks_stylegan.py`); the ablation
  switches reproduce the paper's Table 1 configurations (arXiv 1812.04948, section 2, Table 1).
- `StyleGAN2Config` (family "stylegan2"): the official values of `G_main`, `G_mapping`,
  `G_synthesis_stylegan2` and `D_stylegan2` (NVlabs/stylegan2 `training/networks_stylegan2.py`),
  i.e. config F of arXiv 1912.04958, Table 1.
- `StyleGAN2RevisedConfig` (family "stylegan2-revised"): the progressive StyleGAN2 networks of
  that Table's configs B-D (`G_synthesis_stylegan_revised`, `D_stylegan`).

All extend `BaseNetworkConfig`, the fields every family shares. Which family a network belongs
to is its config's `family`, the name of its entry in `tf_stylegan.families`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from tf_stylegan.errors import UserError


@dataclasses.dataclass(frozen=True)
class BaseNetworkConfig:
    """What every network family's config holds: the data shape, the mapping network, the
    feature-map widths, the generator wrapper (truncation, style mixing, the w average) and the
    discriminator's minibatch-stddev head. Each family subclasses it, adds its own fields and
    sets the defaults of its official code (`family` names it in `tf_stylegan.families`).

    Args:
        resolution: int. Output resolution, a power of two >= 4.
        num_channels: int. Image channels (3 for RGB, 1 for grayscale).
        label_size: int. Dimensionality of the (one-hot) conditioning labels, 0 for none.
        latent_size: int. Dimensionality of z.
        dlatent_size: int. Dimensionality of w.
        mapping_layers: int. Dense layers in the mapping network (0: w is the normalized z).
        mapping_fmaps: int. Width of the hidden mapping layers.
        mapping_lrmul: float. Learning-rate multiplier of the mapping network.
        normalize_latents: bool. Pixel-normalize z (after the label embedding) before mapping.
        fmap_base, fmap_decay, fmap_max: the feature maps of a stage,
            `min(fmap_base / 2**(stage * fmap_decay), fmap_max)` (see the family's `nf`).
        truncation_psi: float. Default truncation at inference (None or 1.0 = off).
        truncation_cutoff: int or None. Truncate layers with index < cutoff (None: all layers).
        dlatent_avg_beta: float. Decay of the moving average of w used for truncation.
        style_mixing_prob: float. Probability of mixing two latents in a training minibatch.
        mbstd_group_size: int. Minibatch-stddev group size (0 or 1 = no minibatch stddev layer).
        mbstd_num_features: int. Features produced by the minibatch stddev layer.
    """

    resolution: int = 1024
    num_channels: int = 3
    label_size: int = 0
    # Mapping network (G_mapping).
    latent_size: int = 512
    dlatent_size: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lrmul: float = 0.01
    normalize_latents: bool = True
    # Feature-map widths (shared by synthesis and discriminator).
    fmap_base: int = 8192
    fmap_decay: float = 1.0
    fmap_max: int = 512
    # Generator wrapper (G_style / G_main).
    truncation_psi: float | None = 0.7
    truncation_cutoff: int | None = 8
    dlatent_avg_beta: float | None = 0.995
    style_mixing_prob: float | None = 0.9
    # Discriminator head.
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1

    family: ClassVar[str]

    def __post_init__(self):
        res = self.resolution
        if not isinstance(res, int) or res < 4 or res & (res - 1):
            raise UserError(
                f"`resolution` must be a power of two >= 4. Received: resolution={res!r}")
        for name in ("num_channels", "latent_size", "dlatent_size", "mapping_fmaps",
                     "fmap_base", "fmap_max"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        for name in ("label_size", "mapping_layers", "mbstd_group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(
                    f"`{name}` must be a non-negative int. Received: {name}={value!r}")
        if self.mapping_layers == 0:
            mapped = self.latent_size * (2 if self.label_size else 1)
            if mapped != self.dlatent_size:
                raise UserError(
                    "With mapping_layers=0, w is the normalized z (with the label embedding "
                    f"concatenated), so dlatent_size must be {mapped}. "
                    f"Received: dlatent_size={self.dlatent_size}"
                )

    # --- Derived quantities -------------------------------------------------------------
    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Number of style inputs (dlatent rows) of the synthesis network: 18 at 1024."""
        return 2 * self.resolution_log2 - 2

    def nf(self, stage: int) -> int:
        """Feature maps at `stage` (the official `nf`): the block at 2**res uses nf(res - 1)."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)

    # --- Plain data ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON/YAML data: tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise UserError(f"Unknown {cls.__name__} keys: {unknown}")
        return cls(**d)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class NetworkConfig(BaseNetworkConfig):
    """Architecture of the StyleGAN generator and discriminator (family "stylegan").

    The fields of `BaseNetworkConfig` with StyleGAN's defaults (fmap_base 8192, psi 0.7 on the 8
    coarsest layers), plus the synthesis switches of the paper's Table 1 configurations.

    Args:
        use_styles: bool. AdaIN style modulation (False = traditional generator, config B).
        const_input_layer: bool. Learned constant 4x4 input (False = dense from w, configs B/C).
        use_noise: bool. Per-pixel noise inputs (configs E/F).
        use_pixel_norm: bool. Pixel norm in the synthesis epilogue (config B).
        use_instance_norm: bool. Instance norm in the synthesis epilogue.
        use_wscale: bool. Equalized learning rate.
        fused_scale: "auto" | True | False. Fused up/down-sampling convolutions; "auto" uses
            them where the larger side of the op is >= 128 px, as the official code does.
        blur_filter: tuple of ints, or () for no blur. Low-pass filter of the resampling ops.
    """

    # Synthesis network (G_synthesis) and the Table 1 ablation switches.
    use_styles: bool = True
    const_input_layer: bool = True
    use_noise: bool = True
    use_pixel_norm: bool = False
    use_instance_norm: bool = True
    use_wscale: bool = True
    fused_scale: Any = "auto"
    blur_filter: tuple = (1, 2, 1)

    family: ClassVar[str] = "stylegan"

    def __post_init__(self):
        super().__post_init__()
        if self.fused_scale not in ("auto", True, False):
            raise UserError(
                "`fused_scale` must be 'auto', True or False. "
                f"Received: fused_scale={self.fused_scale!r}"
            )
        # Normalise list-valued fields read from YAML/JSON.
        object.__setattr__(self, "blur_filter", tuple(int(v) for v in self.blur_filter))

    def num_layers_at(self, resolution: int) -> int:
        """Style inputs used when the networks run at an intermediate `resolution`."""
        return 2 * int(math.log2(resolution)) - 2

    def uses_fused(self, size: int) -> bool:
        """Whether a resampling op whose larger side is `size` px uses the fused form."""
        if self.fused_scale == "auto":
            return size >= 128
        return bool(self.fused_scale)


ARCHITECTURES = ("orig", "skip", "resnet")
LABEL_MAPPINGS = ("concat", "embed")


@dataclasses.dataclass(frozen=True)
class StyleGAN2Config(BaseNetworkConfig):
    """Architecture of the StyleGAN2 generator and discriminator (family "stylegan2").

    Every default is the official config F value (NVlabs/stylegan2
    `training/networks_stylegan2.py`, the defaults of `G_main`, `G_mapping`,
    `G_synthesis_stylegan2`, `D_stylegan2`): the fields of `BaseNetworkConfig` with fmap_base
    16384 and psi 0.5 on all layers, plus the fields below. Config E is the same with
    `fmap_base=8192` (`run_training.py` sets it for configs A-E); the paper's Table 2 grid varies
    `g_architecture` and `d_architecture`. There is no progressive growing.

    Args:
        fmap_min: int. The block at 2**r has
            `clip(int(fmap_base / 2**((r - 1) * fmap_decay)), fmap_min, fmap_max)` feature maps.
            fmap_base 16384 (config F) doubles the maps from 64 px up compared with 8192
            (config E, v1).
        g_architecture: "skip" (config F: a ToRGB per resolution, images summed with FIR
            upsampling), "orig" (one ToRGB at the top) or "resnet" (residual blocks, one ToRGB).
        d_architecture: "resnet" (config F: residual blocks scaled by 1/sqrt(2)), "orig" or
            "skip" (a FromRGB per resolution on the FIR-downsampled image).
        resample_kernel: tuple of ints. 1-D taps of the FIR filter of every up/downsampling;
            the 2-D filter is their outer product normalised to sum 1.
        label_mapping: how a conditional network (label_size > 0) takes its labels.
            "concat" (NVlabs/stylegan2): G concatenates `labels @ E` (no bias) to z and
            normalizes both together; D scores with its label's output column.
            "embed" (stylegan2-ada-pytorch `training/networks.py:203-224, 663-665, 697-700`):
            G normalizes z and `embed(labels)` (a linear dense layer with bias, dlatent_size
            wide) separately and concatenates them; D projects its output onto
            `cmap = d_mapping(labels)`, `sum(out * cmap) / sqrt(cmap_dim)`.
        d_mapping_layers: int. With "embed": the lrelu dense layers of D's label mapping
            network after its normalized embedding (stylegan2-ada-pytorch `MappingNetwork`
            defaults, which `train.py` keeps for D: 8).
        d_mapping_lrmul: float. With "embed": their learning-rate multiplier (0.01).
        d_cmap_dim: int or None. With "embed": the width of D's label embedding, mapping layers
            and output (None: nf(1), the official `channels_dict[4]`).
        conv_clamp: float or None. Clamp the output of every synthesis layer, ToRGB and
            discriminator convolution except the resnet skips to +-conv_clamp (times the
            layer's extra gain), after the activation gain, as stylegan2-ada-pytorch does
            (`networks.py:167-168, 303, 323`; its `train.py` sets 256 unless `--fp32`).
            None: no clamp (NVlabs/stylegan2).
    """

    fmap_base: int = 16384
    truncation_psi: float | None = 0.5
    truncation_cutoff: int | None = None
    fmap_min: int = 1
    # Architectures (official `architecture` argument of G_synthesis_stylegan2 / D_stylegan2).
    g_architecture: str = "skip"
    d_architecture: str = "resnet"
    resample_kernel: tuple = (1, 3, 3, 1)
    # Conditioning and clamping of stylegan2-ada-pytorch networks (defaults: NVlabs/stylegan2).
    label_mapping: str = "concat"
    d_mapping_layers: int = 8
    d_mapping_lrmul: float = 0.01
    d_cmap_dim: int | None = None
    conv_clamp: float | None = None

    family: ClassVar[str] = "stylegan2"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.fmap_min, int) or self.fmap_min < 1:
            raise UserError(
                f"`fmap_min` must be a positive int. Received: fmap_min={self.fmap_min!r}"
            )
        for name in ("g_architecture", "d_architecture"):
            value = getattr(self, name)
            if value not in ARCHITECTURES:
                raise UserError(
                    f"`{name}` must be one of {ARCHITECTURES}. Received: {name}={value!r}"
                )
        taps = tuple(self.resample_kernel)
        if not taps or not all(isinstance(t, (int, float)) for t in taps) or sum(taps) == 0:
            raise UserError(
                "`resample_kernel` must be a non-empty list of numbers with a non-zero sum. "
                f"Received: resample_kernel={self.resample_kernel!r}"
            )
        # Normalise list-valued fields read from YAML/JSON.
        object.__setattr__(self, "resample_kernel", taps)
        if self.label_mapping not in LABEL_MAPPINGS:
            raise UserError(f"`label_mapping` must be one of {LABEL_MAPPINGS}. "
                            f"Received: label_mapping={self.label_mapping!r}")
        if not isinstance(self.d_mapping_layers, int) or self.d_mapping_layers < 0:
            raise UserError("`d_mapping_layers` must be a non-negative int. "
                            f"Received: d_mapping_layers={self.d_mapping_layers!r}")
        for name in ("d_mapping_lrmul", "conv_clamp"):
            value = getattr(self, name)
            if name == "conv_clamp" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise UserError(f"`{name}` must be a positive number. Received: {name}={value!r}")
        cmap = self.d_cmap_dim
        if cmap is not None and (isinstance(cmap, bool) or not isinstance(cmap, int) or cmap < 1):
            raise UserError(f"`d_cmap_dim` must be a positive int or None. Received: {cmap!r}")

    def to_dict(self) -> dict:
        """Plain data, as `BaseNetworkConfig.to_dict`, without the stylegan2-ada-pytorch
        options at their defaults: the config of a network that does not use them is the same
        plain data as a config without them (run directories compare it when resuming)."""
        d = super().to_dict()
        for name in ADA_OPTIONS:
            if d[name] == _DEFAULTS[name]:
                del d[name]
        return d

    @property
    def cmap_dim(self) -> int:
        """Width of D's label mapping network ("embed"): `d_cmap_dim`, or nf(1)."""
        return self.nf(1) if self.d_cmap_dim is None else self.d_cmap_dim

    def nf(self, stage: int) -> int:
        """Feature maps at `stage` (the official `nf`): the block at 2**res uses nf(res - 1)."""
        fmaps = int(self.fmap_base / (2.0 ** (stage * self.fmap_decay)))
        return min(max(fmaps, self.fmap_min), self.fmap_max)


# The options of stylegan2-ada-pytorch networks that NVlabs/stylegan2's networks do not have.
ADA_OPTIONS = ("label_mapping", "d_mapping_layers", "d_mapping_lrmul", "d_cmap_dim", "conv_clamp")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StyleGAN2Config)}


@dataclasses.dataclass(frozen=True)
class StyleGAN2RevisedConfig(StyleGAN2Config):
    """Architecture of the progressive StyleGAN2 networks of the paper's configs B-D (family
    "stylegan2-revised"; Karras et al. 2020, Table 1: weight demodulation, lazy and path-length
    regularization before "no growing").

    NVlabs/stylegan2 `training/networks_stylegan2.py` `G_synthesis_stylegan_revised` and
    `D_stylegan`: StyleGAN2's modulated layers, noise and FIR resampling in StyleGAN's
    progressive structure, the architecture "orig" at every level (no skips, no residuals) with
    a ToRGB / FromRGB per level. The defaults are those functions' (fmap_base 16384, as every
    StyleGAN2 network's; `run_training.py` sets 8192 for configs A-E, as the presets
    `configs/stylegan2-config-{b,c,d}.yaml` do). `g_architecture` and `d_architecture` can only
    be "orig", and the stylegan2-ada-pytorch options (`ADA_OPTIONS`) only their defaults: these
    networks have neither.
    """

    g_architecture: str = "orig"
    d_architecture: str = "orig"

    family: ClassVar[str] = "stylegan2-revised"

    def __post_init__(self):
        super().__post_init__()
        for name in ("g_architecture", "d_architecture"):
            if getattr(self, name) != "orig":
                raise UserError(f"the progressive StyleGAN2 networks (configs B-D) are 'orig' at "
                                f"every level: `{name}` must be 'orig'. "
                                f"Received: {name}={getattr(self, name)!r}")
        for name in ADA_OPTIONS:
            if getattr(self, name) != _DEFAULTS[name]:
                raise UserError(f"`{name}` is an option of stylegan2-ada-pytorch's networks, not "
                                f"of the progressive StyleGAN2 networks (configs B-D). "
                                f"Received: {name}={getattr(self, name)!r}")

    def num_layers_at(self, resolution: int) -> int:
        """Dlatent rows used when the networks run at an intermediate `resolution`."""
        return 2 * int(math.log2(resolution)) - 2
