"""generate.py: images, figures, interpolation, export and convert on tiny networks."""

import os
import stat

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

import generate
import tf_stylegan as sg
from apps import figures, generation, interpolation, video
from tf_stylegan.images import to_uint8
from tf_stylegan.snapshot import load_network, load_snapshot, save_snapshot


def tiny_networks(label_size=0, num_channels=3, seed=0):
    """16x16 G and D with randomized noise weights and dlatent_avg (both zero at init)."""
    cfg = sg.NetworkConfig(resolution=16, fmap_base=32, fmap_max=16, latent_size=16,
                           dlatent_size=16, mapping_fmaps=16, mapping_layers=2,
                           label_size=label_size, num_channels=num_channels)
    G = sg.Generator(cfg)
    rng = np.random.RandomState(seed)
    for v in G.variables:
        if "noise" in v.path and v.trainable:
            v.assign(rng.randn(*v.shape).astype(np.float32) * 0.5)
    G.dlatent_avg.assign(rng.randn(cfg.dlatent_size).astype(np.float32) * 0.3)
    return G, sg.Discriminator(cfg)


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    G, D = tiny_networks()
    path = str(tmp_path_factory.mktemp("net") / "tiny.zip")
    save_snapshot(path, G, D, G)
    return path, load_snapshot(path)[2]


@pytest.fixture(scope="module")
def cond_snap(tmp_path_factory):
    G, D = tiny_networks(label_size=3, num_channels=1, seed=1)
    path = str(tmp_path_factory.mktemp("net") / "cond.zip")
    save_snapshot(path, G, D, G)
    return path, G


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def read_png(path):
    return np.asarray(Image.open(path))


# --- seeds ----------------------------------------------------------------------------------
def test_parse_seeds():
    assert generate.parse_seeds("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    assert generate.parse_seeds("42") == [42]
    for bad in ("", "a", "1-", "5-2", "1.5", "-3", "4294967296"):
        with pytest.raises(ValueError, match="seeds"):
            generate.parse_seeds(bad)


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
    r = run("images", "--network", path, "--seeds", "0-2,5", "--truncation-psi", "0.5",
            "--truncation-cutoff", "4", "--noise", "const", "--outdir", tmp_path, "--grid")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == ["grid.png", "seed0000.png", "seed0001.png",
                                            "seed0002.png", "seed0005.png"]
    seeds = [0, 1, 2, 5]
    z = np.concatenate([np.random.RandomState(s).randn(1, 16) for s in seeds]).astype("f")
    expected = np.asarray(to_uint8(Gs(tf.constant(z), truncation_psi=0.5, truncation_cutoff=4,
                                      noise="const")))
    for s, image in zip(seeds, expected):
        got = read_png(tmp_path / f"seed{s:04d}.png")
        assert got.shape == (16, 16, 3)
        assert np.abs(got.astype(int) - image.astype(int)).max() <= 1
    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == (32, 32, 3)
    np.testing.assert_array_equal(grid[16:, :16], read_png(tmp_path / "seed0002.png"))


def test_growing_snapshot_renders_its_level_unless_full_network(tmp_path):
    # A 16x16 network saved while training at 8x8 (lod 1): images and the SavedModel render
    # 8x8, nearest-upscaled, as the official Gs with its lod; --full-network renders 16x16.
    G, D = tiny_networks()
    G.lod = 1.0
    path = tmp_path / "growing.zip"
    save_snapshot(path, G, D, G)
    args = ("--seeds", "3", "--noise", "const", "--truncation-psi", "1")
    assert run("images", "--network", path, *args, "--outdir", tmp_path / "lod").exit_code == 0
    assert run("images", "--network", path, "--full-network", *args,
               "--outdir", tmp_path / "full").exit_code == 0
    lod, full = read_png(tmp_path / "lod" / "seed0003.png"), read_png(tmp_path / "full" /
                                                                       "seed0003.png")
    z = tf.constant(np.random.RandomState(3).randn(1, 16), tf.float32)
    low = np.asarray(to_uint8(G(z, truncation_psi=1.0, noise="const", resolution=8)))[0]
    np.testing.assert_array_equal(lod, low.repeat(2, axis=0).repeat(2, axis=1))
    G.lod = 0
    expected_full = np.asarray(to_uint8(G(z, truncation_psi=1.0, noise="const")))[0]
    assert np.abs(full.astype(int) - expected_full.astype(int)).max() <= 1
    assert np.abs(full.astype(int) - lod.astype(int)).max() > 10
    # The SavedModel export renders the snapshot's level too.
    assert run("export", "--network", path, "--outdir", tmp_path / "serving").exit_code == 0
    served = tf.saved_model.load(str(tmp_path / "serving" / "1"))
    out = served.signatures["serving_default"](z=z, truncation_psi=tf.constant(1.0))
    np.testing.assert_array_equal(out["images"].numpy()[0], lod)


def test_random_noise_is_seeded_and_matters(snap, tmp_path):
    path, _ = snap
    for sub, noise in (("a", "random"), ("b", "random"), ("c", "const"), ("d", "none")):
        assert run("images", "--network", path, "--seeds", "3", "--noise", noise,
                   "--outdir", tmp_path / sub).exit_code == 0
    a, b, c, d = (read_png(tmp_path / s / "seed0003.png") for s in "abcd")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(c, d)


def test_conditional_grayscale_network(cond_snap, tmp_path):
    path, G = cond_snap
    r = run("images", "--network", path, "--seeds", "4", "--outdir", tmp_path)
    assert r.exit_code == 1 and "conditional (label_size=3)" in r.output
    r = run("images", "--network", path, "--seeds", "4", "--class-idx", "3", "--outdir", tmp_path)
    assert r.exit_code == 1 and "class index" in r.output
    r = run("images", "--network", path, "--seeds", "4", "--class-idx", "2", "--noise", "const",
            "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "seed0004.png")
    assert img.mode == "L" and img.size == (16, 16)
    z = np.random.RandomState(4).randn(1, 16).astype("f")
    ref = np.asarray(to_uint8(G(tf.constant(z), tf.constant([[0.0, 0.0, 1.0]]), noise="const")))
    assert np.abs(np.asarray(img).astype(int) - ref[0, :, :, 0].astype(int)).max() <= 1
    r = run("images", "--network", path, "--seeds", "4", "--labels", "0,1", "--outdir", tmp_path)
    assert r.exit_code == 1 and "needs 3 values" in r.output


# --- figures --------------------------------------------------------------------------------
def test_layer_ranges_scale_the_official_split():
    assert figures.layer_ranges(18) == (range(0, 4), range(4, 8), range(8, 18))
    assert figures.layer_ranges(8) == (range(0, 2), range(2, 4), range(4, 8))
    assert figures.layer_ranges(6) == (range(0, 1), range(1, 3), range(3, 6))
    assert figures.layer_ranges(4) == (range(0, 1), range(1, 2), range(2, 4))


def test_figures_cli(snap, tmp_path):
    path, Gs = snap
    r = run("figures", "--network", path, "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    sizes = {name: Image.open(tmp_path / name).size for name, _ in figures.FIGURES.values()}
    assert sizes == {
        "figure02-uncurated.png": (16 + 8, 48),  # display LODs 0, 1 (tiles >= 8 px)
        "figure03-style-mixing.png": (16 * 6, 16 * 7),
        "figure04-noise-detail.png": (16 * 3, 16 * 2),
        "figure05-noise-components.png": (16 * 2, 16 * 2),
        "figure08-truncation-trick.png": (16 * 6, 16 * 2),
    }
    # Figure 8: psi = 0 (column 3) on all layers gives the average image for every seed.
    fig8 = read_png(tmp_path / "figure08-truncation-trick.png")
    np.testing.assert_array_equal(fig8[:16, 48:64], fig8[16:, 48:64])
    assert not np.array_equal(fig8[:16, :16], fig8[16:, :16])
    # Figure 3: the top row holds the source images (synthesis, stored noise, no truncation).
    fig3 = read_png(tmp_path / "figure03-style-mixing.png")
    assert (fig3[:16, :16] == 255).all()
    src_w = Gs.mapping(tf.constant(generation.z_from_seeds(figures.FIG3_SRC_SEEDS, 16)))
    np.testing.assert_array_equal(fig3[:16, 16:32], generation.synthesize(Gs, src_w)[0])
    r = run("figures", "--network", path, "--outdir", tmp_path, "--figures", "2,7")
    assert r.exit_code == 1 and "unknown figure numbers [7]" in r.output


def test_noise_figures_show_the_noise(snap):
    _, Gs = snap
    images = generation.generate_images(Gs, np.repeat(generation.z_from_seed(1, 16)[None], 8, 0),
                                        truncation_psi=1.0, noise="random", seed=1)
    std = figures.noise_std_map(images)
    assert std.shape == (16, 16) and std.mean() > 1  # different noise, different images
    const = generation.generate_images(Gs, np.repeat(generation.z_from_seed(1, 16)[None], 8, 0),
                                       noise="const")
    assert figures.noise_std_map(const).max() == 0  # 0.5 rounds down: 0
    # Figure 5's "no noise" panel (top right) is the right half of the noise="none" image.
    fig5 = np.asarray(figures.figure5_noise_components(Gs, progress=False))
    w = Gs.mapping(tf.constant(generation.z_from_seeds(figures.FIG5_SEEDS, 16)))
    none = generation.synthesize(Gs, w, noise="none")
    np.testing.assert_array_equal(fig5[:16, 8:16], none[0][:, 8:])
    np.testing.assert_array_equal(fig5[:16, 24:32], none[1][:, ::-1][:, 8:])  # seed 2 mirrored


# --- interpolate ----------------------------------------------------------------------------
def test_slerp_endpoints_and_norm():
    rng = np.random.RandomState(0)
    a, b = rng.randn(16), rng.randn(16)
    np.testing.assert_allclose(interpolation.slerp(a, b, 0.0), a, rtol=1e-5)
    np.testing.assert_allclose(interpolation.slerp(a, b, 1.0), b, rtol=1e-5)
    mid = interpolation.slerp(a / np.linalg.norm(a), b / np.linalg.norm(b), 0.5)
    assert abs(np.linalg.norm(mid) - 1) < 1e-5


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
    ref = np.asarray(to_uint8(Gs(tf.constant(generation.z_from_seeds([3], 16)),
                                 noise="const")))[0]
    assert np.abs(last - ref).mean() < 8  # GIF palette quantization only
    r = run("interpolate", "--network", path, "--seeds", "1", "--out", tmp_path / "x.gif")
    assert r.exit_code == 2 and "at least 2 seeds" in r.output


def test_interpolate_mp4_pipes_raw_frames_to_ffmpeg(snap, tmp_path, monkeypatch):
    path, _ = snap
    # A stand-in encoder: copies the rawvideo stream to the output file (the last argument).
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a; do out="$a"; done\ncat > "$out"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    r = run("interpolate", "--network", path, "--seeds", "1,2", "--space", "z", "--frames", "3",
            "--loop", "--out", tmp_path / "walk.mp4")
    assert r.exit_code == 0, r.output
    raw = np.frombuffer((tmp_path / "walk.mp4").read_bytes(), np.uint8)
    frames = raw.reshape(-1, 16, 16, 3)
    assert len(frames) == 2 * 3  # looped: 1->2->1, endpoint not repeated
    assert not np.array_equal(frames[0], frames[1])


# --- export / convert -----------------------------------------------------------------------
def test_export_cli(snap, tmp_path):
    path, _ = snap
    r = run("export", "--network", path, "--outdir", tmp_path / "m", "--version", "2")
    assert r.exit_code == 0, r.output
    assert os.path.isfile(tmp_path / "m" / "2" / "saved_model.pb")
    r = run("export", "--network", path, "--outdir", tmp_path / "m", "--version", "2")
    assert r.exit_code == 1 and "already exists" in r.output


def test_convert_official_pickle(fixtures_dir, tmp_path):
    pkl = os.path.join(fixtures_dir, "official", "official-r32.pkl")
    ref = np.load(os.path.join(fixtures_dir, "official", "official-r32-outputs.npz"))
    out = tmp_path / "r32.zip"
    r = run("convert", pkl, out, "--export", tmp_path / "serving")
    assert r.exit_code == 0, r.output
    _, _, Gs = load_snapshot(out)
    images = Gs(tf.constant(ref["z"]), truncation_psi=1.0, noise="const").numpy()
    np.testing.assert_allclose(images, ref["psi1"].transpose(0, 2, 3, 1), atol=1e-4, rtol=0)
    sig = tf.saved_model.load(str(tmp_path / "serving" / "1")).signatures["serving_default"]
    served = sig(z=tf.constant(ref["z"]), truncation_psi=tf.constant(0.7))["images"].numpy()
    official = np.asarray(to_uint8(ref["psi07"].transpose(0, 2, 3, 1)))
    assert np.abs(served.astype(int) - official.astype(int)).max() <= 1
    # --network also takes the official pickle directly.
    _, _, direct_Gs = load_network(pkl)
    direct = direct_Gs(tf.constant(ref["z"]), truncation_psi=1.0, noise="const")
    np.testing.assert_allclose(direct.numpy(), images, atol=1e-6, rtol=0)
    r = run("convert", tmp_path / "missing.pkl", tmp_path / "x.zip")
    assert r.exit_code == 1 and "missing.pkl" in r.output
