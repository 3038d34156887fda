"""The lazy-regularization cycle of a training step, and the per-step average over it.

StyleGAN2 regularizes lazily (Karras et al. 2020, section 3.1; NVlabs/stylegan2
training_loop.py): step i runs the path-length regularization ("G_reg") when i is a multiple of
`G_reg_interval` (4) and R1 ("D_reg") when i is a multiple of `D_reg_interval` (16), the first
step included (`training.step.TrainStep.variant`). Which of them a step runs is its variant, and
each variant is a traced step of its own, with its own time. The variants repeat with the least
common multiple of the intervals, L (16): at the official intervals a cycle holds 12 plain steps,
3 steps with G_reg and 1 with G_reg and D_reg (step 0).

The per-step average is the mean over one cycle of each step's variant time:

    average = (1 / L) * sum over i in 0 .. L-1 of time(variant(i))

which is what a long run spends per step (every cycle is the same). A family without lazy
regularization has one variant, the plain step (L = 1). A variant no cycle runs (at the
official intervals, "D_reg" alone) is timed for the reader, not counted.
"""

from __future__ import annotations

import math

__all__ = ["PLAIN", "cycle_average", "cycle_counts", "cycle_variants", "phases_run",
           "variant_label", "variants_to_time"]

PLAIN = ()  # the variant of a step that runs no regularization phase


def cycle_variants(variant_of, reg_intervals) -> list[tuple]:
    """The variant of each step of one cycle, [variant_of(i) for i in 0 .. L-1], where L is
    the least common multiple of the intervals (1 without any).

    Args:
        variant_of: callable(step index) -> tuple of phase names (`TrainStep.variant`).
        reg_intervals: {phase: interval} (the losses object's `reg_intervals`).
    """
    length = math.lcm(*(int(k) for k in reg_intervals.values())) if reg_intervals else 1
    return [tuple(variant_of(i)) for i in range(length)]


def cycle_counts(cycle) -> dict[tuple, int]:
    """{variant: how many steps of the cycle run it}, in order of first appearance."""
    counts = {}
    for variant in cycle:
        counts[variant] = counts.get(variant, 0) + 1
    return counts


def cycle_average(seconds, cycle) -> float:
    """The mean over the cycle's steps of their variant's time: `seconds` is {variant:
    seconds per step}, `cycle` the list of `cycle_variants`."""
    missing = sorted({v for v in cycle if v not in seconds})
    if missing:
        raise ValueError(f"no time for the variants {missing} of the cycle")
    return sum(seconds[v] for v in cycle) / len(cycle)


def variants_to_time(cycle, reg_intervals, which="all") -> list[tuple]:
    """The variants a benchmark times, the plain step first.

    Args:
        cycle: `cycle_variants`.
        reg_intervals: {phase: interval}.
        which: "all" (the plain step, each regularization phase alone, and every variant of
            the cycle), "cycle" (the plain step and the cycle's variants: enough for the
            average) or "plain".
    """
    if which not in ("all", "cycle", "plain"):
        raise ValueError(f"`which` must be 'all', 'cycle' or 'plain'. Received: {which!r}")
    out = [PLAIN]
    candidates = []
    if which == "all":
        candidates += [(phase,) for phase in reg_intervals]
    if which in ("all", "cycle"):
        candidates += list(cycle)
    for variant in candidates:
        if variant not in out:
            out.append(variant)
    return out


def phases_run(phases, reg_intervals, variant) -> tuple:
    """The phases a step of `variant` runs, in order: every phase of `phases` (the losses
    object's `PHASES`) that is not a regularization phase, or is one of the variant's (the rule
    of `TrainStep.make_function`)."""
    return tuple(p for p in phases if p not in reg_intervals or p in variant)


def variant_label(variant) -> str:
    """"plain" or the variant's phases joined by "+" ("G_reg+D_reg")."""
    return "+".join(variant) if variant else "plain"
