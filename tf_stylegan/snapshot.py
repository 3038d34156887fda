"""Network snapshots: (G, D, Gs) in one file, with no pickle inside.

A snapshot is a zip archive holding `G.keras`, `D.keras`, `Gs.keras` (Keras' own format: JSON
config + HDF5 weights, loaded with `safe_mode=True`) and `snapshot.json` (format version, the
NetworkConfig, and free-form metadata such as the training kimg). Files are written to a
temporary name and renamed, so a crash never leaves a half-written snapshot behind.
"""

import json
import os
import tempfile
import zipfile

import keras

SNAPSHOT_FORMAT = 1
_MEMBERS = ("G", "D", "Gs")


def save_snapshot(path, G, D, Gs, metadata=None):
    """Writes (G, D, Gs) and `metadata` (JSON-serializable dict) to the zip file `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    info = {
        "format": SNAPSHOT_FORMAT,
        "config": Gs.config.to_dict(),
        "metadata": metadata or {},
    }
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        tmp_zip = os.path.join(tmp, "snapshot.zip")
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, model in zip(_MEMBERS, (G, D, Gs)):
                model_path = os.path.join(tmp, f"{name}.keras")
                model.save(model_path)
                zf.write(model_path, f"{name}.keras")
            zf.writestr("snapshot.json", json.dumps(info, indent=2))
        os.replace(tmp_zip, path)


def read_snapshot_info(path):
    """Returns the `snapshot.json` dict of a snapshot (format, config, metadata)."""
    path = os.fspath(path)
    _check_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("snapshot.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a tf_stylegan snapshot ({e}).") from None


def load_snapshot(path, with_info=False):
    """Loads a snapshot written by `save_snapshot` (or by training).

    Returns:
        (G, D, Gs), plus the info dict when `with_info` is set.
    """
    path = os.fspath(path)
    info = read_snapshot_info(path)
    if info.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: unsupported snapshot format {info.get('format')!r}.")
    nets = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
        for name in _MEMBERS:
            try:
                zf.extract(f"{name}.keras", tmp)
            except KeyError:
                raise ValueError(f"{path}: snapshot has no {name}.keras.") from None
            nets.append(keras.saving.load_model(os.path.join(tmp, f"{name}.keras"),
                                                compile=False, safe_mode=True))
    return (*nets, info) if with_info else tuple(nets)


def _check_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: snapshot file not found.")
