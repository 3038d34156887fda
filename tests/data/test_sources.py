"""Tests for data/sources.py: create_from_images reproduces the pyramids NVIDIA's dataset_tool
wrote, its official checks, bad and missing input, and every other create_* source."""

import gzip
import os
import pickle
import struct

import numpy as np
import PIL.Image
import pytest

from data.image_files import BadImageError
from data.sources import (
    create_cifar10,
    create_from_hdf5,
    create_from_images,
    create_lsun,
    create_mnist,
)
from data.writer import shuffled_order
from tests.data.record_files import (
    OFFICIAL,
    level_files,
    no_leftovers,
    read_records,
    save,
)
from tf_stylegan.errors import UserError


@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_create_from_images_reproduces_official_fixture(tmp_path, kind):
    out = tmp_path / f"ours-{kind}"
    result = create_from_images(out, os.path.join(OFFICIAL, f"imgs_{kind}"), shuffle=True,
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


def test_official_errors_without_resolution(tmp_path):
    save(str(tmp_path / "rect" / "a.png"), np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a\.png: input images must have the same width and "
                                         r"height.*--resolution"):
        create_from_images(tmp_path / "o1", tmp_path / "rect", progress=False)
    save(str(tmp_path / "npot" / "a.png"), np.zeros((24, 24, 3), np.uint8))
    with pytest.raises(ValueError, match="power-of-two"):
        create_from_images(tmp_path / "o2", tmp_path / "npot", progress=False)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


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
    with pytest.raises(BadImageError, match=r"img[569]"):
        create_from_images(tmp_path / "o", src, progress=False)
    assert not (tmp_path / "o").exists() and no_leftovers(tmp_path) == []

    result = create_from_images(tmp_path / "o", src, skip_bad=True, shuffle=False,
                                  progress=False)
    assert result.num_images == 4
    skipped = sorted(os.path.basename(n) for n, _ in result.skipped)
    assert skipped == ["img5_corrupt.png", "img6_trunc.png", "img9_big.png"]
    assert any("16x16" in reason for _, reason in result.skipped)
    values = [int(d[0, 0, 0]) for _, d in read_records(tmp_path / "o" / "o-r03.tfrecords")]
    assert values == [0, 10, 20, 30]


def test_result_names_the_files_passed_over(tmp_path):
    src = tmp_path / "src"
    for i in range(2):
        save(str(src / f"{i}.png"), np.full((4, 4), i, np.uint8))
    (src / "notes.txt").write_text("not an image")
    (src / ".DS_Store").write_bytes(b"")
    (src / "2_bad.png").write_bytes(b"not a png")
    result = create_from_images(tmp_path / "o", src, skip_bad=True, shuffle=False,
                                progress=False)
    assert result.num_images == 2
    assert result.not_images == [os.path.join(src, ".DS_Store"), os.path.join(src, "notes.txt")]
    assert [name for name, _ in result.skipped] == [os.path.join(src, "2_bad.png")]
    assert result.passed_over_lines(limit=1) == [
        "Passed over 2 file(s) that are not images:", f"  {os.path.join(src, '.DS_Store')}",
        "  and 1 more", "Skipped 1 bad file(s):", f"  {result.skipped[0][1]}"]
    assert result.skipped[0][1].startswith(f"{os.path.join(src, '2_bad.png')}: cannot decode")


def test_empty_missing_and_existing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no image files"):
        create_from_images(tmp_path / "o", tmp_path / "empty", progress=False)
    with pytest.raises(UserError, match="image_dir="):
        create_from_images(tmp_path / "o", tmp_path / "nope", progress=False)
    save(str(tmp_path / "src" / "a.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        create_from_images(tmp_path / "o", tmp_path / "src", progress=False)
    assert os.listdir(tmp_path / "o") == ["x"]


def test_create_mnist(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], np.uint8)
    (tmp_path / "mnist").mkdir()
    with gzip.open(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 7, 28, 28) + images.tobytes())
    with gzip.open(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, 7) + labels.tobytes())
    create_mnist(tmp_path / "m", tmp_path / "mnist", progress=False)
    order = shuffled_order(7)
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
        create_mnist(tmp_path / "m2", tmp_path / "bad", progress=False)


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
    create_cifar10(tmp_path / "out", tmp_path / "c", progress=False)
    order = shuffled_order(10)
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
        create_cifar10(tmp_path / "out2", tmp_path / "c", progress=False)


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
    with pytest.raises(BadImageError, match=r"k1\]"):
        create_lsun(tmp_path / "o", tmp_path / "lmdb", resolution=8, progress=False)
    result = create_lsun(tmp_path / "o", tmp_path / "lmdb", resolution=8, max_images=2,
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
    create_from_hdf5(tmp_path / "h", tmp_path / "celeb.h5", progress=False)
    order = shuffled_order(5)
    for i, (_, data) in zip(order, read_records(tmp_path / "h" / "h-r03.tfrecords")):
        np.testing.assert_array_equal(data, data8[i])
    np.testing.assert_array_equal(np.load(tmp_path / "h" / "h-rxx.labels"), labels[order])
