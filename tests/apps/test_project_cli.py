"""`generate.py project` and `generate.py images --projected-w` on tiny StyleGAN and StyleGAN2
networks."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

import generate
import tf_stylegan as sg
from data.image_files import decode_image
from metrics.lpips import LPIPS_ENV, save_lpips_npz
from tests.tiny_networks import projector_generator, random_lpips
from tf_stylegan.images import to_uint8
from tf_stylegan.snapshot import load_snapshot, save_snapshot


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny 16x16 RGB snapshot, LPIPS weights and two target images of other shapes."""
    root = tmp_path_factory.mktemp("project")
    G = projector_generator("stylegan", 16)
    save_snapshot(str(root / "net.zip"), G, sg.Discriminator(G.config), G)
    save_lpips_npz(random_lpips(), str(root / "lpips.npz"))
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, [24, 20, 4], dtype=np.uint8), "RGBA").save(
        root / "face.png")
    Image.fromarray(rng.randint(0, 256, [40, 40], dtype=np.uint8), "L").save(root / "digit.png")
    return root


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def read_png(path):
    return np.asarray(Image.open(path))


def test_project_writes_the_files_and_images_renders_the_projection_again(files, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)  # no ffmpeg: the video is a GIF
    out = tmp_path / "out"
    r = run("project", "--network", files / "net.zip", "--target", files / "face.png",
            "--target", files / "digit.png", "--outdir", out, "--num-steps", 3,
            "--lpips", files / "lpips.npz", "--save-video")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["digit", "face"]
    Gs = load_snapshot(str(files / "net.zip"))[2]
    for name in ("face", "digit"):
        d = out / name
        assert sorted(p.name for p in d.iterdir()) == [
            "distances.json", "proj.gif", "proj.png", "projected_w.npz", "target.png"]
        # The target is fitted as dataset_tool.py fits images (RGBA / gray -> RGB, center crop).
        fitted = decode_image(str(files / f"{name}.png"), name, channels=3, resolution=16)
        np.testing.assert_array_equal(read_png(d / "target.png"), fitted.transpose(1, 2, 0))
        with np.load(d / "projected_w.npz") as data:
            assert sorted(data.files) == ["noise0", "noise1", "noise2", "noise3", "noise4",
                                          "noise5", "w"]
            w = data["w"]
            noise = [data[f"noise{i}"] for i in range(6)]
        assert w.shape == (1, 6, 16)
        assert [v.shape for v in noise] == [(1, s, s, 1) for s in (4, 4, 8, 8, 16, 16)]
        np.testing.assert_array_equal(w, np.repeat(w[:, :1], 6, axis=1))  # one w, tiled
        # proj.png is the network's image of the stored w and noise maps.
        expected = np.asarray(to_uint8(Gs.synthesis(tf.constant(w), noise=noise)))[0]
        np.testing.assert_array_equal(read_png(d / "proj.png"), expected)
        with open(d / "distances.json") as f:
            dists = json.load(f)["lpips"]
        assert len(dists) == 3 and all(x > 0 for x in dists)
        with Image.open(d / "proj.gif") as gif:
            assert gif.n_frames == 3 and gif.size == (32, 16)  # target | projection
        assert f"Wrote {d}: LPIPS distance {dists[0]:.4f} -> {dists[-1]:.4f}" in r.output

        again = tmp_path / f"again-{name}"
        r2 = run("images", "--network", files / "net.zip", "--projected-w",
                 d / "projected_w.npz", "--outdir", again)
        assert r2.exit_code == 0, r2.output
        assert sorted(p.name for p in again.iterdir()) == ["proj00.png"]
        np.testing.assert_array_equal(read_png(again / "proj00.png"), read_png(d / "proj.png"))


def test_project_w_plus_and_seed(files, tmp_path):
    for sub, extra in (("a", ["--w-plus"]), ("b", ["--w-plus"]), ("c", ["--w-plus", "--seed", 1])):
        r = run("project", "--network", files / "net.zip", "--target", files / "digit.png",
                "--outdir", tmp_path / sub, "--num-steps", 2, "--lpips", files / "lpips.npz",
                *extra)
        assert r.exit_code == 0, r.output
    w = {s: np.load(tmp_path / s / "digit" / "projected_w.npz")["w"] for s in "abc"}
    assert np.abs(w["a"][0, 1:] - w["a"][0, :1]).max() > 1e-4  # one w per layer
    np.testing.assert_array_equal(w["a"], w["b"])  # seeded
    assert not np.array_equal(w["a"], w["c"])


def test_project_without_lpips_weights_says_how_to_get_them(files, tmp_path, monkeypatch):
    monkeypatch.delenv(LPIPS_ENV, raising=False)
    r = run("project", "--network", files / "net.zip", "--target", files / "face.png",
            "--outdir", tmp_path)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: projection needs the LPIPS-VGG16")
    assert "python -m metrics.lpips convert" in lines[0] and "README.md" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_project_bad_targets(files, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    r = run("project", "--network", files / "net.zip", "--target", bad, "--outdir",
            tmp_path / "o", "--lpips", files / "lpips.npz")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert f"{bad}: cannot decode image" in r.output
    r = run("project", "--network", files / "net.zip", "--target", tmp_path / "nope.png",
            "--outdir", tmp_path / "o")
    assert r.exit_code == 2 and "nope.png" in r.output and "does not exist" in r.output
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "face.png").write_bytes((files / "face.png").read_bytes())
    r = run("project", "--network", files / "net.zip", "--target", files / "face.png",
            "--target", tmp_path / "x" / "face.png", "--outdir", tmp_path / "o",
            "--lpips", files / "lpips.npz")
    assert r.exit_code == 1 and "several targets are named 'face'" in r.output
    assert not (tmp_path / "o").exists()


def test_images_projected_w_excludes_seeds_and_checks_the_file(files, tmp_path):
    w = np.zeros([1, 6, 16], np.float32)
    path = tmp_path / "w.npz"
    np.savez(path, w=w)
    r = run("images", "--network", files / "net.zip", "--projected-w", path, "--seeds", "1",
            "--outdir", tmp_path / "o")
    assert r.exit_code == 2 and "--seeds does not apply" in r.output
    r = run("images", "--network", files / "net.zip", "--outdir", tmp_path / "o")
    assert r.exit_code == 2 and "pass --seeds (or --projected-w)" in r.output
    r = run("images", "--network", files / "net.zip", "--projected-w", path,
            "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert f"{path}: noise maps of sizes []" in r.output


def test_project_and_render_again_on_a_stylegan2_network(files, tmp_path):
    G = projector_generator("stylegan2", 16)
    net = tmp_path / "net2.zip"
    save_snapshot(str(net), G, sg.StyleGAN2Discriminator(G.config), G)
    out = tmp_path / "out"
    r = run("project", "--network", net, "--target", files / "digit.png", "--outdir", out,
            "--num-steps", 3, "--lpips", files / "lpips.npz")
    assert r.exit_code == 0, r.output
    d = out / "digit"
    Gs = load_snapshot(str(net))[2]
    with np.load(d / "projected_w.npz") as data:
        # The official StyleGAN2 noise maps noise0..noise4 (4x4, then two of 8 and of 16).
        assert sorted(data.files) == ["noise0", "noise1", "noise2", "noise3", "noise4", "w"]
        w = data["w"]
        noise = [data[f"noise{i}"] for i in range(5)]
    assert w.shape == (1, 6, 16)
    assert [v.shape for v in noise] == [(1, s, s, 1) for s in (4, 8, 8, 16, 16)]
    np.testing.assert_array_equal(w, np.repeat(w[:, :1], 6, axis=1))  # one w, tiled
    expected = np.asarray(to_uint8(Gs.synthesis(tf.constant(w), noise=noise)))[0]
    np.testing.assert_array_equal(read_png(d / "proj.png"), expected)
    r = run("images", "--network", net, "--projected-w", d / "projected_w.npz",
            "--outdir", tmp_path / "again")
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(read_png(tmp_path / "again" / "proj00.png"),
                                  read_png(d / "proj.png"))
    # A StyleGAN network's projection (6 noise maps) does not fit this network.
    v1 = tmp_path / "v1"
    assert run("project", "--network", files / "net.zip", "--target", files / "digit.png",
               "--outdir", v1, "--num-steps", 1, "--lpips", files / "lpips.npz").exit_code == 0
    r = run("images", "--network", net, "--projected-w", v1 / "digit" / "projected_w.npz",
            "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and "this network takes 5 maps of sizes [4, 8, 8, 16, 16]" in r.output
