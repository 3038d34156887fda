"""stylegan2-ada-pytorch's network pickles in, official outputs out (tf_stylegan/legacy/
stylegan2_ada.py).

The fixtures are an unconditional and a conditional (c_dim 10) 32 px network made, pickled and
evaluated by NVIDIA's stylegan2-ada-pytorch (tests/fixtures/official-ada-pytorch/README.md, whose
independent float64 check reaches ~1e-6). The architectures the fixtures do not have ("orig" and
"resnet" G, "skip" and "orig" D, `conv_clamp`) are checked on records holding random
official-layout variables (renamed by the README's table, tests/tf_stylegan/ada_pickles.py)
against the float64 numpy transcription of the official networks
(tests/tf_stylegan/stylegan2_numpy.py).
"""

import dataclasses
import os

import numpy as np
import pytest

import tf_stylegan as sg
from tests.paths import FIXTURES
from tests.tf_stylegan import ada_pickles as ap
from tests.tf_stylegan.stylegan2_numpy import (
    np_discriminator,
    np_mapping,
    np_synthesis,
    random_official_discriminator,
    random_official_generator,
)
from tf_stylegan.augment import AugmentSpec
from tf_stylegan.errors import UserError
from tf_stylegan.legacy import load_official_pickle, read_pytorch_pickle
from tf_stylegan.legacy.pytorch_network import PytorchSnapshot
from tf_stylegan.legacy.stylegan2_ada import (
    config_from_modules,
    convert_pytorch_networks,
    generator_targets,
    load_pytorch_pickle,
)
from tf_stylegan.legacy.transfer import assign_variables

DIR = os.path.join(FIXTURES, "official-ada-pytorch")
BASES = {"r32": os.path.join(DIR, "sg2ada-r32"), "c10": os.path.join(DIR, "sg2ada-r32-c10")}
# max |ours - official| / max |official|: measured at most 8.3e-7 over every key of both
# fixtures (the README's independent float64 transcription: 1.3e-6).
TOLERANCE = 2e-6
G_KEYS = ["ws", "ws_psi05", "ws_psi05_cut4", "img_const", "img_none", "img", "img_psi05",
          "G_img"]
BLOCK_KEYS = [f"block{r}_{k}" for r in (4, 8, 16, 32) for k in ("x", "img")]
CASES = ([("r32", k) for k in G_KEYS + ["D_out", "D_img"] + BLOCK_KEYS]
         + [("c10", k) for k in G_KEYS + ["D_out", "D_img", "D_cmap"]])


def nchw(x):
    return np.transpose(np.asarray(x), [0, 3, 1, 2])


def nhwc(x):
    return np.transpose(np.asarray(x), [0, 2, 3, 1])


def rel_error(got, ref):
    return np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max()


@pytest.fixture(scope="module")
def converted():
    out = {}
    for name, base in BASES.items():
        G, D, Gs, info = load_pytorch_pickle(base + ".pkl", with_info=True)
        out[name] = (G, D, Gs, info, dict(np.load(base + "-outputs.npz")))
    return out


def labels_of(ref):
    return ref["c"] if ref["c"].shape[1] else None


def our_output(G, D, Gs, ref, key):
    """What the official call of the README's section 2 computes, with our networks."""
    z, c = ref["z"], labels_of(ref)
    if key.startswith("ws"):
        ws = Gs.mapping(z, c)
        if key == "ws":
            return ws
        return Gs.truncate(ws, 0.5, 4 if key.endswith("cut4") else None)
    if key in ("img_const", "img_none"):
        return nchw(Gs.synthesis(ref["ws"], noise=key[4:]))
    if key.startswith("block"):
        r, part = key[5:].split("_")
        blocks = Gs.synthesis.block_outputs(ref["ws"], noise="const")
        return nchw(blocks[int(np.log2(int(r))) - 2][0 if part == "x" else 1])
    if key in ("img", "img_psi05", "G_img"):
        net = G if key == "G_img" else Gs
        psi = 0.5 if key == "img_psi05" else 1.0
        return nchw(net(z, c, truncation_psi=psi, noise="const"))
    if key == "D_cmap":
        return D.label_projection(c)
    return D(nhwc(ref["D_in" if key == "D_out" else "img"]), c)


@pytest.mark.parametrize("name, key", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_reproduces_official_outputs(converted, name, key):
    G, D, Gs, _, ref = converted[name]
    got = our_output(G, D, Gs, ref, key)
    assert np.shape(got) == ref[key].shape
    assert rel_error(got, ref[key]) < TOLERANCE


def test_config_is_read_from_the_pickle(converted):
    common = dict(resolution=32, latent_size=64, dlatent_size=64, mapping_layers=2,
                  mapping_fmaps=64, mapping_lrmul=0.01, fmap_base=512, fmap_max=64,
                  truncation_psi=1.0, truncation_cutoff=None, dlatent_avg_beta=0.995,
                  mbstd_group_size=4, g_architecture="skip", d_architecture="resnet")
    r32 = converted["r32"][2].config
    assert r32 == sg.StyleGAN2Config(**common)
    assert [r32.nf(r - 1) for r in range(2, 6)] == [64, 64, 64, 32]  # README 1.1 widths
    c10 = converted["c10"][2].config
    assert c10 == sg.StyleGAN2Config(**common, label_size=10, label_mapping="embed",
                                     d_mapping_layers=8, d_mapping_lrmul=0.01)
    assert c10.cmap_dim == 64
    for name in ("r32", "c10"):
        G, D, Gs, _, _ = converted[name]
        assert G.config == D.config == Gs.config
        assert (G.name, D.name, Gs.name) == ("G", "D", "Gs")


@pytest.mark.parametrize("name, g, d", [("r32", 263_987, 288_993), ("c10", 268_787, 327_072)])
def test_trainable_counts_are_the_officials(converted, name, g, d):
    G, D, Gs, _, _ = converted[name]  # README section 4
    assert G.count_params_trainable() == Gs.count_params_trainable() == g
    assert D.count_params_trainable() == d


def test_augment_pipe_and_dataset_are_in_the_info(converted):
    info = converted["r32"][3]
    assert info["source_format"] == "stylegan2-ada-pytorch"
    assert info["source"].endswith("sg2ada-r32.pkl")
    assert info["augment_pipe"]["p"] == 0.25  # README 1.2
    # AugmentPipe(**augpipe_specs['bgc']): the multipliers of bgc, the default strengths.
    assert AugmentSpec.from_dict(info["augment_pipe"]["spec"]) == AugmentSpec.from_preset("bgc")
    assert info["training_set_kwargs"]["path"] == "/data/fixture-r32.zip"
    info = converted["c10"][3]
    assert info["augment_pipe"] is None and info["training_set_kwargs"]["use_labels"] is True


# --- negative controls (README section 6, V3): each mistake breaks the parity -------------------
def _assign_with(Gs, snapshot, overrides, config=None):
    """A copy of Gs (optionally of another config) loaded from G_ema with some targets'
    transforms replaced: {PyTorch name suffix: transform}."""
    net = sg.StyleGAN2Generator(config or Gs.config)
    targets = generator_targets(net)
    for name, (var, transform) in list(targets.items()):
        for suffix, replacement in overrides.items():
            if name.endswith(suffix):
                targets[name] = (var, replacement)
    tensors = {k: v for k, v in snapshot.G_ema.named_tensors().items()
               if not k.endswith("resample_filter")}
    assign_variables(targets, tensors, "test")
    return net


def _pt_to_tf_conv(w):
    return np.transpose(w, (2, 3, 1, 0))


@pytest.mark.parametrize("name", ["r32", "c10"])
def test_negative_controls_fail(converted, name):
    G, D, Gs, _, ref = converted[name]
    snapshot = read_pytorch_pickle(BASES[name] + ".pkl")
    z, c = ref["z"], labels_of(ref)
    # The control itself: the same loading with the library's transforms passes.
    same = _assign_with(Gs, snapshot, {})
    assert rel_error(nchw(same.synthesis(ref["ws"], noise="const")), ref["img_const"]) < TOLERANCE
    # No flip of the up-convolutions (README: 0.54 / 0.38).
    no_flip = _assign_with(Gs, snapshot, {"conv0.weight": _pt_to_tf_conv})
    assert rel_error(nchw(no_flip.synthesis(ref["ws"], noise="const")), ref["img_const"]) > 0.1
    # The style bias as stored, without the -1 (README: 0.73 / 0.77).
    raw_bias = _assign_with(Gs, snapshot, {"affine.bias": None})
    assert rel_error(nchw(raw_bias.synthesis(ref["ws"], noise="const")), ref["img_const"]) > 0.1
    # G instead of G_ema (README: 1.22 / 0.89).
    assert rel_error(nchw(G(z, c, truncation_psi=1, noise="const")), ref["img"]) > 0.5
    # The mapping's learning-rate multiplier 1 instead of the pickle's 0.01 (README: ~1e4).
    lr1 = _assign_with(Gs, snapshot, {}, dataclasses.replace(Gs.config, mapping_lrmul=1.0))
    assert rel_error(lr1.mapping(z, c), ref["ws"]) > 10


# --- the other architectures and conv_clamp, against the numpy transcription ------------------
def _random_pt_networks(g_arch, d_arch, clamp=None, seed=0):
    rng = np.random.default_rng(seed)
    own, mapping, synth = random_official_generator(rng, 16, 128, 32, latent=16,
                                                    architecture=g_arch)
    d_vars = random_official_discriminator(rng, 16, 128, 32, architecture=d_arch)
    G = ap.pt_generator(own, mapping, synth, 16, g_arch, conv_clamp=clamp)
    D = ap.pt_discriminator(d_vars, 16, d_arch, conv_clamp=clamp)
    tf_vars = {**own, **{f"G_mapping/{k}": v for k, v in mapping.items()},
               **{f"G_synthesis/{k}": v for k, v in synth.items()}}
    return PytorchSnapshot(G, D, G, None, None), tf_vars, d_vars


@pytest.mark.parametrize("g_arch, d_arch", [("orig", "skip"), ("resnet", "orig"),
                                            ("skip", "resnet")])
def test_other_architectures(g_arch, d_arch):
    snapshot, v, d_vars = _random_pt_networks(g_arch, d_arch)
    G, D, Gs = convert_pytorch_networks(snapshot, "random")
    assert (Gs.config.g_architecture, D.config.d_architecture) == (g_arch, d_arch)
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 16)).astype(np.float32)
    w = np_mapping(v, z, num_layers=6)
    assert rel_error(Gs.mapping(z), w) < 1e-5
    assert rel_error(Gs.synthesis(w.astype(np.float32), noise="const"),
                     np_synthesis(v, w, 16, g_arch)) < 1e-5
    images = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
    assert rel_error(D(images), np_discriminator(d_vars, images, d_arch)) < 1e-5


@pytest.mark.parametrize("g_arch, d_arch", [("skip", "resnet"), ("resnet", "skip")])
def test_conv_clamp_as_the_official_code_applies_it(g_arch, d_arch):
    clamp = 0.6  # low enough that many activations are clipped
    snapshot, v, d_vars = _random_pt_networks(g_arch, d_arch, clamp=clamp, seed=2)
    G, D, Gs = convert_pytorch_networks(snapshot, "random")
    assert Gs.config.conv_clamp == D.config.conv_clamp == clamp
    rng = np.random.default_rng(3)
    w = np_mapping(v, rng.standard_normal((4, 16)), num_layers=6)
    want = np_synthesis(v, w, 16, g_arch, clamp=clamp)
    assert rel_error(Gs.synthesis(w.astype(np.float32), noise="const"), want) < 1e-5
    assert rel_error(np_synthesis(v, w, 16, g_arch), want) > 0.05  # the clamp matters
    images = rng.standard_normal((4, 16, 16, 3)).astype(np.float32) * 3
    want = np_discriminator(d_vars, images, d_arch, clamp=clamp)
    assert rel_error(D(images), want) < 1e-5
    assert rel_error(np_discriminator(d_vars, images, d_arch), want) > 0.05


def test_real_ada_runs_conv_clamp_256_converts(converted, monkeypatch, tmp_path):
    # train.py sets conv_clamp=256 (and fp16 blocks, which run in float32 here) unless --fp32:
    # the fixture written again as such a run writes it.
    ap.fake_ada_modules(monkeypatch)

    def edit(class_name, state):
        skip = class_name == "Conv2dLayer" and "bias" not in state["_parameters"]
        if class_name in ("SynthesisLayer", "ToRGBLayer", "Conv2dLayer") and not skip:
            state["conv_clamp"] = 256
        if class_name == "SynthesisBlock":
            state["use_fp16"] = state["resolution"] >= 8

    path = ap.write_snapshot(tmp_path / "clamped.pkl", read_pytorch_pickle(BASES["r32"] + ".pkl"),
                             edit=edit)
    G, D, Gs = load_official_pickle(path)
    assert Gs.config.conv_clamp == 256
    ref = converted["r32"][4]
    assert rel_error(nchw(Gs.synthesis(ref["ws"], noise="const")), ref["img_const"]) < TOLERANCE
    assert rel_error(D(nhwc(ref["D_in"])), ref["D_out"]) < TOLERANCE


def test_d_label_mapping_of_other_depths(converted):
    # TF-converted ADA networks have no D mapping layers (legacy.py: 0 layers at lr 0.1); a
    # cmap of 2 layers here, computed in numpy from the pickle's own tensors.
    snapshot = read_pytorch_pickle(BASES["c10"] + ".pkl")
    mapping = snapshot.D.child("mapping")
    modules = {k: m for k, m in mapping.children.items() if k in ("embed", "fc0", "fc1")}
    for k in ("fc0", "fc1"):
        modules[k].state["bias_gain"] = 0.1
        modules[k].state["weight_gain"] = np.float64(0.1 / 8)
    mapping.state["_modules"] = modules
    mapping.state["num_layers"] = 2
    _, D, _ = convert_pytorch_networks(snapshot, "c10")
    assert (D.config.d_mapping_layers, D.config.d_mapping_lrmul) == (2, 0.1)
    t = mapping.named_tensors()
    c = converted["c10"][4]["c"].astype(np.float64)
    x = c @ t["embed.weight"].T / np.sqrt(10) + t["embed.bias"]
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for i in range(2):
        x = x @ t[f"fc{i}.weight"].T * (0.1 / 8) + t[f"fc{i}.bias"] * 0.1
        x = np.where(x >= 0, x, 0.2 * x) * np.sqrt(2)
    assert rel_error(D.label_projection(c), x) < 1e-6


def test_freeze_d_layers_stored_as_buffers(converted):
    # `--freezed=N` keeps the weight and bias of D's first N layers as buffers, not parameters
    # (networks.py:150-158): the same tensors under the same names.
    snapshot = read_pytorch_pickle(BASES["r32"] + ".pkl")
    block = snapshot.D.child("b32")
    for name in ("fromrgb", "conv0", "conv1", "skip"):
        layer = block.child(name)
        layer.state["_buffers"].update(layer.state["_parameters"])
        layer.state["_parameters"] = {}
    _, D, _ = convert_pytorch_networks(snapshot, "freezed.pkl")
    ref = converted["r32"][4]
    assert rel_error(D(nhwc(ref["D_in"])), ref["D_out"]) < TOLERANCE


# --- refusals -------------------------------------------------------------------------------
def test_missing_extra_and_misshapen_tensors_are_refused():
    snapshot = read_pytorch_pickle(BASES["r32"] + ".pkl")
    layer = snapshot.G_ema.child("synthesis").child("b8").child("conv1")
    bias = layer.state["_parameters"].pop("bias")
    with pytest.raises(UserError, match="missing.*synthesis.b8.conv1.bias"):
        convert_pytorch_networks(snapshot, "x.pkl")
    layer.state["_parameters"]["bias"] = bias[:3]
    with pytest.raises(UserError, match="shape mismatch for synthesis.b8.conv1.bias"):
        convert_pytorch_networks(snapshot, "x.pkl")
    layer.state["_parameters"]["bias"] = bias
    layer.state["_buffers"]["extra"] = np.zeros(2, np.float32)
    with pytest.raises(UserError, match="no counterpart.*synthesis.b8.conv1.extra"):
        convert_pytorch_networks(snapshot, "x.pkl")


@pytest.mark.parametrize("change, match", [
    (lambda s: s.G.child("synthesis").child("b8").child("conv0").state.update(
        activation="relu"), "activations"),
    (lambda s: s.G.child("synthesis").child("b8").child("conv0").state.update(
        use_noise=False), "without noise"),
    (lambda s: s.G.child("synthesis").child("b8").state["_buffers"].update(
        resample_filter=np.ones((4, 4), np.float32) / 16), "FIR filter"),
    (lambda s: s.G.child("mapping").child("fc1").state.update(
        bias_gain=0.1, weight_gain=np.float64(0.1 / 8)), "different learning rates"),
    (lambda s: s.G.child("mapping").child("fc1").state.update(bias_gain=0.1),
     "weight_gain"),
    (lambda s: s.G.child("synthesis").child("b16").state.update(architecture="orig"),
     "architecture"),
    (lambda s: s.G.child("synthesis").state.update(block_resolutions=[4, 8, 16]),
     "not stylegan2-ada-pytorch's"),
    (lambda s: s.G.child("synthesis").child("b8").child("conv1").state.update(
        conv_clamp=256), "conv_clamp"),
    (lambda s: s.D.child("b4").child("mbstd").state.update(group_size=None), "group size"),
    (lambda s: s.D.state.update(c_dim=3), "differ in c_dim"),
    (lambda s: s.G.state["_modules"].update(
        synthesis=ap.record("SynthesisNetwork", block_resolutions=[], num_ws=16)), "synthesis"),
], ids=["activation", "no-noise", "fir", "lrmul", "weight-gain", "mixed-architecture", "blocks",
        "clamp", "mbstd", "c_dim", "stylegan3-like"])
def test_unsupported_networks_are_user_errors(change, match):
    snapshot = read_pytorch_pickle(BASES["r32"] + ".pkl")
    change(snapshot)
    with pytest.raises(UserError, match=match):
        convert_pytorch_networks(snapshot, "x.pkl")


def test_other_modules_are_refused_by_class():
    snapshot = read_pytorch_pickle(BASES["r32"] + ".pkl")
    with pytest.raises(UserError, match="expected a stylegan2-ada-pytorch Generator, found "
                                        "AugmentPipe"):
        config_from_modules(snapshot.augment_pipe, snapshot.D)
