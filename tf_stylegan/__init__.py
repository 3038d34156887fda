"""tf_stylegan: StyleGAN (Karras, Laine, Aila 2019) and StyleGAN2 (Karras et al. 2020) in
TensorFlow 2 and Keras 3.

    import tf_stylegan as sg
    G = sg.Generator(sg.NetworkConfig(resolution=1024))
    images = G(z, truncation_psi=0.7)            # NHWC in [-1, 1]
    G2 = sg.StyleGAN2Generator(sg.StyleGAN2Config(resolution=1024))
    images = G2(z)                               # psi 0.5 on all layers by default
"""

from tf_stylegan import families, layers, legacy, networks
from tf_stylegan.config import (
    BaseNetworkConfig,
    NetworkConfig,
    StyleGAN2Config,
    StyleGAN2RevisedConfig,
)
from tf_stylegan.export import export_saved_model
from tf_stylegan.networks import (
    Discriminator,
    Generator,
    Mapping,
    RevisedDiscriminator,
    RevisedGenerator,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN2Mapping,
    StyleGAN2Synthesis,
    Synthesis,
)
from tf_stylegan.snapshot import load_network, load_snapshot, save_snapshot

__version__ = "0.1.0"

__all__ = ["BaseNetworkConfig", "Discriminator", "Generator", "Mapping", "NetworkConfig",
           "RevisedDiscriminator", "RevisedGenerator", "StyleGAN2Config", "StyleGAN2RevisedConfig",
           "StyleGAN2Discriminator", "StyleGAN2Generator", "StyleGAN2Mapping",
           "StyleGAN2Synthesis", "Synthesis", "export_saved_model", "families", "layers", "legacy",
           "load_network", "load_snapshot", "networks", "save_snapshot"]
