"""Smoke tests of the dataset_tool.py CLI (click's CliRunner, in process)."""

import os

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner

from data.writer import shuffled_order
from dataset_tool import cli
from tests.paths import FIXTURES

OFFICIAL = os.path.join(FIXTURES, "official-dataset")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_help_lists_every_subcommand():
    result = run("--help")
    assert result.exit_code == 0
    for name in ["create_from_images", "create_mnist", "create_cifar10", "create_lsun",
                 "create_from_hdf5", "create_demo", "info", "display", "extract", "compare"]:
        assert name in result.output


def test_create_compare_info_display_extract(tmp_path):
    out = tmp_path / "rgb"
    result = run("create_from_images", out, os.path.join(OFFICIAL, "imgs_rgb"))
    assert result.exit_code == 0, result.output
    assert "Wrote 6 images (32x32, 3 channel(s), 4 levels" in result.output
    assert "img/s" in result.output  # the progress bar shows the rate

    result = run("compare", out, os.path.join(OFFICIAL, "official-rgb"))
    assert result.exit_code == 0
    for res in [4, 8, 16, 32]:
        assert f"{res}x{res}: 6 / 6 identical" in result.output

    result = run("info", out, "--verify")
    assert result.exit_code == 0
    assert "Resolution: 32x32, 3 channel(s), 6 images" in result.output
    assert "All records OK" in result.output and "Labels:     none" in result.output

    grid = tmp_path / "grid.png"
    result = run("display", out, "--out", grid, "--resolution", 16, "--num", 4)
    assert result.exit_code == 0 and PIL.Image.open(grid).size == (32, 32)

    result = run("extract", out, tmp_path / "png")
    assert result.exit_code == 0 and "Extracted 6 images" in result.output
    names = sorted(os.listdir(os.path.join(OFFICIAL, "imgs_rgb")))
    for k, i in enumerate(shuffled_order(6)):  # official order, full resolution = the inputs
        extracted = np.asarray(PIL.Image.open(tmp_path / "png" / f"img{k:08d}.png"))
        original = np.asarray(PIL.Image.open(os.path.join(OFFICIAL, "imgs_rgb", names[i])))
        np.testing.assert_array_equal(extracted, original)


def test_user_errors_are_one_line(tmp_path):
    result = run("create_from_images", tmp_path / "o", tmp_path / "missing")
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: image_dir not found")
    assert len(result.output.strip().splitlines()) == 1

    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "f").write_text("")
    result = run("create_from_images", tmp_path / "o", os.path.join(OFFICIAL, "imgs_gray"))
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = run("create_from_images", tmp_path / "o", os.path.join(OFFICIAL, "imgs_gray"),
                 "--overwrite", "--no-progress", "--shuffle", 0)
    assert result.exit_code == 0 and sorted(os.listdir(tmp_path / "o"))[0] == "o-r02.tfrecords"

    result = run("info", tmp_path / "nothing")
    assert result.exit_code == 1 and "Error: dataset directory not found" in result.output


def test_skip_bad_lists_skipped_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        PIL.Image.fromarray(np.full((4, 4), i, np.uint8)).save(src / f"{i}.png")
    (src / "3_bad.jpg").write_bytes(b"\xff\xd8\xff broken")
    result = run("create_from_images", tmp_path / "o", src)
    assert result.exit_code == 1 and "3_bad.jpg: cannot decode image" in result.output
    assert not (tmp_path / "o").exists()
    result = run("create_from_images", tmp_path / "o", src, "--skip-bad", "--no-progress")
    assert result.exit_code == 0
    assert "Wrote 3 images" in result.output and "Skipped 1 bad file(s):" in result.output
    assert "3_bad.jpg" in result.output


def test_files_passed_over_are_counted_and_named(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        PIL.Image.fromarray(np.full((4, 4), i, np.uint8)).save(src / f"{i}.png")
    not_images = [".DS_Store"] + [f"notes{i:02d}.txt" for i in range(12)]
    for name in not_images:
        (src / name).write_text("not an image")
    bad = [f"bad{i:02d}.jpg" for i in range(12)]
    for name in bad:
        (src / name).write_bytes(b"\xff\xd8\xff broken")
    result = run("create_from_images", tmp_path / "o", src, "--skip-bad", "--shuffle", 0,
                 "--no-progress")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Wrote 3 images" in out
    # Not images: the count, the first 10 names, then how many more.
    assert "Passed over 13 file(s) that are not images:" in out
    assert all(f"  {os.path.join(src, name)}\n" in out for name in not_images[:10])
    assert not any(name in out for name in not_images[10:])
    assert "  and 3 more\n" in out
    # Unreadable under --skip-bad: the count, the first 10 with their reason, then the rest.
    assert "Skipped 12 bad file(s):" in out
    assert all(f"  {os.path.join(src, name)}: cannot decode image" in out for name in bad[:10])
    assert not any(name in out for name in bad[10:])
    assert "  and 2 more\n" in out


def test_create_from_images_resize_and_subfolder_labels(tmp_path):
    for cls, value in [("a", 40), ("b", 80)]:
        os.makedirs(tmp_path / "src" / cls)
        PIL.Image.fromarray(np.full((10, 30, 3), value, np.uint8)).save(
            tmp_path / "src" / cls / "x.png")
    result = run("create_from_images", tmp_path / "o", tmp_path / "src", "--resolution", 8,
                 "--transform", "pad", "--labels-from-subfolders", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "8x8" in result.output and "label_size 2" in result.output
    info = run("info", tmp_path / "o").output
    assert "Classes:    one-hot; a: 1, b: 1" in info


@pytest.mark.large
def test_create_demo_real_mnist(tmp_path):
    result = run("create_demo", tmp_path / "demo", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Wrote 5000 images (32x32, 1 channel(s), 4 levels, label_size 10)" in result.output
    info = run("info", tmp_path / "demo").output
    assert "5000 images" in info and "0: 500, 1: 500" in info
    from data.reader import TFRecordDataset

    ds = TFRecordDataset(tmp_path / "demo")
    x, y = next(iter(ds.iterate(32, 64, shuffle=False)))
    x = x.numpy()
    assert x[:, :2].max() == x[:, -2:].max() == x[:, :, :2].max() == x[:, :, -2:].max() == 0
    assert x[:, 2:-2, 2:-2].max() == 255  # real digits, 8-bit
    assert np.all(y.numpy().sum(1) == 1)


def test_create_demo_subset_for_the_small_data_demo(tmp_path):
    # The digits come sorted by class: --max-images takes the first of every class in turn.
    result = run("create_demo", tmp_path / "demo1000", "--max-images", 1000, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Wrote 1000 images (32x32, 1 channel(s), 4 levels, label_size 10)" in result.output
    info = run("info", tmp_path / "demo1000").output
    assert "1000 images" in info
    assert all(f"{c}: 100" in info for c in range(10)), info
    from data.sources import demo_digits

    images, labels = demo_digits()
    from data.reader import TFRecordDataset

    x, y = next(iter(TFRecordDataset(tmp_path / "demo1000").iterate(32, 1000, shuffle=False)))
    # Exactly the first 100 digits of each class (in the writer's shuffled order).
    want = np.concatenate([images[labels == c][:100] for c in range(10)])
    assert sorted(a.tobytes() for a in x.numpy()[..., 0]) == sorted(a.tobytes() for a in want)
    result = run("create_demo", tmp_path / "bad", "--max-images", 6000, "--no-progress")
    assert result.exit_code == 2 and "6000" in result.output
