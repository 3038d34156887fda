"""Generator inference and the TFRecord reader alone, images per second.

Inference runs Gs (the moving average the loop keeps) at the case's level with its config's
default truncation and random noise, in a tf.function of its own (XLA-compiled with XLA on; a
Python counter inside it counts its traces). The reader is `TFRecordDataset.iterate` of the
level, shuffled and repeated, for at least `min_seconds` and `min_batches` batches.
"""

from __future__ import annotations

import time

from bench.measurement import reset_peak, vm_hwm_mb

__all__ = ["time_inference", "time_reader"]


def time_reader(ds, res, batch, min_seconds=1.0, min_batches=20) -> dict:
    """{"seconds", "batches", "img_per_s"} of reading the level's batches alone."""
    it = iter(ds.iterate(res, batch, shuffle=True, repeat=True, seed=0))
    for _ in range(3):
        next(it)
    n = 0
    t0 = time.perf_counter()
    while n < min_batches or time.perf_counter() - t0 < min_seconds:
        x, _ = next(it)
        n += 1
    x.numpy()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "batches": n, "img_per_s": n * batch / dt}


def time_inference(trainer, res, batch, steps, warmup, xla, label_size) -> dict:
    """Times `steps` calls of Gs on `batch` latents (one-hot labels of `label_size` classes)
    after `warmup` calls."""
    import numpy as np
    import tensorflow as tf

    Gs = trainer.networks.Gs
    traces = [0]

    def gen(z, labels):
        traces[0] += 1  # Python side effect: once per trace
        return Gs(z, labels if label_size else None, resolution=res, alpha=1.0, training=False)

    fn = tf.function(gen, jit_compile=bool(xla))
    rng = np.random.default_rng(1)
    z = tf.constant(rng.standard_normal([batch, Gs.config.latent_size]).astype(np.float32))
    labels = tf.constant(np.eye(max(label_size, 1), dtype=np.float32)[
        rng.integers(0, max(label_size, 1), batch)][:, :label_size])
    peak_ok = reset_peak()
    for _ in range(warmup):
        out = fn(z, labels)
    out.numpy()
    t_before = traces[0]
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fn(z, labels)
    out.numpy()
    dt = time.perf_counter() - t0
    return {"pipeline": None, "seconds": dt, "sec_per_step": dt / steps,
            "img_per_s": batch * steps / dt, "traces_before": t_before, "traces_after": traces[0],
            "peak_rss_mb": vm_hwm_mb() if peak_ok else None}
