"""StyleGAN2 gradient accumulation and tf.distribute: one device running the global minibatch
in 2 accumulated passes of 4 gives the update 2 replicas (MirroredStrategy) or 2 worker
processes (MultiWorkerMirroredStrategy) give with one pass of 4 each."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from training.distribute import make_strategy
from training.loop import Trainer
from training.trained_networks import variables_by_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pl_decay 1: the path-length mean is the mean of the current pass's lengths. pl_mean is one
# value per replica updated at every pass, as officially (one variable per GPU, updated at
# each accumulation round), so its history differs between 1 device x 2 passes (one variable,
# two updates) and 2 replicas x 1 pass (two variables, one update each); with decay 1 it has
# none, and the penalties of the two setups are the same computation on the same samples.
# Everything else needs no change: samples are drawn for the global batch and cut per pass,
# and G's noise and style mixing are drawn per pass slot (replica r's pass p is one device's
# pass r * passes + p), so minibatch-stddev groups, noise and mixing are the same on both sides.
# Adam epsilon 1e-3 as in test_distribute.py: a weight with a true gradient of 0 would
# otherwise move by +-lr along the sign of its float32 rounding noise.
EQUIVALENT = dict(pl_decay=1.0, minibatch_gpu=4, adam_epsilon=1e-3)

# dlatent_avg, a running mean of w that every training-mode pass of G moves by 0.5 % toward
# its batch mean (it only serves truncation), is exempt from the 1e-6 agreement: one device
# makes one such update per pass, twice as many per step as 2 replicas, whose parallel updates
# are averaged (MEAN aggregation). The official code too updates it once per G evaluation of
# GPU 0, so more often with more accumulation rounds. It must still move the same way, the
# two runs differing by less than the one device's own move.
EXEMPT = ("G/dlatent_avg", "Gs/dlatent_avg")


def _all_weights(t):
    return {f"{net}/{name}": np.array(v.numpy()) for net in ("G", "D", "Gs")
            for name, v in variables_by_name(t.networks.network(net)).items()}


def _state(t):
    n = t.networks
    return n.G.weights + n.D.weights + n.Gs.weights + n.G_opt.variables + n.D_opt.variables


@pytest.mark.large  # traces 2 variants on 1 and on 2 replicas: ~1-2 min
def test_two_accumulated_passes_equal_two_replicas(tiny_data):
    cfg = tiny_training_config(tiny_data, "tiny", "stylegan2", **EQUIVALENT)
    single = Trainer(cfg, progress=False)
    mirrored = Trainer(cfg, strategy=make_strategy(2), progress=False)
    assert mirrored.num_replicas == 2
    for step in range(2):  # step 0: G, path length, Gs, D, R1; step 1: G, Gs, D
        for dst, src in zip(_state(mirrored), _state(single)):
            dst.assign(src.numpy())
        before = _all_weights(single)
        single.run_steps(1)
        mirrored.run_steps(1)
        a, b = _all_weights(single), _all_weights(mirrored)
        diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
        off = {k: d for k, d in diffs.items() if d > 1e-6 and k not in EXEMPT}
        assert not off, off
        for k in EXEMPT:
            assert diffs[k] < np.max(np.abs(a[k] - before[k])), (k, diffs[k])
        step_move = max(float(np.max(np.abs(a[k] - before[k]))) for k in a)
        assert step_move > 100 * max(d for k, d in diffs.items() if k not in EXEMPT)
        if step == 0:
            # One device's pl_mean is that of its last pass (rows 4-7), which is replica 1's.
            per_replica = [float(v.numpy()) for v in
                           mirrored.strategy.experimental_local_results(mirrored.losses.pl_mean)]
            one = float(single.losses.pl_mean.numpy())
            assert per_replica[0] != per_replica[1]
            np.testing.assert_allclose(one, per_replica[1], rtol=1e-6)
    assert dict(single.step.variant_traces) == dict(mirrored.step.variant_traces) == {
        (4, ("G_reg", "D_reg")): 1, (4, ()): 1}
    assert single.nimg == mirrored.nimg == 16


_WORKER = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
import numpy as np
from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
from training.trained_networks import variables_by_name
cfg = tiny_training_config({data!r}, "same", "stylegan2", **{equivalent!r})
t = Trainer(cfg, progress=False)
assert t.num_replicas == 2, t.num_replicas
t.run_steps(1)
weights = {{f"{{n}}/{{k}}": v.numpy() for n in ("G", "D", "Gs")
           for k, v in variables_by_name(t.networks.network(n)).items()}}
np.savez({out!r} + str(json.loads(os.environ["TF_CONFIG"])["task"]["index"]) + ".npz",
         **weights)
print("worker done", flush=True)
"""


@pytest.mark.large  # two worker processes and a one-device run: ~1-2 min
def test_two_workers_equal_one_device_with_accumulation(tmp_path):
    # MultiWorkerMirroredStrategy, 2 processes x 1 pass of 4, against one device running 2
    # accumulated passes of 4: step 0 (G, path length, Gs, D, R1) gives the same weights.
    # Each worker reads its own shard of the records in its own shuffled order
    # (data/reader.py), so the reals are made the same on both sides: every image of this
    # dataset is the same image.
    from tests.training.test_distribute import _free_ports

    image = np.random.RandomState(0).randint(0, 256, [1, 1, 8, 8]).astype(np.uint8)
    write_arrays(str(tmp_path / "same"), np.repeat(image, 32, axis=0), None, progress=False)
    script = tmp_path / "worker.py"
    out = str(tmp_path / "weights")
    script.write_text(_WORKER.format(root=ROOT, data=str(tmp_path), out=out,
                                     equivalent=EQUIVALENT))
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            ["timeout", "-k", "5", "200", sys.executable, str(script)], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    single = Trainer(tiny_training_config(tmp_path, "same", "stylegan2", **EQUIVALENT),
                     progress=False)
    before = _all_weights(single)
    single.run_steps(1)
    want = _all_weights(single)
    logs = [p.communicate(timeout=220)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0 and "worker done" in log, log[-3000:]
    w0, w1 = np.load(out + "0.npz"), np.load(out + "1.npz")
    assert sorted(w0.files) == sorted(w1.files) == sorted(want)
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)  # the workers agree exactly
        diff = float(np.max(np.abs(w0[k] - want[k])))
        if k in EXEMPT:
            assert diff < np.max(np.abs(want[k] - before[k])), (k, diff)
        else:
            assert diff < 1e-6, (k, diff)
