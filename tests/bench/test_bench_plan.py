"""The plan of `python -m bench` (bench/case_plan.py), built from the command line without
running anything: every requested case either runs in a group or has a "skip" record saying
why; the StyleGAN2 width settings come from their presets, with their passes; the reader and
the augmentation run once per level."""

import itertools
import os

import pytest
import yaml

from bench.case_plan import build_plan, skip_line
from bench.case_setup import PRECISIONS
from bench.run import parse_args
from bench.width_settings import get_width_setting, training_config
from tf_stylegan.errors import UserError
from training.training_config import CONFIG_DIR


def plan_of(*argv):
    return build_plan(parse_args(list(argv)))


def requested(args_plan, argv):
    """The requested (widths, precision, xla, level) cases, from the command line itself."""
    args = parse_args(list(argv))
    xlas = [{"off": False, "on": True}[x] for x in args.xla.split(",")]
    return set(itertools.product(args_plan.widths, args.precisions.split(","), xlas,
                                 args_plan.levels))


def skipped(plan, case, widths, precision, xla, level):
    return [s for s in plan.skips if s["case"] == case and s["widths"] == widths
            and s["precision"] in (None, PRECISIONS[precision][1])
            and s["xla"] in (None, xla) and level in s["levels"]]


COMMAND_LINES = [
    ("--levels", "32", "--precisions", "bf16-onednn"),
    ("--levels", "8,16,32,64", "--widths", "official,demo"),
    ("--family", "stylegan2", "--levels", "8,32"),
    ("--widths", "config-f,demo", "--batch", "6", "--levels", "8,16"),
    ("--widths", "official,config-f", "--levels", "8,64", "--pipeline-max-res", "8",
     "--variant-max-res", "8", "--precisions", "mixed,fp32"),
]


@pytest.mark.parametrize("argv", COMMAND_LINES)
def test_every_requested_case_runs_or_is_skipped(argv):
    plan = plan_of(*argv)
    groups = {(g["widths"], g["precision"], g["xla"]): g for g in plan.groups}
    for w, p, x, r in sorted(requested(plan, argv)):
        group = groups.get((w, p, x))
        runs = group is not None and r in group["levels"]
        skips = skipped(plan, "train", w, p, x, r)
        assert runs != bool(skips), (w, p, x, r, skips)  # exactly one of the two
        if runs and r not in group["pipeline_levels"]:
            assert skipped(plan, "pipeline", w, p, x, r), (w, p, x, r)
    for s in plan.skips:
        assert s["reason"] and skip_line(s).startswith(f"# skipped {s['case']}")
    # The reader: once per (widths, level) timed; the pipe: once per (widths, xla, level).
    timed = {(g["widths"], g["xla"], r) for g in plan.groups for r in g["levels"]}
    reads = [(g["widths"], r) for g in plan.groups for r in g["reader_levels"]]
    augs = [(g["widths"], g["xla"], r) for g in plan.groups for r in g["augment_levels"]]
    assert sorted(reads) == sorted({(w, r) for w, _, r in timed})
    assert sorted(augs) == sorted(timed)


def test_a_level_above_variant_max_res_prints_why():
    """`--levels 32 --precisions bf16-onednn` used to print nothing for the official widths."""
    plan = plan_of("--levels", "32", "--precisions", "bf16-onednn", "--xla", "off")
    assert [(g["widths"], g["levels"]) for g in plan.groups] == [("demo", [32])]
    (skip,) = [s for s in plan.skips if s["case"] == "train"]
    assert (skip["widths"], skip["precision"], skip["xla"], skip["levels"]) == \
        ("official", "onednn_bfloat16", False, [32])
    assert "--variant-max-res 32" in skip["reason"]
    plan = plan_of("--levels", "32", "--precisions", "bf16-onednn", "--xla", "off",
                   "--variant-max-res", "32")
    assert [g["widths"] for g in plan.groups] == ["official", "demo"]
    assert not [s for s in plan.skips if s["case"] == "train"]


def test_the_onednn_rewrite_with_xla_is_skipped_with_trainings_reason():
    plan = plan_of("--levels", "8", "--widths", "demo", "--precisions",
                   "fp32,bf16-onednn,mixed", "--xla", "off,on")
    pairs = sorted((g["precision"], g["xla"]) for g in plan.groups)
    assert pairs == [("bf16-onednn", False), ("fp32", False), ("fp32", True),
                     ("mixed", False), ("mixed", True)]
    (skip,) = [s for s in plan.skips if s["case"] == "train"]
    assert (skip["precision"], skip["xla"]) == ("onednn_bfloat16", True)
    assert "does not combine with xla" in skip["reason"]
    with pytest.raises(ValueError, match="--precisions.*'fp16'"):
        plan_of("--precisions", "fp16")


def _preset(name):
    with open(os.path.join(CONFIG_DIR, f"{name}.yaml")) as f:
        return yaml.safe_load(f)


def test_stylegan2_settings_come_from_their_presets():
    plan = plan_of("--family", "stylegan2", "--levels", "8,32", "--precisions", "fp32",
                   "--xla", "off")
    assert plan.widths == ["stylegan2-demo", "config-f"]
    by_widths = {g["widths"]: g for g in plan.groups}
    # configs/stylegan2.yaml: config F, passes of 4; the benchmark's batch 8 is two of them.
    official = _preset("stylegan2")
    assert by_widths["config-f"]["minibatch_gpu"] == official["minibatch_gpu"] == 4
    assert by_widths["config-f"]["batch"] == {"8": 8, "32": 8}
    demo = _preset("stylegan2-demo")
    assert by_widths["stylegan2-demo"]["minibatch_gpu"] == demo["minibatch_gpu"] == 32
    for name, preset in (("config-f", official), ("stylegan2-demo", demo)):
        setting = get_width_setting(name)
        assert setting.family.name == preset["family"] == "stylegan2"
        cfg = training_config(setting, "/tmp/bench_x", {32: 8}, [32], False, False,
                              minibatch_gpu=4)
        net = cfg.network_config(32, setting.channels, setting.label_size)
        for key, value in (preset.get("network") or {}).items():
            assert getattr(net, key) == value
        for key in ("r1_gamma", "cond", "G_smoothing_kimg"):
            if key in preset:
                assert getattr(cfg, key) == preset[key]
    # Config F's widths are StyleGAN2Config's defaults: fmap_base 16384 (official
    # networks_stylegan2.py), as the preset leaves them.
    cfg = training_config(get_width_setting("config-f"), "/tmp/bench_x", {8: 8}, [8], False,
                          False, minibatch_gpu=4)
    assert cfg.network_config(256, 3, 0).fmap_base == 16384
    # One numeric check and one 1024 memory case per family.
    assert [c["widths"] for c in plan.checks] == ["stylegan2-demo"]
    assert plan.mem1024 == [{"family": "stylegan2"}]


def test_stylegan_settings_keep_their_widths_only():
    """The StyleGAN settings are what the benchmark always timed: demo.yaml's widths, the
    networks unconditional, so that A/B runs of old and new trees time the same networks."""
    cfg = training_config(get_width_setting("demo"), "/tmp/bench_x", {8: 16}, [8], False, False)
    assert cfg.network == _preset("demo")["network"]
    assert (cfg.family, cfg.cond, cfg.minibatch_gpu) == ("stylegan", False, None)
    cfg = training_config(get_width_setting("official"), "/tmp/bench_x", {8: 4}, [8], False,
                          False)
    assert (cfg.family, cfg.network) == ("stylegan", {})


def test_passes_and_batches():
    plan = plan_of("--widths", "config-f", "--batch", "6", "--levels", "8")
    assert not plan.groups
    reasons = [s["reason"] for s in plan.skips if s["case"] == "train"]
    assert len(reasons) == 1 and "does not split into passes of minibatch_gpu 4" in reasons[0]
    # A pass holds at most the batch (the demo preset's one pass of 32).
    plan = plan_of("--widths", "stylegan2-demo", "--batch", "4", "--levels", "8")
    assert {g["minibatch_gpu"] for g in plan.groups} == {4}
    plan = plan_of("--widths", "demo,stylegan2-demo", "--batch", "8", "--minibatch-gpu", "2",
                   "--levels", "8")
    assert {g["widths"]: g["minibatch_gpu"] for g in plan.groups} == \
        {"demo": None, "stylegan2-demo": 2}
    assert [s["widths"] for s in plan.skips if s["case"] == "minibatch_gpu"] == ["demo"]


def test_bad_selections():
    with pytest.raises(UserError, match="--widths.*'stylegan3'"):
        plan_of("--widths", "stylegan3")
    with pytest.raises(UserError, match="not of `--family`"):
        plan_of("--widths", "demo", "--family", "stylegan2")
    with pytest.raises(UserError, match="unknown network family"):
        plan_of("--family", "biggan")
    with pytest.raises(UserError, match="--augment.*'bgcx'"):
        plan_of("--augment", "bgcx")
    with pytest.raises(UserError, match="--augment-p"):
        plan_of("--augment-p", "1.5")
    with pytest.raises(UserError, match="--levels"):
        plan_of("--levels", "12")


def test_augment_options():
    assert [g["augment"] for g in plan_of("--levels", "8", "--widths", "demo").groups][0] == \
        ["bgc", "bgcfnc"]
    assert plan_of("--quick").groups[0]["augment"] == ["bgc"]
    plan = plan_of("--levels", "8", "--widths", "demo", "--no-augment")
    assert all(g["augment"] == [] for g in plan.groups)
    assert not [s for s in plan.skips if s["case"] == "train_augment"]
