"""The training tick loop of StyleGAN and StyleGAN2 (official `training/training_loop.py`,
`training_loop()`, of NVlabs/stylegan and NVlabs/stylegan2).

Every `minibatch_repeats` (4) steps the schedule (`training/schedule.py`) is evaluated at the
images shown so far: it sets the level, the fade-in alpha, the global minibatch and the learning
rates, and Adam is reset whenever `Schedule.lod_key` changes (official `reset_opt_for_new_lod`;
StyleGAN2 does not grow, its lod stays 0). Steps (`training/step.py`) run until the tick's kimg is
reached, each with the lazy regularization phases its index calls for (StyleGAN2); at each tick
boundary (the only host syncs) `training/tick_report.py` reports the tick (the status line,
stats.jsonl, the event file, image grids, network snapshots and metrics), and the loop writes a
resumable checkpoint every `checkpoint_ticks`. More than `max_nonfinite_steps` consecutive
skipped steps stop the run (`NonFiniteError`), keeping the last good checkpoint.

All randomness is stateless: a step is seeded by (run seed, step), the data order by (run seed,
image count at which the pipeline was created), so a run is reproducible from its checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time

import tensorflow as tf

from data.reader import TFRecordDataset
from tf_stylegan.errors import UserError
from tf_stylegan.snapshot import load_snapshot, save_snapshot

from .checkpoint import RunCheckpoint, TrainState, checkpoint_values, latest_checkpoint
from .distribute import is_chief, make_strategy, num_workers
from .precision import check_xla, resolve
from .preemption import StopAgreement, StopSignals
from .run_dir import RunDir
from .schedule import schedule_table, training_schedule
from .step import TrainStep
from .stylegan2_losses import StyleGAN2Losses
from .stylegan_losses import StyleGANLosses
from .tick_report import TickReporter
from .trained_networks import Networks
from .training_config import TrainingConfig
from .transfer_learning import frozen_variables, start_from_network

__all__ = ["LOSSES", "NonFiniteError", "Trainer"]

# The losses objects by name (`TrainingConfig.losses`, by default `NetworkFamily.losses`).
LOSSES = {"stylegan": StyleGANLosses, "stylegan2": StyleGAN2Losses}


class NonFiniteError(RuntimeError):
    """Too many consecutive training steps had non-finite losses or gradients."""


class Trainer:
    """One training run: its networks, step, data pipeline, counters and run directory.

    Args:
        cfg: TrainingConfig.
        strategy: tf.distribute.Strategy or None (chosen from `cfg.gpus` / TF_CONFIG).
        dataset: TFRecordDataset or None (opened from `cfg.dataset_dir`).
        run_dir: path or None. Where files are written (None: nothing is written; for tests).
            Only the chief worker writes.
        progress: bool. Progress within each tick (tf_stylegan.progress: a bar on a terminal,
            a plain line at most once a minute in a log file).
        log: callable(str) for status lines.

    Attributes:
        networks: training.trained_networks.Networks (G, D, Gs, G_opt, D_opt).
        step: training.step.TrainStep (the traced steps, their statistics and loss scales).
        state: training.checkpoint.TrainState (counters, saved in checkpoints).
        nimg: int. Images shown so far, the host's copy of `state.cur_nimg` (synced at ticks).
        run_dir: training.run_dir.RunDir or None.

    Use `train()` for a full run, or `run_steps(n)` to run n steps.
    """

    def __init__(self, cfg: TrainingConfig, *, strategy=None, dataset=None, run_dir=None,
                 progress=True, log=print):
        self.cfg = cfg
        self.strategy = strategy or make_strategy(cfg.gpus)
        self.num_replicas = int(self.strategy.num_replicas_in_sync)
        self.dataset = dataset or TFRecordDataset(cfg.dataset_dir, resolution=cfg.resolution)
        ds = self.dataset
        self.net_cfg = cfg.network_config(ds.resolution, ds.num_channels, ds.label_size)
        self.sched_cfg = cfg.schedule_config(self.num_replicas)
        self.chief = is_chief(self.strategy)
        self.run_dir = RunDir(run_dir) if run_dir is not None and self.chief else None
        self.progress = progress
        self.log = log

        self._check_passes()
        check_xla(resolve(cfg.mixed_precision), cfg.xla)

        self.networks = Networks.build(cfg, self.net_cfg, self.strategy)
        self.state = TrainState(cfg.seed)
        losses = LOSSES[cfg.training_losses](cfg, self.networks, ds.labels, self.strategy)
        self.losses = losses
        self.step = TrainStep(self.networks, losses, self.strategy, self.state,
                              G_smoothing_kimg=cfg.G_smoothing_kimg,
                              G_smoothing_rampup=cfg.G_smoothing_rampup, xla=cfg.xla,
                              frozen=frozen_variables(self.networks.D, cfg.D_freeze_layers))
        self.checkpoint = RunCheckpoint(
            checkpoint_values(self.networks, self.state, self.step.loss_scale,
                              losses.variables_by_name(), self.step.totals,
                              self.step.consecutive_bad))
        self.manager = None
        directory = self.run_dir.checkpoints if self.run_dir is not None else None
        if directory is None and num_workers(self.strategy) > 1:
            # Under MultiWorkerMirroredStrategy every worker takes part in a save (variables
            # synchronized on read are all-reduced as they are saved); the chief writes the
            # run's checkpoints, the others a throwaway copy.
            self._scratch = tempfile.TemporaryDirectory(prefix="tf-stylegan-worker-checkpoint-")
            directory = self._scratch.name
        if directory is not None:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint.checkpoint, directory, max_to_keep=2, checkpoint_name="ckpt")

        self._iter = None
        self._iter_key = None
        self._metric_opts = self.check_metrics(cfg)
        self.stopped_by = None  # the signal that stopped `train`, if one did
        self._sync_host_counters()

    def _check_passes(self):
        """StyleGAN2: at every level the global minibatch must split into equal passes of
        that level's `minibatch_gpu` on every replica (official: minibatch_size %
        (minibatch_gpu * num_gpus) == 0)."""
        rows = schedule_table(self.net_cfg.resolution, self.sched_cfg, self.cfg.total_kimg)
        for s in rows:
            mb_gpu = self.cfg.minibatch_gpu_at(s.resolution)
            if mb_gpu is None:
                continue
            minibatch = s.minibatch
            if minibatch % (mb_gpu * self.num_replicas):
                raise UserError(
                    f"the global minibatch {minibatch} at {s.resolution}x{s.resolution} does "
                    f"not split into passes of minibatch_gpu={mb_gpu} on {self.num_replicas} "
                    f"replica(s); use a replica count that divides {minibatch // mb_gpu} or "
                    f"another minibatch_gpu.")

    @staticmethod
    def check_metrics(cfg):
        """The metric options of `cfg` (a dict of `metrics.registry.MetricOptions` fields, or
        None without metrics), its metric names and options checked now rather than after hours
        of training (UserError)."""
        if not cfg.metrics:
            return None
        from metrics import registry

        for name in cfg.metrics:
            registry.get_metric(name)  # unknown names fail here
        fields = {f.name for f in dataclasses.fields(registry.MetricOptions)}
        unknown = sorted(set(cfg.metric_options) - fields)
        if unknown:
            raise UserError(f"Unknown metric_options keys. Received: {unknown}")
        return dict(cfg.metric_options)

    # -- Counters ---------------------------------------------------------------------------------
    # The image and step counts live on the host between ticks (reading a variable every step
    # would sync the device); the checkpointed variables are updated before each checkpoint.
    def _sync_host_counters(self):
        self.nimg = int(self.state.cur_nimg.numpy())
        self._step_count = int(self.state.step.numpy())
        self._seed = int(self.state.run_seed.numpy())
        self._lod_key = tuple(int(k) for k in self.state.lod_key.numpy())
        self._data_start = (int(self.state.data_start_nimg.numpy()),
                            tuple(int(k) for k in self.state.data_key.numpy()))

    def _flush_host_counters(self):
        self.state.cur_nimg.assign(self.nimg)
        self.state.step.assign(self._step_count)

    # -- Schedule and data ------------------------------------------------------------------------
    def schedule(self, nimg=None):
        """The schedule at `nimg` images shown (default: now)."""
        nimg = self.nimg if nimg is None else nimg
        return training_schedule(nimg, self.net_cfg.resolution, self.sched_cfg)

    def _make_iterator(self, resolution, global_batch, start_nimg):
        """The distributed data pipeline created at `start_nimg` images shown, positioned at
        the current image: its stream depends on the run seed and `start_nimg` only, so a run
        resumed after `start_nimg` sees the images the uninterrupted run sees."""
        seed = int((self._seed * 1000003 + start_nimg) % (2**31 - 1))
        shown = self.nimg - start_nimg

        def dataset_fn(ctx):
            return self.dataset.iterate(resolution, global_batch, shuffle=True, repeat=True,
                                        mirror=self.cfg.mirror, seed=seed, input_context=ctx,
                                        start=shown // ctx.num_input_pipelines)

        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def apply_schedule(self, sched):
        """Applies a schedule evaluation (optimizer reset, learning rates, data pipeline)."""
        key = tuple(int(k) for k in sched.lod_key)
        if key != self._lod_key:
            if self.cfg.reset_opt_for_new_lod and self._lod_key[0] >= 0:
                self.networks.reset_optimizers()
            self.state.lod_key.assign(key)
            self._lod_key = key
        self.networks.set_learning_rates(sched.G_lrate, sched.D_lrate)
        key = (sched.resolution, sched.minibatch)
        if self._iter_key != key:
            # The pipeline of this level, created now, or where the checkpoint's was.
            start_nimg, start_key = self._data_start
            if start_key != key:
                start_nimg = self.nimg
                self._data_start = (start_nimg, key)
                self.state.data_start_nimg.assign(start_nimg)
                self.state.data_key.assign(key)
            self._iter = self._make_iterator(sched.resolution, sched.minibatch, start_nimg)
            self._iter_key = key

    def _run_one(self, sched, alpha):
        try:
            reals, labels = next(self._iter)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            # tf.data's message names no file: name it, and the command that checks every record.
            path = self.dataset.level_file(sched.resolution)
            raise UserError(
                f"{path}: corrupt record ({e.message.splitlines()[0]}); run `python "
                f"dataset_tool.py info --verify {self.dataset.tfrecord_dir}` to check the dataset"
            ) from None
        seed = tf.constant([self._seed % (2**31 - 1), self._step_count % (2**31 - 1)], tf.int32)
        # The step's variant: the lazy regularization phases due at this step (StyleGAN2).
        step_fn = self.step.function(sched.resolution, sched.minibatch,
                                     self.step.variant(self._step_count))
        self.step.set_images_shown(self.nimg, sched.minibatch)  # a ramped-up Gs half-life
        stats = step_fn(reals, labels, alpha, seed)
        self._step_count += 1
        self.nimg += sched.minibatch
        return stats

    def run_steps(self, num_steps):
        """Runs `num_steps` training steps following the schedule (no ticks, no files).

        Returns the statistics of each step, [{name: scalar tensor}] (global means).
        """
        self._sync_host_counters()
        out = []
        while len(out) < num_steps:
            sched = self.schedule()
            self.apply_schedule(sched)
            alpha = tf.constant(sched.alpha, tf.float32)
            for _ in range(min(self.cfg.minibatch_repeats, num_steps - len(out))):
                out.append(self._run_one(sched, alpha))
        self._flush_host_counters()
        self._check_nonfinite()
        return out

    def _check_nonfinite(self):
        consec = int(self.step.consecutive_bad.numpy())
        if consec > self.cfg.max_nonfinite_steps:
            where = f" in {self.run_dir.checkpoints}" if self.run_dir else ""
            raise NonFiniteError(
                f"{consec} consecutive training steps had non-finite losses or gradients (limit "
                f"max_nonfinite_steps={self.cfg.max_nonfinite_steps}) at kimg "
                f"{self.nimg / 1000:.1f}; stopping. The last good checkpoint is kept{where}; try a "
                f"lower learning rate.")

    # -- Checkpoints and snapshots ----------------------------------------------------------------
    def save_checkpoint(self, prefix) -> str:
        """Writes a resumable checkpoint at `prefix-N` (see `training/checkpoint.py`); returns
        its prefix. The run directory's checkpoints are written by `train`."""
        self._flush_host_counters()
        return self.checkpoint.save(prefix)

    def restore(self, path) -> str:
        """Restores networks, optimizers, counters and loss scales from a checkpoint (a run
        directory, its checkpoints directory or a prefix); returns the prefix. Fails with a
        UserError, changing nothing, when the checkpoint is not of this run's networks."""
        prefix = latest_checkpoint(path)
        self.checkpoint.restore(prefix)
        self.step.forget_functions()
        self._sync_host_counters()
        self._iter_key = None
        return prefix

    def load_snapshot_weights(self, path):
        """Starts from the networks of a snapshot (official `resume_snapshot`): G, D and Gs
        weights and the image count from its metadata (official `resume_kimg`); the optimizers
        start fresh, as in the official resume."""
        G, D, Gs, info = load_snapshot(path, with_info=True)
        if G.config != self.net_cfg:
            diff = sorted(k for k, v in G.config.to_dict().items()
                          if self.net_cfg.to_dict().get(k) != v)
            raise UserError(f"{path}: snapshot network config differs from this run's in "
                            f"{diff}; cannot resume from it.")
        self.networks.copy_weights_from(G, D, Gs)
        self.step.forget_functions()
        meta = info.get("metadata", {})
        self.state.cur_nimg.assign(int(round(float(meta.get("kimg", 0.0)) * 1000)))
        self.state.step.assign(int(meta.get("step", 0)))
        self._sync_host_counters()
        self._iter_key = None

    def save_snapshot(self, path):
        """Writes G, D, Gs with their current level of detail (the official networks carry
        their `lod` variable): a snapshot taken at 16x16 of a 32x32 run renders 16x16 images,
        nearest-upscaled, wherever it is loaded. The metadata records the level and fade."""
        n, sched = self.networks, self.schedule()
        for net in (n.G, n.Gs):
            net.lod = sched.lod  # training calls name their level; only defaults change
        save_snapshot(path, n.G, n.D, n.Gs, metadata={
            "kimg": self.nimg / 1000.0, "step": self._step_count,
            "lod": sched.lod, "resolution": sched.resolution, "alpha": sched.alpha,
            "training_config": self.cfg.to_dict(), **self.losses.snapshot_metadata(),
        })

    def evaluate_metrics(self, snapshot_path):
        """Runs `cfg.metrics` on Gs (official: fid50k at every network snapshot). A failing
        metric is reported and training continues."""
        if not self.cfg.metrics:
            return
        from metrics import registry

        for name in self.cfg.metrics:
            opts = registry.MetricOptions(**{
                "run_dir": self.run_dir.path if self.run_dir else None,
                "dataset_dir": self.dataset.tfrecord_dir, "mirror": self.cfg.mirror,
                "progress": False, "snapshot": os.path.basename(snapshot_path),
                "kimg": self.nimg / 1000.0, **self._metric_opts})
            try:
                record = registry.evaluate(name, self.networks.Gs, opts)
                self.log(f"{name} {record['results']} ({record['seconds']:.1f} s)")
            except Exception as e:  # a metric must not end hours of training
                self.log(f"{name} failed at kimg {self.nimg / 1000:.1f}: "
                         f"{type(e).__name__}: {e}")

    # -- The run ----------------------------------------------------------------------------------
    def save_run_checkpoint(self, tick_seconds=0.0) -> str | None:
        """Writes the run directory's next checkpoint (the chief's; the other workers of a
        multi-worker run write a throwaway copy, as every worker takes part in a save; None in a
        single-process run without a run directory), with the counters and the seconds spent in
        the current tick; the oldest beyond two is pruned
        only once the new one is complete. A full disk or an unwritable directory is a
        UserError naming the directory; the previous checkpoint stays the latest."""
        self._flush_host_counters()
        self.state.tick_seconds.assign(tick_seconds)
        if self.manager is None:
            return None
        try:
            return self.manager.save(checkpoint_number=self._step_count)
        except (tf.errors.OpError, OSError) as e:
            reason = e.message if isinstance(e, tf.errors.OpError) else str(e)
            kept = self.manager.latest_checkpoint
            raise UserError(
                f"{self.manager.directory}: cannot write the checkpoint of step "
                f"{self._step_count} ({reason.strip().splitlines()[0]}); "
                + (f"the previous one, {kept}, is kept." if kept else "no earlier checkpoint.")
            ) from None

    def train(self, resume=None, snapshot=None, stop=None):
        """Runs (or continues) training to `cfg.total_kimg`, writing the run directory.

        A stop request (SIGTERM, SIGINT, SIGUSR1: `training.preemption`) ends the run after the
        current group of `minibatch_repeats` steps, with a checkpoint: `stopped_by` then names
        the signal. Besides the tick boundaries, a checkpoint is written every
        `cfg.checkpoint_minutes` of training.

        Args:
            resume: checkpoint to continue from (run dir, checkpoints dir or prefix), or None.
            snapshot: a network to transfer from instead (`training/transfer_learning.py`: its
                weights; kimg, optimizers and augmentation start fresh).
            stop: a `training.preemption.StopSignals` to use instead of installing one (tests).
        """
        if snapshot:
            start_from_network(self, snapshot, self.log)
        if resume:
            prefix = self.restore(resume)
            # The losses' own state (StyleGAN2: the path-length mean) as restored.
            restored = "".join(f", {name} {float(v.numpy()):.8g}"
                               for name, v in self.losses.variables_by_name().items())
            if restored:
                restored = f"; step {self._step_count}{restored}"
            self.log(f"Resumed from {prefix} at kimg {self.nimg / 1000:.1f} (tick "
                     f"{int(self.state.tick.numpy())}, lod_key {list(self._lod_key)}){restored}")
        self._sync_host_counters()
        reporter = TickReporter(self)
        reporter.begin(resumed=bool(resume))
        agreement = StopAgreement(self.strategy, num_workers(self.strategy))
        with contextlib.ExitStack() as stack:
            signals = stop if stop is not None else stack.enter_context(StopSignals(self.log))
            self._train_loop(reporter, agreement, signals, resumed=bool(resume))
        if self.stopped_by is None:
            reporter.end()
        return self

    def _train_loop(self, reporter, agreement, signals, resumed):
        cfg = self.cfg
        total_nimg = int(round(cfg.total_kimg * 1000))
        start_time = time.time()
        train_time0 = float(self.state.train_time.numpy())
        tick_start_time = start_time - float(self.state.tick_seconds.numpy())
        if resumed:
            tick_start_nimg = int(self.state.tick_start_nimg.numpy())
        else:
            tick_start_nimg = self.nimg
            self.state.tick_start_nimg.assign(tick_start_nimg)
        clock = cfg.checkpoint_minutes * 60.0
        last_checkpoint = time.time()
        saved_nimg = self.nimg  # where the latest checkpoint is (or the start)
        bar = None
        done = self.nimg >= total_nimg
        while not done:
            # Between groups of steps (and before the first: a signal during start-up), a
            # stop request ends the run and the clock may call for a checkpoint; every worker
            # decides here, at the same step, together with the others.
            now = time.time()
            due = bool(clock) and now - last_checkpoint >= clock and self.nimg != saved_nimg
            stop, due = agreement.decide(signals.requested, due)
            if stop:
                if bar is not None:
                    bar.close()
                self._stop(signals, saved_nimg, now - tick_start_time)
                return
            if due:
                self._check_nonfinite()
                self.save_run_checkpoint(tick_seconds=now - tick_start_time)
                last_checkpoint, saved_nimg = time.time(), self.nimg
            sched = self.schedule()
            self.apply_schedule(sched)
            alpha = tf.constant(sched.alpha, tf.float32)
            if bar is None and self.progress:
                from tf_stylegan.progress import Progress

                # Off a terminal the tick's status line closes it: no summary line.
                bar = Progress(int(sched.tick_kimg * 1000),
                               f"tick {int(self.state.tick.numpy()) + 1}", "img", leave=False,
                               summary=False)
            # The schedule holds for `minibatch_repeats` steps: stops and checkpoints come
            # between such groups only, so a resumed run evaluates it where this one does.
            for _ in range(cfg.minibatch_repeats):
                self._run_one(sched, alpha)
                if bar is not None:
                    bar.update(sched.minibatch)
            done = self.nimg >= total_nimg
            now = time.time()
            self.state.train_time.assign(train_time0 + now - start_time)
            if self.nimg >= tick_start_nimg + sched.tick_kimg * 1000 or done:
                # ---- Tick boundary: the host syncs. ----
                if bar is not None:
                    bar.close()
                    bar = None
                self._flush_host_counters()
                self._check_nonfinite()
                tick = int(self.state.tick.numpy()) + 1
                self.state.tick.assign(tick)
                reporter.tick(tick, sched, now - tick_start_time,
                              (self.nimg - tick_start_nimg) / 1000.0, done)
                tick_start_nimg = self.nimg
                self.state.tick_start_nimg.assign(tick_start_nimg)
                if tick % cfg.checkpoint_ticks == 0 or done:
                    self.save_run_checkpoint()
                    last_checkpoint, saved_nimg = time.time(), self.nimg
                tick_start_time = time.time()

    def _stop(self, signals, saved_nimg, tick_seconds):
        """Ends the run after a stop request: a checkpoint of where it is (mid-tick included)
        unless the latest one is already there, and a line saying where it stopped and how to
        continue."""
        began = time.time()
        self._check_nonfinite()
        wrote = self.nimg != saved_nimg
        if wrote:
            prefix = self.save_run_checkpoint(tick_seconds=tick_seconds)
        else:
            prefix = self.manager.latest_checkpoint if self.manager is not None else None
        self.stopped_by = signals.name or "a stop request"
        where = ""
        if prefix and self.run_dir is not None:
            where = f"; checkpoint {prefix}" + (
                f" written in {time.time() - began:.1f} s" if wrote else " (already written)")
        self.log(f"Stopped by {self.stopped_by} at kimg {self.nimg / 1000:.3f} (step "
                 f"{self._step_count}, tick {int(self.state.tick.numpy()) + 1} in progress)"
                 f"{where}. Continue with --resume "
                 f"{self.run_dir.path if self.run_dir is not None else 'RUN_DIR'} (or "
                 f"--resume auto).")
