"""Tests for training/schedule.py: the official progressive-growing schedule."""

import csv
import dataclasses
import math
import os

import numpy as np
import pytest

from training.schedule import (
    PRESETS,
    ScheduleConfig,
    num_levels_below,
    schedule_table,
    training_schedule,
)


def _load_official_rows(fixtures_dir):
    path = os.path.join(fixtures_dir, "official", "schedule.csv")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_reproduces_every_official_row(fixtures_dir):
    rows = _load_official_rows(fixtures_dir)
    # 4 presets x 4 dataset resolutions x 508 points (see the fixture README).
    assert len(rows) == 4 * 4 * 508
    mismatches = []
    for row in rows:
        cfg = PRESETS[row["preset"]]
        kimg = float(row["kimg"])
        nimg = int(round(kimg * 1000))
        s = training_schedule(nimg, int(row["dataset_resolution"]), cfg)
        got = (s.resolution, s.minibatch, s.G_lrate, s.D_lrate, s.tick_kimg)
        want = (int(row["resolution"]), int(row["minibatch"]), float(row["G_lrate"]),
                float(row["D_lrate"]), float(row["tick_kimg"]))
        if got != want or abs(s.lod - float(row["lod"])) > 1e-6 or s.kimg != kimg:
            mismatches.append((dict(row), s))
    assert not mismatches, f"{len(mismatches)} rows differ, first: {mismatches[:3]}"


def test_presets_match_official_train_py():
    lr = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    expected = {
        "1gpu": (1, 4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
        "2gpu": (2, 8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
        "4gpu": (4, 16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
        "8gpu": (8, 32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
    }
    assert set(PRESETS) == set(expected)
    for name, (gpus, base, mb) in expected.items():
        cfg = PRESETS[name]
        assert (cfg.num_gpus, cfg.minibatch_base, dict(cfg.minibatch_dict)) == (gpus, base, mb)
        assert dict(cfg.G_lrate_dict) == lr and dict(cfg.D_lrate_dict) == lr
        assert cfg.G_lrate_base == cfg.D_lrate_base == 0.001
        assert (cfg.lod_initial_resolution, cfg.lod_training_kimg, cfg.lod_transition_kimg) == (
            8, 600, 600)
        assert dict(cfg.tick_kimg_dict) == {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60,
                                            256: 40, 512: 30, 1024: 20}


def test_fade_in_fields():
    cfg = PRESETS["8gpu"]
    # Middle of the 8 -> 16 fade-in: the higher resolution is already used, alpha is half way.
    s = training_schedule(900_000, 1024, cfg)
    assert (s.lod, s.resolution, s.level_resolution, s.minibatch) == (6.5, 16, 16, 128)
    assert s.alpha == pytest.approx(0.5) and s.phase == 1 and s.lod_key == (6, 7)
    assert s.in_transition
    # A quarter of the way into the 16 -> 32 fade-in.
    s = training_schedule(1_950_000, 1024, cfg)
    assert s.resolution == 32 and s.alpha == pytest.approx(0.25) and s.lod == pytest.approx(5.75)
    # Stable phases: alpha exactly 1.
    for nimg in (0, 300_000, 600_000, 1_200_000, 1_500_000, 8_400_000, 20_000_000):
        s = training_schedule(nimg, 1024, cfg)
        assert s.alpha == 1.0 and not s.in_transition and s.lod == math.floor(s.lod)


def _official_reset(lod, prev_lod):
    """The official loop's reset_opt_for_new_lod condition."""
    return np.floor(lod) != np.floor(prev_lod) or np.ceil(lod) != np.ceil(prev_lod)


@pytest.mark.parametrize("dataset_resolution", [1024, 256, 32])
def test_lod_key_changes_exactly_at_phase_boundaries(dataset_resolution):
    cfg = PRESETS["4gpu"]
    levels = num_levels_below(8, dataset_resolution)
    key = lambda nimg: training_schedule(nimg, dataset_resolution, cfg).lod_key
    for p in range(levels):
        fade_start = (p * 1200 + 600) * 1000
        fade_end = (p + 1) * 1200 * 1000
        # At the fade-in boundary lod is still the stable integer; one image later it fades.
        assert key(fade_start - 1) == key(fade_start) == (levels - p, levels - p)
        assert key(fade_start + 1) == (levels - p - 1, levels - p)
        # The fade-in ends exactly when the next phase starts.
        assert key(fade_end - 1) == (levels - p - 1, levels - p)
        assert key(fade_end) == (levels - p - 1, levels - p - 1)

    # Walk the run the way the official loop does (cur_nimg += minibatch) and compare the key
    # change with the official reset condition at every step (prev_lod starts at -1: reset).
    nimg, prev_lod, prev_key, prev_phase, resets = 0, -1.0, None, -1, []
    end = (levels * 1200 + 300) * 1000
    while nimg < end:
        s = training_schedule(nimg, dataset_resolution, cfg)
        official = _official_reset(s.lod, prev_lod)
        assert official == (s.lod_key != prev_key), (nimg, s, prev_lod)
        if official:
            assert s.phase == prev_phase + 1
            resets.append(nimg)
        else:
            assert s.phase == prev_phase
        prev_lod, prev_key, prev_phase = s.lod, s.lod_key, s.phase
        nimg += s.minibatch * 16  # 16 steps at a time keeps the walk short; boundaries are exact.
    # First step, then the start and the end of every fade-in.
    assert len(resets) == 1 + 2 * levels
    for i, nimg in enumerate(resets[1:]):
        boundary = (i // 2 * 1200 + (600 if i % 2 == 0 else 1200)) * 1000
        assert 0 <= nimg - boundary < 16 * 512  # First walked step at or past the boundary.


@pytest.mark.parametrize("dataset_resolution", [4, 8])
def test_dataset_at_or_below_initial_resolution(dataset_resolution):
    cfg = PRESETS["1gpu"]
    for nimg in (0, 600_000, 650_000, 1_200_000, 10_000_000):
        s = training_schedule(nimg, dataset_resolution, cfg)
        assert s.lod == 0.0 and s.resolution == dataset_resolution
        assert s.alpha == 1.0 and s.phase == 0 and s.lod_key == (0, 0)
        assert s.minibatch == 128 and s.tick_kimg == {4: 160, 8: 140}[dataset_resolution]
    assert len(schedule_table(dataset_resolution, cfg, 25000)) == 1


def test_beyond_the_end_of_growth():
    cfg = PRESETS["8gpu"]
    s = training_schedule(10**12, 1024, cfg)
    assert (s.lod, s.resolution, s.minibatch, s.G_lrate, s.tick_kimg) == (0.0, 1024, 32, 0.003, 20)
    assert s.phase == 14 and s.lod_key == (0, 0) and s.alpha == 1.0
    assert training_schedule(np.int64(8_400_000), 1024, cfg) == training_schedule(
        8_400_000, 1024, cfg)


def test_minibatch_rounding_and_cap():
    cfg = ScheduleConfig(minibatch_base=10, minibatch_dict={8: 128}, num_gpus=3)
    assert training_schedule(0, 32, cfg).minibatch == 126  # 128 rounded down to a multiple of 3.
    assert training_schedule(2_400_000, 32, cfg).minibatch == 9  # base 10 -> 9.
    cfg = dataclasses.replace(cfg, max_minibatch_per_gpu={8: 20})
    assert training_schedule(0, 32, cfg).minibatch == 60
    with pytest.raises(ValueError, match="rounds down to 0"):
        training_schedule(0, 32, ScheduleConfig(minibatch_base=2, num_gpus=4))


def test_no_transition_and_no_training_phases():
    # lod_transition_kimg=0: resolutions switch instantly, alpha always 1.
    cfg = ScheduleConfig(lod_training_kimg=100, lod_transition_kimg=0)
    assert training_schedule(99_999, 32, cfg).resolution == 8
    s = training_schedule(100_000, 32, cfg)
    assert (s.resolution, s.alpha, s.lod_key) == (16, 1.0, (1, 1))
    assert [r.resolution for r in schedule_table(32, cfg, 1000)] == [8, 16, 32]
    # lod_training_kimg=0: fade-ins back to back.
    cfg = ScheduleConfig(lod_training_kimg=0, lod_transition_kimg=100)
    s = training_schedule(50_000, 32, cfg)
    assert (s.resolution, s.lod) == (16, 1.5)
    assert training_schedule(200_000, 32, cfg).lod == 0.0


def test_schedule_table():
    cfg = PRESETS["8gpu"]
    rows = schedule_table(1024, cfg, 25000)
    assert len(rows) == 15
    assert [r.phase for r in rows] == list(range(15))
    assert len({r.lod_key for r in rows}) == 15
    assert [r.resolution for r in rows[::2]] == [8, 16, 32, 64, 128, 256, 512, 1024]
    starts = [round(r.kimg) for r in rows]
    assert starts == [600 * i for i in range(15)]
    assert all(r.alpha == 1.0 for r in rows[::2]) and all(r.alpha < 1e-5 for r in rows[1::2])
    # total_kimg cuts the table: phases beginning at or after it are left out.
    assert len(schedule_table(1024, cfg, 1200)) == 2
    assert len(schedule_table(1024, cfg, 1200.5)) == 3
    assert len(schedule_table(256, cfg, 25000)) == 11


def test_num_levels_below():
    assert num_levels_below(16, 1024) == 6
    assert num_levels_below(1024, 1024) == 0
    assert num_levels_below(4, 32) == 3
    with pytest.raises(ValueError, match="must not exceed"):
        num_levels_below(64, 32)
    with pytest.raises(ValueError, match="Received: resolution=24"):
        num_levels_below(24, 32)


def test_config_is_frozen_hashable_and_round_trips():
    cfg = PRESETS["2gpu"]
    assert hash(cfg) == hash(ScheduleConfig.from_preset("2gpu"))
    assert cfg == ScheduleConfig.from_dict(cfg.to_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_gpus = 3
    with pytest.raises(TypeError):
        cfg.minibatch_dict[4] = 1
    # The caller's dict is copied, not aliased.
    d = {8: 64}
    c = ScheduleConfig(minibatch_dict=d)
    d[8] = 1
    assert c.minibatch_dict[8] == 64
    # YAML-style string keys are accepted.
    assert ScheduleConfig(minibatch_dict={"8": 64}).minibatch_dict == {8: 64}
    assert ScheduleConfig.from_preset("8gpu", num_gpus=16).num_gpus == 16


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lod_initial_resolution=6), "lod_initial_resolution"),
        (dict(minibatch_dict={12: 4}), "power-of-two"),
        (dict(G_lrate_dict={8: -1.0}), "positive"),
        (dict(num_gpus=0), "num_gpus"),
        (dict(lod_transition_kimg=-1), "lod_transition_kimg"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScheduleConfig(**kwargs)


def test_bad_arguments():
    cfg = PRESETS["1gpu"]
    with pytest.raises(ValueError, match="cur_nimg"):
        training_schedule(1.5, 32, cfg)
    with pytest.raises(ValueError, match="cur_nimg"):
        training_schedule(-1, 32, cfg)
    with pytest.raises(ValueError, match="dataset_resolution=48"):
        training_schedule(0, 48, cfg)
    with pytest.raises(ValueError, match="Unknown schedule preset"):
        ScheduleConfig.from_preset("3gpu")
    with pytest.raises(ValueError, match="Unknown ScheduleConfig keys"):
        ScheduleConfig.from_dict({"minibatch": 3})
