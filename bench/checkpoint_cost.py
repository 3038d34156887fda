"""`python -m bench.checkpoint_cost`: what a training checkpoint costs, per width setting.

A checkpoint (`training.loop.Trainer.save_run_checkpoint`, docs/training.md "Stopping and
resuming") holds G, D, Gs, both Adam states, the counters and the tick's bookkeeping. Training
writes one every tick and every `--checkpoint-minutes` (default 20), and one when a stop signal
arrives, so its time is part of the signal-to-exit time and of the cost of the clock. This
measures, per width setting (bench/width_settings.py) at the given resolution:

- the seconds of `save_run_checkpoint` into a fresh run directory (median of `--repeats` saves;
  at the same step, so each rewrites the same checkpoint, as much work as a new one),
- the bytes of one checkpoint on disk (its data and index files),
- the seconds to restore it (`Trainer.restore`, the work `--resume` does before the first step).

The networks are built (and their optimizer slots created) but never run: a checkpoint's cost
depends on the variables only. One line per setting and a JSON record each:

    python -m bench.checkpoint_cost                                  # demo widths at 32
    python -m bench.checkpoint_cost --widths config-f --resolution 1024
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

__all__ = ["main", "measure"]


def measure(setting_name: str, resolution: int, repeats: int, tmp: str) -> dict:
    """The checkpoint cost of one width setting at `resolution` (see the module docstring)."""
    import numpy as np

    from bench.width_settings import get_width_setting, training_config
    from data.labels import one_hot
    from data.writer import write_arrays
    from training.loop import Trainer

    setting = get_width_setting(setting_name)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, [2, setting.channels, resolution, resolution], dtype=np.uint8)
    labels = one_hot(rng.integers(0, setting.label_size, 2), setting.label_size) \
        if setting.label_size else None
    data = os.path.join(tmp, f"data_{setting_name}_{resolution}")
    write_arrays(data, images, labels, progress=False)
    cfg = training_config(setting, data, {resolution: setting.batch}, [resolution],
                          mixed_precision=False, xla=False, extra={"resolution": resolution})
    run_dir = os.path.join(tmp, f"run_{setting_name}_{resolution}")
    trainer = Trainer(cfg, run_dir=run_dir, progress=False, log=lambda *a: None)
    saves = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        prefix = trainer.save_run_checkpoint()
        saves.append(time.perf_counter() - t0)
    size = sum(os.path.getsize(f) for f in glob.glob(prefix + ".*"))
    t0 = time.perf_counter()
    trainer.restore(prefix)
    restore = time.perf_counter() - t0
    params = sum(int(np.prod(v.shape)) for v in trainer.checkpoint.values.values())
    return {"kind": "checkpoint", "widths": setting_name, "resolution": resolution,
            "values": params, "bytes": size, "save_s": statistics.median(saves),
            "save_s_all": saves, "restore_s": restore}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", default="demo,stylegan2-demo",
                        help="Comma-separated width settings (bench/width_settings.py).")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from bench.run import environment

    env = environment()
    print(f"# {env['device']}, {env['cpu_count']} cores, load average {env['load_avg_at_start']}",
          flush=True)
    print(json.dumps(env), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.widths.split(","):
            rec = measure(name, args.resolution, args.repeats, tmp)
            print(f"{name:16s} {args.resolution:5d}px  {rec['values'] / 1e6:8.2f} M values  "
                  f"{rec['bytes'] / 2**20:9.1f} MiB  save {rec['save_s']:.3f} s  "
                  f"restore {rec['restore_s']:.3f} s", flush=True)
            print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
