"""The augmentation cost per step (bench/augment_cost.py): which D inputs each phase of a step
augments and what gradient goes back through the pipe (stylegan2-ada-pytorch
`training/loss.py:50-126`), the timed patterns' math on a linear stand-in for the pipe (closed
forms), and the real pipe timed on a tiny batch (no timing assertion)."""

import dataclasses
import math
import types

import numpy as np
import pytest
import tensorflow as tf

from bench import augment_cost
from bench.lazy_cycle import cycle_variants
from tf_stylegan.families import get_family
from training.step import TrainStep
from training.training_config import TrainingConfig

STYLEGAN2_PHASES = ("G", "G_reg", "Gs", "D", "D_reg")  # official order (stylegan2_losses.py)
STYLEGAN_PHASES = ("D", "Gs", "G")
OFFICIAL = {"G_reg": 4, "D_reg": 16}
SECONDS = {"forward": 1.0, "grad": 10.0, "r1": 100.0}


def stand_in_trainer(family, phases, reg_intervals, r1_gamma=10.0):
    return types.SimpleNamespace(
        cfg=types.SimpleNamespace(network_family=get_family(family), r1_gamma=r1_gamma,
                                  lazy=get_family(family).lazy_regularization),
        losses=types.SimpleNamespace(PHASES=phases, reg_intervals=reg_intervals))


def cycle_of(reg_intervals):
    holder = types.SimpleNamespace(losses=types.SimpleNamespace(reg_intervals=reg_intervals))
    return cycle_variants(lambda i: TrainStep.variant(holder, i), reg_intervals)


def test_stylegan2_step_augments_fakes_twice_reals_once_and_r1_every_16th():
    trainer = stand_in_trainer("stylegan2", STYLEGAN2_PHASES, OFFICIAL)
    s = augment_cost.StepStructure.of(trainer, cycle_of(OFFICIAL))
    assert not s.r1_in_D  # lazy regularization: R1 is its own phase
    # Plain step: G's fakes (grad), D's fakes and reals (forward each) = 10 + 1 + 1.
    assert augment_cost.step_pipe_seconds(SECONDS, s, ()) == 12.0
    assert augment_cost.step_pipe_seconds(SECONDS, s, ("G_reg",)) == 12.0  # G_reg: no D
    assert augment_cost.step_pipe_seconds(SECONDS, s, ("G_reg", "D_reg")) == 112.0
    record = augment_cost.augment_record(SECONDS, s, step_seconds=73.0)
    assert record["sec_per_step"] == pytest.approx(12.0 + 100.0 / 16)
    assert record["fraction_of_step"] == pytest.approx((12.0 + 100.0 / 16) / 73.0)
    assert [s.inputs_per_step(p) for p in augment_cost.PATTERNS] == [2.0, 1.0, 1 / 16]
    assert s.patterns() == ("forward", "grad", "r1")


def test_stylegan_step_takes_r1_in_every_d_step():
    trainer = stand_in_trainer("stylegan", STYLEGAN_PHASES, {})
    s = augment_cost.StepStructure.of(trainer, cycle_of({}))
    assert s.r1_in_D
    # G's fakes (grad), D's fakes (forward), D's reals under R1.
    assert augment_cost.step_pipe_seconds(SECONDS, s, ()) == 111.0
    assert augment_cost.augment_record(SECONDS, s, None)["sec_per_step"] == 111.0
    no_r1 = augment_cost.StepStructure.of(
        stand_in_trainer("stylegan", STYLEGAN_PHASES, {}, r1_gamma=0.0), [()])
    assert augment_cost.step_pipe_seconds(SECONDS, no_r1, ()) == 12.0
    assert no_r1.patterns() == ("forward", "grad")


@pytest.mark.parametrize("passes", [1, 2])
def test_patterns_on_a_linear_stand_in(passes):
    """With pipe(x) = 3 x: forward sums 3 x; grad is d sum(3 x u) / dx = 3 u; r1 is
    d |3 u|^2 / du = 18 u (the backward of the backward)."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal([4, 8, 8, 1]).astype(np.float32))
    u = tf.constant(rng.standard_normal([4, 8, 8, 1]).astype(np.float32))
    seen = []

    def pipe(images, p, seed):
        seen.append(int(images.shape[0]))
        return 3.0 * images

    seed = tf.constant([1, 2], tf.int32)
    want = {"forward": 3 * x.numpy().sum(), "grad": 3 * u.numpy().sum(),
            "r1": 18 * u.numpy().sum()}
    for pattern, value in want.items():
        got = augment_cost.pattern_function(pipe, pattern, passes, p=0.5)(x, u, seed)
        assert float(got) == pytest.approx(value, rel=1e-5, abs=1e-4)
    assert set(seen) == {4 // passes}  # each pass sees its share of the batch


def test_pipe_without_imgfilter_below_22_pixels():
    pipe, imgfilter = augment_cost.pipe_for("bgcfnc", 16, static_padding=False)
    assert not imgfilter and not pipe.spec.enabled("imgfilter") and pipe.spec.enabled("cutout")
    pipe, imgfilter = augment_cost.pipe_for("bgcfnc", 32, static_padding=True)
    assert imgfilter and pipe.static_padding
    pipe, imgfilter = augment_cost.pipe_for("bgc", 32, static_padding=False)
    assert not imgfilter and pipe.spec.enabled("hue")


def test_real_pipe_timed_on_a_tiny_batch():
    import contextlib

    pipe, _ = augment_cost.pipe_for("bgcfnc", 8, static_padding=False)
    out = augment_cost.time_patterns(pipe, augment_cost.PATTERNS, batch=4, passes=2, res=8,
                                     channels=3, p=1.0, xla=False,
                                     scope=contextlib.nullcontext, warmup=1, steps=1)
    assert sorted(out) == sorted(augment_cost.PATTERNS)
    assert all(math.isfinite(v) and v > 0 for v in out.values())


def test_step_with_augmentation_fields_are_a_valid_training_config():
    fields = augment_cost.augmented_step_fields("bgc", 0.5)
    has_aug = "aug" in {f.name for f in dataclasses.fields(TrainingConfig)}
    assert (fields is not None) == has_aug
    if fields is not None:
        cfg = TrainingConfig(family="stylegan2", **fields)
        assert (cfg.aug, cfg.augpipe, cfg.augment_p) == ("fixed", "bgc", 0.5)
