"""run_training.py: --dry-run, presets, overrides and error messages."""

import pytest
import yaml
from click.testing import CliRunner

import run_training
from tests.tiny_networks import make_tiny_dataset
from tf_stylegan.errors import UserError
from training.training_config import list_presets, load_config

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


STYLEGAN2_PRESETS = {"stylegan2", "stylegan2-config-e", "stylegan2-ffhq", "stylegan2-car",
                     "stylegan2-cat", "stylegan2-church", "stylegan2-horse", "stylegan2-demo"} | {
    f"stylegan2-config-e-G{g}-D{d}" for g in ("orig", "skip", "resnet")
    for d in ("orig", "skip", "resnet")}


def test_stylegan2_presets_match_the_official_commands():
    from tf_stylegan.config import StyleGAN2Config

    assert STYLEGAN2_PRESETS <= set(list_presets())
    for name in STYLEGAN2_PRESETS:
        cfg = load_config(name)
        assert cfg.family == "stylegan2", name
        assert isinstance(cfg.network_config(1024 if name != "stylegan2-demo" else 32, 3, 0),
                          StyleGAN2Config)
        sched = cfg.schedule_config(8)
        assert sched.lod_initial_resolution is None and sched.minibatch_base == 32
        # Global minibatch 32 whatever the replica count (official minibatch_size_base).
        assert cfg.schedule_config(1).minibatch_base == 32
    # Config F: every official default (NVlabs/stylegan2 run_training.py).
    f = load_config("stylegan2")
    net = f.network_config(1024, 3, 0)
    assert (net.fmap_base, net.g_architecture, net.d_architecture) == (16384, "skip", "resnet")
    assert (f.r1_gamma, f.pl_weight, f.pl_decay, f.pl_batch_shrink) == (10, 2, 0.01, 2)
    assert (f.G_reg_interval, f.D_reg_interval, f.minibatch_gpu) == (4, 16, 4)
    assert (f.G_smoothing_kimg, net.style_mixing_prob, f.total_kimg, f.mirror) == \
        (10, 0.9, 25000, False)
    assert f.schedule_config(1).G_lrate_base == f.schedule_config(1).D_lrate_base == 0.002
    assert f.schedule_config(1).tick_kimg_dict[1024] == 4
    assert (f.image_snapshot_ticks, f.network_snapshot_ticks) == (10, 10)
    # Config E and the Table 2 grid: fmap_base 8192, gamma 100.
    e = load_config("stylegan2-config-e")
    assert e.network == {"fmap_base": 8192} and e.r1_gamma == 100
    grid = load_config("stylegan2-config-e-Gorig-Dskip")
    assert grid.network == {"fmap_base": 8192, "g_architecture": "orig",
                            "d_architecture": "skip"} and grid.r1_gamma == 100
    # The paper's datasets as the official README trains them.
    ffhq = load_config("stylegan2-ffhq")
    assert (ffhq.dataset, ffhq.mirror, ffhq.total_kimg, ffhq.r1_gamma) == ("ffhq", True, 25000, 10)
    assert [(load_config(f"stylegan2-{d}").total_kimg, load_config(f"stylegan2-{d}").r1_gamma)
            for d in ("car", "cat", "church", "horse")] == \
        [(57000, 10), (88000, 10), (88000, 100), (100000, 100)]
    # StyleGAN presets name their family and keep their own schedule.
    assert load_config("ffhq").family == load_config("config-f").family == "stylegan"
    assert load_config("ffhq").schedule_config(8).lod_initial_resolution == 8


def test_stylegan2_config_errors():
    with pytest.raises(UserError, match="`family` must be one of"):
        load_config("stylegan2", ["family=stylegan3"])
    with pytest.raises(UserError, match="Unknown StyleGAN2Config keys.*use_noise"):
        load_config("stylegan2", ["network.use_noise=false"])
    with pytest.raises(UserError,
                       match="minibatch_gpu.*not an option of the 'stylegan' family"):
        load_config("ffhq", ["minibatch_gpu=4"])
    with pytest.raises(UserError, match=r"'stylegan2' family trains with the losses "
                                        r"\['logistic'\] only"):
        load_config("stylegan2", loss="wgangp")
    with pytest.raises(UserError, match="multiple of `pl_batch_shrink`"):
        load_config("stylegan2", ["minibatch_gpu=3"])


def test_stylegan2_dry_run(data_dir):
    result = CliRunner().invoke(run_training.main, [
        "--dataset", "tiny", "--data-dir", str(data_dir), "--config", "stylegan2", "--dry-run"])
    assert result.exit_code == 0, result.output
    options = yaml.safe_load(result.output.split("\nSchedule")[0])
    assert options["training"]["family"] == "stylegan2"
    assert options["network"]["fmap_base"] == 16384 and "g_architecture" in options["network"]
    lines = result.output.split("\nSchedule")[1].splitlines()
    assert lines[2].split()[:6] == ["0", "stable", "0", "8", "32", "0.002"]
    assert lines[-3:] == [
        "G: path length every 4 minibatches (pl_weight 2); Adam lr x 0.8, beta1 0, "
        "beta2 0.99199197",
        "D: R1 every 16 minibatches (gamma 10); Adam lr x 0.94117647, beta1 0, "
        "beta2 0.99058546",
        "minibatch 32 = 1 replica(s) x 8 pass(es) x 4"]
