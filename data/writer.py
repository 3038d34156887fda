"""Writing one dataset pyramid: the atomic `TFRecordExporter` and the threaded `write_dataset`.

The exporter writes the official files (see `data.records`), in the official order: `--shuffle`
is a `np.random.RandomState(123)` permutation of the inputs (official `dataset_tool.py`,
`TFRecordExporter.choose_shuffled_order`). Beyond the official tool: output goes to a temporary
directory next to the target that is renamed only once it is complete (bad input never leaves a
half-written dataset), images are decoded and encoded by a thread pool while the calling thread
writes (memory stays flat: at most a small window of images is held at once), and
`tf_stylegan.progress` reports progress.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import math
import os
import shutil
import tempfile
from functools import partial
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.progress import Progress

from .image_files import BadImageError, check_image_array
from .records import classes_file_name, encode_pyramid, labels_file_name, level_file_name

__all__ = ["SHUFFLE_SEED", "Item", "TFRecordExporter", "WriteResult", "check_output_dir",
           "shuffled_order", "write_arrays", "write_dataset"]

SHUFFLE_SEED = 123  # np.random.RandomState(123), as the official choose_shuffled_order().


def shuffled_order(num_images: int, shuffle: bool = True) -> np.ndarray:
    """Order in which the inputs are written: the official `RandomState(123)` permutation."""
    if not shuffle:
        return np.arange(num_images)
    return np.random.RandomState(SHUFFLE_SEED).permutation(num_images)


# ------------------------------------------------------------------------------------------------
# Output directory handling and the exporter.


def check_output_dir(tfrecord_dir: str, overwrite: bool = False) -> None:
    """Refuses an output path that is a file, or a non-empty directory unless `overwrite`."""
    tfrecord_dir = os.fspath(tfrecord_dir)
    if os.path.isfile(tfrecord_dir):
        raise UserError(
            f"output path {tfrecord_dir} is a file, expected a directory. "
            f"Received: tfrecord_dir={tfrecord_dir}"
        )
    if os.path.isdir(tfrecord_dir) and os.listdir(tfrecord_dir) and not overwrite:
        raise UserError(
            f"output directory {tfrecord_dir} exists and is not empty; pass --overwrite "
            f"(overwrite=True) to replace it. Received: tfrecord_dir={tfrecord_dir}"
        )
    name = os.path.basename(os.path.normpath(os.path.abspath(tfrecord_dir)))
    if not name:
        raise UserError(f"output directory needs a name. Received: tfrecord_dir={tfrecord_dir}")


class TFRecordExporter:
    """Writes one official TFRecord pyramid, atomically.

    Records go to `<parent>/.<name>.tmp-XXXX/<name>-rNN.tfrecords`; `close()` renames that
    directory to `tfrecord_dir` (replacing an existing one only with `overwrite=True`). On an
    exception inside the `with` block the temporary directory is deleted and nothing else is
    touched. Like the official TFRecordExporter, the first image fixes the shape of all others.

    Args:
        tfrecord_dir: str. Output directory; its basename is the file prefix.
        expected_images: int or None. Total for the progress bar; `close()` does not require it
            (skipped bad images make the final count smaller).
        overwrite: bool. Replace an existing non-empty `tfrecord_dir`.
        progress: bool. Report images done, rate and time left on stderr
            (`tf_stylegan.progress`: a bar on a terminal, plain lines in a file).
        desc: str or None. Label of the progress bar.

    Example:
        >>> with TFRecordExporter("datasets/toy", 2) as tfr:
        ...     for i in tfr.choose_shuffled_order():
        ...         tfr.add_image(images[i])        # uint8 [C, H, W]
        ...     tfr.add_labels(labels[order])
    """

    def __init__(self, tfrecord_dir, expected_images=None, *, overwrite=False, progress=True,
                 desc=None):
        check_output_dir(tfrecord_dir, overwrite)
        self.tfrecord_dir = os.path.abspath(os.fspath(tfrecord_dir))
        self.name = os.path.basename(os.path.normpath(self.tfrecord_dir))
        self.expected_images = expected_images
        self.overwrite = overwrite
        self.shape = None  # [C, H, W] of the full-resolution images, fixed by the first image.
        self.cur_images = 0
        self.first_name = None
        # The temporary directory and its final rename are handled here rather than with
        # tf_stylegan.files.atomic_path: the directory outlives any one `with` block (it is
        # filled image by image until close()), and close() may replace an existing dataset
        # directory, which atomic_path leaves to its caller.
        parent = os.path.dirname(self.tfrecord_dir)
        os.makedirs(parent, exist_ok=True)
        self.tmp_dir = tempfile.mkdtemp(prefix=f".{self.name}.tmp-", dir=parent)
        self._writers = []
        self._closed = False
        self._bar = None
        if progress:
            self._bar = Progress(expected_images, desc or self.name, "img")

    # --- Writing ---

    @property
    def resolution(self):
        return None if self.shape is None else self.shape[1]

    def level_path(self, resolution_log2: int, directory: str | None = None) -> str:
        """Path of the `<name>-rNN.tfrecords` file of one level."""
        return os.path.join(directory or self.tmp_dir, level_file_name(self.name, resolution_log2))

    def choose_shuffled_order(self) -> np.ndarray:
        """The official write order: `RandomState(123)` permutation of `expected_images`."""
        return shuffled_order(self.expected_images, True)

    def add_image(self, image, name: str | None = None) -> None:
        """Appends one uint8 [C, H, W] image (all pyramid levels)."""
        image = check_image_array(image, name or f"image {self.cur_images}")
        self.add_records(image.shape, encode_pyramid(image), name)

    def add_records(self, shape, records: Sequence[bytes], name: str | None = None) -> None:
        """Appends one image given its serialized levels from `encode_pyramid` (full res first)."""
        shape = tuple(int(s) for s in shape)
        if self.shape is None:
            check_image_array(np.zeros(shape, np.uint8), name or "first image")
            self.shape = shape
            self.first_name = name
            log2 = int(math.log2(shape[1]))
            self._writers = [tf.io.TFRecordWriter(self.level_path(log2 - lod))
                             for lod in range(log2 - 1)]
        elif shape != self.shape:
            first = f" ({self.first_name})" if self.first_name else ""
            raise BadImageError(
                f"{name or f'image {self.cur_images}'}: image shape [C,H,W]={list(shape)} differs "
                f"from the first image{first} {list(self.shape)}; all images must have the same "
                f"size and channel count"
            )
        if len(records) != len(self._writers):
            raise ValueError(f"expected {len(self._writers)} levels. Received: {len(records)}")
        for writer, record in zip(self._writers, records):
            writer.write(record)
        self.cur_images += 1
        if self._bar is not None:
            self._bar.update(1)

    def add_labels(self, labels) -> None:
        """Writes `<name>-rxx.labels`: float32 [num_images, label_size], in record order."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] != self.cur_images:
            raise UserError(
                f"labels must be [num_images={self.cur_images}, label_size]. Received: "
                f"labels.shape={labels.shape}"
            )
        with open(os.path.join(self.tmp_dir, labels_file_name(self.name)), "wb") as f:
            np.save(f, labels.astype(np.float32))

    def add_class_names(self, class_names: Sequence[str]) -> None:
        """Writes `<name>-classes.json` (not read by the official code; shown by `info`)."""
        with open(os.path.join(self.tmp_dir, classes_file_name(self.name)), "w") as f:
            json.dump(list(class_names), f, indent=1)

    # --- Completion ---

    def close(self) -> None:
        """Finishes every file and renames the temporary directory to `tfrecord_dir`."""
        if self._closed:
            return
        try:
            self._close_files()
            if self.cur_images == 0:
                raise UserError(f"no images were written to {self.tfrecord_dir}")
            final = self.tfrecord_dir
            if os.path.lexists(final):
                check_output_dir(final, self.overwrite)  # it may have appeared meanwhile
                # A directory cannot be renamed over a non-empty one: move the old one aside
                # first, and delete it only once the new one is in place.
                old = tempfile.mkdtemp(prefix=f".{self.name}.old-", dir=os.path.dirname(final))
                os.rename(final, os.path.join(old, "old"))
                os.rename(self.tmp_dir, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(self.tmp_dir, final)
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Deletes the temporary directory; `tfrecord_dir` is left as it was."""
        self._close_files()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._closed = True

    def _close_files(self):
        for writer in self._writers:
            writer.close()
        self._writers = []
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ------------------------------------------------------------------------------------------------
# Streaming writer: a thread pool decodes and encodes, the calling thread writes.


@dataclasses.dataclass
class Item:
    """One input image: a display name, a function returning uint8 [C, H, W], its label row."""

    name: str
    load: Callable[[], np.ndarray]
    label: np.ndarray | None = None


@dataclasses.dataclass
class WriteResult:
    """What a dataset build wrote, and every input it passed over.

    `skipped` lists the images skipped with skip_bad=True as (name, reason); `not_images` the
    paths of files in an image folder that are not images (create_from_images), so that nothing
    is dropped without being named.
    """

    tfrecord_dir: str
    num_images: int
    shape: tuple  # [C, H, W] at full resolution
    label_size: int
    skipped: list  # [(name, reason)] of images skipped with skip_bad=True
    not_images: list = dataclasses.field(default_factory=list)  # paths passed over

    def passed_over_lines(self, limit: int = 10) -> list[str]:
        """Text naming what was passed over: each kind's count, then its first `limit` entries
        and "and N more"; [] when nothing was."""
        lines = []
        if self.not_images:
            lines.append(f"Passed over {len(self.not_images)} file(s) that are not images:")
            lines += _first_entries(self.not_images, limit)
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} bad file(s):")
            lines += _first_entries([reason for _, reason in self.skipped], limit)
        return lines


def _first_entries(entries: list[str], limit: int) -> list[str]:
    lines = [f"  {entry}" for entry in entries[:limit]]
    if len(entries) > limit:
        lines.append(f"  and {len(entries) - limit} more")
    return lines


def _load_and_encode(item: Item):
    image = check_image_array(item.load(), item.name)
    return image.shape, encode_pyramid(image)


def write_dataset(tfrecord_dir, items: Iterable[Item], *, num_images=None, max_images=None,
                  skip_bad=False, overwrite=False, num_workers=None, progress=True,
                  class_names=None, desc=None) -> WriteResult:
    """Streams `items` (already in write order) into a new pyramid at `tfrecord_dir`.

    Loading, pyramid construction and serialization run in `num_workers` threads (PIL, zlib
    and numpy release the GIL) over a bounded in-order window, while this thread writes every
    level; memory is a few images whatever the dataset size.

    Args:
        tfrecord_dir: str. Output directory (written atomically, see TFRecordExporter).
        items: iterable of Item, in the order the records are written.
        num_images: int or None. Expected count, for the progress bar.
        max_images: int or None. Stop after this many images were written.
        skip_bad: bool. Skip images raising BadImageError (listed in the result) instead of
            aborting. Anything else always aborts.
        overwrite: bool. Replace a non-empty `tfrecord_dir`.
        num_workers: int or None. Decoder threads (default: CPU count, at most 8).
        progress: bool. Report progress (`tf_stylegan.progress`).
        class_names: list of str or None. Saved to `<name>-classes.json`.

    Returns:
        WriteResult. Labels (the items' `label` rows, all or none) are saved in record order.
    """
    num_workers = num_workers or min(8, os.cpu_count() or 1)
    lookahead = 2 * num_workers + 2
    skipped = []
    labels = []
    total = num_images if max_images is None or num_images is None else min(num_images,
                                                                              max_images)
    with TFRecordExporter(tfrecord_dir, total, overwrite=overwrite, progress=progress,
                          desc=desc) as tfr:
        pool = concurrent.futures.ThreadPoolExecutor(num_workers)
        window: collections.deque = collections.deque()
        iterator: Iterator[Item] = iter(items)
        try:
            def submit_next():
                item = next(iterator, None)
                if item is not None:
                    window.append((item, pool.submit(_load_and_encode, item)))

            for _ in range(lookahead):
                submit_next()
            while window:
                if max_images is not None and tfr.cur_images >= max_images:
                    break
                item, future = window.popleft()
                submit_next()
                try:
                    shape, records = future.result()
                    tfr.add_records(shape, records, item.name)
                except BadImageError as e:
                    if not skip_bad:
                        raise
                    skipped.append((item.name, str(e)))
                    if tfr._bar is not None:
                        tfr._bar.set_postfix(skipped=len(skipped))
                    continue
                if item.label is not None:
                    labels.append(np.asarray(item.label, np.float32))
                if len(labels) not in (0, tfr.cur_images):
                    raise UserError(f"{item.name}: some images have labels and others do not")
        finally:
            for _, future in window:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        if labels:
            tfr.add_labels(np.stack(labels))
        if class_names:
            tfr.add_class_names(class_names)
        result = WriteResult(tfr.tfrecord_dir, tfr.cur_images, tfr.shape or (),
                             labels[0].size if labels else 0, skipped)
    return result


def write_arrays(tfrecord_dir, images, labels=None, *, shuffle=True, **kwargs) -> WriteResult:
    """Writes in-memory images (uint8 [N, C, H, W] or [N, H, W]) and labels [N, L] in the
    official shuffled order (used by create_mnist, create_cifar10, create_demo)."""
    num = len(images)
    if labels is not None and len(labels) != num:
        raise UserError(f"got {num} images but {len(labels)} labels")
    order = shuffled_order(num, shuffle)

    def items():
        for i in order:
            yield Item(f"image {i}", partial(lambda i: images[i], i),
                       None if labels is None else labels[i])

    return write_dataset(tfrecord_dir, items(), num_images=num, **kwargs)
