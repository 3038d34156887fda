"""Official weights in, official outputs out: the proof that our layers compute what NVIDIA's do.

The fixtures are pickles made by the official network code with every variable randomised,
and the outputs that code gave (tests/fixtures/official/README.md).
"""

import os

import numpy as np
import pytest

import tf_stylegan as sg
from tests.paths import FIXTURES
from tf_stylegan import legacy
from tf_stylegan.errors import UserError

NAMES = ["official-r32", "official-r16-labels3"]


def nchw(x):
    return np.transpose(np.asarray(x), [0, 3, 1, 2])


@pytest.fixture(scope="module", params=NAMES)
def converted(request):
    base = os.path.join(FIXTURES, "official", request.param)
    G, D, Gs = legacy.load_official_pickle(base + ".pkl")
    outputs = dict(np.load(base + "-outputs.npz"))
    return request.param, G, D, Gs, outputs


def test_config_from_static_kwargs(converted):
    name, G, D, Gs, out = converted
    cfg = Gs.config
    assert (cfg.fmap_base, cfg.fmap_max, cfg.latent_size, cfg.dlatent_size) == (256, 64, 64, 64)
    assert cfg.resolution == (32 if name == "official-r32" else 16)
    assert cfg.label_size == out["labels"].shape[1]
    assert isinstance(G, sg.Generator) and isinstance(D, sg.Discriminator)


def test_reproduces_official_outputs(converted):
    name, G, D, Gs, out = converted
    z = out["z"]
    labels = out["labels"] if out["labels"].shape[1] else None
    # Mapping: same ops in the same order -> identical.
    np.testing.assert_allclose(Gs.mapping(z, labels), out["w"], rtol=1e-6, atol=1e-6)
    # Synthesis with the stored noise buffers (official randomize_noise=False).
    np.testing.assert_allclose(nchw(Gs.synthesis(out["w"], noise="const")), out["synth"],
                               rtol=0, atol=5e-5)
    np.testing.assert_allclose(nchw(Gs(z, labels, truncation_psi=1.0, noise="const")),
                               out["psi1"], rtol=0, atol=5e-5)
    np.testing.assert_allclose(
        nchw(Gs(z, labels, truncation_psi=0.7, truncation_cutoff=8, noise="const")),
        out["psi07"], rtol=0, atol=5e-5)
    d_in = np.transpose(out["D_in"], [0, 2, 3, 1])
    np.testing.assert_allclose(D(d_in, labels), out["D"], rtol=1e-5, atol=1e-5)


def test_truncation_uses_the_imported_dlatent_avg(converted):
    name, G, D, Gs, out = converted
    z = out["z"]
    labels = out["labels"] if out["labels"].shape[1] else None
    # psi07 differs from psi1 only through dlatent_avg: zeroing it must break the match.
    saved = Gs.dlatent_avg.numpy()
    assert np.abs(saved).max() > 0
    Gs.dlatent_avg.assign(np.zeros_like(saved))
    try:
        got = nchw(Gs(z, labels, truncation_psi=0.7, noise="const"))
        assert np.abs(got - out["psi07"]).max() > 1e-3
    finally:
        Gs.dlatent_avg.assign(saved)


def test_instantaneous_G_is_imported_too(converted):
    name, G, D, Gs, out = converted
    # G and Gs are distinct networks in the pickle; both convert with all weights.
    assert G.count_params_trainable() == Gs.count_params_trainable()
    assert G.config == Gs.config


def test_unmapped_or_mismatched_variables_fail():
    G_net, D_net, Gs_net = legacy.read_official_pickle(
        os.path.join(FIXTURES, "official", "official-r32.pkl"))
    D_net.variables["4x4/Extra/weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="no counterpart.*4x4/Extra/weight"):
        legacy.convert_discriminator(D_net)
    del D_net.variables["4x4/Extra/weight"]
    D_net.variables["4x4/Dense1/bias"] = np.zeros((2,), np.float32)
    with pytest.raises(ValueError, match="shape mismatch.*4x4/Dense1/bias"):
        legacy.convert_discriminator(D_net)
    del D_net.variables["4x4/Dense1/bias"]
    with pytest.raises(ValueError, match="missing.*4x4/Dense1/bias"):
        legacy.convert_discriminator(D_net)
    bad_kwargs = dict(Gs_net.static_kwargs, nonlinearity="relu")
    with pytest.raises(ValueError, match="nonlinearity"):
        legacy.config_from_static_kwargs(bad_kwargs)


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
