"""training.ada.adjust against the official p sequences (tests/fixtures/official-ada/ada_*.npz),
bit for bit from their recorded Collector means r."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.paths import FIXTURES
from training import ada

RUNS = ["ada_means_b64", "ada_resume_b32", "ada_loop_b8"]


def _load(name):
    with np.load(os.path.join(FIXTURES, "official-ada", f"{name}.npz")) as f:
        return {k: f[k] for k in f.files}


def _run(d, r_values, rule=None):
    """p after each update, from p_initial and the window means `r_values`: by `rule` (a numpy
    function) in a Python loop, or by ada.adjust in one traced scan."""
    args = (int(d["batch_size"]), int(d["ada_interval"]), float(d["ada_kimg"]),
            float(d["ada_target"]))
    p = np.float32(d["p_initial"])
    if rule is None:
        scan = tf.function(lambda r: tf.scan(lambda p, r: ada.adjust(p, r, *args), r,
                                              initializer=tf.constant(p)), autograph=False)
        return scan(tf.constant(r_values)).numpy()
    out = []
    for r in r_values:
        p = rule(p, r, *args)
        out.append(np.float32(p))
    return np.array(out, np.float32)


def test_constants_are_official():
    assert (ada.ADA_TARGET, ada.ADA_INTERVAL, ada.ADA_KIMG, ada.ADA_KIMG_RESUME) == (
        0.6, 4, 500, 100)
    assert [float(_load(n)["ada_kimg"]) for n in RUNS] == [500.0, 100.0, 500.0]
    assert all(float(_load(n)["ada_target"]) == ada.ADA_TARGET for n in RUNS)
    assert all(int(_load(n)["ada_interval"]) == ada.ADA_INTERVAL for n in RUNS)


@pytest.mark.parametrize("name", RUNS)
def test_p_sequence_is_bit_exact(name):
    d = _load(name)
    p = _run(d, d["r"])
    np.testing.assert_array_equal(p, d["p"])
    # Both directions in every run; b64 also holds the clamp at 0 (while r < target) and p > 1.
    assert np.any(np.diff(p) > 0) and np.any(np.diff(p) < 0)
    if name == "ada_means_b64":
        assert p[0] == 0 and d["r"][0] < 0.6 and p.max() > 1.4


def test_float64_addition_would_not_match():
    """Rounding p + step in float64 first differs from the official float32 buffer."""
    def float64_add(p, r, batch_size, interval, ada_kimg, target):
        step = np.sign(r - target) * batch_size * interval / (ada_kimg * 1000)
        return np.float32(max(np.float64(p) + step, 0.0))

    mismatches = [not np.array_equal(_run(d, d["r"], float64_add), d["p"])
                  for d in map(_load, RUNS)]
    assert sum(mismatches) == 2


def test_tie_gives_no_step_and_r_needs_float64():
    d = _load("ada_loop_b8")
    ties = np.flatnonzero(d["r"] == 0.6)
    assert len(ties) == 2 and np.all(d["adjust"][ties] == 0)
    # r from the window's signs: the D-loss signs of its 4 iterations, plus the R1 pass's on
    # every 16th iteration (training_loop.py:311-315, loss.py:108-114).
    starts = np.concatenate([[0], d["update_after_iter"][:-1] + 1])
    r64 = []
    for start, stop in zip(starts, d["update_after_iter"] + 1):
        signs = [d["signs_dmain"][start:stop].ravel()]
        signs += [d["signs_dreg"][i] for i in range(start, stop) if d["dreg_ran"][i]]
        signs = np.concatenate(signs).astype(np.float64)
        r64.append(signs.sum() / signs.size)
    np.testing.assert_array_equal(r64, d["r"])
    np.testing.assert_array_equal(_run(d, r64), d["p"])
    # A float32 mean turns the exact ties 24/40 = 0.6 into 0.6000000238: a step, not a tie.
    r32 = np.array(r64, np.float32)
    assert not np.array_equal(_run(d, r32), d["p"])


def test_adjust_in_graph_and_with_a_variable():
    p = tf.Variable(0.25, dtype=tf.float32)
    step = tf.function(lambda r: p.assign(ada.adjust(p, r, 64)))
    step(tf.constant(0.9, tf.float64))
    assert p.numpy() == np.float32(np.float32(0.25) + np.float32(64 * 4 / 500000))
    step(tf.constant(0.1, tf.float64))
    assert p.numpy() == np.float32(0.25)
    assert ada.adjust(0.0, 0.0, 64).numpy() == 0.0  # clamped at 0
    assert ada.adjust(1.0, 0.61, 32, ada_kimg=ada.ADA_KIMG_RESUME).numpy() == np.float32(
        np.float32(1.0) + np.float32(32 * 4 / 100000))
