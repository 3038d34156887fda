"""The training loop: one trace per level, official step order, Gs EMA, optimizer resets,
non-finite skipping, WGAN-GP (mixed precision and XLA: test_precision.py)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from training.loop import NonFiniteError, Trainer
from training.stylegan_losses import process_reals


def _weights(model):
    return [np.array(v.numpy()) for v in model.weights]


def test_process_reals_dynamic_range_and_fade():
    images = tf.constant(np.arange(4 * 4 * 2, dtype=np.uint8).reshape(2, 4, 4, 1) * 7)
    x = images.numpy().astype(np.float32) / 127.5 - 1.0
    # 4x4 reals: range only.
    np.testing.assert_allclose(process_reals(images, 0.0).numpy(), x, atol=1e-6)
    big = tf.constant(np.random.RandomState(0).randint(0, 256, [2, 8, 8, 1]).astype(np.uint8))
    xb = big.numpy().astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(process_reals(big, 1.0).numpy(), xb, atol=1e-6)
    # alpha = 0: the 2x2 box average, nearest-upscaled (official FadeLOD with frac(lod) = 1).
    box = xb.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4))
    box_up = box.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(process_reals(big, 0.0).numpy(), box_up, atol=1e-6)
    np.testing.assert_allclose(process_reals(big, 0.25).numpy(), xb + (box_up - xb) * 0.75,
                               atol=1e-6)


def test_one_trace_per_level_resets_and_ema(tiny_data):
    cfg = tiny_training_config(tiny_data, "tiny", G_smoothing_kimg=0.05)
    t = Trainer(cfg, progress=False)
    g0 = _weights(t.networks.G)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in g0]),
                                  np.concatenate([w.ravel() for w in _weights(t.networks.Gs)]))
    # 4x4 is stable for 32 images (lod is still exactly 1 at nimg = 32), the 4 -> 8 fade-in runs
    # from there to 64 images, then 8x8 is stable. The schedule is evaluated every 4 steps
    # (minibatch_repeats) and at the start of each run_steps call.
    t.run_steps(5)
    assert tuple(t.state.lod_key.numpy()) == (1, 1)
    assert int(t.networks.G_opt.iterations.numpy()) == 5
    t.run_steps(1)  # schedule at nimg 40: lod 0.75, lod_key (0, 1): Adam is reset first.
    assert int(t.networks.G_opt.iterations.numpy()) == 1
    assert int(t.networks.D_opt.iterations.numpy()) == 1
    assert tuple(t.state.lod_key.numpy()) == (0, 1)
    t.run_steps(7)  # 4 fade-in steps (alpha 0.5), then at nimg 80 lod_key (0, 0): reset again.
    assert tuple(t.state.lod_key.numpy()) == (0, 0)
    assert int(t.networks.G_opt.iterations.numpy()) == 3
    # Two levels, two traces, whatever alpha did.
    assert dict(t.step.trace_counts) == {4: 1, 8: 1}
    assert int(t.state.cur_nimg.numpy()) == 13 * 8
    assert float(t.networks.G_opt.learning_rate.numpy()) == pytest.approx(0.001)

    # Gs EMA of one more step: Gs' = G + (Gs - G) * beta with G before its own update.
    g_before, gs_before = _weights(t.networks.G), _weights(t.networks.Gs)
    t.run_steps(1)
    beta = 0.5 ** (8 / (0.05 * 1000))
    for v, gb, gsb, gsa in zip(t.networks.G.weights, g_before, gs_before,
                               _weights(t.networks.Gs)):
        if v.trainable:
            np.testing.assert_allclose(gsa, gb + (gsb - gb) * beta, rtol=1e-5, atol=1e-6)
    # Non-trainables (dlatent_avg, noise buffers) are copied; dlatent_avg has moved off zero.
    gs_avg = t.networks.Gs.dlatent_avg.numpy()
    assert np.abs(gs_avg).sum() > 0
    for dst, src in zip(t.networks.Gs.non_trainable_weights, t.networks.G.non_trainable_weights):
        if "dlatent_avg" not in dst.path:
            np.testing.assert_array_equal(dst.numpy(), src.numpy())
    assert t.step.consecutive_bad.numpy() == 0 and t.state.nonfinite_total.numpy() == 0
    assert all(np.isfinite(v.numpy()) for v in t.step.totals.sums.values())


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_nonfinite_steps_are_skipped_and_stop_the_run(tiny_data, family):
    cfg = tiny_training_config(tiny_data, "tiny", family, max_nonfinite_steps=2)
    t = Trainer(cfg, progress=False)
    t.run_steps(1)
    own = {name: v.numpy() for name, v in t.losses.variables_by_name().items()}
    w = t.networks.G.trainable_weights[0]
    w.assign(tf.fill(w.shape, np.nan))  # G's images, D's fake scores (and path lengths): NaN
    # (dlatent_avg, a forward-pass statistic, is not a trained weight: compare the trained.)
    g_before = [v.numpy() for v in t.networks.G.trainable_weights]
    d_before = [v.numpy() for v in t.networks.D.trainable_weights]
    iters = (int(t.networks.G_opt.iterations.numpy()), int(t.networks.D_opt.iterations.numpy()))
    t.run_steps(2)  # two skipped steps: allowed
    assert int(t.step.consecutive_bad.numpy()) == 2 and int(t.state.nonfinite_total.numpy()) == 2
    t.step.consecutive_bad.assign(0)  # under the limit again: steps 3 and 4 (StyleGAN2's
    t.run_steps(2)                    # path length runs in step 4)
    assert int(t.state.nonfinite_total.numpy()) == 4
    # No update was applied; the losses' own state (StyleGAN2's pl_mean) was not made NaN.
    for a, v in zip(g_before, t.networks.G.trainable_weights):
        np.testing.assert_array_equal(np.nan_to_num(a), np.nan_to_num(v.numpy()))
    for a, v in zip(d_before, t.networks.D.trainable_weights):
        np.testing.assert_array_equal(a, v.numpy())
    assert (int(t.networks.G_opt.iterations.numpy()),
            int(t.networks.D_opt.iterations.numpy())) == iters
    assert {name: v.numpy() for name, v in t.losses.variables_by_name().items()} == own
    with pytest.raises(NonFiniteError, match="3 consecutive training steps"):
        t.run_steps(1)


def test_wgangp_runs(tiny_data):
    t = Trainer(tiny_training_config(tiny_data, "tiny", loss="wgangp"), progress=False)
    d0 = _weights(t.networks.D)
    t.run_steps(2)
    assert t.state.nonfinite_total.numpy() == 0
    assert t.step.totals.sums["Loss/gradient_penalty"].numpy() > 0  # penalty accumulated
    assert any(not np.array_equal(a, b) for a, b in zip(d0, _weights(t.networks.D)))


def test_start_from_snapshot(tiny_data, tmp_path):
    a = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    a.run_steps(2)
    a.save_snapshot(tmp_path / "snap.zip")
    b = Trainer(tiny_training_config(tiny_data, "tiny", seed=7), progress=False)
    b.load_snapshot_weights(tmp_path / "snap.zip")
    assert int(b.state.cur_nimg.numpy()) == 16 and b.nimg == 16
    for name in ("G", "D", "Gs"):
        model_a, model_b = a.networks.network(name), b.networks.network(name)
        for va, vb in zip(model_a.weights, model_b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    other = Trainer(tiny_training_config(tiny_data, "tiny", network={"fmap_max": 8}),
                    progress=False)
    with pytest.raises(ValueError, match="snapshot network config differs.*fmap_max"):
        other.load_snapshot_weights(tmp_path / "snap.zip")


def test_train_writes_run_dir_and_runs_metrics(tiny_data, tmp_path, monkeypatch):
    from metrics import registry

    calls = []

    def fake_evaluate(name, Gs, opts):
        calls.append((name, opts.snapshot, opts.kimg, opts.num_samples, opts.dataset_dir))
        if name == "ppl_wend":
            raise FileNotFoundError("no LPIPS weights")  # reported, training goes on
        return {"results": {name: 1.0}, "seconds": 0.0}

    monkeypatch.setattr(registry, "evaluate", fake_evaluate)
    with pytest.raises(ValueError, match="Unknown metric"):
        Trainer(tiny_training_config(tiny_data, "tiny", metrics=["fid5k"]), progress=False)
    cfg = tiny_training_config(tiny_data, "tiny", total_kimg=0.128, metrics="fid50k,ppl_wend",
                               metric_options={"num_samples": 100})
    logs = []
    t = Trainer(cfg, run_dir=str(tmp_path), progress=False, log=logs.append)
    t.train()
    files = set(os.listdir(tmp_path))
    assert {"reals.png", "fakes000000.png", "stats.jsonl", "training_curves.png",
            "network-snapshot-000000.zip", "_finished.txt", "checkpoints"} <= files
    # Two ticks of 64 images: snapshots at tick 1 and at the end, metrics with each.
    assert [c[:3] for c in calls] == [
        ("fid50k", "network-snapshot-000000.zip", 0.064),
        ("ppl_wend", "network-snapshot-000000.zip", 0.064),
        ("fid50k", "network-snapshot-000000.zip", 0.128),
        ("ppl_wend", "network-snapshot-000000.zip", 0.128)]
    assert all(c[3] == 100 and c[4].endswith("tiny") for c in calls)
    assert any("ppl_wend failed at kimg 0.1: FileNotFoundError" in line for line in logs)
    assert sum(line.startswith("tick ") for line in logs) == 2


def test_snapshot_during_growth_records_and_renders_its_level(tiny_data, tmp_path):
    import tf_stylegan as sg

    t = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    labels = tf.one_hot([0, 1], 3)
    kw = dict(noise="const", truncation_psi=1.0)
    for steps, level in ((1, 4), (5, 8)):  # nimg 8: 4x4 stable (lod 1); nimg 48: fade-in
        t.run_steps(steps)
        sched = t.schedule()
        path = tmp_path / f"snap{steps}.zip"
        t.save_snapshot(path)
        _, _, Gs, info = sg.load_snapshot(path, with_info=True)
        meta = info["metadata"]
        assert (meta["lod"], meta["resolution"], meta["alpha"]) == \
            (sched.lod, level, sched.alpha)
        assert Gs.lod == sched.lod
        z = tf.random.normal([2, Gs.config.latent_size], seed=1)
        images = Gs(z, labels, **kw).numpy()
        assert images.shape == (2, 8, 8, 1)
        expected = Gs(z, labels, resolution=level, alpha=sched.alpha, **kw).numpy()
        expected = expected.repeat(8 // level, axis=1).repeat(8 // level, axis=2)
        np.testing.assert_array_equal(images, expected)  # nearest-upscaled from its level
    assert 0 < sched.lod < 1
