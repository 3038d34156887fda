"""The network families, one registry entry each: everything that differs between StyleGAN and
StyleGAN2, in one place.

A `NetworkFamily` names a family's config class, generator and discriminator, the layout of its
official NVIDIA pickles, and the defaults that the training loop, the metrics and the
applications take from it (its losses, schedule, image grid, metric sample counts, figure
style). Callers look a family up by name (`get_family`) or from a network's config
(`family_of`); they never compare family names.

    >>> family = get_family("stylegan2")
    >>> G = family.generator_class(family.config_class(resolution=64))

Adding a family is `register_family(NetworkFamily(...))` with a config class (a subclass of
`tf_stylegan.config.BaseNetworkConfig` whose `family` is the entry's name) and networks that
take the same call arguments as `Generator` and `Discriminator` (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from tf_stylegan.config import (
    BaseNetworkConfig,
    NetworkConfig,
    StyleGAN2Config,
    StyleGAN2RevisedConfig,
)
from tf_stylegan.errors import UserError
from tf_stylegan.legacy import stylegan as stylegan_pickles
from tf_stylegan.legacy import stylegan2 as stylegan2_pickles
from tf_stylegan.legacy.transfer import PickleFormat
from tf_stylegan.networks import (
    Discriminator,
    Generator,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)
from tf_stylegan.networks.stylegan2 import RevisedDiscriminator, RevisedGenerator

__all__ = ["STYLEGAN", "STYLEGAN2", "STYLEGAN2_REVISED", "NetworkFamily", "family_for_build_func",
           "family_of", "get_family", "list_families", "register_family", "unregister_family"]


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkFamily:
    """One network family and the defaults the rest of the project takes from it.

    Args:
        name: str. The family's name (`config_class.family`; "family" in snapshots, presets
            and run directory names).
        config_class: its config dataclass, a subclass of `BaseNetworkConfig`.
        generator_class, discriminator_class: its Keras models, built from a config.
        pickles: `tf_stylegan.legacy.transfer.PickleFormat` of its official TF pickles, or None.
        progressive: bool. It grows progressively (a `lod` / fade-in `alpha`, per-level
            training); otherwise its networks run at full resolution only.
        losses: str. The training losses that train it by default (`training` looks the name
            up: "stylegan" is NVlabs/stylegan's loop, "stylegan2" NVlabs/stylegan2's with lazy
            regularization and gradient accumulation; a training config's `losses` may choose
            the other, as the StyleGAN2 paper's config A does).
        loss_types: tuple of the `TrainingConfig.loss` values its losses support.
        lazy_regularization: bool. By default its regularizers run every `G_reg_interval` /
            `D_reg_interval` minibatches as extra steps (NVlabs/stylegan2); otherwise R1 is part
            of every D step (a training config's `lazy_regularization` may choose).
        gradient_accumulation: bool. Its training may split a replica's minibatch into passes
            of `minibatch_gpu` samples whose gradients are summed.
        schedule: str or None. The schedule table it trains with (None: the official StyleGAN
            table of the replica count, "<N>gpu").
        grid_pixels: (width, height) of the official image grid the training snapshots tile
            ('4k' for StyleGAN, '8k' for StyleGAN2).
        seeded_noise: bool. Generation from a seed draws the random noise maps from the seed's
            RandomState after z (NVlabs/stylegan2 run_generator.py); otherwise statelessly.
        style_mixing_figure: "layer-ranges" (the StyleGAN paper's figure 3: coarse, middle and
            fine styles) or "column-styles" (NVlabs/stylegan2 run_generator.py's figure).
        metric_defaults: {metric: (num_samples, minibatch)} replacing the registry's official
            StyleGAN defaults for this family's generators.
        litert_unsupported: str or None. Why its graphs do not convert to LiteRT's built-in
            ops (None: they do).
    """

    name: str
    config_class: type
    generator_class: type
    discriminator_class: type
    pickles: PickleFormat | None = None
    progressive: bool = False
    losses: str = "stylegan2"
    loss_types: tuple = ("logistic",)
    lazy_regularization: bool = True
    gradient_accumulation: bool = True
    schedule: str | None = None
    grid_pixels: tuple = (7680, 4320)
    seeded_noise: bool = True
    style_mixing_figure: str = "column-styles"
    metric_defaults: MappingProxyType = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))
    litert_unsupported: str | None = None

    def __post_init__(self):
        if not (isinstance(self.config_class, type)
                and issubclass(self.config_class, BaseNetworkConfig)):
            raise TypeError(f"`config_class` must subclass BaseNetworkConfig. "
                            f"Received: config_class={self.config_class!r}")
        if getattr(self.config_class, "family", None) != self.name:
            raise ValueError(f"{self.config_class.__name__}.family must be {self.name!r}. "
                             f"Received: {getattr(self.config_class, 'family', None)!r}")
        if self.style_mixing_figure not in ("layer-ranges", "column-styles"):
            raise ValueError("`style_mixing_figure` must be 'layer-ranges' or 'column-styles'. "
                             f"Received: {self.style_mixing_figure!r}")
        object.__setattr__(self, "metric_defaults", MappingProxyType(dict(self.metric_defaults)))


_FAMILIES: dict[str, NetworkFamily] = {}


def register_family(family: NetworkFamily) -> NetworkFamily:
    """Adds `family` to the registry (a name may be registered once)."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a network family named {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> NetworkFamily:
    """Removes the family registered as `name` from the registry and returns it (UserError for
    an unknown name). Networks and configs of the family keep working; looking it up by name
    (snapshots, presets, `get_family`) no longer finds it."""
    family = get_family(name)
    del _FAMILIES[name]
    return family


def list_families() -> list[str]:
    """Names of the registered families."""
    return sorted(_FAMILIES)


def get_family(name: str) -> NetworkFamily:
    """The family registered as `name` (UserError for an unknown name)."""
    try:
        return _FAMILIES[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown network family {name!r} (known: {list_families()})") from None


def family_of(config_or_network) -> NetworkFamily:
    """The family of a network config, or of a network (its `config`)."""
    config = getattr(config_or_network, "config", config_or_network)
    return get_family(getattr(config, "family", None))


def family_for_build_func(build_func_name: str, network: str = "G",
                          where: str = "pickle") -> NetworkFamily:
    """The family whose official generator (`network` "G") or discriminator ("D") is built by
    `build_func_name` (an official pickle's `Network.build_func_name`)."""
    kind = {"G": "generator", "D": "discriminator"}[network]

    def func(family):
        return getattr(family.pickles, f"{kind}_func")

    with_pickles = [f for f in _FAMILIES.values() if f.pickles is not None]
    for family in with_pickles:
        if func(family) == build_func_name:
            return family
    known = ", ".join(f"{f.name} ({func(f)})" for f in with_pickles)
    raise UserError(f"{where}: unsupported {kind} build function {build_func_name!r}; "
                    f"pickles of {known} can be loaded.")


# NVlabs/stylegan: progressive growing, the per-GPU schedule tables, the '4k' grid.
STYLEGAN = register_family(NetworkFamily(
    name="stylegan", config_class=NetworkConfig, generator_class=Generator,
    discriminator_class=Discriminator, pickles=stylegan_pickles.PICKLES, progressive=True,
    losses="stylegan", loss_types=("logistic", "wgangp"), lazy_regularization=False,
    gradient_accumulation=False, schedule=None,
    grid_pixels=(3840, 2160), seeded_noise=False, style_mixing_figure="layer-ranges"))

# NVlabs/stylegan2 (configs E and F): no growing, one schedule, the '8k' grid; its
# metric_defaults.py takes the PPL metrics over 50,000 samples in minibatches of 4.
STYLEGAN2 = register_family(NetworkFamily(
    name="stylegan2", config_class=StyleGAN2Config, generator_class=StyleGAN2Generator,
    discriminator_class=StyleGAN2Discriminator, pickles=stylegan2_pickles.PICKLES,
    progressive=False, losses="stylegan2", loss_types=("logistic",), lazy_regularization=True,
    gradient_accumulation=True, schedule="stylegan2",
    grid_pixels=(7680, 4320), seeded_noise=True, style_mixing_figure="column-styles",
    metric_defaults={name: (50000, 4)
                     for name in ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend")},
    litert_unsupported="their FIR upsampling pads a 6-D tensor; LiteRT's PAD takes at most 5"))

# NVlabs/stylegan2 configs B-D (Table 1): StyleGAN2's layers in progressive networks
# (`G_synthesis_stylegan_revised`, `D_stylegan`), trained in the StyleGAN2 loop with the growing
# schedule of run_training.py:84-92; lazy regularization by default (configs C, D; B turns it
# off in its preset), without pickles (the facts sheet lists no variable names of them).
STYLEGAN2_REVISED = register_family(NetworkFamily(
    name="stylegan2-revised", config_class=StyleGAN2RevisedConfig,
    generator_class=RevisedGenerator, discriminator_class=RevisedDiscriminator, pickles=None,
    progressive=True, losses="stylegan2", loss_types=("logistic",), lazy_regularization=True,
    gradient_accumulation=True, schedule="stylegan2-growing",
    grid_pixels=(7680, 4320), seeded_noise=True, style_mixing_figure="column-styles",
    metric_defaults=STYLEGAN2.metric_defaults, litert_unsupported=STYLEGAN2.litert_unsupported))
