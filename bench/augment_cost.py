"""What adaptive discriminator augmentation costs per training step: the ADA pipe
(`tf_stylegan.augment.AugmentPipe`) timed alone on the images D sees in a step.

StyleGAN2-ADA (Karras et al. 2020, arXiv 2006.06676, section 2.3; stylegan2-ada-pytorch
`training/loss.py:50-126`) augments every image D sees, each D input with draws of its own:

- G: the fakes; G's gradient goes back through the pipe ("grad": forward + backward).
- D: the fakes and the reals, no gradient through the pipe ("forward" each); when R1 is part of
  the D step (StyleGAN) the reals take R1's ("r1").
- D_reg: the reals, R1's gradient ("r1").
- G_reg, Gs: none.

R1 is taken with respect to the un-augmented reals, so its gradient goes back through the pipe,
and its weight gradient differentiates that backward pass again. Each pattern is timed alone on
one D input of a replica's share of the step's batch (the whole batch on one device), in the
step's passes of `minibatch_gpu` samples (each pass its own seed, one after the other), with
stand-ins for D:
- "forward": y = pipe(x);
- "grad": the gradient of sum(pipe(x) * v) with respect to x, v a fixed tensor standing in for
  the gradient D sends back: the pipe's forward and backward;
- "r1": with u standing in for D's output gradient, g = d sum(pipe(x) * u) / dx, then
  d sum(g ** 2) / du: forward, backward and the backward of the backward, which is what R1's
  weight gradient runs through the pipe.
A step's pipe cost is the sum over the phases it runs (`lazy_cycle.phases_run`) of their
patterns' times; for a family with lazy regularization the reported cost is the average over
the cycle (`lazy_cycle`), like the step's.

As in training, the pipe pads its geometric stage by the batch's own margin without XLA and by
the static largest margin under XLA (`AugmentPipe(static_padding=...)`), and at levels under 22
pixels runs without `imgfilter` (its reflect padding needs 22). With the batch margin the work
grows with p (larger transforms need a larger margin); with static padding p changes nothing:
every stage runs on every image, the gates choose the parameters.

The step with augmentation (the training loop's step with the pipe inside, the cost a run
pays) is timed when this tree's training has the augmentation options
(`augmented_step_fields`); otherwise the plan prints why it is not.
"""

from __future__ import annotations

import dataclasses

from bench.lazy_cycle import cycle_average, phases_run, variant_label
from bench.measurement import timed_calls

__all__ = ["IMGFILTER_MIN_SIZE", "PATTERNS", "StepStructure", "augment_record",
           "augmented_step_fields", "pattern_function", "pipe_for", "step_pipe_seconds",
           "time_patterns"]

PATTERNS = ("forward", "grad", "r1")
# The smallest side the imgfilter stage takes (official reflect padding of 21).
IMGFILTER_MIN_SIZE = 22


@dataclasses.dataclass(frozen=True)
class StepStructure:
    """The phases of a training step and which D inputs each augments.

    Args:
        phases: tuple. The losses object's `PHASES`, in order.
        reg_intervals: dict {phase: interval} of the lazy regularization phases.
        r1_in_D: bool. R1 is part of the D phase (a family without lazy regularization, R1
            gamma not 0), so D's reals take the "r1" pattern.
        cycle: list of the variants of one cycle's steps (`lazy_cycle.cycle_variants`).
    """

    phases: tuple
    reg_intervals: dict
    r1_in_D: bool
    cycle: list

    @classmethod
    def of(cls, trainer, cycle):
        cfg = trainer.cfg
        return cls(phases=tuple(trainer.losses.PHASES),
                   reg_intervals=dict(trainer.losses.reg_intervals),
                   r1_in_D=not cfg.lazy and cfg.r1_gamma != 0,
                   cycle=list(cycle))

    def inputs(self, phase) -> tuple:
        """The patterns of the D inputs `phase` augments (see the module docstring)."""
        return {"G": ("grad",),
                "D": ("forward", "r1" if self.r1_in_D else "forward"),
                "D_reg": ("r1",)}.get(phase, ())

    def inputs_per_step(self, pattern) -> float:
        """How many D inputs of the step's batch take `pattern`, per step (averaged over the
        cycle)."""
        total = sum(self.inputs(phase).count(pattern) for v in self.cycle
                    for phase in phases_run(self.phases, self.reg_intervals, v))
        return total / len(self.cycle)

    def patterns(self) -> tuple:
        """The patterns some step of the cycle runs, in `PATTERNS` order."""
        used = {pat for v in self.cycle
                for phase in phases_run(self.phases, self.reg_intervals, v)
                for pat in self.inputs(phase)}
        return tuple(p for p in PATTERNS if p in used)


def step_pipe_seconds(pattern_seconds, structure, variant) -> float:
    """The pipe's seconds in a step of `variant`: the sum over the phases it runs of the times
    of their D inputs' patterns (`pattern_seconds`: {pattern: seconds for one D input of the
    step's batch})."""
    return sum(pattern_seconds[pat]
               for phase in phases_run(structure.phases, structure.reg_intervals, variant)
               for pat in structure.inputs(phase))


def pipe_for(augpipe, resolution, static_padding):
    """(AugmentPipe, whether imgfilter runs) of D's inputs at `resolution`: the `--augpipe`
    preset, without imgfilter below `IMGFILTER_MIN_SIZE` pixels, as training runs it."""
    from tf_stylegan.augment import AugmentPipe

    pipe = AugmentPipe.from_preset(augpipe, static_padding=static_padding)
    if pipe.spec.enabled("imgfilter") and resolution < IMGFILTER_MIN_SIZE:
        return AugmentPipe.from_preset(augpipe, static_padding=static_padding,
                                       imgfilter=0.0), False
    return pipe, pipe.spec.enabled("imgfilter")


def pattern_function(pipe, pattern, passes, p, xla=False):
    """A tf.function `fn(x, u, seed) -> scalar` running `pattern` on the batch `x` in `passes`
    passes, one after the other (pass i seeded `fold_in(seed, i)`); `u` is the stand-in for D's
    gradient, shaped like `x`. `pipe(images, p, seed)` may be any callable of that signature."""
    import tensorflow as tf

    from tf_stylegan import rng

    if pattern not in PATTERNS:
        raise ValueError(f"`pattern` must be one of {PATTERNS}. Received: {pattern!r}")
    p = tf.constant(float(p), tf.float32)

    def one_pass(x, u, seed):
        if pattern == "forward":
            return tf.reduce_sum(pipe(x, p, seed))
        if pattern == "grad":
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(pipe(x, p, seed) * u)
            return tf.reduce_sum(tape.gradient(total, x))
        with tf.GradientTape() as outer:
            outer.watch(u)
            with tf.GradientTape() as inner:
                inner.watch(x)
                total = tf.reduce_sum(pipe(x, p, seed) * u)
            g = inner.gradient(total, x)
            penalty = tf.reduce_sum(tf.square(g))
        return tf.reduce_sum(outer.gradient(penalty, u))

    def run(x, u, seed):
        size = x.shape[0] // passes
        out = tf.zeros([], tf.float32)
        for i in range(passes):
            # Pass i starts once pass i - 1 is done, as the step's passes run.
            with tf.control_dependencies([out]):
                xi, ui = x[i * size:(i + 1) * size], u[i * size:(i + 1) * size]
                out = out + one_pass(xi, ui, rng.fold_in(seed, i))
        return out

    return tf.function(run, jit_compile=bool(xla))


def time_patterns(pipe, patterns, batch, passes, res, channels, p, xla, scope, warmup,
                  steps) -> dict:
    """{pattern: seconds per call} of each pattern on one D input of `batch` images of
    res x res x channels (uniform in [-1, 1], the networks' range), after `warmup` calls;
    every call runs inside `scope()` (the step's precision)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(3)
    x = tf.constant(rng.uniform(-1.0, 1.0, [batch, res, res, channels]).astype(np.float32))
    u = tf.constant(rng.standard_normal([batch, res, res, channels]).astype(np.float32))
    seeds = [tf.constant([11, i], tf.int32) for i in range(warmup + steps)]
    out = {}
    for pattern in patterns:
        fn = pattern_function(pipe, pattern, passes, p, xla)
        last = []

        def call(i, fn=fn, last=last):
            with scope():
                last[:] = [fn(x, u, seeds[i])]

        _, dt, _ = timed_calls(call, warmup, steps, lambda last=last: last[0].numpy())
        out[pattern] = dt / steps
    return out


def augment_record(pattern_seconds, structure, step_seconds) -> dict:
    """The per-step fields of an "augment" record: the pipe's seconds in each variant of the
    cycle and their cycle average, beside the step's (`step_seconds`: the step's seconds per
    step over the same cycle, or None)."""
    per_variant = {v: step_pipe_seconds(pattern_seconds, structure, v)
                   for v in dict.fromkeys(structure.cycle)}
    average = cycle_average(per_variant, structure.cycle)
    return {"pattern_seconds": pattern_seconds,
            "variant_sec_per_step": {variant_label(v): s for v, s in per_variant.items()},
            "sec_per_step": average, "step_sec_per_step": step_seconds,
            "fraction_of_step": average / step_seconds if step_seconds else None}


def augmented_step_fields(augpipe, p):
    """The `TrainingConfig` fields that put the pipe `augpipe` into the training step at a
    fixed probability p, or None where this tree's training has no augmentation option."""
    from training.training_config import TrainingConfig

    if "aug" not in TrainingConfig.__dataclass_fields__:
        return None
    return {"aug": "fixed", "augpipe": augpipe, "augment_p": float(p)}
