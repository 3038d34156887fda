"""ADA in the training loop: p follows D's overfitting at the official rate (up while D calls
every real real, down while it calls them fake), its window resumes bit-exactly from a
checkpoint taken in the middle of a window, one device equals two replicas and equals
accumulated passes; the Gs ramp-up; Freeze-D."""

import numpy as np
import pytest
import tensorflow as tf

from data.writer import write_arrays
from tests.tiny_networks import tiny_training_config
from tests.training.test_distribute import EQUIVALENT, EXEMPT
from training.distribute import make_strategy
from training.loop import Trainer
from training.step import Gs_beta
from training.trained_networks import variables_by_name
from training.transfer_learning import discriminator_layers, frozen_variables


def _weights(t):
    return {f"{net}/{name}": np.array(v.numpy()) for net in ("G", "D", "Gs")
            for name, v in variables_by_name(t.networks.network(net)).items()}


def _ada_state(t):
    return {name: np.array(v.numpy()) for name, v in t.losses.augment.variables_by_name().items()}


def _set_D_bias(t, value):
    """D's output bias: +value makes D call every image real (r_t = 1, an overfitting D),
    -value every image fake (r_t = -1)."""
    bias = variables_by_name(t.networks.D)["output/bias"]
    bias.assign(tf.fill(bias.shape, float(value)))


def _official_p(p, windows, batch, interval=4, ada_kimg=500, target=0.6):
    """The official float32 sequence (training_loop.py:311-315) for windows' r_t."""
    p = np.float32(p)
    for r in windows:
        step = np.float32(np.sign(r - target) * batch * interval / (ada_kimg * 1000))
        p = np.float32(max(np.float32(p + step), np.float32(0)))
    return p


@pytest.fixture(scope="module")
def same_images(tmp_path_factory):
    """A dataset whose 32 images are one image: the reals do not depend on the data order, so a
    restored run sees what the uninterrupted one does."""
    root = tmp_path_factory.mktemp("same")
    image = np.random.RandomState(0).randint(0, 256, [1, 1, 8, 8]).astype(np.uint8)
    write_arrays(str(root / "same"), np.repeat(image, 32, axis=0), None, progress=False)
    return root


@pytest.mark.large  # three traced step variants: ~1-3 min on 2 shared cores
def test_p_follows_overfitting_and_resumes_bit_exactly_mid_window(same_images, tmp_path):
    # No path-length regularization: 2 step variants (R1 on step 0 only, then none).
    cfg = tiny_training_config(same_images, "same", "stylegan2", cond=False, pl_weight=0.0,
                               aug="ada", augpipe="blit", augment_p=0.25)
    a = Trainer(cfg, progress=False)
    _set_D_bias(a, 100.0)
    a.run_steps(6)
    # Window 1, steps 0-3: 4 D passes of 8 reals and step 0's R1 pass, every sign +1.
    state = _ada_state(a)
    assert state["augment/r_t"] == 1.0
    assert state["augment/p"] == _official_p(0.25, [1.0], 8) > np.float32(0.25)
    # Steps 4-5 are in window 2.
    assert (state["augment/window_steps"], state["augment/sign_sum"],
            state["augment/sign_count"]) == (2, 16.0, 16.0)
    prefix = a.save_checkpoint(tmp_path / "ckpt")

    def finish(t):
        # Now D calls every real fake: steps 6-7 end window 2 at r = (16 - 16) / 32 = 0 and
        # window 3 (steps 8-11) at r = -1; p falls back by two steps.
        _set_D_bias(t, -100.0)
        t.run_steps(6)
        return _ada_state(t), _weights(t)

    end_a, weights_a = finish(a)
    assert end_a["augment/r_t"] == -1.0
    assert end_a["augment/p"] == _official_p(0.25, [1.0, 0.0, -1.0], 8) < np.float32(0.25)
    assert end_a["augment/window_steps"] == 0

    b = Trainer(cfg, progress=False)
    b.restore(prefix)
    assert {k: v.tolist() for k, v in _ada_state(b).items()} == \
        {k: v.tolist() for k, v in state.items()}
    end_b, weights_b = finish(b)
    for name in end_a:
        np.testing.assert_array_equal(end_b[name], end_a[name], err_msg=name)
    for name in weights_a:
        np.testing.assert_allclose(weights_b[name], weights_a[name], rtol=0, atol=1e-6,
                                   err_msg=name)
    assert b.nimg == a.nimg == 96


@pytest.mark.large  # 1 traced step variant on 1 device and on 2 replicas: ~1-2 min
def test_ada_one_device_with_passes_equals_two_replicas(tiny_data):
    # The setup of test_stylegan2_distribute (1 device x 2 accumulated passes of 4 against 2
    # replicas x 1 pass), with ADA on the full bgc pipe and a window of 2 steps. The draws of
    # each pass are seeded by its slot, so both sides augment the same images the same way.
    # R1 on every step (D_reg_interval 1) and no path length (it augments nothing; its
    # replicas are test_mirrored_two_replicas_equal_one_device's): both steps run the same
    # variant, G, Gs, D and R1, so each side traces one step; every step's signs come from
    # the D pass and the R1 pass.
    cfg = tiny_training_config(tiny_data, "tiny", "stylegan2", aug="ada", augpipe="bgc",
                               ada_interval=2, augment_p=0.5, D_reg_interval=1, pl_weight=0.0,
                               **EQUIVALENT["stylegan2"])
    single = Trainer(cfg, progress=False)
    mirrored = Trainer(cfg, strategy=make_strategy(2), progress=False)
    state = lambda t: (t.networks.G.weights + t.networks.D.weights + t.networks.Gs.weights
                       + t.networks.G_opt.variables + t.networks.D_opt.variables)
    for step in range(2):
        for dst, src in zip(state(mirrored), state(single)):
            dst.assign(src.numpy())
        before = _weights(single)
        single.run_steps(1)
        mirrored.run_steps(1)
        a, b = _weights(single), _weights(mirrored)
        diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
        assert not {k: d for k, d in diffs.items() if d > 1e-6 and k not in EXEMPT["stylegan2"]}
        step_move = max(float(np.max(np.abs(a[k] - before[k]))) for k in a)
        assert step_move > 100 * max(d for k, d in diffs.items() if k not in EXEMPT["stylegan2"])
        ada_a, ada_b = _ada_state(single), _ada_state(mirrored)
        if step == 0:
            # The global batch's signs, from the D pass and the R1 pass: 16, however split.
            assert ada_a["augment/sign_count"] == ada_b["augment/sign_count"] == 16.0
            assert ada_a["augment/sign_sum"] == ada_b["augment/sign_sum"]
    for name in ada_a:
        np.testing.assert_array_equal(ada_a[name], ada_b[name], err_msg=name)
    # Window: 8 + 8 signs at each step; p moved by the official step of batch 8, interval 2,
    # ada_kimg 500 from r_t.
    r_t = float(ada_a["augment/r_t"])
    assert r_t * 32 == round(r_t * 32) and -1 <= r_t <= 1
    assert ada_a["augment/p"] == _official_p(0.5, [r_t], 8, interval=2)
    assert ada_a["augment/window_steps"] == 0 and ada_a["augment/sign_count"] == 0


def test_Gs_beta_of_the_official_ema_rampup():
    # training_loop.py:297-301: ema_nimg = min(ema_kimg * 1000, cur_nimg * ema_rampup),
    # beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8)).
    assert Gs_beta(32, 10.0) == 0.5 ** (32 / 10000)
    assert Gs_beta(32, 10.0, 0.05, nimg=0) == 0.0
    assert Gs_beta(32, 10.0, 0.05, nimg=1000) == 0.5 ** (32 / 50)
    assert Gs_beta(32, 10.0, 0.05, nimg=10**6) == 0.5 ** (32 / 10000)
    assert Gs_beta(64, 20.0, 0.05, nimg=400_000) == 0.5 ** (64 / 20000)
    assert Gs_beta(32, 0.0) == 0.0


def test_Gs_follows_the_ramped_up_half_life(tiny_data):
    # StyleGAN's step averages before G's update: Gs <- G + (Gs - G) * beta with the G the step
    # starts from. A ramp-up of 1 (official 0.05; 1 makes the half-life 8 images at nimg 8
    # and 16 at nimg 16, so beta is 0.5 then 0.707, without a retrace) against the constant
    # 10-kimg half-life (beta 0.99945).
    weight = "mapping/dense0/weight"
    t = Trainer(tiny_training_config(tiny_data, "tiny", G_smoothing_rampup=1.0,
                                     G_smoothing_kimg=10.0), progress=False)
    t.run_steps(1)
    for nimg in (8, 16):
        G = variables_by_name(t.networks.G)[weight].numpy()
        Gs = variables_by_name(t.networks.Gs)[weight].numpy()
        assert t.nimg == nimg and not np.array_equal(G, Gs)
        t.run_steps(1)
        got = variables_by_name(t.networks.Gs)[weight].numpy()
        want = G + (Gs - G) * np.float32(0.5 ** (8 / nimg))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
        for other in (0.0, 0.5 ** (8 / 10000)):  # beta never set; no ramp-up
            assert np.max(np.abs(got - (G + (Gs - G) * np.float32(other)))) > 1e-5
    assert dict(t.step.trace_counts) == {4: 1}


def test_freeze_d_numbers_layers_as_the_official_code():
    # networks.py:519-540 and the official run at 64 px: N = 4 freezes the whole b64 block
    # (fromrgb, conv0, conv1, skip), N = 5 also b32.conv0, N = 10 b64, b32 and b16.
    from tf_stylegan.config import StyleGAN2Config
    from tf_stylegan.networks import StyleGAN2Discriminator

    small = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_fmaps=16)
    D = StyleGAN2Discriminator(StyleGAN2Config(resolution=64, num_channels=3, **small))
    names = [name for name, _ in discriminator_layers(D)]
    assert names[:10] == ["b64.fromrgb", "b64.conv0", "b64.conv1", "b64.skip", "b32.conv0",
                          "b32.conv1", "b32.skip", "b16.conv0", "b16.conv1", "b16.skip"]
    assert names[10:] == ["b8.conv0", "b8.conv1", "b8.skip"]  # b4 is the epilogue
    ours = {"b64.fromrgb": "from_rgb64", "b64.conv0": "conv64x64", "b64.conv1": "conv64x64_down",
            "b64.skip": "skip64x64", "b32.conv0": "conv32x32"}
    for n in (4, 5):
        frozen = {id(v) for v in frozen_variables(D, n)}
        want = {id(v) for k, v in variables_by_name(D).items()
                if k.split("/")[0] in [ours[x] for x in names[:n]]}
        assert frozen == want and len(frozen) == (7 if n == 4 else 9)
    assert frozen_variables(D, 0) == []
    everything = {id(v) for _, layer in discriminator_layers(D) for v in layer.weights}
    assert {id(v) for v in frozen_variables(D, 100)} == everything  # never the epilogue
    for arch, want in (("orig", ["b64.fromrgb", "b64.conv0", "b64.conv1", "b32.conv0"]),
                       ("skip", ["b64.fromrgb", "b64.conv0", "b64.conv1", "b32.fromrgb"])):
        D = StyleGAN2Discriminator(StyleGAN2Config(resolution=64, num_channels=3,
                                                   d_architecture=arch, **small))
        assert [name for name, _ in discriminator_layers(D)][:4] == want


def test_freeze_d_trains_exactly_the_other_weights(tiny_data):
    from tf_stylegan.errors import UserError

    # At 8x8 the residual D's layers are b8.fromrgb, b8.conv0, b8.conv1, b8.skip; freeze 2.
    cfg = tiny_training_config(tiny_data, "tiny", "stylegan2", resolution=8, D_freeze_layers=2,
                               pl_weight=0.0, r1_gamma=0.0)
    t = Trainer(cfg, progress=False)
    before = {k: v.numpy() for k, v in variables_by_name(t.networks.D).items()}
    G_before = {k: v.numpy() for k, v in variables_by_name(t.networks.G).items() if v.trainable}
    t.run_steps(2)
    after = {k: v.numpy() for k, v in variables_by_name(t.networks.D).items()}
    frozen = {"from_rgb8/weight", "from_rgb8/bias", "conv8x8/weight", "conv8x8/bias"}
    for name in after:
        moved = not np.array_equal(after[name], before[name])
        assert moved == (name not in frozen), name
    G_after = variables_by_name(t.networks.G)
    assert all(not np.array_equal(G_after[k].numpy(), v) for k, v in G_before.items()
               if "dense" in k)
    # The frozen weights have no Adam state either.
    moments = {k: v.numpy() for k, v in t.checkpoint.values.items() if k.startswith("D_opt/m/")}
    assert all(np.all(moments[f"D_opt/m/{name}"] == 0) for name in frozen)
    assert np.any(moments["D_opt/m/conv8x8_down/weight"] != 0)
    with pytest.raises(UserError, match="Freeze-D .* needs a StyleGAN2 discriminator"):
        Trainer(tiny_training_config(tiny_data, "tiny", D_freeze_layers=1), progress=False)


_WORKER = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
import numpy as np
from tests.tiny_networks import tiny_training_config
from training.loop import Trainer
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
cfg = tiny_training_config({data!r}, "tiny", aug="ada", augpipe="blit", ada_interval=1,
                           augment_p=0.5)
t = Trainer(cfg, progress=False)
assert t.num_replicas == 2, t.num_replicas
t.run_steps(3)
if index == 0:  # only the chief writes checkpoints
    print("saved", t.save_checkpoint({out!r} + "ckpt"), flush=True)
state = {{k: v.numpy() for k, v in t.losses.augment.variables_by_name().items()}}
np.savez({out!r} + str(index) + ".npz", **state)
print("worker done", flush=True)
"""


@pytest.mark.large  # two worker processes: ~1-2 min
def test_ada_with_two_workers_shares_p_and_the_chief_saves_alone(tiny_data, tmp_path):
    # MultiWorkerMirroredStrategy: the window sums the signs of both workers, so both compute
    # the same p; and the chief saves a checkpoint on its own (the saved ADA state is mirrored,
    # no collective read that the other worker would have to join).

    from tests.two_workers import ROOT, start_two_workers, worker_logs

    script = tmp_path / "worker.py"
    out = str(tmp_path / "w")
    script.write_text(_WORKER.format(root=ROOT, data=str(tiny_data), out=out))
    procs = start_two_workers(script)
    logs = worker_logs(procs)
    for p, log in zip(procs, logs):
        assert p.returncode == 0 and "worker done" in log, log[-3000:]
    assert "saved" in logs[0]
    w0, w1 = np.load(out + "0.npz"), np.load(out + "1.npz")
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)
    # 3 windows of one step, 8 global reals each: p moved by 8 * 1 / 500000 per window.
    step = np.float32(8 / 500000)
    moves = (w0["augment/p"] - np.float32(0.5)) / step
    assert abs(moves - round(moves)) < 1e-2 and abs(round(moves)) <= 3
    assert float(w0["augment/r_t"]) * 8 == round(float(w0["augment/r_t"]) * 8)
