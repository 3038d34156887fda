"""XLA and mixed precision against the float32 step: same seeds, same data, same results.

Two trainers with the same config and seed start from identical weights and draw identical
latents, noise and data (all stateless, seeded by (run seed, step)), so any difference after a
few steps comes from the compilation / precision alone. What is compared is the per-step losses
and the images G and Gs make of fixed latents. Adam's epsilon is raised to 1e-3 here, as in
tests/training/test_distribute.py: with 1e-8 a weight whose true gradient is 0 (a bias right
before instance norm) moves by +-lr with the sign of its rounding noise, which says nothing
about the arithmetic but blurs every comparison.

The oneDNN bfloat16 rewrite (`training/precision.py`) is compared per variable group (mapping,
styles, synthesis convolutions, D convolutions, D dense) and per statistic (losses, R1, path
length) from identical weights, and over a short run; a function called outside its scope must
stay bit-identical to float32.
"""

import contextlib
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from tf_stylegan.errors import UserError
from training import precision
from training.loop import Trainer
from training.step import ScopedFunction
from training.trained_networks import variables_by_name
from training.training_config import TrainingConfig

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
    return _run(tiny_training_config(tiny_data, "tiny", **EPS))


def test_reference_run_moves(fp32_run):
    # The comparisons below are between trained networks, not two untouched initialisations:
    # 4 steps change the images by far more than the tolerances used.
    _, before, losses, after = fp32_run
    assert _rel(after, before) > 0.05
    assert np.all(np.isfinite(losses)) and np.all(losses[:, 0] != 0)


def test_xla_step_gives_the_same_results(tiny_data, fp32_run):
    t, before, losses, after = _run(tiny_training_config(tiny_data, "tiny", xla=True, **EPS))
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
    """Keras' mixed_bfloat16 policy (`mixed_precision="bfloat16"`; `True` picks the oneDNN
    rewrite on CPUs, tested below)."""
    ref = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    t = Trainer(tiny_training_config(tiny_data, "tiny", mixed_precision="bfloat16"), progress=False)
    n, ref_n = t.networks, ref.networks
    assert n.G.dtype_policy.name == "mixed_bfloat16" and not n.loss_scaling
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
    _, before, losses, after = _run(tiny_training_config(tiny_data, "tiny",
                                                         mixed_precision="bfloat16"))
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(after))
    assert _rel(after, before) > 0.05


def test_float16_loss_scaling_skips_overflowing_steps(tiny_data):
    """The GPU path (mixed_float16 + dynamic loss scale), forced on the CPU."""
    t = Trainer(tiny_training_config(tiny_data, "tiny", mixed_precision="float16"), progress=False)
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
        tiny_training_config(tiny_data, "tiny", mixed_precision="fp8")
    assert TrainingConfig(mixed_precision="bfloat16").mixed_precision == "bfloat16"


# -- The oneDNN bfloat16 rewrite (`mixed_precision=True` without GPUs) -----------------------------

# Gradient groups: which weights each relative error is of.
def _group(network, name):
    if network == "D":
        return "D dense" if name.startswith(("dense", "output")) else "D convs"
    if name.startswith("mapping/"):
        return "G mapping"
    if "/style_mod/" in name or "/affine/" in name:
        return "G styles"
    if name.endswith("weight") and ("conv" in name or "to_rgb" in name):
        return "G synthesis convs"
    return "G other"  # const, biases, noise strengths


def _phase_gradients(t, phase, res, seed, scoped, alpha=0.5, batch=8):
    """{group: flat float64 gradient} and {statistic: float} of one `phase` update of t from its
    current weights, in a new tf.function called inside t's precision scope (`scoped`) or
    outside it. The state the losses move (dlatent_avg, the path-length mean) is put back."""
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [batch, res, res, 1]), tf.uint8)
    labels = tf.one_hot(np.arange(batch) % 3, 3)
    network = t.step.network_of(phase)
    state = {"dlatent_avg": t.networks.G.dlatent_avg, **t.losses.variables_by_name()}
    saved = {k: v.numpy() for k, v in state.items()}
    def gradients():
        return t.step.replica_gradients(phase, res, batch, reals, labels, tf.constant(alpha),
                                        tf.constant(seed))

    fn = tf.function(gradients)
    with t.step.scope() if scoped else contextlib.nullcontext():
        grads, _, stats = fn()
    for k, v in state.items():
        v.assign(saved[k])
    net = t.networks.network(network)
    names = {id(v): name for name, v in variables_by_name(net).items()}
    groups = {}
    for v, g in zip(net.trainable_variables, grads):
        if g is not None:
            groups.setdefault(_group(network, names[id(v)]), []).append(
                g.numpy().ravel().astype(np.float64))
    return ({k: np.concatenate(v) for k, v in groups.items()},
            {k: float(v.numpy()) for k, v in stats.items()})


def _trained_pair(cfg_fn, steps=4):
    """Float32 and oneDNN bfloat16 trainers of one config and seed (identical initial weights),
    each run `steps` steps: their trajectories {"ref"/"bf16": (images before, per-step
    [D loss, G loss], images after)}. Then the bfloat16 trainer is given the float32 one's
    weights and loss state, so that gradient comparisons start from one point away from the init
    (where StyleGAN's 4x4 instance norm sees a constant input and amplifies any rounding)."""
    ref = Trainer(cfg_fn(**EPS), progress=False)
    t = Trainer(cfg_fn(mixed_precision=True, **EPS), progress=False)
    assert t.networks.precision == "onednn_bfloat16"
    runs = {}
    for name, trainer in (("ref", ref), ("bf16", t)):
        before = _images(trainer)
        losses = []
        for _ in range(steps):
            stats = trainer.run_steps(1)[0]
            losses.append([float(stats["Loss/D"]), float(stats["Loss/G"])])
        assert trainer.state.nonfinite_total.numpy() == 0
        runs[name] = before, np.array(losses, np.float64), _images(trainer)
    t.networks.copy_weights_from(ref.networks.G, ref.networks.D, ref.networks.Gs)
    for name, v in t.losses.variables_by_name().items():
        v.assign(ref.losses.variables_by_name()[name])
    return ref, t, runs


def _check_trajectory(runs, loss_tol, share):
    """The short bfloat16 run against the float32 one from the same initial weights: per-step
    losses within `loss_tol` (relative), and the images of G and Gs after it nearer the float32
    run's than `share` of the distance the float32 run moved them, but not float32-equal."""
    ref_before, ref_losses, ref_after = runs["ref"]
    before, losses, after = runs["bf16"]
    np.testing.assert_array_equal(before, ref_before)  # the same starting point
    moved = _rel(ref_after, ref_before)
    loss_err = np.abs(losses - ref_losses) / np.abs(ref_losses)
    image_err = _rel(after, ref_after)
    assert np.all(loss_err < loss_tol), loss_err
    assert 1e-5 < image_err < share * moved, (image_err, moved)


def _check_rewrite(ref, t, phases, res, grad_tol, stat_tol, alpha=0.5):
    """Each phase's gradients and statistics: inside the scope within the bfloat16 tolerances and
    farther from float32 than float32 round-off (the rewrite took effect); outside it, after the
    scoped call, bit-identical to the float32 trainer's (the option did not leak)."""
    options = tf.config.optimizer.get_experimental_options()
    measured = {}
    for i, phase in enumerate(phases):
        got, got_stats = _phase_gradients(t, phase, res, [5, i], True, alpha)
        assert tf.config.optimizer.get_experimental_options() == options
        outside, outside_stats = _phase_gradients(t, phase, res, [5, i], False, alpha)
        want, want_stats = _phase_gradients(ref, phase, res, [5, i], False, alpha)
        assert outside_stats == want_stats
        for group in want:
            np.testing.assert_array_equal(outside[group], want[group], err_msg=group)
            err = _rel(got[group], want[group])
            measured[(phase, group)] = err
            # float32 reorderings give ~1e-6; bfloat16 keeps 8 significant bits.
            assert 1e-4 < err < grad_tol[group], (phase, group, err)
        for name, value in want_stats.items():
            err = abs(got_stats[name] - value) / abs(value)
            measured[(phase, name)] = err
            assert err < stat_tol.get(name, stat_tol["default"]), (phase, name, err)
    return measured


def test_mixed_precision_is_the_onednn_rewrite_without_gpus(tiny_data, tmp_path):
    assert precision.resolve(True) == "onednn_bfloat16"  # no GPU here
    assert precision.resolve("bfloat16") == "bfloat16" and precision.resolve(False) is None
    t = Trainer(tiny_training_config(tiny_data, "tiny", mixed_precision=True), progress=False)
    n = t.networks
    # Keras computes in float32: the rewrite is TensorFlow's, in the step's graph.
    assert n.G.dtype_policy.name == "float32" and n.D.dtype_policy.name == "float32"
    assert not n.loss_scaling and isinstance(t.step.function(4, 8), ScopedFunction)
    # The line printed at training start names the path and the CPU's bfloat16 flags.
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n")
    line = precision.describe("onednn_bfloat16", precision.cpu_bf16_flags(cpuinfo))
    assert "oneDNN bfloat16" in line and "avx512_bf16 yes, amx_bf16 no" in line
    cpuinfo.write_text("flags\t\t: fpu avx2\n")
    line = precision.describe("onednn_bfloat16", precision.cpu_bf16_flags(cpuinfo))
    assert "avx512_bf16 no, amx_bf16 no" in line and "emulated" in line
    assert precision.cpu_bf16_flags(tmp_path / "missing") is None
    assert "unknown" in precision.describe("onednn_bfloat16", None) or \
        precision.cpu_bf16_flags() is not None


def test_onednn_rewrite_refuses_xla(tiny_data):
    # Grappler does not rewrite XLA-compiled functions: the step would silently stay float32.
    for value in (True, "onednn_bfloat16"):
        with pytest.raises(UserError, match="onednn_bfloat16.*does not combine with xla"):
            Trainer(tiny_training_config(tiny_data, "tiny", mixed_precision=value, xla=True),
                    progress=False)


def test_onednn_step_is_rewritten_once_and_only_in_its_scope(tiny_data, tmp_path, monkeypatch):
    """The loop's steps: the rewrite runs on a step's first call only (the later calls reuse the
    instantiation: no retrace, no new rewrite), never for a float32 trainer's step, and the
    process's optimizer options and environment are as before after each call."""
    log = tmp_path / "amp"
    log.mkdir()
    # TensorFlow writes one paintbuckets file per graph the rewrite optimizes.
    monkeypatch.setenv("TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_LOG_PATH", str(log))
    options, env = tf.config.optimizer.get_experimental_options(), dict(os.environ)
    ref = Trainer(tiny_training_config(tiny_data, "tiny"), progress=False)
    ref.run_steps(2)
    assert not list(log.glob("paintbuckets*"))
    t = Trainer(tiny_training_config(tiny_data, "tiny", mixed_precision=True), progress=False)
    t.run_steps(1)
    rewritten = len(list(log.glob("paintbuckets*")))
    assert rewritten >= 1
    t.run_steps(3)
    assert len(list(log.glob("paintbuckets*"))) == rewritten
    assert dict(t.step.trace_counts) == {4: 1}
    assert tf.config.optimizer.get_experimental_options() == options
    assert dict(os.environ) == env


def _bfloat16_exact(x):
    """Whether float x is a bfloat16 number (its float32 bits end in 16 zeros)."""
    return int(np.float32(x).view(np.uint32)) & 0xFFFF == 0


@pytest.fixture(scope="module")
def stylegan_pair(tiny_data):
    return _trained_pair(lambda **kw: tiny_training_config(tiny_data, "tiny", **kw))


def test_onednn_stylegan_tracks_float32(stylegan_pair):
    """StyleGAN at a growing level (8x8, alpha 0.5): D with R1, G. Measured (this seed, 4 float32
    steps from the init): gradient relative errors D convs 0.085, D dense 0.017, G mapping 0.11,
    styles 0.16, synthesis convs 0.14, other 0.12; losses 1e-3, R1 penalty 9e-3, scores 3e-3 to
    1e-2 (small numbers, partly cancelling). Tolerances about 2.5x those."""
    ref, t, runs = stylegan_pair
    # The tiny StyleGAN G is chaotic from its init (the 4x4 instance norm of a constant input):
    # 4 steps moved the images by 0.98 (relative), the bfloat16 run ended 0.26 from the float32
    # one (G 0.33, Gs 0.055), per-step losses within 0.14.
    _check_trajectory(runs, loss_tol=0.3, share=0.5)
    grad_tol = {"D convs": 0.25, "D dense": 0.06, "G mapping": 0.3, "G styles": 0.4,
                "G synthesis convs": 0.4, "G other": 0.3}
    stat_tol = {"default": 5e-3, "Loss/r1_penalty": 0.03, "Loss/scores/real": 0.03,
                "Loss/scores/fake": 0.03}
    _check_rewrite(ref, t, ("D", "G"), 8, grad_tol, stat_tol)


def test_onednn_losses_and_their_sums_stay_float32(stylegan_pair):
    """The rewrite runs the convolutions in bfloat16 but not the per-sample losses and their
    sums (`precision.KEEP_FLOAT32`): every reported statistic has float32's 24 significant bits,
    where a bfloat16 sum would round it to 8 (a float32 value is a bfloat16 number with
    probability 2**-16)."""
    _, t, _ = stylegan_pair
    for i, phase in enumerate(("D", "G")):
        _, stats = _phase_gradients(t, phase, 8, [7, i], True)
        for name, value in stats.items():
            assert not _bfloat16_exact(value), (name, value)


@pytest.mark.large
def test_onednn_stylegan2_tracks_float32(tiny_data):
    """StyleGAN2 at 8x8 (up/down-sampling blocks): D, lazy R1 (D_reg), G and path length
    (G_reg, its second-order pass), and a short run that includes both regularization steps.
    Measured gradient relative errors (two seeds): D convs 0.07-0.11, D dense 0.003-0.047, D_reg
    0.02-0.024, G 0.012-0.035, G_reg 0.016-0.08; losses D 1e-4, G 1e-5 to 1.2e-3, R1 penalty
    5e-3, G_reg 0.011-0.034, path lengths 7.5e-3 to 1.5e-2, their mean 4e-3 to 9e-3, fake scores
    up to 0.019. Tolerances 2.5x or more those."""
    ref, t, runs = _trained_pair(
        lambda **kw: tiny_training_config(tiny_data, "tiny", "stylegan2", resolution=8, **kw))
    # Measured: 4 steps (both regularizations at step 0) moved the images by 0.0155, the bfloat16
    # run ended 5.6e-4 from the float32 one (G 8e-4, Gs 2e-6), per-step losses within 1.1e-3.
    _check_trajectory(runs, loss_tol=5e-3, share=0.1)
    grad_tol = {"D convs": 0.3, "D dense": 0.12, "G mapping": 0.25, "G styles": 0.25,
                "G synthesis convs": 0.25, "G other": 0.25}
    stat_tol = {"default": 5e-3, "Loss/scores/real": 0.03, "Loss/scores/fake": 0.05,
                "Loss/D_reg": 0.02, "Loss/gradient_penalty": 0.02, "Loss/G_reg": 0.1,
                "Loss/pl_lengths": 0.04, "Loss/pl_penalty": 0.1, "Loss/pl_mean": 0.03}
    _check_rewrite(ref, t, ("D", "D_reg", "G", "G_reg"), 8, grad_tol, stat_tol, alpha=1.0)
