"""The "checks" worker: mixed precision and XLA against float32 without XLA, on a short run.

Each variant (Keras mixed_bfloat16, the oneDNN bfloat16 rewrite, XLA) trains the same width
setting from the same seed (identical initial weights) on the same constant reals with the same
step seeds as float32 without XLA, for `steps` plain steps (`training.step.TrainStep.function`).
Reported per variant: the relative difference of the per-step losses D and G, and of G's output
(fixed z, the stored noise, no truncation) at initialization and after the run.
"""

from __future__ import annotations

from bench.case_setup import constant_batch, make_trainer
from bench.measurement import emit
from bench.width_settings import get_width_setting

__all__ = ["VARIANTS", "worker_checks"]

# Reported name -> (--precisions name, XLA).
VARIANTS = (("mixed_bfloat16", ("mixed", False)), ("onednn_bfloat16", ("bf16-onednn", False)),
            ("xla", ("fp32", True)))


def worker_checks(spec):
    """Runs float32 and each of `VARIANTS` at `spec["resolution"]` and prints a "check" record
    per variant."""
    import numpy as np
    import tensorflow as tf

    res = int(spec["resolution"])
    steps = int(spec["steps"])
    setting = get_width_setting(spec["widths"])
    batch = int(spec["batch"][str(res)])
    reals, labels = constant_batch(res, batch, setting.channels, setting.label_size)
    alpha = tf.constant(1.0, tf.float32)

    def run(precision, xla):
        trainer, _ = make_trainer(spec, precision, xla, [res])
        z = tf.constant(np.random.default_rng(2).standard_normal(
            [8, trainer.net_cfg.latent_size]), tf.float32)
        label_size = trainer.net_cfg.label_size
        zl = None
        if label_size:
            zl = tf.constant(np.eye(label_size, dtype=np.float32)[np.arange(8) % label_size])

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

    def rel(a, b):
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))

    ref = run("fp32", False)
    for name, (precision, xla) in VARIANTS:
        got = run(precision, xla)
        d_rel = np.abs(got[1][:, 0] - ref[1][:, 0]) / np.maximum(np.abs(ref[1][:, 0]), 1e-3)
        g_rel = np.abs(got[1][:, 1] - ref[1][:, 1]) / np.maximum(np.abs(ref[1][:, 1]), 1e-3)
        emit({"kind": "check", "variant": name, "widths": spec["widths"],
              "family": setting.family.name, "resolution": res, "batch": batch, "steps": steps,
              "G_out_rel_diff_init": rel(got[0], ref[0]),
              "G_out_rel_diff_after": rel(got[2], ref[2]),
              "D_loss_rel_diff_per_step": [float(v) for v in d_rel],
              "G_loss_rel_diff_per_step": [float(v) for v in g_rel],
              "D_loss_ref": [float(v) for v in ref[1][:, 0]],
              "D_loss": [float(v) for v in got[1][:, 0]],
              "G_loss_ref": [float(v) for v in ref[1][:, 1]],
              "G_loss": [float(v) for v in got[1][:, 1]]})
