"""Tests for data/records.py: the official pyramid arithmetic, the Example bytes against
TensorFlow's serializer, file names and the raw record helpers."""

import os

import numpy as np
import pytest
import tensorflow as tf

from data.records import (
    build_pyramid,
    count_records,
    labels_file_name,
    level_file_name,
    level_of_file_name,
    parse_example,
    read_first_record,
    record_size,
    serialize_example,
)
from tests.data.record_files import OFFICIAL, official_pyramid, read_records
from tf_stylegan.errors import UserError


def test_pyramid_equals_official_arithmetic_up_to_1024():
    rng = np.random.default_rng(0)
    # Random pixels, and 0/255 patterns that put many averages exactly on .5 boundaries.
    images = [rng.integers(0, 256, (1, 1024, 1024), dtype=np.uint8),
              (rng.integers(0, 2, (3, 64, 64)) * 255).astype(np.uint8),
              (rng.integers(0, 2, (1, 32, 32)) * 3).astype(np.uint8)]
    for image in images:
        ours, ref = build_pyramid(image), official_pyramid(image)
        assert [x.shape for x in ours] == [x.shape for x in ref]
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)


def test_serialized_example_matches_tensorflow():
    rng = np.random.default_rng(1)
    for shape in [(3, 4, 4), (1, 8, 8), (3, 128, 128)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        ours = tf.train.Example.FromString(serialize_example(image))
        ref = tf.train.Example(features=tf.train.Features(feature={
            "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=shape)),
            "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        }))
        assert ours == ref


def test_file_names_follow_the_official_layout():
    assert level_file_name("ffhq", 10) == "ffhq-r10.tfrecords"
    assert level_file_name("mnist", 2) == "mnist-r02.tfrecords"
    assert level_of_file_name(os.path.join("datasets", "ffhq", "ffhq-r10.tfrecords")) == 10
    assert level_of_file_name("ffhq-rxx.labels") is None
    assert labels_file_name("ffhq") == "ffhq-rxx.labels"


def test_raw_helpers_read_the_official_files():
    path = os.path.join(OFFICIAL, "official-rgb", "official-rgb-r05.tfrecords")
    assert count_records(path) == 6  # the fixture holds 6 images
    payload = read_first_record(path)
    shape, data = parse_example(payload, path)
    assert shape == (3, 32, 32)
    np.testing.assert_array_equal(np.frombuffer(data, np.uint8).reshape(shape),
                                  read_records(path)[0][1])
    assert os.path.getsize(path) == 6 * record_size(payload)


def test_parse_example_rejects_other_records():
    with pytest.raises(UserError, match=r"x: record lacks the 'shape'/'data' features"):
        parse_example(tf.train.Example().SerializeToString(), "x")
    with pytest.raises(UserError, match=r"x: record is not a tf.train.Example"):
        parse_example(b"\xff\xff\xff", "x")
