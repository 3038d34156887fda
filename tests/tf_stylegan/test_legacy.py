"""Official weights in, official outputs out, for each family: the proof that our layers compute
what NVIDIA's do.

The fixtures are pickles made by the official network code of each family with every variable
randomised, and the outputs that code gave (tests/fixtures/official/README.md,
tests/fixtures/official-stylegan2/README.md). StyleGAN2's other architectures, checked against
a numpy transcription: test_legacy_stylegan2.py.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.paths import FIXTURES
from tf_stylegan import legacy
from tf_stylegan.errors import UserError
from tf_stylegan.families import get_family
from tf_stylegan.legacy.transfer import convert_network

_SG_FIXTURE = dict(fmap_base=256, fmap_max=64, latent_size=64, dlatent_size=64, mapping_fmaps=64)
# name -> (family, the config its static kwargs give (the fixture READMEs), the output at the
# family's default truncation).
OFFICIAL = {
    "official/official-r32": (
        "stylegan", sg.NetworkConfig(resolution=32, **_SG_FIXTURE), "psi07"),
    "official/official-r16-labels3": (
        "stylegan", sg.NetworkConfig(resolution=16, label_size=3, **_SG_FIXTURE), "psi07"),
    "official-stylegan2/stylegan2-r32": (
        "stylegan2", sg.StyleGAN2Config(resolution=32, fmap_base=512, fmap_max=64,
                                        latent_size=64, dlatent_size=64, mapping_fmaps=64),
        "psi05"),
}
CLASSES = {"stylegan": (sg.Generator, sg.Discriminator),
           "stylegan2": (sg.StyleGAN2Generator, sg.StyleGAN2Discriminator)}
# max |ours - official| / max |official| over each output. Measured (2 CPU cores, oneDNN):
#   StyleGAN r32:         w 0, synth 1.4e-6, psi1 1.4e-6, psi07 1.6e-6, D 1.1e-6
#   StyleGAN r16-labels3: w 0, synth 1.5e-6, psi1 1.5e-6, psi07 1.5e-6, D 4.9e-7
#   StyleGAN2 r32:        w 0, synth 8.6e-7, psi1 8.6e-7, psi05 1.4e-6, D 3.4e-7
# StyleGAN2: 10x its largest error. StyleGAN: 2.5x, which keeps its images (values up to 11.6)
# within the 5e-5 absolute error the importer is held to.
TOLERANCE = {"stylegan": 4e-6, "stylegan2": 1.5e-5}


def nchw(x):
    return np.transpose(np.asarray(x), [0, 3, 1, 2])


def nhwc(x):
    return np.transpose(np.asarray(x), [0, 2, 3, 1])


def rel_error(got, ref):
    return np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max()


@pytest.fixture(scope="module", params=sorted(OFFICIAL))
def converted(request):
    """(fixture name, G, D, Gs, official outputs, labels or None)."""
    base = os.path.join(FIXTURES, request.param)
    G, D, Gs = legacy.load_official_pickle(base + ".pkl")  # the family from its build functions
    out = dict(np.load(base + "-outputs.npz"))
    labels = out["labels"] if out.get("labels", np.zeros([1, 0])).shape[1] else None
    return request.param, G, D, Gs, out, labels


def test_config_from_static_kwargs(converted):
    name, G, D, Gs, out, labels = converted
    family, config, _ = OFFICIAL[name]
    assert Gs.config == G.config == config
    # D's static kwargs hold no mapping sizes: those keep their defaults, which D never reads.
    differ = {k for k, v in D.config.to_dict().items() if config.to_dict()[k] != v}
    assert differ == {"latent_size", "dlatent_size", "mapping_fmaps"}
    assert (type(G), type(D)) == CLASSES[family] and type(Gs) is CLASSES[family][0]


@pytest.mark.parametrize("output", ["w", "synth", "psi1", "default_psi", "D"])
def test_reproduces_official_outputs(converted, output):
    name, G, D, Gs, out, labels = converted
    family, _, default_key = OFFICIAL[name]
    z = out["z"]
    ours = {
        "w": lambda: Gs.mapping(z, labels),
        # The stored noise buffers (official randomize_noise=False).
        "synth": lambda: nchw(Gs.synthesis(out["w"], noise="const")),
        "psi1": lambda: nchw(Gs(z, labels, truncation_psi=1.0, noise="const")),
        "default_psi": lambda: nchw(Gs(z, labels, noise="const")),  # the config's defaults
        "D": lambda: D(nhwc(out["D_in"]), labels),
    }[output]()
    want = out[default_key if output == "default_psi" else output]
    assert np.shape(ours) == want.shape
    assert rel_error(ours, want) < TOLERANCE[family]


def test_mapping_is_exact(converted):
    # Same ops in the same order as the official mapping.
    name, G, D, Gs, out, labels = converted
    np.testing.assert_allclose(Gs.mapping(out["z"], labels), out["w"], rtol=1e-6, atol=1e-6)


def test_truncation_uses_the_imported_dlatent_avg(converted):
    # The default truncation differs from psi 1 only through dlatent_avg: zeroing it must break
    # the match.
    name, G, D, Gs, out, labels = converted
    saved = Gs.dlatent_avg.numpy()
    assert np.abs(saved).max() > 0
    Gs.dlatent_avg.assign(np.zeros_like(saved))
    try:
        got = nchw(Gs(out["z"], labels, noise="const"))
        assert rel_error(got, out[OFFICIAL[name][2]]) > 1e-2
    finally:
        Gs.dlatent_avg.assign(saved)


def test_instantaneous_G_is_imported_too(converted):
    name, G, D, Gs, out, labels = converted
    # G and Gs are distinct networks in the pickle; both convert with all weights.
    assert G.count_params_trainable() == Gs.count_params_trainable()
    assert np.abs(G.dlatent_avg.numpy() - Gs.dlatent_avg.numpy()).max() > 1e-3
    assert np.abs(np.asarray(G.mapping(out["z"], labels)) - out["w"]).max() > 1e-3


@pytest.mark.parametrize("converted", ["official-stylegan2/stylegan2-r32"], indirect=True)
def test_official_parameter_counts_of_the_stylegan2_fixture(converted):
    # The official trainable counts of the fixture networks (its README).
    _, G, D, Gs, _, _ = converted
    assert G.count_params_trainable() == Gs.count_params_trainable() == 288_947
    assert G.mapping.count_params_trainable() == 33_280
    assert G.synthesis.count_params_trainable() == 255_667
    assert D.count_params_trainable() == 288_993


def test_converted_networks_run_in_a_graph(converted):
    name, G, D, Gs, out, labels = converted

    @tf.function
    def render(z):
        return Gs(z, labels, noise="const")

    assert rel_error(nchw(render(tf.constant(out["z"]))), out[OFFICIAL[name][2]]) < \
        TOLERANCE[OFFICIAL[name][0]]


# Per family: a D variable of the output layer, and a G synthesis variable.
VARIABLES = {"stylegan": ("4x4/Dense1/bias", "16x16/Conv1/Noise/weight"),
             "stylegan2": ("Output/bias", "16x16/Conv1/noise_strength")}
PICKLES = {"stylegan": "official/official-r32", "stylegan2": "official-stylegan2/stylegan2-r32"}


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_unmapped_missing_or_mismatched_variables_fail(family):
    output_bias, synthesis_var = VARIABLES[family]
    G_net, D_net, Gs_net = legacy.read_official_pickle(
        os.path.join(FIXTURES, PICKLES[family] + ".pkl"))
    D_net.variables["4x4/Extra/weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="no counterpart.*4x4/Extra/weight"):
        legacy.convert_discriminator(D_net)
    del D_net.variables["4x4/Extra/weight"]
    D_net.variables[output_bias] = np.zeros((2,), np.float32)
    with pytest.raises(ValueError, match=f"shape mismatch.*{output_bias}"):
        legacy.convert_discriminator(D_net)
    del D_net.variables[output_bias]
    with pytest.raises(ValueError, match=f"missing.*{output_bias}"):
        legacy.convert_discriminator(D_net)
    del Gs_net.components["synthesis"].variables[synthesis_var]
    with pytest.raises(ValueError, match=f"missing.*{synthesis_var}"):
        legacy.convert_generator(Gs_net)


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_unsupported_kwargs_and_other_families_networks_are_refused(family):
    other = "stylegan2" if family == "stylegan" else "stylegan"
    G_net, D_net, Gs_net = legacy.read_official_pickle(
        os.path.join(FIXTURES, PICKLES[family] + ".pkl"))
    kwargs = dict(G_net.static_kwargs)
    with pytest.raises(UserError, match="net.pkl: unsupported nonlinearity='relu'"):
        legacy.config_from_static_kwargs({**kwargs, "nonlinearity": "relu"}, family,
                                         where="net.pkl")
    with pytest.raises(UserError, match="net.pkl: unsupported static kwarg colour=1"):
        legacy.config_from_static_kwargs({**kwargs, "colour": 1}, family, where="net.pkl")
    # A network built by the other family's function, given to this family's converter.
    theirs, ours = (get_family(f).pickles.discriminator_func for f in (other, family))
    D_net.build_func_name = theirs
    with pytest.raises(UserError, match=f"net.pkl.*'{theirs}'.*'{ours}'"):
        convert_network(get_family(family), D_net, "D", where="net.pkl")


def with_generator_build_func(tmp_path, name):
    """The r32 fixture pickle with the generators' build_func_name renamed to `name`.

    The name is one BINUNICODE string in the file (G and Gs share it through the memo); the
    pickle is protocol 3 (no frames), so swapping the string and its length keeps it valid.
    """
    data = open(os.path.join(FIXTURES, "official", "official-r32.pkl"), "rb").read()
    old = b"X" + len(b"G_style").to_bytes(4, "little") + b"G_style"
    assert data.count(old) == 1
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(data.replace(old, b"X" + len(name).to_bytes(4, "little") + name.encode()))
    return path


def test_the_mapping_is_chosen_by_the_build_function(tmp_path):
    path = with_generator_build_func(tmp_path, "G_main")
    G_net, _, Gs_net = legacy.read_official_pickle(path)  # still a readable official pickle
    assert G_net.build_func_name == Gs_net.build_func_name == "G_main"
    # G_main sends it to the StyleGAN2 mapping, which refuses the StyleGAN synthesis component.
    with pytest.raises(UserError, match="built by 'G_synthesis'.*'G_synthesis_stylegan2'"):
        legacy.load_official_pickle(path)
    with pytest.raises(UserError, match=r"G_paper\.pkl: unsupported generator build function"):
        legacy.load_official_pickle(with_generator_build_func(tmp_path, "G_paper"))
