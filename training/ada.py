"""The adaptive-augmentation heuristic: how p follows the discriminator's overfitting.

StyleGAN2-ADA (Karras et al. 2020, arXiv 2006.06676, section 3) measures overfitting by
r_t = E[sign(D(augmented reals))] and steps the augmentation probability p towards the target
(stylegan2-ada-pytorch `training/training_loop.py:311-315`):

- every `ADA_INTERVAL` = 4 iterations (training_loop.py:110), with r the mean of every real sign
  reported since the previous update (both the D loss and the R1 pass report them, so every 16th
  iteration's reals count twice; training_stats.Collector, float64 counters);
- adjust = sign(r - target) * batch_size * interval / (ada_kimg * 1000), where batch_size is the
  global batch (all replicas and accumulation rounds) and sign(0) = 0, so p moves by 1 in
  ada_kimg * 1000 real images (`ADA_KIMG` = 500, training_loop.py:111; `ADA_KIMG_RESUME` = 100
  when training resumes from a snapshot, train.py:313-314);
- p <- max(p + adjust, 0) in float32 arithmetic (p is a float32 buffer): clamped at 0 only, no
  upper clamp (p reaches 1.405 in the official run; every gate compares a uniform with
  multiplier * p, so values above 1 act like 1).

The target is 0.6 (`ADA_TARGET`, `--target`, train.py:232-233). The new p is used from the next
iteration; p starts at 0 (`augment_p`), and a resumed official run restarts it at 0 too.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["ADA_INTERVAL", "ADA_KIMG", "ADA_KIMG_RESUME", "ADA_TARGET", "adjust"]

ADA_TARGET = 0.6
ADA_INTERVAL = 4
ADA_KIMG = 500
ADA_KIMG_RESUME = 100


def adjust(p, r, batch_size, interval=ADA_INTERVAL, ada_kimg=ADA_KIMG, target=ADA_TARGET):
    """The new p after one update: max(float32(p + float32(step)), 0) with
    step = sign(r - target) * batch_size * interval / (ada_kimg * 1000) in float64.

    Bit for bit the official result (the official `p` sequences of the ADA fixtures); rounding
    p + step in float64 instead differs.

    Args:
        p: float32 scalar (tensor, variable or number), the current probability.
        r: scalar, the mean real sign of the window. Compute it in float64 from the sum and
            count, as the official Collector does: an exact tie such as 24/40 = 0.6 must give
            sign 0, which a float32 mean does not.
        batch_size: int, the global batch size.
        interval, ada_kimg, target: the rule's constants (official defaults).

    Returns:
        float32 scalar tensor.
    """
    r = tf.cast(r, tf.float64)
    step = tf.sign(r - tf.constant(target, tf.float64)) * float(batch_size * interval) \
        / (float(ada_kimg) * 1000.0)
    return tf.maximum(tf.cast(p, tf.float32) + tf.cast(step, tf.float32), 0.0)
