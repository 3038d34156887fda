"""The StyleGAN networks: mapping, synthesis, generator (mapping + synthesis), discriminator."""

from tf_stylegan.networks.discriminator import Discriminator
from tf_stylegan.networks.generator import Generator
from tf_stylegan.networks.mapping import Mapping
from tf_stylegan.networks.synthesis import LayerEpilogue, Synthesis

__all__ = ["Discriminator", "Generator", "LayerEpilogue", "Mapping", "Synthesis"]
