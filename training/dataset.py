"""Reader for the official StyleGAN multi-resolution TFRecord datasets.

A dataset directory holds `<name>-rNN.tfrecords` for every level from 4x4 (r02) up to the full
resolution, each record a `tf.train.Example{shape: int64 [C,H,W], data: raw uint8 CHW}`, and
optionally `<name>-rxx.labels` (np.save float32 [N, label_size], in record order). This is the
format of the official `dataset_tool.py` and of NVIDIA's published FFHQ TFRecords, which are
read as they are (reference section 1.2; official `training/dataset.py`).

Like the official TFRecordDataset, the resolution of each file comes from its first record, the
largest is the dataset resolution, a `resolution=` override ignores larger files (official
`ffhq256`/`ffhq512` reuse the `ffhq` directory), every level down to 4x4 must exist, labels are
zipped with the records in file order, and the shuffle buffer is `shuffle_mb` MB (4096) of
records. Images leave the pipeline as uint8 NHWC (the networks are NHWC); the official
per-sample mirror augment (`training_loop.process_reals`) is optional.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re
import struct

import numpy as np
import tensorflow as tf

from tf_stylegan.errors import UserError

_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the data
_LEVEL_NAME = re.compile(r"-r(\d+)\.tfrecords$")


@dataclasses.dataclass(frozen=True)
class LevelFile:
    """One level (resolution) of a pyramid: its file, record shape and record count."""

    path: str
    resolution: int
    shape: tuple  # [C, H, W]
    num_records: int


# ------------------------------------------------------------------------------------------------
# Raw TFRecord helpers (plain file I/O: no TensorFlow op, so checks stay cheap on huge files).


def read_first_record(path: str) -> bytes:
    """The payload of the first record of a TFRecord file."""
    with open(path, "rb") as f:
        header = f.read(_HEADER)
        if len(header) == 0:
            raise ValueError(f"{path}: empty TFRecord file (no records)")
        if len(header) < _HEADER:
            raise ValueError(f"{path}: truncated TFRecord file (ends inside the first header)")
        (length,) = struct.unpack("<Q", header[:8])
        payload = f.read(length)
        if len(payload) < length or len(f.read(_FOOTER)) < _FOOTER:
            raise ValueError(
                f"{path}: truncated TFRecord file (first record needs {length} bytes; the file "
                f"has {os.path.getsize(path)})"
            )
    return payload


def count_records(path: str) -> int:
    """Number of records in a TFRecord file, walking the length headers.

    Raises:
        ValueError: naming the file, if it ends inside a record (truncated download or copy).
    """
    size = os.path.getsize(path)
    count = offset = 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(_HEADER)
            if len(header) < _HEADER:
                raise ValueError(
                    f"{path}: truncated TFRecord file: record {count} at byte {offset} has an "
                    f"incomplete header (file size {size})"
                )
            (length,) = struct.unpack("<Q", header[:8])
            end = offset + _HEADER + length + _FOOTER
            if end > size:
                raise ValueError(
                    f"{path}: truncated TFRecord file: record {count} at byte {offset} needs "
                    f"{end - offset} bytes but the file ends at byte {size}"
                )
            offset = end
            count += 1
    return count


def parse_example(payload: bytes, path: str = "record") -> tuple[tuple, bytes]:
    """(shape [C,H,W], data bytes) of one serialized dataset Example, validated."""
    try:
        example = tf.train.Example.FromString(payload)
    except Exception as e:  # protobuf's DecodeError is not exported under a stable name
        raise ValueError(f"{path}: record is not a tf.train.Example ({e})") from None
    feature = example.features.feature
    if "shape" not in feature or "data" not in feature:
        raise ValueError(f"{path}: record lacks the 'shape'/'data' features of a dataset record")
    shape = tuple(int(s) for s in feature["shape"].int64_list.value)
    values = feature["data"].bytes_list.value
    if len(shape) != 3 or len(values) != 1:
        raise ValueError(f"{path}: record shape must be [C, H, W] with one data value. "
                         f"Received: shape={list(shape)}")
    if len(values[0]) != int(np.prod(shape)):
        raise ValueError(f"{path}: record data has {len(values[0])} bytes but shape "
                         f"{list(shape)} needs {int(np.prod(shape))}")
    return shape, values[0]


def _level_file(path: str, num_images: int | None = None) -> LevelFile:
    """Reads and checks one level file: its first record and its record count."""
    payload = read_first_record(path)
    shape, _ = parse_example(payload, path)
    c, h, w = shape
    if c not in (1, 3) or h != w or h < 4 or h & (h - 1):
        raise ValueError(f"{path}: records must be [C, R, R] with C in (1, 3) and R a power of "
                         f"two >= 4. Received: shape={list(shape)}")
    match = _LEVEL_NAME.search(os.path.basename(path))
    if match and 2 ** int(match.group(1)) != h:
        raise ValueError(f"{path}: file name says {2 ** int(match.group(1))}x"
                         f"{2 ** int(match.group(1))} but its records are {h}x{w}")
    # All records of a level have the same size, so the file size gives the count without
    # reading 200+ GB (FFHQ r10); any other size gets the header walk and its precise error.
    record_bytes = _HEADER + len(payload) + _FOOTER
    size = os.path.getsize(path)
    if num_images is not None and size == num_images * record_bytes:
        count = num_images
    else:
        count = count_records(path)
    if num_images is not None and count != num_images:
        raise ValueError(f"{path}: has {count} records but the 4x4 level has {num_images}; all "
                         f"levels must hold the same images")
    return LevelFile(path, h, shape, count)


def _find_tfrecords(tfrecord_dir: str) -> list[str]:
    if not os.path.isdir(tfrecord_dir):
        raise UserError(f"dataset directory not found. Received: "
                        f"tfrecord_dir={tfrecord_dir}")
    paths = sorted(glob.glob(os.path.join(glob.escape(tfrecord_dir), "*.tfrecords")))
    if not paths:
        raise UserError(f"no *.tfrecords files in {tfrecord_dir}. Received: "
                        f"tfrecord_dir={tfrecord_dir}")
    return paths


# ------------------------------------------------------------------------------------------------
# The reader.


class TFRecordDataset:
    """A multi-resolution TFRecord dataset (the official pyramid), read with tf.data.

    Args:
        tfrecord_dir: str. Directory with `<name>-rNN.tfrecords` (and optional `*.labels`).
        resolution: int or None. Use this resolution as the full one and ignore larger levels
            (e.g. 256 on the 1024 FFHQ directory). None: the largest level.
        shuffle_mb: int. Shuffle buffer in MB of records (official default 4096).

    Attributes:
        resolution, resolution_log2, num_channels, label_size, num_images: ints.
        shape: [C, H, W] at `resolution`. labels: float32 np.ndarray [num_images, label_size].
        levels: {resolution: LevelFile} for 4 .. resolution. label_file: str or None.

    Raises:
        FileNotFoundError: missing directory or level. ValueError: truncated file, wrong record
        format, inconsistent shapes or counts between levels, bad labels file (each message
        names the file).

    Example:
        >>> ds = TFRecordDataset("datasets/ffhq", resolution=256)
        >>> for images, labels in ds.iterate(64, batch_size=32, mirror=True).take(1):
        ...     images.shape  # (32, 64, 64, 3) uint8
    """

    def __init__(self, tfrecord_dir, resolution=None, *, shuffle_mb=4096):
        self.tfrecord_dir = os.fspath(tfrecord_dir)
        self.shuffle_mb = shuffle_mb
        paths = _find_tfrecords(self.tfrecord_dir)
        by_res = {}
        for path in paths:
            shape, _ = parse_example(read_first_record(path), path)
            res = shape[1]
            if res in by_res:
                raise ValueError(f"{path} and {by_res[res]} both hold {res}x{res} records")
            by_res[res] = path
        available = sorted(by_res)
        if resolution is None:
            resolution = available[-1]
        resolution = int(resolution)
        if resolution not in by_res:
            raise FileNotFoundError(
                f"{self.tfrecord_dir} has no {resolution}x{resolution} level (levels: "
                f"{available}). Received: resolution={resolution}"
            )
        self.resolution = resolution
        self.resolution_log2 = int(math.log2(resolution))
        missing = [2 ** k for k in range(2, self.resolution_log2 + 1) if 2 ** k not in by_res]
        if missing:
            names = ", ".join(f"r{int(math.log2(r)):02d}" for r in missing)
            raise FileNotFoundError(
                f"{self.tfrecord_dir}: missing level file(s) {names} (resolutions {missing}); a "
                f"dataset needs every level from 4x4 up to {resolution}x{resolution}"
            )
        self.levels = {4: _level_file(by_res[4])}
        self.num_images = self.levels[4].num_records
        for k in range(3, self.resolution_log2 + 1):
            self.levels[2 ** k] = _level_file(by_res[2 ** k], self.num_images)
        channels = {lv.shape[0] for lv in self.levels.values()}
        if len(channels) > 1:
            detail = ", ".join(f"{os.path.basename(lv.path)}: {lv.shape[0]}"
                               for lv in self.levels.values())
            raise ValueError(f"{self.tfrecord_dir}: levels have different channel counts "
                             f"({detail})")
        if self.num_images == 0:
            raise ValueError(f"{self.levels[4].path}: dataset has no images")
        self.num_channels = channels.pop()
        self.shape = self.levels[resolution].shape

        # Labels: the official reader takes the first *.labels file; prefer <name>-rxx.labels.
        self.label_file = None
        guesses = sorted(glob.glob(os.path.join(glob.escape(self.tfrecord_dir), "*.labels")))
        name = os.path.basename(os.path.normpath(self.tfrecord_dir))
        preferred = os.path.join(self.tfrecord_dir, f"{name}-rxx.labels")
        if guesses:
            self.label_file = preferred if preferred in guesses else guesses[0]
            self.labels = _load_labels(self.label_file, self.num_images)
        else:
            self.labels = np.zeros([self.num_images, 0], np.float32)
        self.label_size = int(self.labels.shape[1])
        classes = os.path.join(self.tfrecord_dir, f"{name}-classes.json")
        self.class_names = None
        if os.path.isfile(classes):
            with open(classes) as f:
                self.class_names = list(json.load(f))

    def __repr__(self):
        return (f"TFRecordDataset({self.tfrecord_dir!r}, resolution={self.resolution}, "
                f"num_channels={self.num_channels}, num_images={self.num_images}, "
                f"label_size={self.label_size})")

    @property
    def resolutions(self) -> list[int]:
        """The readable levels, 4 .. resolution."""
        return sorted(self.levels)

    def level_file(self, resolution: int) -> str:
        """Path of the tfrecords file holding `resolution`."""
        resolution = int(resolution)
        if resolution not in self.levels:
            raise ValueError(f"{self.tfrecord_dir}: no {resolution}x{resolution} level; levels "
                             f"are {self.resolutions}. Received: resolution={resolution}")
        return self.levels[resolution].path

    def iterate(self, resolution, batch_size, *, shuffle=True, repeat=True, mirror=False,
                seed=None, drop_remainder=True, input_context=None) -> tf.data.Dataset:
        """tf.data pipeline of (images uint8 [B, r, r, C], labels float32 [B, label_size]).

        Order of operations: records of the level file zipped with the label rows -> shard
        (input_context) -> shuffle (`shuffle_mb` MB of records) -> repeat -> batch -> parse,
        decode_raw, CHW->HWC, optional mirror -> prefetch. Shuffling happens on the serialized
        records, parsing on whole batches.

        Args:
            resolution: int. A level of the dataset (4 .. self.resolution).
            batch_size: int. Global batch size; with `input_context` each pipeline yields
                `input_context.get_per_replica_batch_size(batch_size)`.
            shuffle: bool. Shuffle records (reshuffled every epoch).
            repeat: bool. Repeat forever.
            mirror: bool. Flip each image horizontally with probability 1/2 (official
                mirror_augment: a per-sample random flip of the width axis).
            seed: int or None. Makes shuffle and mirror deterministic.
            drop_remainder: bool. Drop a final partial batch.
            input_context: tf.distribute.InputContext or None. Shards records by input
                pipeline id (for `strategy.distribute_datasets_from_function`). Without it,
                `strategy.experimental_distribute_dataset` may auto-shard by data; pass a seed
                then so that every worker shuffles identically.
        """
        path = self.level_file(resolution)
        level = self.levels[int(resolution)]
        c, h, w = level.shape
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        per_replica = int(batch_size)
        num_pipelines, pipeline_id = 1, 0
        if input_context is not None:
            per_replica = input_context.get_per_replica_batch_size(int(batch_size))
            num_pipelines, pipeline_id = (input_context.num_input_pipelines,
                                          input_context.input_pipeline_id)
        records = tf.data.TFRecordDataset(path, buffer_size=1 << 22)
        if self.label_size:
            ds = tf.data.Dataset.zip((records, tf.data.Dataset.from_tensor_slices(self.labels)))
        else:
            ds = records.map(lambda r: (r, tf.zeros([0], tf.float32)))
        if num_pipelines > 1:
            ds = ds.shard(num_pipelines, pipeline_id)
        if seed is None:
            seed_mirror = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
            seed_shuffle = None
        else:
            seed_mirror = seed_shuffle = int(seed) + 1000003 * pipeline_id
        if shuffle:
            item_bytes = c * h * w  # official: bytes per decoded image
            shard_size = -(-self.num_images // num_pipelines)
            buffer = min(shard_size, max(1, ((self.shuffle_mb << 20) - 1) // item_bytes + 1))
            ds = ds.shuffle(buffer, seed=seed_shuffle, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(per_replica, drop_remainder=drop_remainder)

        features = {
            "shape": tf.io.FixedLenFeature([3], tf.int64),
            "data": tf.io.FixedLenFeature([], tf.string),
        }
        shape_msg = f"{path}: a record's shape differs from [C,H,W]={[c, h, w]} of the first"
        size_msg = f"{path}: a record's data is not {c * h * w} bytes"

        def decode(step, element):
            serialized, labels = element
            parsed = tf.io.parse_example(serialized, features)
            checks = [
                tf.debugging.assert_equal(parsed["shape"], tf.constant([[c, h, w]], tf.int64),
                                          message=shape_msg),
                tf.debugging.assert_equal(tf.strings.length(parsed["data"]), c * h * w,
                                          message=size_msg),
            ]
            with tf.control_dependencies(checks):
                data = tf.io.decode_raw(parsed["data"], tf.uint8)
            images = tf.transpose(tf.reshape(data, [-1, c, h, w]), [0, 2, 3, 1])  # [B,H,W,C]
            if mirror:
                flip = tf.random.stateless_uniform(
                    [tf.shape(images)[0]], seed=tf.stack([tf.constant(seed_mirror, tf.int64),
                                                          step])) < 0.5
                # Reverse only the flipped samples: partition, reverse, stitch back in order.
                # On uint8 this is 2-3x faster than tf.where(flip, tf.reverse(x), x) or a
                # per-sample gather, which touch every pixel several times.
                part = tf.cast(flip, tf.int32)
                keep, flipped = tf.dynamic_partition(images, part, 2)
                keep_ids, flipped_ids = tf.dynamic_partition(tf.range(tf.shape(images)[0]),
                                                             part, 2)
                images = tf.dynamic_stitch([keep_ids, flipped_ids],
                                           [keep, tf.reverse(flipped, axis=[2])])
                images = tf.reshape(images, [-1, h, w, c])
            return images, labels  # [B, H, W, C] uint8, [B, label_size] float32

        ds = ds.enumerate().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF if input_context is not None
            else tf.data.experimental.AutoShardPolicy.DATA)
        return ds.with_options(options)

    def verify(self, resolutions=None, progress=False) -> None:
        """Reads every record of every level (CRCs, parse, shape) and raises on the first bad
        one with its file and record index. tf.data's own DataLossError does not name the file,
        so run this (`dataset_tool.py info --verify`) when a training run reports one."""
        for res in sorted(resolutions or self.resolutions):
            path = self.level_file(res)
            count = 0
            try:
                ds = self.iterate(res, 256, shuffle=False, repeat=False, drop_remainder=False)
                for images, _ in ds:
                    count += int(images.shape[0])
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                first_line = str(e).strip().splitlines()[0][:300]
                raise ValueError(f"{path}: corrupt record near record {count} "
                                 f"({type(e).__name__}: {first_line})") from None
            if count != self.num_images:
                raise ValueError(f"{path}: read {count} records, expected {self.num_images}")
            if progress:
                print(f"{os.path.basename(path)}: {count} records OK")


def _load_labels(path: str, num_images: int) -> np.ndarray:
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path}: cannot read labels ({e})") from None
    if labels.ndim != 2:
        raise ValueError(f"{path}: labels must be a 2-D array [num_images, label_size]. "
                         f"Received: shape={labels.shape}")
    if labels.shape[0] != num_images:
        raise ValueError(f"{path}: has {labels.shape[0]} label rows but the dataset has "
                         f"{num_images} images")
    return labels.astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Inspection helpers behind `dataset_tool.py info / display / extract / compare`.


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


def read_images(tfrecord_dir, resolution=None, max_images=None, batch_size=64):
    """Yields (images uint8 [B, r, r, C], labels [B, L]) numpy batches in file order."""
    ds = TFRecordDataset(tfrecord_dir)
    res = ds.resolution if resolution is None else int(resolution)
    pipeline = ds.iterate(res, batch_size, shuffle=False, repeat=False, drop_remainder=False)
    left = ds.num_images if max_images is None else min(int(max_images), ds.num_images)
    for images, labels in pipeline:
        if left <= 0:
            return
        images, labels = images.numpy()[:left], labels.numpy()[:left]
        left -= len(images)
        yield images, labels


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tiles uint8 [N, H, W, C] into one [rows*H, cols*W, C] image (black padding)."""
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros([rows * h, columns * w, c], np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, columns)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = img
    return grid


def _save_png(path: str, image: np.ndarray) -> None:
    import PIL.Image

    image = image[..., 0] if image.shape[-1] == 1 else image
    tmp = f"{path}.tmp{os.getpid()}.png"
    PIL.Image.fromarray(image).save(tmp)
    os.replace(tmp, path)


def save_grid(tfrecord_dir, out_png, *, resolution=None, num_images=64, columns=None) -> str:
    """Saves the first `num_images` images as one grid PNG (the `display` command)."""
    batches = list(read_images(tfrecord_dir, resolution, num_images))
    images = np.concatenate([b[0] for b in batches])
    _save_png(os.fspath(out_png), image_grid(images, columns))
    return os.fspath(out_png)


def extract_images(tfrecord_dir, output_dir, *, resolution=None, max_images=None) -> int:
    """Writes every image as `img%08d.png` (official `extract`), in file order."""
    os.makedirs(output_dir, exist_ok=True)
    idx = 0
    from tqdm.auto import tqdm

    total = TFRecordDataset(tfrecord_dir).num_images
    with tqdm(total=total if max_images is None else min(total, max_images), unit="img") as bar:
        for images, _ in read_images(tfrecord_dir, resolution, max_images):
            for img in images:
                _save_png(os.path.join(output_dir, f"img{idx:08d}.png"), img)
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
