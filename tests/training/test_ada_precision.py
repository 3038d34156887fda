"""The augmented step under XLA (the pipe's static padding) and under the oneDNN bfloat16
rewrite, against the float32 step with the batch-margin padding: each phase's gradients from the
same weights, with D seeing the full `bgc` pipe at p = 1."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from tests.training.test_precision import _group, _rel
from training.loop import Trainer
from training.trained_networks import variables_by_name

AUG = dict(aug="fixed", augpipe="bgc", augment_p=1.0, resolution=8, adam_epsilon=1e-3)
PHASES = ("D", "D_reg", "G")


def _gradients(t, phase, seed, *, jit=False, scoped=False, batch=8, res=8):
    """{group: flat float64 gradient} and {statistic: float} of one `phase` pass of t, in a
    new tf.function (XLA-compiled with `jit`, called in t's precision scope with `scoped`);
    the state the losses move is put back."""
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [batch, res, res, 1]), tf.uint8)
    labels = tf.one_hot(np.arange(batch) % 3, 3)
    state = {"dlatent_avg": t.networks.G.dlatent_avg, **t.losses.variables_by_name()}
    saved = {k: v.numpy() for k, v in state.items()}
    fn = tf.function(lambda: t.step.replica_gradients(phase, res, batch, reals, labels,
                                                      tf.constant(1.0), tf.constant(seed)),
                     jit_compile=jit)
    with t.step.scope() if scoped else contextlib.nullcontext():
        grads, bad, stats = fn()
    for k, v in state.items():
        v.assign(saved[k])
    assert int(bad) == 0
    network = t.step.network_of(phase)
    net = t.networks.network(network)
    names = {id(v): name for name, v in variables_by_name(net).items()}
    groups = {}
    for v, g in zip(net.trainable_variables, grads):
        if g is not None:
            groups.setdefault(_group(network, names[id(v)]), []).append(
                g.numpy().ravel().astype(np.float64))
    return ({k: np.concatenate(v) for k, v in groups.items()},
            {k: float(v.numpy()) for k, v in stats.items()})


@pytest.mark.large  # 6 traced passes with the pipe, 3 of them XLA-compiled: ~1-2 min
def test_augmented_phases_under_xla_equal_float32(tiny_data):
    ref = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", **AUG), progress=False)
    xla = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", xla=True, **AUG),
                  progress=False)
    assert not ref.losses.augment.pipe.static_padding and xla.losses.augment.pipe.static_padding
    for i, phase in enumerate(PHASES):
        want, want_stats = _gradients(ref, phase, [5, i])
        got, got_stats = _gradients(xla, phase, [5, i], jit=True)
        # Float32 rounding (the pipe's padding differs only in the rounding of the sampled
        # positions; XLA reorders the arithmetic).
        for group in want:
            assert _rel(got[group], want[group]) < 1e-3, (phase, group)
        for name, value in want_stats.items():
            assert got_stats[name] == pytest.approx(value, rel=1e-4, abs=1e-6), (phase, name)


@pytest.mark.large  # 9 traced passes with the pipe: ~1-3 min
def test_augmented_phases_under_the_onednn_rewrite_track_float32(tiny_data):
    ref = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", **AUG), progress=False)
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", mixed_precision=True, **AUG),
                progress=False)
    assert t.networks.precision == "onednn_bfloat16"
    for i, phase in enumerate(PHASES):
        want, want_stats = _gradients(ref, phase, [5, i])
        got, got_stats = _gradients(t, phase, [5, i], scoped=True)
        outside, outside_stats = _gradients(t, phase, [5, i])
        assert outside_stats == want_stats  # the rewrite stays in its scope
        for group in want:
            np.testing.assert_array_equal(outside[group], want[group])
            # bfloat16-sized (8 significant bits; float32 reorderings give ~1e-6), as the
            # un-augmented step's in test_precision.py.
            assert 1e-4 < _rel(got[group], want[group]) < 0.3, (phase, group)
        for name in ("Loss/D", "Loss/G", "Loss/D_reg", "Loss/gradient_penalty"):
            if name in want_stats:
                assert got_stats[name] == pytest.approx(want_stats[name], rel=0.03), name
