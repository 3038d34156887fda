"""tf_stylegan/downloads.py against a local HTTP server (tests/file_server.py) serving the
StyleGAN2 fixture pickle: cached once, resumed with a Range request, verified, and every
failure a one-line UserError naming the URL. Nothing here touches the internet."""

import hashlib
import os
import socket

import pytest

from tests.file_server import FileServer
from tests.paths import FIXTURES
from tf_stylegan import downloads
from tf_stylegan.downloads import cache_dir, download
from tf_stylegan.errors import UserError

PKL = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl")
with open(PKL, "rb") as _f:
    DATA = _f.read()
SHA256 = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server():
    with FileServer({"/net.pkl": DATA, "/page": b"<html>quota exceeded</html>"}) as s:
        s.types["/page"] = "text/html; charset=utf-8"
        yield s


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(downloads.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def one_line_error(info, url):
    message = str(info.value)
    assert "\n" not in message and url in message, message
    return message


def test_cache_dir_default_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(downloads.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == os.path.join(str(tmp_path), ".cache", "tf-stylegan")
    monkeypatch.setenv(downloads.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert cache_dir() == str(tmp_path / "elsewhere")


def test_downloads_once_into_the_cache_with_progress(server, cache, capsys):
    url = server.url("/net.pkl")
    path = download(url, sha256=SHA256, size=len(DATA))
    assert os.path.dirname(path) == str(cache) and path.endswith("-net.pkl")
    with open(path, "rb") as f:
        assert f.read() == DATA
    assert os.listdir(cache) == [os.path.basename(path)]  # no partial file left
    assert download(url) == path
    assert server.requests == [("/net.pkl", None)]  # the second call asked nothing
    err = capsys.readouterr().err  # not a terminal: one closing line, no redraws
    assert "\r" not in err and f"{len(DATA) / 1e6:.1f}/{len(DATA) / 1e6:.1f} MB in" in err


def test_interrupted_download_resumes_with_a_range_request(server, cache):
    url = server.url("/net.pkl")
    server.cut["/net.pkl"] = 1_000_000
    with pytest.raises(UserError) as info:
        download(url)
    message = one_line_error(info, url)
    assert f"truncated download (1000000 of {len(DATA)} bytes" in message
    assert "run the command again to resume" in message
    [partial] = os.listdir(cache)
    assert partial.endswith(".pkl.partial") and os.path.getsize(cache / partial) == 1_000_000

    path = download(url, sha256=SHA256)
    assert server.requests[-1] == ("/net.pkl", "bytes=1000000-")
    with open(path, "rb") as f:
        assert f.read() == DATA
    assert os.listdir(cache) == [os.path.basename(path)]


def test_server_that_ignores_the_range_restarts_from_zero(server, cache):
    url = server.url("/net.pkl")
    server.cut["/net.pkl"] = 500_000
    with pytest.raises(UserError):
        download(url)
    server.ignore_range()
    with open(download(url, sha256=SHA256), "rb") as f:
        assert f.read() == DATA
    assert server.requests[-1] == ("/net.pkl", "bytes=500000-")


def test_partial_file_longer_than_the_file_starts_again(server, cache):
    url = server.url("/net.pkl")
    os.makedirs(cache)
    with open(cache / (downloads.cached_name(url) + ".partial"), "wb") as f:
        f.write(b"x" * (len(DATA) + 7))  # not a prefix: the server answers 416
    with open(download(url, sha256=SHA256), "rb") as f:
        assert f.read() == DATA
    assert [r for _, r in server.requests] == [f"bytes={len(DATA) + 7}-", None]


def test_wrong_checksum_or_size_is_refused_and_deleted(server, cache):
    url = server.url("/net.pkl")
    with pytest.raises(UserError) as info:
        download(url, sha256="0" * 64)
    message = one_line_error(info, url)
    assert f"sha256 {SHA256} does not match the recorded {'0' * 64}" in message
    assert os.listdir(cache) == []
    with pytest.raises(UserError) as info:
        download(url, size=len(DATA) - 1)
    assert f"{len(DATA)} bytes downloaded, but the file is recorded as {len(DATA) - 1}" in \
        one_line_error(info, url)
    assert os.listdir(cache) == []


def test_http_error_refused_connection_and_web_page(server, cache):
    url = server.url("/missing.pkl")
    with pytest.raises(UserError) as info:
        download(url)
    assert "HTTP error 404" in one_line_error(info, url)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{probe.getsockname()[1]}/net.pkl"
    probe.close()  # nothing listens on that port any more
    with pytest.raises(UserError) as info:
        download(closed)
    assert "cannot download" in one_line_error(info, closed)

    page = server.url("/page")
    with pytest.raises(UserError) as info:
        download(page)
    assert "sent a web page, not the file" in one_line_error(info, page)
    assert os.listdir(cache) == []  # no file, not even a partial one, was kept


def test_not_a_url():
    with pytest.raises(UserError, match="not an http"):
        download("ftp://example.invalid/x.pkl")
