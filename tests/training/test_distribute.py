"""tf.distribute for each family: a mirrored update is Adam's step on the global mean gradient,
computed here without any strategy; MirroredStrategy over 2 logical CPUs equals one device
(StyleGAN2: one device accumulating 2 passes); each replica draws its own noise and style
mixing; 2 worker processes under MultiWorkerMirroredStrategy end with identical weights
(StyleGAN2: those of one device)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from tests.two_workers import ROOT, start_two_workers, worker_logs
from training.distribute import make_strategy
from training.loop import Trainer
from training.step import ReplicaBatch
from training.trained_networks import optimizer_variables, variables_by_name

# Setups in which 2 replicas compute what one device does:
# - StyleGAN: no minibatch-stddev (its groups are formed per replica: 4 samples of one replica
#   vs 4 strided samples of the whole batch), no noise inputs and no style mixing (their random
#   draws are per replica, seeded by the replica id). Latents, label rows and the data order are
#   drawn for the global batch and sliced per replica, so they match.
# - StyleGAN2: one device runs the global minibatch in 2 accumulated passes of 4, as 2 replicas
#   of 1 pass: G's noise and style mixing are drawn per pass slot (replica r's pass p is one
#   device's pass r * passes + p), so minibatch-stddev groups, noise and mixing are the same on
#   both sides. pl_decay 1: the path-length mean is the mean of the current pass's lengths.
#   pl_mean is one value per replica updated at every pass, as officially (one variable per
#   GPU, updated at each accumulation round), so its history differs between 1 device x 2
#   passes (one variable, two updates) and 2 replicas x 1 pass (two variables, one update
#   each); with decay 1 it has none, and the penalties are the same computation.
# Both: Adam epsilon 1e-3 instead of 1e-8. With beta1 = 0 Adam's step is lr * g / (|g| + eps),
# so a weight whose true gradient is 0 (e.g. a bias right before instance norm) moves by +-lr
# with the sign of its float32 rounding noise, which differs with the summation order. A larger
# epsilon turns those into ~0 steps and leaves a comparison of real arithmetic.
EQUIVALENT = {
    "stylegan": dict(network=dict(mbstd_group_size=0, use_noise=False, style_mixing_prob=0.0),
                     adam_epsilon=1e-3),
    "stylegan2": dict(pl_decay=1.0, minibatch_gpu=4, adam_epsilon=1e-3),
}
# The weights exempt from the 1e-6 agreement of a step, with their bound.
# - StyleGAN: the 4x4 const layer's bias is added to an input that is the same for every
#   sample (no noise here), passes a leaky ReLU that is linear on all of it, and is then removed
#   again by instance norm: its true gradient is 0, so its gradient is float32 rounding noise,
#   which differs with the summation order, and Adam moves it along the sign of that noise
#   (observed <= 7e-5 per step, where every other value agrees to 1e-6): within 2e-4.
# - StyleGAN2: dlatent_avg, a running mean of w that every training-mode pass of G moves by
#   0.5 % toward its batch mean (it only serves truncation): one device makes one such update
#   per pass, twice as many per step as 2 replicas, whose parallel updates are averaged (MEAN
#   aggregation). The official code too updates it once per G evaluation of GPU 0, so more
#   often with more accumulation rounds. It must still move the same way: the two runs differ
#   by less than the one device's own move ("move").
EXEMPT = {
    "stylegan": {"G/synthesis/epilogue0/bias/bias": 2e-4},
    "stylegan2": {"G/dlatent_avg": "move", "Gs/dlatent_avg": "move"},
}


def _all_weights(t):
    return {f"{net}/{name}": np.array(v.numpy()) for net in ("G", "D", "Gs")
            for name, v in variables_by_name(t.networks.network(net)).items()}


def _state(t):
    n = t.networks
    return n.G.weights + n.D.weights + n.Gs.weights + n.G_opt.variables + n.D_opt.variables


def _copy_state(dst, src):
    for a, b in zip(_state(dst), _state(src)):
        a.assign(b.numpy())


def test_make_strategy_picks_devices():
    assert make_strategy(None).num_replicas_in_sync == 1
    assert make_strategy(1).num_replicas_in_sync == 1
    mirrored = make_strategy(2)
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    with pytest.raises(ValueError, match="--gpus 5 requested"):
        make_strategy(5)


# --- One update against the formulas ---------------------------------------------------------
# The official Adam of each network at the first level: NVlabs/stylegan lr 0.001 (its 1gpu
# schedule below 128 px), beta2 0.99; NVlabs/stylegan2 lr 0.002 and beta2 0.99, both raised to
# mb_ratio = k / (k + 1) for the lazily regularized networks (G every 4, D every 16).
ADAM = {"stylegan": {"G": (0.001, 0.99), "D": (0.001, 0.99)},
        "stylegan2": {"G": (0.002 * 4 / 5, 0.99 ** (4 / 5)),
                      "D": (0.002 * 16 / 17, 0.99 ** (16 / 17))}}
# The passes of the mirrored step: 2 replicas, StyleGAN2 accumulating 2 passes of 2 on each.
# Pass p of replica r is slot r * passes + p: it holds rows 2s, 2s + 1 (StyleGAN: 4s .. 4s + 3)
# of every global draw and draws G's noise and style mixing from its own seed, so one device
# computing the slots one by one (`ReplicaBatch(8, passes=slots, pass_index=slot)`) computes
# the same per-sample losses, minibatch-stddev groups included.
SLOTS = {"stylegan": 2, "stylegan2": 4}
SETUP = {"stylegan": dict(adam_epsilon=1e-3), "stylegan2": dict(minibatch_gpu=2, adam_epsilon=1e-3)}


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_a_mirrored_update_is_adam_on_the_global_mean_gradient(tiny_data, family):
    cfg = tiny_training_config(tiny_data, "tiny", family, **SETUP[family])
    t = Trainer(cfg, strategy=make_strategy(2), progress=False)
    one = Trainer(cfg, progress=False)  # no strategy: the reference computation
    sched = t.schedule()
    t.apply_schedule(sched)
    res, batch, alpha = sched.resolution, sched.minibatch, tf.constant(sched.alpha)

    def dataset_fn(ctx):
        return t.dataset.iterate(res, batch, shuffle=False, input_context=ctx)

    reals, labels = next(iter(t.strategy.distribute_datasets_from_function(dataset_fn)))
    all_reals, all_labels = (tf.concat(t.strategy.experimental_local_results(x), 0)
                             for x in (reals, labels))
    assert all_reals.shape[0] == batch == 8
    seeds = t.losses.phase_seeds(tf.constant([3, 4], tf.int32))
    for phase in ("D", "G"):
        _copy_state(one, t)
        model = one.networks.network(phase)
        slots, size = SLOTS[family], batch // SLOTS[family]
        with tf.GradientTape() as tape:
            loss = tf.concat([one.losses.loss(phase)(
                ReplicaBatch(batch, passes=slots, pass_index=k), res,
                all_reals[k * size:(k + 1) * size], all_labels[k * size:(k + 1) * size], alpha,
                seeds[phase])[0] for k in range(slots)], 0)
            mean = tf.reduce_mean(loss)  # of the global batch
        variables = model.trainable_variables
        grads = {id(v): g for v, g in zip(variables, tape.gradient(mean, variables))}
        expected_g = {name: grads[id(v)] for name, v in variables_by_name(model).items()
                      if id(v) in grads and grads[id(v)] is not None}
        before = {name: v.numpy() for name, v in variables_by_name(model).items()}

        def grads_fn(r, y, a, s, phase=phase):
            return t.step.replica_gradients(phase, res, batch, r, y, a, s)

        ok, _ = tf.function(lambda phase=phase, fn=grads_fn: t.step.update(
            phase, fn, reals, labels, alpha, seeds[phase]))()
        assert bool(ok)
        # Adam with beta1 0 keeps the gradient it applied as its first moment: the mean of the
        # global batch's gradient, whatever the replicas and passes.
        opt_vars = optimizer_variables(t.networks.optimizer(phase), t.networks.network(phase))
        assert int(opt_vars["iterations"].numpy()) == 1
        lr, beta2 = ADAM[family][phase]
        after = {name: v.numpy() for name, v in variables_by_name(t.networks.network(phase))
                 .items()}
        biggest = max(float(np.abs(g).max()) for g in expected_g.values())
        for name, g in expected_g.items():
            g = g.numpy().astype(np.float64)
            np.testing.assert_allclose(opt_vars[f"m/{name}"].numpy(), g, rtol=1e-4,
                                       atol=1e-5 * biggest, err_msg=f"{phase}: {name}")
            # The first Adam step (t = 1, m = g, v = (1 - beta2) g^2), written out.
            # The weights are float32: the update is known to 2 units in the last place of
            # the weight (equalized-lr weights are stored unscaled, up to ~200).
            step = lr * math.sqrt(1 - beta2) * g / (np.sqrt((1 - beta2) * g * g) + 1e-3)
            error = np.abs((after[name] - before[name]) + step)
            ulp = np.spacing(np.abs(before[name]).astype(np.float32))
            bound = EXEMPT[family].get(f"{phase}/{name}", 1e-7 + 2 * ulp)  # (its rounding noise)
            assert np.all(error <= bound), (phase, name, float(error.max()))
        moved = max(float(np.abs(after[n] - before[n]).max()) for n in expected_g)
        assert moved > 0.1 * lr, (phase, moved)


# --- Replicas against one device -------------------------------------------------------------
@pytest.mark.parametrize("family", [
    "stylegan",
    pytest.param("stylegan2", marks=pytest.mark.large)])  # 2 variants on 1 and 2 replicas
def test_mirrored_two_replicas_equal_one_device(tiny_data, family):
    cfg = tiny_training_config(tiny_data, "tiny", family, **EQUIVALENT[family])
    single = Trainer(cfg, progress=False)
    mirrored = Trainer(cfg, strategy=make_strategy(2), progress=False)
    assert mirrored.num_replicas == 2
    init = _all_weights(single)
    exempt = EXEMPT[family]
    assert set(exempt) <= set(init)
    # StyleGAN: 6 steps cross the first LOD boundary (optimizer reset, new level, fade-in
    # alpha). StyleGAN2: step 0 runs G, path length, Gs, D, R1; step 1 G, Gs, D.
    steps = 6 if family == "stylegan" else 2
    for step in range(steps):
        # Each step starts from the same state (weights, Gs, Adam moments and counts): a GAN's
        # trajectory amplifies any rounding difference within a few steps, so what is compared
        # is the update of each step, on the same latents, labels and reals.
        _copy_state(mirrored, single)
        before = _all_weights(single)
        single.run_steps(1)
        mirrored.run_steps(1)
        a, b = _all_weights(single), _all_weights(mirrored)
        # The only difference left is float32 summation order (per-replica sums, then an
        # all-reduce): every value of every weight of G, D and Gs agrees to 1e-6 but those
        # exempt, at every step...
        diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
        off = {k: d for k, d in diffs.items() if d > 1e-6 and k not in exempt}
        assert not off, off
        for k, bound in exempt.items():
            own_move = float(np.max(np.abs(a[k] - before[k])))
            assert diffs[k] < (own_move if bound == "move" else bound), (k, diffs[k])
        # ...while the step itself moved the weights by far more than that.
        step_move = max(float(np.max(np.abs(a[k] - before[k]))) for k in a)
        assert step_move > 100 * max(d for k, d in diffs.items() if k not in exempt)
        bounded = max(d for k, d in diffs.items() if exempt.get(k) != "move")
        assert step_move > 5 * bounded, (step_move, bounded)
        if family == "stylegan2" and step == 0:
            # One device's pl_mean is that of its last pass (rows 4-7), which is replica 1's.
            per_replica = [float(v.numpy()) for v in
                           mirrored.strategy.experimental_local_results(mirrored.losses.pl_mean)]
            assert per_replica[0] != per_replica[1]
            np.testing.assert_allclose(float(single.losses.pl_mean.numpy()), per_replica[1],
                                       rtol=1e-6)
    assert mirrored.nimg == single.nimg == steps * 8
    if family == "stylegan":
        assert mirrored.schedule().lod_key == single.schedule().lod_key == (0, 1)
        moved = max(float(np.max(np.abs(a[k] - init[k]))) for k in a)
        assert moved > 1e-3, moved
    else:
        assert dict(single.step.variant_traces) == dict(mirrored.step.variant_traces) == {
            (4, ("G_reg", "D_reg")): 1, (4, ()): 1}


def _replica_images(t):
    """The training-mode images each of 2 replicas makes of the SAME latents, labels and seed
    through the step's own G call (`StyleGANLosses.generate`)."""
    losses = t.step.losses
    z = tf.constant(np.random.RandomState(0).randn(4, t.net_cfg.latent_size), tf.float32)
    labels = tf.one_hot([0, 1, 2, 0], 3)
    seed = tf.constant([5, 6], tf.int32)

    @tf.function
    def run():
        return t.strategy.run(lambda: losses.generate(ReplicaBatch(8), z, labels, 8, 1.0, seed))

    return [x.numpy() for x in t.strategy.experimental_local_results(run())]


@pytest.mark.parametrize("network, differ", [
    (dict(use_noise=True, style_mixing_prob=0.0), True),  # noise inputs only
    (dict(use_noise=False, style_mixing_prob=1.0), True),  # style mixing only
    (dict(use_noise=False, style_mixing_prob=0.0), False),  # nothing random: equal
])
def test_each_replica_draws_its_own_noise_and_mixing(tiny_data, network, differ):
    # As in the official multi-GPU code, where each GPU's graph draws its own noise and its
    # own style-mixing latents and crossover: two replicas given the same latents, labels and
    # step seed make different images exactly when G draws something at random.
    cfg = tiny_training_config(tiny_data, "tiny", network=network)
    t = Trainer(cfg, strategy=make_strategy(2), progress=False)
    noise_weights = [v for name, v in variables_by_name(t.networks.G).items()
                     if name.endswith("noise/weight")]
    assert len(noise_weights) == (4 if network["use_noise"] else 0)
    for v in noise_weights:  # zero at initialisation (official): give the noise an effect
        v.assign(tf.fill(v.shape, 0.5))
    first, second = _replica_images(t)
    assert first.shape == second.shape == (4, 8, 8, 1)
    if differ:
        assert np.abs(first - second).max() > 1e-2
        # Not a constant offset either: the draws differ sample by sample.
        assert np.std(first - second) > 1e-3
    else:
        np.testing.assert_allclose(first, second, rtol=0, atol=1e-6)


# --- Worker processes ------------------------------------------------------------------------
_WORKER = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
import numpy as np
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
from training.trained_networks import variables_by_name
cfg = tiny_training_config({data!r}, {dataset!r}, {family!r}, **{overrides!r})
t = Trainer(cfg, progress=False)
assert t.num_replicas == 2, t.num_replicas
t.run_steps({steps})
weights = {{f"{{n}}/{{k}}": v.numpy() for n in ("G", "D", "Gs")
           for k, v in variables_by_name(t.networks.network(n)).items()}}
np.savez({out!r} + str(json.loads(os.environ["TF_CONFIG"])["task"]["index"]) + ".npz",
         **weights)
print("worker done chief=" + str(t.chief), flush=True)
"""


@pytest.mark.parametrize("family", [
    "stylegan",
    pytest.param("stylegan2", marks=pytest.mark.large)])  # 2 workers and one device: 1-2 min
def test_two_worker_processes(tiny_data, tmp_path, family):
    # StyleGAN: 3 steps of the tiny run, each worker reading its own shard of the records:
    # the workers end with identical weights. StyleGAN2: 2 processes x 1 pass of 4 against
    # one device running 2 accumulated passes of 4 (EQUIVALENT): step 0 (G, path length, Gs,
    # D, R1) gives the same weights. Each worker reads its own shard in its own shuffled order
    # (data/reader.py), so the reals are made the same on both sides there: every image of that
    # dataset is the same image.
    if family == "stylegan":
        data, dataset, overrides, steps = tiny_data, "tiny", {}, 3
    else:
        data, dataset, overrides, steps = tmp_path, "same", EQUIVALENT[family], 1
        image = np.random.RandomState(0).randint(0, 256, [1, 1, 8, 8]).astype(np.uint8)
        write_arrays(str(tmp_path / "same"), np.repeat(image, 32, axis=0), None, progress=False)
    script = tmp_path / "worker.py"
    out = str(tmp_path / "weights")
    script.write_text(_WORKER.format(root=ROOT, data=str(data), dataset=dataset, family=family,
                                     overrides=overrides, steps=steps, out=out))
    procs = start_two_workers(script)
    want = None
    if family == "stylegan2":
        single = Trainer(tiny_training_config(data, dataset, family, **overrides), progress=False)
        before = _all_weights(single)
        single.run_steps(steps)
        want = _all_weights(single)
    logs = worker_logs(procs)
    for index, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0 and "worker done" in log, log[-3000:]
        assert f"chief={index == 0}" in log  # only worker 0 writes the run directory
    w0, w1 = np.load(out + "0.npz"), np.load(out + "1.npz")
    assert sorted(w0.files) == sorted(w1.files)
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)  # the workers agree exactly
    if want is not None:
        assert sorted(w0.files) == sorted(want)
        for k in w0.files:
            diff = float(np.max(np.abs(w0[k] - want[k])))
            if k in EXEMPT[family]:
                assert diff < np.max(np.abs(want[k] - before[k])), (k, diff)
            else:
                assert diff < 1e-6, (k, diff)
