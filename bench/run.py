"""Throughput and memory benchmark of tf-stylegan (issue 7).

Measures, per progressive-growing level (8 .. 256) and per configuration:
  - training images/s of the training loop's own traced step (`training.step.TrainStep.function`):
    one D step with R1 + the Gs moving average + one G step, the official loop order; with the
    input pipeline off (constant uint8 tensors) and on (`TFRecordDataset.iterate` over a small
    dataset written to a temp dir);
  - generator inference images/s (Gs, truncation 0.7, random noise);
  - the TFRecord reader alone, images/s;
  - peak RSS (VmHWM) of every case, reset before the case with /proc/self/clear_refs;
  - fp32 vs bfloat16 (`--precisions`: `bf16-onednn`, the oneDNN bfloat16 graph rewrite that
    `--mixed-precision` uses on CPUs; `mixed`, Keras' `mixed_bfloat16` policy) and with /
    without XLA (`cfg.xla`, the loop's jit_compile of the per-replica passes; the rewrite does
    not combine with XLA, that pair is skipped), plus a numeric check of each against fp32
    (`bf16-onednn` rewrites the training step only: its inference case and the roofline's
    ops-alone peak are float32);
  - generation at 1024x1024 (official widths, batch 1) in a fresh process: peak RSS;
  - with --roofline, per level: the step's FLOPs counted from its traced graph, the achieved
    GFLOP/s, and the GFLOP/s of the same convolutions and matrix products timed alone
    (bench/roofline.py).

Every configuration (widths x precision x XLA) runs in its own subprocess, levels in increasing
order. Each case warms up (the first call traces, and compiles under XLA), then times `steps`
calls with no host work inside the window except the Python loop (seeds are made before it; the
only sync is at the end). The step counts its traces with a Python counter (the loop's
`trace_counts`, and a counter inside the traced inference function): the count is reported
before and after the timed window and must not grow.

Usage:
    python -m bench                  # default matrix, about 10 min on 2 cores
    python -m bench --quick          # about 1 min: levels 8 and 16, demo + official
    python -m bench --levels 8,16,32 --widths demo --precisions fp32 --xla off --json-only
    python -m bench --profile --widths official --levels 64     # top ops of one train step
    python -m bench --roofline --precisions fp32 --xla off      # FLOPs and GFLOP/s vs peak
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# --precisions name: (TrainingConfig.mixed_precision, the name reported in the records).
PRECISIONS = {"fp32": (False, "fp32"), "mixed": ("bfloat16", "mixed_bfloat16"),
              "bf16-onednn": ("onednn_bfloat16", "onednn_bfloat16")}
LEVELS = (8, 16, 32, 64, 128, 256)
# Used when configs/demo.yaml is missing.
_DEMO_FALLBACK = dict(num_channels=1, fmap_base=2048, fmap_max=128, latent_size=128,
                      dlatent_size=128, mapping_fmaps=128)


# ------------------------------------------------------------------------------------------------
# Configuration.

def demo_widths() -> dict:
    """NetworkConfig overrides of the demo: the `network` block of configs/demo.yaml."""
    path = os.path.join(REPO, "configs", "demo.yaml")
    if not os.path.isfile(path):
        return {k: v for k, v in _DEMO_FALLBACK.items() if k != "num_channels"}
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    net = dict(data.get("network") or {})
    if not net:
        raise ValueError(f"{path}: no `network` mapping with the demo widths.")
    return net


def widths_spec(name: str) -> dict:
    """(network overrides, channels, label_size) of a width setting."""
    if name == "official":  # NetworkConfig(resolution=256) defaults, unconditional RGB.
        return {"network": {}, "channels": 3, "label_size": 0}
    if name == "demo":  # the demo: 1 channel, 10 one-hot classes.
        return {"network": demo_widths(), "channels": 1, "label_size": 10}
    raise ValueError(f"`--widths` entries must be 'official' or 'demo'. Received: {name!r}")


def batch_for(widths: str, res: int, override: int | None) -> int:
    if override:
        return override
    return 4 if widths == "official" else 16


def steps_for(widths: str, res: int, quick: bool, override: int | None) -> int:
    """Timed steps: few at official widths and high resolution (tens of s per step on 2 cores)."""
    if override:
        return override
    if widths == "official":
        return 3 if res <= 16 else (2 if res <= 32 else 1)
    return 3 if quick else 5


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0), so each case gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------------------
# Worker side (runs in a subprocess; prints JSON lines).

def _make_trainer(spec, precision, xla, levels):
    from data.reader import TFRecordDataset
    from training.loop import Trainer
    from training.training_config import TrainingConfig

    ws = widths_spec(spec["widths"])
    ds = TFRecordDataset(spec["dataset"])
    schedule = {"minibatch_dict": {int(r): int(spec["batch"][str(r)]) for r in levels},
                "max_minibatch_per_gpu": {}}
    cfg = TrainingConfig(dataset=os.path.basename(spec["dataset"]),
                         data_dir=os.path.dirname(spec["dataset"]), network=ws["network"],
                         schedule_preset="1gpu", schedule=schedule,
                         mixed_precision=PRECISIONS[precision][0], xla=bool(xla), seed=1000)
    return Trainer(cfg, dataset=ds, run_dir=None, progress=False, log=lambda s: None), ds


def _constant_batch(res, batch, channels, label_size, seed=0):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    reals = tf.constant(rng.integers(0, 256, [batch, res, res, channels], dtype=np.uint8))
    labels = np.zeros([batch, label_size], np.float32)
    if label_size:
        labels[np.arange(batch), rng.integers(0, label_size, batch)] = 1.0
    return reals, tf.constant(labels)


def _sync(trainer):
    # One scalar read: waits for every queued op of the step (the loop's own step counter).
    return int(trainer.step.totals.steps.numpy())


def worker_group(spec):
    """Training (pipeline off / on), inference and (optionally) reader cases of one config."""
    import tensorflow as tf

    precision, xla, levels = spec["precision"], spec["xla"], [int(r) for r in spec["levels"]]
    ws = widths_spec(spec["widths"])
    trainer, ds = _make_trainer(spec, precision, xla, levels)
    base = {"widths": spec["widths"], "precision": PRECISIONS[precision][1], "xla": bool(xla),
            "warmup": spec["warmup"]}
    seed_base = 1000
    for res in levels:
        batch, steps = int(spec["batch"][str(res)]), int(spec["steps"][str(res)])
        common = {**base, "resolution": res, "batch": batch, "steps": steps}
        alpha = tf.constant(1.0, tf.float32)
        seeds = [tf.constant([seed_base, i], tf.int32) for i in range(2 * (spec["warmup"] + steps)
                                                                      + 1)]
        # --- Training, input pipeline off: constant tensors. ---
        step = trainer.step.function(res, batch)  # the loop's own traced step of this level
        reals, labels = _constant_batch(res, batch, ws["channels"], ws["label_size"])
        peak_ok = _reset_peak()
        t0 = time.perf_counter()
        for i in range(spec["warmup"]):
            step(reals, labels, alpha, seeds[i])
        _sync(trainer)
        warm_s = time.perf_counter() - t0
        traces0 = trainer.step.trace_counts[res]
        t0 = time.perf_counter()
        for i in range(steps):
            step(reals, labels, alpha, seeds[spec["warmup"] + i])
        _sync(trainer)
        dt = time.perf_counter() - t0
        sec_per_step = dt / steps
        _emit({"kind": "train", **common, "pipeline": "off", "seconds": dt,
               "sec_per_step": dt / steps, "img_per_s": batch * steps / dt,
               "warmup_seconds": warm_s, "traces_before": traces0,
               "traces_after": trainer.step.trace_counts[res],
               "peak_rss_mb": _vm_hwm_mb() if peak_ok else None,
               "step_fn": "training.step.TrainStep.function"})
        # --- Training, input pipeline on: the TFRecord reader feeds the same step. ---
        if res > spec.get("pipeline_max_res", 10**9):
            it = None
        else:
            it = iter(ds.iterate(res, batch, shuffle=True, repeat=True, seed=0))
        if it is not None:
            k = 2 * spec["warmup"] + steps
            x, y = next(it)
            step(x, y, alpha, seeds[k])  # fills the prefetch buffer
            _sync(trainer)
            traces0 = trainer.step.trace_counts[res]
            t0 = time.perf_counter()
            for i in range(steps):
                x, y = next(it)
                step(x, y, alpha, seeds[spec["warmup"] + i])
            _sync(trainer)
            dt = time.perf_counter() - t0
            _emit({"kind": "train", **common, "pipeline": "on", "seconds": dt,
                   "sec_per_step": dt / steps, "img_per_s": batch * steps / dt,
                   "traces_before": traces0, "traces_after": trainer.step.trace_counts[res],
                   "peak_rss_mb": _vm_hwm_mb() if peak_ok else None,
                   "step_fn": "training.step.TrainStep.function"})
        del it
        # --- Reader alone. ---
        if spec.get("reader"):
            _emit({"kind": "read", **common, "xla": None, "precision": None,
                   **_time_reader(ds, res, batch)})
        # --- Generator inference (Gs, default truncation, random noise). ---
        _emit({"kind": "infer", **common, **_time_inference(trainer, res, batch, steps,
                                                              spec["warmup"], xla,
                                                              ws["label_size"])})
        # --- Roofline: last, so that timing the ops alone disturbs none of the cases above. ---
        if spec.get("roofline"):
            from bench.roofline import count_flops, roofline

            costs = count_flops(step.get_concrete_function(reals, labels, alpha, seeds[0]))
            _emit({"kind": "roofline", **common, **roofline(costs, sec_per_step),
                   "counted": "Conv2D, its gradients, depthwise convs, MatMul/BatchMatMul of the "
                              "traced step (bench/roofline.py)"})


def _time_reader(ds, res, batch, min_seconds=1.0, min_batches=20):
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


def _time_inference(trainer, res, batch, steps, warmup, xla, label_size):
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
    peak_ok = _reset_peak()
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
            "peak_rss_mb": _vm_hwm_mb() if peak_ok else None}


def worker_checks(spec):
    """Numeric checks: mixed precision and XLA against fp32 / no XLA on a short identical run.

    Same seed -> identical initial weights, same constant reals, same step seeds. Reports the
    relative difference of the per-step losses (D, G) and of G's output (fixed z, const noise,
    no truncation) at init and after the run.
    """
    import numpy as np
    import tensorflow as tf

    res = int(spec["resolution"])
    steps = int(spec["steps"])
    ws = widths_spec(spec["widths"])
    batch = int(spec["batch"][str(res)])
    reals, labels = _constant_batch(res, batch, ws["channels"], ws["label_size"])
    alpha = tf.constant(1.0, tf.float32)
    zl = None
    if ws["label_size"]:
        zl = tf.constant(np.eye(ws["label_size"], dtype=np.float32)[np.arange(8) %
                                                                    ws["label_size"]])

    def run(precision, xla):
        trainer, _ = _make_trainer(spec, precision, xla, [res])
        z = tf.constant(np.random.default_rng(2).standard_normal(
            [8, trainer.net_cfg.latent_size]), tf.float32)

        def g_out():
            G = trainer.networks.G
            return tf.cast(G(z, zl, truncation_psi=1.0, noise="const", resolution=res, alpha=1.0),
                           tf.float32).numpy()

        out0 = g_out()
        step = trainer.step.function(res, batch)
        per_step = []
        for i in range(steps):
            stats = step(reals, labels, alpha, tf.constant([7, i], tf.int32))
            per_step.append([float(stats["Loss/D"]), float(stats["Loss/G"])])
        return out0, np.array(per_step, np.float64), g_out()

    ref = run("fp32", False)
    for name, (precision, xla) in (("mixed_bfloat16", ("mixed", False)),
                                   ("onednn_bfloat16", ("bf16-onednn", False)),
                                   ("xla", ("fp32", True))):
        got = run(precision, xla)

        def rel(a, b):
            return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))

        d_rel = np.abs(got[1][:, 0] - ref[1][:, 0]) / np.maximum(np.abs(ref[1][:, 0]), 1e-3)
        g_rel = np.abs(got[1][:, 1] - ref[1][:, 1]) / np.maximum(np.abs(ref[1][:, 1]), 1e-3)
        _emit({"kind": "check", "variant": name, "widths": spec["widths"], "resolution": res,
               "batch": batch, "steps": steps,
               "G_out_rel_diff_init": rel(got[0], ref[0]),
               "G_out_rel_diff_after": rel(got[2], ref[2]),
               "D_loss_rel_diff_per_step": [float(v) for v in d_rel],
               "G_loss_rel_diff_per_step": [float(v) for v in g_rel],
               "D_loss_ref": [float(v) for v in ref[1][:, 0]],
               "D_loss": [float(v) for v in got[1][:, 0]],
               "G_loss_ref": [float(v) for v in ref[1][:, 1]],
               "G_loss": [float(v) for v in got[1][:, 1]]})


def worker_mem1024(spec):
    """Peak RSS of building the official 1024 generator and generating one image (batch 1)."""
    import tensorflow as tf

    import tf_stylegan as sg

    t0 = time.perf_counter()
    G = sg.Generator(sg.NetworkConfig(resolution=1024))
    img = G(tf.random.normal([1, 512]), training=False)
    shape = list(img.numpy().shape)
    _emit({"kind": "mem1024", "resolution": 1024, "batch": 1, "image_shape": shape,
           "seconds": time.perf_counter() - t0, "params": int(G.count_params()),
           "peak_rss_mb": _vm_hwm_mb()})


def worker_profile(spec):
    """Profiles `steps` training steps with tf.profiler and prints the top op types."""
    import glob

    import tensorflow as tf

    res = int(spec["levels"][0])
    ws = widths_spec(spec["widths"])
    trainer, _ = _make_trainer(spec, spec["precision"], spec["xla"], [res])
    batch, steps = int(spec["batch"][str(res)]), int(spec["steps"][str(res)])
    reals, labels = _constant_batch(res, batch, ws["channels"], ws["label_size"])
    alpha = tf.constant(1.0, tf.float32)
    step = trainer.step.function(res, batch)
    for i in range(spec["warmup"]):
        step(reals, labels, alpha, tf.constant([1, i], tf.int32))
    _sync(trainer)
    # Sub-parts, timed separately (the same per-replica functions the step runs).
    d_fn = tf.function(lambda r, y, a, s: trainer.step.replica_gradients("D", res, batch, r, y,
                                                                         a, s))
    g_fn = tf.function(lambda r, y, a, s: trainer.step.replica_gradients("G", res, batch, r, y,
                                                                         a, s))

    parts = {}
    def scoped(fn):  # the step's precision scope (the oneDNN rewrite) around each call
        def call(s):
            with trainer.step.scope():
                return fn(reals, labels, alpha, s)
        return call

    for name, call in (("D_step_grads", scoped(d_fn)), ("G_step_grads", scoped(g_fn))):
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
        _sync(trainer)
        times.append(time.perf_counter() - t0)
    parts["full_step"] = sorted(times)[len(times) // 2]
    logdir = tempfile.mkdtemp(prefix="bench-profile-")
    tf.profiler.experimental.start(logdir)
    for i in range(steps):
        step(reals, labels, alpha, tf.constant([9, i], tf.int32))
    _sync(trainer)
    tf.profiler.experimental.stop()
    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    ops = _op_totals(files[0]) if files else {}
    total = sum(ops.values()) or 1.0
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]
    _emit({"kind": "profile", "widths": spec["widths"], "resolution": res, "batch": batch,
           "precision": spec["precision"], "xla": spec["xla"], "steps": steps,
           "median_seconds": parts, "logdir": logdir,
           "top_ops_ms_per_step": [[k, v / steps / 1e9, v / total] for k, v in top]})


def _op_totals(path):
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


WORKERS = {"group": worker_group, "checks": worker_checks, "mem1024": worker_mem1024,
           "profile": worker_profile}


# ------------------------------------------------------------------------------------------------
# Driver.

def write_datasets(tmp, widths_list, max_res, num_images=16):
    """One small random-image TFRecord pyramid per width setting (channels / labels differ)."""
    import numpy as np

    from data.labels import one_hot
    from data.writer import write_arrays

    paths = {}
    rng = np.random.default_rng(0)
    for name in widths_list:
        ws = widths_spec(name)
        images = rng.integers(0, 256, [num_images, ws["channels"], max_res, max_res],
                              dtype=np.uint8)
        labels = one_hot(rng.integers(0, ws["label_size"], num_images), ws["label_size"]) \
            if ws["label_size"] else None
        path = os.path.join(tmp, f"bench_{name}")
        write_arrays(path, images, labels, progress=False)
        paths[name] = path
    return paths


def _run_worker(kind, spec, log, json_only, timeout=3600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "bench.run", "--worker", kind, json.dumps(spec)]
    records = []
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    import threading

    err = []
    t = threading.Thread(target=lambda: err.extend(proc.stderr.readlines()), daemon=True)
    t.start()
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
            records.append(rec)
            print(line, flush=True)
    proc.wait(timeout=timeout)
    t.join(timeout=5)
    if proc.returncode != 0:
        tail = "".join(err[-25:])
        log(f"worker {kind} failed (exit {proc.returncode}); stderr tail:\n{tail}")
        records.append({"kind": "error", "worker": kind, "spec": spec,
                        "returncode": proc.returncode})
        print(json.dumps(records[-1]), flush=True)
    return records


def environment():
    import tensorflow as tf

    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"kind": "env", "device": gpus[0] if gpus else f"CPU ({cpu})",
            "tf_version": tf.__version__, "keras_version": __import__("keras").__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "sched_affinity": len(os.sched_getaffinity(0)),
            "load_avg_at_start": list(os.getloadavg())}


def build_plan(args):
    """The list of (worker kind, spec) to run."""
    levels = [int(r) for r in args.levels.split(",")] if args.levels else (
        [8, 16] if args.quick else list(LEVELS))
    for r in levels:
        if r not in LEVELS:
            raise ValueError(f"`--levels` must be among {LEVELS}. Received: {r}")
    widths_list = args.widths.split(",")
    for w in widths_list:
        widths_spec(w)
    precisions = args.precisions.split(",")
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"`--precisions` entries must be among {sorted(PRECISIONS)}. "
                             f"Received: {p!r}")
    xlas = [{"off": False, "on": True}[x] for x in args.xla.split(",")]
    plan = []
    for w in widths_list:
        for precision in precisions:
            for xla in xlas:
                if precision == "bf16-onednn" and xla:
                    continue  # the rewrite does not reach XLA-compiled functions (UserError)
                lv = levels
                # Default: official widths run the variants (bf16, XLA) up to 16 only (a 256
                # official step takes ~a minute on 2 cores; XLA compiles take minutes there).
                if w == "official" and (precision != "fp32" or xla) and not args.all_variants:
                    lv = [r for r in levels if r <= args.variant_max_res]
                if not lv:
                    continue
                plan.append(("group", {
                    "widths": w, "precision": precision, "xla": xla, "levels": lv,
                    "batch": {str(r): batch_for(w, r, args.batch) for r in lv},
                    "steps": {str(r): steps_for(w, r, args.quick, args.steps) for r in lv},
                    "warmup": args.warmup, "reader": precision == precisions[0]
                    and xla == xlas[0], "roofline": args.roofline,
                    "pipeline_max_res": args.pipeline_max_res if w == "official" else 10**9}))
    return plan, levels, widths_list


def summarize(records, log):
    """The final table and the issue's targets."""
    env = next((r for r in records if r["kind"] == "env"), {})
    log("")
    log(f"device: {env.get('device')}  TF {env.get('tf_version')}  cpus {env.get('cpu_count')}")
    train = [r for r in records if r["kind"] == "train"]
    infer = {(r["widths"], r["precision"], r["xla"], r["resolution"]): r
             for r in records if r["kind"] == "infer"}
    reader = {(r["widths"], r["resolution"]): r for r in records if r["kind"] == "read"}
    rows = {}
    for r in train:
        rows.setdefault((r["widths"], r["precision"], r["xla"], r["resolution"]), {})[
            r["pipeline"]] = r
    hdr = (f"{'widths':9} {'res':>4} {'batch':>5} {'precision':15} {'xla':>3} {'steps':>5} "
           f"{'train img/s':>11} {'+pipeline':>10} {'reader img/s':>12} {'infer img/s':>11} "
           f"{'peak MB':>8} {'retraces':>8}")
    log(hdr)
    log("-" * len(hdr))
    for key in sorted(rows, key=lambda k: (k[0], k[1], k[2], k[3])):
        w, p, x, res = key
        off, on = rows[key].get("off"), rows[key].get("on")
        inf = infer.get(key)
        rd = reader.get((w, res))
        retr = sum(c["traces_after"] - c["traces_before"] for c in (off, on, inf) if c)
        peak = max((c["peak_rss_mb"] or 0) for c in (off, on, inf) if c)

        def f(c, k="img_per_s"):
            return f"{c[k]:.2f}" if c else "-"

        log(f"{w:9} {res:>4} {off['batch'] if off else '-':>5} {p:15} {'on' if x else 'off':>3} "
            f"{off['steps'] if off else '-':>5} {f(off):>11} {f(on):>10} {f(rd):>12} "
            f"{f(inf):>11} {peak:>8.0f} {retr:>8}")
    log("")
    log("Targets:")
    base = {k: v for k, v in rows.items() if k[1] == "fp32" and not k[2]}
    o8, o128 = base.get(("official", "fp32", False, 8)), base.get(("official", "fp32", False, 128))
    if o8 and o128 and o8.get("off") and o128.get("off"):
        ratio = o8["off"]["sec_per_step"] / o128["off"]["sec_per_step"]
        log(f"  step(8)/step(128), official widths, batch {o8['off']['batch']}: {ratio:.4f} "
            f"(target <= 0.05): {'PASS' if ratio <= 0.05 else 'FAIL'}")
    worst = None
    for (w, p, x, res), v in base.items():
        rd = reader.get((w, res))
        if rd and v.get("off"):
            ratio = rd["img_per_s"] / v["off"]["img_per_s"]
            if worst is None or ratio < worst[0]:
                worst = (ratio, w, res)
    if worst:
        log(f"  reader / training img/s, worst case ({worst[1]} {worst[2]}): {worst[0]:.1f}x "
            f"(target >= 5): {'PASS' if worst[0] >= 5 else 'FAIL'}")
    for variant, pred in (("mixed_bfloat16", lambda k: k[1] == "mixed_bfloat16" and not k[2]),
                          ("onednn_bfloat16", lambda k: k[1] == "onednn_bfloat16" and not k[2]),
                          ("XLA", lambda k: k[1] == "fp32" and k[2])):
        parts = []
        for key in sorted(k for k in rows if pred(k)):
            ref = rows.get((key[0], "fp32", False, key[3]), {}).get("off")
            got = rows[key].get("off")
            if ref and got:
                parts.append(f"{key[0]} {key[3]}: {ref['sec_per_step'] / got['sec_per_step']:.2f}x")
        if parts:
            log(f"  {variant} training speed-up vs fp32: " + ", ".join(parts))
    total_retr = sum(r["traces_after"] - r["traces_before"] for r in records
                     if "traces_after" in r)
    log(f"  retraces inside timed windows: {total_retr} (target 0): "
        f"{'PASS' if total_retr == 0 else 'FAIL'}")
    for c in (r for r in records if r["kind"] == "check"):
        log(f"  check {c['variant']} vs fp32 ({c['widths']} {c['resolution']}, {c['steps']} "
            f"steps): G out rel diff init {c['G_out_rel_diff_init']:.2e}, after "
            f"{c['G_out_rel_diff_after']:.2e}; step-1 loss rel diff D "
            f"{c['D_loss_rel_diff_per_step'][0]:.2e} G {c['G_loss_rel_diff_per_step'][0]:.2e}; "
            f"max over steps D {max(c['D_loss_rel_diff_per_step']):.2e} "
            f"G {max(c['G_loss_rel_diff_per_step']):.2e}")
    for m in (r for r in records if r["kind"] == "mem1024"):
        log(f"  generation 1024x1024 batch 1 peak RSS: {m['peak_rss_mb']:.0f} MB (target <= 4096):"
            f" {'PASS' if m['peak_rss_mb'] <= 4096 else 'FAIL'}")
    roof = [r for r in records if r["kind"] == "roofline"]
    if roof:
        log("")
        log("Roofline: FLOPs of the step's convolutions and matrix products (traced graph, 2 per "
            "multiply-add); peak = the same ops timed alone")
        hdr = (f"{'widths':9} {'res':>4} {'batch':>5} {'precision':15} {'xla':>3} "
               f"{'GFLOP/step':>10} {'s/step':>8} {'GFLOP/s':>8} {'peak':>8} {'of peak':>7} "
               f"{'best op':>8}")
        log(hdr)
        log("-" * len(hdr))
        for r in sorted(roof, key=lambda r: (r["widths"], r["precision"], r["xla"],
                                             r["resolution"])):
            log(f"{r['widths']:9} {r['resolution']:>4} {r['batch']:>5} {r['precision']:15} "
                f"{'on' if r['xla'] else 'off':>3} {r['gflop_per_step']:>10.2f} "
                f"{r['sec_per_step']:>8.3f} {r['achieved_gflops']:>8.1f} "
                f"{r['peak_gflops']:>8.1f} {100 * r['fraction_of_peak']:>6.0f}% "
                f"{r['best_op_gflops']:>8.1f}")
    errors = [r for r in records if r["kind"] == "error"]
    if errors:
        log(f"  {len(errors)} worker(s) FAILED: " + ", ".join(e["worker"] for e in errors))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="levels 8,16; fewer steps (~1 min)")
    p.add_argument("--levels", default=None, help="comma list among 8,16,32,64,128,256")
    p.add_argument("--widths", default="official,demo", help="official,demo")
    p.add_argument("--precisions", default=None,
                   help="among fp32, bf16-onednn (the oneDNN bfloat16 rewrite, the CPU path of "
                   "--mixed-precision) and mixed (Keras mixed_bfloat16) (default all three)")
    p.add_argument("--xla", default=None, help="off,on (default both)")
    p.add_argument("--batch", type=int, default=None, help="minibatch (default 4 official, "
                   "16 demo)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per case")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps (the 1st traces)")
    p.add_argument("--all-variants", action="store_true",
                   help="official widths: run bf16/XLA at every level (slow)")
    p.add_argument("--variant-max-res", type=int, default=16,
                   help="official widths: highest level for the bf16/XLA variants (default 16)")
    p.add_argument("--pipeline-max-res", type=int, default=32,
                   help="official widths: highest level timed with the input pipeline on "
                   "(default 32; the reader alone is timed at every level)")
    p.add_argument("--no-checks", action="store_true", help="skip the numeric checks")
    p.add_argument("--no-mem1024", action="store_true", help="skip the 1024 memory case")
    p.add_argument("--roofline", action="store_true",
                   help="per level, also count the step's FLOPs (from its traced graph) and time "
                   "its convolutions and matrix products alone: achieved vs peak GFLOP/s")
    p.add_argument("--profile", action="store_true",
                   help="profile the train step at the first --levels entry and first --widths")
    p.add_argument("--json-only", action="store_true", help="print only the JSON lines")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.precisions is None:
        args.precisions = "fp32" if args.quick else "fp32,bf16-onednn,mixed"
    if args.xla is None:
        args.xla = "off" if args.quick else "off,on"
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, spec = args.worker
        WORKERS[kind](json.loads(spec))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def log(msg):
        if not args.json_only:
            print(msg, file=sys.stdout, flush=True)

    plan, levels, widths_list = build_plan(args)
    t_start = time.perf_counter()
    env = environment()
    env.update({"warmup_steps": args.warmup, "levels": levels, "quick": args.quick})
    records = [env]
    print(json.dumps(env), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        paths = write_datasets(tmp, widths_list, max(levels))
        if args.profile:
            w = widths_list[0]
            spec = {"widths": w, "dataset": paths[w], "levels": [levels[0]],
                    "precision": args.precisions.split(",")[0],
                    "xla": args.xla.split(",")[0] == "on", "warmup": args.warmup,
                    "batch": {str(levels[0]): batch_for(w, levels[0], args.batch)},
                    "steps": {str(levels[0]): args.steps or 3}}
            records += _run_worker("profile", spec, log, args.json_only)
            for r in records:
                if r["kind"] == "profile":
                    log(f"median seconds: {r['median_seconds']}")
                    for name, ms, frac in r["top_ops_ms_per_step"]:
                        log(f"  {name:32} {ms:10.1f} ms/step  {100 * frac:5.1f}%")
            return 0
        for kind, spec in plan:
            spec["dataset"] = paths[spec["widths"]]
            log(f"# {spec['widths']} {spec['precision']} xla={'on' if spec['xla'] else 'off'} "
                f"levels {spec['levels']} batch {spec['batch']} warmup {spec['warmup']} "
                f"timed steps {spec['steps']}")
            records += _run_worker(kind, spec, log, args.json_only)
        if not args.no_checks:
            w = "demo" if "demo" in widths_list else widths_list[0]
            res = 16 if 16 in levels else levels[0]
            spec = {"widths": w, "dataset": paths[w], "resolution": res, "steps": 3,
                    "batch": {str(res): batch_for(w, res, args.batch)}}
            records += _run_worker("checks", spec, log, args.json_only)
        if not args.no_mem1024 and not args.quick:
            records += _run_worker("mem1024", {}, log, args.json_only)
    if not args.json_only:
        summarize(records, log)
        log(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 1 if any(r["kind"] == "error" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
