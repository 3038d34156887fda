"""Tests for data/labels.py: labels from class subfolders and from JSON / CSV files, in record
order (through create_from_images)."""

import json

import numpy as np
import pytest

from data.sources import create_from_images
from tests.data.record_files import read_records, save
from tf_stylegan.errors import UserError


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
    result = create_from_images(tmp_path / "o", src, labels_from_subfolders=True,
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
    create_from_images(tmp_path / "o", src, labels=str(path), progress=False)
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
        create_from_images(tmp_path / "o2", src, labels=str(path), progress=False)


def test_one_hot_rows_and_bounds():
    from data.labels import one_hot

    np.testing.assert_array_equal(one_hot([2, 0]), [[0, 0, 1], [1, 0, 0]])  # width max + 1
    np.testing.assert_array_equal(one_hot([1], 4), [[0, 1, 0, 0]])
    assert one_hot([1], 4).dtype == np.float32 and one_hot([], 3).shape == (0, 3)
    with pytest.raises(UserError, match=r"must be >= 0"):
        one_hot([-1], 3)
    with pytest.raises(UserError, match=r"in \[0, 3\).*class_idx=3"):
        one_hot([3], 3)
