"""StyleGAN2's own import tests: the official defaults of released pickles, every architecture
of the paper's Table 2, the stored up-convolution kernels, and what only StyleGAN2's converter
refuses. (Both families against their official fixtures: test_legacy.py.)

The fixture (tests/fixtures/official-stylegan2/README.md) has config F's architectures only. The
others have no official outputs: random official-layout variables go through the importer and
our networks are compared with the float64 numpy transcription of the official networks
(tests/tf_stylegan/stylegan2_numpy.py), which itself reproduces the fixture.
"""

import os

import numpy as np
import pytest

from tests.paths import FIXTURES
from tests.tf_stylegan.stylegan2_numpy import (
    np_discriminator,
    np_mapping,
    np_synthesis,
    random_official_discriminator,
    random_official_generator,
)
from tf_stylegan import legacy
from tf_stylegan.errors import UserError
from tf_stylegan.families import STYLEGAN2
from tf_stylegan.legacy import OfficialNetwork, read_official_pickle
from tf_stylegan.legacy.transfer import convert_network

BASE = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32")
# max |ours - numpy| / max |numpy| of each output. Measured (2 CPU cores, oneDNN): images
# 2.9e-7 to 7.6e-7, D 1.1e-7 (orig), 1.8e-6 (skip), 4.0e-6 (resnet); 10x the largest.
TOLERANCE = 4e-5


def nchw(x):
    return np.transpose(np.asarray(x), [0, 3, 1, 2])


def nhwc(x):
    return np.transpose(np.asarray(x), [0, 2, 3, 1])


def rel_error(got, ref):
    return np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max()


@pytest.fixture(scope="module")
def converted():
    G, D, Gs = legacy.load_official_pickle(BASE + ".pkl")  # dispatched on G_main
    return G, D, Gs, dict(np.load(BASE + "-outputs.npz"))


def test_missing_static_kwargs_take_the_official_stylegan2_defaults():
    # Released config-F pickles carry only these three keys.
    kwargs = {"num_channels": 3, "resolution": 1024, "label_size": 0}
    cfg = legacy.config_from_static_kwargs(kwargs, "stylegan2", "G")
    assert cfg.fmap_base == 16384 and cfg.nf(5) == 512 and cfg.nf(9) == 32
    assert (cfg.g_architecture, cfg.d_architecture) == ("skip", "resnet")
    assert (cfg.truncation_psi, cfg.truncation_cutoff) == (0.5, None)
    # Table 2 networks name their architecture; it belongs to the network that holds it.
    assert legacy.config_from_static_kwargs(
        {**kwargs, "architecture": "orig"}, "stylegan2", "D").d_architecture == "orig"
    assert legacy.config_from_static_kwargs(
        {**kwargs, "architecture": "resnet"}, "stylegan2", "G").g_architecture == "resnet"


def test_numpy_reference_reproduces_official_outputs():
    # The float64 transcription used for the other architectures, checked on ground truth.
    _, D_net, Gs_net = read_official_pickle(BASE + ".pkl")
    out = dict(np.load(BASE + "-outputs.npz"))
    v = Gs_net.all_variables()
    w = np_mapping(v, out["z"], num_layers=8)
    assert rel_error(w, out["w"]) < 1e-5
    assert rel_error(nchw(np_synthesis(v, out["w"], 32, "skip")), out["synth"]) < 1e-5
    avg = v["dlatent_avg"].astype(np.float64)
    psi05 = np_synthesis(v, avg + 0.5 * (w - avg), 32, "skip")
    assert rel_error(nchw(psi05), out["psi05"]) < 1e-5
    d = np_discriminator(D_net.variables, nhwc(out["D_in"]), "resnet")
    assert rel_error(d, out["D"]) < 1e-5


def test_up_conv_kernels_are_used_as_stored(converted):
    # Our up-conv is the official transposed convolution: flipping the kernels breaks parity.
    G, D, Gs, out = converted
    ups = [layer.conv.weight for layer in Gs.synthesis.conv_layers if layer.up]
    assert len(ups) == 3
    saved = [v.numpy() for v in ups]
    for v, value in zip(ups, saved):
        v.assign(value[::-1, ::-1])
    try:
        assert rel_error(nchw(Gs.synthesis(out["w"], noise="const")), out["synth"]) > 1e-2
    finally:
        for v, value in zip(ups, saved):
            v.assign(value)


def official_networks(g_arch, d_arch, resolution=16, fmap_base=64, fmap_max=16, latent=16,
                      seed=0):
    """Official-layout (G, D) states with random variables, as `read_official_pickle` gives."""
    rng = np.random.default_rng(seed)
    kwargs = dict(latent_size=latent, dlatent_size=latent, mapping_fmaps=latent,
                  mapping_layers=2, num_channels=3, resolution=resolution, label_size=0,
                  fmap_base=fmap_base, fmap_max=fmap_max)
    own, mapping, synth = random_official_generator(rng, resolution, fmap_base, fmap_max,
                                                    latent=latent, architecture=g_arch)

    def net(name, func, variables, static_kwargs, components=None):
        return OfficialNetwork.from_state({
            "version": 4, "name": name, "static_kwargs": static_kwargs,
            "components": components or {}, "build_module_src": "# omitted",
            "build_func_name": func, "variables": list(variables.items())})

    g_kwargs = {**kwargs, "architecture": g_arch}
    G = net("Gs", "G_main", own, g_kwargs, {
        "synthesis": net("G_synthesis", "G_synthesis_stylegan2", synth, g_kwargs),
        "mapping": net("G_mapping", "G_mapping", mapping, {**g_kwargs, "dlatent_broadcast": 6}),
    })
    d_kwargs = dict(num_channels=3, resolution=resolution, label_size=0, fmap_base=fmap_base,
                    fmap_max=fmap_max, architecture=d_arch)
    D = net("D", "D_stylegan2",
            random_official_discriminator(rng, resolution, fmap_base, fmap_max, d_arch), d_kwargs)
    return G, D


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "orig"), ("resnet", "skip"),
                                           ("skip", "resnet")])
def test_every_architecture_matches_the_numpy_reference(g_arch, d_arch):
    G_net, D_net = official_networks(g_arch, d_arch)
    Gs = legacy.convert_generator(G_net)
    D = legacy.convert_discriminator(D_net)
    assert (Gs.config.g_architecture, D.config.d_architecture) == (g_arch, d_arch)
    v = G_net.all_variables()
    z = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    w = np_mapping(v, z, num_layers=6)
    avg = v["dlatent_avg"].astype(np.float64)
    ref = np_synthesis(v, avg + 0.5 * (w - avg), 16, g_arch)
    assert rel_error(Gs(z, noise="const"), ref) < TOLERANCE
    # A different w for every layer (as after style mixing): each layer reads its own row, the
    # ToRGB of 2^r the row 2r - 3.
    rows = np.random.default_rng(3).standard_normal((4, 6, 16)).astype(np.float32)
    ref = np_synthesis(v, rows, 16, g_arch)
    assert rel_error(Gs.synthesis(rows, noise="const"), ref) < TOLERANCE
    images = np.random.default_rng(2).standard_normal((4, 16, 16, 3)).astype(np.float32)
    assert rel_error(D(images), np_discriminator(D_net.variables, images, d_arch)) < TOLERANCE


def test_networks_that_are_not_stylegan2_are_refused():
    G_net, D_net, Gs_net = read_official_pickle(BASE + ".pkl")
    Gs_net.components["synthesis"].build_func_name = "G_synthesis_stylegan_revised"
    with pytest.raises(UserError, match="net.pkl.*G_synthesis_stylegan_revised"):
        convert_network(STYLEGAN2, Gs_net, "G", where="net.pkl")
    kwargs = dict(G_net.static_kwargs)
    with pytest.raises(UserError, match="synthesis_func"):
        legacy.config_from_static_kwargs(
            {**kwargs, "synthesis_func": "G_synthesis_stylegan_revised"}, "stylegan2")
    with pytest.raises(UserError, match="net.pkl: `g_architecture` must be one of"):
        legacy.config_from_static_kwargs({**kwargs, "architecture": "dense"}, "stylegan2",
                                         where="net.pkl")
