"""--network by URL or official name: `tf_stylegan.snapshot.load_network` (the one loader) and the
command-line tools, against a local HTTP server serving the StyleGAN2 fixture pickle (the
official-layout pickle of tests/fixtures/official-stylegan2). No test touches the internet."""

import hashlib
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import generate
import run_metrics
from metrics.lpips import LPIPS, save_lpips_npz
from tests.file_server import FileServer
from tests.metrics.stand_ins import random_linear_generator
from tests.paths import FIXTURES
from tf_stylegan import downloads, pretrained
from tf_stylegan.errors import UserError
from tf_stylegan.pretrained import PRETRAINED, PretrainedNetwork, resolve_network
from tf_stylegan.snapshot import load_network

PKL = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl")
with open(PKL, "rb") as _f:
    DATA = _f.read()


@pytest.fixture
def server():
    with FileServer({"/nets/stylegan2-r32.pkl": DATA, "/download?id=r32": DATA}) as s:
        yield s


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(downloads.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def lpips_file(tmp_path):
    path = str(tmp_path / "lpips_vgg16.npz")
    save_lpips_npz(LPIPS(), path)
    return path


def weights(networks):
    return [[np.asarray(v) for v in net.weights] for net in networks]


def test_url_loads_the_same_networks_as_the_file_and_downloads_once(server):
    url = server.url("/nets/stylegan2-r32.pkl")
    local = weights(load_network(PKL))
    for _ in range(2):
        fetched = weights(load_network(url))
        assert [len(w) for w in fetched] == [len(w) for w in local]
        for a, b in zip(sum(fetched, []), sum(local, [])):
            np.testing.assert_array_equal(a, b)
    assert server.requests == [("/nets/stylegan2-r32.pkl", None)]


def test_url_without_a_file_name_is_recognised_by_its_content(server):
    """A URL such as Google Drive's ends in no .pkl: the pickle is told by its first bytes."""
    _, _, Gs = load_network(server.url("/download?id=r32"))
    assert Gs.config.family == "stylegan2" and Gs.config.resolution == 32


def test_official_name_downloads_its_url_and_checks_the_recorded_sha256(server, monkeypatch,
                                                                         cache):
    sha = hashlib.sha256(DATA).hexdigest()
    monkeypatch.setitem(PRETRAINED, "test-r32", PretrainedNetwork(
        "test-r32", "stylegan2", "random", "32x32", server.url("/nets/stylegan2-r32.pkl"),
        size=len(DATA), sha256=sha))
    for spec in ("test-r32", "test-r32.pkl"):
        path, fetched = resolve_network(spec)
        assert path == str(cache / "test-r32.pkl") and fetched
    assert len(server.requests) == 1
    monkeypatch.setitem(PRETRAINED, "test-bad", PretrainedNetwork(
        "test-bad", "stylegan2", "random", "32x32", server.url("/nets/stylegan2-r32.pkl"),
        sha256="1" * 64))
    with pytest.raises(UserError, match="does not match the recorded 1111"):
        load_network("test-bad")


def test_unknown_name_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        load_network("stylegan2-ffhq-config-g")
    message = str(info.value)
    assert "\n" not in message and message.startswith("stylegan2-ffhq-config-g: no such file")
    for name in ("stylegan2-ffhq-config-f", "karras2019stylegan-ffhq-1024x1024",
                 "karras2019stylegan-cats-256x256", "stylegan2-horse-config-f"):
        assert name in message
    with pytest.raises(UserError, match="missing.zip: network file not found"):
        load_network("missing.zip")  # a path stays a path


def test_the_table_holds_the_official_networks():
    """The names the issue asks for: StyleGAN's five pickles and StyleGAN2's config F five."""
    assert sorted(PRETRAINED) == sorted(
        [f"karras2019stylegan-{d}" for d in ("ffhq-1024x1024", "celebahq-1024x1024",
                                             "bedrooms-256x256", "cars-512x384", "cats-256x256")]
        + [f"stylegan2-{d}-config-f" for d in ("ffhq", "car", "cat", "church", "horse")])
    for net in PRETRAINED.values():
        assert net.url.startswith("https://") and net.size is None and net.sha256 is None
    assert PRETRAINED["stylegan2-ffhq-config-f"].url == \
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl"
    # docs/generating.md lists the same table.
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "generating.md")) as f:
        doc = f.read()
    for net in PRETRAINED.values():
        assert f"`{net.name}`" in doc and net.url in doc


def test_generate_images_from_a_url(server, tmp_path):
    url = server.url("/nets/stylegan2-r32.pkl")
    result = CliRunner().invoke(generate.cli, ["images", "--network", url, "--seeds", "3",
                                               "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    from_url = np.asarray(Image.open(tmp_path / "out" / "seed0003.png"))
    result = CliRunner().invoke(generate.cli, ["images", "--network", PKL, "--seeds", "3",
                                               "--outdir", str(tmp_path / "local")])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(from_url, np.asarray(Image.open(tmp_path / "local" /
                                                                  "seed0003.png")))


def test_run_metrics_downloads_before_loading(server, tmp_path, monkeypatch, cache,
                                              lpips_file):
    loaded = []
    G = random_linear_generator(resolution=32)
    monkeypatch.setattr(run_metrics, "load_network",
                        lambda path, with_info: loaded.append(path) or (None, None, G, {}))
    monkeypatch.chdir(tmp_path)
    url = server.url("/nets/stylegan2-r32.pkl")
    result = CliRunner().invoke(run_metrics.main, [
        "--network", url, "--metrics", "ppl_wend", "--lpips", lpips_file, "--num-samples", "2",
        "--batch-size", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert loaded == [str(cache / downloads.cached_name(url))]
    record = json.loads((tmp_path / "metric-ppl_wend.jsonl").read_text().splitlines()[0])
    assert record["snapshot"] == downloads.cached_name(url)
    result = CliRunner().invoke(run_metrics.main, ["--network", "nonet", "--metrics", "ppl_wend"])
    assert result.exit_code == 1 and "not a known network name" in result.output
    assert pretrained.is_remote(url) and not pretrained.is_remote(PKL)
