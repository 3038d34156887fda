"""Tests for data/writer.py: the official write order, labels in record order, the atomic
exporter and its checks."""

import os

import numpy as np
import pytest

from data.writer import TFRecordExporter, shuffled_order, write_arrays
from tests.data.record_files import no_leftovers, official_pyramid, read_records
from tf_stylegan.errors import UserError


def test_shuffled_order_is_official():
    order = np.arange(10)
    np.random.RandomState(123).shuffle(order)  # official choose_shuffled_order()
    np.testing.assert_array_equal(shuffled_order(10), order)
    np.testing.assert_array_equal(shuffled_order(10, shuffle=False), np.arange(10))


def test_full_level_is_input_in_shuffled_order_and_labels_follow(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (9, 3, 16, 16), dtype=np.uint8)
    labels = rng.normal(size=(9, 4)).astype(np.float32)
    write_arrays(tmp_path / "d", images, labels, progress=False)
    order = shuffled_order(9)
    records = read_records(tmp_path / "d" / "d-r04.tfrecords")
    for i, (shape, data) in zip(order, records):
        np.testing.assert_array_equal(data, images[i])
    for lod, name in enumerate(["d-r04", "d-r03", "d-r02"]):
        for i, (_, data) in zip(order, read_records(tmp_path / "d" / f"{name}.tfrecords")):
            np.testing.assert_array_equal(data, official_pyramid(images[i])[lod])
    saved = np.load(tmp_path / "d" / "d-rxx.labels")
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved, labels[order])


def test_exporter_is_atomic_and_refuses_existing(tmp_path):
    target = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        with TFRecordExporter(target, 2, progress=False) as tfr:
            tfr.add_image(np.zeros((1, 8, 8), np.uint8))
            raise RuntimeError("interrupted")
    assert not target.exists() and no_leftovers(tmp_path) == []

    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not empty.*--overwrite"):
        TFRecordExporter(target, 1, progress=False)
    with TFRecordExporter(target, 1, overwrite=True, progress=False) as tfr:
        tfr.add_image(np.zeros((1, 4, 4), np.uint8))
    assert sorted(os.listdir(target)) == ["ds-r02.tfrecords"]
    assert no_leftovers(tmp_path) == []


def test_exporter_rejects_bad_arrays(tmp_path):
    with TFRecordExporter(tmp_path / "x", progress=False) as tfr:
        with pytest.raises(ValueError, match="same width and height"):
            tfr.add_image(np.zeros((3, 8, 16), np.uint8))
        with pytest.raises(ValueError, match="power-of-two"):
            tfr.add_image(np.zeros((3, 12, 12), np.uint8))
        with pytest.raises(ValueError, match="1 or 3 channels"):
            tfr.add_image(np.zeros((4, 8, 8), np.uint8))
        tfr.add_image(np.zeros((3, 8, 8), np.uint8))
        with pytest.raises(ValueError, match="differs from the first image"):
            tfr.add_image(np.zeros((3, 16, 16), np.uint8))
