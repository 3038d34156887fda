"""StyleGAN2's own training: lazy regularization cadence (visible in stats.jsonl), the official
optimizer rescaling, the path-length mean and one trace per step variant. (What both families
share: test_loop.py, test_learning.py, test_checkpoint.py, test_distribute.py.)"""

import pytest

from tests.tiny_networks import tiny_training_config
from tf_stylegan.files import read_jsonl
from training.launch import describe
from training.loop import Trainer
from training.training_config import load_config


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
