"""The lazy-regularization cycle (bench/lazy_cycle.py) against the official schedule: path
length on every 4th step and R1 on every 16th, the first included (NVlabs/stylegan2
training_loop.py), so a 16-step cycle holds 12 plain steps, 3 with G_reg and 1 with both."""

import types

import pytest

from bench import lazy_cycle
from training.step import TrainStep

OFFICIAL = {"G_reg": 4, "D_reg": 16}


def loop_variant(reg_intervals):
    """The training loop's own rule, `TrainStep.variant`, for these intervals."""
    holder = types.SimpleNamespace(losses=types.SimpleNamespace(reg_intervals=reg_intervals))
    return lambda i: TrainStep.variant(holder, i)


def test_the_official_cycle():
    cycle = lazy_cycle.cycle_variants(loop_variant(OFFICIAL), OFFICIAL)
    assert len(cycle) == 16
    assert cycle[0] == ("G_reg", "D_reg")
    assert [i for i, v in enumerate(cycle) if v == ("G_reg",)] == [4, 8, 12]
    assert lazy_cycle.cycle_counts(cycle) == {("G_reg", "D_reg"): 1, (): 12, ("G_reg",): 3}
    # Seconds of the plain, G_reg and G_reg+D_reg steps: (12 * 1 + 3 * 2 + 1 * 5) / 16.
    seconds = {(): 1.0, ("G_reg",): 2.0, ("G_reg", "D_reg"): 5.0, ("D_reg",): 100.0}
    assert lazy_cycle.cycle_average(seconds, cycle) == pytest.approx(23 / 16)
    with pytest.raises(ValueError, match="no time"):
        lazy_cycle.cycle_average({(): 1.0}, cycle)


def test_other_intervals_and_no_regularization():
    intervals = {"G_reg": 3, "D_reg": 2}
    cycle = lazy_cycle.cycle_variants(loop_variant(intervals), intervals)
    assert cycle == [("G_reg", "D_reg"), (), ("D_reg",), ("G_reg",), ("D_reg",), ()]
    assert lazy_cycle.cycle_variants(loop_variant({}), {}) == [()]
    assert lazy_cycle.cycle_average({(): 0.7}, [()]) == 0.7


def test_variants_to_time():
    cycle = lazy_cycle.cycle_variants(loop_variant(OFFICIAL), OFFICIAL)
    assert lazy_cycle.variants_to_time(cycle, OFFICIAL, "all") == \
        [(), ("G_reg",), ("D_reg",), ("G_reg", "D_reg")]
    assert lazy_cycle.variants_to_time(cycle, OFFICIAL, "cycle") == \
        [(), ("G_reg", "D_reg"), ("G_reg",)]
    assert lazy_cycle.variants_to_time(cycle, OFFICIAL, "plain") == [()]
    assert [lazy_cycle.variant_label(v) for v in ((), ("G_reg", "D_reg"))] == \
        ["plain", "G_reg+D_reg"]


def test_phases_run():
    phases = ("G", "G_reg", "Gs", "D", "D_reg")
    assert lazy_cycle.phases_run(phases, OFFICIAL, ()) == ("G", "Gs", "D")
    assert lazy_cycle.phases_run(phases, OFFICIAL, ("D_reg",)) == ("G", "Gs", "D", "D_reg")
