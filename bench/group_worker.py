"""The "group" worker: every case of one (width setting, precision, XLA) at each of its levels,
in increasing order, in one process (`python -m bench.run --worker group SPEC`).

Per level, in this order (each a JSON line, `bench/measurement.py`):
  1. "train", input pipeline off: the plain step (`bench/step_timing.py`);
  2. "train", input pipeline on, at the group's `pipeline_levels`;
  3. families with lazy regularization: a "train_variant" per other variant of the step
     (`--lazy-variants`) and the "train_cycle" average (`bench/lazy_cycle.py`);
  4. "read": the reader alone, at the group's `reader_levels`;
  5. "infer": generator inference (`bench/inference_timing.py`);
  6. at the group's `augment_levels`, per `--augment` preset: "augment", the ADA pipe's cost
     per step beside the step's (`bench/augment_cost.py`), and "train_augment", the step with
     the pipe inside, where the training has the option;
  7. with `--roofline`: "roofline" of the plain step and, with lazy regularization, of the
     cycle; last, so that timing ops alone disturbs none of the cases above.
"""

from __future__ import annotations

from bench import augment_cost
from bench.case_setup import PRECISIONS, constant_batch, make_trainer
from bench.inference_timing import time_inference, time_reader
from bench.lazy_cycle import PLAIN, cycle_variants, variant_label, variants_to_time
from bench.measurement import emit
from bench.step_timing import (
    STEP_FN,
    cycle_roofline,
    step_seeds,
    time_step,
    time_step_with_pipeline,
    time_variants,
)
from bench.width_settings import get_width_setting

__all__ = ["worker_group"]

COUNTED = ("Conv2D, its gradients, depthwise convs, MatMul/BatchMatMul of the traced step "
           "(bench/roofline.py)")


def worker_group(spec):
    """Runs the cases of one group spec (`bench/case_plan.py`) and prints their records."""
    setting = get_width_setting(spec["widths"])
    family = setting.family
    precision, xla = spec["precision"], bool(spec["xla"])
    levels = [int(r) for r in spec["levels"]]
    base = {"widths": spec["widths"], "family": family.name,
            "precision": PRECISIONS[precision][1], "xla": xla, "warmup": spec["warmup"]}
    shared = make_trainer(spec, precision, xla, levels) if family.progressive else None
    augmented = {}  # augpipe -> the trainer of the step with augmentation (progressive family)
    for res in levels:
        trainer, ds = shared or make_trainer(spec, precision, xla, [res])
        _level(spec, setting, trainer, ds, res, base, augmented if shared else {})


def _level(spec, setting, trainer, ds, res, base, augmented):
    import tensorflow as tf

    xla = bool(spec["xla"])
    warmup = int(spec["warmup"])
    batch, steps = int(spec["batch"][str(res)]), int(spec["steps"][str(res)])
    replica_batch = batch // trainer.num_replicas
    passes = replica_batch // trainer.losses.pass_size(replica_batch)
    common = {**base, "resolution": res, "batch": batch, "steps": steps, "passes": passes,
              "minibatch_gpu": replica_batch // passes}
    alpha = tf.constant(1.0, tf.float32)
    seeds = step_seeds(2 * (warmup + steps) + 1)
    reals, labels = constant_batch(res, batch, setting.channels, setting.label_size)
    inputs = (reals, labels, alpha)

    # --- The plain step, input pipeline off, then on. ---
    off = time_step(trainer, res, batch, PLAIN, inputs, seeds, warmup, steps)
    emit({"kind": "train", **common, "pipeline": "off", **off, "variant": [],
          "step_fn": STEP_FN})
    if res in spec["pipeline_levels"]:
        on = time_step_with_pipeline(trainer, ds, res, batch, alpha, seeds, warmup, steps,
                                     off["peak_rss_mb"] is not None)
        emit({"kind": "train", **common, "pipeline": "on", **on, "variant": [],
              "step_fn": STEP_FN})

    # --- Lazy regularization: the other variants and the average over the cycle. ---
    reg_intervals = trainer.losses.reg_intervals
    cycle = cycle_variants(trainer.step.variant, reg_intervals)
    variants = variants_to_time(cycle, reg_intervals, spec["lazy_variants"])
    results, averaged = time_variants(trainer, res, batch, variants, cycle, inputs, seeds,
                                      warmup, steps, plain=off)
    for variant, result in results.items():
        if variant != PLAIN:
            emit({"kind": "train_variant", **common, "pipeline": "off", **result,
                  "variant": list(variant), "step_fn": STEP_FN})
    step_seconds = averaged["sec_per_step"] if averaged else None
    if averaged and len(cycle) > 1:
        emit({"kind": "train_cycle", **common, **averaged})
    elif not averaged:
        emit({"kind": "skip", "case": "train_cycle", **common, "levels": [res],
              "reason": f"--lazy-variants {spec['lazy_variants']} does not time every variant "
                        f"of the {len(cycle)}-step cycle"})

    # --- The reader alone, generator inference. ---
    if res in spec["reader_levels"]:
        emit({"kind": "read", **common, "xla": None, "precision": None,
              **time_reader(ds, res, batch)})
    emit({"kind": "infer", **common, **time_inference(trainer, res, batch, steps, warmup, xla,
                                                       trainer.net_cfg.label_size)})

    # --- Augmentation: the pipe alone, and the step with it where training has it. ---
    if res in spec["augment_levels"]:
        structure = augment_cost.StepStructure.of(trainer, cycle)
        for augpipe in spec["augment"]:
            pipe, imgfilter = augment_cost.pipe_for(augpipe, res, static_padding=xla)
            seconds = augment_cost.time_patterns(
                pipe, structure.patterns(), replica_batch, passes, res, setting.channels,
                spec["augment_p"], xla, trainer.step.scope, warmup, steps)
            emit({"kind": "augment", **common, "augpipe": augpipe, "p": spec["augment_p"],
                  "static_padding": xla, "imgfilter": imgfilter,
                  "inputs_per_step": {pat: structure.inputs_per_step(pat) for pat in seconds},
                  **augment_cost.augment_record(seconds, structure, step_seconds)})
            fields = augment_cost.augmented_step_fields(augpipe, spec["augment_p"])
            if fields is not None:
                emit(_augmented_step(spec, trainer, res, batch, inputs, seeds, cycle, fields,
                                     augmented, common))

    # --- Roofline. ---
    if spec.get("roofline"):
        from bench.roofline import count_flops, roofline

        def costs(variant):
            fn = trainer.step.function(res, batch, variant)
            return count_flops(fn.get_concrete_function(reals, labels, alpha, seeds[0]))

        emit({"kind": "roofline", **common, "variant": [],
              **roofline(costs(PLAIN), off["sec_per_step"]), "counted": COUNTED})
        if averaged and len(cycle) > 1:
            by_variant = {v: costs(v) for v in dict.fromkeys(cycle)}
            emit({"kind": "roofline", **common, "variant": "cycle",
                  **cycle_roofline(by_variant, cycle, averaged["sec_per_step"]),
                  "counted": COUNTED + "; each step of the cycle with its variant's ops"})


def _augmented_step(spec, trainer, res, batch, inputs, seeds, cycle, fields, augmented,
                    common):
    """The "train_augment" record: the training step built with the pipe inside (`fields`),
    its plain step and, where lazy variants are timed, the cycle's variants and average."""
    key = fields["augpipe"]
    if key not in augmented:
        levels = spec["levels"] if trainer.cfg.network_family.progressive else [res]
        augmented[key] = make_trainer(spec, spec["precision"], bool(spec["xla"]), levels,
                                      extra=fields)[0]
    aug_trainer = augmented[key]
    which = "plain" if spec["lazy_variants"] == "plain" else "cycle"
    variants = variants_to_time(cycle, trainer.losses.reg_intervals, which)
    results, averaged = time_variants(aug_trainer, res, batch, variants, cycle, inputs, seeds,
                                      int(spec["warmup"]), int(common["steps"]))
    return {"kind": "train_augment", **common, "pipeline": "off", **fields,
            "variant_sec_per_step": {variant_label(v): r["sec_per_step"]
                                     for v, r in results.items()},
            "sec_per_step": averaged["sec_per_step"] if averaged else None,
            "plain_sec_per_step": results[PLAIN]["sec_per_step"],
            # Summed over the variants' windows: their difference is every retrace timed.
            "traces_before": sum(r["traces_before"] for r in results.values()),
            "traces_after": sum(r["traces_after"] for r in results.values()),
            "step_fn": STEP_FN}
