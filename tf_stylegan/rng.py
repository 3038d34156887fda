"""Stateless random draws that are the same with and without XLA.

`tf.random.stateless_normal` / `stateless_uniform` (float) give other numbers for the same seed
inside an XLA-compiled function than outside it, even with `alg="philox"`: XLA has its own
bits-to-float conversions. Seed splitting and integer draws with the default
`alg="auto_select"` differ too (for seeds with negative entries, which every split makes). The
raw Philox bits agree, so every random draw of the networks and the training step goes through
this module: Philox always, floats made here from its bits. A run with `--xla` then draws the
same latents, noise and style-mixing crossovers as one without, and the two agree to float
rounding (tests/training/test_precision.py).
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["fold_in", "split", "stateless_normal", "stateless_randint", "stateless_uniform"]

_ALG = "philox"


def split(seed, num=2):
    """`num` new seeds [num, 2] from `seed` (as tf.random.experimental.stateless_split)."""
    return tf.random.experimental.stateless_split(seed, num, alg=_ALG)


def fold_in(seed, data):
    """A new seed from `seed` and an integer (as tf.random.experimental.stateless_fold_in)."""
    return tf.random.experimental.stateless_fold_in(seed, data, alg=_ALG)


def stateless_randint(shape, seed, minval, maxval):
    """Integers uniform in [minval, maxval), int32."""
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval,
                                       dtype=tf.int32, alg=_ALG)


def _bits(shape, seed):
    return tf.random.stateless_uniform(shape, seed=seed, minval=None, maxval=None,
                                       dtype=tf.uint32, alg=_ALG)


def stateless_uniform(shape, seed, dtype=tf.float32):
    """U(0, 1), both ends excluded: the top 24 bits of a Philox draw, centred in their bin
    (float32 holds 24 bits exactly, so every value is distinct and log(u) is finite)."""
    u = (tf.cast(tf.bitwise.right_shift(_bits(shape, seed), 8), tf.float32) + 0.5) * 2.0**-24
    return tf.cast(u, dtype)


def stateless_normal(shape, seed, dtype=tf.float32):
    """N(0, 1) by the Box-Muller transform of two independent uniforms, computed in float32."""
    shape = tf.convert_to_tensor(shape, tf.int32)
    u = stateless_uniform(tf.concat([[2], shape], 0), seed)
    z = tf.sqrt(-2.0 * tf.math.log(u[0])) * tf.cos((2.0 * math.pi) * u[1])
    return tf.cast(z, dtype)
