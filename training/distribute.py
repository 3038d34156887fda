"""Choosing the tf.distribute strategy of a training run.

- `TF_CONFIG` set (several machines): `MultiWorkerMirroredStrategy` (collective all-reduce; every
  worker runs the same program, worker 0 is the chief that writes files).
- Several devices requested or found: `MirroredStrategy` over them (GPUs; on a CPU-only host,
  logical CPU devices, which is how the tests simulate two GPUs).
- Otherwise the default strategy on the one device.

The global minibatch and learning rates come from the official tables whatever the replica count
(see `TrainingConfig.schedule_config`); losses are divided by the global batch because Keras 3
sums the replicas' gradients.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tf_stylegan.errors import UserError

__all__ = ["is_chief", "make_strategy", "num_workers"]


def make_strategy(gpus: int | None = None) -> tf.distribute.Strategy:
    """The strategy for `gpus` replicas (None: every GPU found, or the single CPU).

    With `gpus` > 1 and no GPU, as many logical CPU devices are used (they must exist: configure
    them with `tf.config.set_logical_device_configuration` before TF initialises).
    """
    if os.environ.get("TF_CONFIG"):
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise UserError(f"TF_CONFIG is not valid JSON ({e}). "
                             f"Received: TF_CONFIG={os.environ['TF_CONFIG'][:200]!r}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpu_devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus is None:
        devices = gpu_devices if len(gpu_devices) > 1 else None
    else:
        pool = gpu_devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        if gpus > len(pool):
            kind = "GPU" if gpu_devices else "CPU"
            raise UserError(f"--gpus {gpus} requested but only {len(pool)} {kind} device(s) are "
                             f"visible ({pool}). Received: gpus={gpus}")
        devices = pool[:gpus] if gpus > 1 else None
    if devices and gpu_devices:
        return tf.distribute.MirroredStrategy(devices)  # NCCL all-reduce between GPUs
    if devices:
        # Logical CPU devices (stand-ins for GPUs): sum on one device. The default collective
        # all-reduce keys its instances per process, so a second MirroredStrategy in the same
        # process can meet the first one's cached instances and fail with a shape mismatch.
        return tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Number of worker processes (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 1
    return max(1, len(resolver.cluster_spec().as_dict().get("worker", [])))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes the run directory (worker 0, or the only process)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type in (None, "chief"):
        return True
    # Without a "chief" task, worker 0 is the chief (TensorFlow's convention).
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return not has_chief and resolver.task_type == "worker" and resolver.task_id == 0
