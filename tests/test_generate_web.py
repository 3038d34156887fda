"""generate.py web (the site and its local server) and export --format, on tiny networks.
The page itself is tested in a browser in tests/apps/test_web.py."""

import io
import json
import os
import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

import generate
import tf_stylegan as sg
from apps.web.server import serve, url
from apps.web.site import PAGE_FILES, RUNTIME_FILES, runtime_dir
from tests.apps.test_runtimes import stylegan, stylegan2
from tf_stylegan.errors import UserError
from tf_stylegan.snapshot import save_snapshot


def run(*args):
    return CliRunner().invoke(generate.cli, [str(a) for a in args], catch_exceptions=False)


def snapshot(tmp_path_factory, G, name):
    path = str(tmp_path_factory.mktemp("net") / f"{name}.zip")
    D = (sg.StyleGAN2Discriminator if G.config.family == "stylegan2" else sg.Discriminator)(
        G.config)
    save_snapshot(path, G, D, G)
    return path


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return snapshot(tmp_path_factory, stylegan(label_size=3), "cond")


@pytest.fixture(scope="module")
def snap2(tmp_path_factory):
    return snapshot(tmp_path_factory, stylegan2(), "sg2")


@pytest.fixture(scope="module")
def site(snap, tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "site"
    r = run("web", "--network", snap, "--outdir", out, "--title", "Digits",
            "--class-names", "zero,one,two")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"Wrote {out}"
    return out


def test_web_writes_a_self_contained_site(site):
    files = {os.path.relpath(os.path.join(d, f), site) for d, _, fs in os.walk(site) for f in fs}
    assert files == {*PAGE_FILES, *(f"lib/{f}" for f in RUNTIME_FILES),
                     "model/mapping.onnx", "model/synthesis.onnx", "model/generator.json",
                     "model/noise.bin", "model/page.json"}
    page = json.load(open(site / "model" / "page.json"))
    assert page["title"] == "Digits" and page["class_names"] == ["zero", "one", "two"]
    # 6 layers at 16 px: the official 4 / 8 split of 18 scaled (figures.layer_ranges)
    assert page["layer_ranges"] == {"coarse": [0, 1], "middle": [1, 3], "fine": [3, 6]}
    info = json.load(open(site / "model" / "generator.json"))
    assert info["label_size"] == 3 and info["format"] == "onnx"
    # Nothing is fetched from elsewhere: no URL with a host in the page's files.
    for name in PAGE_FILES:
        text = open(site / name).read()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name
    assert oct(os.stat(site).st_mode & 0o777) != oct(0o700)  # readable by a web server


def test_web_refuses_a_non_empty_outdir_and_bad_options(site, snap, snap2, tmp_path):
    r = run("web", "--network", snap, "--outdir", site)
    assert r.exit_code == 1
    assert r.output.strip() == (f"Error: --outdir {site}: exists and is not empty (pass "
                                "--overwrite to replace it).")
    r = run("web", "--outdir", tmp_path / "x")
    assert r.exit_code == 2 and "pass --network" in r.output
    r = run("web", "--outdir", tmp_path, "--serve", "--port", 0)
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: {tmp_path}: not a site of `generate.py web` (no " \
                               "index.html)."
    r = run("web", "--network", snap, "--outdir", tmp_path / "y", "--class-names", "a,b")
    assert r.exit_code == 1 and r.output.strip() == "Error: --class-names: 2 names for 3 classes."
    assert not os.path.exists(tmp_path / "y")
    with pytest.raises(UserError, match="install the JavaScript runtime with `make install`"):
        runtime_dir(str(tmp_path))


def test_overwrite_replaces_the_site(snap2, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "old.txt").write_text("stale")
    r = run("web", "--network", snap2, "--outdir", out, "--overwrite")
    assert r.exit_code == 0, r.output
    assert not (out / "old.txt").exists()
    assert json.load(open(out / "model" / "generator.json"))["family"] == "stylegan2"


def test_server_serves_the_site_cross_origin_isolated(site):
    server = serve(site, port=0)
    try:
        base = url(server)
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base) as r:
            assert b"<canvas" in r.read()
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        for path, mime in (("lib/ort-wasm-simd-threaded.wasm", "application/wasm"),
                           ("lib/ort-wasm-simd-threaded.mjs", "text/javascript")):
            with urllib.request.urlopen(base + path) as r:
                assert r.headers["Content-Type"] == mime
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(base + "lib/")  # no directory listings
    finally:
        server.shutdown()
        server.server_close()


def test_export_format_cli(snap, snap2, tmp_path):
    r = run("export", "--network", snap, "--format", "onnx", "--outdir", tmp_path / "onnx")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path / "onnx")) == [
        "generator.json", "mapping.onnx", "noise.bin", "synthesis.onnx"]
    r = run("export", "--network", snap, "--format", "onnx", "--outdir", tmp_path / "onnx")
    assert r.exit_code == 1 and "already exists (pass --overwrite" in r.output
    r = run("export", "--network", snap2, "--format", "litert", "--outdir", tmp_path / "lite")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "stylegan2 networks do not convert to LiteRT" in r.output
    r = run("export", "--network", snap, "--format", "coreml", "--outdir", tmp_path / "c")
    assert r.exit_code == 2 and "Invalid value for '--format'" in r.output


def test_web_serve_runs_until_ctrl_c(site):
    """`web --serve` alone serves an existing site, and Ctrl+C stops it cleanly."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, os.path.join(generate.ROOT, "generate.py"), "web", "--outdir", str(site),
         "--serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"Serving {site} at http://127.0.0.1:"), line
        address = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(address + "model/page.json") as r:
            assert json.load(r)["title"] == "Digits"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.large  # headless Chromium renders the page: ~10 s
def test_web_screenshot_shows_the_page_with_the_asked_settings(site, tmp_path):
    """`web --screenshot` (the README's picture): the page of a built site, opened in the
    Chromium `make install` brings, with the seed, class and grid asked for."""
    from PIL import Image

    out = tmp_path / "page.png"
    r = run("web", "--outdir", site, "--screenshot", out, "--screenshot-seed", 7,
            "--screenshot-class", 2, "--screenshot-grid", 4)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"Wrote {out}"
    image = Image.open(out)
    assert image.size == (1100, 700) and image.mode in ("RGB", "RGBA")
    pixels = np.asarray(image.convert("RGB"), np.int64)
    assert pixels.std() > 10  # the page, not a blank window
    # The screenshot is the page as it stands: the status line names the seeds it shows.
    from apps.web.browser import chromium_context, wait_rendered

    with chromium_context() as context:
        page = context.new_page()
        server = serve(site, port=0)
        try:
            page.goto(url(server))
            page.wait_for_selector("body[data-state=ready]", timeout=120_000)
            page.fill("#seed", "7")
            page.select_option("#class", "2")
            page.select_option("#grid", "4")
            wait_rendered(page)
            want = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"),
                              np.int64)
        finally:
            server.shutdown()
            server.server_close()
    assert np.abs(pixels - want).mean() < 1.0
