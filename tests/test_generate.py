"""generate.py images, figures, interpolate, export and convert, for each family.

Tiny snapshots: StyleGAN at 16x16 (6 dlatent rows), StyleGAN2 at 64x64 (10 rows, so that its
truncation of all layers and StyleGAN's cutoff 8 differ), and the official pickles of
tests/fixtures (made and evaluated by NVIDIA's code). Expected images come from the official
definitions (truncation `avg + psi * (w - avg)` on the layers below the cutoff, run_generator.py's
draws, the layer ranges written out) or the float64 numpy transcription of the official
StyleGAN2 networks, never from the command under test.
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
from apps import figures, generation, interpolation, video
from tests.paths import FIXTURES
from tests.tf_stylegan.stylegan2_numpy import np_mapping, np_synthesis
from tests.tf_stylegan.test_legacy import TOLERANCE
from tests.tiny_networks import tiny_networks
from tf_stylegan.images import to_uint8
from tf_stylegan.legacy import read_official_pickle
from tf_stylegan.snapshot import load_network, load_snapshot, read_snapshot_info, save_snapshot

FAMILIES = ["stylegan", "stylegan2"]
RESOLUTION = {"stylegan": 16, "stylegan2": 64}
# The official inference defaults (psi, cutoff): G_style 0.7 on the 8 coarsest layers, G_main
# 0.5 on all layers.
TRUNCATION = {"stylegan": (0.7, 8), "stylegan2": (0.5, None)}
CLASSES = {"stylegan": (sg.Generator, sg.Discriminator),
           "stylegan2": (sg.StyleGAN2Generator, sg.StyleGAN2Discriminator)}
SG2_PKL = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl")


@pytest.fixture(scope="module", params=FAMILIES)
def snap(request, tmp_path_factory):
    G, D = tiny_networks(request.param, RESOLUTION[request.param])
    path = str(tmp_path_factory.mktemp("net") / f"{request.param}.zip")
    save_snapshot(path, G, D, G)
    return path, load_snapshot(path)[2]


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def read_png(path):
    return np.asarray(Image.open(path))


def z_of(seeds, latent_size=16):
    return np.stack([np.random.RandomState(s).randn(latent_size) for s in seeds]).astype("f")


def truncated_w(Gs, seeds, psi, cutoff="default"):
    """`avg + psi * (w - avg)` on the layers below the cutoff (default: the family's), numpy."""
    cutoff = TRUNCATION[Gs.config.family][1] if cutoff == "default" else cutoff
    w = Gs.mapping(tf.constant(z_of(seeds, Gs.config.latent_size))).numpy()
    avg = Gs.dlatent_avg.numpy()
    out = avg + psi * (w - avg)
    if cutoff is not None:
        out[:, cutoff:] = w[:, cutoff:]
    return out.astype(np.float32)


def render(Gs, w, noise="const"):
    return np.asarray(to_uint8(Gs.synthesis(tf.constant(w), noise=noise)))


def official_uint8(x):
    """The official `convert_images_to_uint8`, NHWC: saturate_cast(x * 127.5 + 128)."""
    return np.clip(np.asarray(x, np.float64) * 127.5 + 128, 0, 255).astype(np.uint8)


def max_diff(a, b):
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()


def fake_ffmpeg(tmp_path, monkeypatch):
    """A stand-in encoder on PATH: copies the rawvideo stream to the output file (the last
    argument)."""
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a; do out="$a"; done\ncat > "$out"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")


# --- seeds ----------------------------------------------------------------------------------
def test_parse_seeds():
    assert generate.parse_seeds("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    assert generate.parse_seeds("42") == [42]
    for bad in ("", "a", "1-", "5-2", "1.5", "-3", "4294967296"):
        with pytest.raises(ValueError, match="seeds"):
            generate.parse_seeds(bad)


@pytest.mark.parametrize("snap", ["stylegan"], indirect=True)  # the options, not the network
def test_bad_seeds_and_bad_path_give_one_line_errors(snap, tmp_path):
    r = run("images", "--network", snap[0], "--seeds", "1-x", "--outdir", tmp_path)
    assert r.exit_code == 2 and "Invalid value for '--seeds'" in r.output
    missing = tmp_path / "nope.zip"
    r = run("images", "--network", missing, "--seeds", "1", "--outdir", tmp_path / "o")
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: {missing}: network file not found."
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    r = run("images", "--network", junk, "--seeds", "1", "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and str(junk) in r.output and len(r.output.strip().splitlines()) == 1


# --- images ---------------------------------------------------------------------------------
def test_images_match_the_network(snap, tmp_path):
    path, Gs = snap
    res = Gs.config.resolution
    r = run("images", "--network", path, "--seeds", "0-2,5", "--truncation-psi", "0.5",
            "--truncation-cutoff", "4", "--noise", "const", "--outdir", tmp_path, "--grid")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == ["grid.png", "seed0000.png", "seed0001.png",
                                            "seed0002.png", "seed0005.png"]
    seeds = [0, 1, 2, 5]
    expected = render(Gs, truncated_w(Gs, seeds, 0.5, cutoff=4))
    for s, image in zip(seeds, expected):
        got = read_png(tmp_path / f"seed{s:04d}.png")
        assert got.shape == (res, res, 3)
        assert max_diff(got, image) <= 1
    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == (2 * res, 2 * res, 3)
    np.testing.assert_array_equal(grid[res:, :res], read_png(tmp_path / "seed0002.png"))


def test_images_default_to_the_official_truncation(snap, tmp_path):
    path, Gs = snap
    psi, cutoff = TRUNCATION[Gs.config.family]
    assert (Gs.config.truncation_psi, Gs.config.truncation_cutoff) == (psi, cutoff)
    r = run("images", "--network", path, "--seeds", "2,9", "--noise", "const",
            "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    expected = render(Gs, truncated_w(Gs, [2, 9], psi))
    for seed, image in zip([2, 9], expected):
        assert max_diff(read_png(tmp_path / f"seed{seed:04d}.png"), image) <= 1
    if cutoff is None:
        # All layers: truncating only the first 8 rows (StyleGAN's cutoff) gives other images.
        assert Gs.config.num_layers == 10
        assert max_diff(render(Gs, truncated_w(Gs, [2], psi, cutoff=8))[0], expected[0]) > 2


def test_images_noise_modes_and_explicit_truncation(snap, tmp_path):
    path, Gs = snap
    for sub, noise in (("a", "random"), ("b", "random"), ("c", "const"), ("d", "none")):
        assert run("images", "--network", path, "--seeds", "4", "--noise", noise,
                   "--truncation-psi", "0.7", "--outdir", tmp_path / sub).exit_code == 0
    a, b, c, d = (read_png(tmp_path / s / "seed0004.png") for s in "abcd")
    np.testing.assert_array_equal(a, b)  # random noise is seeded
    assert not np.array_equal(a, c) and not np.array_equal(c, d)
    w = truncated_w(Gs, [4], 0.7)
    assert max_diff(c, render(Gs, w)[0]) <= 1
    assert max_diff(d, render(Gs, w, noise="none")[0]) <= 1
    # --truncation-cutoff: psi 0 below layer 3 only.
    r = run("images", "--network", path, "--seeds", "4", "--noise", "const", "--truncation-psi",
            "0", "--truncation-cutoff", "3", "--outdir", tmp_path / "e")
    assert r.exit_code == 0, r.output
    w = Gs.mapping(tf.constant(z_of([4]))).numpy()
    w[:, :3] = Gs.dlatent_avg.numpy()
    assert max_diff(read_png(tmp_path / "e" / "seed0004.png"), render(Gs, w)[0]) <= 1


def test_images_random_noise_is_drawn_as_run_generator(tmp_path):
    # StyleGAN2's run_generator.py generate-images: rnd = RandomState(seed); z = rnd.randn(1,
    # 64); then the noise variables noise0, noise1, ... (stored order) from the same rnd; psi
    # 0.5 on all layers; stored-noise synthesis. Rendered by the float64 numpy transcription.
    r = run("images", "--network", SG2_PKL, "--seeds", "3,7", "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    _, _, Gs_net = read_official_pickle(SG2_PKL)
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


def test_growing_snapshot_renders_its_level_unless_full_network(tmp_path):
    # A 16x16 StyleGAN network saved while training at 8x8 (lod 1): images and the SavedModel
    # render 8x8, nearest-upscaled, as the official Gs with its lod; --full-network renders
    # 16x16.
    G, D = tiny_networks("stylegan", 16)
    G.lod = 1.0
    path = tmp_path / "growing.zip"
    save_snapshot(path, G, D, G)
    args = ("--seeds", "3", "--noise", "const", "--truncation-psi", "1")
    assert run("images", "--network", path, *args, "--outdir", tmp_path / "lod").exit_code == 0
    assert run("images", "--network", path, "--full-network", *args,
               "--outdir", tmp_path / "full").exit_code == 0
    lod, full = read_png(tmp_path / "lod" / "seed0003.png"), read_png(tmp_path / "full" /
                                                                       "seed0003.png")
    z = tf.constant(z_of([3]))
    low = np.asarray(to_uint8(G(z, truncation_psi=1.0, noise="const", resolution=8)))[0]
    np.testing.assert_array_equal(lod, low.repeat(2, axis=0).repeat(2, axis=1))
    G.lod = 0
    expected_full = np.asarray(to_uint8(G(z, truncation_psi=1.0, noise="const")))[0]
    assert max_diff(full, expected_full) <= 1
    assert max_diff(full, lod) > 10
    # The SavedModel export renders the snapshot's level too.
    assert run("export", "--network", path, "--outdir", tmp_path / "serving").exit_code == 0
    served = tf.saved_model.load(str(tmp_path / "serving" / "1"))
    out = served.signatures["serving_default"](z=z, truncation_psi=tf.constant(1.0))
    np.testing.assert_array_equal(out["images"].numpy()[0], lod)


@pytest.mark.parametrize("family", FAMILIES)
def test_conditional_grayscale_network(tmp_path, family):
    G, D = tiny_networks(family, 16, label_size=3, num_channels=1, seed=1)
    path = tmp_path / "cond.zip"
    save_snapshot(path, G, D, G)
    r = run("images", "--network", path, "--seeds", "4", "--outdir", tmp_path)
    assert r.exit_code == 1 and "conditional (label_size=3)" in r.output
    r = run("images", "--network", path, "--seeds", "4", "--class-idx", "3", "--outdir", tmp_path)
    assert r.exit_code == 1 and "class index" in r.output
    r = run("images", "--network", path, "--seeds", "4", "--class-idx", "2", "--noise", "const",
            "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "seed0004.png")
    assert img.mode == "L" and img.size == (16, 16)
    ref = np.asarray(to_uint8(G(tf.constant(z_of([4])), tf.constant([[0.0, 0.0, 1.0]]),
                                noise="const")))
    assert max_diff(np.asarray(img), ref[0, :, :, 0]) <= 1
    r = run("images", "--network", path, "--seeds", "4", "--labels", "0,1", "--outdir", tmp_path)
    assert r.exit_code == 1 and "needs 3 values" in r.output


# --- figures --------------------------------------------------------------------------------
def test_layer_ranges_scale_the_official_split():
    assert figures.layer_ranges(18) == (range(0, 4), range(4, 8), range(8, 18))
    assert figures.layer_ranges(8) == (range(0, 2), range(2, 4), range(4, 8))
    assert figures.layer_ranges(6) == (range(0, 1), range(1, 3), range(3, 6))
    assert figures.layer_ranges(4) == (range(0, 1), range(1, 2), range(2, 4))


def check_layer_ranges_figure3(fig3, Gs):
    """StyleGAN's figure 3: white corner, the top row holds the source images (synthesis,
    stored noise, no truncation)."""
    res = Gs.config.resolution
    assert (fig3[:res, :res] == 255).all()
    src_w = Gs.mapping(tf.constant(generation.z_from_seeds(figures.FIG3_SRC_SEEDS, 16)))
    np.testing.assert_array_equal(fig3[:res, res:2 * res], generation.synthesize(Gs, src_w)[0])


def check_column_styles_figure3(fig3, Gs):
    """StyleGAN2's style mixing (test_style_mixing_figure_is_run_generators)."""
    np.testing.assert_array_equal(fig3, np.asarray(figures.stylegan2_style_mixing(
        Gs, progress=False)))


# Per family: the figure 3 check and the figure sizes (width, height) in tiles of `res`.
FIGURE3 = {"stylegan": check_layer_ranges_figure3, "stylegan2": check_column_styles_figure3}
SIZES = {
    # 16 px: figure 2 shows display LODs 0 and 1 (tiles >= 8 px); figure 3 5 x 6 mixes.
    "stylegan": {"figure02-uncurated.png": (16 + 8, 48), "figure03-style-mixing.png": (96, 112)},
    # 64 px: every display LOD; 4 column seeds, 5 row seeds.
    "stylegan2": {"figure02-uncurated.png": (64 + 32 + 16 + 16 + 8 + 8, 64 * 3),
                  "figure03-style-mixing.png": (64 * 5, 64 * 6)},
}


def test_figures_cli(snap, tmp_path):
    path, Gs = snap
    family, res = Gs.config.family, Gs.config.resolution
    r = run("figures", "--network", path, "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    names = {name for name, _ in figures.figures_for(Gs.config).values()}
    assert names == {name for name, _ in figures.FIGURES.values()}
    sizes = {name: Image.open(tmp_path / name).size for name in names}
    assert sizes == {**SIZES[family],
                     "figure04-noise-detail.png": (res * 3, res * 2),
                     "figure05-noise-components.png": (res * 2, res * 2),
                     "figure08-truncation-trick.png": (res * 6, res * 2)}
    FIGURE3[family](read_png(tmp_path / "figure03-style-mixing.png"), Gs)
    # Figure 8: psi = 0 (column 3) on all layers gives the average image for every seed.
    fig8 = read_png(tmp_path / "figure08-truncation-trick.png")
    np.testing.assert_array_equal(fig8[:res, 3 * res:4 * res], fig8[res:, 3 * res:4 * res])
    assert not np.array_equal(fig8[:res, :res], fig8[res:, :res])
    r = run("figures", "--network", path, "--outdir", tmp_path, "--figures", "2,7")
    assert r.exit_code == 1 and "unknown figure numbers [7]" in r.output


@pytest.mark.parametrize("snap", ["stylegan2"], indirect=True)
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
    G16, _ = tiny_networks("stylegan2", 16)
    fig16 = np.asarray(figures.stylegan2_style_mixing(G16, progress=False))
    row_w, col_w = truncated_w(G16, rows[:1], 0.5), truncated_w(G16, cols[:1], 0.5)
    mixed = col_w.copy()
    mixed[:, 5] = row_w[:, 5]
    assert max_diff(fig16[16:32, 16:32], render(G16, mixed)[0]) <= 1


def test_noise_figures_show_the_noise(snap):
    _, Gs = snap
    res = Gs.config.resolution
    z = np.repeat(generation.z_from_seed(1, 16)[None], 8, 0)
    images = generation.generate_images(Gs, z, truncation_psi=1.0, noise="random", seed=1)
    std = figures.noise_std_map(images)
    assert std.shape == (res, res) and std.mean() > 1  # different noise, different images
    const = generation.generate_images(Gs, z, noise="const")
    assert figures.noise_std_map(const).max() == 0
    # Figure 5's "no noise" panel (top right) is the right half of the noise="none" image.
    fig5 = np.asarray(figures.figure5_noise_components(Gs, progress=False))
    w = Gs.mapping(tf.constant(generation.z_from_seeds(figures.FIG5_SEEDS, 16)))
    none = generation.synthesize(Gs, w, noise="none")
    half = res // 2
    np.testing.assert_array_equal(fig5[:res, half:res], none[0][:, half:])
    np.testing.assert_array_equal(fig5[:res, res + half:], none[1][:, ::-1][:, half:])  # mirrored


# Per family at the snapshot's resolution: the noise map sizes (StyleGAN: one per layer, two
# per resolution; StyleGAN2: one per convolution, none on the constant) and figure 5's ranges
# (all, none, fine, coarse) from StyleGAN's split of that many layers: layer_ranges(6) puts
# the fine layers from 3 (8 px), layer_ranges(10) from layer 4 (16 px), which puts the first
# three maps (4-8 px) in the coarse range in both.
NOISE_MAPS = {
    "stylegan": ([4, 4, 8, 8, 16, 16], [range(0, 6), range(0, 0), range(3, 6), range(0, 3)]),
    "stylegan2": ([4, 8, 8, 16, 16, 32, 32, 64, 64],
                  [range(0, 9), range(0, 0), range(3, 9), range(0, 3)]),
}


def test_noise_figure_uses_the_noise_maps_of_the_papers_resolutions(snap):
    _, Gs = snap
    sizes, ranges = NOISE_MAPS[Gs.config.family]
    assert Gs.synthesis.noise_shapes() == sizes
    assert figures.figure5_noise_ranges(Gs) == ranges
    # Coarse only (bottom right: right half of the first seed's image), psi 1, stored noise.
    res = Gs.config.resolution
    fig5 = np.asarray(figures.figure5_noise_components(Gs, progress=False))
    w = Gs.mapping(tf.constant(z_of(figures.FIG5_SEEDS))).numpy()
    buffers = [b.numpy() for b in Gs.synthesis.noise_buffers]
    coarse = [b if i < 3 else np.zeros_like(b) for i, b in enumerate(buffers)]
    np.testing.assert_array_equal(fig5[res:, res // 2:res],
                                  render(Gs, w, coarse)[0][:, res // 2:])


def test_noise_ranges_at_1024_are_the_papers():
    # Paper, figure 5: fine = 64-1024 px, coarse = 4-32 px. StyleGAN2 at 1024 px has noise0..16:
    # 4, then two maps of each size 8..1024 (written out, official G_synthesis_stylegan2).
    sizes = [4] + [2**r for r in range(3, 11) for _ in range(2)]
    assert [i for i, s in enumerate(sizes) if s <= 32] == list(range(7))

    def stub(config, sizes):  # what figure5_noise_ranges reads, without building 30M weights
        return SimpleNamespace(config=config, synthesis=SimpleNamespace(noise_shapes=lambda: sizes))

    assert figures.figure5_noise_ranges(stub(sg.StyleGAN2Config(resolution=1024), sizes)) == [
        range(0, 17), range(0, 0), range(7, 17), range(0, 7)]
    # StyleGAN at 1024 px, a map per layer (two per resolution 4..1024): layers 8-17 fine, 0-7
    # coarse (official generate_figures.py).
    sizes = [2**r for r in range(2, 11) for _ in range(2)]
    assert figures.figure5_noise_ranges(stub(sg.NetworkConfig(resolution=1024), sizes)) == [
        range(0, 18), range(0, 0), range(8, 18), range(0, 8)]


# --- interpolate ----------------------------------------------------------------------------
def test_slerp_endpoints_and_norm():
    rng = np.random.RandomState(0)
    a, b = rng.randn(16), rng.randn(16)
    np.testing.assert_allclose(interpolation.slerp(a, b, 0.0), a, rtol=1e-5)
    np.testing.assert_allclose(interpolation.slerp(a, b, 1.0), b, rtol=1e-5)
    mid = interpolation.slerp(a / np.linalg.norm(a), b / np.linalg.norm(b), 0.5)
    assert abs(np.linalg.norm(mid) - 1) < 1e-5


@pytest.mark.parametrize("snap", ["stylegan"], indirect=True)  # the encoder, not the network
def test_interpolate_gif_fallback(snap, tmp_path, monkeypatch):
    path, Gs = snap
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    r = run("interpolate", "--network", path, "--seeds", "1,2,3", "--space", "w",
            "--frames", "4", "--fps", "10", "--out", tmp_path / "walk.mp4")
    assert r.exit_code == 0, r.output
    assert "writing a GIF" in r.output and not (tmp_path / "walk.mp4").exists()
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 2 * 4 + 1 and gif.size == (16, 16)
    assert gif.info["duration"] == 100
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("RGB")).astype(int)
    ref = np.asarray(to_uint8(Gs(tf.constant(z_of([3])), noise="const")))[0]
    assert np.abs(last - ref).mean() < 8  # GIF palette quantization only
    r = run("interpolate", "--network", path, "--seeds", "1", "--out", tmp_path / "x.gif")
    assert r.exit_code == 2 and "at least 2 seeds" in r.output


def test_interpolate_frames_use_the_networks_truncation(snap, tmp_path, monkeypatch):
    path, Gs = snap
    res = Gs.config.resolution
    psi = TRUNCATION[Gs.config.family][0]
    fake_ffmpeg(tmp_path, monkeypatch)
    r = run("interpolate", "--network", path, "--seeds", "1,2", "--space", "w", "--frames", "3",
            "--out", tmp_path / "walk.mp4")
    assert r.exit_code == 0, r.output
    frames = np.frombuffer((tmp_path / "walk.mp4").read_bytes(), np.uint8).reshape(-1, res, res, 3)
    assert len(frames) == 3 + 1
    ends = render(Gs, truncated_w(Gs, [1, 2], psi))  # the default truncation, stored noise
    assert max_diff(frames[0], ends[0]) <= 1 and max_diff(frames[-1], ends[1]) <= 1
    w = Gs.mapping(tf.constant(z_of([1, 2]))).numpy()
    mid = (2 / 3) * w[0] + (1 / 3) * w[1]  # frame 1 of 3: w lerp, then truncation
    avg = Gs.dlatent_avg.numpy()
    assert max_diff(frames[1], render(Gs, (avg + psi * (mid - avg))[None])[0]) <= 1
    # z space, looped: 1 -> 2 -> 1, the endpoint not repeated.
    r = run("interpolate", "--network", path, "--seeds", "1,2", "--space", "z", "--frames", "3",
            "--loop", "--out", tmp_path / "loop.mp4")
    assert r.exit_code == 0, r.output
    frames = np.frombuffer((tmp_path / "loop.mp4").read_bytes(), np.uint8).reshape(-1, res, res, 3)
    assert len(frames) == 2 * 3
    assert not np.array_equal(frames[0], frames[1])


# --- export / convert -----------------------------------------------------------------------
def test_export_cli(snap, tmp_path):
    path, Gs = snap
    r = run("export", "--network", path, "--outdir", tmp_path / "m", "--version", "2")
    assert r.exit_code == 0, r.output
    assert os.path.isfile(tmp_path / "m" / "2" / "saved_model.pb")
    sig = tf.saved_model.load(str(tmp_path / "m" / "2")).signatures["serving_default"]
    served = sig(z=tf.constant(z_of([5, 6])), truncation_psi=tf.constant(0.5))["images"].numpy()
    assert max_diff(served, render(Gs, truncated_w(Gs, [5, 6], 0.5))) <= 1
    r = run("export", "--network", path, "--outdir", tmp_path / "m", "--version", "2")
    assert r.exit_code == 1 and "already exists" in r.output


# The official pickles (tests/fixtures) and the output the family's official code gave at its
# default truncation.
OFFICIAL = {"stylegan": (os.path.join(FIXTURES, "official", "official-r32"), "psi07"),
            "stylegan2": (os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32"), "psi05")}


@pytest.mark.parametrize("family", FAMILIES)
def test_convert_official_pickle(tmp_path, family):
    base, default_key = OFFICIAL[family]
    tolerance = TOLERANCE[family]  # test_legacy.py's, from the errors measured there
    pkl = base + ".pkl"
    out = tmp_path / "r32.zip"
    r = run("convert", pkl, out, "--export", tmp_path / "serving")
    assert r.exit_code == 0, r.output
    assert "resolution 32" in r.output
    G, D, Gs, info = load_snapshot(out, with_info=True)
    assert info["family"] == read_snapshot_info(out)["family"] == family
    assert info["metadata"] == {"converted_from": os.path.basename(pkl),
                                "source_format": "official-tf"}
    G_class, D_class = CLASSES[family]
    assert type(G) is type(Gs) is G_class and type(D) is D_class
    assert (Gs.config.truncation_psi, Gs.config.truncation_cutoff) == TRUNCATION[family]

    ref = dict(np.load(base + "-outputs.npz"))
    nhwc = lambda x: np.transpose(x, [0, 2, 3, 1])  # noqa: E731
    z = tf.constant(ref["z"])

    def rel(got, want):
        return np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max()

    assert rel(Gs.mapping(z), ref["w"]) < tolerance
    assert rel(Gs.synthesis(tf.constant(ref["w"]), noise="const"), nhwc(ref["synth"])) < tolerance
    images = Gs(z, truncation_psi=1.0, noise="const").numpy()
    assert rel(images, nhwc(ref["psi1"])) < tolerance
    assert rel(Gs(z, noise="const"), nhwc(ref[default_key])) < tolerance  # the default psi
    assert rel(D(tf.constant(nhwc(ref["D_in"]))), ref["D"]) < tolerance

    psi = TRUNCATION[family][0]
    m = tf.saved_model.load(str(tmp_path / "serving" / "1"))
    served = m.signatures["serving_default"](z=z, truncation_psi=tf.constant(psi))["images"]
    assert max_diff(served, official_uint8(nhwc(ref[default_key]))) <= 1
    np.testing.assert_allclose(m.signatures["mapping"](z=z)["w"].numpy(), ref["w"], rtol=1e-4,
                               atol=1e-5)
    synth = m.signatures["synthesis"](w=tf.constant(ref["w"]))["images"]
    assert max_diff(synth, official_uint8(nhwc(ref["synth"]))) <= 1

    # --network also takes the official pickle directly: the same networks and images.
    direct_Gs = load_network(pkl)[2]
    assert type(direct_Gs) is G_class
    direct = direct_Gs(z, truncation_psi=1.0, noise="const")
    np.testing.assert_allclose(direct.numpy(), images, atol=1e-6, rtol=0)
    for sub, network in (("zip", out), ("pkl", pkl)):
        r = run("images", "--network", network, "--seeds", "11", "--outdir", tmp_path / sub)
        assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(read_png(tmp_path / "zip" / "seed0011.png"),
                                  read_png(tmp_path / "pkl" / "seed0011.png"))
    r = run("convert", tmp_path / "missing.pkl", tmp_path / "x.zip")
    assert r.exit_code == 1 and "missing.pkl" in r.output
