"""Tests for training/dataset_writer.py: the official pyramid format, the fixtures written by
NVIDIA's dataset_tool, conversions, labels, every create_* source and the bad-input cases."""

import gzip
import json
import os
import pickle
import struct

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from tests.paths import FIXTURES
from tf_stylegan.errors import UserError
from training import dataset_writer as W

OFFICIAL = os.path.join(FIXTURES, "official-dataset")


def read_records(path):
    """[(shape tuple, uint8 array CHW)] of a TFRecord file, parsed by TensorFlow's protobuf."""
    out = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        ex = tf.train.Example.FromString(raw)
        shape = tuple(ex.features.feature["shape"].int64_list.value)
        data = np.frombuffer(ex.features.feature["data"].bytes_list.value[0], np.uint8)
        out.append((shape, data.reshape(shape)))
    return out


def level_files(tfrecord_dir):
    return sorted(f for f in os.listdir(tfrecord_dir) if f.endswith(".tfrecords"))


def official_pyramid(image):
    """The official TFRecordExporter.add_image arithmetic, written independently of W."""
    out = [image]
    img = image
    for _ in range(int(np.log2(image.shape[1])) - 2):
        img = img.astype(np.float32)
        img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2]
               + img[:, 1::2, 1::2]) * 0.25
        out.append(np.rint(img).clip(0, 255).astype(np.uint8))
    return out


def save(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(array, mode).save(path) if mode else PIL.Image.fromarray(array).save(path)


def no_leftovers(parent):
    return [f for f in os.listdir(parent) if ".tmp-" in f or ".old-" in f]


# --- Format ---------------------------------------------------------------------------------


def test_pyramid_equals_official_arithmetic_up_to_1024():
    rng = np.random.default_rng(0)
    # Random pixels, and 0/255 patterns that put many averages exactly on .5 boundaries.
    images = [rng.integers(0, 256, (1, 1024, 1024), dtype=np.uint8),
              (rng.integers(0, 2, (3, 64, 64)) * 255).astype(np.uint8),
              (rng.integers(0, 2, (1, 32, 32)) * 3).astype(np.uint8)]
    for image in images:
        ours, ref = W.build_pyramid(image), official_pyramid(image)
        assert [x.shape for x in ours] == [x.shape for x in ref]
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)


def test_serialized_example_matches_tensorflow():
    rng = np.random.default_rng(1)
    for shape in [(3, 4, 4), (1, 8, 8), (3, 128, 128)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        ours = tf.train.Example.FromString(W.serialize_example(image))
        ref = tf.train.Example(features=tf.train.Features(feature={
            "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=shape)),
            "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        }))
        assert ours == ref


def test_shuffled_order_is_official():
    order = np.arange(10)
    np.random.RandomState(123).shuffle(order)  # official choose_shuffled_order()
    np.testing.assert_array_equal(W.shuffled_order(10), order)
    np.testing.assert_array_equal(W.shuffled_order(10, shuffle=False), np.arange(10))


@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_create_from_images_reproduces_official_fixture(tmp_path, kind):
    out = tmp_path / f"ours-{kind}"
    result = W.create_from_images(out, os.path.join(OFFICIAL, f"imgs_{kind}"), shuffle=True,
                                  progress=False)
    official_dir = os.path.join(OFFICIAL, f"official-{kind}")
    official = level_files(official_dir)
    ours = level_files(out)
    assert [f.replace(f"ours-{kind}", "") for f in ours] == \
        [f.replace(f"official-{kind}", "") for f in official]
    assert result.num_images == 6
    for a, b in zip(ours, official):
        ra, rb = read_records(out / a), read_records(os.path.join(official_dir, b))
        assert len(ra) == len(rb) == 6
        for (sa, da), (sb, db) in zip(ra, rb):
            assert sa == sb
            np.testing.assert_array_equal(da, db)
    assert no_leftovers(tmp_path) == []


def test_full_level_is_input_in_shuffled_order_and_labels_follow(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (9, 3, 16, 16), dtype=np.uint8)
    labels = rng.normal(size=(9, 4)).astype(np.float32)
    W.write_arrays(tmp_path / "d", images, labels, progress=False)
    order = W.shuffled_order(9)
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
        with W.TFRecordExporter(target, 2, progress=False) as tfr:
            tfr.add_image(np.zeros((1, 8, 8), np.uint8))
            raise RuntimeError("interrupted")
    assert not target.exists() and no_leftovers(tmp_path) == []

    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not empty.*--overwrite"):
        W.TFRecordExporter(target, 1, progress=False)
    with W.TFRecordExporter(target, 1, overwrite=True, progress=False) as tfr:
        tfr.add_image(np.zeros((1, 4, 4), np.uint8))
    assert sorted(os.listdir(target)) == ["ds-r02.tfrecords"]
    assert no_leftovers(tmp_path) == []


def test_exporter_rejects_bad_arrays(tmp_path):
    with W.TFRecordExporter(tmp_path / "x", progress=False) as tfr:
        with pytest.raises(ValueError, match="same width and height"):
            tfr.add_image(np.zeros((3, 8, 16), np.uint8))
        with pytest.raises(ValueError, match="power-of-two"):
            tfr.add_image(np.zeros((3, 12, 12), np.uint8))
        with pytest.raises(ValueError, match="1 or 3 channels"):
            tfr.add_image(np.zeros((4, 8, 8), np.uint8))
        tfr.add_image(np.zeros((3, 8, 8), np.uint8))
        with pytest.raises(ValueError, match="differs from the first image"):
            tfr.add_image(np.zeros((3, 16, 16), np.uint8))


# --- create_from_images: conversions, transforms, labels ----------------------------------


def test_mode_conversions_to_rgb(tmp_path):
    src = tmp_path / "src"
    rgb = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    save(str(src / "a_rgb.png"), rgb)
    gray16 = np.full((8, 8), 257 * 100, np.uint16)
    gray16[0, 0] = 65535
    PIL.Image.fromarray(gray16).save(src / "b_gray16.png")
    rgba = np.dstack([rgb, np.full((8, 8), 255, np.uint8)])
    rgba[0, 0, 3] = 0  # transparent pixel -> black
    save(str(src / "c_rgba.png"), rgba, "RGBA")
    PIL.Image.fromarray(rgb).convert("P", palette=PIL.Image.Palette.ADAPTIVE).save(src / "d_p.png")
    save(str(src / "e_gray.png"), rgb[..., 0])
    W.create_from_images(tmp_path / "out", src, shuffle=False, progress=False)
    recs = [d.transpose(1, 2, 0) for _, d in read_records(tmp_path / "out" / "out-r03.tfrecords")]
    np.testing.assert_array_equal(recs[0], rgb)
    assert recs[1][0, 0].tolist() == [255] * 3 and (recs[1][1:] == 100).all()
    expected = rgb.copy()
    expected[0, 0] = 0
    np.testing.assert_array_equal(recs[2], expected)
    palette_rgb = np.asarray(PIL.Image.open(src / "d_p.png").convert("RGB"))
    np.testing.assert_array_equal(recs[3], palette_rgb)
    np.testing.assert_array_equal(recs[4], np.repeat(rgb[..., :1], 3, axis=2))


def test_channels_option_converts_rgb_to_gray(tmp_path):
    src = tmp_path / "src"
    rgb = np.random.default_rng(4).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    save(str(src / "a.png"), rgb)
    W.create_from_images(tmp_path / "o", src, channels=1, progress=False)
    (shape, data), = read_records(tmp_path / "o" / "o-r02.tfrecords")
    assert shape == (1, 4, 4)
    np.testing.assert_array_equal(data[0], np.asarray(PIL.Image.fromarray(rgb).convert("L")))


def test_official_errors_without_resolution(tmp_path):
    save(str(tmp_path / "rect" / "a.png"), np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a\.png: input images must have the same width and "
                                         r"height.*--resolution"):
        W.create_from_images(tmp_path / "o1", tmp_path / "rect", progress=False)
    save(str(tmp_path / "npot" / "a.png"), np.zeros((24, 24, 3), np.uint8))
    with pytest.raises(ValueError, match="power-of-two"):
        W.create_from_images(tmp_path / "o2", tmp_path / "npot", progress=False)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("transform", ["center-crop", "pad", "stretch"])
def test_resolution_transforms(tmp_path, transform):
    src = tmp_path / "src"
    img = np.full((20, 40, 3), 200, np.uint8)  # wide 40x20, plus a square of another size
    save(str(src / "a.png"), img)
    save(str(src / "b.png"), np.full((7, 7, 3), 50, np.uint8))
    W.create_from_images(tmp_path / "o", src, resolution=16, transform=transform, shuffle=False,
                         progress=False)
    (s0, wide), (s1, small) = read_records(tmp_path / "o" / "o-r04.tfrecords")
    assert s0 == s1 == (3, 16, 16)
    assert (small == 50).all()
    if transform == "pad":  # 40x20 -> 16x8, letterboxed in rows 4..11
        assert (wide[:, :4] == 0).all() and (wide[:, 12:] == 0).all()
        assert (wide[:, 4:12] == 200).all()
    else:
        assert (wide == 200).all()


def test_mixed_sizes_error_names_file_and_skip_bad(tmp_path):
    src = tmp_path / "src"
    for i in range(4):
        save(str(src / f"img{i}.png"), np.full((8, 8), i * 10, np.uint8))
    save(str(src / "img9_big.png"), np.zeros((16, 16), np.uint8))
    (src / "img5_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    good = PIL.Image.fromarray(np.zeros((8, 8), np.uint8))
    good.save(src / "img6_trunc.png")
    data = (src / "img6_trunc.png").read_bytes()
    (src / "img6_trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(W.BadImageError, match=r"img[569]"):
        W.create_from_images(tmp_path / "o", src, progress=False)
    assert not (tmp_path / "o").exists() and no_leftovers(tmp_path) == []

    result = W.create_from_images(tmp_path / "o", src, skip_bad=True, shuffle=False,
                                  progress=False)
    assert result.num_images == 4
    skipped = sorted(os.path.basename(n) for n, _ in result.skipped)
    assert skipped == ["img5_corrupt.png", "img6_trunc.png", "img9_big.png"]
    assert any("16x16" in reason for _, reason in result.skipped)
    values = [int(d[0, 0, 0]) for _, d in read_records(tmp_path / "o" / "o-r03.tfrecords")]
    assert values == [0, 10, 20, 30]


def test_empty_missing_and_existing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no image files"):
        W.create_from_images(tmp_path / "o", tmp_path / "empty", progress=False)
    with pytest.raises(UserError, match="image_dir="):
        W.create_from_images(tmp_path / "o", tmp_path / "nope", progress=False)
    save(str(tmp_path / "src" / "a.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        W.create_from_images(tmp_path / "o", tmp_path / "src", progress=False)
    assert os.listdir(tmp_path / "o") == ["x"]


def _class_folder(tmp_path):
    """A tree cat/ (value 10), dog/ (value 20), eel/ (value 30): pixel value = class id."""
    src = tmp_path / "tree"
    names = []
    for c, cls in enumerate(["cat", "dog", "eel"]):
        for j in range(3):
            rel = f"{cls}/sub{j % 2}/x{j}.png" if j else f"{cls}/x{j}.png"
            save(str(src / rel), np.full((4, 4, 3), 10 * (c + 1), np.uint8))
            names.append((rel, c))
    return src, names


def test_labels_from_subfolders(tmp_path):
    src, _ = _class_folder(tmp_path)
    result = W.create_from_images(tmp_path / "o", src, labels_from_subfolders=True,
                                  progress=False)
    assert result.label_size == 3
    labels = np.load(tmp_path / "o" / "o-rxx.labels")
    pixels = [int(d[0, 0, 0]) for _, d in read_records(tmp_path / "o" / "o-r02.tfrecords")]
    assert [10 * (int(np.argmax(row)) + 1) for row in labels] == pixels
    assert labels.sum(0).tolist() == [3, 3, 3]
    assert json.loads((tmp_path / "o" / "o-classes.json").read_text()) == ["cat", "dog", "eel"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_labels_file(tmp_path, fmt):
    src, names = _class_folder(tmp_path)
    if fmt == "json":
        path = tmp_path / "labels.json"
        path.write_text(json.dumps({"labels": [[rel, c] for rel, c in names]}))
    else:  # vector labels, keyed by file name where that is unique
        path = tmp_path / "labels.csv"
        rows = ["file,a,b"] + [f"{rel},{c},{c * 0.5}" for rel, c in names]
        path.write_text("\n".join(rows) + "\n")
    W.create_from_images(tmp_path / "o", src, labels=str(path), progress=False)
    labels = np.load(tmp_path / "o" / "o-rxx.labels")
    pixels = [int(d[0, 0, 0]) for _, d in read_records(tmp_path / "o" / "o-r02.tfrecords")]
    if fmt == "json":
        assert labels.shape == (9, 3)
        assert [10 * (int(np.argmax(r)) + 1) for r in labels] == pixels
    else:
        assert labels.shape == (9, 2)
        assert [10 * (int(r[0]) + 1) for r in labels] == pixels
        np.testing.assert_array_equal(labels[:, 1], labels[:, 0] * 0.5)

    path.write_text(json.dumps({names[0][0]: 0}) if fmt == "json" else "cat/x0.png,0\n")
    with pytest.raises(ValueError, match="no label for image"):
        W.create_from_images(tmp_path / "o2", src, labels=str(path), progress=False)


# --- Other sources ---------------------------------------------------------------------------


def test_create_mnist(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], np.uint8)
    (tmp_path / "mnist").mkdir()
    with gzip.open(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 7, 28, 28) + images.tobytes())
    with gzip.open(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, 7) + labels.tobytes())
    W.create_mnist(tmp_path / "m", tmp_path / "mnist", progress=False)
    order = W.shuffled_order(7)
    recs = read_records(tmp_path / "m" / "m-r05.tfrecords")
    for i, (shape, data) in zip(order, recs):
        assert shape == (1, 32, 32)
        np.testing.assert_array_equal(data[0, 2:30, 2:30], images[i])
        assert data[0, :2].sum() == data[0, 30:].sum() == data[0, :, :2].sum() == 0
    saved = np.load(tmp_path / "m" / "m-rxx.labels")
    assert saved.shape == (7, 10)
    np.testing.assert_array_equal(saved.argmax(1), labels[order])

    (tmp_path / "bad").mkdir()
    with gzip.open(tmp_path / "bad" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 7, 28, 28) + images.tobytes()[:100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: truncated"):
        W.create_mnist(tmp_path / "m2", tmp_path / "bad", progress=False)


def test_create_cifar10_and_refuses_code_in_pickles(tmp_path):
    rng = np.random.default_rng(6)
    (tmp_path / "c").mkdir()
    all_images, all_labels = [], []
    for b in range(1, 6):
        data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        labels = [b % 10, (b * 3) % 10]
        with open(tmp_path / "c" / f"data_batch_{b}", "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f, protocol=2)
        all_images.append(data.reshape(-1, 3, 32, 32))
        all_labels += labels
    W.create_cifar10(tmp_path / "out", tmp_path / "c", progress=False)
    order = W.shuffled_order(10)
    images = np.concatenate(all_images)
    for i, (_, data) in zip(order, read_records(tmp_path / "out" / "out-r05.tfrecords")):
        np.testing.assert_array_equal(data, images[i])
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "out-rxx.labels").argmax(1),
                                  np.array(all_labels)[order])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(tmp_path / "c" / "data_batch_1", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f)
    with pytest.raises(ValueError, match="data_batch_1.*refusing"):
        W.create_cifar10(tmp_path / "out2", tmp_path / "c", progress=False)


def test_create_lsun(tmp_path):
    import io

    import lmdb

    rng = np.random.default_rng(7)
    env = lmdb.open(str(tmp_path / "lmdb"), map_size=1 << 24)
    sources = []
    with env.begin(write=True) as txn:
        for i in range(4):
            img = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
            buf = io.BytesIO()
            PIL.Image.fromarray(img).save(buf, format="WEBP" if i % 2 else "PNG", lossless=True)
            txn.put(f"k{i}".encode(), b"garbage" if i == 1 else buf.getvalue())
            sources.append(img)
    env.close()
    with pytest.raises(W.BadImageError, match=r"k1\]"):
        W.create_lsun(tmp_path / "o", tmp_path / "lmdb", resolution=8, progress=False)
    result = W.create_lsun(tmp_path / "o", tmp_path / "lmdb", resolution=8, max_images=2,
                           skip_bad=True, progress=False)
    assert result.num_images == 2 and len(result.skipped) == 1
    recs = read_records(tmp_path / "o" / "o-r03.tfrecords")
    for src, (shape, data) in zip([sources[0], sources[2]], recs):
        expected = PIL.Image.fromarray(src[:, 4:16]).resize((8, 8), PIL.Image.Resampling.LANCZOS)
        np.testing.assert_array_equal(data.transpose(1, 2, 0), np.asarray(expected))


def test_create_from_hdf5(tmp_path):
    import h5py

    rng = np.random.default_rng(8)
    data8 = rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)
    with h5py.File(tmp_path / "celeb.h5", "w") as f:
        f["data4x4"] = data8[:, :, ::2, ::2]
        f["data8x8"] = data8
    labels = rng.normal(size=(5, 2)).astype(np.float32)
    np.save(tmp_path / "celeb-labels.npy", labels)
    W.create_from_hdf5(tmp_path / "h", tmp_path / "celeb.h5", progress=False)
    order = W.shuffled_order(5)
    for i, (_, data) in zip(order, read_records(tmp_path / "h" / "h-r03.tfrecords")):
        np.testing.assert_array_equal(data, data8[i])
    np.testing.assert_array_equal(np.load(tmp_path / "h" / "h-rxx.labels"), labels[order])
