"""Network snapshots: (G, D, Gs) in one file, with no pickle inside.

A snapshot is a zip archive holding `G.keras`, `D.keras`, `Gs.keras` (Keras' own format: JSON
config + HDF5 weights, loaded with `safe_mode=True`) and `snapshot.json` (format version, the
network family, Gs's config, and free-form metadata such as the training kimg). The family is
the name of a `tf_stylegan.families` entry; snapshots written before StyleGAN2 existed have no
"family" and are StyleGAN. It is written to a temporary name and
renamed (`tf_stylegan.files.atomic_path`), so a crash never leaves a half-written snapshot
behind. `load_network` reads either a snapshot or an official NVIDIA pickle, from a path, a
URL or an official network's name.
"""

import json
import os
import tempfile
import zipfile

import keras

from tf_stylegan.errors import UserError
from tf_stylegan.families import list_families
from tf_stylegan.files import atomic_path
from tf_stylegan.legacy import load_official_pickle
from tf_stylegan.pretrained import resolve_network

SNAPSHOT_FORMAT = 1
_MEMBERS = ("G", "D", "Gs")
# The family of snapshots that do not name one (written before StyleGAN2 was added).
_DEFAULT_FAMILY = "stylegan"


def save_snapshot(path, G, D, Gs, metadata=None):
    """Writes (G, D, Gs) and `metadata` (JSON-serializable dict) to the zip file `path`."""
    info = {
        "format": SNAPSHOT_FORMAT,
        "family": Gs.config.family,
        "config": Gs.config.to_dict(),
        "metadata": metadata or {},
    }
    with atomic_path(path) as tmp_zip:
        _write_zip(tmp_zip, (G, D, Gs), info)


def _write_zip(zip_path, networks, info):
    # The .keras members are staged beside the zip: as large as it, they may not fit in /tmp.
    with tempfile.TemporaryDirectory(dir=os.path.dirname(zip_path)) as tmp:
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, model in zip(_MEMBERS, networks):
                model_path = os.path.join(tmp, f"{name}.keras")
                model.save(model_path)
                zf.write(model_path, f"{name}.keras")
            zf.writestr("snapshot.json", json.dumps(info, indent=2))


def read_snapshot_info(path):
    """Returns the `snapshot.json` dict of a snapshot (format, family, config, metadata).

    "family" is filled in as "stylegan" for snapshots that predate it.

    Raises:
        UserError: `path` is missing, unreadable or not a tf_stylegan snapshot.
    """
    path = os.fspath(path)
    _check_file(path, "snapshot")
    try:
        with zipfile.ZipFile(path) as zf:
            info = json.loads(zf.read("snapshot.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a tf_stylegan snapshot ({e}).") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the snapshot ({e.strerror or e}).") from None
    family = info.setdefault("family", _DEFAULT_FAMILY)
    if family not in list_families():
        raise UserError(
            f"{path}: unknown network family {family!r} in snapshot.json "
            f"(known: {list_families()})."
        )
    return info


def load_snapshot(path, with_info=False):
    """Loads a snapshot written by `save_snapshot` (or by training).

    The networks come back as the classes they were saved as (the family's generator and
    discriminator), checked against the snapshot's family.

    Returns:
        (G, D, Gs), plus the info dict when `with_info` is set.

    Raises:
        UserError: `path` is missing, unreadable, not a snapshot or of another format version.
    """
    path = os.fspath(path)
    info = read_snapshot_info(path)
    if info.get("format") != SNAPSHOT_FORMAT:
        raise UserError(f"{path}: unsupported snapshot format {info.get('format')!r}.")
    nets = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
        for name in _MEMBERS:
            try:
                zf.extract(f"{name}.keras", tmp)
            except KeyError:
                raise UserError(f"{path}: snapshot has no {name}.keras.") from None
            net = keras.saving.load_model(os.path.join(tmp, f"{name}.keras"), compile=False,
                                          safe_mode=True)
            family = getattr(getattr(net, "config", None), "family", None)
            if family != info["family"]:
                raise UserError(
                    f"{path}: {name}.keras holds a {family!r} network, but the snapshot says "
                    f"{info['family']!r}."
                )
            nets.append(net)
    return (*nets, info) if with_info else tuple(nets)


def load_network(path, with_info=False):
    """(G, D, Gs) from a snapshot (`.zip`, `load_snapshot`) or an official NVIDIA pickle (`.pkl`,
    `tf_stylegan.legacy.load_official_pickle`, which executes nothing from the file): a TF
    pickle of NVlabs/stylegan or NVlabs/stylegan2, or a stylegan2-ada-pytorch network pickle,
    whose G_ema is Gs (the two kinds of `.pkl` are told apart by their content).

    `path` may also be an http(s) URL or the name of an official network
    (`tf_stylegan.pretrained.PRETRAINED`): the file is downloaded once into the cache
    (`tf_stylegan.downloads`). Snapshots and pickles are told apart by the file name's extension
    (case-insensitive); a downloaded file whose URL ends in neither, by its first bytes.

    With `with_info`, also returns the info dict: a snapshot's `snapshot.json`
    (`read_snapshot_info`); for a pickle the same keys "family", "config" (Gs's) and
    "metadata", where the metadata says where the networks came from ("source",
    "source_format": "official-tf" or "stylegan2-ada-pytorch"; for the latter also
    "augment_pipe", its `p` and spec, and "training_set_kwargs", or None).

    Raises:
        UserError: `path` is missing, has another extension, is not a valid file of its kind,
            is an unknown network name, or cannot be downloaded.
    """
    path, fetched = resolve_network(path)
    _check_file(path, "network")
    extension = os.path.splitext(path)[1].lower()
    if fetched and extension not in (".zip", ".pkl"):
        extension = _extension_from_content(path)
    if extension == ".zip":
        return load_snapshot(path, with_info=with_info)
    if extension == ".pkl":
        if not with_info:
            return load_official_pickle(path)
        G, D, Gs, metadata = load_official_pickle(path, with_info=True)
        info = {"family": Gs.config.family, "config": Gs.config.to_dict(), "metadata": metadata}
        return G, D, Gs, info
    raise UserError(f"{path}: expected a snapshot (.zip) or an official network pickle (.pkl).")


def _extension_from_content(path):
    """".zip" for a zip archive (snapshots), ".pkl" for a pickle of protocol 2 or later (the
    official networks), else the file's own extension."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        return ".zip"
    if head[:1] == b"\x80":
        return ".pkl"
    return os.path.splitext(path)[1].lower()


def _check_file(path, what):
    if not os.path.isfile(path):
        raise UserError(f"{path}: {what} file not found.")
