"""The "profile" worker (`python -m bench --profile`): where a training step's time goes.

Times the D and G gradient passes of the plain step alone (`TrainStep.replica_gradients`, in the
step's precision scope) and the whole step, medians of `steps` calls; then traces `steps` steps
with tf.profiler and sums the op durations by TF op type on the host plane of the trace.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time

from bench.case_setup import constant_batch, make_trainer, sync
from bench.measurement import emit
from bench.width_settings import get_width_setting

__all__ = ["op_totals", "worker_profile"]


def worker_profile(spec):
    """Profiles the plain step of the spec's first level; prints a "profile" record."""
    import tensorflow as tf

    res = int(spec["levels"][0])
    setting = get_width_setting(spec["widths"])
    trainer, _ = make_trainer(spec, spec["precision"], spec["xla"], [res])
    batch, steps = int(spec["batch"][str(res)]), int(spec["steps"][str(res)])
    reals, labels = constant_batch(res, batch, setting.channels, setting.label_size)
    alpha = tf.constant(1.0, tf.float32)
    step = trainer.step.function(res, batch)
    for i in range(spec["warmup"]):
        step(reals, labels, alpha, tf.constant([1, i], tf.int32))
    sync(trainer)

    # Sub-parts, timed separately (the same per-replica functions the step runs).
    def grads_fn(phase):
        return tf.function(lambda r, y, a, s: trainer.step.replica_gradients(
            phase, res, batch, r, y, a, s))

    def scoped(fn):  # the step's precision scope (the oneDNN rewrite) around each call
        def call(s):
            with trainer.step.scope():
                return fn(reals, labels, alpha, s)
        return call

    parts = {}
    for name, call in (("D_step_grads", scoped(grads_fn("D"))),
                       ("G_step_grads", scoped(grads_fn("G")))):
        call(tf.constant([3, 0], tf.int32))
        times = []
        for i in range(steps):
            t0 = time.perf_counter()
            out = call(tf.constant([3, i + 1], tf.int32))
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out[2])
            times.append(time.perf_counter() - t0)
        parts[name] = sorted(times)[len(times) // 2]
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        step(reals, labels, alpha, tf.constant([5, i], tf.int32))
        sync(trainer)
        times.append(time.perf_counter() - t0)
    parts["full_step"] = sorted(times)[len(times) // 2]
    logdir = tempfile.mkdtemp(prefix="bench-profile-")
    tf.profiler.experimental.start(logdir)
    for i in range(steps):
        step(reals, labels, alpha, tf.constant([9, i], tf.int32))
    sync(trainer)
    tf.profiler.experimental.stop()
    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    ops = op_totals(files[0]) if files else {}
    total = sum(ops.values()) or 1.0
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]
    emit({"kind": "profile", "widths": spec["widths"], "family": setting.family.name,
          "resolution": res, "batch": batch, "precision": spec["precision"], "xla": spec["xla"],
          "steps": steps, "median_seconds": parts, "logdir": logdir,
          "top_ops_ms_per_step": [[k, v / steps / 1e9, v / total] for k, v in top]})


def op_totals(path):
    """Total duration (ps) per TF op type on the host plane of an XSpace trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    totals = {}
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        meta = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = meta.get(ev.metadata_id, "")
                # Executor op events are "scope/op_name:OpType"; framework scopes contain "::"
                # or spaces. oneDNN kernels are "_MklNativeConv2D" etc.: report the TF op type.
                if ":" not in name or "::" in name or " " in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                for prefix in ("_MklNative", "_Mkl", "_"):
                    if op_type.startswith(prefix):
                        op_type = op_type[len(prefix):]
                        break
                if not op_type:
                    continue
                totals[op_type] = totals.get(op_type, 0) + ev.duration_ps
    return totals
