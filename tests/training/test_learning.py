"""The step learns in the right direction, for each family: each phase's update lowers the loss
it minimizes, and a short run moves Gs's images toward the reals."""

import os

import numpy as np
import pytest
import tensorflow as tf

from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer

# What each phase's update must lower, on the same inputs and draws: its loss, and for a lazy
# regularizer its penalty, reported unsigned (a penalty of the wrong sign would be maximized,
# and the loss reported with that sign would still go down).
LOWERS = {"G": "Loss/G", "G_reg": "Loss/pl_penalty", "D": "Loss/D",
          "D_reg": "Loss/gradient_penalty"}
# How far D's scores must move (measured: StyleGAN's G raises its fakes' scores 0.43 -> 0.57,
# its D widens the real - fake gap -0.88 -> -0.84; StyleGAN2's G 0.028 -> 0.031).
SCORES = {"stylegan": 1e-2, "stylegan2": 1e-3}


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_each_phase_update_lowers_its_own_loss(tiny_data, family):
    # Each update, applied alone as the step applies it (`TrainStep.update`: gradients summed
    # over replicas, the network's Adam), in the step's order, lowers the loss it minimizes on
    # the same inputs and draws. (Measured on StyleGAN: D 2.257 -> 2.219, G 0.556 -> 0.417; a
    # gradient of the wrong sign raises them by about as much.)
    t = Trainer(tiny_training_config(tiny_data, "tiny", family), progress=False)
    t.run_steps(2)  # a state past initialisation, with Adam moments
    res, batch = 4, 8  # the first level of the tiny schedules
    variant = tuple(t.losses.reg_intervals)  # every lazy regularizer (StyleGAN2)
    reals, labels = next(iter(t.dataset.iterate(res, batch, shuffle=False)))
    alpha, seed = tf.constant(1.0), tf.constant([11, 12], tf.int32)
    seeds = t.losses.phase_seeds(seed)

    def values():
        return t.step.loss_values(res, batch, reals, labels, alpha, seed, variant)

    def update(phase):
        def grads_fn(r, y, a, s):
            return t.step.replica_gradients(phase, res, batch, r, y, a, s)
        own = {name: v.numpy() for name, v in t.losses.variables_by_name().items()}
        ok, _ = tf.function(lambda: t.step.update(phase, grads_fn, reals, labels, alpha,
                                                   seeds[phase]))()
        assert bool(ok)
        for name, v in t.losses.variables_by_name().items():  # the same running means after
            v.assign(own[name])

    for phase in (p for p in t.losses.PHASES if p != "Gs"):
        before = values()
        update(phase)
        after = values()
        key = LOWERS[phase]
        assert after[key] < min(before[key] * (1 - 1e-3), before[key] - 1e-3), (
            phase, before[key], after[key])
        # The same in D's scores, which do not depend on how the losses are written (a loss of
        # the wrong sign is also minimized, and reported, with the wrong sign).
        if phase == "G":  # G raised the scores of its fakes
            assert after["Loss/scores/fake"] > before["Loss/scores/fake"] + SCORES[family]
        if phase == "D":  # D separated the reals from the fakes
            assert (after["Loss/scores/real"] - after["Loss/scores/fake"]
                    > before["Loss/scores/real"] - before["Loss/scores/fake"] + SCORES[family])


def _bright_dataset(directory, value=210, resolution=8, num_images=32):
    """Gray images of mean `value` (+-10), far from the mid-gray the initial G makes."""
    rng = np.random.RandomState(0)
    images = (value + rng.randint(-10, 11, [num_images, 1, resolution, resolution]))
    write_arrays(os.fspath(directory), images.astype(np.uint8), None, progress=False)
    return os.fspath(directory)


def test_short_run_moves_Gs_images_toward_the_reals(tmp_path):
    _bright_dataset(tmp_path / "bright")
    real_mean = 210 / 127.5 - 1.0  # 0.65 in the networks' [-1, 1] range
    cfg = tiny_training_config(tmp_path, "bright", G_smoothing_kimg=0.05, total_kimg=1.0,
                               schedule={"lod_initial_resolution": 8})
    t = Trainer(cfg, progress=False)
    z = tf.constant(np.random.RandomState(1).randn(16, t.net_cfg.latent_size), tf.float32)

    def Gs_mean():
        images = t.networks.Gs(z, None, truncation_psi=1.0, noise="const", resolution=8)
        return float(tf.reduce_mean(tf.cast(images, tf.float32)))

    start = Gs_mean()
    assert real_mean - start > 0.5, start  # the run has somewhere to go
    t.run_steps(64)
    end = Gs_mean()
    # 64 steps of 8 images at the official learning rate cover 0.64 of the way (measured);
    # require 0.4. A wrong sign or a G that never learns leaves the mean where it was or
    # moves it away.
    assert (end - start) / (real_mean - start) > 0.4, (start, end, real_mean)
