"""Tests for data/inspection.py: the info summary and the record-by-record comparison."""

from data.inspection import compare_datasets, dataset_info
from data.writer import write_arrays


def test_info_and_compare(labelled, tmp_path):
    path, images, labels = labelled
    info = dataset_info(path)
    assert info["resolution"] == 16 and info["num_images"] == 10 and info["label_size"] == 2
    assert [lv["num_images"] for lv in info["levels"]] == [10, 10, 10]
    other = images.copy()
    other[:3] = 255 - other[:3]
    write_arrays(tmp_path / "other", other, labels, shuffle=False, progress=False)
    result = compare_datasets(path, tmp_path / "other")
    assert result["levels"][16] == 7 and result["identical_labels"] == 10
