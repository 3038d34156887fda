"""Files fetched over HTTP(S) once into a local cache: resumable, verified, written atomically.

`download(url)` returns the path of the cached copy, fetching it first if needed:
- the cache is `$TF_STYLEGAN_CACHE` when set, else `$XDG_CACHE_HOME/tf-stylegan` (default
  `~/.cache/tf-stylegan`); a file there is never fetched again;
- the bytes go to `<name>.partial` and are renamed to `<name>` only when complete and verified
  (the size the server announced, and the recorded size and sha256 when given), so the cache
  never holds a half-written or corrupt file under its final name;
- an interrupted download keeps its `.partial` file, and the next call asks the server for the
  rest only (an HTTP `Range: bytes=N-` request, as RFC 9110 section 14 defines); a server that
  answers with the whole file instead (status 200) is read from the start;
- progress goes through `tf_stylegan.progress` (a bar on a terminal, lines in a log file);
- an unreachable host, an HTTP error, a truncated transfer, a web page where a file was
  expected, or a size or checksum that does not match is a one-line `UserError` naming the URL.

Standard library only (`urllib`): no dependency beyond the library's own.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from tf_stylegan.errors import UserError
from tf_stylegan.progress import Progress

__all__ = ["CACHE_ENV", "cache_dir", "cached_name", "download", "is_url", "sha256_of"]

CACHE_ENV = "TF_STYLEGAN_CACHE"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
PARTIAL_SUFFIX = ".partial"


def cache_dir() -> str:
    """The download cache: `$TF_STYLEGAN_CACHE`, else `$XDG_CACHE_HOME/tf-stylegan`, else
    `~/.cache/tf-stylegan`."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tf-stylegan")


def is_url(text) -> bool:
    """Whether `text` is an http(s) URL."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def cached_name(url: str) -> str:
    """The cache file name of `url`: a digest of the whole URL (two hosts may serve files of the
    same name) and the last part of its path, which keeps the file's extension."""
    base = os.path.basename(urllib.parse.urlsplit(url).path) or "download"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{base}"


def sha256_of(path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, *, filename: str | None = None, sha256: str | None = None,
             size: int | None = None, directory: str | None = None,
             progress: bool = True) -> str:
    """Path of the cached copy of `url`, downloaded first when it is not in the cache.

    Args:
        url: http(s) URL.
        filename: name in the cache (default `cached_name(url)`).
        sha256: hex digest the file must have, or None when none is recorded (not checked).
        size: byte count the file must have, or None when none is recorded (not checked).
        directory: the cache (default `cache_dir()`).
        progress: report progress on stderr.

    Raises:
        UserError: the download failed or the file is not the one recorded (one line, naming
            the URL). A truncated transfer keeps its partial file for the next call to resume;
            a file that fails its checks is deleted.
    """
    if not is_url(url):
        raise UserError(f"{url}: not an http(s) URL.")
    directory = cache_dir() if directory is None else os.fspath(directory)
    path = os.path.join(directory, filename or cached_name(url))
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UserError(f"{directory}: cannot create the download cache ({e.strerror}); set "
                        f"{CACHE_ENV} to a writable folder.") from None
    # The partial file has a fixed name, not tf_stylegan.files.atomic_path's temporary one:
    # it must outlive an interrupted process so that the next run can resume it.
    partial = path + PARTIAL_SUFFIX
    _fetch(url, partial, os.path.basename(path), progress)
    _verify(url, partial, sha256, size)
    os.replace(partial, path)
    return path


def _fetch(url, partial, label, progress, retry_whole=True):
    have = os.path.getsize(partial) if os.path.isfile(partial) else 0
    headers = {"User-Agent": "tf-stylegan"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and retry_whole:
            # "Range Not Satisfiable": the partial file is not a prefix of this file (it is as
            # long or longer); start again from nothing.
            os.remove(partial)
            return _fetch(url, partial, label, progress, retry_whole=False)
        raise UserError(f"{url}: HTTP error {e.code} ({_one_line(e.reason)}).") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise UserError(f"{url}: cannot download ({_one_line(reason)}).") from None
    with response:
        if response.status == 206:
            start, total = _content_range(url, response.headers.get("Content-Range"))
            if start != have:
                raise UserError(f"{url}: the server resumed at byte {start}, not at byte "
                                f"{have} as asked.")
        else:  # the whole file: no Range was sent, or the server ignored it
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if response.headers.get_content_type() == "text/html":
            raise UserError(f"{url}: the server sent a web page, not the file (Google Drive "
                            "does so for large files and when a file's download quota is "
                            "exceeded): download it in a browser and pass its path.")
        got = have
        label = f"{label} (from {have / 1e6:.1f} MB)" if have else label
        with open(partial, "ab" if have else "wb") as f, \
                Progress(None if total is None else total - have, label, "MB", scale=1e6,
                         enabled=progress) as bar:
            while True:
                try:
                    block = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as e:
                    raise UserError(_truncated(url, got, total, e)) from None
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar.update(len(block))
            f.flush()
            os.fsync(f.fileno())
    if total is not None and got != total:
        raise UserError(_truncated(url, got, total))


def _verify(url, partial, sha256, size):
    got = os.path.getsize(partial)
    if size is not None and got != size:
        os.remove(partial)
        raise UserError(f"{url}: {got} bytes downloaded, but the file is recorded as {size} "
                        "bytes; the download was deleted.")
    if sha256 is not None:
        digest = sha256_of(partial)
        if digest != sha256.lower():
            os.remove(partial)
            raise UserError(f"{url}: sha256 {digest} does not match the recorded {sha256}; "
                            "the download was deleted.")


def _content_range(url, value):
    """(first byte, total size or None) of a `Content-Range: bytes first-last/total` header."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if match is None:
        raise UserError(f"{url}: the server answered a resumed download with an unreadable "
                        f"Content-Range ({value!r}).")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _truncated(url, got, total, error=None):
    of = f" of {total}" if total is not None else ""
    why = f": {_one_line(error)}" if error is not None else ""
    return (f"{url}: truncated download ({got}{of} bytes received{why}); run the command again "
            "to resume it.")


def _one_line(reason) -> str:
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else type(reason).__name__
