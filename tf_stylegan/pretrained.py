"""NVIDIA's pretrained networks by name, and `--network` arguments resolved to local files.

`resolve_network(spec)` turns what a user passes as `--network` into a local file: an existing
path is itself; an http(s) URL or one of the names of `PRETRAINED` is downloaded once into the
cache (`tf_stylegan.downloads`). `tf_stylegan.snapshot.load_network`, the one network loader,
calls it, so every command that takes `--network` accepts all three.

Where each URL comes from (docs/generating.md has the table):
- StyleGAN: the `networks` rows of the official README (NVlabs/stylegan, "Resources") and the
  file name in its loading example (`karras2019stylegan-ffhq-1024x1024.pkl`). Those links are
  on Google Drive, which may answer with a web page instead of the file (large files, spent
  download quota); `download` then stops with an error that says so.
- StyleGAN2: config F of the official `pretrained_networks.py` (NVlabs/stylegan2, lines 16-53:
  `https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-<dataset>-config-f.pkl`).
No size or sha256 of these files was found in any source, so none is recorded and those checks
are skipped for them; the size the server announces is still checked.
"""

from __future__ import annotations

import dataclasses
import os

from tf_stylegan.downloads import download, is_url
from tf_stylegan.errors import UserError

__all__ = ["PRETRAINED", "PretrainedNetwork", "is_remote", "resolve_network"]


@dataclasses.dataclass(frozen=True)
class PretrainedNetwork:
    """One official network pickle.

    Attributes:
        name: str. What `--network` accepts (the official file name without `.pkl`).
        family: str. "stylegan" or "stylegan2".
        dataset: str. What it was trained on.
        resolution: str. Width x height of its images.
        url: str. Where the official release serves it.
        size: int or None. Byte count, when a source records one (None: not checked).
        sha256: str or None. Hex digest, when a source records one (None: not checked).
    """

    name: str
    family: str
    dataset: str
    resolution: str
    url: str
    size: int | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        """Its name in the download cache (the Google Drive URLs end in no file name)."""
        return f"{self.name}.pkl"


_DRIVE = "https://drive.google.com/uc?id="
_CDN2 = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"

PRETRAINED = {net.name: net for net in (
    PretrainedNetwork("karras2019stylegan-ffhq-1024x1024", "stylegan", "FFHQ", "1024x1024",
                      _DRIVE + "1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ"),
    PretrainedNetwork("karras2019stylegan-celebahq-1024x1024", "stylegan", "CelebA-HQ",
                      "1024x1024", _DRIVE + "1MGqJl28pN4t7SAtSrPdSRJSQJqahkzUf"),
    PretrainedNetwork("karras2019stylegan-bedrooms-256x256", "stylegan", "LSUN Bedroom",
                      "256x256", _DRIVE + "1MOSKeGF0FJcivpBI7s63V9YHloUTORiF"),
    PretrainedNetwork("karras2019stylegan-cars-512x384", "stylegan", "LSUN Car", "512x384",
                      _DRIVE + "1MJ6iCfNtMIRicihwRorsM3b7mmtmK9c3"),
    PretrainedNetwork("karras2019stylegan-cats-256x256", "stylegan", "LSUN Cat", "256x256",
                      _DRIVE + "1MQywl0FNt6lHu8E_EUqnRbviagS7fbiJ"),
    PretrainedNetwork("stylegan2-ffhq-config-f", "stylegan2", "FFHQ", "1024x1024",
                      _CDN2 + "stylegan2-ffhq-config-f.pkl"),
    PretrainedNetwork("stylegan2-car-config-f", "stylegan2", "LSUN Car", "512x384",
                      _CDN2 + "stylegan2-car-config-f.pkl"),
    PretrainedNetwork("stylegan2-cat-config-f", "stylegan2", "LSUN Cat", "256x256",
                      _CDN2 + "stylegan2-cat-config-f.pkl"),
    PretrainedNetwork("stylegan2-church-config-f", "stylegan2", "LSUN Church", "256x256",
                      _CDN2 + "stylegan2-church-config-f.pkl"),
    PretrainedNetwork("stylegan2-horse-config-f", "stylegan2", "LSUN Horse", "256x256",
                      _CDN2 + "stylegan2-horse-config-f.pkl"),
)}


def _name(spec):
    return spec[:-4] if spec.lower().endswith(".pkl") else spec


def is_remote(spec) -> bool:
    """Whether `resolve_network` would download `spec`: no such file, and a URL or a name."""
    spec = os.fspath(spec)
    return not os.path.exists(spec) and (is_url(spec) or _name(spec) in PRETRAINED)


def resolve_network(spec, progress=True) -> tuple[str, bool]:
    """(local path, whether it was fetched) of a `--network` argument.

    An existing file is returned as it is. An http(s) URL is downloaded into the cache; so is a
    name of `PRETRAINED` (with or without `.pkl`), checked against its recorded size and sha256
    when it has them. Anything else is returned unchanged for the loader to report, except a
    bare word (no folder, no extension), which is taken for a mistyped network name.

    Raises:
        UserError: an unknown name (the message lists the known ones), or a failed download.
    """
    spec = os.fspath(spec)
    if os.path.exists(spec):
        return spec, False
    if is_url(spec):
        return download(spec, progress=progress), True
    net = PRETRAINED.get(_name(spec))
    if net is not None:
        return download(net.url, filename=net.filename, sha256=net.sha256, size=net.size,
                        progress=progress), True
    if os.sep not in spec and "/" not in spec and not os.path.splitext(spec)[1]:
        raise UserError(f"{spec}: no such file, and not a known network name. Known names: "
                        f"{', '.join(PRETRAINED)}.")
    return spec, False
