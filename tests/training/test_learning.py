"""The step learns in the right direction: each update lowers the loss of the network it trains,
and a short run moves Gs's images toward the reals."""

import os

import numpy as np
import tensorflow as tf

from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
from training.trained_networks import variables_by_name


def _weights(model):
    return {name: v.numpy() for name, v in variables_by_name(model).items()}


def _assign(model, weights):
    for name, v in variables_by_name(model).items():
        v.assign(weights[name])


def test_one_step_lowers_the_loss_of_each_network(tiny_data):
    t = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    t.run_steps(2)  # a state past initialisation, with Adam moments
    res, batch = 4, 8  # the first level of the tiny schedule
    reals, labels = next(iter(t.dataset.iterate(res, batch, shuffle=False)))
    alpha, seed = tf.constant(1.0), tf.constant([11, 12], tf.int32)
    G = t.networks.G
    G0 = _weights(G)
    start = t.step.loss_values(res, batch, reals, labels, alpha, seed)

    # One step on these inputs: the D update, the Gs average, then the G update against the
    # updated D, each on the latents and noise that the same seed gives `loss_values`.
    t.step.function(res, batch)(reals, labels, alpha, seed)
    G1 = _weights(G)
    _assign(G, G0)
    mid = t.step.loss_values(res, batch, reals, labels, alpha, seed)  # new D, old G
    _assign(G, G1)
    end = t.step.loss_values(res, batch, reals, labels, alpha, seed)  # new D, new G

    # D's update lowered D's loss on these inputs and G's update lowered G's loss against the
    # D it was taken with (measured: D 2.257 -> 2.219, G 0.556 -> 0.417); a gradient of the
    # wrong sign raises them by about as much.
    assert mid["Loss/D"] < start["Loss/D"] - 1e-3, (start, mid)
    assert end["Loss/G"] < mid["Loss/G"] - 1e-3, (mid, end)
    # The same in D's scores, which do not depend on how the losses are written (a loss of the
    # wrong sign is also minimized, and reported, with the wrong sign): D's update separated
    # the real scores from the fake ones (measured: gap -0.88 -> -0.84), and G's update raised
    # the scores the new D gives G's fakes (0.43 -> 0.57).
    assert (mid["Loss/scores/real"] - mid["Loss/scores/fake"]
            > start["Loss/scores/real"] - start["Loss/scores/fake"] + 1e-2), (start, mid)
    assert end["Loss/scores/fake"] > mid["Loss/scores/fake"] + 1e-2, (mid, end)


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
