"""The StyleGAN2 networks (Karras et al. 2020, arXiv 1912.04958): mapping, synthesis, generator,
discriminator, each configured by a `StyleGAN2Config`; and the progressive networks of the
paper's configs B-D (`Revised*`, configured by a `StyleGAN2RevisedConfig`)."""

from tf_stylegan.networks.stylegan2.discriminator import StyleGAN2Discriminator
from tf_stylegan.networks.stylegan2.generator import StyleGAN2Generator
from tf_stylegan.networks.stylegan2.label_projection import LabelProjection
from tf_stylegan.networks.stylegan2.mapping import StyleGAN2Mapping
from tf_stylegan.networks.stylegan2.revised_discriminator import RevisedDiscriminator
from tf_stylegan.networks.stylegan2.revised_generator import RevisedGenerator
from tf_stylegan.networks.stylegan2.revised_synthesis import RevisedSynthesis
from tf_stylegan.networks.stylegan2.synthesis import StyleGAN2Synthesis, SynthesisLayer

__all__ = ["LabelProjection", "RevisedDiscriminator", "RevisedGenerator", "RevisedSynthesis",
           "StyleGAN2Discriminator", "StyleGAN2Generator", "StyleGAN2Mapping",
           "StyleGAN2Synthesis", "SynthesisLayer"]
