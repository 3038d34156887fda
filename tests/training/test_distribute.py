"""tf.distribute: MirroredStrategy over 2 logical CPUs equals one device; each replica draws its
own noise and style mixing; 2 worker processes under MultiWorkerMirroredStrategy end with
identical weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from training.distribute import make_strategy
from training.loop import Trainer
from training.step import ReplicaBatch
from training.trained_networks import variables_by_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Exactly equivalent setup: no minibatch-stddev (its groups are formed per replica: 4 samples
# of one replica vs 4 strided samples of the whole batch), no noise inputs and no style mixing
# (their random draws are per replica, seeded by the replica id). Latents, label rows and the
# data order are drawn for the global batch and sliced per replica, so they match.
# Adam epsilon 1e-3 instead of 1e-8: with beta1 = 0 Adam's step is lr * g / (|g| + eps), so a
# weight whose true gradient is 0 (e.g. a bias right before instance norm) moves by +-lr
# depending on the sign of its float32 rounding noise, which differs with the summation order.
# A larger epsilon turns those into ~0 steps and leaves a comparison of real arithmetic.
EQUIVALENT = dict(network=dict(mbstd_group_size=0, use_noise=False, style_mixing_prob=0.0),
                  adam_epsilon=1e-3)


# The weights exempt from the 1e-6 agreement, with the reason. The 4x4 const layer's bias is
# added to an input that is the same for every sample (no noise here), passes a leaky ReLU that
# is linear on all of it, and is then removed again by instance norm: its true gradient is 0,
# so its gradient is float32 rounding noise, which differs with the summation order, and Adam
# moves it along the sign of that noise (observed <= 7e-5 per step, where every other value
# agrees to 1e-6); it still has to stay within 2e-4.
EXEMPT = {"G/synthesis/epilogue0/bias/bias": "true gradient 0 (bias before instance norm)"}


def _all_weights(t):
    return {f"{net}/{name}": np.array(v.numpy()) for net in ("G", "D", "Gs")
            for name, v in variables_by_name(t.networks.network(net)).items()}


def test_make_strategy_picks_devices():
    assert make_strategy(None).num_replicas_in_sync == 1
    assert make_strategy(1).num_replicas_in_sync == 1
    mirrored = make_strategy(2)
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    with pytest.raises(ValueError, match="--gpus 5 requested"):
        make_strategy(5)


def _state(t):
    n = t.networks
    return n.G.weights + n.D.weights + n.Gs.weights + n.G_opt.variables + n.D_opt.variables


def test_mirrored_two_replicas_equal_one_device(tiny_data):
    cfg = tiny_training_config(tiny_data, "tiny", **EQUIVALENT)
    single = Trainer(cfg, progress=False)
    mirrored = Trainer(cfg, strategy=make_strategy(2), progress=False)
    assert mirrored.num_replicas == 2
    init = _all_weights(single)
    assert set(EXEMPT) <= set(init)
    steps = 6  # crosses the first LOD boundary (optimizer reset, new level, fade-in alpha)
    for _ in range(steps):
        # Each step starts from the same state (weights, Gs, Adam moments and counts): a GAN's
        # trajectory amplifies any rounding difference within a few steps, so what is compared
        # is the update of each step, on the same latents, labels and reals.
        for dst, src in zip(_state(mirrored), _state(single)):
            dst.assign(src.numpy())
        before = _all_weights(single)
        single.run_steps(1)
        mirrored.run_steps(1)
        a, b = _all_weights(single), _all_weights(mirrored)
        # Tolerance. The only difference left is float32 summation order (per-replica sums,
        # then an all-reduce): every value of every weight of G, D and Gs agrees to 1e-6 but
        # those of EXEMPT, which agree to 2e-4, at every step...
        diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
        assert max(diffs.values()) < 2e-4, diffs
        off = {k: d for k, d in diffs.items() if d > 1e-6 and k not in EXEMPT}
        assert not off, off
        # ...while the step itself moved the weights by far more than that.
        step_move = max(float(np.max(np.abs(a[k] - before[k]))) for k in a)
        assert step_move > 5 * max(diffs.values()), (step_move, max(diffs.values()))
    assert mirrored.schedule().lod_key == single.schedule().lod_key == (0, 1)
    assert mirrored.nimg == single.nimg == steps * 8
    moved = max(float(np.max(np.abs(a[k] - init[k]))) for k in a)
    assert moved > 1e-3, moved


def _replica_images(t):
    """The training-mode images each of 2 replicas makes of the SAME latents, labels and seed
    through the step's own G call (`StyleGANLosses.generate`)."""
    losses = t.step.losses
    z = tf.constant(np.random.RandomState(0).randn(4, t.net_cfg.latent_size), tf.float32)
    labels = tf.one_hot([0, 1, 2, 0], 3)
    seed = tf.constant([5, 6], tf.int32)

    @tf.function
    def run():
        return t.strategy.run(lambda: losses.generate(ReplicaBatch(8), z, labels, 8, 1.0, seed))

    return [x.numpy() for x in t.strategy.experimental_local_results(run())]


@pytest.mark.parametrize("network, differ", [
    (dict(use_noise=True, style_mixing_prob=0.0), True),  # noise inputs only
    (dict(use_noise=False, style_mixing_prob=1.0), True),  # style mixing only
    (dict(use_noise=False, style_mixing_prob=0.0), False),  # nothing random: equal
])
def test_each_replica_draws_its_own_noise_and_mixing(tiny_data, network, differ):
    # As in the official multi-GPU code, where each GPU's graph draws its own noise and its
    # own style-mixing latents and crossover: two replicas given the same latents, labels and
    # step seed make different images exactly when G draws something at random.
    cfg = tiny_training_config(tiny_data, "tiny", network=network)
    t = Trainer(cfg, strategy=make_strategy(2), progress=False)
    noise_weights = [v for name, v in variables_by_name(t.networks.G).items()
                     if name.endswith("noise/weight")]
    assert len(noise_weights) == (4 if network["use_noise"] else 0)
    for v in noise_weights:  # zero at initialisation (official): give the noise an effect
        v.assign(tf.fill(v.shape, 0.5))
    first, second = _replica_images(t)
    assert first.shape == second.shape == (4, 8, 8, 1)
    if differ:
        assert np.abs(first - second).max() > 1e-2
        # Not a constant offset either: the draws differ sample by sample.
        assert np.std(first - second) > 1e-3
    else:
        np.testing.assert_allclose(first, second, rtol=0, atol=1e-6)


_WORKER = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
import numpy as np
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
cfg = tiny_training_config({data!r}, "tiny")
t = Trainer(cfg, progress=False)
assert t.num_replicas == 2, t.num_replicas
t.run_steps(3)
weights = {{f"{{n}}/{{i}}": v.numpy() for n in ("G", "D", "Gs")
           for i, v in enumerate(t.networks.network(n).weights)}}
np.savez({out!r} + str(json.loads(os.environ["TF_CONFIG"])["task"]["index"]) + ".npz",
         **weights)
print("worker done chief=" + str(t.chief), flush=True)
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_identical_weights(tiny_data, tmp_path):
    script = tmp_path / "worker.py"
    out = str(tmp_path / "weights")
    script.write_text(_WORKER.format(root=ROOT, data=str(tiny_data), out=out))
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            ["timeout", "-k", "5", "150", sys.executable, str(script)], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=170)[0] for p in procs]
    for index, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0 and "worker done" in log, log[-3000:]
        assert f"chief={index == 0}" in log  # only worker 0 writes the run directory
    w0, w1 = np.load(out + "0.npz"), np.load(out + "1.npz")
    assert sorted(w0.files) == sorted(w1.files)
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)
