"""The order in which a training step runs its phases, seen from inside the step: every loss
phase records the weights of G, D and Gs it is computed with, and the step must match the
official loops:

- NVlabs/stylegan training_loop.py: `run([D_train_op, Gs_update_op])`, then `run([G_train_op])`:
  D, the Gs average of the G from before this step's G update, then G (which sees the new D).
- NVlabs/stylegan2 training_loop.py (one accumulation round): G, G_reg (path length), then
  `[D_train_op, Gs_update]` with Gs the average of G after both of its updates, then D_reg (R1),
  which sees the D of the D update.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
from training.trained_networks import variables_by_name

NETWORKS = ("G", "D", "Gs")
# What each loss phase sees, by the official order: for each network, the state it must be in
# ("before": the step's start; "after": the step's end; "between": neither, an update of its
# own earlier in the step and another one later), and for Gs which G it averages.
OFFICIAL = {
    "stylegan": {
        "phases": {"D": dict(G="before", D="before", Gs="before"),
                   "G": dict(G="before", D="after", Gs="after")},
        "Gs_averages": "G before",
    },
    "stylegan2": {
        "phases": {"G": dict(G="before", D="before", Gs="before"),
                   "G_reg": dict(G="between", D="before", Gs="before"),
                   "D": dict(G="after", D="before", Gs="after"),
                   "D_reg": dict(G="after", D="between", Gs="after")},
        "Gs_averages": "G after",
    },
}


def trainable(model):
    """The model's trainable variables in the order of their names (G and Gs alike)."""
    return [v for _, v in sorted(variables_by_name(model).items()) if v.trainable]


def flat(model):
    return tf.concat([tf.reshape(v, [-1]) for v in trainable(model)], 0)


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_each_phase_sees_the_state_the_official_order_gives(tiny_data, monkeypatch, family):
    t = Trainer(tiny_training_config(tiny_data, "tiny", family, G_smoothing_kimg=0.05),
                progress=False)
    nets = {name: t.networks.network(name) for name in NETWORKS}
    official = OFFICIAL[family]
    seen = {phase: {name: tf.Variable(tf.zeros_like(flat(nets[name]))) for name in NETWORKS}
            for phase in official["phases"]}
    loss = t.losses.loss

    def recording_loss(phase):
        # Runs inside the traced step, where the phase's loss is computed (one pass per step
        # here): the copies are made when the phase runs, in the step's order.
        def fn(*args):
            for name in NETWORKS:
                seen[phase][name].assign(flat(nets[name]))
            return loss(phase)(*args)
        return fn

    monkeypatch.setattr(t.losses, "loss", recording_loss)
    # Gs starts as a copy of G: set it apart, so that its average shows which G it took.
    rng = np.random.RandomState(0)
    for g, gs in zip(trainable(nets["G"]), trainable(nets["Gs"])):
        gs.assign(g + rng.standard_normal(g.shape).astype(np.float32) * 0.1)
    before = {name: flat(nets[name]).numpy() for name in NETWORKS}
    stats = t.run_steps(1)[0]  # step 0: every phase, the lazy regularizers included
    assert {f"Loss/{p}" for p in official["phases"]} <= set(stats)
    after = {name: flat(nets[name]).numpy() for name in NETWORKS}
    for name in NETWORKS:
        assert not np.array_equal(before[name], after[name]), name  # the step moved each
    for phase, states in official["phases"].items():
        for name, state in states.items():
            got = seen[phase][name].numpy()
            if state == "between":
                assert not np.array_equal(got, before[name]), (phase, name, state)
                assert not np.array_equal(got, after[name]), (phase, name, state)
            else:
                expected = before[name] if state == "before" else after[name]
                np.testing.assert_array_equal(got, expected, err_msg=f"{phase} sees {name}")
    # Gs <- G + (Gs - G) * beta, beta = 0.5 ** (minibatch / (G_smoothing_kimg * 1000)), with the
    # G of the official order.
    beta = np.float32(0.5 ** (8 / 50))
    G = before["G"] if official["Gs_averages"] == "G before" else after["G"]
    np.testing.assert_allclose(after["Gs"], G + (before["Gs"] - G) * beta, rtol=1e-6, atol=1e-7)
