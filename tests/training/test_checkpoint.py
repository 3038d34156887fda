"""Checkpoints: a restore gives back the exact state of the run; a checkpoint that is not of this
run (an object missing, another network) is refused with an error naming it, changing nothing."""

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from tf_stylegan.errors import UserError
from training.checkpoint import RunCheckpoint
from training.loop import Trainer


def _state(t):
    """Every value a resumed run depends on, listed through the public Keras and TF objects
    (not through the checkpoint code under test): all weights of G, D and Gs, all variables of
    both Adams, the counters, the loss scales and the losses' own state (StyleGAN2: the
    path-length mean)."""
    n = t.networks
    groups = {"G": n.G.weights, "D": n.D.weights, "Gs": n.Gs.weights,
              "G_opt": n.G_opt.variables, "D_opt": n.D_opt.variables,
              "state": [getattr(t.state, k) for k in
                        ("cur_nimg", "step", "tick", "tick_start_nimg", "lod_key", "run_seed",
                         "nonfinite_total", "train_time")],
              "loss_scale": [t.step.loss_scale.scale["G"], t.step.loss_scale.scale["D"],
                             t.step.loss_scale.good_steps["G"], t.step.loss_scale.good_steps["D"]],
              "losses": list(t.losses.variables_by_name().values())}
    return {f"{group}/{i}": np.array(v.numpy()) for group, variables in groups.items()
            for i, v in enumerate(variables)}


def _differing(a, b):
    return sorted(k for k in a if not np.array_equal(a[k], b[k]))


# Steps before the checkpoint and after it. StyleGAN: past the first LOD change (the Adams were
# reset and have moved again), then 2 more. StyleGAN2: regularized at steps 0 and 4, then on
# through step 8 (path length again).
STEPS = {"stylegan": (6, 2), "stylegan2": (5, 4)}


@pytest.mark.parametrize("family", [
    "stylegan", pytest.param("stylegan2", marks=pytest.mark.large)])  # ~25-70 s
def test_restore_gives_back_the_exact_state(tiny_data, tmp_path, family):
    first, then = STEPS[family]
    a = Trainer(tiny_training_config(tiny_data, "tiny", family), progress=False)
    a.run_steps(first)
    a.state.tick.assign(3)
    a.state.train_time.assign(12.5)
    a.step.loss_scale.scale["G"].assign(1024.0)  # as after float16 overflows
    a.step.loss_scale.good_steps["D"].assign(17)
    prefix = a.save_checkpoint(tmp_path / "ckpt")
    want = _state(a)
    reader = tf.train.load_checkpoint(prefix)
    for name, v in a.losses.variables_by_name().items():
        assert float(v.numpy()) > 0  # StyleGAN2's pl_mean, moved from 0
        stored = reader.get_tensor(f"losses/{name}/.ATTRIBUTES/VARIABLE_VALUE")
        assert float(stored) == float(v.numpy())

    # Another seed: other initial weights and run seed, so nothing is equal by chance.
    b = Trainer(tiny_training_config(tiny_data, "tiny", family, seed=7), progress=False)
    before = _state(b)
    assert {k.split("/")[0] for k in _differing(before, want)} == {
        "G", "D", "Gs", "G_opt", "D_opt", "state", "loss_scale"} | (
        {"losses"} if a.losses.variables_by_name() else set())
    assert b.restore(prefix) == prefix
    assert _differing(_state(b), want) == []
    assert b.nimg == a.nimg == first * 8 and b.schedule() == a.schedule()
    # Both continue the same way, bit for bit. A continues from its own checkpoint as well:
    # the data pipeline is recreated at the restored image count (its shuffle seed derives
    # from it), so both see the same reals.
    a.restore(prefix)
    a.run_steps(then)
    b.run_steps(then)
    assert int(b.state.step.numpy()) == first + then and b.nimg == (first + then) * 8
    assert _differing(_state(b), _state(a)) == []


def test_checkpoint_names_each_value(tiny_data, tmp_path):
    """Values are stored under their names in the layer tree, so a restore matches names."""
    t = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    t.run_steps(1)
    reader = tf.train.load_checkpoint(t.save_checkpoint(tmp_path / "ckpt"))

    def stored(name):
        return reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")

    n = t.networks
    for net in ("G", "Gs"):
        G = n.network(net)
        np.testing.assert_array_equal(stored(f"{net}/mapping/dense1/weight"),
                                      G.mapping.dense_layers[1].weight.numpy())
        np.testing.assert_array_equal(stored(f"{net}/dlatent_avg"), G.dlatent_avg.numpy())
    np.testing.assert_array_equal(stored("D/dense0/bias"), n.D.dense0.bias.numpy())
    assert stored("G_opt/iterations") == 1 and stored("state/cur_nimg") == 8
    assert stored("D_opt/m/dense0/bias").shape == tuple(n.D.dense0.bias.shape)


def test_restore_refuses_a_checkpoint_without_the_D_optimizer(tiny_data, tmp_path):
    cfg = tiny_training_config(tiny_data, "tiny")
    a = Trainer(cfg, progress=False)
    a.run_steps(1)
    partial = {k: v for k, v in a.checkpoint.values.items() if not k.startswith("D_opt/")}
    prefix = RunCheckpoint(partial).save(tmp_path / "partial")
    b = Trainer(cfg, progress=False)
    before = _state(b)
    with pytest.raises(UserError, match=r"partial-1: the checkpoint does not match this run's .*"
                                        r"missing D_opt/iterations"):
        b.restore(prefix)
    assert _differing(_state(b), before) == []  # nothing was restored


@pytest.mark.parametrize("network, message", [
    # One more mapping layer: every other weight has the same name and shape.
    ({"mapping_layers": 3}, r"unexpected G/mapping/dense2/weight"),
    # Narrower layers: the same names with other shapes.
    ({"fmap_max": 8}, r"has shape \[.*\], this run \["),
])
def test_restore_refuses_a_checkpoint_of_another_network(tiny_data, tmp_path, network, message):
    other = Trainer(tiny_training_config(tiny_data, "tiny", network=network), progress=False)
    prefix = other.save_checkpoint(tmp_path / "other")
    t = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    before = _state(t)
    with pytest.raises(UserError, match=r"other-1: the checkpoint does not match.*" + message):
        t.restore(prefix)
    assert _differing(_state(t), before) == []
