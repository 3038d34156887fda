"""Small image operations shared by the metrics (TensorFlow, NHWC).

Each one reproduces a step of the official StyleGAN metrics (NVlabs/stylegan `metrics/`,
`dnnlib/tflib/tfutil.py`); the docstrings say which.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["box_downsample_to", "face_crop", "legacy_resize_bilinear", "to_rgb"]


def to_rgb(images):
    """Grayscale NHWC (C == 1) -> three identical channels; RGB passes through.

    ImageNet networks (Inception, VGG) need three channels; repeating the gray channel is what
    the NVIDIA metrics do for grayscale datasets (stylegan2-ada `metrics/`).
    """
    channels = images.shape[-1]
    if channels == 3:
        return images
    if channels == 1:
        return tf.tile(images, [1, 1, 1, 3])
    raise ValueError(f"Images must have 1 or 3 channels (NHWC). Received: shape={images.shape}")


def face_crop(images):
    """The official PPL crop: rows ``[3c, 7c)`` and columns ``[2c, 6c)`` with ``c = H // 8``.

    On aligned FFHQ / CelebA-HQ faces this keeps the face and drops the background
    (Karras et al. 2019, section 4.1; `metrics/perceptual_path_length.py`).
    """
    c = int(images.shape[1]) // 8
    return images[:, c * 3 : c * 7, c * 2 : c * 6, :]


def box_downsample_to(images, size: int = 256):
    """Box-filter (mean of factor x factor blocks) images larger than `size`.

    The official PPL and LS code: when the height exceeds 256 the image is reduced by
    ``factor = H // 256`` with a block mean (VGG and the CelebA-HQ attribute classifiers were
    built for 256x256 inputs). Images of at most `size` pass through unchanged.
    """
    height, width, channels = (int(d) for d in images.shape[1:])
    if height <= size:
        return images
    factor = height // size
    images = tf.reshape(
        images, [-1, height // factor, factor, width // factor, factor, channels]
    )
    return tf.reduce_mean(images, axis=[2, 4])


def legacy_resize_bilinear(images, size):
    """Bilinear resize with TF1 semantics (``align_corners=False, half_pixel_centers=False``).

    This is the `ResizeBilinear` node of the 2015-12-05 Inception graph that the TF FID
    reference feeds (images enter at 'ExpandDims:0' and are resized to 299x299 inside the
    graph), so the Keras Inception path resizes identically. No antialiasing, as there.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.raw_ops.ResizeBilinear(
        images=images, size=tf.constant(size, tf.int32), align_corners=False,
        half_pixel_centers=False,
    )
