"""XLA and mixed precision against the float32 step: same seeds, same data, same results.

Two trainers with the same config and seed start from identical weights and draw identical
latents, noise and data (all stateless, seeded by (run seed, step)), so any difference after a
few steps comes from the compilation / precision alone. What is compared is the per-step losses
and the images G and Gs make of fixed latents. Adam's epsilon is raised to 1e-3 here, as in
tests/training/test_distribute.py: with 1e-8 a weight whose true gradient is 0 (a bias right
before instance norm) moves by +-lr with the sign of its rounding noise, which says nothing
about the arithmetic but blurs every comparison.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.training.tiny_training import tiny_config
from training.config import TrainingConfig
from training.loop import Trainer

STEPS = 4
EPS = dict(adam_epsilon=1e-3)


def _images(t):
    """G and Gs images of 6 fixed latents and labels (no truncation, stored noise), float64."""
    z = tf.constant(np.random.RandomState(3).randn(6, t.net_cfg.latent_size), tf.float32)
    labels = tf.one_hot(np.arange(6) % t.net_cfg.label_size, t.net_cfg.label_size)
    res = t.schedule().resolution
    return np.stack([tf.cast(net(z, labels, truncation_psi=1.0, noise="const", resolution=res),
                             tf.float32).numpy().astype(np.float64)
                     for net in (t.networks.G, t.networks.Gs)])


def _run(cfg, steps=STEPS):
    """The trainer, the images before, the per-step [D loss, G loss] and the images after."""
    t = Trainer(cfg, progress=False)
    before = _images(t)
    losses = []
    for _ in range(steps):
        stats = t.run_steps(1)[0]
        losses.append([float(stats["Loss/D"]), float(stats["Loss/G"])])
    return t, before, np.array(losses, np.float64), _images(t)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


@pytest.fixture(scope="module")
def fp32_run(tiny_data):
    return _run(tiny_config(tiny_data, "tiny", **EPS))


def test_reference_run_moves(fp32_run):
    # The comparisons below are between trained networks, not two untouched initialisations:
    # 4 steps change the images by far more than the tolerances used.
    _, before, losses, after = fp32_run
    assert _rel(after, before) > 0.05
    assert np.all(np.isfinite(losses)) and np.all(losses[:, 0] != 0)


def test_xla_step_gives_the_same_results(tiny_data, fp32_run):
    t, before, losses, after = _run(tiny_config(tiny_data, "tiny", xla=True, **EPS))
    _, ref_before, ref_losses, ref_after = fp32_run
    assert t.state.nonfinite_total.numpy() == 0
    np.testing.assert_array_equal(before, ref_before)  # same init (XLA compiles the step only)
    # Float32 rounding only: XLA fuses and reorders the same arithmetic.
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-5)
    assert _rel(after, ref_after) < 1e-3


def _one_step_gradients(t, res=8, batch=8):
    """D and G gradients (flat, float64) and loss statistics of one step from t's weights."""
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [batch, res, res, 1]), tf.uint8)
    labels = tf.one_hot(np.arange(batch) % 3, 3)
    alpha = tf.constant(1.0)
    d = tf.function(lambda: t.step.replica_gradients("D", res, batch, reals, labels, alpha,
                                                     tf.constant([1, 2])))()
    g = tf.function(lambda: t.step.replica_gradients("G", res, batch, reals, labels, alpha,
                                                     tf.constant([3, 4])))()

    def flat(grads):
        return np.concatenate([x.numpy().ravel().astype(np.float64) for x in grads
                               if x is not None])

    return flat(d[0]), flat(g[0]), d[2]["Loss/D"].numpy(), g[2]["Loss/G"].numpy()


def test_bfloat16_gradients_track_float32(tiny_data):
    ref = Trainer(tiny_config(tiny_data, "tiny"), progress=False)
    t = Trainer(tiny_config(tiny_data, "tiny", mixed_precision=True), progress=False)
    n, ref_n = t.networks, ref.networks
    assert n.G.dtype_policy.name == "mixed_bfloat16" and not n.loss_scaling  # no GPU here
    assert all(v.dtype == "float32" for v in n.G.weights + n.D.weights)  # float32 variables
    for a, b in zip(ref_n.G.weights + ref_n.D.weights, n.G.weights + n.D.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the same starting point
    got, want = _one_step_gradients(t), _one_step_gradients(ref)
    # bfloat16 keeps 8 significant bits: the losses agree to 1 %, and the gradients of every
    # weight of G and D point the same way (measured on this net: cosine 0.98-0.99, norm within
    # 4 %; the remaining difference is bfloat16 rounding of small activation gradients).
    for i in (0, 1):
        cos = got[i] @ want[i] / (np.linalg.norm(got[i]) * np.linalg.norm(want[i]))
        assert cos > 0.97
        assert abs(np.linalg.norm(got[i]) / np.linalg.norm(want[i]) - 1.0) < 0.1
    np.testing.assert_allclose(got[2], want[2], rtol=0.01)  # D loss
    np.testing.assert_allclose(got[3], want[3], rtol=0.02)  # G loss
    # A short bfloat16 run trains: finite losses, no skipped step, the images change.
    _, before, losses, after = _run(tiny_config(tiny_data, "tiny", mixed_precision=True))
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(after))
    assert _rel(after, before) > 0.05


def test_float16_loss_scaling_skips_overflowing_steps(tiny_data):
    """The GPU path (mixed_float16 + dynamic loss scale), forced on the CPU."""
    t = Trainer(tiny_config(tiny_data, "tiny", mixed_precision="float16"), progress=False)
    n, ls = t.networks, t.step.loss_scale
    assert n.G.dtype_policy.name == "mixed_float16" and n.loss_scaling
    trainable = n.G.trainable_weights + n.D.trainable_weights
    t.run_steps(16)
    # Dynamic loss scaling at work. At init the 4x4 instance norm normalizes the constant input
    # (the noise weights start at 0), variance 0, so its input gradient is 1e4 times the one
    # above it: G's scaled gradients overflow float16 and each such step is skipped with the
    # scale halved, until they fit; then G trains. D's fit at the initial scale 2**15.
    scale = {k: float(v.numpy()) for k, v in ls.scale.items()}
    skipped = int(t.state.nonfinite_total.numpy())
    assert scale["D"] == 2.0**15 and int(ls.good_steps["D"].numpy()) == 16
    assert 1.0 <= scale["G"] < 2.0**15 and skipped == round(np.log2(2.0**15 / scale["G"]))
    assert int(ls.good_steps["G"].numpy()) == 16 - skipped > 0
    # A scale that overflows float16 in the backward pass: both updates are skipped, the
    # weights stay, and the scale is halved (as keras.optimizers.LossScaleOptimizer does).
    for v in ls.scale.values():
        v.assign(1e30)
    before = [v.numpy() for v in trainable]
    t.run_steps(1)
    assert int(t.state.nonfinite_total.numpy()) == skipped + 1
    np.testing.assert_allclose([ls.scale["G"].numpy(), ls.scale["D"].numpy()], [5e29, 5e29],
                               rtol=1e-6)
    np.testing.assert_array_equal([ls.good_steps["G"].numpy(), ls.good_steps["D"].numpy()],
                                  [0, 0])
    for a, v in zip(before, trainable):
        np.testing.assert_array_equal(a, v.numpy())
    # Back to the scale it had found: training goes on and the weights move again.
    for k, v in ls.scale.items():
        v.assign(scale[k])
    t.run_steps(1)
    assert int(t.state.nonfinite_total.numpy()) == skipped + 1
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, trainable))
    assert all(np.all(np.isfinite(v.numpy())) for v in n.G.weights + n.D.weights)


def test_mixed_precision_values_are_checked(tiny_data):
    with pytest.raises(ValueError, match="mixed_precision.*Received: mixed_precision='fp8'"):
        tiny_config(tiny_data, "tiny", mixed_precision="fp8")
    assert TrainingConfig(mixed_precision="bfloat16").mixed_precision == "bfloat16"
