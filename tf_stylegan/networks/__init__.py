"""The networks: mapping, synthesis, generator (mapping + synthesis), discriminator, for StyleGAN
(this package's modules) and StyleGAN2 (`networks.stylegan2`, with the progressive networks of
its configs B-D)."""

from tf_stylegan.networks.discriminator import Discriminator
from tf_stylegan.networks.generator import Generator
from tf_stylegan.networks.mapping import Mapping
from tf_stylegan.networks.stylegan2 import (
    RevisedDiscriminator,
    RevisedGenerator,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN2Mapping,
    StyleGAN2Synthesis,
)
from tf_stylegan.networks.synthesis import LayerEpilogue, Synthesis

__all__ = ["Discriminator", "Generator", "LayerEpilogue", "Mapping", "RevisedDiscriminator",
           "RevisedGenerator", "StyleGAN2Discriminator",
           "StyleGAN2Generator", "StyleGAN2Mapping", "StyleGAN2Synthesis", "Synthesis"]
