"""`python -m bench`: throughput, memory and augmentation cost of tf-stylegan's training step,
inference and reader, per level and configuration.

Measures, per level (8 .. 256) and per configuration (width setting x precision x XLA):
  - training images/s of the training loop's own traced step (`training.step.TrainStep.function`:
    StyleGAN's D step with R1, the Gs average and G step; StyleGAN2's G step, Gs average and D
    step, in passes of `minibatch_gpu`), with the input pipeline off (constant uint8 tensors)
    and on (`TFRecordDataset.iterate` over a small dataset written to a temp dir);
  - StyleGAN2's lazy regularization: the step with path-length regularization ("G_reg"), with
    R1 ("D_reg"), with both, and the mean over the loop's 16-step cycle (bench/lazy_cycle.py);
  - generator inference images/s (Gs, default truncation, random noise);
  - the TFRecord reader alone, images/s;
  - the ADA augmentation pipe (`--augment`, default bgc and bgcfnc) on the images D sees in a
    step, forward and through the gradients that pass it (G's, R1's), per step beside the
    step time (bench/augment_cost.py);
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
    (bench/roofline.py); for StyleGAN2 also over the lazy-regularization cycle.

Width settings (`--widths`, bench/width_settings.py): `official` and `demo` (StyleGAN, the
default), `stylegan2-demo` (configs/stylegan2-demo.yaml) and `config-f` (configs/stylegan2.yaml,
official config F widths, passes of 4). `--family stylegan2` selects a family's settings.

Every configuration runs in its own subprocess (bench/group_worker.py), levels in increasing
order. Each case warms up (the first call traces, and compiles under XLA), then times `steps`
calls with no host work inside the window except the Python loop (seeds are made before it; the
only sync is at the end). The step counts its traces with a Python counter (the loop's
`trace_counts`, and a counter inside the traced inference function): the count is reported
before and after the timed window and must not grow. A requested case that does not run prints
a "# skipped" line and a "skip" JSON record saying why (bench/case_plan.py).

Usage:
    python -m bench                  # default matrix (StyleGAN), tens of minutes on 2 cores
    python -m bench --quick          # a minute or two: levels 8 and 16, demo + official
    python -m bench --levels 8,16,32 --widths demo --precisions fp32 --xla off --json-only
    python -m bench --profile --widths official --levels 64     # top ops of one train step
    python -m bench --roofline --precisions fp32 --xla off      # FLOPs and GFLOP/s vs peak
    python -m bench --family stylegan2 --precisions fp32,bf16-onednn --xla off --roofline
    python -m bench --widths stylegan2-demo,demo --levels 32 --augment bgc,bgcfnc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

from bench.case_plan import LAZY_VARIANTS, LEVELS, build_plan, skip_line
from bench.case_setup import PRECISIONS

__all__ = ["LEVELS", "PRECISIONS", "REPO", "build_plan", "environment", "main", "parse_args",
           "write_datasets"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _workers():
    from bench.group_worker import worker_group
    from bench.memory_1024 import worker_mem1024
    from bench.numeric_checks import worker_checks
    from bench.step_profile import worker_profile

    return {"group": worker_group, "checks": worker_checks, "mem1024": worker_mem1024,
            "profile": worker_profile}


def write_datasets(tmp, widths_list, max_res, num_images=16):
    """One small random-image TFRecord pyramid per width setting (channels / labels differ)."""
    import numpy as np

    from bench.width_settings import get_width_setting
    from data.labels import one_hot
    from data.writer import write_arrays

    paths = {}
    rng = np.random.default_rng(0)
    for name in widths_list:
        ws = get_width_setting(name)
        images = rng.integers(0, 256, [num_images, ws.channels, max_res, max_res],
                              dtype=np.uint8)
        labels = one_hot(rng.integers(0, ws.label_size, num_images), ws.label_size) \
            if ws.label_size else None
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
    err = []
    t = threading.Thread(target=lambda: err.extend(proc.stderr.readlines()), daemon=True)
    t.start()
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
            records.append(rec)
            print(line, flush=True)
            if rec["kind"] == "skip":
                log(skip_line(rec))
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="levels 8,16; fp32, no XLA; fewer steps; --augment bgc; no 1024 case")
    p.add_argument("--levels", default=None, help="comma list among 8,16,32,64,128,256")
    p.add_argument("--widths", default=None,
                   help="comma list among official, demo (StyleGAN), stylegan2-demo, config-f "
                   "(StyleGAN2) (default official,demo, or the settings of --family)")
    p.add_argument("--family", default=None,
                   help="comma list of network families (stylegan, stylegan2): their width "
                   "settings (with --widths: a check that they belong to these)")
    p.add_argument("--precisions", default=None,
                   help="among fp32, bf16-onednn (the oneDNN bfloat16 rewrite, the CPU path of "
                   "--mixed-precision) and mixed (Keras mixed_bfloat16) (default all three)")
    p.add_argument("--xla", default=None, help="off,on (default both)")
    p.add_argument("--batch", type=int, default=None, help="global minibatch (default 4 "
                   "official, 16 demo, 32 stylegan2-demo, 8 config-f)")
    p.add_argument("--minibatch-gpu", type=int, default=None,
                   help="StyleGAN2: samples per pass (default the preset's: 32 stylegan2-demo, "
                   "4 config-f; at most the batch)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per case")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps (the 1st traces)")
    p.add_argument("--lazy-variants", default="all", choices=LAZY_VARIANTS,
                   help="StyleGAN2: time every variant (plain, G_reg, D_reg, both; default), "
                   "the cycle's only (enough for the per-step mean), or the plain step only")
    p.add_argument("--augment", default=None,
                   help="ADA pipe presets timed per step (default bgc,bgcfnc; bgc with --quick)")
    p.add_argument("--augment-p", type=float, default=1.0,
                   help="augmentation probability of the --augment cases (default 1)")
    p.add_argument("--no-augment", action="store_true", help="skip the augmentation cases")
    p.add_argument("--all-variants", action="store_true",
                   help="official-size widths: run bf16/XLA at every level (slow)")
    p.add_argument("--variant-max-res", type=int, default=16,
                   help="official-size widths: highest level for the bf16/XLA variants "
                   "(default 16)")
    p.add_argument("--pipeline-max-res", type=int, default=32,
                   help="official-size widths: highest level timed with the input pipeline on "
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
    if args.augment is None:
        args.augment = "bgc" if args.quick else "bgc,bgcfnc"
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, spec = args.worker
        _workers()[kind](json.loads(spec))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def log(msg):
        if not args.json_only:
            print(msg, file=sys.stdout, flush=True)

    def run(kind, spec):
        return _run_worker(kind, spec, log, args.json_only)

    plan = build_plan(args)
    levels = plan.levels
    t_start = time.perf_counter()
    env = environment()
    env.update({"warmup_steps": args.warmup, "levels": levels, "quick": args.quick,
                "widths": plan.widths})
    records = [env]
    print(json.dumps(env), flush=True)
    for rec in plan.skips:
        records.append(rec)
        print(json.dumps(rec), flush=True)
        log(skip_line(rec))
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        paths = write_datasets(tmp, plan.widths, max(levels))
        if plan.profile:
            spec = {**plan.profile, "dataset": paths[plan.profile["widths"]]}
            records += run("profile", spec)
            for r in records:
                if r["kind"] == "profile":
                    log(f"median seconds: {r['median_seconds']}")
                    for name, ms, frac in r["top_ops_ms_per_step"]:
                        log(f"  {name:32} {ms:10.1f} ms/step  {100 * frac:5.1f}%")
            return 0
        for spec in plan.groups:
            spec["dataset"] = paths[spec["widths"]]
            log(f"# {spec['widths']} {spec['precision']} xla={'on' if spec['xla'] else 'off'} "
                f"levels {spec['levels']} batch {spec['batch']} warmup {spec['warmup']} "
                f"timed steps {spec['steps']}")
            records += run("group", spec)
        for spec in plan.checks:
            records += run("checks", {**spec, "dataset": paths[spec["widths"]]})
        for spec in plan.mem1024:
            records += run("mem1024", spec)
    if not args.json_only:
        from bench.summary_table import summarize

        summarize(records, log)
        log(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 1 if any(r["kind"] == "error" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
