"""generate.py images, figures, interpolate, export and convert on StyleGAN2 networks.

A tiny 64x64 StyleGAN2 snapshot (10 dlatent rows, so that "all layers" and StyleGAN's cutoff 8
differ) and the official-layout StyleGAN2 pickle of tests/fixtures/official-stylegan2 (made and
evaluated by NVIDIA's code). Expected images are computed here from the official definitions
(truncation `avg + psi * (w - avg)`, run_generator.py's draws, the layer ranges written out) or
by the float64 numpy transcription of the official networks, never by the command under test.
"""

import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

import generate
import tf_stylegan as sg
from apps import figures
from tests.paths import FIXTURES
from tests.tf_stylegan.stylegan2_numpy import np_mapping, np_synthesis
from tf_stylegan.images import to_uint8
from tf_stylegan.legacy import read_official_pickle
from tf_stylegan.snapshot import load_network, load_snapshot, read_snapshot_info, save_snapshot

PKL = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl")
OUTPUTS = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32-outputs.npz")
TOLERANCE = 1e-4  # max |ours - official| / max |official|, as test_legacy_stylegan2.py


def tiny_stylegan2(resolution=64, seed=0):
    """A StyleGAN2 G and D with randomized noise strengths and dlatent_avg (zero at init)."""
    cfg = sg.StyleGAN2Config(resolution=resolution, fmap_base=64, fmap_max=16, latent_size=16,
                             dlatent_size=16, mapping_fmaps=16, mapping_layers=2)
    G = sg.StyleGAN2Generator(cfg)
    rng = np.random.RandomState(seed)
    for layer in G.synthesis.conv_layers:
        layer.noise.noise_strength.assign(rng.uniform(0.5, 1.0))
    G.dlatent_avg.assign(rng.randn(cfg.dlatent_size).astype(np.float32) * 0.5)
    return G, sg.StyleGAN2Discriminator(cfg)


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    G, D = tiny_stylegan2()
    path = str(tmp_path_factory.mktemp("net") / "tiny2.zip")
    save_snapshot(path, G, D, G)
    return path, load_snapshot(path)[2]


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def read_png(path):
    return np.asarray(Image.open(path))


def z_of(seeds, latent_size=16):
    return np.stack([np.random.RandomState(s).randn(latent_size) for s in seeds]).astype("f")


def truncated_w(Gs, seeds, psi):
    """`avg + psi * (w - avg)` on every layer, in numpy (official G_main, cutoff None)."""
    w = Gs.mapping(tf.constant(z_of(seeds, Gs.config.latent_size))).numpy()
    avg = Gs.dlatent_avg.numpy()
    return (avg + psi * (w - avg)).astype(np.float32)


def render(Gs, w, noise="const"):
    return np.asarray(to_uint8(Gs.synthesis(tf.constant(w), noise=noise)))


def official_uint8(x):
    """The official `convert_images_to_uint8`, NHWC: saturate_cast(x * 127.5 + 128)."""
    return np.clip(np.asarray(x, np.float64) * 127.5 + 128, 0, 255).astype(np.uint8)


def max_diff(a, b):
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()


# --- images ---------------------------------------------------------------------------------
def test_images_default_to_psi_half_on_all_layers(snap, tmp_path):
    path, Gs = snap
    assert Gs.config.num_layers == 10  # more than StyleGAN's cutoff 8
    r = run("images", "--network", path, "--seeds", "2,9", "--noise", "const",
            "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    expected = render(Gs, truncated_w(Gs, [2, 9], 0.5))
    for seed, image in zip([2, 9], expected):
        assert max_diff(read_png(tmp_path / f"seed{seed:04d}.png"), image) <= 1
    # Truncating only the first 8 rows (StyleGAN's default cutoff) gives other images.
    w = Gs.mapping(tf.constant(z_of([2]))).numpy()
    w8 = truncated_w(Gs, [2], 0.5)
    w8[:, 8:] = w[:, 8:]
    assert max_diff(render(Gs, w8)[0], expected[0]) > 2


def test_images_random_noise_is_drawn_as_run_generator(tmp_path):
    # run_generator.py generate-images: rnd = RandomState(seed); z = rnd.randn(1, 64); then the
    # noise variables noise0, noise1, ... (stored order) from the same rnd; psi 0.5 on all
    # layers; stored-noise synthesis. Rendered here by the float64 numpy transcription.
    r = run("images", "--network", PKL, "--seeds", "3,7", "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    _, _, Gs_net = read_official_pickle(PKL)
    v = dict(Gs_net.all_variables())
    synth_vars = Gs_net.components["synthesis"].variables
    noise_names = [name for name in synth_vars if name.startswith("noise")]
    assert len(noise_names) == 7
    for seed in (3, 7):
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, 64)
        drawn = dict(v)
        for name in noise_names:
            drawn[f"G_synthesis/{name}"] = rnd.randn(*synth_vars[name].shape)
        w = np_mapping(v, z, num_layers=8)
        avg = v["dlatent_avg"].astype(np.float64)
        expected = official_uint8(np_synthesis(drawn, avg + 0.5 * (w - avg), 32, "skip"))[0]
        stored = official_uint8(np_synthesis(v, avg + 0.5 * (w - avg), 32, "skip"))[0]
        got = read_png(tmp_path / f"seed{seed:04d}.png")
        assert max_diff(got, expected) <= 1
        assert max_diff(got, stored) > 5  # the drawn noise, not the stored buffers


def test_images_noise_modes_and_explicit_truncation(snap, tmp_path):
    path, Gs = snap
    for sub, noise in (("a", "random"), ("b", "random"), ("c", "const"), ("d", "none")):
        assert run("images", "--network", path, "--seeds", "4", "--noise", noise,
                   "--truncation-psi", "0.7", "--outdir", tmp_path / sub).exit_code == 0
    a, b, c, d = (read_png(tmp_path / s / "seed0004.png") for s in "abcd")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(c, d)
    w = truncated_w(Gs, [4], 0.7)
    assert max_diff(c, render(Gs, w)[0]) <= 1
    assert max_diff(d, render(Gs, w, noise="none")[0]) <= 1
    # --truncation-cutoff still applies: psi 0 below layer 3 only.
    r = run("images", "--network", path, "--seeds", "4", "--noise", "const", "--truncation-psi",
            "0", "--truncation-cutoff", "3", "--outdir", tmp_path / "e")
    assert r.exit_code == 0, r.output
    w = Gs.mapping(tf.constant(z_of([4]))).numpy()
    w[:, :3] = Gs.dlatent_avg.numpy()
    assert max_diff(read_png(tmp_path / "e" / "seed0004.png"), render(Gs, w)[0]) <= 1


# --- figures --------------------------------------------------------------------------------
def test_figures_cli(snap, tmp_path):
    path, Gs = snap
    r = run("figures", "--network", path, "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    names = {name for name, _ in figures.figures_for(Gs.config).values()}
    assert names == {name for name, _ in figures.FIGURES.values()}
    sizes = {name: Image.open(tmp_path / name).size for name in names}
    assert sizes == {
        "figure02-uncurated.png": (64 + 32 + 16 + 16 + 8 + 8, 64 * 3),  # every display LOD
        "figure03-style-mixing.png": (64 * 5, 64 * 6),  # 4 column seeds, 5 row seeds
        "figure04-noise-detail.png": (64 * 3, 64 * 2),
        "figure05-noise-components.png": (64 * 2, 64 * 2),
        "figure08-truncation-trick.png": (64 * 6, 64 * 2),
    }
    # Figure 3 is StyleGAN2's style mixing (test_style_mixing_figure_is_run_generators).
    np.testing.assert_array_equal(read_png(tmp_path / "figure03-style-mixing.png"),
                                  np.asarray(figures.stylegan2_style_mixing(Gs, progress=False)))
    fig8 = read_png(tmp_path / "figure08-truncation-trick.png")
    np.testing.assert_array_equal(fig8[:64, 192:256], fig8[64:, 192:256])  # psi 0: the average
    assert not np.array_equal(fig8[:64, :64], fig8[64:, :64])


def test_style_mixing_figure_is_run_generators(snap):
    # run_generator.py style-mixing-example with the README's seeds: every w truncated with
    # psi 0.5 on all layers; cell (row, col) = the row seed's w with rows 0-6 (--col-styles
    # default) from the column seed's; stored noise; black background.
    _, Gs = snap
    rows, cols = [85, 100, 75, 458, 1500], [55, 821, 1789, 293]
    fig = np.asarray(figures.stylegan2_style_mixing(Gs, progress=False))
    assert fig.shape == (64 * 6, 64 * 5, 3)
    assert (fig[:64, :64] == 0).all()
    row_w, col_w = truncated_w(Gs, rows, 0.5), truncated_w(Gs, cols, 0.5)
    for c, image in enumerate(render(Gs, col_w)):
        np.testing.assert_array_equal(fig[:64, 64 * (c + 1):64 * (c + 2)], image)
    for r, image in enumerate(render(Gs, row_w)):
        np.testing.assert_array_equal(fig[64 * (r + 1):64 * (r + 2), :64], image)
    for r, c in ((0, 0), (2, 3), (4, 1)):
        mixed = row_w[r].copy()
        mixed[[0, 1, 2, 3, 4, 5, 6]] = col_w[c, [0, 1, 2, 3, 4, 5, 6]]
        cell = fig[64 * (r + 1):64 * (r + 2), 64 * (c + 1):64 * (c + 2)]
        assert max_diff(cell, render(Gs, mixed[None])[0]) <= 1
        assert max_diff(cell, render(Gs, row_w[r:r + 1])[0]) > 2  # the mix changed the image
    # The default 0-6 is the official one whenever the network has more than 7 layers; a
    # 16 px network (6 layers) takes all but the last.
    G16, _ = tiny_stylegan2(16)
    fig16 = np.asarray(figures.stylegan2_style_mixing(G16, progress=False))
    row_w, col_w = truncated_w(G16, rows[:1], 0.5), truncated_w(G16, cols[:1], 0.5)
    mixed = col_w.copy()
    mixed[:, 5] = row_w[:, 5]
    assert max_diff(fig16[16:32, 16:32], render(G16, mixed)[0]) <= 1


def test_noise_figure_uses_the_noise_maps_of_the_papers_resolutions(snap):
    _, Gs = snap
    # 64 px: noise maps of sizes 4, 8, 8, 16, 16, 32, 32, 64, 64. StyleGAN's split at this
    # layer count (layer_ranges(10): fine from layer 4, i.e. from 16 px) puts 4-8 px maps in
    # the coarse range.
    assert Gs.synthesis.noise_shapes() == [4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert figures.figure5_noise_ranges(Gs) == [range(0, 9), range(0, 0), range(3, 9),
                                                range(0, 3)]
    # Coarse only (bottom right: right half of the first seed's image), psi 1, stored noise.
    fig5 = np.asarray(figures.figure5_noise_components(Gs, progress=False))
    w = Gs.mapping(tf.constant(z_of(figures.FIG5_SEEDS))).numpy()
    buffers = [b.numpy() for b in Gs.synthesis.noise_buffers]
    coarse = [b if i < 3 else np.zeros_like(b) for i, b in enumerate(buffers)]
    np.testing.assert_array_equal(fig5[64:, 32:64], render(Gs, w, coarse)[0][:, 32:])


def test_noise_ranges_at_1024_are_the_papers():
    # Paper, figure 5: fine = 64-1024 px, coarse = 4-32 px. StyleGAN2 at 1024 px has noise0..16:
    # 4, then two maps of each size 8..1024 (written out, official G_synthesis_stylegan2).
    sizes = [4] + [2**r for r in range(3, 11) for _ in range(2)]
    assert [i for i, s in enumerate(sizes) if s <= 32] == list(range(7))
    # What figure5_noise_ranges reads, without building 30M weights.
    stub = SimpleNamespace(config=sg.StyleGAN2Config(resolution=1024),
                           synthesis=SimpleNamespace(noise_shapes=lambda: sizes))
    assert figures.figure5_noise_ranges(stub) == [range(0, 17), range(0, 0), range(7, 17),
                                                  range(0, 7)]
    # StyleGAN at 1024 px: layers 8-17 fine, 0-7 coarse (official generate_figures.py); one
    # noise map per layer, two of each size 4..1024.
    stub.config = sg.NetworkConfig(resolution=1024)
    stub.synthesis = SimpleNamespace(noise_shapes=lambda: [2 ** (i // 2 + 2) for i in range(18)])
    assert figures.figure5_noise_ranges(stub) == [range(0, 18), range(0, 0), range(8, 18),
                                                  range(0, 8)]


# --- interpolate ----------------------------------------------------------------------------
def test_interpolate_frames_use_the_networks_truncation(snap, tmp_path, monkeypatch):
    path, Gs = snap
    # A stand-in encoder: copies the rawvideo stream to the output file (the last argument).
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a; do out="$a"; done\ncat > "$out"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    r = run("interpolate", "--network", path, "--seeds", "1,2", "--space", "w", "--frames", "3",
            "--out", tmp_path / "walk.mp4")
    assert r.exit_code == 0, r.output
    frames = np.frombuffer((tmp_path / "walk.mp4").read_bytes(), np.uint8).reshape(-1, 64, 64, 3)
    assert len(frames) == 3 + 1
    ends = render(Gs, truncated_w(Gs, [1, 2], 0.5))  # psi 0.5 on all layers, stored noise
    assert max_diff(frames[0], ends[0]) <= 1 and max_diff(frames[-1], ends[1]) <= 1
    w = Gs.mapping(tf.constant(z_of([1, 2]))).numpy()
    mid = (2 / 3) * w[0] + (1 / 3) * w[1]  # frame 1 of 3: w lerp, then truncation
    avg = Gs.dlatent_avg.numpy()
    assert max_diff(frames[1], render(Gs, (avg + 0.5 * (mid - avg))[None])[0]) <= 1


# --- export / convert -----------------------------------------------------------------------
def test_export_cli(snap, tmp_path):
    path, Gs = snap
    r = run("export", "--network", path, "--outdir", tmp_path / "m")
    assert r.exit_code == 0, r.output
    sig = tf.saved_model.load(str(tmp_path / "m" / "1")).signatures["serving_default"]
    z = z_of([5, 6])
    served = sig(z=tf.constant(z), truncation_psi=tf.constant(0.5))["images"].numpy()
    assert max_diff(served, render(Gs, truncated_w(Gs, [5, 6], 0.5))) <= 1


def test_convert_stylegan2_pickle(tmp_path):
    out = tmp_path / "r32.zip"
    r = run("convert", PKL, out, "--export", tmp_path / "serving")
    assert r.exit_code == 0, r.output
    assert "resolution 32" in r.output
    G, D, Gs, info = load_snapshot(out, with_info=True)
    assert info["family"] == read_snapshot_info(out)["family"] == "stylegan2"
    assert info["metadata"] == {"converted_from": "stylegan2-r32.pkl",
                                "source_format": "official-tf"}
    assert isinstance(G, sg.StyleGAN2Generator) and isinstance(Gs, sg.StyleGAN2Generator)
    assert isinstance(D, sg.StyleGAN2Discriminator)
    assert (Gs.config.truncation_psi, Gs.config.truncation_cutoff) == (0.5, None)

    ref = dict(np.load(OUTPUTS))
    nhwc = lambda x: np.transpose(x, [0, 2, 3, 1])  # noqa: E731
    z = tf.constant(ref["z"])

    def rel(got, want):
        return np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max()

    assert rel(Gs.mapping(z), ref["w"]) < TOLERANCE
    assert rel(Gs.synthesis(tf.constant(ref["w"]), noise="const"), nhwc(ref["synth"])) < TOLERANCE
    assert rel(Gs(z, truncation_psi=1.0, noise="const"), nhwc(ref["psi1"])) < TOLERANCE
    assert rel(Gs(z, noise="const"), nhwc(ref["psi05"])) < TOLERANCE  # default psi 0.5, all
    assert rel(D(tf.constant(nhwc(ref["D_in"]))), ref["D"]) < TOLERANCE

    m = tf.saved_model.load(str(tmp_path / "serving" / "1"))
    served = m.signatures["serving_default"](z=z, truncation_psi=tf.constant(0.5))["images"]
    assert max_diff(served, official_uint8(nhwc(ref["psi05"]))) <= 1
    np.testing.assert_allclose(m.signatures["mapping"](z=z)["w"].numpy(), ref["w"], rtol=1e-4,
                               atol=1e-5)
    synth = m.signatures["synthesis"](w=tf.constant(ref["w"]))["images"]
    assert max_diff(synth, official_uint8(nhwc(ref["synth"]))) <= 1

    # The snapshot and the pickle give the same images.
    for sub, network in (("zip", out), ("pkl", PKL)):
        r = run("images", "--network", network, "--seeds", "11", "--outdir", tmp_path / sub)
        assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(read_png(tmp_path / "zip" / "seed0011.png"),
                                  read_png(tmp_path / "pkl" / "seed0011.png"))
    assert isinstance(load_network(PKL)[2], sg.StyleGAN2Generator)
