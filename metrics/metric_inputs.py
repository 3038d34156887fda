"""Where the metrics get their images and latents: real-image batches, labels, generators.

Real images reach the metrics as any iterable of uint8 NHWC numpy batches (a "real images
source"); `real_batches_from_dataset` adapts a TFRecord dataset (read with
`data.reader.TFRecordDataset`, imported only when called). The official metrics read the
first images of the dataset in file order (`shuffle_mb=0`) and, when the run used
mirror_augment, flip each with probability 1/2 (`metrics/metric_base.py`); we do the same with a
seeded generator so that cached statistics are reproducible.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from tf_stylegan.errors import UserError
from tf_stylegan.progress import Progress, write

__all__ = [
    "LabelSampler",
    "dataset_fingerprint",
    "generator_config",
    "mirror_batch",
    "progress_bar",
    "real_batches_from_dataset",
]


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A `Progress` counting images (silent when `enabled` is False)."""
    return Progress(int(total), desc, "img", enabled=enabled, leave=False)


def mirror_batch(images: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Flips each NHWC image horizontally with probability 1/2 (official mirror_augment)."""
    flip = rng.uniform(size=images.shape[0]) < 0.5
    out = np.array(images, copy=True)
    out[flip] = out[flip, :, ::-1]
    return out


def dataset_fingerprint(tfrecord_dir: str) -> dict:
    """Identity of a TFRecord dataset directory for cache keys: absolute path, and the name,
    size and modification time of every ``*.tfrecords`` and ``*.labels`` file in it."""
    tfrecord_dir = os.path.abspath(os.fspath(tfrecord_dir))
    if not os.path.isdir(tfrecord_dir):
        raise UserError(f"Dataset directory not found. Received: {tfrecord_dir!r}")
    files = []
    for pattern in ("*.tfrecords", "*.labels"):
        for path in sorted(glob.glob(os.path.join(glob.escape(tfrecord_dir), pattern))):
            st = os.stat(path)
            files.append([os.path.basename(path), st.st_size, st.st_mtime_ns])
    if not files:
        raise UserError(f"{tfrecord_dir}: no *.tfrecords files in the dataset directory.")
    return {"dir": tfrecord_dir, "files": files}


def real_batches_from_dataset(tfrecord_dir: str, num_images: int, batch_size: int,
                              mirror: bool = False, resolution: int | None = None,
                              seed: int = 0):
    """Yields the first `num_images` images of a TFRecord dataset as uint8 NHWC numpy batches.

    Args:
        tfrecord_dir: str. Dataset directory (`<name>-rNN.tfrecords`).
        num_images: int. How many images. A dataset with fewer images is read again from
            its first image, as many times as needed (the official reader repeats the
            dataset, so fid50k on a 10,000-image set sees each image five times); a note says so.
        batch_size: int.
        mirror: bool. Flip each image horizontally with probability 1/2.
        resolution: int or None. Level to read (None: the dataset's full resolution).
        seed: int. Seed of the mirror flips.
    """
    from data.reader import TFRecordDataset  # Imported lazily: metrics need no reader.

    ds = TFRecordDataset(tfrecord_dir, resolution=resolution)
    res = ds.resolution if resolution is None else int(resolution)
    left = int(num_images)
    if ds.num_images < left:
        write(f"{tfrecord_dir}: {ds.num_images} images, repeating them to make {left} "
              f"(as the official reader does).")
    rng = np.random.RandomState(seed)
    pipeline = ds.iterate(res, batch_size, shuffle=False, repeat=True, mirror=False,
                          drop_remainder=False)
    for images, _ in pipeline:
        if left <= 0:
            return
        images = images.numpy()[:left]
        left -= images.shape[0]
        yield mirror_batch(images, rng) if mirror else images


def generator_config(G):
    """The NetworkConfig of a generator (``G.config``), checked to have what metrics read."""
    cfg = getattr(G, "config", None)
    for name in ("latent_size", "label_size", "resolution", "num_channels"):
        if not hasattr(cfg, name):
            raise ValueError(
                f"The generator needs a `.config` NetworkConfig with `{name}`. "
                f"Received: {type(G).__name__} with config={cfg!r}"
            )
    return cfg


class LabelSampler:
    """Draws conditioning labels for a generator: rows of the dataset's labels when given
    (the label distribution of the data), else uniformly random one-hot vectors.

    Args:
        label_size: int. 0 for unconditional networks (then `__call__` returns None).
        labels: float array [num_images, label_size] or None.
        seed: int.
    """

    def __init__(self, label_size: int, labels=None, seed: int = 0):
        self.label_size = int(label_size)
        self.labels = None
        if labels is not None and self.label_size:
            labels = np.asarray(labels, np.float32)
            if labels.ndim != 2 or labels.shape[1] != self.label_size or labels.shape[0] == 0:
                raise ValueError(
                    f"Dataset labels must be [N, {self.label_size}] to match the generator. "
                    f"Received: shape={labels.shape}"
                )
            self.labels = labels
        self.rng = np.random.RandomState(seed)

    def __call__(self, n: int):
        if not self.label_size:
            return None
        if self.labels is not None:
            return self.labels[self.rng.randint(self.labels.shape[0], size=n)]
        onehot = np.zeros([n, self.label_size], np.float32)
        onehot[np.arange(n), self.rng.randint(self.label_size, size=n)] = 1.0
        return onehot
