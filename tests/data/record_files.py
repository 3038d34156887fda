"""Shared helpers of the data tests: reading records independently of the reader, the official
pyramid arithmetic written out again, and small file utilities."""

import os

import numpy as np
import PIL.Image
import tensorflow as tf

from tests.paths import FIXTURES

# Pyramids written by NVIDIA's own dataset_tool.py from the images beside them.
OFFICIAL = os.path.join(FIXTURES, "official-dataset")


def read_records(path):
    """[(shape tuple, uint8 array CHW)] of a TFRecord file, parsed by TensorFlow's protobuf."""
    out = []
    for raw in tf.data.TFRecordDataset(os.fspath(path)).as_numpy_iterator():
        ex = tf.train.Example.FromString(raw)
        shape = tuple(ex.features.feature["shape"].int64_list.value)
        data = np.frombuffer(ex.features.feature["data"].bytes_list.value[0], np.uint8)
        out.append((shape, data.reshape(shape)))
    return out


def record_arrays(path):
    """The uint8 CHW arrays of a TFRecord file, stacked (independent of the reader)."""
    return np.stack([data for _, data in read_records(path)])


def level_files(tfrecord_dir):
    return sorted(f for f in os.listdir(tfrecord_dir) if f.endswith(".tfrecords"))


def official_pyramid(image):
    """The official TFRecordExporter.add_image arithmetic, written independently of data/."""
    out = [image]
    img = image
    for _ in range(int(np.log2(image.shape[1])) - 2):
        img = img.astype(np.float32)
        img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2]
               + img[:, 1::2, 1::2]) * 0.25
        out.append(np.rint(img).clip(0, 255).astype(np.uint8))
    return out


def save(path, array, mode=None):
    """Saves an HWC / HW uint8 array as an image file, making its folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(array, mode).save(path) if mode else PIL.Image.fromarray(array).save(path)


def no_leftovers(parent):
    """Temporary or moved-aside directories the writer left in `parent` (should be none)."""
    return [f for f in os.listdir(parent) if ".tmp-" in f or ".old-" in f]
