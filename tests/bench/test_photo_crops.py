"""`python -m bench.photo_crops`: crops of the photographs the pinned wheels ship, a shorter list
the start of a longer one of the same seed, and a folder `dataset_tool.py create_from_images`
turns into the official layout."""

import os

import numpy as np
import pytest
from PIL import Image

from bench import photo_crops
from bench.d_overfitting import read_dataset
from data import sources


def test_the_photographs_come_from_the_installed_wheels():
    photos = dict(photo_crops.photographs())
    assert sorted(photos) == ["china.jpg", "flower.jpg", "grace_hopper.jpg"]
    assert photos["china.jpg"].shape == (427, 640, 3)
    assert photos["grace_hopper.jpg"].shape == (600, 512, 3)
    assert all(p.dtype == np.uint8 and p.std() > 20 for p in photos.values())  # real pictures


def test_boxes_lie_inside_their_photo_and_a_short_list_starts_a_long_one():
    shapes = [(427, 640), (600, 512)]
    boxes = photo_crops.crop_boxes(shapes, 500, 64, 192, seed=3)
    assert photo_crops.crop_boxes(shapes, 20, 64, 192, seed=3) == boxes[:20]
    assert photo_crops.crop_boxes(shapes, 20, 64, 192, seed=4) != boxes[:20]
    for photo, top, left, side, _ in boxes:
        height, width = shapes[photo]
        assert 64 <= side <= 192 and 0 <= top <= height - side and 0 <= left <= width - side
    assert {b[0] for b in boxes} == {0, 1} and {b[4] for b in boxes} == {False, True}


def test_bad_sides_are_refused():
    with pytest.raises(ValueError, match="--min-side"):
        photo_crops.crop_boxes([(100, 100)], 1, 50, 40, seed=0)
    with pytest.raises(ValueError, match="smallest photo side 100"):
        photo_crops.crop_boxes([(100, 120)], 1, 50, 101, seed=0)


def test_written_crops_are_the_resized_boxes(tmp_path):
    paths = photo_crops.write_crops(tmp_path / "crops", 6, resolution=16, seed=1)
    assert [os.path.basename(p) for p in paths] == [f"crop{i:06d}.png" for i in range(6)]
    assert sorted(os.listdir(tmp_path / "crops")) == [os.path.basename(p) for p in paths]
    photos = photo_crops.photographs()
    boxes = photo_crops.crop_boxes([p[1].shape[:2] for p in photos], 6, 64, 192, seed=1)
    for path, (photo, top, left, side, mirror) in zip(paths, boxes):
        image = np.asarray(Image.open(path))
        assert image.shape == (16, 16, 3)
        region = photos[photo][1][top:top + side, left:left + side].astype(np.float64)
        if mirror:
            region = region[:, ::-1]
        # A Lanczos resize keeps the box's mean colour (to rounding and ringing).
        np.testing.assert_allclose(image.mean(axis=(0, 1)), region.mean(axis=(0, 1)), atol=4)


def test_command_line_and_dataset_tool_round_trip(tmp_path, capsys):
    with pytest.raises(SystemExit) as bad:
        photo_crops.main([str(tmp_path / "x"), "--max-side", "1000"])
    assert bad.value.code == 2 and "--max-side 1000 is larger than" in capsys.readouterr().err
    photo_crops.main([str(tmp_path / "crops"), "--count", "5"])
    assert "wrote 5 crops of 32x32" in capsys.readouterr().err
    sources.create_from_images(str(tmp_path / "ds"), str(tmp_path / "crops"), shuffle=False,
                               progress=False)
    images, labels = read_dataset(str(tmp_path / "ds"))
    expected = [np.asarray(Image.open(tmp_path / "crops" / f"crop{i:06d}.png")) for i in range(5)]
    # Unshuffled, the records keep the folder's sorted order.
    np.testing.assert_array_equal(images, np.stack(expected))
    assert labels.shape == (5, 0)
