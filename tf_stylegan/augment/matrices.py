"""Batched homogeneous transformation matrices (2-D 3x3 for geometry, 3-D 4x4 for colour).

The same elementary matrices as stylegan2-ada-pytorch `training/augment.py:61-107`, built in
float32 from per-image parameter vectors [B]: each returns [B, 3, 3] or [B, 4, 4]. The `*_inv`
variants are the inverse transforms, as the pipe composes the geometric inverse G_inv.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["eye", "rotate2d", "rotate2d_inv", "rotate3d", "scale2d", "scale2d_inv", "scale3d",
           "translate2d", "translate2d_inv", "translate3d"]


def _matrix(rows):
    """[B, n, n] from n rows of n entries, each a [B] tensor or a Python number."""
    batch = next(e for row in rows for e in row if isinstance(e, tf.Tensor))
    ref = tf.zeros_like(batch, tf.float32)
    return tf.stack([tf.stack([ref + e if not isinstance(e, tf.Tensor) else e for e in row],
                              axis=-1) for row in rows], axis=-2)


def eye(n, batch):
    """[batch, n, n] identity matrices."""
    return tf.eye(n, batch_shape=[batch], dtype=tf.float32)


def translate2d(tx, ty):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def scale2d(sx, sy):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(theta):
    """Counter-clockwise in a y-up frame: [[cos, -sin], [sin, cos]] (augment.py:83-88)."""
    c, s = tf.cos(theta), tf.sin(theta)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def translate2d_inv(tx, ty):
    return translate2d(-tx, -ty)


def scale2d_inv(sx, sy):
    return scale2d(1 / sx, 1 / sy)


def rotate2d_inv(theta):
    return rotate2d(-theta)


def translate3d(tx, ty, tz):
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]])


def scale3d(sx, sy, sz):
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]])


def rotate3d(v, theta):
    """Right-handed rotation by `theta` [B] about the unit axis `v` (3 numbers): Rodrigues'
    c*I + s*[v]x + (1-c)*v v^T, with 1 in the homogeneous corner (augment.py:90-98)."""
    vx, vy, vz = (float(e) for e in v[:3])
    vx, vy, vz = (tf.constant(e, tf.float32) for e in (vx, vy, vz))
    s, c = tf.sin(theta), tf.cos(theta)
    cc = 1 - c
    return _matrix([
        [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
        [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
        [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
        [0, 0, 0, 1]])
