"""stylegan2-ada-pytorch network pickles in the applications: `load_network`, `generate.py
images` and `convert`, snapshots of the converted networks.

The pickles and their outputs were made by NVIDIA's stylegan2-ada-pytorch
(tests/fixtures/official-ada-pytorch/README.md). Its `generate.py` renders seed s from
`z = RandomState(s).randn(1, z_dim)` as `(img * 127.5 + 128).clamp(0, 255).to(uint8)`; the
fixtures' `z` are `RandomState(1000 | 2000).randn(4, 64)`, so seed 1000 (2000) with
`noise_mode='const'` and psi 1 (that script's default) is the official `img[0]`.
"""

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import generate
import tf_stylegan as sg
from tests.paths import FIXTURES
from tf_stylegan.snapshot import load_network, load_snapshot

DIR = os.path.join(FIXTURES, "official-ada-pytorch")
R32, C10 = os.path.join(DIR, "sg2ada-r32"), os.path.join(DIR, "sg2ada-r32-c10")
TOLERANCE = 2e-6  # as tests/tf_stylegan/test_legacy_stylegan2_ada.py


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def official_uint8(nchw):
    """stylegan2-ada-pytorch generate.py: (img * 127.5 + 128).clamp(0, 255).to(uint8), NHWC."""
    x = np.transpose(np.asarray(nchw, np.float64), [0, 2, 3, 1])
    return np.clip(x * 127.5 + 128, 0, 255).astype(np.uint8)


def max_diff(a, b):
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()


def rel_error(got, ref):
    return np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("base, seed, extra", [(R32, 1000, []), (C10, 2000, ["--class-idx", 3])],
                         ids=["r32", "c10"])
def test_images_from_the_pickle_are_the_official_ones(tmp_path, base, seed, extra):
    r = run("images", "--network", base + ".pkl", "--seeds", seed, "--noise", "const",
            "--outdir", tmp_path, *extra)
    assert r.exit_code == 0, r.output
    got = np.asarray(Image.open(tmp_path / f"seed{seed:04d}.png"))
    ref = np.load(base + "-outputs.npz")
    assert max_diff(got, official_uint8(ref["img"])[0]) <= 1  # psi 1: the network's default
    assert max_diff(got, official_uint8(ref["img_psi05"])[0]) > 5


def test_load_network_tells_the_pickles_apart_by_content(tmp_path):
    # Both kinds of pickles end in .pkl, and a file's name says nothing: copies without the
    # usual names load as what they hold.
    ada, tf_pickle = tmp_path / "a.pkl", tmp_path / "b.pkl"
    ada.write_bytes(open(C10 + ".pkl", "rb").read())
    tf_pickle.write_bytes(open(os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl"),
                               "rb").read())
    G, D, Gs, info = load_network(ada, with_info=True)
    assert info["family"] == "stylegan2" and info["config"]["label_mapping"] == "embed"
    assert info["metadata"]["source_format"] == "stylegan2-ada-pytorch"
    assert info["metadata"]["augment_pipe"] is None
    assert info["config"] == Gs.config.to_dict()
    G, D, Gs, info = load_network(tf_pickle, with_info=True)
    assert info["metadata"] == {"source": str(tf_pickle), "source_format": "official-tf"}
    assert Gs.config.label_mapping == "concat"
    assert len(load_network(ada)) == 3


def test_convert_records_where_the_networks_came_from(tmp_path):
    out = tmp_path / "r32.zip"
    r = run("convert", R32 + ".pkl", out)
    assert r.exit_code == 0, r.output
    G, D, Gs, info = load_snapshot(out, with_info=True)
    meta = info["metadata"]
    assert meta["converted_from"] == "sg2ada-r32.pkl"
    assert meta["source_format"] == "stylegan2-ada-pytorch"
    assert meta["augment_pipe"]["p"] == 0.25 and meta["augment_pipe"]["spec"]["xflip"] == 1.0
    assert meta["training_set_kwargs"]["resolution"] == 32
    assert isinstance(Gs, sg.StyleGAN2Generator) and isinstance(D, sg.StyleGAN2Discriminator)
    ref = dict(np.load(R32 + "-outputs.npz"))
    nhwc = lambda x: np.transpose(x, [0, 2, 3, 1])  # noqa: E731
    assert rel_error(Gs(ref["z"], truncation_psi=1.0, noise="const"), nhwc(ref["img"])) < TOLERANCE
    assert rel_error(G(ref["z"], truncation_psi=1.0, noise="const"),
                     nhwc(ref["G_img"])) < TOLERANCE
    assert rel_error(D(nhwc(ref["D_in"])), ref["D_out"]) < TOLERANCE


def test_conditional_snapshot_keeps_the_label_forms(tmp_path):
    out = tmp_path / "c10.zip"
    assert run("convert", C10 + ".pkl", out).exit_code == 0
    G, D, Gs = load_snapshot(out)
    assert Gs.config.label_mapping == "embed" and D.label_projection is not None
    ref = dict(np.load(C10 + "-outputs.npz"))
    nhwc = lambda x: np.transpose(x, [0, 2, 3, 1])  # noqa: E731
    assert rel_error(Gs(ref["z"], ref["c"], truncation_psi=1.0, noise="const"),
                     nhwc(ref["img"])) < TOLERANCE
    assert rel_error(D(nhwc(ref["D_in"]), ref["c"]), ref["D_out"]) < TOLERANCE
    assert rel_error(D.label_projection(ref["c"]), ref["D_cmap"]) < TOLERANCE
