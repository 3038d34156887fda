"""A/B timing of the layer optimizations on the training loop's own step (bench/RESULTS.md).

The optimizations are switched by module constants read at trace time:
  - `tf_stylegan.layers.equalized._FAST_FUSED_MIN_SIZE`: resampling convs from this size use
    the exactly-equal fused form;
  - `tf_stylegan.layers.equalized._SCALE_CHEAPER_SIDE`: convs apply the equalized-LR
    coefficient to the smaller of input and weight;
  - `tf_stylegan.networks.synthesis._FUSE_NORM_STYLE`: instance norm + style modulation as one
    affine map.
Each variant gets its own trace of `TrainStep.make_function` on one Trainer (same weights); the
variants' steps are then timed interleaved, round-robin, so that the load of a shared machine
hits all variants alike, and the median per variant is reported.

    python -m bench.ab --widths official --levels 16,32,64 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

VARIANTS = {
    # name: (equalized._FAST_FUSED_MIN_SIZE, equalized._SCALE_CHEAPER_SIDE,
    #        synthesis._FUSE_NORM_STYLE)
    "baseline": (10**9, False, False),
    "fused>=32": (32, False, False),
    "fused>=32+scale": (32, True, False),
    "fused>=16+scale": (16, True, False),
    "all": (32, True, True),
}


def _set(name):
    from tf_stylegan.layers import equalized
    from tf_stylegan.networks import synthesis

    (equalized._FAST_FUSED_MIN_SIZE, equalized._SCALE_CHEAPER_SIDE,
     synthesis._FUSE_NORM_STYLE) = VARIANTS[name]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    p.add_argument("--widths", default="official", help="official | demo")
    p.add_argument("--levels", default="16,32,64")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--rounds", type=int, default=5, help="timed steps per variant (median)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--precision", default="fp32", help="fp32 | mixed")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from bench.run import _constant_batch, _make_trainer, batch_for, widths_spec, write_datasets

    levels = [int(r) for r in args.levels.split(",")]
    names = args.variants.split(",")
    ws = widths_spec(args.widths)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        path = write_datasets(tmp, [args.widths], max(levels))[args.widths]
        batch = {str(r): batch_for(args.widths, r, args.batch) for r in levels}
        spec = {"widths": args.widths, "dataset": path, "batch": batch}
        trainer, _ = _make_trainer(spec, args.precision, False, levels)
        for res in levels:
            b = int(batch[str(res)])
            reals, labels = _constant_batch(res, b, ws["channels"], ws["label_size"])
            alpha = tf.constant(1.0, tf.float32)
            steps = {}
            for name in names:
                _set(name)
                steps[name] = trainer.step.make_function(res, b)
                steps[name](reals, labels, alpha, tf.constant([0, 0], tf.int32))  # trace
                int(trainer.step.totals.steps.numpy())
            _set("all")  # the library defaults
            times = {name: [] for name in names}
            for i in range(args.rounds):
                for name in names:
                    seed = tf.constant([1, i], tf.int32)
                    t0 = time.perf_counter()
                    steps[name](reals, labels, alpha, seed)
                    int(trainer.step.totals.steps.numpy())
                    times[name].append(time.perf_counter() - t0)
            base = float(np.median(times[names[0]]))
            for name in names:
                med = float(np.median(times[name]))
                print(json.dumps({"kind": "ab", "widths": args.widths, "resolution": res,
                                  "batch": b, "precision": args.precision, "variant": name,
                                  "median_sec_per_step": med, "speedup_vs_first": base / med,
                                  "times": times[name], "load_avg": list(os.getloadavg())}),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
