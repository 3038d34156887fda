"""NVIDIA's official network pickles -> tf_stylegan networks, executing nothing from the file.

    G, D, Gs = tf_stylegan.legacy.load_official_pickle("karras2019stylegan-ffhq-1024x1024.pkl")

Two kinds of pickles, told apart by their top-level object: NVIDIA's TF pickles (NVlabs/stylegan,
NVlabs/stylegan2) hold a tuple `(G, D, Gs)`, stylegan2-ada-pytorch's a dict with G, D and
G_ema (`pytorch_network` reads it, `stylegan2_ada` maps it onto our StyleGAN2 networks). A TF
pickle is read in two steps:

* `official_network` reads the pickle's `(G, D, Gs)` into `OfficialNetwork` objects (plain
  data: names, build-function keyword arguments, numpy variables) with the restricted unpickler
  of `pickle_reader`; see its docstring for the security guarantee.
* `transfer` converts them into our networks, one converter for every family: the network
  family (`tf_stylegan.families`) is the one whose official network has the build function
  stored in the pickle, and its `PickleFormat` (in `stylegan` for NVlabs/stylegan's `G_style`,
  `stylegan2` for NVlabs/stylegan2's `G_main`) names where each official variable goes.
"""

from tf_stylegan.legacy import transfer
from tf_stylegan.legacy.official_network import (
    SUPPORTED_VERSIONS,
    OfficialNetwork,
    read_official_pickle,
)
from tf_stylegan.legacy.pickle_reader import UnsafePickleError, check_readable_file
from tf_stylegan.legacy.pytorch_network import (
    PersistentModule,
    is_pytorch_snapshot,
    read_pytorch_pickle,
)
from tf_stylegan.legacy.stylegan2_ada import load_pytorch_pickle
from tf_stylegan.legacy.transfer import PickleFormat

__all__ = [
    "SUPPORTED_VERSIONS", "OfficialNetwork", "PersistentModule", "PickleFormat",
    "UnsafePickleError", "config_from_static_kwargs", "convert_discriminator",
    "convert_generator", "convert_networks", "load_official_pickle", "load_pytorch_pickle",
    "read_official_pickle", "read_pytorch_pickle",
]

# `source_format` of the networks read from NVIDIA's TF pickles (see `load_official_pickle`).
TF_SOURCE_FORMAT = "official-tf"


def _family(build_func_name, network, where):
    # The registry imports the family formats of this package: it is imported on first use.
    from tf_stylegan.families import family_for_build_func

    return family_for_build_func(build_func_name, network, where)


def convert_generator(net, where="pickle"):
    """Our generator, with its weights, from an official G or Gs (`OfficialNetwork`) of the
    family whose official generator has `net`'s build function."""
    return transfer.convert_network(_family(net.build_func_name, "G", where), net, "G", where)


def convert_discriminator(net, where="pickle"):
    """Our discriminator, with its weights, from an official D (`OfficialNetwork`) of the
    family whose official discriminator has `net`'s build function."""
    return transfer.convert_network(_family(net.build_func_name, "D", where), net, "D", where)


def config_from_static_kwargs(static_kwargs, family="stylegan", network="G", where="pickle"):
    """Our config of the family named `family` from an official network's `static_kwargs`
    (`transfer.config_from_static_kwargs`)."""
    from tf_stylegan.families import get_family

    return transfer.config_from_static_kwargs(get_family(family), static_kwargs, network, where)


def convert_networks(G_net, D_net, Gs_net, where="pickle"):
    """Our `(G, D, Gs)` from the official `(G, D, Gs)` of a pickle, weights included."""
    family = _family(Gs_net.build_func_name, "G", where)
    return transfer.convert_networks(family, G_net, D_net, Gs_net, where)


def load_official_pickle(path, with_info=False):
    """Reads an official network pickle into our networks, executing nothing from the file:
    NVIDIA's StyleGAN or StyleGAN2 TF pickle `(G, D, Gs)`, or a stylegan2-ada-pytorch pickle
    (`network-snapshot-*.pkl`: G, D, G_ema; `load_pytorch_pickle`), told apart by content.

    Returns:
        (G, D, Gs): the family's generator, discriminator and generator classes
        (`Generator`, `Discriminator`, `Generator` for StyleGAN; `StyleGAN2Generator`,
        `StyleGAN2Discriminator`, `StyleGAN2Generator` for StyleGAN2 and stylegan2-ada-pytorch,
        whose G_ema is Gs), with every weight, noise buffer and `dlatent_avg` copied. With
        `with_info`, also where they came from: `{"source": path, "source_format":
        "official-tf" or "stylegan2-ada-pytorch", ...}` (stylegan2-ada-pytorch's adds
        "augment_pipe" and "training_set_kwargs", see `load_pytorch_pickle`).

    Raises:
        UserError: the file is missing, unreadable, unsafe (`UnsafePickleError`), of an
            unsupported architecture, or has a variable left unmapped or of the wrong shape.
    """
    where = check_readable_file(path, "official network pickle")
    try:
        pytorch = is_pytorch_snapshot(where)
    except OSError:
        pytorch = False  # the reader below reports why the file cannot be read
    if pytorch:
        return load_pytorch_pickle(where, with_info=with_info)
    G_net, D_net, Gs_net = read_official_pickle(where)
    networks = convert_networks(G_net, D_net, Gs_net, where)
    if not with_info:
        return networks
    return (*networks, {"source": where, "source_format": TF_SOURCE_FORMAT})
