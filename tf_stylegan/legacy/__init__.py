"""NVIDIA's official network pickles -> tf_stylegan networks, executing nothing from the file.

    G, D, Gs = tf_stylegan.legacy.load_official_pickle("karras2019stylegan-ffhq-1024x1024.pkl")

Two steps, one module each:

* `official_network`: reads the pickle's `(G, D, Gs)` into `OfficialNetwork` objects (plain
  data: names, build-function keyword arguments, numpy variables) with the restricted unpickler
  of `pickle_reader`; see its docstring for the security guarantee.
* A mapping module per architecture copies the official variables onto our Keras networks:
  `stylegan` for StyleGAN (build function `G_style`, NVlabs/stylegan) and `stylegan2` for
  StyleGAN2 (`G_main`, NVlabs/stylegan2); `transfer` holds what they share.
  `load_official_pickle` picks the mapping in `_mapping_for`.
"""

import os

from tf_stylegan.errors import UserError
from tf_stylegan.legacy import stylegan, stylegan2
from tf_stylegan.legacy.official_network import (
    SUPPORTED_VERSIONS,
    OfficialNetwork,
    read_official_pickle,
)
from tf_stylegan.legacy.pickle_reader import UnsafePickleError
from tf_stylegan.legacy.stylegan import (
    config_from_static_kwargs,
    convert_discriminator,
    convert_generator,
    discriminator_targets,
    generator_targets,
)

__all__ = [
    "SUPPORTED_VERSIONS", "OfficialNetwork", "UnsafePickleError", "config_from_static_kwargs",
    "convert_discriminator", "convert_generator", "discriminator_targets", "generator_targets",
    "load_official_pickle", "read_official_pickle",
]


def _mapping_for(Gs_net, where):
    """The module mapping the pickle's variables onto ours, chosen by the generator's official
    build function (`Network.build_func_name`, stored in every official pickle)."""
    name = Gs_net.build_func_name
    if name == "G_style":  # StyleGAN: NVlabs/stylegan training/networks_stylegan.py
        return stylegan
    if name == "G_main":  # StyleGAN2: NVlabs/stylegan2 training/networks_stylegan2.py
        return stylegan2
    raise UserError(
        f"{where}: unsupported generator build function {name!r}; StyleGAN (G_style) and "
        "StyleGAN2 (G_main) pickles can be loaded."
    )


def load_official_pickle(path):
    """Reads an official StyleGAN or StyleGAN2 pickle (G, D, Gs) into our networks, executing
    nothing from the file.

    Returns:
        (G, D, Gs): `Generator`, `Discriminator`, `Generator` for StyleGAN, and
        `StyleGAN2Generator`, `StyleGAN2Discriminator`, `StyleGAN2Generator` for StyleGAN2,
        with every weight, noise buffer and `dlatent_avg` copied.

    Raises:
        UserError: the file is missing, unreadable, unsafe (`UnsafePickleError`), of an
            unsupported architecture, or has a variable left unmapped or of
            the wrong shape.
    """
    G_net, D_net, Gs_net = read_official_pickle(path)
    where = os.fspath(path)
    return _mapping_for(Gs_net, where).convert_networks(G_net, D_net, Gs_net, where)
