"""The StyleGAN2 paper's configurations A-D (Table 1; NVlabs/stylegan2 run_training.py
`config-a` .. `config-d`): the presets' networks, parameter counts, losses and schedules against
the facts sheet (official-stylegan2.md §2.9, §3.2, §3.4; official-stylegan.md §2.7), and the
StyleGAN2 losses training growing networks of both families through a fade-in."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import tiny_training_config
from tf_stylegan.errors import UserError
from tf_stylegan.families import get_family
from training.launch import describe
from training.loop import Trainer
from training.step import ReplicaBatch
from training.training_config import load_config

# Trainable (G, D) counts, derived from the facts sheets, not from this code:
# - config A = v1 `G_style` / `D_basic` (official-stylegan.md §2.7: 26,219,627 / 23,087,249 at
#   1024; 22,841,356 / 20,726,785 at 32);
# - configs B-D = `G_synthesis_stylegan_revised` + `D_stylegan` with fmap_base 8192: the
#   variables of config E's skip G and skip D (official-stylegan2.md §2.9, "G skip 24,900,764",
#   "D skip 23,087,249"); at 32 config F's skip G (21,523,475) and its resnet D less the three
#   512x512 Skips plus three 512-wide FromRGBs (21,507,073 - 786,432 + 6,144 = 20,726,785).
COUNTS = {
    "a": {1024: (26_219_627, 23_087_249), 32: (22_841_356, 20_726_785)},
    "b": {1024: (24_900_764, 23_087_249), 32: (21_523_475, 20_726_785)},
}
COUNTS["c"] = COUNTS["d"] = COUNTS["b"]

# What run_training.py sets (official-stylegan2.md §3.4 and §3.2): family, lazy
# regularization, path length, gamma.
SETTINGS = {
    "a": ("stylegan", False, False, 10.0),
    "b": ("stylegan2-revised", False, False, 10.0),
    "c": ("stylegan2-revised", True, False, 10.0),
    "d": ("stylegan2-revised", True, True, 10.0),
}


@pytest.mark.parametrize("config", "abcd")
def test_preset_parameter_counts_built_without_running(config):
    cfg = load_config(f"stylegan2-config-{config}")
    family = cfg.network_family
    for resolution, expected in COUNTS[config].items():
        net_cfg = cfg.network_config(resolution, 3, 0)
        assert net_cfg.fmap_base == 8192  # run_training.py:71-72
        G, D = family.generator_class(net_cfg), family.discriminator_class(net_cfg)
        assert (G.count_params_trainable(), D.count_params_trainable()) == expected


@pytest.mark.parametrize("config", "abcd")
def test_preset_loss_settings_match_run_training(config):
    cfg = load_config(f"stylegan2-config-{config}")
    family, lazy, path_length, gamma = SETTINGS[config]
    assert cfg.family == family and cfg.training_losses == "stylegan2"
    assert cfg.lazy is lazy and cfg.r1_gamma == gamma and cfg.loss == "logistic"
    # G_logistic_ns_pathreg (weight 2, every 4) for D only; lazy R1 every 16 for C and D.
    assert cfg.reg_interval("G") == (4 if path_length else None)
    assert cfg.pl_weight == (2.0 if path_length else 0.0)
    assert cfg.reg_interval("D") == (16 if lazy else None)
    # mb_ratio = k / (k + 1) for both optimizers whenever lazy (training_loop.py:181-185).
    assert cfg.optimizer_ratio("G") == pytest.approx(0.8 if lazy else 1.0)
    assert cfg.optimizer_ratio("D") == pytest.approx(16 / 17 if lazy else 1.0)
    assert (cfg.adam_beta1, cfg.adam_beta2, cfg.adam_epsilon) == (0.0, 0.99, 1e-8)
    assert (cfg.G_smoothing_kimg, cfg.total_kimg, cfg.mirror) == (10.0, 25000.0, False)
    assert cfg.image_snapshot_ticks == cfg.network_snapshot_ticks == 10
    assert cfg.reset_opt_for_new_lod
    # The growing schedule (run_training.py:84-92) with the StyleGAN2 loop's ticks.
    s = cfg.schedule_config(1)
    assert s.lod_initial_resolution == 8
    assert (s.lod_training_kimg, s.lod_transition_kimg) == (600, 600)
    assert s.G_lrate_base == s.D_lrate_base == 0.001
    lrates = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    assert dict(s.G_lrate_dict) == dict(s.D_lrate_dict) == lrates
    assert s.minibatch_base == 32 and dict(s.minibatch_dict) == {8: 256, 16: 128, 32: 64, 64: 32}
    assert s.tick_kimg_base == 4
    assert dict(s.tick_kimg_dict) == {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6,
                                      1024: 4}
    per_gpu = {8: 32, 16: 16, 32: 8, 64: 4, 128: 4, 256: 4, 512: 4, 1024: 4}
    assert {r: cfg.minibatch_gpu_at(r) for r in per_gpu} == per_gpu
    # The dry run shows the settings and each level's passes.
    text = describe(cfg, 1024, 1)
    assert f"lazy regularization {'on' if lazy else 'off'}" in text
    assert ("D: R1 every 16 minibatches" if lazy else "D: R1 in every D step") in text
    assert ("G: path length every 4" if path_length else "G: path length off") in text
    assert "minibatch 256 at 8x8 = 1 replica(s) x 8 pass(es) x 32" in text
    assert "minibatch 32 at 1024x1024 = 1 replica(s) x 8 pass(es) x 4" in text


def _fade_config(tiny_data, family, **overrides):
    # The schedule at every step of 8 images: 5 steps at 4x4 (the fade-in starts after image
    # 32), 3 fading 8x8 in (alpha 0.25, 0.5, 0.75), then 8x8; passes of 8 at 4x4, 4 at 8x8.
    return tiny_training_config(tiny_data, "tiny", family, losses="stylegan2",
                                total_kimg=0.096, minibatch_gpu=4, minibatch_repeats=1,
                                minibatch_gpu_dict={4: 8}, **overrides)


@pytest.mark.large  # traces a step per level and variant: about 20 s (v1) to 60 s (loaded CPU)
@pytest.mark.parametrize("family,lazy,pl_weight", [
    ("stylegan", False, 0.0),         # config A: v1 networks, R1 in every D step
    ("stylegan2-revised", True, 2.0),  # config D: lazy R1 and path length
])
def test_growing_through_a_fade_in(tiny_data, family, lazy, pl_weight):
    cfg = _fade_config(tiny_data, family, lazy_regularization=lazy, pl_weight=pl_weight,
                       D_reg_interval=4)
    t = Trainer(cfg, progress=False, log=lambda line: None)
    assert t.losses.progressive and type(t.losses).__name__ == "StyleGAN2Losses"
    stats = t.run_steps(12)
    levels = [(t.schedule(8 * i).resolution, t.schedule(8 * i).alpha) for i in range(12)]
    assert [r for r, _ in levels] == [4] * 5 + [8] * 7
    assert [a for _, a in levels] == pytest.approx([1] * 5 + [0.25, 0.5, 0.75] + [1] * 4)
    for s in stats:
        assert all(np.isfinite(float(v)) for v in s.values()), s
    # Official step order G, (G_reg), Gs, D, (D_reg); the regularization phases only lazily.
    phases = t.losses.PHASES
    assert phases == (("G", "G_reg", "Gs", "D", "D_reg") if lazy else ("G", "Gs", "D"))
    if not lazy:
        assert all(float(s["Loss/gradient_penalty"]) > 0 for s in stats)
    # Each level and regularization variant is traced once (the fade-in alpha is a tensor).
    assert all(n == 1 for n in t.step.variant_traces.values()), t.step.variant_traces
    assert {r for r, _ in t.step.variant_traces} == {4, 8}
    # Adam was reset at the start and the end of the fade-in (official reset_opt_for_new_lod):
    # 4 steps at 8x8 since, plus the regularization steps among them.
    extra = 1 if lazy else 0  # step 8 runs both regularizers (intervals 4)
    assert int(t.networks.G_opt.iterations.numpy()) == 4 + extra
    assert int(t.networks.D_opt.iterations.numpy()) == 4 + extra


def test_reals_fade_as_official_process_reals(tiny_data):
    # Official FadeLOD: lerp(x, nearest-up(2x2 means of x), lod - floor(lod)), on [-1, 1] data.
    t = Trainer(_fade_config(tiny_data, "stylegan2-revised"), progress=False)
    reals = np.random.RandomState(0).randint(0, 256, size=[4, 8, 8, 1]).astype(np.uint8)
    x = reals.astype(np.float64) * (2 / 255) - 1
    up = np.repeat(np.repeat(x.reshape(4, 4, 2, 4, 2, 1).mean(axis=(2, 4)), 2, 1), 2, 2)
    for alpha in (0.25, 1.0):
        expected = x + (up - x) * (1 - alpha)
        np.testing.assert_allclose(t.losses.process(reals, alpha), expected, atol=1e-6)


def test_r1_of_a_level_is_the_official_full_resolution_r1(tiny_data):
    # Official: the level's reals nearest-upscaled to full size, D box-downscaling them again
    # (recursive `naive_downsample_2d`), R1 w.r.t. the full-size tensor. Ours: D at the level,
    # R1 rescaled by r1_scale_for. Computed here the official way, through the same D.
    t = Trainer(_fade_config(tiny_data, "stylegan2-revised"), progress=False)
    D, losses = t.networks.D, t.losses
    reals = np.random.RandomState(1).randint(0, 256, size=[8, 4, 4, 1]).astype(np.uint8)
    labels = tf.one_hot([0, 1, 2, 0, 1, 2, 0, 1], 3)
    _, stats = losses.D_reg_loss(ReplicaBatch(8), 4, reals, labels, 1.0, tf.constant([1, 2]))
    x_full = tf.repeat(tf.repeat(losses.process(reals, 1.0), 2, axis=1), 2, axis=2)
    with tf.GradientTape() as tape:
        tape.watch(x_full)
        total = tf.reduce_sum(D(tf.nn.avg_pool2d(x_full, 2, 2, "VALID"), labels))
    grads = tape.gradient(total, x_full)
    official = tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])
    np.testing.assert_allclose(stats["Loss/gradient_penalty"], official, rtol=1e-5)
    assert math.isclose(losses.r1_scale(4), 0.25)
    # The level's passes (official minibatch_gpu_dict): 8 samples at 4x4, 4 at 8x8.
    assert (losses.pass_size(8, 4), losses.pass_size(8, 8)) == (8, 4)


def test_revised_family_trains_with_its_own_defaults(tiny_data):
    # The family's defaults alone (no `losses`, no `lazy_regularization`): the StyleGAN2 losses
    # with lazy regularization.
    cfg = tiny_training_config(tiny_data, "tiny", "stylegan2-revised", total_kimg=0.064)
    assert cfg.training_losses == "stylegan2" and cfg.lazy
    assert get_family("stylegan2-revised").schedule == "stylegan2-growing"


def test_loss_option_errors():
    with pytest.raises(UserError, match="`losses` must be null or one of"):
        load_config("stylegan2-config-d", ["losses=stylegan3"])
    with pytest.raises(UserError, match="`lazy_regularization` needs the 'stylegan2'"):
        load_config("ffhq", ["lazy_regularization=true"])
    # Official: path length exists only as a lazy regularizer here.
    with pytest.raises(UserError, match="path length regularization.*lazy"):
        load_config("stylegan2-config-b", ["pl_weight=2"])
    with pytest.raises(UserError, match="minibatch_gpu_dict"):
        load_config("stylegan2-config-d", ["minibatch_gpu_dict={8: 0}"])
    with pytest.raises(UserError, match="logistic only"):
        load_config("stylegan2-config-a", ["loss=wgangp"])
    # StyleGAN's own losses take no passes.
    with pytest.raises(UserError, match="not an option of the 'stylegan' family's training"):
        load_config("stylegan2-config-a", ["losses=stylegan", "lazy_regularization=null"])
