"""Stopping a run cleanly when the machine is about to go away.

Cloud spot and preemptible instances send SIGTERM about 30 seconds before they stop; cluster
schedulers (Slurm, Kubernetes) send SIGTERM at the end of a time limit or on eviction, some of
them SIGUSR1 earlier as a warning; a person presses Ctrl+C (SIGINT). While a run trains, each of
these only sets a flag (`StopSignals`): the step in flight finishes, the loop writes a
checkpoint and returns, and the command exits with `EXIT_STOPPED` (75, `EX_TEMPFAIL` of
sysexits.h: try again later), which a job script can use to requeue the job. A second signal
while the checkpoint is written changes nothing (the write is atomic either way); the
checkpoint's index is replaced only when its data is complete.

Under `MultiWorkerMirroredStrategy` a signal may reach one worker only, or the workers at
different steps: `StopAgreement` all-reduces the workers' flags at the loop's schedule points,
so that every worker stops after the same step and writes the same checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import tensorflow as tf

__all__ = ["EXIT_STOPPED", "STOP_SIGNALS", "StopAgreement", "StopSignals", "TrainingStopped"]

EXIT_STOPPED = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class TrainingStopped(Exception):
    """A stop signal ended a run after its checkpoint was written (not an error: the command
    exits with `EXIT_STOPPED`).

    Attributes:
        run_dir: the run directory to resume (None on a worker that writes none).
        signal_name: the signal ("SIGTERM", ...).
    """

    def __init__(self, run_dir, signal_name):
        super().__init__(f"stopped by {signal_name}; resume with --resume {run_dir}")
        self.run_dir = run_dir
        self.signal_name = signal_name


class StopSignals(contextlib.AbstractContextManager):
    """Within the context, SIGTERM, SIGINT and SIGUSR1 set `requested` (and `name`, the first
    signal's name) instead of ending the process; the previous handlers come back on exit.

    Signal handlers can only be installed from the main thread: elsewhere (a test driving the
    trainer from a worker thread) the context installs nothing and `request` is the only way
    to stop.

    Args:
        log: callable(str) told about each signal.
    """

    def __init__(self, log=print):
        self.log = log
        self.requested = False
        self.name = None
        self._previous = {}

    def request(self, name: str = "a stop request"):
        """Asks the run to stop after the current step (what a signal does)."""
        if self.requested:
            self.log(f"{name} received again: already stopping, the checkpoint is being "
                     f"written; the run exits when it is complete.")
            return
        self.requested = True
        self.name = name
        self.log(f"{name} received: finishing the current step, then writing a checkpoint "
                 f"and exiting.")

    def _handler(self, signum, frame):
        self.request(signal.Signals(signum).name)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
            # A process may start with these signals blocked (inherited from its parent).
            signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))
        return self

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        return False


class StopAgreement:
    """What the workers of a multi-worker run decide together at each group of steps: whether
    to stop (any worker got a signal) and whether to write a clock checkpoint (any worker's
    clock says it is due; clocks differ between machines, and under MultiWorkerMirroredStrategy
    every worker takes part in a save). Each worker's two flags are summed over the workers by
    the strategy; every worker must call `decide` at the same steps (the loop does, between
    groups of steps). With one worker it returns the flags as they are and costs nothing.

    Args:
        strategy: the run's tf.distribute.Strategy.
        num_workers: worker processes (`training.distribute.num_workers`).
    """

    def __init__(self, strategy, num_workers: int):
        self.strategy = strategy
        self.num_workers = int(num_workers)
        self._flags = None
        self._reduce = None
        if self.num_workers > 1:
            with strategy.scope():
                # Each worker's own [stop, checkpoint], never synchronized on write.
                self._flags = tf.Variable([0, 0], dtype=tf.int32, trainable=False,
                                          synchronization=tf.VariableSynchronization.ON_READ,
                                          aggregation=tf.VariableAggregation.SUM)

            @tf.function
            def reduce():
                per_replica = strategy.run(lambda: tf.identity(self._flags))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

            self._reduce = reduce

    def decide(self, stop: bool, checkpoint: bool = False) -> tuple[bool, bool]:
        """(any worker asks to stop, any worker's checkpoint is due), from this worker's."""
        if self.num_workers <= 1:
            return bool(stop), bool(checkpoint)
        for replica_value in self.strategy.experimental_local_results(self._flags):
            replica_value.assign([int(bool(stop)), int(bool(checkpoint))])
        totals = self._reduce().numpy()
        return bool(totals[0] > 0), bool(totals[1] > 0)
