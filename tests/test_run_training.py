"""run_training.py: --dry-run, presets, overrides and error messages."""

import pytest
import yaml
from click.testing import CliRunner

import run_training
from tests.training.tiny_training import make_tiny_dataset
from tf_stylegan.errors import UserError
from training.config import list_presets, load_config

EXPECTED_PRESETS = {"ffhq", "ffhq512", "ffhq256", "celebahq", "lsun-bedroom", "lsun-car",
                    "lsun-cat", "config-b", "config-c", "config-d", "config-e", "config-f",
                    "mix0", "mix50", "mix90", "mix100", "demo", "custom"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_tiny_dataset(root / "tiny")
    return root


def test_presets_load_and_match_the_official_switches():
    assert EXPECTED_PRESETS <= set(list_presets())
    for name in EXPECTED_PRESETS:
        cfg = load_config(name)
        cfg.network_config(1024 if name != "demo" else 32, 3, 0)  # valid network overrides
        cfg.schedule_config(8)
    ffhq = load_config("ffhq")
    assert (ffhq.dataset, ffhq.mirror, ffhq.total_kimg, ffhq.r1_gamma) == ("ffhq", True, 25000, 10)
    assert load_config("ffhq256").resolution == 256
    celeba = load_config("celebahq")
    assert celeba.loss == "wgangp" and celeba.mirror
    assert max(celeba.schedule_config(8).G_lrate_dict.values()) == 0.002
    assert not load_config("lsun-cat").mirror
    custom = load_config("custom")  # official config F, mirror on, 10000 kimg
    assert (custom.mirror, custom.total_kimg, custom.network, custom.schedule) == \
        (True, 10000, {}, {})
    b = load_config("config-b").network
    assert b == dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False,
                     mapping_layers=0, truncation_psi=None, const_input_layer=False,
                     style_mixing_prob=0.0, use_noise=False)
    assert load_config("config-e").network == dict(style_mixing_prob=0.0)
    assert load_config("config-f").network == {}
    assert [load_config(f"mix{p}").network["style_mixing_prob"] for p in (0, 50, 90, 100)] == \
        [0.0, 0.5, 0.9, 1.0]


def test_wgangp_caps_the_learning_rates_as_officially():
    # Official train.py with WGAN-GP: every learning rate of the table is min(v, 0.002); without
    # it the 1gpu/8gpu tables go up to 0.003 at 512 and 1024.
    logistic = load_config("ffhq").schedule_config(8)
    assert logistic.G_lrate_dict[1024] == 0.003 and logistic.D_lrate_dict[512] == 0.003
    for preset in ("ffhq", "lsun-bedroom"):
        for replicas in (1, 8):
            sched = load_config(preset, loss="wgangp").schedule_config(replicas)
            table = load_config(preset).schedule_config(replicas)
            for key in ("G_lrate_dict", "D_lrate_dict"):
                capped = getattr(sched, key)
                assert capped == {r: min(v, 0.002) for r, v in getattr(table, key).items()}
                assert max(capped.values()) == 0.002
            assert sched.G_lrate_base == sched.D_lrate_base == 0.001
    # An explicit schedule override is the user's choice and is kept.
    cfg = load_config("ffhq", ["schedule.G_lrate_dict={1024: 0.004}"], loss="wgangp")
    assert cfg.schedule_config(8).G_lrate_dict == {1024: 0.004}


def test_labels_are_opt_in_as_officially():
    # Official max_label_size=0: a dataset's labels reach the networks only when asked for.
    assert load_config("ffhq").network_config(1024, 3, 10).label_size == 0
    assert load_config("ffhq", cond=True).network_config(1024, 3, 10).label_size == 10
    demo = load_config("demo")
    assert demo.cond and demo.network_config(32, 1, 10).label_size == 10
    with pytest.raises(ValueError, match="`cond` must be true or false"):
        load_config("ffhq", ["cond=maybe"])


def test_overrides_and_errors():
    cfg = load_config("ffhq", ["network.fmap_base=2048", "total_kimg=12", "grid_size=[3, 2]"])
    assert cfg.network["fmap_base"] == 2048 and cfg.total_kimg == 12.0
    assert cfg.grid_size == [3, 2]
    with pytest.raises(ValueError, match="Unknown NetworkConfig keys"):
        load_config("ffhq", ["network.fmap_bse=1"])
    with pytest.raises(ValueError, match="Unknown training config keys"):
        load_config("ffhq", ["totl_kimg=1"])
    with pytest.raises(ValueError, match="key=value"):
        load_config("ffhq", ["total_kimg"])
    with pytest.raises(UserError, match="nope.yaml"):
        load_config("nope")
    with pytest.raises(ValueError, match="come from the dataset"):
        load_config("ffhq", ["network.resolution=64"])


def test_dry_run_prints_config_and_schedule(data_dir):
    result = CliRunner().invoke(run_training.main, [
        "--dataset", "tiny", "--data-dir", str(data_dir), "--config", "ffhq",
        "--total-kimg", "3000", "--set", "schedule_preset=8gpu", "--dry-run"])
    assert result.exit_code == 0, result.output
    text = result.output
    options = yaml.safe_load(text.split("\nSchedule")[0])
    assert options["training"]["dataset"] == "tiny" and options["training"]["total_kimg"] == 3000
    # The dataset has 3 label columns, but labels are opt-in (official max_label_size=0).
    assert options["network"]["resolution"] == 8 and options["network"]["label_size"] == 0
    # 8x8 dataset: 600 kimg at 8x8 (lod 0 from the start; no growth beyond the dataset).
    lines = text.split("\nSchedule")[1].splitlines()
    assert lines[2].split()[:6] == ["0", "stable", "0", "8", "256", "0.001"]
    assert len(lines) == 3
    result = CliRunner().invoke(run_training.main, [
        "--dataset", "tiny", "--data-dir", str(data_dir), "--config", "ffhq",
        "--cond", "--dry-run"])
    options = yaml.safe_load(result.output.split("\nSchedule")[0])
    assert options["training"]["cond"] is True and options["network"]["label_size"] == 3


def test_cli_errors(data_dir, tmp_path):
    # Bad input is one line `Error: ...` and exit status 1 (apps.cli.user_errors).
    result = CliRunner().invoke(run_training.main, [
        "--dataset", "missing", "--data-dir", str(data_dir), "--config", "demo", "--dry-run"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: dataset directory not found")
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(run_training.main, [
        "--dataset", "tiny", "--data-dir", str(data_dir), "--resume", str(tmp_path),
        "--config", "demo"])
    assert result.exit_code == 1 and "no training checkpoint found" in result.output
