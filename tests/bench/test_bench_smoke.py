"""Smoke runs of the benchmark script (`python -m bench`) on its smallest cases. Not timed
tests: they check that the script runs the training loop's step, the reader, inference, the
augmentation pipe and the roofline, and prints valid JSON lines with the documented keys, no
retrace inside the timed windows, and a "skip" record for what it does not run.

Each run is a few subprocesses tracing real training steps, so every behaviour is checked in
one run only: the StyleGAN run covers the default cases, two augmentation presets and the
roofline of a step; the StyleGAN2 run what only a family with passes and lazy regularization
has (the variants, their cycle, the cycle's roofline, the pipe's inputs over the cycle).
The roofline's counting itself is tested on hand-counted graphs (tests/bench/test_roofline.py),
the choice of the variants to time on the official cycle (tests/bench/test_lazy_cycle.py)."""

import json
import os
import subprocess
import sys

import pytest

from bench.augment_cost import augmented_step_fields

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_bench(*argv, timeout=600):
    cmd = [sys.executable, "-m", "bench", *argv, "--json-only"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # --json-only: every stdout line is JSON


def check_step_augmentation_reported(records, augpipes):
    """The step with augmentation runs where training has the option, else one skip says so."""
    if augmented_step_fields("bgc", 1.0) is None:
        (skip,) = [r for r in records if r["kind"] == "skip" and r["case"] == "train_augment"]
        assert "no augmentation option" in skip["reason"]
        assert not [r for r in records if r["kind"] == "train_augment"]
    else:
        stepped = [r for r in records if r["kind"] == "train_augment"]
        assert sorted(r["augpipe"] for r in stepped) == sorted(augpipes)
        assert all(r["plain_sec_per_step"] > 0 for r in stepped)


@pytest.mark.large  # one worker tracing the step, two augmented steps: about a minute
def test_bench_smallest_case_prints_json_lines():
    """StyleGAN demo widths at 8x8: the step with the input pipeline off and on, the reader,
    inference, the pipe's cost and the step with it for two presets, and `--roofline`."""
    records = run_bench("--levels", "8", "--widths", "demo", "--precisions", "fp32",
                        "--xla", "off", "--batch", "4", "--steps", "1", "--no-checks",
                        "--no-mem1024", "--augment", "bgc,bgcfnc", "--roofline")
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "env"
    assert {"device", "tf_version", "cpu_count", "warmup_steps"} <= set(records[0])
    timed = [r for r in records[1:]
             if r["kind"] not in ("skip", "augment", "train_augment", "roofline")]
    assert sorted(r["kind"] for r in timed) == ["infer", "read", "train", "train"]
    train = [r for r in records if r["kind"] == "train"]
    assert {r["pipeline"] for r in train} == {"off", "on"}
    for r in timed:
        assert r["resolution"] == 8 and r["batch"] == 4 and r["widths"] == "demo"
        assert r["img_per_s"] > 0 and r["seconds"] > 0
    for r in train + [r for r in records if r["kind"] == "infer"]:
        assert {"precision", "xla", "steps", "sec_per_step", "traces_before", "traces_after",
                "peak_rss_mb"} <= set(r)
        assert r["precision"] == "fp32" and r["xla"] is False and r["steps"] == 1
        assert r["traces_before"] >= 1
        assert r["traces_after"] == r["traces_before"]  # no retrace while timing
        assert r["peak_rss_mb"] > 0
    assert all(r["step_fn"] == "training.step.TrainStep.function" for r in train)
    # The pipe's cost per step, both default presets; StyleGAN: G's fakes (grad), D's fakes
    # (forward) and D's reals under R1 in every step. At 8 px the pipe runs without imgfilter.
    aug = {r["augpipe"]: r for r in records if r["kind"] == "augment"}
    assert sorted(aug) == ["bgc", "bgcfnc"]
    for r in aug.values():
        assert r["resolution"] == 8 and r["passes"] == 1 and r["imgfilter"] is False
        assert r["inputs_per_step"] == {"forward": 1.0, "grad": 1.0, "r1": 1.0}
        assert r["sec_per_step"] == pytest.approx(sum(r["pattern_seconds"].values()))
        assert r["step_sec_per_step"] == train[0]["sec_per_step"]
    check_step_augmentation_reported(records, ["bgc", "bgcfnc"])
    # `--roofline`: the plain step's FLOPs against its measured time (no lazy regularization:
    # no cycle record).
    off = next(r for r in train if r["pipeline"] == "off")
    (roof,) = [r for r in records if r["kind"] == "roofline"]
    assert roof["resolution"] == 8 and roof["batch"] == 4 and roof["widths"] == "demo"
    assert roof["variant"] == []
    assert roof["sec_per_step"] == pytest.approx(off["sec_per_step"])
    # D with R1 and G, forward and backward: every kind of product is there.
    assert {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul",
            "DepthwiseConv2dNative"} <= set(roof["by_type"])
    assert roof["gflop_per_step"] > 0 and roof["peak_gflops"] > 0
    assert roof["achieved_gflops"] == pytest.approx(roof["gflop_per_step"]
                                                    / roof["sec_per_step"])


def test_skipped_levels_print_a_record_and_a_line():
    """`--levels 32 --precisions bf16-onednn`: the official widths' variant stops at 16."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "bench", "--levels", "32", "--widths", "official",
           "--precisions", "bf16-onednn", "--xla", "off", "--no-checks", "--no-mem1024"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    skips = [json.loads(ln) for ln in out if ln.startswith("{") and '"skip"' in ln]
    assert [(s["case"], s["widths"], s["levels"]) for s in skips
            if s["case"] == "train"] == [("train", "official", [32])]
    assert any(ln.startswith("# skipped train official onednn_bfloat16 xla=off levels [32]: ")
               and "--variant-max-res 32" in ln for ln in out)


@pytest.mark.large
def test_bench_stylegan2_smallest_case():
    """StyleGAN2 demo widths at 8x8 in passes of 2: the plain step, the lazy-regularization
    variants of the cycle and their cycle mean, the pipe's cost over the cycle and the step
    with it, and the roofline of the step and of the cycle (two to three minutes).

    `--lazy-variants cycle` times the variants the cycle runs (the default also times D_reg
    alone, which no cycle runs: `variants_to_time` in tests/bench/test_lazy_cycle.py); the
    `blit` preset is the cheapest pipe to trace (the presets' records are checked in the
    StyleGAN run, `bgc` and `bgcfnc`)."""
    records = run_bench("--levels", "8", "--widths", "stylegan2-demo", "--precisions", "fp32",
                        "--xla", "off", "--batch", "4", "--minibatch-gpu", "2", "--steps", "1",
                        "--no-checks", "--no-mem1024", "--roofline", "--augment", "blit",
                        "--lazy-variants", "cycle", timeout=900)
    train = {r["pipeline"]: r for r in records if r["kind"] == "train"}
    assert sorted(train) == ["off", "on"]
    assert all(r["family"] == "stylegan2" and r["passes"] == 2 for r in train.values())
    variants = {"+".join(r["variant"]): r for r in records if r["kind"] == "train_variant"}
    assert sorted(variants) == ["G_reg", "G_reg+D_reg"]
    for r in list(variants.values()) + list(train.values()):
        assert r["traces_after"] == r["traces_before"]
    (cycle,) = [r for r in records if r["kind"] == "train_cycle"]
    assert cycle["cycle_counts"] == {"G_reg+D_reg": 1, "plain": 12, "G_reg": 3}
    want = (12 * train["off"]["sec_per_step"] + 3 * variants["G_reg"]["sec_per_step"]
            + variants["G_reg+D_reg"]["sec_per_step"]) / 16
    assert cycle["sec_per_step"] == pytest.approx(want)
    (aug,) = [r for r in records if r["kind"] == "augment"]
    # StyleGAN2: G's fakes (grad), D's fakes and reals (forward), R1 on the 16th step.
    assert aug["inputs_per_step"] == {"forward": 2.0, "grad": 1.0, "r1": 1 / 16}
    assert aug["step_sec_per_step"] == pytest.approx(cycle["sec_per_step"])
    check_step_augmentation_reported(records, ["blit"])
    roof = {"cycle" if r["variant"] == "cycle" else "plain": r
            for r in records if r["kind"] == "roofline"}
    assert sorted(roof) == ["cycle", "plain"]
    # The regularization steps add work (R1's double backward, the path-length pass).
    assert roof["cycle"]["gflop_per_step"] > roof["plain"]["gflop_per_step"] > 0
    assert roof["cycle"]["sec_per_step"] == pytest.approx(cycle["sec_per_step"])
