"""The StyleGAN2 networks (Karras et al. 2020, arXiv 1912.04958): mapping, synthesis, generator,
discriminator, each configured by a `StyleGAN2Config`."""

from tf_stylegan.networks.stylegan2.discriminator import StyleGAN2Discriminator
from tf_stylegan.networks.stylegan2.generator import StyleGAN2Generator
from tf_stylegan.networks.stylegan2.label_projection import LabelProjection
from tf_stylegan.networks.stylegan2.mapping import StyleGAN2Mapping
from tf_stylegan.networks.stylegan2.synthesis import StyleGAN2Synthesis, SynthesisLayer

__all__ = ["LabelProjection", "StyleGAN2Discriminator", "StyleGAN2Generator", "StyleGAN2Mapping",
           "StyleGAN2Synthesis", "SynthesisLayer"]
