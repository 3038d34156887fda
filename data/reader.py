"""Reader of the official StyleGAN multi-resolution TFRecord datasets (see `data.records`).

Like the official `training/dataset.py` (`TFRecordDataset`), the resolution of each file comes
from its first record, the largest is the dataset resolution, a `resolution=` override ignores
larger files (official `ffhq256`/`ffhq512` reuse the `ffhq` directory), every level down to 4x4
must exist, labels are zipped with the records in file order, and the shuffle buffer is
`shuffle_mb` MB (4096) of records. Images leave the pipeline as uint8 NHWC (the networks are
NHWC); the official per-sample mirror augment (`training_loop.process_reals`) is optional.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os

import numpy as np
import tensorflow as tf

from tf_stylegan.errors import UserError

from .labels import load_labels
from .records import (
    classes_file_name,
    count_records,
    labels_file_name,
    level_of_file_name,
    parse_example,
    read_first_record,
    record_size,
)

__all__ = ["LevelFile", "TFRecordDataset", "read_images"]


@dataclasses.dataclass(frozen=True)
class LevelFile:
    """One level (resolution) of a pyramid: its file, record shape and record count."""

    path: str
    resolution: int
    shape: tuple  # [C, H, W]
    num_records: int


def _level_file(path: str, num_images: int | None = None) -> LevelFile:
    """Reads and checks one level file: its first record and its record count."""
    payload = read_first_record(path)
    shape, _ = parse_example(payload, path)
    c, h, w = shape
    if c not in (1, 3) or h != w or h < 4 or h & (h - 1):
        raise UserError(f"{path}: records must be [C, R, R] with C in (1, 3) and R a power of "
                        f"two >= 4. Received: shape={list(shape)}")
    named_log2 = level_of_file_name(path)
    if named_log2 is not None and 2 ** named_log2 != h:
        raise UserError(f"{path}: file name says {2 ** named_log2}x{2 ** named_log2} but its "
                        f"records are {h}x{w}")
    # All records of a level have the same size, so the file size gives the count without
    # reading 200+ GB (FFHQ r10); any other size gets the header walk and its precise error.
    record_bytes = record_size(payload)
    size = os.path.getsize(path)
    if num_images is not None and size == num_images * record_bytes:
        count = num_images
    else:
        count = count_records(path)
    if num_images is not None and count != num_images:
        raise UserError(f"{path}: has {count} records but the 4x4 level has {num_images}; all "
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
        FileNotFoundError: missing directory or level. UserError: truncated file, wrong record
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
                raise UserError(f"{path} and {by_res[res]} both hold {res}x{res} records")
            by_res[res] = path
        available = sorted(by_res)
        if resolution is None:
            resolution = available[-1]
        resolution = int(resolution)
        if resolution not in by_res:
            raise UserError(
                f"{self.tfrecord_dir} has no {resolution}x{resolution} level (levels: "
                f"{available}). Received: resolution={resolution}"
            )
        self.resolution = resolution
        self.resolution_log2 = int(math.log2(resolution))
        missing = [2 ** k for k in range(2, self.resolution_log2 + 1) if 2 ** k not in by_res]
        if missing:
            names = ", ".join(f"r{int(math.log2(r)):02d}" for r in missing)
            raise UserError(
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
            raise UserError(f"{self.tfrecord_dir}: levels have different channel counts "
                            f"({detail})")
        if self.num_images == 0:
            raise UserError(f"{self.levels[4].path}: dataset has no images")
        self.num_channels = channels.pop()
        self.shape = self.levels[resolution].shape

        # Labels: the official reader takes the first *.labels file; prefer <name>-rxx.labels.
        self.label_file = None
        guesses = sorted(glob.glob(os.path.join(glob.escape(self.tfrecord_dir), "*.labels")))
        name = os.path.basename(os.path.normpath(self.tfrecord_dir))
        preferred = os.path.join(self.tfrecord_dir, labels_file_name(name))
        if guesses:
            self.label_file = preferred if preferred in guesses else guesses[0]
            self.labels = load_labels(self.label_file, self.num_images)
        else:
            self.labels = np.zeros([self.num_images, 0], np.float32)
        self.label_size = int(self.labels.shape[1])
        classes = os.path.join(self.tfrecord_dir, classes_file_name(name))
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
            raise UserError(f"{self.tfrecord_dir}: no {resolution}x{resolution} level; levels "
                            f"are {self.resolutions}. Received: resolution={resolution}")
        return self.levels[resolution].path

    def iterate(self, resolution, batch_size, *, shuffle=True, repeat=True, mirror=False,
                seed=None, drop_remainder=True, input_context=None,
                start=0) -> tf.data.Dataset:
        """tf.data pipeline of (images uint8 [B, r, r, C], labels float32 [B, label_size]).

        Order of operations: records of the level file zipped with the label rows -> shard
        (input_context) -> shuffle (`shuffle_mb` MB of records), epoch after epoch -> batch ->
        parse, decode_raw, CHW->HWC, optional mirror -> prefetch. Shuffling happens on the
        serialized records, parsing on whole batches.

        The stream is a pure function of `seed`: epoch e of a pipeline is its records shuffled
        with a seed made of `seed` and e (the official reader reshuffles every epoch too), and
        the mirror flips of batch k are drawn from `seed` and k. So the stream can be restarted
        at any element: `start` skips the first `start` records of this pipeline's stream
        without decoding them, reading at most one epoch of its records (a training run resumed
        mid-epoch sees exactly the images the uninterrupted run would have seen).

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
            start: int. Records of this pipeline's stream to skip (a multiple of its batch
                size when `mirror` is set, so that the flips continue where they were).
        """
        path = self.level_file(resolution)
        level = self.levels[int(resolution)]
        c, h, w = level.shape
        if int(batch_size) < 1:
            raise UserError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        per_replica = int(batch_size)
        num_pipelines, pipeline_id = 1, 0
        if input_context is not None:
            per_replica = input_context.get_per_replica_batch_size(int(batch_size))
            num_pipelines, pipeline_id = (input_context.num_input_pipelines,
                                          input_context.input_pipeline_id)
        start = int(start)
        if start < 0 or (mirror and start % per_replica):
            raise ValueError(f"`start` must be >= 0 (and a multiple of the batch {per_replica} "
                             f"with mirror). Received: start={start}")
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        seed = int(seed) + 1000003 * pipeline_id
        labels = self.labels if self.label_size else None
        shard_size = len(range(pipeline_id, self.num_images, num_pipelines))
        item_bytes = c * h * w  # official: bytes per decoded image
        buffer = min(shard_size, max(1, ((self.shuffle_mb << 20) - 1) // item_bytes + 1))

        def epoch(e):
            # The order must depend on `seed` and the epoch alone. A global seed (set by
            # keras.utils.set_random_seed) would otherwise join the op seed, and a global seed
            # of 0 makes tf.data compare the epoch tensor as a Python bool and fail to trace.
            # This graph is the one traced for this function, so clearing it is local.
            tf.compat.v1.get_default_graph().seed = None
            records = tf.data.TFRecordDataset(path, buffer_size=1 << 22)
            if labels is not None:
                ds = tf.data.Dataset.zip((records, tf.data.Dataset.from_tensor_slices(labels)))
            else:
                ds = records.map(lambda r: (r, tf.zeros([0], tf.float32)))
            if num_pipelines > 1:
                ds = ds.shard(num_pipelines, pipeline_id)
            if shuffle:
                ds = ds.shuffle(buffer, seed=seed * 7919 + e, reshuffle_each_iteration=False)
            return ds

        first_epoch, skip = divmod(start, shard_size)
        if not repeat and first_epoch:
            raise ValueError(f"`start` {start} is past the one epoch of a pipeline without "
                             f"repeat ({shard_size} records)")
        last_epoch = np.iinfo(np.int64).max if repeat else 1
        ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(
            tf.autograph.experimental.do_not_convert(epoch))
        ds = ds.skip(skip).batch(per_replica, drop_remainder=drop_remainder)

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
                    [tf.shape(images)[0]], seed=tf.stack([tf.constant(seed, tf.int64),
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

        ds = ds.enumerate(start // per_replica).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
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
                raise UserError(f"{path}: corrupt record near record {count} "
                                f"({type(e).__name__}: {first_line})") from None
            if count != self.num_images:
                raise UserError(f"{path}: read {count} records, expected {self.num_images}")
            if progress:
                print(f"{os.path.basename(path)}: {count} records OK")


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
