"""The --cfg presets and the ADA options against what the official train.py computed
(tests/fixtures/official-ada/train_options_official.json), and what they become in our
TrainingConfig: the network widths per resolution, the minibatch and its passes, the learning
rates, gamma, the Gs half-life and its ramp-up, the augmentation."""

import json
import os

import pytest

from data.reader import TFRecordDataset
from tests.paths import FIXTURES
from tests.tiny_networks import make_tiny_dataset
from tf_stylegan.errors import UserError
from training import ada_presets, launch
from training.ada_presets import official_options, training_fields
from training.training_config import TrainingConfig

with open(os.path.join(FIXTURES, "official-ada", "train_options_official.json")) as _f:
    OFFICIAL = json.load(_f)

# The keys compared one to one (the rest: desc, metrics and the class names of the kwargs).
KEYS = ("batch_size", "batch_gpu", "mbstd_group_size", "channel_base", "channel_max",
        "mapping_layers", "num_fp16_res", "conv_clamp", "lr", "betas", "eps", "r1_gamma",
        "total_kimg", "ema_kimg", "ema_rampup", "ada_target", "augment_p", "ada_kimg",
        "resume_pkl", "freeze_layers")
# The option entries: the official command-line options of each.
OPTIONS = {
    "aug=fixed,p=0.3": dict(aug="fixed", p=0.3),
    "aug=noaug": dict(aug="noaug"),
    "augpipe=bgcfnc": dict(augpipe="bgcfnc"),
    "augpipe=blit": dict(augpipe="blit"),
    "freezed=10": dict(freezed=10),
    "gamma=10.0,kimg=1000,batch=16": dict(gamma=10.0, kimg=1000, batch=16),
    "mirror=True": dict(mirror=True),
    "resume=/some/file.pkl": dict(resume="/some/file.pkl"),
    "resume=ffhq256": dict(resume="ffhq256"),
    "resume=noresume": dict(resume="noresume"),
    "target=0.7": dict(target=0.7),
}


def _cases():
    for key in sorted(OFFICIAL["cfg"]):
        cfg, res, gpus = key.split("/")
        yield key, cfg, int(res[3:]), int(gpus[4:]), {}, OFFICIAL["cfg"][key]
    for key, options in OPTIONS.items():
        yield key, "auto", 256, 1, options, OFFICIAL["options"][key]


CASES = list(_cases())


def test_every_official_case_is_covered():
    assert len(CASES) == len(OFFICIAL["cfg"]) + len(OFFICIAL["options"]) == 44 + 11


@pytest.mark.parametrize("key, cfg, res, gpus, options, want", CASES, ids=[c[0] for c in CASES])
def test_official_options_equal_the_official_train_py(key, cfg, res, gpus, options, want):
    got = official_options(cfg, resolution=res, gpus=gpus, **options)
    for k in KEYS:
        assert got[k] == want[k] and type(got[k] is None) is type(want[k] is None), (k, got[k],
                                                                                     want[k])
    loss = {k: v for k, v in want["loss_kwargs"].items() if k != "class_name"}
    assert got["loss_kwargs"] == loss
    assert got["D_architecture"] == want["D_architecture"].replace("(default resnet)", "resnet")
    aug = want["augment_kwargs"]
    assert got["augment_kwargs"] == (None if aug is None else
                                     {k: v for k, v in aug.items() if k != "class_name"})
    assert got["training_set_xflip"] == want.get("training_set_xflip", False)


def _channels(net, res):
    """The feature maps of our StyleGAN2 block at `res` (it outputs nf(r - 2) and runs at
    nf(r - 1), r = log2 res)."""
    r = res.bit_length() - 1
    return net.nf(r - 1)


@pytest.mark.parametrize("key, cfg, res, gpus, options, want", CASES, ids=[c[0] for c in CASES])
def test_training_config_of_each_case(key, cfg, res, gpus, options, want):
    fields = training_fields(official_options(cfg, resolution=res, gpus=gpus, **options), cfg)
    tc = TrainingConfig(**fields)
    # Widths: the official block at res has min(channel_base // res, channel_max) maps
    # (networks.py `channels_dict`), at every resolution of the network.
    net = tc.network_config(res, 3, 0)
    for r in (2 ** k for k in range(2, res.bit_length())):
        assert _channels(net, r) == min(want["channel_base"] // r, want["channel_max"]), r
    assert (net.latent_size, net.dlatent_size, net.mapping_fmaps) == (512, 512, 512)
    assert net.mapping_layers == want["mapping_layers"]
    assert net.mbstd_group_size == want["mbstd_group_size"]
    assert net.d_architecture == want["D_architecture"].replace("(default resnet)", "resnet")
    assert net.g_architecture == "skip"
    loss = want["loss_kwargs"]
    assert net.style_mixing_prob == loss.get("style_mixing_prob", 0.9)
    assert tc.pl_weight == loss.get("pl_weight", 2)
    # The minibatch: the global batch, in passes of batch_gpu on each of the GPUs.
    sched = tc.schedule_config(gpus)
    assert sched.minibatch_base == want["batch_size"] and not sched.minibatch_dict
    # Each official GPU runs rounds of at most batch_gpu of its batch_size / gpus samples.
    per_gpu = want["batch_size"] // gpus
    assert tc.minibatch_gpu == min(want["batch_gpu"], per_gpu)
    assert per_gpu % tc.minibatch_gpu == 0
    assert sched.G_lrate_base == sched.D_lrate_base == want["lr"]
    assert not sched.G_lrate_dict and not sched.D_lrate_dict
    assert sched.lod_initial_resolution is None  # no growing
    assert (tc.adam_beta1, tc.adam_beta2, tc.adam_epsilon) == (0.0, 0.99, 1e-8)
    assert tc.r1_gamma == want["r1_gamma"]
    assert tc.G_smoothing_kimg == want["ema_kimg"]
    assert tc.G_smoothing_rampup == want["ema_rampup"]
    assert tc.total_kimg == want["total_kimg"]
    aug = want["augment_kwargs"]
    assert tc.aug == ("noaug" if aug is None else "ada" if want["ada_target"] is not None
                      else "fixed")
    if want["ada_target"] is not None:
        assert tc.ada_target == want["ada_target"]
    assert tc.augment_p == (want["augment_p"] or 0.0)
    assert tc.ada_kimg == (want["ada_kimg"] or 500)
    assert tc.D_freeze_layers == (want["freeze_layers"] or 0)
    assert tc.mirror == want.get("training_set_xflip", False)
    if aug is not None:
        from tf_stylegan.augment import AUGMENT_PRESETS

        assert sorted(AUGMENT_PRESETS[tc.augpipe]) == sorted(k for k in aug if k != "class_name")
    assert sched.tick_kimg_base == 4 and not sched.tick_kimg_dict  # kimg_per_tick 4
    assert tc.image_snapshot_ticks == tc.network_snapshot_ticks == 50  # --snap 50


@pytest.mark.parametrize("options, message", [
    (dict(aug="fixed"), "--aug fixed requires specifying --p"),
    (dict(p=0.3), "--p can only be specified with --aug fixed"),
    (dict(aug="fixed", p=1.5), "--p must be between 0 and 1"),
    (dict(aug="noaug", target=0.7), "--target can only be specified with --aug ada"),
    (dict(target=-0.1), "--target must be between 0 and 1"),
    (dict(aug="noaug", augpipe="bgc"), "--augpipe cannot be specified with --aug noaug"),
    (dict(augpipe="bgcx"), "--augpipe must be one of"),
    (dict(aug="off"), "--aug must be one of"),
    (dict(gamma=-1.0), "--gamma must be non-negative"),
    (dict(kimg=0), "--kimg must be at least 1"),
    (dict(batch=3, gpus=2), "--batch must be at least 1 and divisible by --gpus"),
    (dict(freezed=-1), "--freezed must be non-negative"),
    (dict(gpus=3), "--gpus must be a power of two"),
])
def test_official_validity_rules(options, message):
    gpus = options.pop("gpus", 1)
    with pytest.raises(UserError, match=message):
        official_options("auto", resolution=256, gpus=gpus, **options)
    with pytest.raises(UserError, match="--cfg must be one of"):
        official_options("paper128", resolution=256)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_tiny_dataset(root / "tiny", resolution=32, num_images=4)
    return root


def _dry_run(data_dir, **kwargs):
    lines = []
    launch.run(dataset="tiny", data_dir=str(data_dir), dry_run=True, print_fn=lines.append,
               **kwargs)
    import yaml

    return yaml.safe_load(lines[0])["training"], "\n".join(lines)


def test_cfg_on_the_command_line_with_and_without_config(data_dir):
    # --cfg auto at 32x32 on 1 GPU: the official values (the fixture's auto/res32/gpus1).
    want = OFFICIAL["cfg"]["auto/res32/gpus1"]
    training, text = _dry_run(data_dir, ada_options=dict(cfg="auto"))
    assert training["family"] == "stylegan2" and training["config_name"] == "cfg-auto"
    assert training["network"]["fmap_base"] * 2 == want["channel_base"]
    assert training["schedule"]["minibatch_base"] == want["batch_size"] == 32
    assert training["minibatch_gpu"] == want["batch_gpu"]
    assert training["r1_gamma"] == want["r1_gamma"] and training["aug"] == "ada"
    assert training["G_smoothing_rampup"] == 0.05 and training["ada_kimg"] == 500
    assert "minibatch 32 = 1 replica(s) x 1 pass(es) x 32" in text
    # 32 * 4 / 500000 per update.
    assert "augmentation: ada, pipe bgc, p from 0 towards r_t = 0.6, +-0.000256 every 4 " \
           "minibatches (ada_kimg 500)" in text
    assert "Gs half-life: min(10 kimg, images shown x 0.05)" in text
    # On top of a preset: its dataset options stay, --cfg sets its own; explicit options and
    # --set override --cfg.
    training, _ = _dry_run(data_dir, preset="stylegan2-demo", total_kimg=12.0,
                           overrides=["r1_gamma=0.5"], ada_options=dict(cfg="paper256"))
    assert training["config_name"] == "stylegan2-demo+paper256" and training["cond"] is True
    assert training["network"]["fmap_base"] == 8192 and training["network"]["latent_size"] == 512
    assert training["total_kimg"] == 12.0 and training["r1_gamma"] == 0.5
    assert training["minibatch_gpu"] == 8 and training["schedule"]["minibatch_base"] == 64
    # A Gs ramp-up from the preset is replaced by --cfg's None.
    training, _ = _dry_run(data_dir, preset="stylegan2-demo", ada_options=dict(cfg="stylegan2"),
                           overrides=[])
    assert training["G_smoothing_rampup"] is None and training["G_smoothing_kimg"] == 10


def test_aug_options_without_cfg_follow_the_preset(data_dir):
    training, _ = _dry_run(data_dir, preset="stylegan2-demo",
                           ada_options=dict(aug="fixed", p=0.25, augpipe="bgcfnc", gamma=2.0,
                                            freezed=3))
    assert (training["aug"], training["augment_p"], training["augpipe"]) == ("fixed", 0.25,
                                                                              "bgcfnc")
    assert training["r1_gamma"] == 2.0 and training["D_freeze_layers"] == 3
    training, _ = _dry_run(data_dir, preset="stylegan2-demo-ada", ada_options=dict(target=0.7))
    assert (training["aug"], training["ada_target"], training["ada_kimg"]) == ("ada", 0.7, 100)
    with pytest.raises(UserError, match="--target can only be specified with --aug ada"):
        _dry_run(data_dir, preset="stylegan2-demo", ada_options=dict(target=0.7))
    with pytest.raises(UserError, match="--batch sets the minibatch of a --cfg preset"):
        _dry_run(data_dir, preset="stylegan2-demo", ada_options=dict(batch=16))


def test_transfer_sets_the_official_ada_kimg_and_no_ramp_up(data_dir, tmp_path):
    network = tmp_path / "net.pkl"
    network.write_bytes(b"")  # a pickle is read when the run starts, not by a dry run
    training, _ = _dry_run(data_dir, resume=str(network), ada_options=dict(cfg="auto"))
    assert training["ada_kimg"] == 100 and training["G_smoothing_rampup"] is None
    training, _ = _dry_run(data_dir, resume=str(network), ada_options=dict(cfg="auto"),
                           overrides=["ada_kimg=300"])
    assert training["ada_kimg"] == 300  # the user's --set wins
    # Continuing a run keeps the config as given (a dry run would also check its checkpoint).
    run = tmp_path / "00000-run"
    run.mkdir()
    cfg = ada_presets.load_run_config(
        None, [], dict(dataset="tiny", data_dir=str(data_dir)), dict(cfg="auto"), str(run),
        lambda c: TFRecordDataset(c.dataset_dir).resolution)
    assert cfg.ada_kimg == 500 and cfg.G_smoothing_rampup == 0.05


def test_cfg_needs_a_power_of_two_replica_count(data_dir):
    with pytest.raises(UserError, match="--gpus must be a power of two"):
        _dry_run(data_dir, gpus=3, ada_options=dict(cfg="auto"))
    assert ada_presets.CFG_SPECS["cifar"].ref_gpus == 2


def test_run_training_command_line(data_dir):
    from click.testing import CliRunner

    import run_training

    base = ["--dataset", "tiny", "--data-dir", str(data_dir), "--dry-run"]
    result = CliRunner().invoke(run_training.main, base + ["--cfg", "paper512", "--aug", "fixed",
                                                           "--p", "0.2", "--augpipe", "bgcfnc",
                                                           "--gamma", "3", "--freezed", "4"])
    assert result.exit_code == 0, result.output
    training = __import__("yaml").safe_load(result.output.split("\nSchedule")[0])["training"]
    assert (training["aug"], training["augment_p"], training["augpipe"]) == ("fixed", 0.2,
                                                                              "bgcfnc")
    assert (training["r1_gamma"], training["D_freeze_layers"]) == (3.0, 4)
    assert "augmentation: fixed, pipe bgcfnc, p = 0.2" in result.output
    assert "Freeze-D: D's first 4 layers are not trained" in result.output
    assert training["network"]["fmap_base"] == 16384 and training["minibatch_gpu"] == 8
    # Bad combinations are one-line errors (exit status 1), as the official UserErrors.
    for args, message in ((["--p", "0.3"], "--p can only be specified with --aug fixed"),
                          (["--cfg", "auto", "--batch", "6", "--gpus", "1", "--aug", "noaug",
                            "--augpipe", "bgc"], "--augpipe cannot be specified with --aug"),
                          (["--cfg", "auto", "--freezed", "-2"], "--freezed must be non-neg")):
        result = CliRunner().invoke(run_training.main, base + args)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {message}"), result.output
        assert len(result.output.strip().splitlines()) == 1
