"""The StyleGAN2 training loop: lazy regularization cadence (visible in stats.jsonl), the
official optimizer rescaling, the path-length mean, one trace per step variant, learning
direction, non-finite steps, and exact resume of the counters and the path-length mean."""

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from tf_stylegan.files import read_jsonl
from training.launch import describe
from training.loop import Trainer
from training.trained_networks import variables_by_name
from training.training_config import load_config


def _weights(model, trainable_only=False):
    return {name: v.numpy() for name, v in variables_by_name(model).items()
            if v.trainable or not trainable_only}


def _assign(model, weights):
    for name, v in variables_by_name(model).items():
        v.assign(weights[name])


def test_lazy_regularization_optimizers_match_the_official_table(tiny_data):
    # NVlabs/stylegan2 training_loop.py, mb_ratio = k / (k + 1): lr * c, beta ** c (the table
    # of the official values, not recomputed here).
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2"), progress=False)
    s = t.schedule()
    assert (s.G_lrate, s.D_lrate, s.lod, s.resolution) == (0.002, 0.002, 0.0, 4)
    t.apply_schedule(s)
    G_opt, D_opt = t.networks.G_opt, t.networks.D_opt
    assert float(G_opt.learning_rate.numpy()) == pytest.approx(0.0016, abs=1e-9)
    assert float(D_opt.learning_rate.numpy()) == pytest.approx(0.00188235, abs=5e-9)
    assert G_opt.beta_1 == D_opt.beta_1 == 0.0
    assert G_opt.beta_2 == pytest.approx(0.99199197, abs=5e-9)
    assert D_opt.beta_2 == pytest.approx(0.99058546, abs=5e-9)
    assert G_opt.epsilon == D_opt.epsilon == 1e-8
    # The dry run says so; StyleGAN's Adams are not rescaled.
    text = describe(t.cfg, 4, 1)
    assert "G: path length every 4 minibatches (pl_weight 2); Adam lr x 0.8, beta1 0, " \
           "beta2 0.99199197" in text
    assert "D: R1 every 16 minibatches (gamma 10); Adam lr x 0.94117647" in text
    assert "minibatch 8 = 1 replica(s) x 1 pass(es) x 8" in text
    v1 = load_config("ffhq")
    assert v1.optimizer_ratio("G") == v1.optimizer_ratio("D") == 1.0


def test_cadence_in_stats_one_trace_per_variant_and_shared_optimizers(tiny_data, tmp_path):
    # 20 steps in ticks of one step (the tick ends are checked after every step here, not
    # every 4): path length on steps 0, 4, 8, ..., R1 on steps 0 and 16 (official: the
    # minibatch counter starts at 0, so both run on the first minibatch).
    cfg = tiny_training_config(tiny_data, "tiny", "stylegan2", total_kimg=0.160,
                               minibatch_repeats=1, schedule={"tick_kimg_base": 0.008},
                               image_snapshot_ticks=20, network_snapshot_ticks=20,
                               checkpoint_ticks=20)
    t = Trainer(cfg, run_dir=str(tmp_path), progress=False, log=lambda line: None)
    t.train()
    stats = read_jsonl(tmp_path / "stats.jsonl")
    assert len(stats) == 20
    assert [r["Updates/G_reg"] for r in stats] == [1, 0, 0, 0] * 5
    assert [r["Updates/D_reg"] for r in stats] == [1] + [0] * 15 + [1, 0, 0, 0]
    penalties = [r["Loss/gradient_penalty"] for r in stats]
    assert all((p > 0) == (i in (0, 16)) for i, p in enumerate(penalties)), penalties
    lengths = [r["Loss/pl_lengths"] for r in stats]
    assert all((v > 0) == (i % 4 == 0) for i, v in enumerate(lengths)), lengths
    assert all(r["lod"] == 0 and r["resolution"] == 4 and r["minibatch"] == 8 for r in stats)
    # Each regularization step is one more step of the network's own Adam (official
    # share=G_opt / D_opt): 20 main steps + 5 path-length steps, 20 + 2 R1 steps.
    assert int(t.networks.G_opt.iterations.numpy()) == 25
    assert int(t.networks.D_opt.iterations.numpy()) == 22
    # Three variants ran (main; + path length; + path length + R1), each traced once.
    assert dict(t.step.variant_traces) == {(4, ()): 1, (4, ("G_reg",)): 1,
                                           (4, ("G_reg", "D_reg")): 1}
    assert t.state.nonfinite_total.numpy() == 0


def test_path_length_mean_moves_toward_the_measured_lengths(tiny_data):
    # One pass per step: each path-length step updates pl_mean once, from the mean of the
    # lengths it measured (Loss/pl_lengths), a <- a + 0.01 (mean - a). (No R1 here: two step
    # variants to trace instead of three.)
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", r1_gamma=0.0), progress=False)
    a = float(t.losses.pl_mean.numpy())
    assert a == 0.0  # official initial value
    for step in range(9):
        stats = t.run_steps(1)[0]
        new = float(t.losses.pl_mean.numpy())
        if step % 4:
            assert "Loss/pl_lengths" not in stats and new == a
            continue
        lengths = float(stats["Loss/pl_lengths"])
        assert lengths > 0
        assert new == pytest.approx(a + 0.01 * (lengths - a), rel=1e-5)
        assert abs(lengths - new) < abs(lengths - a)
        assert float(stats["Loss/pl_mean"]) == pytest.approx(new, rel=1e-6)
        a = new
    assert a > 0


def test_each_phase_update_lowers_its_own_loss(tiny_data):
    # As for StyleGAN (test_learning.py), per phase: each update, applied alone as the step
    # applies it (`TrainStep.update`: gradients summed over replicas, the network's Adam),
    # lowers the loss it minimizes on the same inputs and draws.
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2"), progress=False)
    t.run_steps(2)  # a state past initialisation, with Adam moments
    res, batch, variant = 4, 8, ("G_reg", "D_reg")
    reals, labels = next(iter(t.dataset.iterate(res, batch, shuffle=False)))
    alpha, seed = tf.constant(1.0), tf.constant([11, 12], tf.int32)
    seeds = t.losses.phase_seeds(seed)

    def values():
        return t.step.loss_values(res, batch, reals, labels, alpha, seed, variant)

    def update(phase):
        def grads_fn(r, y, a, s):
            return t.step.replica_gradients(phase, res, batch, r, y, a, s)
        pl_mean = t.losses.pl_mean.numpy()
        ok, _ = tf.function(lambda: t.step.update(phase, grads_fn, reals, labels, alpha,
                                                   seeds[phase]))()
        assert bool(ok)
        t.losses.pl_mean.assign(pl_mean)  # the penalties after, with the same running mean

    # The regularizers by their penalties, reported unsigned: a penalty of the wrong sign
    # would be maximized, and the loss reported with that sign would still go down.
    measured = {}
    for phase, key in (("G", "Loss/G"), ("G_reg", "Loss/pl_penalty"), ("D", "Loss/D"),
                       ("D_reg", "Loss/gradient_penalty")):
        before = values()
        update(phase)
        after = values()
        measured[phase] = (before[key], after[key])
        assert after[key] < before[key] * (1 - 1e-3), (phase, before[key], after[key])
        if phase == "G":  # in D's scores too: G raised the scores of its fakes
            assert after["Loss/scores/fake"] > before["Loss/scores/fake"] + 1e-3
        if phase == "D":  # D separated the reals from the fakes
            assert (after["Loss/scores/real"] - after["Loss/scores/fake"]
                    > before["Loss/scores/real"] - before["Loss/scores/fake"] + 1e-3)


def test_nonfinite_steps_are_skipped_and_keep_the_path_length_mean(tiny_data):
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", max_nonfinite_steps=2),
                progress=False)
    t.run_steps(1)
    a = float(t.losses.pl_mean.numpy())
    w = t.networks.G.trainable_weights[0]
    w.assign(tf.fill(w.shape, np.nan))  # G's images, path lengths and D's fakes become NaN
    # (dlatent_avg, a forward-pass statistic, is not a trained weight: compare the trained.)
    g_before = _weights(t.networks.G, trainable_only=True)
    d_before = _weights(t.networks.D, trainable_only=True)
    iters = (int(t.networks.G_opt.iterations.numpy()), int(t.networks.D_opt.iterations.numpy()))
    for _ in range(4):  # steps 1-4: step 4 runs the path-length phase too
        t.step.consecutive_bad.assign(0)  # stay under the limit
        t.run_steps(1)
    assert int(t.state.nonfinite_total.numpy()) == 4
    assert float(t.losses.pl_mean.numpy()) == a  # not made NaN by the skipped step
    for name, value in _weights(t.networks.G, trainable_only=True).items():
        np.testing.assert_array_equal(value, g_before[name], err_msg=name)
    for name, value in _weights(t.networks.D, trainable_only=True).items():
        np.testing.assert_array_equal(value, d_before[name], err_msg=name)
    assert (int(t.networks.G_opt.iterations.numpy()),
            int(t.networks.D_opt.iterations.numpy())) == iters


@pytest.mark.large  # two runs tracing 2 variants each: ~25-70 s on 2 shared cores
def test_restore_resumes_counters_and_path_length_mean_exactly(tiny_data, tmp_path):
    a = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2"), progress=False)
    a.run_steps(5)  # regularized at steps 0 and 4
    prefix = a.save_checkpoint(tmp_path / "ckpt")
    assert float(a.losses.pl_mean.numpy()) > 0
    # A continues from its own checkpoint as well: the data pipeline is recreated at the
    # restored image count (its shuffle seed derives from it), so both see the same reals.
    a.restore(prefix)
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_tensor("losses/pl_mean/.ATTRIBUTES/VARIABLE_VALUE")
    assert float(stored) == float(a.losses.pl_mean.numpy())

    b = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2", seed=7), progress=False)
    b.restore(prefix)
    assert int(b.state.step.numpy()) == 5 and b.nimg == 40
    assert float(b.losses.pl_mean.numpy()) == float(a.losses.pl_mean.numpy())
    # Both continue through step 8 (path length again): the same updates, bit for bit.
    a.run_steps(4)
    b.run_steps(4)
    assert float(b.losses.pl_mean.numpy()) == float(a.losses.pl_mean.numpy())
    for net in ("G", "D", "Gs"):
        wa, wb = _weights(a.networks.network(net)), _weights(b.networks.network(net))
        for name in wa:
            np.testing.assert_array_equal(wa[name], wb[name], err_msg=f"{net}/{name}")
