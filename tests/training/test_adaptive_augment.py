"""Discriminator augmentation in training (StyleGAN2-ADA): what D sees in each phase of both
families, R1 with respect to the un-augmented reals, G's gradient through the augmented fakes,
Gs and the snapshots untouched, and the ADA window and p-update (the sign sums, the exact
ties, the clamp, the replicas).

The D inputs are intercepted with the `cutout` pipe at p = 1: it multiplies each image by a mask
that is 0 on a square of half the image side (clipped by the border: at least a quarter side
each way) and 1 elsewhere (official augment.py:414-427), so an augmented image holds exact zeros
where neither G's fakes nor the reals (k * 2/255 - 1 is never 0) have any, and its other pixels
are the input's exactly."""

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from training import ada, adaptive_augment
from training.adaptive_augment import AdaptiveAugment
from training.distribute import make_strategy
from training.loop import Trainer
from training.losses import r1_scale_for
from training.step import ReplicaBatch
from training.tick_report import TickReporter, status_line
from training.trained_networks import variables_by_name

FAMILIES = {
    # family: (config, the lazy regularization phases to run, the R1 statistic)
    "stylegan2": (lambda d, **kw: tiny_training_config(d, "tiny", "stylegan2", resolution=8, **kw),
                  ("G_reg", "D_reg"), "Loss/gradient_penalty"),
    "stylegan": (lambda d, **kw: tiny_training_config(d, "tiny", **kw), (), "Loss/r1_penalty"),
}
# Which of the D calls of a step see reals: StyleGAN2 runs G (fakes), D (fakes, reals), D_reg
# (reals); StyleGAN D (fakes, reals, R1 on that real pass), then G (fakes).
REAL_CALLS = {"stylegan2": (2, 3), "stylegan": (1,)}


def _trainer(tiny_data, family, **kw):
    make, _, _ = FAMILIES[family]
    return Trainer(make(tiny_data, **kw), progress=False)


def _batch(t):
    s = t.schedule()
    reals, labels = next(iter(t.dataset.iterate(s.resolution, s.minibatch, shuffle=False)))
    return s, reals, labels


def _intercept_D(t, monkeypatch):
    """Records the images of every call of D the losses make."""
    seen = []
    discriminate = t.losses.discriminate

    def recording(images, labels, alpha):
        seen.append(images)
        return discriminate(images, labels, alpha)

    monkeypatch.setattr(t.losses, "discriminate", recording)
    return seen


def _zeros_per_image(x):
    return np.sum(np.asarray(x) == 0, axis=(1, 2, 3))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_image_D_sees_is_augmented(tiny_data, family, monkeypatch):
    s, reals, labels = _batch(_trainer(tiny_data, family))
    variant = FAMILIES[family][1]
    x = np.asarray(reals, np.float32) * (2 / 255) - 1  # process_reals (no fade: alpha 1 here)
    for aug in ("noaug", "fixed"):
        t = _trainer(tiny_data, family, aug=aug, augpipe="cutout", augment_p=1.0)
        seen = _intercept_D(t, monkeypatch)
        t.step.loss_values(s.resolution, s.minibatch, reals, labels, 1.0, [3, 4], variant)
        # G loss: fakes; D loss: fakes, reals; R1 (StyleGAN2's D_reg): reals. StyleGAN takes R1
        # on the D loss's own real pass.
        assert len(seen) == (4 if family == "stylegan2" else 3)
        zeros = [_zeros_per_image(images) for images in seen]
        if aug == "noaug":
            assert all(np.all(z == 0) for z in zeros)
            continue
        # A cutout square in every image of every D input, of at least a quarter side each way.
        side = s.resolution // 4
        assert all(np.all(z >= side * side) for z in zeros), zeros
        # The reals' passes are the reals, masked: every other pixel exactly as processed.
        for i in REAL_CALLS[family]:
            images = np.asarray(seen[i])
            kept = images != 0
            assert np.array_equal(images[kept], np.broadcast_to(x, images.shape)[kept])
        # Each input has draws of its own: the cutout squares of the D loss's fakes and reals
        # (and, for StyleGAN2, of R1's reals) are elsewhere.
        squares = [np.asarray(images) == 0 for images in seen]
        fakes = REAL_CALLS[family][0] - 1
        for i in REAL_CALLS[family]:
            assert not np.array_equal(squares[fakes], squares[i])
        if family == "stylegan2":
            assert not np.array_equal(squares[2], squares[3])


@pytest.mark.parametrize("family", FAMILIES)
def test_r1_is_taken_with_respect_to_the_unaugmented_reals(tiny_data, family, monkeypatch):
    t = _trainer(tiny_data, family, aug="fixed", augpipe="cutout", augment_p=1.0)
    s, reals, labels = _batch(t)
    _, variant, stat = FAMILIES[family]
    seen = _intercept_D(t, monkeypatch)
    got = t.step.loss_values(s.resolution, s.minibatch, reals, labels, 1.0, [7, 1], variant)
    x_aug = tf.constant(seen[REAL_CALLS[family][-1]])  # the R1 pass's augmented reals
    D = t.networks.D
    kw = {} if family == "stylegan2" else {"alpha": s.alpha}
    with tf.GradientTape() as tape:
        tape.watch(x_aug)
        total = tf.reduce_sum(D(x_aug, labels, **kw))
    g = tape.gradient(total, x_aug).numpy().astype(np.float64)
    # d aug(x) / dx is the cutout mask: the gradient w.r.t. the un-augmented reals is zero in
    # the square. The R1 of the augmented images would not be.
    mask = np.asarray(x_aug) != 0
    scale = r1_scale_for(s.resolution, t.net_cfg.resolution)
    want = scale * np.mean(np.sum((g * mask) ** 2, axis=(1, 2, 3)))
    through_aug = scale * np.mean(np.sum(g ** 2, axis=(1, 2, 3)))
    assert got[stat] == pytest.approx(want, rel=1e-5)
    # The two differ by far more than that tolerance.
    assert through_aug > want * (1 + 1e-3), (through_aug, want)


def test_G_learns_through_the_augmented_fakes(tiny_data):
    t = _trainer(tiny_data, "stylegan2", aug="fixed", augpipe="bgc", augment_p=1.0)
    s, reals, labels = _batch(t)
    named = {k: v for k, v in variables_by_name(t.networks.G).items() if v.trainable}

    def G_gradients():
        with tf.GradientTape() as tape:
            loss, _ = t.losses.G_loss(ReplicaBatch(s.minibatch), s.resolution, reals, labels,
                                      1.0, tf.constant([5, 6]))
            loss = tf.reduce_mean(loss)
        return dict(zip(named, tape.gradient(loss, list(named.values()))))

    with_aug = G_gradients()
    t.losses.augment.p.assign(0.0)
    without = G_gradients()
    synthesis = [k for k in with_aug if "synthesis" in k and with_aug[k] is not None]
    assert len(synthesis) > 10
    assert all(float(tf.reduce_max(tf.abs(with_aug[k]))) > 0 for k in synthesis)
    # The augmentation is on the path: the same fakes un-augmented give other gradients.
    differ = [k for k in synthesis if not np.allclose(with_aug[k], without[k], atol=1e-7)]
    assert len(differ) > len(synthesis) // 2


def test_Gs_grids_and_snapshots_never_see_the_augmentation(tiny_data, tmp_path, monkeypatch):
    t = _trainer(tiny_data, "stylegan2", aug="fixed", augpipe="bgc", augment_p=1.0)

    def refuse(self, images, seed):
        raise AssertionError("augmented outside D's losses")

    monkeypatch.setattr(AdaptiveAugment, "__call__", refuse)
    reporter = TickReporter(t)
    reporter.setup_grid()
    grid = reporter.generate_grid(8, 1.0)
    z = tf.constant(reporter.grid_latents[:4])
    direct = t.networks.Gs(z, tf.constant(reporter.grid_labels[:4]), truncation_psi=1.0,
                           noise="const")
    # Gs's own images (to the rounding of another batch size; augmented ones differ by O(1)).
    np.testing.assert_allclose(grid[:4], direct.numpy(), atol=1e-5)
    t.save_snapshot(tmp_path / "snap.zip")
    import tf_stylegan as sg

    _, _, _, info = sg.load_snapshot(tmp_path / "snap.zip", with_info=True)
    assert info["metadata"]["augment_p"] == 1.0  # p is recorded, the images are not augmented


def test_small_levels_run_without_imgfilter():
    # imgfilter needs H, W >= 22 (official reflect padding of 21): D inputs below that go
    # through the same pipe without it, the others through the whole pipe.
    a = AdaptiveAugment("fixed", "bgcf", p=1.0)
    assert a.pipe.spec.imgfilter == 1 and a.small_pipe.spec.imgfilter == 0
    seed = tf.constant([1, 2])
    for size, pipe in ((16, a.small_pipe), (22, a.pipe), (32, a.pipe)):
        x = tf.random.stateless_uniform([2, size, size, 3], [0, size], -1, 1)
        np.testing.assert_array_equal(a(x, seed), pipe(x, tf.constant(1.0), seed))
    x = tf.random.stateless_uniform([2, 32, 32, 3], [0, 1], -1, 1)
    assert not np.allclose(a(x, seed), a.small_pipe(x, tf.constant(1.0), seed))


def _window(a, batch):
    """A traced step's ADA part: reports of the real scores, then end_step."""

    @tf.function
    def step(*reports):
        a.begin_step()
        for scores in reports:
            a.report_real_scores(scores)
        a.end_step(batch)

    return step


def test_window_sums_signs_and_adjusts_p_by_the_official_rule():
    a = AdaptiveAugment("ada", "blit", p=0.0, ada_kimg=500)
    step = _window(a, 8)
    pos, neg = tf.ones([8]), -tf.ones([8])
    a.report_real_scores(tf.ones([5]))  # outside a step (TrainStep.loss_values): dropped
    for i in range(3):
        step(pos)
        assert a.p.numpy() == 0 and a.window_steps.numpy() == i + 1
    assert (a.sign_sum.numpy(), a.sign_count.numpy()) == (24.0, 24.0)
    step(pos, pos)  # the 4th step, with an R1 pass
    up = np.float32(np.float32(0) + np.float32(8 * 4 / 500000))
    assert a.p.numpy() == up and a.r_t.numpy() == 1.0 and a.window_steps.numpy() == 0
    assert (a.sign_sum.numpy(), a.sign_count.numpy()) == (0.0, 0.0)
    # An exact tie: 32 of 40 positive gives r = 24 / 40 = 0.6 in float64, no step.
    mixed = tf.constant([1.0] * 8)
    for _ in range(3):
        step(mixed)
    step(tf.constant([1.0] * 8), tf.constant([-1.0] * 8))
    assert a.r_t.numpy() == 0.6 and a.p.numpy() == up
    # Below the target p falls, and stays clamped at 0.
    for _ in range(8):
        step(neg)
    assert a.p.numpy() == 0 and a.r_t.numpy() == -1.0
    # Non-finite and zero scores: a NaN is not counted, a 0 counts with sign 0.
    step(tf.constant([np.nan, 0.0, 1.0, 1.0]))
    assert (a.sign_sum.numpy(), a.sign_count.numpy()) == (2.0, 3.0)
    assert a.tick_statistics() == {"Progress/augment": 0.0, "Progress/ada_r_t": -1.0}


def test_fixed_p_never_moves_and_has_no_window():
    a = AdaptiveAugment("fixed", "bgc", p=0.3)
    step = _window(a, 8)
    for _ in range(8):
        step(tf.ones([8]))
    assert a.p.numpy() == np.float32(0.3)
    assert set(a.variables_by_name()) == {"augment/p"}
    assert a.tick_statistics() == {"Progress/augment": pytest.approx(0.3)}


def test_window_sums_over_replicas():
    strategy = make_strategy(2)
    a = AdaptiveAugment("ada", "blit", p=0.5, interval=2, ada_kimg=100, strategy=strategy)

    @tf.function
    def step(scores):
        def replica():
            ctx = tf.distribute.get_replica_context()
            # Replica 0: 4 positive scores; replica 1: 3 negative, one 0.
            mine = tf.gather(scores, tf.range(4) + 4 * ctx.replica_id_in_sync_group)
            a.report_real_scores(mine)

        a.begin_step()
        strategy.run(replica)
        a.end_step(8)

    scores = tf.constant([1.0, 2, 3, 4, -1, -2, -3, 0])
    step(scores)
    # The window holds both replicas' signs: sum 4 - 3, count 8.
    assert (a.sign_sum.numpy(), a.sign_count.numpy()) == (1.0, 8.0)
    step(scores)
    # r = 2 / 16 = 0.125 < 0.6: p = 0.5 - 8 * 2 / 100000, the same on both replicas.
    assert a.r_t.numpy() == 0.125
    want = np.float32(np.float32(0.5) - np.float32(8 * 2 / 100000))
    assert [v.numpy() for v in strategy.experimental_local_results(a.p)] == [want, want]


def test_tick_reports_and_status_line(tiny_data):
    t = _trainer(tiny_data, "stylegan2", aug="ada", augpipe="blit")
    assert t.losses.tick_statistics() == {"Progress/augment": 0.0}  # no window completed yet
    names = set(t.losses.variables_by_name())
    assert names == {"pl_mean", "augment/p", "augment/sign_sum", "augment/sign_count",
                     "augment/window_steps", "augment/r_t"}
    assert "Loss/signs/real" in t.losses.stat_names["D"]
    assert {f"losses/{n}" for n in names} <= set(t.checkpoint.values)
    record = {"tick": 1, "kimg": 0.1, "resolution": 8, "alpha": 1.0, "minibatch": 8,
              "sec_per_tick": 1.0, "sec_per_kimg": 10.0, "Timing/img_per_sec": 100.0,
              "peak_rss_gb": 1.0, "Loss/G": 0.5, "Loss/D": 1.0, "nonfinite_steps": 0,
              "Progress/augment": 0.0123}
    assert status_line(record).endswith(" augment 0.012")
    off = _trainer(tiny_data, "stylegan2")
    assert off.losses.augment is None and off.losses.tick_statistics() == {}
    # A fixed p of 0 builds no pipe, as officially; ADA runs from p = 0.
    assert _trainer(tiny_data, "stylegan2", aug="fixed", augment_p=0.0).losses.augment is None
    assert "Loss/signs/real" not in off.losses.stat_names["D"]
    assert set(off.losses.variables_by_name()) == {"pl_mean"}


def test_augmentation_options_are_checked(tiny_data):
    from tf_stylegan.errors import UserError

    for kw, message in ((dict(aug="sometimes"), "`aug` must be one of"),
                        (dict(augpipe="bgcx"), "`augpipe` must be one of"),
                        (dict(augment_p=1.5), "`augment_p` must be a number in"),
                        (dict(ada_target=-1), "`ada_target` must be a number in"),
                        (dict(ada_kimg=0), "`ada_kimg` must be a number > 0"),
                        (dict(ada_interval=0), "`ada_interval` must be an int >= 1"),
                        (dict(G_smoothing_rampup=0), "`G_smoothing_rampup` must be")):
        with pytest.raises(UserError, match=message):
            tiny_training_config(tiny_data, "tiny", "stylegan2", **kw)
    with pytest.raises(UserError, match="does not combine with loss='wgangp'"):
        tiny_training_config(tiny_data, "tiny", aug="ada", loss="wgangp")
    assert adaptive_augment.AUGMENT_MODES == ("noaug", "ada", "fixed")
    assert (ada.ADA_TARGET, ada.ADA_INTERVAL, ada.ADA_KIMG) == (0.6, 4, 500)


def test_each_replica_and_pass_draws_its_own_augmentations():
    # The same images and step seed: the 2 replicas augment them differently (as each official
    # GPU draws its own), and one device's pass p draws what replica p draws with one pass.
    strategy = make_strategy(2)
    a = AdaptiveAugment("fixed", "bgc", p=1.0, strategy=strategy)
    x = tf.random.stateless_uniform([4, 8, 8, 1], [0, 1], -1, 1)
    seed = tf.constant([9, 9])

    @tf.function
    def per_replica():
        return strategy.run(lambda: a(x, a.seed(ReplicaBatch(8), seed, adaptive_augment.REALS)))

    first, second = [v.numpy() for v in strategy.experimental_local_results(per_replica())]
    assert np.abs(first - second).max() > 0.1
    one = AdaptiveAugment("fixed", "bgc", p=1.0)
    passes = [one(x, one.seed(ReplicaBatch(8, passes=2, pass_index=i), seed,
                              adaptive_augment.REALS)).numpy() for i in (0, 1)]
    np.testing.assert_allclose(passes[0], first, atol=1e-5)  # eager vs traced rounding
    np.testing.assert_allclose(passes[1], second, atol=1e-5)
