"""tf_stylegan.images: the official uint8 conversion and the grid tiler."""

import numpy as np
import tensorflow as tf

from tf_stylegan.images import image_grid, to_uint8


def test_to_uint8_is_official_formula():
    # saturate_cast(x * 127.5 + 128): -1 -> 0.5 -> 0, 1 -> 255.5 -> 255 (clipped), 0 -> 128.
    x = np.array([-2.0, -1.0, -0.5, 0.0, 1.0 / 127.5 - 0.003, 0.5, 1.0, 3.0], np.float32)
    expected = np.clip(np.floor(x.astype(np.float64) * 127.5 + 128.0), 0, 255).astype(np.uint8)
    assert np.asarray(to_uint8(x)).tolist() == expected.tolist()
    assert np.asarray(to_uint8(x)).tolist()[:4] == [0, 0, 64, 128]


def test_to_uint8_matches_the_official_conversion():
    # Moved from tests/metrics/test_sources.py (the metrics' own copy of the formula is gone).
    x = np.array([-1.2, -1.0, -0.999, 0.0, 0.5, 0.996, 1.0, 1.3], np.float32)
    expected = np.clip(np.floor(x * 127.5 + 128.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(x).numpy(), expected)
    assert list(to_uint8(np.array([-1.0, 0.0, 1.0])).numpy()) == [0, 128, 255]


def test_to_uint8_is_the_official_conversion():
    # Moved from tests/test_generate.py (generate.py's copy of the formula is gone).
    x = np.array([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 0, 128, 191, 255, 255])
    np.testing.assert_array_equal(
        to_uint8(x), tf.saturate_cast(x * 127.5 + 128.0, tf.uint8).numpy())


def test_to_uint8_in_a_graph():
    fn = tf.function(lambda t: to_uint8(t))
    out = fn(tf.constant([[0.0, 1.0]]))
    assert out.dtype == tf.uint8 and out.numpy().tolist() == [[128, 255]]


def test_image_grid_layout():
    images = np.arange(5 * 2 * 3 * 1, dtype=np.uint8).reshape(5, 2, 3, 1) + 1
    grid = image_grid(images)  # 5 images -> 3 columns, 2 rows
    assert grid.shape == (4, 9, 1)
    np.testing.assert_array_equal(grid[0:2, 3:6], images[1])
    np.testing.assert_array_equal(grid[2:4, 3:6], images[4])
    assert not grid[2:4, 6:9].any()  # empty cell is black
    fixed = image_grid(images, columns=2, rows=2)  # images beyond 2x2 left out
    assert fixed.shape == (4, 6, 1)
    np.testing.assert_array_equal(fixed[2:4, 3:6], images[3])
