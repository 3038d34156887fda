"""Official StyleGAN2 weights in, official outputs out.

The fixture is a pickle made by NVIDIA's StyleGAN2 network code (config F defaults: skip G,
resnet D) with every variable randomised, and the outputs that code gave
(tests/fixtures/official-stylegan2/README.md). The other architectures have no official
outputs: random official-layout variables go through the importer and our networks are compared
with the float64 numpy transcription of the official networks (tests/tf_stylegan/
stylegan2_numpy.py), which itself reproduces the fixture.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
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
TOLERANCE = 1e-4  # max |ours - official| / max |official|


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


def our_outputs(D, Gs, out):
    z = out["z"]
    return {
        "w": Gs.mapping(z),
        "synth": nchw(Gs.synthesis(out["w"], noise="const")),
        "psi1": nchw(Gs(z, truncation_psi=1.0, noise="const")),
        "psi05": nchw(Gs(z, noise="const")),  # the default: psi 0.5 on all layers
        "D": D(nhwc(out["D_in"])),
    }


def test_config_from_static_kwargs(converted):
    G, D, Gs, _ = converted
    expected = sg.StyleGAN2Config(resolution=32, fmap_base=512, fmap_max=64, latent_size=64,
                                  dlatent_size=64, mapping_fmaps=64)
    assert Gs.config == G.config == expected
    assert (Gs.config.g_architecture, D.config.d_architecture) == ("skip", "resnet")
    assert isinstance(Gs, sg.StyleGAN2Generator) and isinstance(D, sg.StyleGAN2Discriminator)


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


@pytest.mark.parametrize("output", ["w", "synth", "psi1", "psi05", "D"])
def test_reproduces_official_outputs(converted, output):
    G, D, Gs, out = converted
    got = our_outputs(D, Gs, out)[output]
    assert np.shape(got) == out[output].shape
    assert rel_error(got, out[output]) < TOLERANCE


def test_mapping_is_exact(converted):
    # Same ops in the same order as the official mapping.
    G, D, Gs, out = converted
    np.testing.assert_allclose(Gs.mapping(out["z"]), out["w"], rtol=1e-6, atol=1e-6)


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


def test_truncation_uses_the_imported_dlatent_avg(converted):
    G, D, Gs, out = converted
    saved = Gs.dlatent_avg.numpy()
    assert np.abs(saved).max() > 0
    Gs.dlatent_avg.assign(np.zeros_like(saved))
    try:
        assert rel_error(nchw(Gs(out["z"], noise="const")), out["psi05"]) > 1e-2
    finally:
        Gs.dlatent_avg.assign(saved)


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


def test_instantaneous_G_is_imported_too(converted):
    G, D, Gs, out = converted
    # The official trainable counts of the fixture networks (its README).
    assert G.count_params_trainable() == Gs.count_params_trainable() == 288_947
    assert G.mapping.count_params_trainable() == 33_280
    assert G.synthesis.count_params_trainable() == 255_667
    assert D.count_params_trainable() == 288_993
    # G and Gs are distinct networks in the pickle.
    assert np.abs(G.dlatent_avg.numpy() - Gs.dlatent_avg.numpy()).max() > 1e-3
    assert np.abs(np.asarray(G.mapping(out["z"])) - out["w"]).max() > 1e-3


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


def test_unmapped_missing_or_mismatched_variables_fail():
    G_net, D_net, Gs_net = read_official_pickle(BASE + ".pkl")
    D_net.variables["4x4/Extra/weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="no counterpart.*4x4/Extra/weight"):
        legacy.convert_discriminator(D_net)
    del D_net.variables["4x4/Extra/weight"]
    D_net.variables["Output/bias"] = np.zeros((2,), np.float32)
    with pytest.raises(ValueError, match="shape mismatch.*Output/bias"):
        legacy.convert_discriminator(D_net)
    del D_net.variables["Output/bias"]
    with pytest.raises(ValueError, match="missing.*Output/bias"):
        legacy.convert_discriminator(D_net)
    del Gs_net.components["synthesis"].variables["16x16/Conv1/noise_strength"]
    with pytest.raises(ValueError, match="missing.*16x16/Conv1/noise_strength"):
        legacy.convert_generator(Gs_net)


def test_networks_that_are_not_stylegan2_are_refused():
    G_net, D_net, Gs_net = read_official_pickle(BASE + ".pkl")
    D_net.build_func_name = "D_basic"
    with pytest.raises(UserError, match="'D_basic'.*'D_stylegan2'"):
        convert_network(STYLEGAN2, D_net, "D", where="net.pkl")
    Gs_net.components["synthesis"].build_func_name = "G_synthesis_stylegan_revised"
    with pytest.raises(UserError, match="net.pkl.*G_synthesis_stylegan_revised"):
        convert_network(STYLEGAN2, Gs_net, "G", where="net.pkl")
    kwargs = dict(G_net.static_kwargs)
    with pytest.raises(UserError, match="net.pkl: unsupported nonlinearity='relu'"):
        legacy.config_from_static_kwargs({**kwargs, "nonlinearity": "relu"}, "stylegan2",
                                         where="net.pkl")
    with pytest.raises(UserError, match="synthesis_func"):
        legacy.config_from_static_kwargs(
            {**kwargs, "synthesis_func": "G_synthesis_stylegan_revised"}, "stylegan2")
    with pytest.raises(UserError, match="net.pkl: unsupported static kwarg colour=1"):
        legacy.config_from_static_kwargs({**kwargs, "colour": 1}, "stylegan2",
                                         where="net.pkl")
    with pytest.raises(UserError, match="net.pkl: `g_architecture` must be one of"):
        legacy.config_from_static_kwargs({**kwargs, "architecture": "dense"}, "stylegan2",
                                         where="net.pkl")


def test_converted_networks_run_in_a_graph(converted):
    G, D, Gs, out = converted

    @tf.function
    def render(z):
        return Gs(z, noise="const")

    assert rel_error(nchw(render(tf.constant(out["z"]))), out["psi05"]) < TOLERANCE
