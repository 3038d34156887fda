"""The training step: losses wired to optimizers across replicas, loss scaling, skipped non-finite
steps and the Gs moving average (official `training/training_loop.py` and `tflib/optimizer.py`).

One step, in the official StyleGAN order (`training_loop.py`: `D_train_op`, `Gs_update_op`, then
`G_train_op`):
  1. D update on `StyleGANLosses.D_loss`: `D_logistic_r1` (or `D_wgan_gp`) on a real minibatch
     processed as the official `process_reals` does and fakes from G with `training=True`, with the
     reals' labels.
  2. Gs <- lerp(G, Gs, beta), `beta = 0.5 ** (minibatch / (G_smoothing_kimg * 1000))` (a 10-kimg
     half-life); non-trainables (dlatent_avg, noise buffers) are copied (official
     `beta_nontrainable=0`).
  3. G update on `StyleGANLosses.G_loss`: non-saturating logistic (or WGAN) with random rows of
     the dataset labels.
A second network family plugs in with a losses object of its own (the `D_loss` / `G_loss`
signature below); lazy regularization would be one more `_update` of the same network on the
steps it runs.

Distribution. Each replica computes its loss as `sum(per-sample loss) / global_batch`; Keras 3
sums the replicas' gradients in `apply`, which makes it the global mean (the official code
averages the GPUs' means). An update whose loss or gradients are non-finite on any replica is
skipped by every replica: the flag is summed over replicas before the update (official
`tflib/optimizer.py` skips non-finite updates). Samples are drawn for the global batch and
sliced per replica (`ReplicaBatch`), so N replicas see the latents one device sees; the noise
inputs and style mixing inside G are drawn by each replica from its own seed, as each official
GPU draws its own.

One tf.function is traced per (resolution, minibatch): the fade-in alpha and the seed are tensor
arguments and the learning rates optimizer variables, so nothing retraces within a level. The
step returns its statistics by name, global means as tensors, and adds them to `totals` on the
device; they are read at tick boundaries, the only host syncs.
"""

from __future__ import annotations

import collections
import warnings

import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.layers import downscale2d, upscale2d

from . import losses
from .networks import variables_by_name

__all__ = ["DynamicLossScale", "ReplicaBatch", "StepTotals", "StyleGANLosses", "TrainStep",
           "process_reals"]

_SUM = tf.distribute.ReduceOp.SUM
NETWORKS = ("D", "G")  # the trained networks, in the order of the official step


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


class ReplicaBatch:
    """This replica's share of a global minibatch of `global_batch` samples.

    Create it inside `strategy.run` (or outside any strategy: one replica). Draws that define the
    samples (latents, label rows, WGAN-GP mixing factors) are made for the global batch and cut
    with `rows`, so N replicas see what one device sees. Draws that each official GPU makes on
    its own (G's noise inputs and style mixing) take `own_seed(seed)`, which differs between
    replicas.
    """

    def __init__(self, global_batch: int):
        ctx = tf.distribute.get_replica_context()
        self.num_replicas = int(ctx.num_replicas_in_sync)
        if global_batch % self.num_replicas:
            raise ValueError(f"global batch {global_batch} does not split over "
                             f"{self.num_replicas} replicas")
        self.global_batch = int(global_batch)
        self.batch = self.global_batch // self.num_replicas
        self.replica_id = tf.cast(ctx.replica_id_in_sync_group, tf.int32)

    def rows(self, x):
        """This replica's rows of a tensor with one row per sample of the global batch."""
        if self.num_replicas == 1:
            return x
        return tf.gather(x, tf.range(self.batch) + self.replica_id * self.batch)

    def own_seed(self, seed):
        """A seed of this replica alone: `seed` folded with the replica id."""
        return rng.fold_in(seed, self.replica_id)


class StyleGANLosses:
    """What the StyleGAN step minimizes: the official losses (`training/loss.py`) fed with latents,
    labels, reals and G's fakes as the official training loop feeds them.

    Args:
        cfg: TrainingConfig (loss, r1_gamma, wgan_*).
        networks: training.networks.Networks.
        dataset_labels: [num_images, label_size] array of the dataset's labels (G's labels are
            random rows of it, as the official G loss draws them); ignored without labels.

    `D_loss` and `G_loss` run in one replica and return `(loss [batch], stats)`: the per-sample
    loss and {statistic name: per-sample values}; the step reports the global mean of each.
    """

    def __init__(self, cfg, networks, dataset_labels=None):
        self.cfg = cfg
        self.G, self.D = networks.G, networks.D
        net_cfg = networks.G.config
        self.latent_size = net_cfg.latent_size
        self.dataset_resolution = net_cfg.resolution
        self.label_size = net_cfg.label_size
        self.dataset_labels = (tf.constant(dataset_labels, tf.float32) if net_cfg.label_size
                               else None)
        penalty = "Loss/r1_penalty" if cfg.loss == "logistic" else "Loss/gradient_penalty"
        # The statistics each loss reports besides the loss itself (reported as Loss/<network>).
        self.stat_names = {"D": ("Loss/scores/real", "Loss/scores/fake", penalty), "G": ()}

    def latents(self, replica, seed):
        """This replica's rows of N(0, 1) latents drawn for the global batch."""
        z = rng.stateless_normal([replica.global_batch, self.latent_size], seed)
        return replica.rows(z)

    def generate(self, replica, z, labels, resolution, alpha, seed):
        """G's training-mode images (style mixing, dlatent_avg update, random noise), float32;
        the noise and the mixing are drawn from this replica's own seed."""
        images = self.G(z, labels, resolution=resolution, alpha=alpha, training=True,
                        seed=replica.own_seed(seed))
        return tf.cast(images, tf.float32)

    def discriminate(self, images, labels, alpha):
        return tf.cast(self.D(images, labels, alpha=alpha), tf.float32)

    def D_loss(self, replica, resolution, reals, labels, alpha, seed):
        """D's loss on this replica's reals (uint8) and fakes of fresh latents with the reals'
        labels. R1 is rescaled by `r1_scale_for(level, full)` (the WGAN-GP norm by
        `grad_norm_scale_for`) because our D runs at the level's resolution instead of on
        nearest-upscaled full-resolution images (see training/losses.py)."""
        cfg = self.cfg
        s = rng.split(seed, 3)
        z = self.latents(replica, s[0])
        labels = labels if self.label_size else None

        def G_fn(z, labels):  # D's update must not reach into G
            return tf.stop_gradient(self.generate(replica, z, labels, resolution, alpha, s[1]))

        def D_fn(images, labels):
            return self.discriminate(images, labels, alpha)

        reals = process_reals(reals, alpha)
        if cfg.loss == "logistic":
            loss, terms = losses.D_logistic_r1(
                G_fn, D_fn, z, reals, labels, r1_gamma=cfg.r1_gamma,
                r1_scale=losses.r1_scale_for(resolution, self.dataset_resolution))
            penalty = ("Loss/r1_penalty", terms.get("r1_penalty", tf.zeros_like(loss)))
        else:
            u = replica.rows(rng.stateless_uniform([replica.global_batch], s[2]))
            loss, terms = losses.D_wgan_gp(
                G_fn, D_fn, z, reals, labels, wgan_lambda=cfg.wgan_lambda,
                wgan_epsilon=cfg.wgan_epsilon, wgan_target=cfg.wgan_target,
                grad_norm_scale=losses.grad_norm_scale_for(resolution, self.dataset_resolution),
                mixing_factors=u)
            penalty = ("Loss/gradient_penalty", terms["gradient_penalty"])
        return loss, {"Loss/scores/real": terms["real_scores"],
                      "Loss/scores/fake": terms["fake_scores"], penalty[0]: penalty[1]}

    def G_loss(self, replica, resolution, reals, labels, alpha, seed):
        """G's loss on fakes of fresh latents with random dataset labels (`reals` and `labels`,
        the minibatch D sees, are not used: the official G loss draws its own)."""
        s = rng.split(seed, 3)
        z = self.latents(replica, s[0])
        labels = None
        if self.dataset_labels is not None:
            rows = rng.stateless_randint([replica.global_batch], s[1], 0,
                                         int(self.dataset_labels.shape[0]))
            labels = tf.gather(self.dataset_labels, replica.rows(rows))

        def G_fn(z, labels):
            return self.generate(replica, z, labels, resolution, alpha, s[2])

        def D_fn(images, labels):
            return self.discriminate(images, labels, alpha)

        if self.cfg.loss == "logistic":
            return losses.G_logistic_nonsaturating(G_fn, D_fn, z, labels), {}
        return losses.G_wgan(G_fn, D_fn, z, labels), {}

    def loss(self, network):
        """The loss function that trains `network` ("D" or "G")."""
        return {"D": self.D_loss, "G": self.G_loss}[network]


class DynamicLossScale(tf.Module):
    """A dynamic loss scale per trained network, for float16 gradients (the rule of
    `keras.optimizers.LossScaleOptimizer`): an update with non-finite gradients is skipped and
    halves the scale (down to 1); 2000 good updates in a row double it.

    Attributes:
        scale: {"G": tf.Variable, "D": tf.Variable}, float32, starting at 2**15.
        good_steps: {"G": ..., "D": ...}, int64, good updates since the last change.
    """

    INITIAL = 2.0**15
    GROWTH_INTERVAL = 2000

    def __init__(self):
        super().__init__(name="loss_scale")
        self.scale = {n: tf.Variable(self.INITIAL, dtype=tf.float32, trainable=False)
                      for n in NETWORKS}
        self.good_steps = {n: tf.Variable(0, dtype=tf.int64, trainable=False) for n in NETWORKS}

    def by_name(self) -> dict[str, tf.Variable]:
        out = {}
        for n in NETWORKS:
            out[f"{n}/scale"] = self.scale[n]
            out[f"{n}/good_steps"] = self.good_steps[n]
        return out

    def update(self, network, ok):
        """After an update of `network` that was applied (`ok`) or skipped."""
        scale, good = self.scale[network], self.good_steps[network]
        new_good = tf.where(ok, good + 1, tf.zeros_like(good))
        new_scale = tf.where(ok, scale, tf.maximum(scale * 0.5, 1.0))
        grow = new_good >= self.GROWTH_INTERVAL
        scale.assign(tf.where(grow, new_scale * 2.0, new_scale))
        good.assign(tf.where(grow, tf.zeros_like(new_good), new_good))


class StepTotals(tf.Module):
    """Sums of the step statistics over the applied steps since the last `read_means`, kept on
    the device so that reading them is the only host sync of a tick.

    Attributes:
        sums: {statistic name: float32 tf.Variable}.
        steps: int64 tf.Variable, the applied steps summed.
    """

    def __init__(self, names):
        super().__init__(name="step_totals")
        self.names = tuple(names)
        self.sums = {n: tf.Variable(0.0, dtype=tf.float32, trainable=False) for n in self.names}
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def add(self, stats, ok):
        if set(stats) != set(self.names):
            raise ValueError(f"step statistics {sorted(stats)} != {sorted(self.names)}")
        for name, value in stats.items():
            value = tf.where(tf.math.is_finite(value), value, tf.zeros_like(value))
            self.sums[name].assign_add(tf.where(ok, value, tf.zeros_like(value)))
        self.steps.assign_add(tf.cast(ok, tf.int64))

    def read_means(self) -> dict[str, float]:
        """{name: mean over the applied steps} (0 without any), then starts again from zero."""
        n = max(int(self.steps.numpy()), 1)
        means = {name: float(v.numpy()) / n for name, v in self.sums.items()}
        for v in self.sums.values():
            v.assign(0.0)
        self.steps.assign(0)
        return means


class TrainStep:
    """The traced training steps of a run, one per (resolution, global minibatch).

    Args:
        networks: training.networks.Networks.
        losses: StyleGANLosses (or another object with `loss(network)` and `stat_names`).
        strategy: tf.distribute.Strategy.
        state: training.checkpoint.TrainState (its `nonfinite_total` counts skipped steps).
        G_smoothing_kimg: float. Half-life of the Gs average in kimg (0: Gs copies G).
        xla: bool. XLA-compile each replica's forward and backward passes.

    Attributes:
        loss_scale: DynamicLossScale (used when `networks.loss_scaling`).
        totals: StepTotals of the statistics "Loss/D", D's extra ones, "Loss/G".
        consecutive_bad: int64 tf.Variable, skipped steps in a row.
        trace_counts: Counter {resolution: traces}; one per level when nothing retraces.
    """

    def __init__(self, networks, losses, strategy, state, *, G_smoothing_kimg, xla=False):
        self.networks = networks
        self.losses = losses
        self.strategy = strategy
        self.state = state
        self.G_smoothing_kimg = float(G_smoothing_kimg)
        self.xla = bool(xla)
        self.loss_scale = DynamicLossScale()
        names = [n for network in NETWORKS
                 for n in (f"Loss/{network}",) + tuple(losses.stat_names[network])]
        self.totals = StepTotals(names)
        self.consecutive_bad = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.trace_counts = collections.Counter()
        self._functions = {}
        # (Gs variable, G variable) pairs of the moving average, matched by name.
        G_vars = variables_by_name(networks.G)
        self._average_pairs = [(v, G_vars[name])
                               for name, v in variables_by_name(networks.Gs).items()]

    # -- One replica ------------------------------------------------------------------------------
    def _replica_loss(self, network, replica, resolution, reals, labels, alpha, seed):
        loss, stats = self.losses.loss(network)(replica, resolution, reals, labels, alpha, seed)
        total = tf.reduce_sum(loss) / replica.global_batch
        # Per-replica shares of the global means (summed over the replicas by the step).
        shares = {name: tf.reduce_sum(v) / replica.global_batch for name, v in stats.items()}
        return total, {f"Loss/{network}": total, **shares}

    def replica_gradients(self, network, resolution, global_batch, reals, labels, alpha, seed):
        """One replica's gradients of `network`'s ("D" or "G") loss (None for variables the level
        does not use), whether they or the loss are non-finite (int32 0/1), and its shares of
        the global-mean statistics. `seed` is the network's seed of the step (`phase_seeds`)."""
        replica = ReplicaBatch(global_batch)
        variables = self.networks.network(network).trainable_variables
        scaling = self.networks.loss_scaling
        scale = self.loss_scale.scale[network]
        with tf.GradientTape() as tape:
            total, stats = self._replica_loss(network, replica, resolution, reals, labels, alpha,
                                              seed)
            scaled = total * scale if scaling else total
        grads = tape.gradient(scaled, variables)
        if scaling:
            grads = [None if g is None else g / scale for g in grads]
        finite = tf.logical_and(tf.math.is_finite(total), _all_finite(grads))
        return grads, tf.cast(tf.logical_not(finite), tf.int32), stats

    @staticmethod
    def phase_seeds(seed):
        """{"D": seed, "G": seed}: the seeds of the two updates of the step seeded `seed`."""
        seeds = rng.split(seed, 2)
        return {"D": seeds[0], "G": seeds[1]}

    # -- The step ---------------------------------------------------------------------------------
    def _update(self, network, grads_fn, reals, labels, alpha, seed):
        strategy = self.strategy
        grads, bad, stats = strategy.run(grads_fn, args=(reals, labels, alpha, seed))
        ok = strategy.reduce(_SUM, bad, axis=None) == 0
        opt = self.networks.optimizer(network)
        variables = self.networks.network(network).trainable_variables
        tf.cond(ok, lambda: strategy.run(lambda g: opt.apply(g, variables), args=(grads,)),
                lambda: None)
        if self.networks.loss_scaling:
            self.loss_scale.update(network, ok)
        return ok, {name: strategy.reduce(_SUM, v, axis=None) for name, v in stats.items()}

    def _update_Gs(self, beta):
        for dst, src in self._average_pairs:
            if src.trainable:
                dst.assign(src.value + (dst.value - src.value) * beta)
            else:
                dst.assign(src.value)

    def make_function(self, resolution, global_batch):
        """A newly traced step `fn(reals, labels, alpha, seed) -> {statistic: global mean}` at
        `resolution` with `global_batch` samples (reals and labels as the distributed dataset
        gives them; alpha a float32 scalar; seed int32 [2]). Use `function` to share them."""
        half_life = self.G_smoothing_kimg
        beta = 0.5 ** (global_batch / (half_life * 1000.0)) if half_life > 0 else 0.0
        grads_fns = {}
        for network in NETWORKS:
            def fn(reals, labels, alpha, seed, network=network):
                return self.replica_gradients(network, resolution, global_batch, reals, labels,
                                              alpha, seed)
            grads_fns[network] = tf.function(fn, jit_compile=True) if self.xla else fn

        def step(reals, labels, alpha, seed):
            self.trace_counts[resolution] += 1  # Python side effect: runs once per trace.
            # The variables of the other levels get no gradient here, by design.
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
            seeds = self.phase_seeds(seed)
            d_ok, d_stats = self._update("D", grads_fns["D"], reals, labels, alpha, seeds["D"])
            self._update_Gs(beta)
            g_ok, g_stats = self._update("G", grads_fns["G"], reals, labels, alpha, seeds["G"])
            stats = {**d_stats, **g_stats}
            ok = tf.logical_and(d_ok, g_ok)
            self.totals.add(stats, ok)
            self.consecutive_bad.assign(
                tf.where(ok, tf.zeros([], tf.int64), self.consecutive_bad + 1))
            self.state.nonfinite_total.assign_add(1 - tf.cast(ok, tf.int64))
            return stats

        return tf.function(step, reduce_retracing=False)

    def function(self, resolution, global_batch):
        """The traced step of a level (made on first use, then reused)."""
        key = (int(resolution), int(global_batch))
        if key not in self._functions:
            self._functions[key] = self.make_function(*key)
        return self._functions[key]

    def loss_values(self, resolution, global_batch, reals, labels, alpha, seed):
        """{"Loss/D": ..., "Loss/G": ..., ...} as floats: the losses the step seeded `seed` would
        minimize on these inputs, without updating anything (G's dlatent_avg, which every
        training-mode pass of G moves, is put back). One device's view: `reals` and `labels`
        are the whole global batch."""
        G = self.networks.G
        dlatent_avg = G.dlatent_avg.numpy()
        seeds = self.phase_seeds(tf.convert_to_tensor(seed, tf.int32))
        replica = ReplicaBatch(global_batch)
        out = {}
        for network in NETWORKS:
            _, stats = self._replica_loss(network, replica, resolution, reals, labels,
                                          tf.convert_to_tensor(alpha, tf.float32), seeds[network])
            out.update({name: float(v.numpy()) for name, v in stats.items()})
        G.dlatent_avg.assign(dlatent_avg)
        return out


def _all_finite(tensors):
    """True when every tensor is finite (None entries, unused variables, are ignored)."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32)))
                          for t in tensors if t is not None])
