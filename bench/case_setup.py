"""What a benchmark case runs on: the training loop's `Trainer` for a width setting, precision
and XLA choice, and constant input batches.

A case spec (made by `bench/case_plan.py`, passed to the worker process as JSON) names the
width setting ("widths"), the benchmark's dataset directory, and per level the global minibatch
("batch") and timed steps ("steps"), with `minibatch_gpu` (samples per pass) for families that
accumulate gradients. A progressively growing family trains every level with one trainer (its
networks built at the largest level); a family that does not grow trains at one resolution, so
each level gets a trainer of its own, on the dataset's levels up to it.
"""

from __future__ import annotations

__all__ = ["PRECISIONS", "constant_batch", "make_trainer", "sync"]

# --precisions name: (TrainingConfig.mixed_precision, the name reported in the records).
PRECISIONS = {"fp32": (False, "fp32"), "mixed": ("bfloat16", "mixed_bfloat16"),
              "bf16-onednn": ("onednn_bfloat16", "onednn_bfloat16")}


def make_trainer(spec, precision, xla, levels, extra=None):
    """(Trainer, TFRecordDataset) of a case at `levels` (one level for a family that does not
    grow), with `extra` TrainingConfig fields."""
    from bench.width_settings import get_width_setting, training_config
    from data.reader import TFRecordDataset
    from training.loop import Trainer

    setting = get_width_setting(spec["widths"])
    levels = [int(r) for r in levels]
    if not setting.family.progressive and len(levels) != 1:
        raise ValueError(f"a {setting.family.name} trainer runs one resolution. "
                         f"Received: levels={levels}")
    ds = TFRecordDataset(spec["dataset"],
                         resolution=None if setting.family.progressive else levels[0])
    batch = {r: int(spec["batch"][str(r)]) for r in levels}
    cfg = training_config(setting, spec["dataset"], batch, levels, PRECISIONS[precision][0], xla,
                          minibatch_gpu=spec.get("minibatch_gpu"), extra=extra)
    return Trainer(cfg, dataset=ds, run_dir=None, progress=False, log=lambda s: None), ds


def constant_batch(res, batch, channels, label_size, seed=0):
    """(uint8 reals [batch, res, res, channels], one-hot labels [batch, label_size]) as
    constant tensors: the step's inputs with the input pipeline off."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    reals = tf.constant(rng.integers(0, 256, [batch, res, res, channels], dtype=np.uint8))
    labels = np.zeros([batch, label_size], np.float32)
    if label_size:
        labels[np.arange(batch), rng.integers(0, label_size, batch)] = 1.0
    return reals, tf.constant(labels)


def sync(trainer):
    """Waits for every queued op of the trainer's steps: one scalar read (the loop's own step
    counter)."""
    return int(trainer.step.totals.steps.numpy())
