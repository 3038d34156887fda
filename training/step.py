"""The training step: losses wired to optimizers across replicas, loss scaling, skipped non-finite
steps and the Gs moving average (official `training/training_loop.py` and `tflib/optimizer.py`).

A step runs the phases of its losses object in their order (`PHASES`): each network phase is one
update of that network's optimizer on the phase's loss, and "Gs" is the moving average
Gs <- lerp(G, Gs, beta), `beta = 0.5 ** (minibatch / (G_smoothing_kimg * 1000))` (a 10-kimg
half-life; with StyleGAN2-ADA's ramp-up the half-life grows with the images shown, `Gs_beta`),
with the non-trainables (dlatent_avg, noise buffers) copied (official `beta_nontrainable=0`).
The average runs only over the variables where it changes something: those the step's G phases
update and those whose Gs copy differs from G; the others are already equal (`_update_Gs`).
Around the phases the losses object's `begin_step` and `end_step` run (the ADA window and the
adjustment of the augmentation probability, `training/adaptive_augment.py`). Frozen variables
(Freeze-D, `training/transfer_learning.py`) get no gradient, so the optimizer leaves them
alone. The losses objects: `training/stylegan_losses.py` (D, Gs, G, as NVlabs/stylegan) and
`training/stylegan2_losses.py` (G, G path-length regularization, Gs, D, D R1, the
regularization phases on every 4th / 16th step only, as NVlabs/stylegan2).

Distribution. Each replica computes its loss as `sum(per-sample loss) / global_batch` (summed over
its passes when it accumulates gradients); Keras 3 sums the replicas' gradients in `apply`, which
makes it the global mean (the official code averages the GPUs' means). An update whose loss or
gradients are non-finite on any replica is skipped by every replica: the flag is summed over
replicas before the update (official `tflib/optimizer.py` skips non-finite updates). Samples are
drawn for the global batch and sliced per replica (`ReplicaBatch`), so N replicas see the latents
one device sees; the noise inputs and style mixing inside G are drawn by each replica (each pass)
from its own seed, as each official GPU draws its own.

One tf.function is traced per (resolution, minibatch, regularization variant): the fade-in
alpha and the seed are tensor arguments and the learning rates optimizer variables, so nothing
retraces within a level. With the oneDNN bfloat16 rewrite (`training/precision.py`) every call
of a step runs inside `precision.step_scope`, so each step's graph is instantiated with the
rewrite on the first call and reused by the later ones (`ScopedFunction`). The step returns its
statistics by name, global means as tensors, and adds them to `totals` on the device; they are
read at tick boundaries, the only host syncs.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import tensorflow as tf

from tf_stylegan import rng

from .precision import ONEDNN_BFLOAT16, step_scope
from .trained_networks import variables_by_name

__all__ = ["DynamicLossScale", "Gs_beta", "ReplicaBatch", "ScopedFunction", "StepTotals",
           "TrainStep"]

_SUM = tf.distribute.ReduceOp.SUM
NETWORKS = ("D", "G")  # the trained networks (each has its optimizer and loss scale)


def Gs_beta(global_batch, half_life_kimg, rampup=None, nimg=0):
    """The Gs moving average's beta for a step of `global_batch` samples: `0.5 ** (global_batch
    / half-life in images)`, 0 (Gs copies G) for a half-life of 0.

    The half-life is `half_life_kimg * 1000` images (official `G_smoothing_kimg`, `ema_kimg`);
    with a `rampup` (StyleGAN2-ADA `ema_rampup`, training_loop.py:297-301) it is
    `min(half_life_kimg * 1000, nimg * rampup)`, where `nimg` is the images shown before the
    step, so Gs follows G closely early in training (beta 0 at the first step).
    """
    ema_nimg = float(half_life_kimg) * 1000.0
    if rampup is not None:
        ema_nimg = min(ema_nimg, float(nimg) * float(rampup))
    return 0.5 ** (int(global_batch) / ema_nimg) if ema_nimg > 0 else 0.0


class ReplicaBatch:
    """This replica's share of a global minibatch of `global_batch` samples, or one pass of it.

    Create it inside `strategy.run` (or outside any strategy: one replica). With `passes` > 1
    the replica's share is run in that many passes (gradient accumulation) and this object is
    pass `pass_index`'s; `batch` is the number of samples it holds. Draws that define the
    samples (latents, label rows, WGAN-GP mixing factors) are made for the global batch and cut
    with `rows`, so N replicas see what one device sees. Draws that each official GPU makes on
    its own (G's noise inputs and style mixing) take `own_seed(seed)`, which differs between
    replicas and passes: replica r's pass p draws what one device's pass `r * passes + p` does.
    """

    def __init__(self, global_batch: int, passes: int = 1, pass_index: int = 0):
        ctx = tf.distribute.get_replica_context()
        self.num_replicas = int(ctx.num_replicas_in_sync)
        self.passes = int(passes)
        slots = self.num_replicas * self.passes
        if global_batch % slots:
            raise ValueError(f"global batch {global_batch} does not split over "
                             f"{self.num_replicas} replicas x {self.passes} passes")
        self.global_batch = int(global_batch)
        self.batch = self.global_batch // slots
        self.replica_id = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        self.pass_index = int(pass_index)
        # The index of this pass among all passes of all replicas.
        self.slot = self.replica_id * self.passes + self.pass_index

    def rows(self, x):
        """This replica's (pass's) rows of a tensor with the same number of rows for every
        pass of every replica: one per sample of the global batch, or fewer (the path-length
        regularizer draws `global_batch / pl_batch_shrink`)."""
        slots = self.num_replicas * self.passes
        if slots == 1:
            return x
        n = int(x.shape[0]) // slots
        return tf.gather(x, tf.range(n) + self.slot * n)

    def own_seed(self, seed):
        """A seed of this replica's pass alone: `seed` folded with its slot (the replica id
        when there is one pass)."""
        return rng.fold_in(seed, self.slot)


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

    A statistic is summed over the applied steps that report it: the statistics of a lazy
    regularization phase only on the steps that run it. For the phases named in `counted`, the
    number of applied steps that ran them is reported too, as `Updates/<phase>`.

    Attributes:
        sums: {statistic name: float32 tf.Variable}.
        counts: {statistic name: int64 tf.Variable}, the applied steps summed into it.
        steps: int64 tf.Variable, the applied steps.
    """

    def __init__(self, names, counted=()):
        super().__init__(name="step_totals")
        self.names = tuple(names)
        self.counted = dict(counted)  # {phase: the statistic whose count is the phase's}
        self.sums = {n: tf.Variable(0.0, dtype=tf.float32, trainable=False) for n in self.names}
        self.counts = {n: tf.Variable(0, dtype=tf.int64, trainable=False) for n in self.names}
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def add(self, stats, ok):
        """Adds one step's statistics (those of the phases it ran) if the step was applied."""
        if not set(stats) <= set(self.names):
            raise ValueError(f"step statistics {sorted(stats)} not in {sorted(self.names)}")
        for name, value in stats.items():
            value = tf.where(tf.math.is_finite(value), value, tf.zeros_like(value))
            self.sums[name].assign_add(tf.where(ok, value, tf.zeros_like(value)))
            self.counts[name].assign_add(tf.cast(ok, tf.int64))
        self.steps.assign_add(tf.cast(ok, tf.int64))

    def read_means(self) -> dict[str, float]:
        """{name: mean over the applied steps that reported it} (0 without any), plus
        `Updates/<phase>` for the counted phases; then starts again from zero."""
        means = {name: float(v.numpy()) / max(int(self.counts[name].numpy()), 1)
                 for name, v in self.sums.items()}
        for phase, name in self.counted.items():
            means[f"Updates/{phase}"] = int(self.counts[name].numpy())
        for v in list(self.sums.values()) + list(self.counts.values()):
            v.assign(tf.zeros_like(v))
        self.steps.assign(0)
        return means

    def by_name(self) -> dict[str, tf.Variable]:
        """The sums and counts by name, for a checkpoint taken in the middle of a tick."""
        out = {f"sum/{name}": v for name, v in self.sums.items()}
        out.update({f"count/{name}": v for name, v in self.counts.items()})
        out["steps"] = self.steps
        return out


class TrainStep:
    """The traced training steps of a run, one per (resolution, global minibatch, variant).

    A step runs the phases of `losses.PHASES` in order: an update of a network ("D", "G"), a
    lazy regularization update ("G_reg", "D_reg", StyleGAN2; with the same optimizer as the
    network's main update, official `share=G_opt/D_opt`), or "Gs", the moving average. A
    regularization phase runs on the steps whose index is a multiple of its interval
    (`losses.reg_intervals`), the first step included; which ones a step runs is its variant,
    and each variant is traced once.

    Accumulation: each replica's share of the global minibatch is run in passes of
    `losses.pass_size(...)` samples (official `minibatch_gpu`), the gradients of the passes
    summed before one update; a network's gradient is the mean over the global minibatch
    whatever the number of replicas and passes (official `tflib/optimizer.py` averages GPUs and
    rounds).

    Args:
        networks: training.trained_networks.Networks.
        losses: StyleGANLosses or StyleGAN2Losses.
        strategy: tf.distribute.Strategy.
        state: training.checkpoint.TrainState (its `nonfinite_total` counts skipped steps).
        G_smoothing_kimg: float. Half-life of the Gs average in kimg (0: Gs copies G).
        G_smoothing_rampup: float or None. The half-life's ramp-up (`Gs_beta`): the step then
            reads beta from a variable that `set_images_shown` sets before each step.
        xla: bool. XLA-compile each replica's forward and backward passes.
        frozen: trainable variables that no phase updates (Freeze-D): they get no gradient.

    Attributes:
        loss_scale: DynamicLossScale (used when `networks.loss_scaling`).
        totals: StepTotals of "Loss/<phase>" and each phase's extra statistics.
        consecutive_bad: int64 tf.Variable, skipped steps in a row.
        trace_counts: Counter {resolution: traces}; one per level and variant when nothing
            retraces.
        variant_traces: Counter {(resolution, variant): traces}.
        average_pairs: [(Gs variable, G variable)] of the moving average, matched by name.
        average_all: bool. Average every trainable G variable, as the official
            `setup_as_moving_average_of` writes it, instead of those where it changes something
            (`_update_Gs`); the two are bit-identical, this one does more work at low levels.
            Set it before the first step is traced (tests and benchmarks compare the two).
    """

    def __init__(self, networks, losses, strategy, state, *, G_smoothing_kimg,
                 G_smoothing_rampup=None, xla=False, frozen=()):
        self.networks = networks
        self.losses = losses
        self.strategy = strategy
        self.state = state
        self.G_smoothing_kimg = float(G_smoothing_kimg)
        self.G_smoothing_rampup = G_smoothing_rampup
        self.Gs_beta_variable = None
        if G_smoothing_rampup is not None:
            self.Gs_beta_variable = tf.Variable(0.0, dtype=tf.float32, trainable=False,
                                                name="Gs_beta")
        self.xla = bool(xla)
        self.frozen = {id(v) for v in frozen}
        self.loss_scale = DynamicLossScale()
        self.phases = tuple(p for p in losses.PHASES if p != "Gs")
        names = [n for phase in self.phases
                 for n in (f"Loss/{phase}",) + tuple(losses.stat_names[phase])]
        self.totals = StepTotals(names, {p: f"Loss/{p}" for p in losses.reg_intervals})
        self.consecutive_bad = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.trace_counts = collections.Counter()
        self.variant_traces = collections.Counter()
        self._functions = {}
        G_vars = variables_by_name(networks.G)
        self.average_pairs = [(v, G_vars[name])
                              for name, v in variables_by_name(networks.Gs).items()]
        self.average_all = False

    def set_images_shown(self, nimg, global_batch):
        """Before a step of `global_batch` samples at `nimg` images shown: sets the Gs beta of
        a ramped-up half-life (nothing without one)."""
        if self.Gs_beta_variable is not None:
            self.Gs_beta_variable.assign(Gs_beta(global_batch, self.G_smoothing_kimg,
                                        self.G_smoothing_rampup, nimg))

    @staticmethod
    def network_of(phase):
        """The network a phase trains: "G" for "G" and "G_reg", "D" for "D" and "D_reg"."""
        return phase.split("_")[0]

    def variant(self, step):
        """The regularization phases the step with index `step` (from 0) runs, in order."""
        return tuple(p for p, k in self.losses.reg_intervals.items() if int(step) % k == 0)

    # -- One replica ------------------------------------------------------------------------------
    def _pass_loss(self, phase, replica, resolution, reals, labels, alpha, seed):
        loss, stats = self.losses.loss(phase)(replica, resolution, reals, labels, alpha, seed)
        n = tf.compat.dimension_value(loss.shape[0])
        if n is None:
            raise ValueError(f"the {phase} loss must have a static batch size")
        # This pass's share of the global mean: the phase has n samples in each pass of each
        # replica (the path-length pass fewer than the others).
        count = n * replica.passes * replica.num_replicas
        total = tf.reduce_sum(loss) / count
        shares = {name: tf.reduce_sum(v) / count for name, v in stats.items()}
        return total, {f"Loss/{phase}": total, **shares}

    def replica_gradients(self, phase, resolution, global_batch, reals, labels, alpha, seed):
        """One replica's gradients of the loss of `phase` ("D", "G", "G_reg", "D_reg") with
        respect to its network's trainable variables (None for variables the level does not
        use), summed over the replica's passes; whether they or the loss are non-finite (int32
        0/1); and its shares of the global-mean statistics. `seed` is the phase's seed of the
        step (`losses.phase_seeds`)."""
        network = self.network_of(phase)
        replica = ReplicaBatch(global_batch)
        passes = replica.batch // self.losses.pass_size(replica.batch, resolution)
        variables = self.networks.network(network).trainable_variables
        # Frozen variables get no gradient (None), so the optimizer skips them.
        trained = [v for v in variables if id(v) not in self.frozen]
        scaling = self.networks.loss_scaling
        scale = self.loss_scale.scale[network]
        grads, total, stats = None, None, None
        for p in range(passes):
            batch = ReplicaBatch(global_batch, passes=passes, pass_index=p)
            r, y = reals, labels
            if passes > 1:
                size = batch.batch
                r, y = reals[p * size:(p + 1) * size], labels[p * size:(p + 1) * size]
            # Pass p starts once pass p - 1's gradients exist: the passes run one after the
            # other, and only one pass's activations are held at a time.
            with tf.control_dependencies([g for g in grads or () if g is not None]):
                with tf.GradientTape() as tape:
                    t, st = self._pass_loss(phase, batch, resolution, r, y, alpha, seed)
                    scaled = t * scale if scaling else t
                g = iter(tape.gradient(scaled, trained))
                g = [None if id(v) in self.frozen else next(g) for v in variables]
            if scaling:
                g = [None if x is None else x / scale for x in g]
            if grads is None:
                grads, total, stats = g, t, st
            else:
                grads = [a if b is None else b if a is None else a + b
                         for a, b in zip(grads, g)]
                total = total + t
                stats = {k: stats[k] + st[k] for k in stats}
        finite = tf.logical_and(tf.math.is_finite(total), _all_finite(grads))
        return grads, tf.cast(tf.logical_not(finite), tf.int32), stats

    # -- The step ---------------------------------------------------------------------------------
    def update(self, phase, grads_fn, reals, labels, alpha, seed, updated=None):
        """One update of the phase's network; returns (applied, {statistic: global mean}).
        The ids of the trainable variables that got a gradient (the ones Adam updates) are
        added to the set `updated` when one is given."""
        strategy = self.strategy
        network = self.network_of(phase)
        grads, bad, stats = strategy.run(grads_fn, args=(reals, labels, alpha, seed))
        ok = strategy.reduce(_SUM, bad, axis=None) == 0
        opt = self.networks.optimizer(network)
        variables = self.networks.network(network).trainable_variables
        tf.cond(ok, lambda: strategy.run(lambda g: opt.apply(g, variables), args=(grads,)),
                lambda: None)
        if self.networks.loss_scaling:
            self.loss_scale.update(network, ok)
        if updated is not None:
            updated |= _with_gradient(variables, grads)
        return ok, {name: strategy.reduce(_SUM, v, axis=None) for name, v in stats.items()}

    def _probe_updated(self, phases, grads_fns, reals, labels, alpha, seeds):
        """The ids of the trainable variables that get a gradient in any of `phases`, found by
        tracing their gradient functions as `_update` calls them, without running them (the
        traced function is never called; under XLA the step reuses its traces)."""
        updated = set()

        def probe(reals, labels, alpha, seeds):
            for phase in phases:
                grads, _, _ = self.strategy.run(grads_fns[phase],
                                                args=(reals, labels, alpha, seeds[phase]))
                variables = self.networks.network(self.network_of(phase)).trainable_variables
                updated.update(_with_gradient(variables, grads))

        if phases:
            tf.function(probe).get_concrete_function(reals, labels, alpha, seeds)
        return updated

    def _differing_from_G(self, skip):
        """The ids of the trainable G variables, other than those in `skip`, whose Gs copy is
        not bit for bit G's now. Read eagerly (`tf.init_scope`) while the step is traced, i.e.
        before the first step of its level: the ToRGB layers of the lower levels, trained
        there and not used here, whose Gs copy still lags G's."""
        with tf.init_scope():
            return {id(src) for dst, src in self.average_pairs
                    if src.trainable and id(src) not in skip
                    and not np.array_equal(dst.numpy(), src.numpy())}

    def _update_Gs(self, beta, averaged):
        """Gs <- G + (Gs - G) * beta (official `Gs.setup_as_moving_average_of(G, beta)`) for the
        trainable variables of G whose ids are in `averaged`; the non-trainables (dlatent_avg,
        noise buffers) are copied (official `beta_nontrainable=0`).

        `make_function` averages the variables that a G phase of the step updates (a gradient
        that is not None) and those whose Gs copy differs from G when the level's step is
        traced. Every other trainable variable keeps its value in G for the whole level, and
        its Gs copy equals it bit for bit, so the full average would compute
        `x + (x - x) * beta`, which is `x` exactly: skipping it changes no number and keeps
        the work of a step proportional to its level (an 8x8 step averages the mapping and
        the 4x4 and 8x8 blocks, not the 1024x1024 ones).
        """
        for dst, src in self.average_pairs:
            if not src.trainable:
                dst.assign(src.value)
            elif id(src) in averaged:
                dst.assign(src.value + (dst.value - src.value) * beta)

    def make_function(self, resolution, global_batch, variant=()):
        """A newly traced step `fn(reals, labels, alpha, seed) -> {statistic: global mean}` at
        `resolution` with `global_batch` samples, running the regularization phases in
        `variant` (reals and labels as the distributed dataset gives them; alpha a float32
        scalar; seed int32 [2]). Use `function` to share them."""
        beta = Gs_beta(global_batch, self.G_smoothing_kimg)
        phases = [p for p in self.losses.PHASES
                  if p not in self.losses.reg_intervals or p in variant]
        grads_fns = {}
        for phase in phases:
            if phase == "Gs":
                continue

            def fn(reals, labels, alpha, seed, phase=phase):
                return self.replica_gradients(phase, resolution, global_batch, reals, labels,
                                              alpha, seed)
            grads_fns[phase] = tf.function(fn, jit_compile=True) if self.xla else fn

        def step(reals, labels, alpha, seed):
            # Python side effects: run once per trace.
            self.trace_counts[resolution] += 1
            self.variant_traces[(resolution, tuple(variant))] += 1
            # The variables of the other levels get no gradient here, by design.
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
            seeds = self.losses.phase_seeds(seed)
            self.losses.begin_step()
            beta_now = beta
            if self.Gs_beta_variable is not None:
                beta_now = self.Gs_beta_variable.read_value()
            stats, ok = {}, tf.constant(True)
            updated = set()  # ids of the G variables the G phases traced so far update
            for i, phase in enumerate(phases):
                if phase == "Gs":
                    # Gs averages the G variables that some G phase of this step updates: those
                    # of the phases before it (StyleGAN2: G, G_reg) are known from their
                    # traces; those after it (StyleGAN: G) are traced ahead, not run.
                    later = [p for p in phases[i + 1:] if self.network_of(p) == "G"]
                    updated |= self._probe_updated(later, grads_fns, reals, labels, alpha,
                                                   seeds)
                    averaged = updated | self._differing_from_G(updated)
                    if self.average_all:
                        averaged = {id(src) for _, src in self.average_pairs if src.trainable}
                    self._update_Gs(beta_now, averaged)
                    continue
                phase_ok, phase_stats = self.update(
                    phase, grads_fns[phase], reals, labels, alpha, seeds[phase],
                    updated=updated if self.network_of(phase) == "G" else None)
                stats.update(phase_stats)
                ok = tf.logical_and(ok, phase_ok)
            self.losses.end_step(global_batch)
            self.totals.add(stats, ok)
            self.consecutive_bad.assign(
                tf.where(ok, tf.zeros([], tf.int64), self.consecutive_bad + 1))
            self.state.nonfinite_total.assign_add(1 - tf.cast(ok, tf.int64))
            return stats

        fn = tf.function(step, reduce_retracing=False)
        if self.networks.precision == ONEDNN_BFLOAT16:
            return ScopedFunction(fn, self.scope)
        return fn

    def scope(self):
        """The context the run's step functions are called in (`precision.step_scope`): the
        oneDNN bfloat16 rewrite, or nothing. `function` wraps its calls in it; use it to call
        `replica_gradients` in a tf.function of one's own with the run's precision."""
        return step_scope(self.networks.precision)

    def function(self, resolution, global_batch, variant=()):
        """The traced step of a level and variant (made on first use, then reused); the
        variant of step i is `variant(i)`. Call `forget_functions` after replacing the
        networks' weights (the Gs average of a step depends on them, see `_update_Gs`)."""
        key = (int(resolution), int(global_batch), tuple(variant))
        if key not in self._functions:
            self._functions[key] = self.make_function(*key)
        return self._functions[key]

    def forget_functions(self):
        """Drops the traced steps: the next call of each level traces it anew."""
        self._functions.clear()

    def loss_values(self, resolution, global_batch, reals, labels, alpha, seed, variant=()):
        """{"Loss/D": ..., "Loss/G": ..., ...} as floats: the losses the step seeded `seed` would
        minimize on these inputs (with the regularization phases of `variant`), without
        updating anything (G's dlatent_avg, which every training-mode pass of G moves, and the
        losses' own state such as the path-length mean are put back). One device's view:
        `reals` and `labels` are the whole global batch."""
        saved = {"dlatent_avg": self.networks.G.dlatent_avg,
                 **self.losses.variables_by_name()}
        values = {name: v.numpy() for name, v in saved.items()}
        seeds = self.losses.phase_seeds(tf.convert_to_tensor(seed, tf.int32))
        replica = ReplicaBatch(global_batch)
        out = {}
        for phase in self.phases:
            if phase in self.losses.reg_intervals and phase not in variant:
                continue
            _, stats = self._pass_loss(phase, replica, resolution, reals, labels,
                                       tf.convert_to_tensor(alpha, tf.float32), seeds[phase])
            out.update({name: float(v.numpy()) for name, v in stats.items()})
        for name, v in saved.items():
            v.assign(values[name])
        return out


class ScopedFunction:
    """A tf.function whose every call (and trace) runs inside `scope()`: the training step under
    the oneDNN bfloat16 rewrite, whose grappler option is read when each concrete function is
    first called and must not stay on for other functions of the process."""

    def __init__(self, fn, scope):
        self.fn = fn
        self.scope = scope

    def __call__(self, *args):
        with self.scope():
            return self.fn(*args)

    def get_concrete_function(self, *args):
        with self.scope():
            return self.fn.get_concrete_function(*args)


def _with_gradient(variables, grads):
    """The ids of `variables` whose gradient in `grads` (aligned with them) is not None: the
    ones the optimizer updates (Keras' `apply` leaves the others alone). `grads` may hold
    per-replica values (`strategy.run`); None stays None there."""
    return {id(v) for v, g in zip(variables, grads, strict=True) if g is not None}


def _all_finite(tensors):
    """True when every tensor is finite (None entries, unused variables, are ignored)."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32)))
                          for t in tensors if t is not None])
