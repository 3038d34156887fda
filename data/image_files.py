"""Image files: finding and decoding them for datasets (modes, fitting a size), and writing PNGs.

A dataset image is a uint8 array [C, H, W] with C in (1, 3) and H == W a power of two >= 4 (the
checks of the official `dataset_tool.py`, `create_from_images`). Files are decoded with PIL and
converted to 8-bit gray ('L') or RGB; plain 'L' and 'RGB' files pass through unchanged, so such
folders give exactly the official records. Resizing is opt-in (`resolution` + `transform`).
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any

import numpy as np
import PIL.Image

from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path

__all__ = ["IMAGE_EXTENSIONS", "RESAMPLE", "TRANSFORMS", "BadImageError", "channels_of_mode",
           "check_image_array", "decode_image", "list_image_files", "save_png", "to_pil"]

IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
)
TRANSFORMS = ("center-crop", "pad", "stretch")
RESAMPLE = PIL.Image.Resampling.LANCZOS  # PIL's former ANTIALIAS, used by official create_lsun.
_ONE_CHANNEL_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


class BadImageError(UserError):
    """One input image cannot be used (corrupt, truncated, wrong size or mode).

    `--skip-bad` skips these; every other error aborts the whole dataset.
    """


def check_image_array(image: Any, name: str = "image") -> np.ndarray:
    """Validates one dataset image: uint8 [C, H, W], C in (1, 3), square power of two >= 4."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[np.newaxis]
    if image.ndim != 3 or image.dtype != np.uint8:
        raise UserError(
            f"{name}: expected a uint8 array [C, H, W]. Received: shape={image.shape}, "
            f"dtype={image.dtype}"
        )
    c, h, w = image.shape
    if c not in (1, 3):
        raise UserError(f"{name}: images must have 1 or 3 channels. Received: shape={image.shape}")
    if h != w:
        raise UserError(
            f"{name}: input images must have the same width and height. Received: "
            f"shape={image.shape}"
        )
    if h < 4 or h & (h - 1):
        raise UserError(
            f"{name}: input image resolution must be a power-of-two >= 4. Received: "
            f"shape={image.shape}"
        )
    return image


# ------------------------------------------------------------------------------------------------
# Finding image files.


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def list_image_files(image_dir: str) -> tuple[list[str], list[str]]:
    """The image files under `image_dir` (recursively), and everything passed over.

    Returns:
        (images, passed_over): sorted '/'-separated paths relative to `image_dir`. `images` are
        the files with an image extension (IMAGE_EXTENSIONS, any case); for a flat folder this
        is the official `sorted(glob(image_dir/*))` order. `passed_over` names the files that
        are not used: those of another extension and hidden ones (such as `.DS_Store`), plus
        hidden folders (with a trailing '/'), which are not searched.
    """
    images, passed_over = [], []

    def relative(path):
        return os.path.relpath(path, image_dir).replace(os.sep, "/")

    for root, dirs, files in os.walk(image_dir, followlinks=True):
        passed_over += [relative(os.path.join(root, d)) + "/" for d in dirs if _is_hidden(d)]
        dirs[:] = [d for d in dirs if not _is_hidden(d)]
        for f in files:
            usable = f.lower().endswith(IMAGE_EXTENSIONS) and not _is_hidden(f)
            (images if usable else passed_over).append(relative(os.path.join(root, f)))
    return sorted(images), sorted(passed_over)


# ------------------------------------------------------------------------------------------------
# Decoding.


def channels_of_mode(mode: str) -> int:
    """Channel count a PIL image mode maps to in the dataset: 1 for gray modes, else 3."""
    return 1 if mode in _ONE_CHANNEL_MODES else 3


def _to_8bit(img: PIL.Image.Image, channels: int, name: str) -> PIL.Image.Image:
    """Converts any PIL mode to 'L' (channels=1) or 'RGB' (channels=3).

    16-bit gray is scaled to 8 bits (x / 257, rounded); alpha is composited onto black
    (premultiplied); palette images are expanded. 'L' and 'RGB' inputs pass through unchanged,
    so plain grayscale/RGB folders give exactly the official records.
    """
    mode = img.mode
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "1":
        img = img.convert("L")
    elif mode.startswith("I"):
        arr = np.asarray(img).astype(np.float64)
        img = PIL.Image.fromarray(np.rint(arr.clip(0, 65535) / 257.0).astype(np.uint8), "L")
    elif mode == "F":
        raise BadImageError(f"{name}: 32-bit float images (mode F) are not supported")
    elif mode in ("LA", "La", "RGBA", "RGBa"):
        arr = np.asarray(img).astype(np.float32)
        if mode in ("LA", "RGBA"):  # straight alpha: premultiply
            arr = arr[..., :-1] * (arr[..., -1:] / 255.0)
        else:
            arr = arr[..., :-1]
        arr = np.rint(arr).clip(0, 255).astype(np.uint8)
        img = PIL.Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr,
                                  "L" if arr.shape[-1] == 1 else "RGB")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if channels == 1 and img.mode != "L":
        img = img.convert("L")
    elif channels == 3 and img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _fit(img: PIL.Image.Image, resolution: int, transform: str) -> PIL.Image.Image:
    """Resizes to `resolution`^2 with `transform` (center-crop, pad (letterbox) or stretch)."""
    w, h = img.size
    size = (resolution, resolution)
    if transform == "center-crop":
        crop = min(w, h)  # the official create_lsun crop: rows (h-crop)//2 .. (h+crop)//2
        if (w, h) != (crop, crop):
            img = img.crop(((w - crop) // 2, (h - crop) // 2, (w + crop) // 2, (h + crop) // 2))
        return img if img.size == size else img.resize(size, RESAMPLE)
    if transform == "stretch":
        return img if img.size == size else img.resize(size, RESAMPLE)
    if transform == "pad":
        # Keep the aspect ratio and letterbox into a black square (official create_lsun_wide).
        scale = resolution / max(w, h)
        new = (max(1, min(resolution, round(w * scale))), max(1, min(resolution, round(h * scale))))
        if new != (w, h):
            img = img.resize(new, RESAMPLE)
        if new == size:
            return img
        canvas = PIL.Image.new(img.mode, size, 0)
        canvas.paste(img, ((resolution - new[0]) // 2, (resolution - new[1]) // 2))
        return canvas
    raise UserError(f"transform must be one of {TRANSFORMS}. Received: transform={transform!r}")


def decode_image(source, name: str, *, channels: int, expected_size=None, resolution=None,
                 transform=None) -> np.ndarray:
    """Decodes one image file (a path or bytes) to uint8 [C, H, W].

    Args:
        source: str path, or bytes of an encoded image.
        name: str. Used in error messages.
        channels: int. 1 or 3; the image is converted to it (see `_to_8bit`).
        expected_size: (W, H) or None. Without `resolution`, every image must have this size.
        resolution: int or None. Resize to resolution x resolution with `transform`.
        transform: "center-crop" | "pad" | "stretch".

    Raises:
        BadImageError: the image is corrupt, truncated, of an unsupported mode or wrong size.
    """
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        with PIL.Image.open(fp) as img:
            img.load()  # decode now: truncated files fail here, not later
            img = _to_8bit(img, channels, name)
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, PIL.Image.DecompressionBombError,
            struct.error) as e:
        raise BadImageError(f"{name}: cannot decode image ({type(e).__name__}: {e})") from None
    if resolution is not None:
        img = _fit(img, resolution, transform or "center-crop")
    elif expected_size is not None and img.size != tuple(expected_size):
        raise BadImageError(
            f"{name}: image is {img.size[0]}x{img.size[1]} but the dataset's images are "
            f"{expected_size[0]}x{expected_size[1]}; all images must have the same size (or pass "
            f"--resolution N --transform center-crop|pad|stretch)"
        )
    arr = np.asarray(img, dtype=np.uint8)
    return arr[np.newaxis] if arr.ndim == 2 else arr.transpose(2, 0, 1)


# ------------------------------------------------------------------------------------------------
# Saving.


def to_pil(image) -> PIL.Image.Image:
    """uint8 [H, W, C] -> PIL image; one channel gives mode "L", three "RGB"."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return PIL.Image.fromarray(image[:, :, 0], "L")
    return PIL.Image.fromarray(image, "RGB")


def save_png(path, image):
    """Writes a uint8 [H, W, C] image (C in 1, 3) or a PIL image as a PNG at `path`,
    atomically (`atomic_path`). Returns `path`; raises `UserError` naming the file when it
    cannot be written."""
    path = os.fspath(path)
    img = image if isinstance(image, PIL.Image.Image) else to_pil(image)
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG")
    except OSError as e:
        raise UserError(f"{path}: cannot write the image ({e.strerror or e}).") from None
    return path
