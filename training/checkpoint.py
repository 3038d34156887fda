"""Resumable training checkpoints: networks, Gs, optimizers, counters, schedule and RNG state.

A `tf.train.Checkpoint` under `<run_dir>/checkpoints/` managed by a `tf.train.CheckpointManager`
(max_to_keep=2). TensorFlow writes the data files first and then replaces the `checkpoint` index
file atomically, so a process killed during a save leaves the previous checkpoint as the latest
valid one. The variables of each network and optimizer are saved as ordered lists (their order
is fixed by the NetworkConfig), which keeps the checkpoint independent of Keras' object graph.

The RNG needs no generator state: every random draw of a step is stateless, seeded by
`(run_seed, step)`, and the data pipeline's shuffle seed is derived from the run seed and the
image count at which the pipeline was (re)created, so both are reproducible from the counters.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tf_stylegan.errors import UserError

__all__ = ["TrainState", "latest_checkpoint", "make_checkpoint"]


class TrainState(tf.Module):
    """Counters of a run, as variables so they live in the checkpoint.

    Attributes (tf.Variable):
        cur_nimg: real images shown to D so far (the official `cur_nimg`).
        step: training steps done (one D + one G update each); seeds the stateless RNG.
        tick, tick_start_nimg: tick counter and the image count at which the current tick began.
        lod_key: [floor(lod), ceil(lod)] the optimizers were last reset for ([-1, -1]: never).
        run_seed: the run seed.
        nonfinite_total: steps skipped because of non-finite losses or gradients.
        train_time: seconds spent training (summed over resumes).
    """

    def __init__(self, run_seed: int = 0):
        super().__init__(name="train_state")
        self.cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_nimg")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.tick = tf.Variable(0, dtype=tf.int64, trainable=False, name="tick")
        self.tick_start_nimg = tf.Variable(0, dtype=tf.int64, trainable=False,
                                           name="tick_start_nimg")
        self.lod_key = tf.Variable([-1, -1], dtype=tf.int64, trainable=False, name="lod_key")
        self.run_seed = tf.Variable(int(run_seed), dtype=tf.int64, trainable=False,
                                    name="run_seed")
        self.nonfinite_total = tf.Variable(0, dtype=tf.int64, trainable=False,
                                           name="nonfinite_total")
        self.train_time = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_time")


class _VariableList(tf.Module):
    """A fixed, ordered list of variables (Keras variables are saved through their tf.Variable)."""

    def __init__(self, variables, name):
        super().__init__(name=name)
        self.variables_list = [getattr(v, "value", v) if not isinstance(v, tf.Variable) else v
                               for v in variables]


def make_checkpoint(G, D, Gs, G_opt, D_opt, state: TrainState, extra=None) -> tf.train.Checkpoint:
    """The checkpoint object of a run. `extra`: optional {name: [variables]} (e.g. loss scales)."""
    items = dict(
        G=_VariableList(G.weights, "G"),
        D=_VariableList(D.weights, "D"),
        Gs=_VariableList(Gs.weights, "Gs"),
        G_opt=_VariableList(G_opt.variables, "G_opt"),
        D_opt=_VariableList(D_opt.variables, "D_opt"),
        state=state,
    )
    for name, variables in (extra or {}).items():
        items[name] = _VariableList(variables, name)
    return tf.train.Checkpoint(**items)


def latest_checkpoint(path: str) -> str:
    """The checkpoint prefix to resume from: `path` is a run directory, its `checkpoints/`
    directory, or a checkpoint prefix (`.../ckpt-12`).

    Raises:
        UserError: naming `path`, when it holds no checkpoint.
    """
    path = os.fspath(path)
    for directory in (os.path.join(path, "checkpoints"), path):
        if os.path.isdir(directory):
            prefix = tf.train.latest_checkpoint(directory)
            if prefix:
                return prefix
    if os.path.isfile(path + ".index"):
        return path
    raise UserError(f"no training checkpoint found at {path} (expected a run directory "
                    f"with checkpoints/, or a checkpoint prefix). Received: resume={path}")
