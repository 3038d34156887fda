"""tf.distribute: MirroredStrategy over 2 logical CPUs equals one device; 2 worker processes
under MultiWorkerMirroredStrategy end with identical weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training.tiny_training import tiny_config
from training.distribute import make_strategy
from training.loop import Trainer

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


def _all_weights(t):
    return {f"{name}/{i}": np.array(v.numpy())
            for name, model in (("G", t.G), ("D", t.D), ("Gs", t.Gs))
            for i, v in enumerate(model.weights)}


def test_make_strategy_picks_devices():
    assert make_strategy(None).num_replicas_in_sync == 1
    assert make_strategy(1).num_replicas_in_sync == 1
    mirrored = make_strategy(2)
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    with pytest.raises(ValueError, match="--gpus 5 requested"):
        make_strategy(5)


def _state(t):
    return t.G.weights + t.D.weights + t.Gs.weights + t.G_opt.variables + t.D_opt.variables


def test_mirrored_two_replicas_equal_one_device(tiny_data):
    cfg = tiny_config(tiny_data, "tiny", **EQUIVALENT)
    single = Trainer(cfg, progress=False)
    mirrored = Trainer(cfg, strategy=make_strategy(2), progress=False)
    assert mirrored.num_replicas == 2
    init = _all_weights(single)
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
        # then an all-reduce). Every weight agrees to 1e-6 except the biases whose true gradient
        # is ~0 (the 4x4 epilogue bias right before instance norm), where rounding noise is all
        # the gradient there is: Adam may move them by up to lr = 1e-3 in either direction
        # (observed <= 1e-4). Required: max |diff| < 2e-4 on every weight of G, D and Gs, and
        # 99.9% of all values within 1e-6, at every step...
        diffs = np.concatenate([np.abs(a[k] - b[k]).ravel() for k in a])
        assert float(diffs.max()) < 2e-4, float(diffs.max())
        assert np.mean(diffs <= 1e-6) > 0.999, np.mean(diffs <= 1e-6)
        # ...while the step itself moved the weights by far more than that.
        step_move = max(float(np.max(np.abs(a[k] - before[k]))) for k in a)
        assert step_move > 5 * float(diffs.max()), (step_move, float(diffs.max()))
    assert mirrored.schedule().lod_key == single.schedule().lod_key == (0, 1)
    assert mirrored._host_nimg == single._host_nimg == steps * 8
    moved = max(float(np.max(np.abs(a[k] - init[k]))) for k in a)
    assert moved > 1e-3, moved


_WORKER = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
import numpy as np
from tests.training.tiny_training import tiny_config
from training.loop import Trainer
cfg = tiny_config({data!r}, "tiny")
t = Trainer(cfg, progress=False)
assert t.num_replicas == 2, t.num_replicas
t.run_steps(3)
weights = {{f"{{n}}/{{i}}": v.numpy() for n, m in (("G", t.G), ("D", t.D), ("Gs", t.Gs))
           for i, v in enumerate(m.weights)}}
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
