"""Image conversions shared by every tool: float images to uint8, and tiling images into a grid.

Generator outputs are NHWC floats in [-1, 1]. They become uint8 exactly as the official
`tflib.convert_images_to_uint8` does: `saturate_cast(x * 127.5 + 128)`, i.e. scale to [0, 255]
with +0.5 for rounding half up, then clip and truncate. The same formula serves the SavedModel
graph, the metrics and the image files, so every consumer sees the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

__all__ = ["image_grid", "to_uint8"]


def to_uint8(images):
    """Float images in [-1, 1] -> uint8 [0, 255] (official `convert_images_to_uint8`).

    Accepts numpy arrays or tensors and returns a tf.Tensor (use `np.asarray(...)` for numpy);
    works inside a traced graph, such as the exported SavedModel's.
    """
    return tf.saturate_cast(tf.cast(images, tf.float32) * 127.5 + 128.0, tf.uint8)


def image_grid(images, columns: int | None = None, rows: int | None = None) -> np.ndarray:
    """Tiles [N, H, W, C] images into one [rows*H, columns*W, C] array, row-major.

    `columns` defaults to ceil(sqrt(N)) and `rows` to as many as the images need; cells without
    an image stay zero (black), and images beyond `rows * columns` are left out. The dtype is
    kept (convert with `to_uint8` first for a viewable grid).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"image_grid expects [N, H, W, C] images, got shape {images.shape}")
    n, h, w, c = images.shape
    columns = columns or max(1, int(math.ceil(math.sqrt(n))))
    rows = rows or max(1, int(math.ceil(n / columns)))
    grid = np.zeros([rows * h, columns * w, c], images.dtype)
    for i in range(min(n, rows * columns)):
        r, q = divmod(i, columns)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = images[i]
    return grid
