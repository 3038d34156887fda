"""The checkpoint-cost benchmark (bench/checkpoint_cost.py) measures a real, complete checkpoint."""

import numpy as np
import tensorflow as tf

from bench.checkpoint_cost import measure


def test_measures_a_complete_checkpoint(tmp_path):
    rec = measure("demo", 8, 2, str(tmp_path))
    assert rec["widths"] == "demo" and rec["resolution"] == 8 and len(rec["save_s_all"]) == 2
    assert rec["save_s"] > 0 and rec["restore_s"] > 0
    prefix = tf.train.latest_checkpoint(str(tmp_path / "run_demo_8" / "checkpoints"))
    stored = {name: shape for name, shape in tf.train.list_variables(prefix)
              if name.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
              and not name.startswith("save_counter/")}  # tf.train.Checkpoint's own
    # What was measured is what a run stores: the networks, Gs and both Adam states.
    assert sum(int(np.prod(s)) for s in stored.values()) == rec["values"]
    for part in ("G/", "D/", "Gs/", "G_opt/m/", "G_opt/v/", "D_opt/m/", "D_opt/v/"):
        assert any(name.startswith(part) for name in stored), part
    assert rec["bytes"] >= 4 * rec["values"] * 0.95  # float32 values, on disk
