"""Label rows of a dataset: one-hot classes, labels files, subfolder classes, `.labels` files.

A dataset's labels are a float32 array [num_images, label_size] in record order, saved with
`np.save` as `<name>-rxx.labels` (official `dataset_tool.py`, `TFRecordExporter.add_labels`);
class datasets use one-hot rows (official `create_mnist`, `create_cifar10`).
"""

from __future__ import annotations

import collections
import csv
import json
import os
from typing import Sequence

import numpy as np

from tf_stylegan.errors import UserError

__all__ = ["load_labels", "one_hot", "read_labels_file", "subfolder_labels"]


def one_hot(indices: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """float32 one-hot rows; num_classes defaults to max + 1 (official create_mnist/cifar10)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size and indices.min() < 0:
        raise UserError(f"class indices must be >= 0. Received: min={indices.min()}")
    if num_classes is None:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    elif indices.size and indices.max() >= num_classes:
        raise UserError(f"class index must be in [0, {num_classes}). "
                        f"Received: class_idx={indices.max()}")
    out = np.zeros([indices.size, num_classes], np.float32)
    out[np.arange(indices.size), indices] = 1.0
    return out


def load_labels(path: str, num_images: int) -> np.ndarray:
    """The float32 [num_images, label_size] rows of a `.labels` file, checked against the count."""
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: cannot read labels ({e})") from None
    if labels.ndim != 2:
        raise UserError(f"{path}: labels must be a 2-D array [num_images, label_size]. "
                        f"Received: shape={labels.shape}")
    if labels.shape[0] != num_images:
        raise UserError(f"{path}: has {labels.shape[0]} label rows but the dataset has "
                        f"{num_images} images")
    return labels.astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Labels of an image folder (create_from_images).


def _labels_to_array(values: list, names: list[str], source: str):
    """Class indices -> one-hot; equal-length number vectors -> float32 rows."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return one_hot(values)
    rows = []
    for name, v in zip(names, values):
        row = np.atleast_1d(np.asarray(v, dtype=np.float32))
        if row.ndim != 1:
            raise UserError(f"{source}: label of {name} must be a class index or a list of "
                            f"numbers. Received: {v!r}")
        rows.append(row)
    if len({r.size for r in rows}) > 1:
        raise UserError(f"{source}: label vectors have different lengths "
                        f"{sorted({r.size for r in rows})}")
    return np.stack(rows).astype(np.float32)


def _parse_number(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_labels_file(path: str, names: list[str]) -> np.ndarray:
    """Labels of `names` (relative paths) from a JSON or CSV file, as float32 [N, label_size].

    JSON: `{"labels": [[relpath, label], ...]}` (the stylegan2-ada dataset.json layout),
    `{relpath: label}` or `[[relpath, label], ...]`. CSV: `relpath,label[,label...]` rows, an
    optional header. A label is a class index (int; one-hot over max+1 classes) or a list of
    numbers used as is. Keys match the path relative to the image folder, or the file name.
    """
    if not os.path.isfile(path):
        raise UserError(f"labels file not found. Received: labels={path}")
    table = {}
    try:
        if path.lower().endswith(".json"):
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict) and "labels" in data:
                data = data["labels"]
            pairs = data.items() if isinstance(data, dict) else data
            for pair in pairs:
                key, value = pair
                table[str(key).replace("\\", "/")] = value
        else:
            with open(path, newline="") as f:
                for i, row in enumerate(csv.reader(f)):
                    if not row or not "".join(row).strip():
                        continue
                    try:
                        values = [_parse_number(v) for v in row[1:]]
                    except ValueError:
                        if i == 0:
                            continue  # header
                        raise UserError(f"{path}: row {i + 1} has a non-numeric label: {row}")
                    if not values:
                        raise UserError(f"{path}: row {i + 1} has no label: {row}")
                    table[row[0].strip().replace("\\", "/")] = (
                        values[0] if len(values) == 1 else values)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
        raise UserError(f"{path}: cannot parse labels file ({e})") from None
    by_base = collections.defaultdict(list)
    for key in table:
        by_base[os.path.basename(key)].append(key)
    values = []
    for name in names:
        if name in table:
            values.append(table[name])
        elif len(by_base.get(os.path.basename(name), [])) == 1:
            values.append(table[by_base[os.path.basename(name)][0]])
        else:
            raise UserError(f"{path}: no label for image {name}")
    return _labels_to_array(values, names, path)


def subfolder_labels(names: list[str], image_dir: str) -> tuple[np.ndarray, list[str]]:
    """One-hot class labels from the top-level subfolder of each image (classes sorted)."""
    classes = []
    for name in names:
        if "/" not in name:
            raise UserError(
                f"{os.path.join(image_dir, name)}: with labels from subfolders every image must "
                f"be inside a class subfolder of {image_dir}"
            )
        classes.append(name.split("/", 1)[0])
    class_names = sorted(set(classes))
    index = {c: i for i, c in enumerate(class_names)}
    return one_hot([index[c] for c in classes], len(class_names)), class_names
