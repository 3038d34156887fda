"""NetworkConfig: every shape and default of the official StyleGAN networks, in one place.

Defaults are the official values of `G_style`, `G_mapping`, `G_synthesis` and `D_basic`
(NVlabs/stylegan `training/networks_stylegan.py`); the ablation switches reproduce the
paper's Table 1 configurations (arXiv 1812.04948, section 2 and Table 1).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tf_stylegan.errors import UserError


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the generator and the discriminator.

    Args:
        resolution: int. Output resolution, a power of two >= 4.
        num_channels: int. Image channels (3 for RGB, 1 for grayscale).
        label_size: int. Dimensionality of the (one-hot) conditioning labels, 0 for none.
        latent_size: int. Dimensionality of z.
        dlatent_size: int. Dimensionality of w.
        mapping_layers: int. Dense layers in the mapping network (0 = config B/C "no mapping").
        mapping_fmaps: int. Width of the hidden mapping layers.
        mapping_lrmul: float. Learning-rate multiplier of the mapping network.
        normalize_latents: bool. Pixel-normalize z (after the label embedding) before mapping.
        fmap_base: int. Feature maps are `min(fmap_base / 2**(stage * fmap_decay), fmap_max)`.
        fmap_decay: float.
        fmap_max: int.
        use_styles: bool. AdaIN style modulation (False = traditional generator, config B).
        const_input_layer: bool. Learned constant 4x4 input (False = dense from w, configs B/C).
        use_noise: bool. Per-pixel noise inputs (configs E/F).
        use_pixel_norm: bool. Pixel norm in the synthesis epilogue (config B).
        use_instance_norm: bool. Instance norm in the synthesis epilogue.
        use_wscale: bool. Equalized learning rate.
        fused_scale: "auto" | True | False. Fused up/down-sampling convolutions; "auto" uses
            them where the larger side of the op is >= 128 px, as the official code does.
        blur_filter: tuple of ints, or () for no blur. Low-pass filter of the resampling ops.
        truncation_psi: float. Default truncation at inference (None or 1.0 = off).
        truncation_cutoff: int. Truncate layers with index < cutoff.
        dlatent_avg_beta: float. Decay of the moving average of w used for truncation.
        style_mixing_prob: float. Probability of mixing two latents in a training minibatch.
        mbstd_group_size: int. Minibatch-stddev group size (0 = no minibatch stddev layer).
        mbstd_num_features: int. Features produced by the minibatch stddev layer.

    Raises:
        UserError: a field has an invalid value (the message names the field and the value).
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
    # Synthesis network (G_synthesis) and the Table 1 ablation switches.
    use_styles: bool = True
    const_input_layer: bool = True
    use_noise: bool = True
    use_pixel_norm: bool = False
    use_instance_norm: bool = True
    use_wscale: bool = True
    fused_scale: Any = "auto"
    blur_filter: tuple = (1, 2, 1)
    # Generator wrapper (G_style).
    truncation_psi: float | None = 0.7
    truncation_cutoff: int | None = 8
    dlatent_avg_beta: float | None = 0.995
    style_mixing_prob: float | None = 0.9
    # Discriminator (D_basic).
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1

    def __post_init__(self):
        res = self.resolution
        if not isinstance(res, int) or res < 4 or res & (res - 1):
            raise UserError(
                f"`resolution` must be a power of two >= 4. Received: resolution={res!r}"
            )
        for name in ("num_channels", "latent_size", "dlatent_size", "mapping_fmaps",
                     "fmap_base", "fmap_max"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        for name in ("label_size", "mapping_layers", "mbstd_group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(
                    f"`{name}` must be a non-negative int. Received: {name}={value!r}"
                )
        if self.fused_scale not in ("auto", True, False):
            raise UserError(
                "`fused_scale` must be 'auto', True or False. "
                f"Received: fused_scale={self.fused_scale!r}"
            )
        if self.mapping_layers == 0:
            mapped = self.latent_size * (2 if self.label_size else 1)
            if mapped != self.dlatent_size:
                raise UserError(
                    "With mapping_layers=0, w is the normalized z (with the label embedding "
                    f"concatenated), so dlatent_size must be {mapped}. "
                    f"Received: dlatent_size={self.dlatent_size}"
                )
        # Normalise list-valued fields read from YAML/JSON.
        object.__setattr__(self, "blur_filter", tuple(int(v) for v in self.blur_filter))

    # --- Derived quantities -------------------------------------------------------------
    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Number of style inputs of the synthesis network: 2 per resolution, 18 at 1024."""
        return 2 * self.resolution_log2 - 2

    def nf(self, stage: int) -> int:
        """Feature maps at `stage` (the official `nf`): the block at 2**res uses nf(res - 1)."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)

    def num_layers_at(self, resolution: int) -> int:
        """Style inputs used when the networks run at an intermediate `resolution`."""
        return 2 * int(math.log2(resolution)) - 2

    def uses_fused(self, size: int) -> bool:
        """Whether a resampling op whose larger side is `size` px uses the fused form."""
        if self.fused_scale == "auto":
            return size >= 128
        return bool(self.fused_scale)

    # --- Serialization ------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["blur_filter"] = list(self.blur_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise UserError(f"Unknown NetworkConfig keys: {unknown}")
        return cls(**d)

    def replace(self, **changes) -> "NetworkConfig":
        return dataclasses.replace(self, **changes)
