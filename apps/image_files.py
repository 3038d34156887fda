"""Image files: uint8 arrays to PIL images and PNG files (written atomically)."""

import os

import numpy as np
from PIL import Image

from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path


def to_pil(image):
    """uint8 [H, W, C] -> PIL image; one channel gives mode "L", three "RGB"."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0], "L")
    return Image.fromarray(image, "RGB")


def save_image(image, path):
    """Writes a uint8 [H, W, C] array or PIL image as PNG, atomically (`atomic_path`).

    Returns `path`; raises `UserError` naming the file when it cannot be written.
    """
    path = os.fspath(path)
    img = image if isinstance(image, Image.Image) else to_pil(image)
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG")
    except OSError as e:
        raise UserError(f"{path}: cannot write the image ({e.strerror or e}).") from None
    return path
