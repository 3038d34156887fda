"""Real-image batches from TFRecords, dataset fingerprints, label sampling."""

import os

import numpy as np
import pytest

from metrics.metric_inputs import LabelSampler, dataset_fingerprint, real_batches_from_dataset
from tests.metrics.stand_ins import write_tfrecord_dataset
from tf_stylegan.errors import UserError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    images = np.random.RandomState(0).randint(0, 256, [10, 16, 16, 3]).astype(np.uint8)
    directory = str(tmp_path_factory.mktemp("data") / "ten")
    write_tfrecord_dataset(directory, images, labels=np.eye(10, 4, dtype=np.float32))
    return directory, images


def test_first_images_in_file_order(dataset, capsys):
    directory, images = dataset
    batches = list(real_batches_from_dataset(directory, 7, 3))
    assert [b.shape[0] for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), images[:7])
    # Asking for more images than the dataset holds repeats it from the start, in file order,
    # as the official reader (which repeats the dataset) does; a note says so.
    everything = np.concatenate(list(real_batches_from_dataset(directory, 25, 4)))
    np.testing.assert_array_equal(everything, np.concatenate([images, images, images[:5]]))
    assert "10 images, repeating them to make 25" in capsys.readouterr().out
    low = np.concatenate(list(real_batches_from_dataset(directory, 10, 5, resolution=8)))
    assert low.shape == (10, 8, 8, 3)


def test_mirror_flips_about_half_deterministically(dataset):
    directory, images = dataset
    a = np.concatenate(list(real_batches_from_dataset(directory, 10, 4, mirror=True, seed=1)))
    b = np.concatenate(list(real_batches_from_dataset(directory, 10, 4, mirror=True, seed=1)))
    np.testing.assert_array_equal(a, b)
    flipped = [np.array_equal(x, y[:, ::-1]) for x, y in zip(a, images)]
    same = [np.array_equal(x, y) for x, y in zip(a, images)]
    assert all(f or s for f, s in zip(flipped, same)) and 0 < sum(flipped) < 10


def test_fingerprint_tracks_the_files(dataset):
    directory, _ = dataset
    before = dataset_fingerprint(directory)
    assert before["dir"] == os.path.abspath(directory)
    assert [f[0] for f in before["files"]] == ["ten-r02.tfrecords", "ten-r03.tfrecords",
                                                "ten-r04.tfrecords", "ten-rxx.labels"]
    path = os.path.join(directory, "ten-rxx.labels")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert dataset_fingerprint(directory) != before
    with pytest.raises(UserError, match="not found"):
        dataset_fingerprint(os.path.join(directory, "missing"))


def test_label_sampler():
    assert LabelSampler(0)(5) is None
    onehot = LabelSampler(3, seed=0)(50)
    assert onehot.shape == (50, 3) and np.all(onehot.sum(1) == 1)
    rows = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], np.float32)
    drawn = LabelSampler(2, rows, seed=0)(30)
    assert all(any(np.array_equal(d, r) for r in rows) for d in drawn)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        LabelSampler(3, rows)


def test_conditional_generators_get_the_dataset_label_rows(dataset):
    from metrics.registry import MetricOptions, metric_labels
    from tests.metrics.stand_ins import LinearGenerator

    directory, _ = dataset
    conditional = LinearGenerator(np.eye(2), np.zeros([2, 16 * 16 * 3]), 16, label_size=4)
    labels = metric_labels(conditional, MetricOptions(dataset_dir=directory))
    np.testing.assert_array_equal(labels, np.eye(10, 4, dtype=np.float32))
    unconditional = LinearGenerator(np.eye(2), np.zeros([2, 16 * 16 * 3]), 16)
    assert metric_labels(unconditional, MetricOptions(dataset_dir=directory)) is None
