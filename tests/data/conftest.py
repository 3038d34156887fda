"""Fixtures of the data tests."""

import numpy as np
import pytest

from data.writer import write_arrays


@pytest.fixture
def labelled(tmp_path):
    """10 RGB 16x16 images; image i has pixel [0,0,0] == i and label row [i, -i]."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 3, 16, 16), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(10)
    labels = np.stack([np.arange(10), -np.arange(10)], 1).astype(np.float32)
    write_arrays(tmp_path / "lab", images, labels, shuffle=False, progress=False)
    return tmp_path / "lab", images, labels
