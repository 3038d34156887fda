"""What `dataset_tool.py info / display / extract / compare` show of a dataset.

`extract` and `compare` follow the official `dataset_tool.py` (`extract`: every image as
`img%08d.png` in file order; `compare`: identical images and labels, record by record);
`display` saves a grid PNG instead of opening a window, and `info` summarizes the levels and
labels.
"""

from __future__ import annotations

import os

import numpy as np

from tf_stylegan.images import image_grid
from tf_stylegan.progress import Progress

from .image_files import save_png
from .reader import TFRecordDataset, read_images

__all__ = ["compare_datasets", "dataset_info", "extract_images", "format_info", "save_grid"]


def dataset_info(tfrecord_dir) -> dict:
    """Resolution, channels, images per level, file sizes and label summary of a dataset."""
    ds = TFRecordDataset(tfrecord_dir)
    info = {
        "tfrecord_dir": ds.tfrecord_dir,
        "resolution": ds.resolution,
        "num_channels": ds.num_channels,
        "num_images": ds.num_images,
        "levels": [{"resolution": r, "file": os.path.basename(lv.path),
                    "num_images": lv.num_records, "bytes": os.path.getsize(lv.path)}
                   for r, lv in sorted(ds.levels.items())],
        "label_file": ds.label_file and os.path.basename(ds.label_file),
        "label_size": ds.label_size,
    }
    labels = ds.labels
    if ds.label_size and np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1):
        counts = labels.sum(0).astype(int).tolist()
        names = ds.class_names or [str(i) for i in range(ds.label_size)]
        info["classes"] = dict(zip(names, counts))
    return info


def format_info(info: dict) -> str:
    """Human-readable text of `dataset_info`."""
    lines = [
        f"Dataset:    {info['tfrecord_dir']}",
        f"Resolution: {info['resolution']}x{info['resolution']}, {info['num_channels']} "
        f"channel(s), {info['num_images']} images",
        "Levels:",
    ]
    for lv in info["levels"]:
        lines.append(f"  {lv['resolution']:>5}x{lv['resolution']:<5} {lv['num_images']:>9} images"
                     f"  {lv['bytes'] / 2**20:10.1f} MB  {lv['file']}")
    if info["label_size"]:
        lines.append(f"Labels:     {info['label_size']} per image ({info['label_file']})")
        if "classes" in info:
            lines.append("Classes:    one-hot; " + ", ".join(f"{k}: {v}"
                                                          for k, v in info["classes"].items()))
    else:
        lines.append("Labels:     none")
    return "\n".join(lines)


def save_grid(tfrecord_dir, out_png, *, resolution=None, num_images=64, columns=None) -> str:
    """Saves the first `num_images` images as one grid PNG (the `display` command)."""
    batches = list(read_images(tfrecord_dir, resolution, num_images))
    images = np.concatenate([b[0] for b in batches])
    save_png(os.fspath(out_png), image_grid(images, columns))
    return os.fspath(out_png)


def extract_images(tfrecord_dir, output_dir, *, resolution=None, max_images=None) -> int:
    """Writes every image as `img%08d.png` (official `extract`), in file order."""
    os.makedirs(output_dir, exist_ok=True)
    idx = 0
    total = TFRecordDataset(tfrecord_dir).num_images
    with Progress(total if max_images is None else min(total, max_images), "extract",
                  "img") as bar:
        for images, _ in read_images(tfrecord_dir, resolution, max_images):
            for img in images:
                save_png(os.path.join(output_dir, f"img{idx:08d}.png"), img)
                idx += 1
            bar.update(len(images))
    return idx


def compare_datasets(dir_a, dir_b, *, ignore_labels=False) -> dict:
    """Counts identical images (at every common level) and labels, record by record (official
    `compare`, which compared the full-resolution images and the labels)."""
    a, b = TFRecordDataset(dir_a), TFRecordDataset(dir_b)
    result = {"num_images": [a.num_images, b.num_images], "levels": {}}
    n = min(a.num_images, b.num_images)
    for res in sorted(set(a.levels) & set(b.levels)):
        same = 0
        for (xa, _), (xb, _) in zip(read_images(dir_a, res, n), read_images(dir_b, res, n)):
            if xa.shape == xb.shape:
                same += int(np.sum(np.all(xa.reshape(len(xa), -1) == xb.reshape(len(xb), -1),
                                          axis=1)))
        result["levels"][res] = same
    if not ignore_labels:
        if a.label_size == b.label_size:
            result["identical_labels"] = int(np.sum(np.all(a.labels[:n] == b.labels[:n], axis=1)))
        else:
            result["identical_labels"] = 0
    return result
