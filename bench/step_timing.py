"""The training step's cases: its time with the input pipeline off and on, the time of each
lazy-regularization variant and their average over the cycle, and its roofline.

What is timed is the training loop's own traced step, `training.step.TrainStep.function(res,
batch, variant)`: one update of each network with the family's losses (StyleGAN: D with R1, the
Gs average, G; StyleGAN2: G, the Gs average, D, plus the regularization phases of the variant:
path length "G_reg", R1 "D_reg"), each replica's share of the batch run in passes of
`minibatch_gpu` samples where the family accumulates gradients. "Pipeline off" feeds constant
uint8 tensors; "pipeline on" feeds batches of `TFRecordDataset.iterate`. The step counts its
traces with a Python counter (`TrainStep.trace_counts`): the count is reported before and
after each timed window and must not grow.

For a family with lazy regularization the plain step is the "train" record, each other variant
a "train_variant" record, and `lazy_cycle.cycle_average` of them over the loop's own cycle
(`TrainStep.variant`) a "train_cycle" record: the seconds per step a long run spends.
"""

from __future__ import annotations

import time

from bench.case_setup import sync
from bench.lazy_cycle import PLAIN, cycle_average, cycle_counts, variant_label
from bench.measurement import reset_peak, timed_calls, vm_hwm_mb

__all__ = ["STEP_FN", "cycle_roofline", "step_seeds", "time_step", "time_step_with_pipeline",
           "time_variants"]

STEP_FN = "training.step.TrainStep.function"


def step_seeds(count, base=1000):
    """`count` distinct step seeds, made before any timed window (int32 [2] tensors)."""
    import tensorflow as tf

    return [tf.constant([base, i], tf.int32) for i in range(count)]


def time_step(trainer, res, batch, variant, inputs, seeds, warmup, steps) -> dict:
    """Times the traced step of (`res`, `batch`, `variant`) on constant `inputs` (reals,
    labels, alpha): `warmup` calls, then `steps` timed calls with seeds[warmup:]."""
    step = trainer.step.function(res, batch, variant)
    reals, labels, alpha = inputs
    peak_ok = reset_peak()
    warm, dt, traces0 = timed_calls(
        lambda i: step(reals, labels, alpha, seeds[i]), warmup, steps, lambda: sync(trainer),
        mark=lambda: trainer.step.trace_counts[res])
    return {"seconds": dt, "sec_per_step": dt / steps, "img_per_s": batch * steps / dt,
            "warmup_seconds": warm, "traces_before": traces0,
            "traces_after": trainer.step.trace_counts[res],
            "peak_rss_mb": vm_hwm_mb() if peak_ok else None}


def time_step_with_pipeline(trainer, ds, res, batch, alpha, seeds, warmup, steps,
                            peak_ok) -> dict:
    """Times the plain step fed by the TFRecord reader (shuffled, repeated): one untimed call
    fills the prefetch buffer, then `steps` timed calls. The peak RSS is the one since the
    pipeline-off case's reset (`peak_ok` says whether that reset worked)."""
    it = iter(ds.iterate(res, batch, shuffle=True, repeat=True, seed=0))
    step = trainer.step.function(res, batch)
    x, y = next(it)
    step(x, y, alpha, seeds[2 * warmup + steps])
    sync(trainer)
    traces0 = trainer.step.trace_counts[res]
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = next(it)
        step(x, y, alpha, seeds[warmup + i])
    sync(trainer)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "sec_per_step": dt / steps, "img_per_s": batch * steps / dt,
            "traces_before": traces0, "traces_after": trainer.step.trace_counts[res],
            "peak_rss_mb": vm_hwm_mb() if peak_ok else None}


def time_variants(trainer, res, batch, variants, cycle, inputs, seeds, warmup, steps,
                  plain=None):
    """Times each variant of `variants` but the plain step (whose result `plain` already
    holds, if given); returns ({variant: result of `time_step`}, the "train_cycle" fields or
    None when a variant of `cycle` has no time)."""
    results = {PLAIN: plain} if plain is not None else {}
    for variant in variants:
        if variant not in results:
            results[variant] = time_step(trainer, res, batch, variant, inputs, seeds, warmup,
                                         steps)
    seconds = {v: r["sec_per_step"] for v, r in results.items()}
    if any(v not in seconds for v in cycle):
        return results, None
    average = cycle_average(seconds, cycle)
    return results, {
        "cycle_length": len(cycle),
        "cycle_counts": {variant_label(v): n for v, n in cycle_counts(cycle).items()},
        "variant_sec_per_step": {variant_label(v): s for v, s in seconds.items()},
        "sec_per_step": average, "img_per_s": batch / average,
        "average": "sum over the cycle's steps i of sec_per_step(variant(i)) / cycle_length"}


def cycle_roofline(costs_by_variant, cycle, sec_per_step, min_seconds=0.05) -> dict:
    """`bench.roofline.roofline` of one cycle's steps, per step: the FLOPs of each step's
    variant summed over the cycle against the cycle's time (`sec_per_step` is the per-step
    average), then every per-cycle quantity divided by the cycle length. Achieved and peak
    GFLOP/s and their ratio are the cycle's."""
    from bench.roofline import roofline

    costs = [c for variant in cycle for c in costs_by_variant[variant]]
    n = len(cycle)
    out = roofline(costs, sec_per_step * n, min_seconds=min_seconds)
    out["gflop_per_step"] /= n
    out["sec_per_step"] = sec_per_step
    out["ops_alone_seconds"] /= n
    out["num_ops"] /= n
    for entry in out["by_type"].values():
        for key in ("gflop", "seconds_alone", "count"):
            entry[key] /= n
    return out
