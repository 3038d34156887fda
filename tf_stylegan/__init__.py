"""tf_stylegan: StyleGAN (Karras, Laine, Aila 2019) in TensorFlow 2 and Keras 3.

    import tf_stylegan as sg
    G = sg.Generator(sg.NetworkConfig(resolution=1024))
    images = G(z, truncation_psi=0.7)            # NHWC in [-1, 1]
"""

from tf_stylegan import layers, legacy, networks
from tf_stylegan.config import NetworkConfig
from tf_stylegan.export import export_saved_model
from tf_stylegan.networks import Discriminator, Generator, Mapping, Synthesis
from tf_stylegan.snapshot import load_network, load_snapshot, save_snapshot

__version__ = "0.1.0"

__all__ = ["Discriminator", "Generator", "Mapping", "NetworkConfig", "Synthesis",
           "export_saved_model", "layers", "legacy", "load_network", "load_snapshot", "networks",
           "save_snapshot"]
