"""Resumable training checkpoints: G, D, Gs, both Adams, the run's counters, the loss scales,
the losses' own state (StyleGAN2's path-length mean) and the bookkeeping of the tick in progress
(the step statistics summed so far, the skipped-step streak, the data pipeline's origin), so that
a checkpoint taken in the middle of a tick resumes as if the run had never stopped.

A `tf.train.Checkpoint` under `<run_dir>/checkpoints/` managed by a `tf.train.CheckpointManager`
(max_to_keep=2). TensorFlow writes the data files first and then replaces the `checkpoint` index
file atomically, so a process killed during a save leaves the previous checkpoint as the latest
valid one.

Every value is stored under a name that says what it is, never a position: `G/mapping/dense0/
weight`, `D_opt/m/conv4x4/bias` (Adam's first moment of that weight), `state/cur_nimg`,
`loss_scale/G/scale`, `losses/pl_mean`. Restoring is strict (`RunCheckpoint.restore`): a checkpoint
that lacks a value this run has, holds one it does not have (another network), or has a different
shape fails with an error naming the checkpoint and the first differences, before anything is
assigned.

The RNG needs no generator state: every random draw of a step is stateless, seeded by
`(run_seed, step)`, and the data pipeline's stream is a function of the run seed and the image
count at which the pipeline was created (`data_start_nimg`): a resumed run recreates it and skips
the images it has already shown (`data.reader.TFRecordDataset.iterate`, `start`).

Values added to the format later are optional on restore (`OPTIONAL`): a checkpoint written
before them (always at a tick boundary) restores with their initial values, which are what they
held there.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tf_stylegan.errors import UserError

from .trained_networks import optimizer_variables, variables_by_name

__all__ = ["OPTIONAL", "RunCheckpoint", "TrainState", "checkpoint_values", "latest_checkpoint"]

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Values a checkpoint may lack (added to the format later; see the module docstring): the
# tick-in-progress bookkeeping and the data pipeline's origin.
OPTIONAL = ("state/tick_seconds", "state/data_start_nimg", "state/data_key",
            "step/consecutive_bad", "totals/")
# Written by tf.train.Checkpoint itself, not by the run.
_BOOKKEEPING = ("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")


class TrainState(tf.Module):
    """Counters of a run, as variables so they live in the checkpoint.

    Attributes (tf.Variable):
        cur_nimg: real images shown to D so far (the official `cur_nimg`).
        step: training steps (minibatches) done; seeds the stateless RNG and, for StyleGAN2,
            says which steps run the lazy regularization (those with step % interval == 0),
            so a resumed run keeps its regularization cadence.
        tick, tick_start_nimg: tick counter and the image count at which the current tick began.
        lod_key: [floor(lod), ceil(lod)] the optimizers were last reset for ([-1, -1]: never).
        run_seed: the run seed.
        nonfinite_total: steps skipped because of non-finite losses or gradients.
        train_time: seconds spent training (summed over resumes).
        tick_seconds: seconds spent in the current tick before the checkpoint (0 at a tick
            boundary), so that a tick cut by a stop reports its whole duration.
        data_start_nimg, data_key: the image count at which the current data pipeline was
            created and its [resolution, global minibatch] ([-1, -1]: none yet).
    """

    NAMES = ("cur_nimg", "step", "tick", "tick_start_nimg", "lod_key", "run_seed",
             "nonfinite_total", "train_time", "tick_seconds", "data_start_nimg", "data_key")

    def __init__(self, run_seed: int = 0):
        super().__init__(name="train_state")
        int64 = dict(dtype=tf.int64, trainable=False)
        self.cur_nimg = tf.Variable(0, name="cur_nimg", **int64)
        self.step = tf.Variable(0, name="step", **int64)
        self.tick = tf.Variable(0, name="tick", **int64)
        self.tick_start_nimg = tf.Variable(0, name="tick_start_nimg", **int64)
        self.lod_key = tf.Variable([-1, -1], name="lod_key", **int64)
        self.run_seed = tf.Variable(int(run_seed), name="run_seed", **int64)
        self.nonfinite_total = tf.Variable(0, name="nonfinite_total", **int64)
        self.train_time = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_time")
        self.tick_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                        name="tick_seconds")
        self.data_start_nimg = tf.Variable(0, name="data_start_nimg", **int64)
        self.data_key = tf.Variable([-1, -1], name="data_key", **int64)

    def by_name(self) -> dict[str, tf.Variable]:
        return {name: getattr(self, name) for name in self.NAMES}


def _tf_variable(v):
    # A Keras variable wraps the tf.Variable that a tf.train.Checkpoint can save.
    return v if isinstance(v, tf.Variable) else v.value


def checkpoint_values(networks, state: TrainState, loss_scale, losses_state=None,
                      totals=None, consecutive_bad=None) -> dict[str, tf.Variable]:
    """Everything a checkpoint holds, keyed by the name it is stored under.

    Args:
        networks: training.trained_networks.Networks (G, D, Gs, G_opt, D_opt).
        state: TrainState.
        loss_scale: training.step.DynamicLossScale (saved even when unused, so a run can be
            resumed with another precision).
        losses_state: {name: tf.Variable} of the losses object (`variables_by_name()`; StyleGAN2:
            `pl_mean`, a per-replica variable, saved as the mean of the replicas' values).
        totals: training.step.StepTotals, the step statistics summed since the tick began.
        consecutive_bad: the step's int64 streak of skipped steps.
    """
    groups = {
        "G": variables_by_name(networks.G),
        "D": variables_by_name(networks.D),
        "Gs": variables_by_name(networks.Gs),
        "G_opt": optimizer_variables(networks.G_opt, networks.G),
        "D_opt": optimizer_variables(networks.D_opt, networks.D),
        "state": state.by_name(),
        "loss_scale": loss_scale.by_name(),
        "losses": dict(losses_state or {}),
        "totals": totals.by_name() if totals is not None else {},
        "step": {"consecutive_bad": consecutive_bad} if consecutive_bad is not None else {},
    }
    return {f"{group}/{name}": _tf_variable(v)
            for group, values in groups.items() for name, v in values.items()}


def _nest(flat: dict) -> dict:
    """{"a/b/c": v} -> {"a": {"b": {"c": v}}}: nested dicts become the checkpoint's object
    graph, so each value is saved under its name."""
    root = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = root
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return root


class RunCheckpoint:
    """The tf.train.Checkpoint of a run's `checkpoint_values`, restored strictly.

    Attributes:
        values: {name: tf.Variable}, what is saved.
        checkpoint: the tf.train.Checkpoint (for a tf.train.CheckpointManager).
    """

    def __init__(self, values: dict[str, tf.Variable]):
        self.values = dict(values)
        self.checkpoint = tf.train.Checkpoint(**_nest(self.values))

    def save(self, prefix: str) -> str:
        """Writes a checkpoint at `prefix-N` (N counts the saves) and returns its prefix."""
        return self.checkpoint.save(os.fspath(prefix))

    def restore(self, prefix: str) -> None:
        """Restores every value from the checkpoint at `prefix`, or raises a UserError naming
        `prefix` and what differs, having changed nothing.

        Names and shapes are compared first; TensorFlow's `assert_consumed` then confirms that
        every stored value was matched and every variable of the run restored. `OPTIONAL`
        values the checkpoint lacks keep their current values.

        Returns:
            The names of the optional values the checkpoint lacked.
        """
        prefix = os.fspath(prefix)
        try:
            stored = {name[:-len(_SUFFIX)]: shape
                      for name, shape in tf.train.list_variables(prefix)
                      if name.endswith(_SUFFIX) and name.split("/")[0] not in _BOOKKEEPING}
        except (tf.errors.OpError, ValueError) as e:
            raise UserError(f"{prefix}: cannot read the checkpoint "
                            f"({str(e).strip().splitlines()[0]})") from None
        absent = {name for name in set(self.values) - set(stored)
                  if name.startswith(OPTIONAL)}
        problems = [f"missing {name}"
                    for name in sorted(set(self.values) - set(stored) - absent)]
        problems += [f"unexpected {name}" for name in sorted(set(stored) - set(self.values))]
        problems += [f"{name} has shape {list(stored[name])}, this run {list(v.shape)}"
                     for name, v in sorted(self.values.items())
                     if name in stored and list(stored[name]) != list(v.shape)]
        if problems:
            shown = "; ".join(problems[:4])
            if len(problems) > 4:
                shown += f"; and {len(problems) - 4} more"
            raise UserError(f"{prefix}: the checkpoint does not match this run's networks, "
                            f"optimizers and counters ({len(problems)} differences: {shown}); "
                            f"it was written for another network or by another program.")
        checkpoint = self.checkpoint
        if absent:
            checkpoint = tf.train.Checkpoint(**_nest(
                {name: v for name, v in self.values.items() if name not in absent}))
        checkpoint.restore(prefix).assert_consumed()
        return sorted(absent)


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
