"""Tests for data/reader.py: reading the official pyramid (including the fixtures NVIDIA's
dataset_tool wrote), mirror augment, label order, resolution override, sharding under
tf.distribute and the error cases."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from data.reader import TFRecordDataset
from data.records import build_pyramid
from data.writer import write_arrays
from tests.data.record_files import OFFICIAL, record_arrays
from tf_stylegan.errors import UserError


def read_all(ds, resolution, batch_size=4):
    images, labels = [], []
    for x, y in ds.iterate(resolution, batch_size, shuffle=False, repeat=False,
                           drop_remainder=False):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def test_roundtrip_bit_exact_every_level(labelled):
    path, images, labels = labelled
    ds = TFRecordDataset(path)
    assert (ds.resolution, ds.num_channels, ds.num_images, ds.label_size) == (16, 3, 10, 2)
    assert ds.shape == (3, 16, 16) and ds.resolutions == [4, 8, 16]
    for lod, res in enumerate([16, 8, 4]):
        got, got_labels = read_all(ds, res)
        assert got.dtype == np.uint8 and got.shape == (10, res, res, 3)
        expected = np.stack([build_pyramid(img)[lod] for img in images]).transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("kind,res,channels", [("rgb", 32, 3), ("gray", 16, 1)])
def test_reads_official_fixture_as_is(kind, res, channels):
    directory = os.path.join(OFFICIAL, f"official-{kind}")
    ds = TFRecordDataset(directory)
    assert (ds.resolution, ds.num_channels, ds.num_images, ds.label_size) == (res, channels, 6, 0)
    for r in ds.resolutions:
        got, labels = read_all(ds, r, batch_size=4)
        expected = record_arrays(ds.level_file(r)).transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(got, expected)
        assert labels.shape == (6, 0) and labels.dtype == np.float32


def test_resolution_override_reads_smaller_pyramid():
    directory = os.path.join(OFFICIAL, "official-rgb")
    ds = TFRecordDataset(directory, resolution=16)
    assert ds.resolution == 16 and ds.resolutions == [4, 8, 16]
    with pytest.raises(ValueError, match="no 32x32 level"):
        ds.iterate(32, 2)
    got, _ = read_all(ds, 16)
    np.testing.assert_array_equal(got, record_arrays(ds.level_file(16)).transpose(0, 2, 3, 1))
    with pytest.raises(UserError, match="no 64x64 level"):
        TFRecordDataset(directory, resolution=64)


def test_shuffle_keeps_labels_with_images_and_covers_epoch(labelled):
    path, _, _ = labelled
    ds = TFRecordDataset(path)
    seen = []
    for x, y in ds.iterate(8, 5, seed=3, repeat=False):
        assert x.shape == (5, 8, 8, 3) and y.shape == (5, 2)
        seen.append(y.numpy())
    order = np.concatenate(seen)[:, 0]
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    for x, y in ds.iterate(16, 5, seed=3).take(4):  # full level: pixel [0,0,0] is the id
        np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], y.numpy()[:, 0])
        np.testing.assert_array_equal(y.numpy()[:, 1], -y.numpy()[:, 0])


def test_mirror_flips_some_samples_deterministically(tmp_path):
    images = np.zeros((16, 1, 8, 8), np.uint8)
    images[:, 0, :, :4] = np.arange(16)[:, None, None] + 1  # left half carries the id
    write_arrays(tmp_path / "m", images, shuffle=False, progress=False)
    ds = TFRecordDataset(tmp_path / "m")

    def run(seed, mirror=True):
        x, _ = next(iter(ds.iterate(8, 16, shuffle=False, mirror=mirror, seed=seed)))
        return x.numpy()[..., 0]

    out = run(5)
    originals = images[:, 0]
    flipped = (out == originals[:, :, ::-1]).all(axis=(1, 2))
    unchanged = (out == originals).all(axis=(1, 2))
    assert (flipped ^ unchanged).all()  # every image is either as stored or exactly mirrored
    assert 0 < flipped.sum() < 16
    np.testing.assert_array_equal(run(5), out)
    assert not np.array_equal(run(6), out) or not np.array_equal(run(7), out)
    np.testing.assert_array_equal(run(5, mirror=False), originals)


def _save_labels(path, array):
    with open(path, "wb") as f:  # np.save(path) would append ".npy"
        np.save(f, array)


def test_label_files(tmp_path):
    write_arrays(tmp_path / "n", np.zeros((3, 1, 4, 4), np.uint8), progress=False)
    ds = TFRecordDataset(tmp_path / "n")
    x, y = next(iter(ds.iterate(4, 2)))
    assert x.shape == (2, 4, 4, 1) and y.shape == (2, 0) and y.dtype == tf.float32
    assert ds.label_file is None and ds.labels.shape == (3, 0)
    _save_labels(tmp_path / "n" / "n-rxx.labels", np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"n-rxx\.labels: has 2 label rows.*3 images"):
        TFRecordDataset(tmp_path / "n")
    # <name>-rxx.labels is preferred over other *.labels files.
    _save_labels(tmp_path / "n" / "n-rxx.labels", np.eye(3, dtype=np.float64))
    _save_labels(tmp_path / "n" / "a.labels", np.ones((1, 1)))
    ds = TFRecordDataset(tmp_path / "n")
    assert ds.label_size == 3 and ds.labels.dtype == np.float32
    np.testing.assert_array_equal(read_all(ds, 4)[1], np.eye(3))


def test_input_context_shards_and_splits_batch(labelled):
    path, _, _ = labelled
    ds = TFRecordDataset(path)
    shards = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid,
                                         num_replicas_in_sync=2)
        ids = []
        for x, y in ds.iterate(16, 4, shuffle=False, repeat=False, drop_remainder=False,
                               input_context=ctx):
            assert x.shape[0] <= 2  # per-replica batch = 4 / 2
            ids += y.numpy()[:, 0].astype(int).tolist()
        shards.append(ids)
    assert set(shards[0]).isdisjoint(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_mirrored_strategy_distributes_batches(labelled):
    path, _, _ = labelled
    ds = TFRecordDataset(path)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    dist = strategy.distribute_datasets_from_function(
        lambda ctx: ds.iterate(8, 4, mirror=True, seed=1, input_context=ctx))
    images, labels = next(iter(dist))
    per_replica = strategy.experimental_local_results(images)
    assert len(per_replica) == len(devices)
    assert all(t.shape == (4 // len(devices), 8, 8, 3) for t in per_replica)
    assert all(t.shape[1] == 2 for t in strategy.experimental_local_results(labels))


# --- Errors ----------------------------------------------------------------------------------


def _copy_fixture(tmp_path, kind="rgb"):
    dst = tmp_path / f"official-{kind}"
    shutil.copytree(os.path.join(OFFICIAL, f"official-{kind}"), dst)
    return dst


def test_missing_level_and_directory(tmp_path):
    d = _copy_fixture(tmp_path)
    os.remove(d / "official-rgb-r03.tfrecords")
    with pytest.raises(UserError, match=r"missing level file\(s\) r03"):
        TFRecordDataset(d)
    with pytest.raises(UserError, match="tfrecord_dir="):
        TFRecordDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no \*\.tfrecords"):
        TFRecordDataset(tmp_path / "empty")


def test_truncated_file_error_names_file(tmp_path):
    d = _copy_fixture(tmp_path)
    path = d / "official-rgb-r05.tfrecords"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"official-rgb-r05\.tfrecords: truncated TFRecord file: "
                                         r"record 5"):
        TFRecordDataset(d)
    # Reading the intact smaller pyramid still works: the broken level is not used.
    assert TFRecordDataset(d, resolution=16).num_images == 6


def test_corrupt_record_is_reported_by_verify(tmp_path):
    d = _copy_fixture(tmp_path)
    path = d / "official-rgb-r04.tfrecords"
    data = bytearray(path.read_bytes())
    data[3 * 807 + 400] ^= 0xFF  # inside the pixels of record 3 (807-byte records): only
    # the data CRC notices, so the cheap structural checks at construction pass
    path.write_bytes(bytes(data))
    ds = TFRecordDataset(d)  # structure is intact
    with pytest.raises(ValueError, match=r"official-rgb-r04\.tfrecords: corrupt record"):
        ds.verify()
    ds.verify(resolutions=[4, 8, 32])


def test_inconsistent_shapes(tmp_path):
    rgb = _copy_fixture(tmp_path, "rgb")
    gray = _copy_fixture(tmp_path, "gray")
    # A gray 8x8 level inside the RGB pyramid: channel counts differ.
    os.replace(gray / "official-gray-r03.tfrecords", rgb / "official-rgb-r03.tfrecords")
    with pytest.raises(ValueError, match="different channel counts"):
        TFRecordDataset(rgb)
    # A file whose name says 16x16 but holds 8x8 records.
    d = _copy_fixture(tmp_path / "b", "gray")
    os.replace(d / "official-gray-r03.tfrecords", d / "official-gray-r09.tfrecords")
    with pytest.raises(ValueError, match=r"r09\.tfrecords: file name says 512x512 but its records "
                                         r"are 8x8"):
        TFRecordDataset(d)
    # A level with fewer records than the others.
    d = tmp_path / "c"
    write_arrays(d / "x", np.zeros((4, 1, 8, 8), np.uint8), progress=False)
    write_arrays(d / "y", np.zeros((3, 1, 8, 8), np.uint8), progress=False)
    os.replace(d / "y" / "y-r03.tfrecords", d / "x" / "x-r03.tfrecords")
    with pytest.raises(ValueError, match=r"x-r03\.tfrecords: has 3 records but the 4x4 level "
                                         r"has 4"):
        TFRecordDataset(d / "x")


@pytest.mark.parametrize("pipelines", [1, 2])
def test_a_stream_restarted_at_any_record_continues_exactly(labelled, pipelines):
    """`start` restarts a shuffled, mirrored, multi-epoch stream where it was (what a resumed
    training run relies on): batch k of the restarted stream is batch start/B + k of the full
    one, images, labels and flips alike; every epoch is a permutation of the pipeline's
    records, and the epochs differ."""
    path, _, _ = labelled  # 10 images
    ds = TFRecordDataset(path)

    class Context:  # the InputContext of one of `pipelines` input pipelines
        num_input_pipelines, input_pipeline_id = pipelines, pipelines - 1

        @staticmethod
        def get_per_replica_batch_size(batch):
            return batch // pipelines

    context = Context() if pipelines > 1 else None
    batch = 2 * pipelines  # 2 per pipeline
    full = [(x.numpy(), y.numpy()) for x, y in ds.iterate(
        16, batch, mirror=True, seed=5, input_context=context).take(14)]
    ids = np.concatenate([y[:, 0] for _, y in full])  # label 0 is the record id (fixture)
    shard = 10 // pipelines
    epochs = ids[:shard * (len(ids) // shard)].reshape(-1, shard)
    for epoch in epochs:
        assert sorted(epoch) == sorted(epochs[0]) and len(set(epoch)) == shard
    assert any(not np.array_equal(e, epochs[0]) for e in epochs[1:])  # reshuffled
    for start_batch in (1, 4, 9):  # inside the first epoch, across it, a later epoch
        restarted = ds.iterate(16, batch, mirror=True, seed=5, input_context=context,
                               start=start_batch * 2)
        for k, (x, y) in enumerate(restarted.take(3)):
            np.testing.assert_array_equal(x.numpy(), full[start_batch + k][0])
            np.testing.assert_array_equal(y.numpy(), full[start_batch + k][1])
    with pytest.raises(ValueError, match="multiple of the batch"):
        ds.iterate(16, batch, mirror=True, seed=5, input_context=context, start=1)


@pytest.mark.parametrize("global_seed", [0, 7])
def test_the_order_depends_on_the_seed_not_on_a_global_seed(labelled, global_seed):
    """A global seed (training sets one with keras.utils.set_random_seed) neither changes the
    shuffled order nor, at 0, breaks building the stream."""
    path, _, _ = labelled

    def order():
        return np.concatenate([y[:, 0] for _, y in TFRecordDataset(path).iterate(
            16, 2, seed=5).take(12)])

    tf.random.set_seed(None)
    reference = order()
    try:
        tf.random.set_seed(global_seed)
        np.testing.assert_array_equal(order(), reference)
    finally:
        tf.random.set_seed(None)
