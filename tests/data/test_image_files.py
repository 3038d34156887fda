"""Tests for data/images.py: mode conversions, the channels option and the resize transforms
(through create_from_images), and which files of a folder are taken as images."""

import numpy as np
import PIL.Image
import pytest

from data.image_files import list_image_files
from data.sources import create_from_images
from tests.data.record_files import read_records, save


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
    create_from_images(tmp_path / "out", src, shuffle=False, progress=False)
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
    create_from_images(tmp_path / "o", src, channels=1, progress=False)
    (shape, data), = read_records(tmp_path / "o" / "o-r02.tfrecords")
    assert shape == (1, 4, 4)
    np.testing.assert_array_equal(data[0], np.asarray(PIL.Image.fromarray(rgb).convert("L")))


@pytest.mark.parametrize("transform", ["center-crop", "pad", "stretch"])
def test_resolution_transforms(tmp_path, transform):
    src = tmp_path / "src"
    img = np.full((20, 40, 3), 200, np.uint8)  # wide 40x20, plus a square of another size
    save(str(src / "a.png"), img)
    save(str(src / "b.png"), np.full((7, 7, 3), 50, np.uint8))
    create_from_images(tmp_path / "o", src, resolution=16, transform=transform, shuffle=False,
                         progress=False)
    (s0, wide), (s1, small) = read_records(tmp_path / "o" / "o-r04.tfrecords")
    assert s0 == s1 == (3, 16, 16)
    assert (small == 50).all()
    if transform == "pad":  # 40x20 -> 16x8, letterboxed in rows 4..11
        assert (wide[:, :4] == 0).all() and (wide[:, 12:] == 0).all()
        assert (wide[:, 4:12] == 200).all()
    else:
        assert (wide == 200).all()


def test_list_image_files_names_what_it_passes_over(tmp_path):
    for rel in ["b.png", "a/c.JPG", "a/notes.txt", "a/._c.png", ".DS_Store", "readme.md",
                ".git/x.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    images, passed_over = list_image_files(str(tmp_path))
    assert images == ["a/c.JPG", "b.png"]
    # Hidden files and other extensions are named; a hidden folder is named, not searched.
    assert passed_over == [".DS_Store", ".git/", "a/._c.png", "a/notes.txt", "readme.md"]
