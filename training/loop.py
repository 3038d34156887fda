"""The StyleGAN training loop (official `training/training_loop.py`) as a custom tf.distribute loop.

Per step, in the official order (reference section 3.3):
  1. D update: `D_logistic_r1` (or `D_wgan_gp`) on a real minibatch processed as the official
     `process_reals` does ([-1, 1], mirror in the reader, LOD fade-in with the 2x2 box-filtered
     copy) and fakes from G with `training=True` (style mixing, dlatent_avg update), with the
     reals' labels. R1 is rescaled by `r1_scale_for(level, full)` because our D runs at the
     level's resolution instead of on nearest-upscaled full-resolution images.
  2. Gs update: trainables lerped toward G with `beta = 0.5 ** (minibatch / (G_smoothing_kimg *
     1000))` (10-kimg half-life), non-trainables (dlatent_avg, noise buffers) copied.
  3. G update: non-saturating logistic (or WGAN) loss with random rows of the dataset labels.
The schedule (`training/schedule.py`) is evaluated every `minibatch_repeats` (4) steps; Adam state
is reset whenever `Schedule.lod_key` changes. One tf.function is traced per resolution level
(the fade-in alpha and the seed are tensor arguments, the learning rates optimizer variables),
so a step costs what its level costs and nothing is retraced inside a level.

Distribution: each replica computes its loss as `sum(per-sample loss) / global_batch` (Keras 3
sums the replicas' gradients in `apply`). A step with a non-finite loss or gradient on any replica
is skipped by every replica (the flag is all-reduced before the update); more than
`max_nonfinite_steps` consecutive skips stop the run (checked at tick boundaries, the only host
syncs), keeping the last good checkpoint. All randomness is stateless, seeded by (run seed, step),
and latents/label rows are drawn for the global batch and sliced per replica, so a run on N
replicas sees the same latents as one on a single device.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import resource
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

import tf_stylegan as sg
from data.reader import TFRecordDataset
from tf_stylegan import rng
from tf_stylegan.errors import UserError
from tf_stylegan.layers import downscale2d, upscale2d
from tf_stylegan.snapshot import save_snapshot

from . import losses
from .checkpoint import TrainState, latest_checkpoint, make_checkpoint
from .config import TrainingConfig
from .distribute import is_chief, make_strategy
from .run_dir import append_jsonl, plot_training_curves, read_jsonl, save_image_grid
from .schedule import schedule_table, training_schedule

__all__ = ["NonFiniteError", "Trainer", "describe", "process_reals", "run", "train"]

_SUM = tf.distribute.ReduceOp.SUM
# Statistics accumulated on device between ticks (means over the steps of the tick).
STAT_NAMES = ("Loss/D", "Loss/scores/real", "Loss/scores/fake", "Loss/r1_penalty",
              "Loss/gradient_penalty", "Loss/G")


class NonFiniteError(RuntimeError):
    """Too many consecutive training steps had non-finite losses or gradients."""


def process_reals(images, alpha):
    """Official `process_reals` minus mirror (done by the reader) and the upscale to full size.

    uint8 NHWC -> float32 in [-1, 1]; during a fade-in (alpha < 1) the image is blended with its
    2x2 box-downscaled, nearest-upscaled copy: `lerp(x, up(down(x)), 1 - alpha)` (official
    FadeLOD with `frac(lod) = 1 - alpha`). 4x4 images are returned unfaded.
    """
    x = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    if x.shape[1] is not None and x.shape[1] <= 4:
        return x
    y = upscale2d(downscale2d(x))
    t = 1.0 - tf.cast(alpha, tf.float32)
    return x + (y - x) * t


def _all_finite(tensors):
    """True when every tensor is finite (None entries, unused variables, are ignored)."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32)))
                          for t in tensors if t is not None])


def _peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB on Linux


class Trainer:
    """Owns the networks, optimizers, data pipeline and run directory of one training run.

    Args:
        cfg: TrainingConfig.
        strategy: tf.distribute.Strategy or None (chosen from `cfg.gpus` / TF_CONFIG).
        dataset: TFRecordDataset or None (opened from `cfg.dataset_dir`).
        run_dir: str or None. Where files are written (None: nothing is written; for tests).
        progress: bool. tqdm bar within each tick.
        log: callable(str) for status lines.

    Use `train()` for a full run, or `run_steps(n)` to run n steps (tests).
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
        self.run_dir = run_dir
        self.chief = is_chief(self.strategy)
        self.progress = progress
        self.log = log
        self.trace_counts = collections.Counter()
        self.steps_run = 0

        # Mixed precision: the networks compute in 16 bits, variables and losses stay float32.
        # float16 has 5 exponent bits, so its gradients need loss scaling; bfloat16 does not.
        half = cfg.mixed_precision
        if half is True:
            half = "float16" if tf.config.list_logical_devices("GPU") else "bfloat16"
        policy = f"mixed_{half}" if half else None
        self.loss_scaling = half == "float16"
        prev_policy = keras.mixed_precision.global_policy()
        if policy:
            keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(cfg.seed)  # network initialisation
            with self.strategy.scope():
                self.G = sg.Generator(self.net_cfg, name="G")
                self.D = sg.Discriminator(self.net_cfg, name="D")
                self.Gs = sg.Generator(self.net_cfg, name="Gs")
                for dst, src in zip(self.Gs.weights, self.G.weights):
                    dst.assign(src)
                opt_kw = dict(beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2,
                              epsilon=cfg.adam_epsilon)
                self.G_opt = keras.optimizers.Adam(learning_rate=0.001, name="G_opt", **opt_kw)
                self.D_opt = keras.optimizers.Adam(learning_rate=0.001, name="D_opt", **opt_kw)
                # Built inside the scope before the first step (Keras 3 requirement).
                self.G_opt.build(self.G.trainable_variables)
                self.D_opt.build(self.D.trainable_variables)
        finally:
            keras.mixed_precision.set_global_policy(prev_policy)

        # Host-side counters and per-tick accumulators (not mirrored: updated in cross-replica
        # context of the step function).
        self.state = TrainState(cfg.seed)
        self._acc = tf.Variable(tf.zeros([len(STAT_NAMES)], tf.float32), trainable=False)
        self._acc_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._consec_bad = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Dynamic loss scale for float16 (as keras.optimizers.LossScaleOptimizer: halve on
        # overflow and skip the step, double after 2000 good steps), one per network.
        self._loss_scale = tf.Variable([2.0 ** 15] * 2, dtype=tf.float32, trainable=False)
        self._good_steps = tf.Variable([0, 0], dtype=tf.int64, trainable=False)
        self.checkpoint = make_checkpoint(
            self.G, self.D, self.Gs, self.G_opt, self.D_opt, self.state,
            extra={"loss_scale": [self._loss_scale, self._good_steps]})
        self.manager = None
        if run_dir is not None and self.chief:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2,
                checkpoint_name="ckpt")

        labels = ds.labels.astype(np.float32)
        self._labels_all = tf.constant(labels) if self.net_cfg.label_size else None
        self._steps = {}
        self._iter = None
        self._iter_res = None
        self._lr = (None, None)
        self._summary = None
        self._metric_opts = None
        if cfg.metrics:
            from metrics import registry

            for name in cfg.metrics:
                registry.get_metric(name)  # unknown names fail now, not after hours
            fields = {f.name for f in dataclasses.fields(registry.MetricOptions)}
            unknown = sorted(set(cfg.metric_options) - fields)
            if unknown:
                raise ValueError(f"Unknown metric_options keys. Received: {unknown}")
            self._metric_opts = dict(cfg.metric_options)
        self._sync_host_counters()

    # ------------------------------------------------------------------------------------------
    # The step.
    def _slice(self, x, global_batch):
        """Rows of a global-batch tensor that belong to this replica."""
        ctx = tf.distribute.get_replica_context()
        n = ctx.num_replicas_in_sync
        if n == 1:
            return x
        b = global_batch // n
        return tf.gather(x, tf.range(b) + tf.cast(ctx.replica_id_in_sync_group, tf.int32) * b)

    def _replica_seed(self, seed):
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        return rng.fold_in(seed, tf.cast(rid, tf.int32))

    def _latents(self, seed, global_batch):
        z = rng.stateless_normal([global_batch, self.net_cfg.latent_size], seed)
        return self._slice(z, global_batch)

    def _fns(self, res, alpha, g_seed, stop_fakes):
        def G_fn(z, labels):
            images = self.G(z, labels, resolution=res, alpha=alpha, training=True, seed=g_seed)
            images = tf.cast(images, tf.float32)
            return tf.stop_gradient(images) if stop_fakes else images

        def D_fn(images, labels):
            return tf.cast(self.D(images, labels, alpha=alpha), tf.float32)

        return G_fn, D_fn

    def _d_replica(self, res, global_batch, reals, labels, alpha, seed):
        cfg = self.cfg
        s = rng.split(seed, 3)
        z = self._latents(s[0], global_batch)
        labels = labels if self.net_cfg.label_size else None
        G_fn, D_fn = self._fns(res, alpha, self._replica_seed(s[1]), stop_fakes=True)
        reals = process_reals(reals, alpha)
        zero = tf.zeros([], tf.float32)
        with tf.GradientTape() as tape:
            if cfg.loss == "logistic":
                loss, terms = losses.D_logistic_r1(
                    G_fn, D_fn, z, reals, labels, r1_gamma=cfg.r1_gamma,
                    r1_scale=losses.r1_scale_for(res, self.net_cfg.resolution))
                r1 = tf.reduce_sum(terms["r1_penalty"]) if "r1_penalty" in terms else zero
                gp = zero
            else:
                u = rng.stateless_uniform([global_batch], s[2])
                loss, terms = losses.D_wgan_gp(
                    G_fn, D_fn, z, reals, labels, wgan_lambda=cfg.wgan_lambda,
                    wgan_epsilon=cfg.wgan_epsilon, wgan_target=cfg.wgan_target,
                    grad_norm_scale=losses.grad_norm_scale_for(res, self.net_cfg.resolution),
                    mixing_factors=self._slice(u, global_batch))
                r1, gp = zero, tf.reduce_sum(terms["gradient_penalty"])
            total = tf.reduce_sum(loss) / global_batch
            scaled = total * self._loss_scale[1] if self.loss_scaling else total
        variables = self.D.trainable_variables
        grads = tape.gradient(scaled, variables)
        if self.loss_scaling:
            grads = [None if g is None else g / self._loss_scale[1] for g in grads]
        bad = tf.cast(tf.logical_not(tf.logical_and(tf.math.is_finite(total),
                                                    _all_finite(grads))), tf.int32)
        # Per-replica shares of the global means (summed over replicas in the step).
        stats = tf.stack([total, tf.reduce_sum(terms["real_scores"]) / global_batch,
                          tf.reduce_sum(terms["fake_scores"]) / global_batch,
                          r1 / global_batch, gp / global_batch])
        return grads, bad, stats

    def _g_replica(self, res, global_batch, alpha, seed):
        cfg = self.cfg
        s = rng.split(seed, 3)
        z = self._latents(s[0], global_batch)
        labels = None
        if self._labels_all is not None:
            idx = rng.stateless_randint([global_batch], s[1], 0,
                                        int(self._labels_all.shape[0]))
            labels = tf.gather(self._labels_all, self._slice(idx, global_batch))
        G_fn, D_fn = self._fns(res, alpha, self._replica_seed(s[2]), stop_fakes=False)
        with tf.GradientTape() as tape:
            if cfg.loss == "logistic":
                loss = losses.G_logistic_nonsaturating(G_fn, D_fn, z, labels)
            else:
                loss = losses.G_wgan(G_fn, D_fn, z, labels)
            total = tf.reduce_sum(loss) / global_batch
            scaled = total * self._loss_scale[0] if self.loss_scaling else total
        variables = self.G.trainable_variables
        grads = tape.gradient(scaled, variables)
        if self.loss_scaling:
            grads = [None if g is None else g / self._loss_scale[0] for g in grads]
        bad = tf.cast(tf.logical_not(tf.logical_and(tf.math.is_finite(total),
                                                    _all_finite(grads))), tf.int32)
        return grads, bad, tf.reshape(total, [1])

    def _update_loss_scale(self, index, ok):
        if not self.loss_scaling:
            return
        scale = self._loss_scale[index]
        good = self._good_steps[index]
        new_good = tf.where(ok, good + 1, tf.zeros_like(good))
        new_scale = tf.where(ok, scale, tf.maximum(scale * 0.5, 1.0))
        grow = new_good >= 2000
        new_scale = tf.where(grow, new_scale * 2.0, new_scale)
        new_good = tf.where(grow, tf.zeros_like(new_good), new_good)
        self._loss_scale.scatter_nd_update([[index]], [new_scale])
        self._good_steps.scatter_nd_update([[index]], [new_good])

    def _make_step(self, res, global_batch):
        cfg = self.cfg
        strategy = self.strategy
        beta = 0.5 ** (global_batch / (cfg.G_smoothing_kimg * 1000.0)) \
            if cfg.G_smoothing_kimg > 0 else 0.0
        d_fn = lambda *a: self._d_replica(res, global_batch, *a)
        g_fn = lambda *a: self._g_replica(res, global_batch, *a)
        if cfg.xla:
            d_fn = tf.function(d_fn, jit_compile=True)
            g_fn = tf.function(g_fn, jit_compile=True)

        def apply(opt, variables):
            return lambda grads: opt.apply(grads, variables)

        def step(reals, labels, alpha, seed):
            self.trace_counts[res] += 1  # Python side effect: runs once per trace.
            # The variables of the other levels get no gradient here, by design.
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
            seeds = rng.split(seed, 2)
            # 1. D.
            d_grads, d_bad, d_stats = strategy.run(d_fn, args=(reals, labels, alpha, seeds[0]))
            d_ok = strategy.reduce(_SUM, d_bad, axis=None) == 0
            tf.cond(d_ok, lambda: strategy.run(apply(self.D_opt, self.D.trainable_variables),
                                               args=(d_grads,)), lambda: None)
            self._update_loss_scale(1, d_ok)
            # 2. Gs <- lerp(G, Gs, beta); non-trainables copied (official beta_nontrainable=0).
            for dst, src in zip(self.Gs.trainable_weights, self.G.trainable_weights):
                src = src.value
                dst.assign(src + (dst.value - src) * beta)
            for dst, src in zip(self.Gs.non_trainable_weights, self.G.non_trainable_weights):
                dst.assign(src.value)
            # 3. G.
            g_grads, g_bad, g_stats = strategy.run(g_fn, args=(alpha, seeds[1]))
            g_ok = strategy.reduce(_SUM, g_bad, axis=None) == 0
            tf.cond(g_ok, lambda: strategy.run(apply(self.G_opt, self.G.trainable_variables),
                                               args=(g_grads,)), lambda: None)
            self._update_loss_scale(0, g_ok)
            # Book-keeping on device; read at tick boundaries only.
            stats = tf.concat([strategy.reduce(_SUM, d_stats, axis=None),
                               strategy.reduce(_SUM, g_stats, axis=None)], 0)
            ok = tf.logical_and(d_ok, g_ok)
            stats = tf.where(tf.math.is_finite(stats), stats, tf.zeros_like(stats))
            self._acc.assign_add(tf.where(ok, stats, tf.zeros_like(stats)))
            self._acc_steps.assign_add(tf.cast(ok, tf.int64))
            self._consec_bad.assign(tf.where(ok, tf.zeros([], tf.int64), self._consec_bad + 1))
            self.state.nonfinite_total.assign_add(1 - tf.cast(ok, tf.int64))

        return tf.function(step, reduce_retracing=False)

    def step_fn(self, resolution):
        """The traced step of a level (one per resolution; created on first use)."""
        batch = self._minibatch_for(resolution)
        key = (resolution, batch)
        if key not in self._steps:
            self._steps[key] = self._make_step(resolution, batch)
        return self._steps[key]

    def _minibatch_for(self, resolution):
        mb = int(self.sched_cfg.minibatch_dict.get(resolution, self.sched_cfg.minibatch_base))
        mb -= mb % self.sched_cfg.num_gpus
        if resolution in self.sched_cfg.max_minibatch_per_gpu:
            mb = min(mb, int(self.sched_cfg.max_minibatch_per_gpu[resolution])
                     * self.sched_cfg.num_gpus)
        return mb

    # ------------------------------------------------------------------------------------------
    # Data.
    def _data_seed(self, nimg):
        return int((self._host_seed * 1000003 + int(nimg)) % (2**31 - 1))

    def _make_iterator(self, resolution, global_batch, nimg):
        seed = self._data_seed(nimg)

        def dataset_fn(ctx):
            return self.dataset.iterate(resolution, global_batch, shuffle=True, repeat=True,
                                        mirror=self.cfg.mirror, seed=seed, input_context=ctx)

        dist = self.strategy.distribute_datasets_from_function(dataset_fn)
        return iter(dist)

    # ------------------------------------------------------------------------------------------
    # Optimizer state.
    def reset_optimizers(self):
        """Zeros Adam's moments and iteration counts (official `reset_optimizer_state`)."""
        for opt in (self.G_opt, self.D_opt):
            lr = getattr(opt, "_learning_rate", None)
            for v in opt.variables:
                if v is lr:
                    continue
                v.assign(tf.zeros(v.shape, v.dtype))

    def _set_learning_rates(self, g_lr, d_lr):
        if self._lr != (g_lr, d_lr):
            self.G_opt.learning_rate = g_lr  # assigns the optimizer's learning-rate variable
            self.D_opt.learning_rate = d_lr
            self._lr = (g_lr, d_lr)

    # ------------------------------------------------------------------------------------------
    # Running.
    def schedule(self, nimg=None):
        nimg = int(self.state.cur_nimg.numpy()) if nimg is None else nimg
        return training_schedule(nimg, self.net_cfg.resolution, self.sched_cfg)

    def _prepare(self, sched):
        """Applies a schedule evaluation: optimizer reset, learning rates, data pipeline."""
        key = tuple(int(k) for k in sched.lod_key)
        if key != self._host_lod_key:
            if self.cfg.reset_opt_for_new_lod and self._host_lod_key[0] >= 0:
                self.reset_optimizers()
            self.state.lod_key.assign(key)
            self._host_lod_key = key
        self._set_learning_rates(sched.G_lrate, sched.D_lrate)
        if self._iter_res != (sched.resolution, sched.minibatch):
            self._iter = self._make_iterator(sched.resolution, sched.minibatch,
                                             self._host_nimg)
            self._iter_res = (sched.resolution, sched.minibatch)
        return self.step_fn(sched.resolution)

    def _run_one(self, step, sched, alpha):
        try:
            reals, labels = next(self._iter)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            # tf.data's message names no file: name it, and the command that checks every record.
            path = self.dataset.level_file(sched.resolution)
            raise ValueError(
                f"{path}: corrupt record ({e.message.splitlines()[0]}); run `python "
                f"dataset_tool.py info --verify {self.dataset.tfrecord_dir}` to check the dataset"
            ) from None
        seed = tf.constant([self._host_seed % (2**31 - 1), self._host_step % (2**31 - 1)],
                           tf.int32)
        step(reals, labels, alpha, seed)
        self._host_step += 1
        self._host_nimg += sched.minibatch
        self.steps_run += 1

    def _sync_host_counters(self):
        self._host_nimg = int(self.state.cur_nimg.numpy())
        self._host_step = int(self.state.step.numpy())
        self._host_seed = int(self.state.run_seed.numpy())
        self._host_lod_key = tuple(int(k) for k in self.state.lod_key.numpy())

    def _flush_host_counters(self):
        self.state.cur_nimg.assign(self._host_nimg)
        self.state.step.assign(self._host_step)

    def run_steps(self, num_steps):
        """Runs `num_steps` training steps following the schedule (no ticks, no files)."""
        self._sync_host_counters()
        done = 0
        while done < num_steps:
            sched = self.schedule(self._host_nimg)
            step = self._prepare(sched)
            alpha = tf.constant(sched.alpha, tf.float32)
            for _ in range(min(self.cfg.minibatch_repeats, num_steps - done)):
                self._run_one(step, sched, alpha)
                done += 1
        self._flush_host_counters()
        self._check_nonfinite()

    def _check_nonfinite(self):
        consec = int(self._consec_bad.numpy())
        if consec > self.cfg.max_nonfinite_steps:
            raise NonFiniteError(
                f"{consec} consecutive training steps had non-finite losses or gradients (limit "
                f"max_nonfinite_steps={self.cfg.max_nonfinite_steps}) at kimg "
                f"{self._host_nimg / 1000:.1f}; stopping. The last good checkpoint is kept"
                + (f" in {os.path.join(self.run_dir, 'checkpoints')}" if self.run_dir else "")
                + "; try a lower learning rate.")

    def load_snapshot_weights(self, path):
        """Starts from the networks of a snapshot (official `resume_snapshot`): G, D and Gs
        weights and the image count from its metadata (official `resume_kimg`); the optimizers
        start fresh, as in the official resume."""
        from tf_stylegan.snapshot import load_snapshot

        G, D, Gs, info = load_snapshot(path, with_info=True)
        if G.config != self.net_cfg:
            diff = sorted(k for k, v in G.config.to_dict().items()
                          if self.net_cfg.to_dict().get(k) != v)
            raise ValueError(f"{path}: snapshot network config differs from this run's in "
                             f"{diff}; cannot resume from it.")
        for dst_model, src_model in ((self.G, G), (self.D, D), (self.Gs, Gs)):
            for dst, src in zip(dst_model.weights, src_model.weights):
                dst.assign(src.numpy())
        meta = info.get("metadata", {})
        self.state.cur_nimg.assign(int(round(float(meta.get("kimg", 0.0)) * 1000)))
        self.state.step.assign(int(meta.get("step", 0)))
        self._sync_host_counters()
        self._iter_res = None

    def restore(self, path):
        """Restores everything from a checkpoint (run dir, checkpoints dir or prefix)."""
        prefix = latest_checkpoint(path)
        self.checkpoint.restore(prefix).assert_existing_objects_matched()
        self._sync_host_counters()
        self._lr = (None, None)
        self._iter_res = None
        return prefix

    # ------------------------------------------------------------------------------------------
    # Images.
    def grid_size(self):
        if self.cfg.grid_size:
            return tuple(self.cfg.grid_size)
        r = self.net_cfg.resolution
        return (int(np.clip(3840 // r, 7, 32)), int(np.clip(2160 // r, 4, 32)))  # official '4k'

    def _grid_setup(self):
        gw, gh = self.grid_size()
        n = gw * gh
        reals, labels = [], []
        # The first records (dataset_tool shuffles at creation); no shuffle buffer to fill.
        pipeline = self.dataset.iterate(self.net_cfg.resolution, min(n, 256), shuffle=False,
                                        repeat=True, drop_remainder=False)
        for x, y in pipeline:
            reals.append(x.numpy())
            labels.append(y.numpy())
            if sum(len(b) for b in reals) >= n:
                break
        self.grid_reals = np.concatenate(reals)[:n]
        self.grid_labels = np.concatenate(labels)[:n]
        rng = np.random.RandomState(self.cfg.seed)
        self.grid_latents = rng.randn(n, self.net_cfg.latent_size).astype(np.float32)

    def generate_grid(self, resolution, alpha, batch=64):
        """Gs images of the fixed grid latents (no truncation, const noise), full resolution."""
        out = []
        labels = self.grid_labels if self.net_cfg.label_size else None
        for i in range(0, len(self.grid_latents), batch):
            z = tf.constant(self.grid_latents[i:i + batch])
            lab = None if labels is None else tf.constant(labels[i:i + batch])
            img = self.Gs(z, lab, truncation_psi=1.0, noise="const", resolution=resolution,
                          alpha=float(alpha))
            out.append(tf.cast(img, tf.float32).numpy())
        images = np.concatenate(out)
        factor = self.net_cfg.resolution // resolution
        if factor > 1:  # nearest upscale, as the official networks output full resolution
            images = images.repeat(factor, axis=1).repeat(factor, axis=2)
        return images

    # ------------------------------------------------------------------------------------------
    def train(self, resume=None, snapshot=None):
        """Runs (or continues) training to `cfg.total_kimg`, writing the run directory.

        Args:
            resume: checkpoint to continue from (run dir, checkpoints dir or prefix), or None.
            snapshot: network-snapshot .zip to start from instead (networks and kimg only).
        """
        cfg = self.cfg
        run_dir = self.run_dir
        if snapshot:
            self.load_snapshot_weights(snapshot)
            self.log(f"Starting from snapshot {snapshot} at kimg "
                     f"{self.state.cur_nimg.numpy() / 1000:.1f} (fresh optimizer state)")
        if resume:
            prefix = self.restore(resume)
            self.log(f"Resumed from {prefix} at kimg {self.state.cur_nimg.numpy() / 1000:.1f} "
                     f"(tick {int(self.state.tick.numpy())}, lod_key "
                     f"{self.state.lod_key.numpy().tolist()})")
        self._sync_host_counters()
        write = run_dir is not None and self.chief
        stats_path = os.path.join(run_dir, "stats.jsonl") if run_dir else None
        if write:
            self._summary = tf.summary.create_file_writer(run_dir)
            if resume:  # drop stats written after the checkpoint (they will be redone)
                keep = [r for r in read_jsonl(stats_path) if r["kimg"] <= self._host_nimg / 1000]
                _rewrite_jsonl(stats_path, keep)
        self._grid_setup()
        gw, gh = self.grid_size()
        if write:
            save_image_grid(os.path.join(run_dir, "reals.png"), self.grid_reals, (gw, gh))
            if not resume:
                s = self.schedule(self._host_nimg)
                save_image_grid(os.path.join(run_dir, "fakes000000.png"),
                                self.generate_grid(s.resolution, s.alpha), (gw, gh))
        self.log(f"Training for {cfg.total_kimg:g} kimg on {self.num_replicas} replica(s); "
                 f"dataset {self.dataset.tfrecord_dir} ({self.dataset.num_images} images, "
                 f"{self.net_cfg.resolution}x{self.net_cfg.resolution}x"
                 f"{self.net_cfg.num_channels}, {self.net_cfg.label_size} labels)")

        total_nimg = int(round(cfg.total_kimg * 1000))
        tick_start_time = time.time()
        train_time0 = float(self.state.train_time.numpy())
        start_time = time.time()
        tick_start_nimg = int(self.state.tick_start_nimg.numpy()) if resume else self._host_nimg
        if not resume:
            self.state.tick_start_nimg.assign(tick_start_nimg)
        bar = None
        done = self._host_nimg >= total_nimg
        while not done:
            sched = self.schedule(self._host_nimg)
            step = self._prepare(sched)
            alpha = tf.constant(sched.alpha, tf.float32)
            if bar is None and self.progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=int(sched.tick_kimg * 1000), unit="img", leave=False,
                           desc=f"tick {int(self.state.tick.numpy()) + 1}", dynamic_ncols=True)
            for _ in range(cfg.minibatch_repeats):
                self._run_one(step, sched, alpha)
                if bar is not None:
                    bar.update(sched.minibatch)
            done = self._host_nimg >= total_nimg
            if self._host_nimg < tick_start_nimg + sched.tick_kimg * 1000 and not done:
                continue
            # ---- Tick boundary: the only host syncs. ----
            if bar is not None:
                bar.close()
                bar = None
            self._flush_host_counters()
            self._check_nonfinite()
            tick = int(self.state.tick.numpy()) + 1
            self.state.tick.assign(tick)
            now = time.time()
            tick_time = now - tick_start_time
            tick_kimg = (self._host_nimg - tick_start_nimg) / 1000.0
            self.state.train_time.assign(train_time0 + now - start_time)
            acc = self._acc.numpy()
            n = max(int(self._acc_steps.numpy()), 1)
            self._acc.assign(tf.zeros_like(self._acc))
            self._acc_steps.assign(0)
            record = {
                "tick": tick, "kimg": self._host_nimg / 1000.0, "resolution": sched.resolution,
                "lod": sched.lod, "alpha": sched.alpha, "minibatch": sched.minibatch,
                "G_lrate": sched.G_lrate, "D_lrate": sched.D_lrate,
                "sec_per_tick": tick_time, "sec_per_kimg": tick_time / max(tick_kimg, 1e-9),
                "Timing/img_per_sec": tick_kimg * 1000 / max(tick_time, 1e-9),
                "total_sec": float(self.state.train_time.numpy()),
                "peak_rss_gb": _peak_rss_gb(),
                "nonfinite_steps": int(self.state.nonfinite_total.numpy()),
            }
            for name, value in zip(STAT_NAMES, acc / n):
                record[name] = float(value)
            if cfg.loss == "logistic":
                record.pop("Loss/gradient_penalty")
            else:
                record.pop("Loss/r1_penalty")
            self.log(
                f"tick {tick:<5d} kimg {record['kimg']:<8.1f} res {sched.resolution:<4d} "
                f"alpha {sched.alpha:<5.3f} minibatch {sched.minibatch:<4d} "
                f"sec/tick {tick_time:<6.1f} sec/kimg {record['sec_per_kimg']:<7.2f} "
                f"img/s {record['Timing/img_per_sec']:<7.1f} mem {record['peak_rss_gb']:.2f}GB "
                f"G {record['Loss/G']:.3f} D {record['Loss/D']:.3f}"
                + (f" skipped {record['nonfinite_steps']}" if record["nonfinite_steps"] else ""))
            if write:
                append_jsonl(stats_path, record)
                with self._summary.as_default(step=self._host_nimg):
                    for key, value in record.items():
                        if key not in ("tick",) and isinstance(value, (int, float)):
                            tf.summary.scalar(key if "/" in key else f"Progress/{key}", value)
                if tick % cfg.image_snapshot_ticks == 0 or done:
                    grid = save_image_grid(
                        os.path.join(run_dir, f"fakes{self._host_nimg // 1000:06d}.png"),
                        self.generate_grid(sched.resolution, sched.alpha), (gw, gh))
                    with self._summary.as_default(step=self._host_nimg):
                        tf.summary.image("fakes", grid[None])
                self._summary.flush()
                if tick % cfg.network_snapshot_ticks == 0 or done or tick == 1:
                    snap = os.path.join(
                        run_dir, f"network-snapshot-{self._host_nimg // 1000:06d}.zip")
                    self.save_snapshot(snap)
                    self.evaluate_metrics(snap)
            tick_start_nimg = self._host_nimg
            self.state.tick_start_nimg.assign(tick_start_nimg)
            if self.manager is not None and (tick % cfg.checkpoint_ticks == 0 or done):
                self.manager.save(checkpoint_number=self._host_step)
            tick_start_time = time.time()
        if write:
            plot_training_curves(stats_path, os.path.join(run_dir, "training_curves.png"))
            with open(os.path.join(run_dir, "_finished.txt"), "w") as f:
                f.write(f"kimg {self._host_nimg / 1000:.1f}\n")
        return self

    def evaluate_metrics(self, snapshot_path):
        """Runs `cfg.metrics` on Gs (official: fid50k at every network snapshot). A failing
        metric is reported and training continues."""
        if not self._metric_opts and not self.cfg.metrics:
            return
        from metrics import registry

        for name in self.cfg.metrics:
            opts = registry.MetricOptions(**{
                "run_dir": self.run_dir, "dataset_dir": self.dataset.tfrecord_dir,
                "mirror": self.cfg.mirror, "progress": False,
                "snapshot": os.path.basename(snapshot_path), "kimg": self._host_nimg / 1000.0,
                **self._metric_opts})
            try:
                record = registry.evaluate(name, self.Gs, opts)
                self.log(f"{name} {record['results']} ({record['seconds']:.1f} s)")
            except Exception as e:  # a metric must not end hours of training
                self.log(f"{name} failed at kimg {self._host_nimg / 1000:.1f}: "
                         f"{type(e).__name__}: {e}")

    def save_snapshot(self, path):
        save_snapshot(path, self.G, self.D, self.Gs, metadata={
            "kimg": self._host_nimg / 1000.0, "step": self._host_step,
            "training_config": self.cfg.to_dict(),
        })


def _rewrite_jsonl(path, records):
    import json

    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def describe(cfg: TrainingConfig, dataset_resolution: int, num_replicas: int) -> str:
    """The schedule table (one row per stable phase / fade-in) as text, for --dry-run."""
    sched_cfg = cfg.schedule_config(num_replicas)
    rows = schedule_table(dataset_resolution, sched_cfg, cfg.total_kimg)
    lines = [f"{'kimg':>9} {'phase':>6} {'lod':>6} {'res':>5} {'minibatch':>9} {'G_lrate':>8} "
             f"{'D_lrate':>8} {'tick_kimg':>9}  r1_scale"]
    for s in rows:
        kind = "fade" if s.in_transition else "stable"
        lod = f"{s.lod_key[1]}->{s.lod_key[0]}" if s.in_transition else f"{s.lod_key[0]}"
        lines.append(f"{math.floor(s.kimg):>9} {kind:>6} {lod:>6} {s.resolution:>5} "
                     f"{s.minibatch:>9} {s.G_lrate:>8g} {s.D_lrate:>8g} {s.tick_kimg:>9g}  "
                     f"{losses.r1_scale_for(s.resolution, dataset_resolution):g}")
    return "\n".join(lines)


def train(cfg: TrainingConfig, *, resume=None, run_dir=None, strategy=None, progress=True):
    """Convenience wrapper: builds a Trainer and runs it."""
    trainer = Trainer(cfg, strategy=strategy, run_dir=run_dir, progress=progress)
    return trainer.train(resume=resume)


def _options_dict(cfg, net_cfg, sched_cfg, num_replicas):
    return {"training": cfg.to_dict(), "network": net_cfg.to_dict(),
            "schedule": sched_cfg.to_dict(), "num_replicas": num_replicas}


def _check_same_network(run_dir, net_cfg):
    import yaml

    path = os.path.join(run_dir, "training_options.yaml")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        saved = (yaml.safe_load(f) or {}).get("network")
    if saved is not None and saved != net_cfg.to_dict():
        diff = sorted(k for k in set(saved) | set(net_cfg.to_dict())
                      if saved.get(k) != net_cfg.to_dict().get(k))
        raise ValueError(f"{path}: the run was trained with a different network config "
                         f"(differs in {diff}); cannot resume it with this config.")


def run(*, dataset=None, data_dir=None, preset=None, mirror=None, total_kimg=None, gpus=None,
        loss=None, mixed_precision=None, xla=None, seed=None, outdir=None, resume=None,
        metrics=None, overrides=(), dry_run=False, progress=True, print_fn=print):
    """What `run_training.py` does (see its --help): resolve the config, pick the strategy and
    the run directory, then train. Returns the run directory (None for --dry-run)."""
    import yaml

    from .config import CONFIG_DIR, load_config
    from .run_dir import Tee, create_run_dir, find_resume_dir, write_yaml

    if preset is None and dataset and os.path.isfile(os.path.join(CONFIG_DIR, f"{dataset}.yaml")):
        preset = dataset
    cfg = load_config(preset, overrides, dataset=dataset, data_dir=data_dir, mirror=mirror,
                      total_kimg=total_kimg, gpus=gpus, loss=loss,
                      mixed_precision=mixed_precision or None, xla=xla or None, seed=seed,
                      outdir=outdir, metrics=metrics)
    if not cfg.dataset:
        raise ValueError("no dataset given: pass --dataset NAME (a directory under --data-dir).")
    ds = TFRecordDataset(cfg.dataset_dir, resolution=cfg.resolution)
    if dry_run:
        num_replicas = cfg.gpus or max(1, len(tf.config.list_logical_devices("GPU")))
        net_cfg = cfg.network_config(ds.resolution, ds.num_channels, ds.label_size)
        print_fn(yaml.safe_dump(_options_dict(cfg, net_cfg, cfg.schedule_config(num_replicas),
                                              num_replicas), sort_keys=False,
                                default_flow_style=None).rstrip())
        print_fn(f"\nSchedule ({num_replicas} replica(s), dataset {ds.resolution}x{ds.resolution}"
                 f", total {cfg.total_kimg:g} kimg):")
        print_fn(describe(cfg, ds.resolution, num_replicas))
        return None

    strategy = make_strategy(cfg.gpus)
    num_replicas = int(strategy.num_replicas_in_sync)
    chief = is_chief(strategy)
    prefix = run_dir = snapshot = None
    if resume and resume.endswith(".zip"):
        snapshot = resume
        if not os.path.isfile(snapshot):
            raise UserError(f"snapshot not found. Received: resume={resume}")
    elif resume == "auto":
        run_dir = find_resume_dir(cfg.outdir, cfg.dataset, cfg.config_name)
        if run_dir is None:
            print_fn(f"--resume auto: no earlier run of dataset {cfg.dataset!r} with config "
                     f"{cfg.config_name!r} in {cfg.outdir}; starting a new run.")
        else:
            prefix = latest_checkpoint(run_dir)
    elif resume:
        prefix = latest_checkpoint(resume)
        run_dir = os.path.dirname(os.path.dirname(os.path.abspath(prefix)))
    tee = None
    trainer_dir = None
    if chief:
        if run_dir is None:
            run_dir = create_run_dir(cfg.outdir, cfg.dataset, num_replicas)
        trainer_dir = run_dir
        tee = Tee(os.path.join(run_dir, "log.txt"))
    try:
        trainer = Trainer(cfg, strategy=strategy, dataset=ds, run_dir=trainer_dir,
                          progress=progress, log=print_fn)
        if chief:
            if prefix:
                _check_same_network(run_dir, trainer.net_cfg)
            write_yaml(os.path.join(run_dir, "training_options.yaml"),
                       _options_dict(cfg, trainer.net_cfg, trainer.sched_cfg, num_replicas))
            print_fn(f"Run directory: {run_dir}")
        trainer.train(resume=prefix, snapshot=snapshot)
        if chief:
            print_fn(f"Done: {run_dir}")
    finally:
        if tee is not None:
            tee.close()
    return run_dir
