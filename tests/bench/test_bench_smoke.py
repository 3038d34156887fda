"""Smoke runs of the benchmark script (`python -m bench`) on its smallest cases. Not timed
tests: they check that the script runs the training loop's step, the reader, inference and the
augmentation pipe, and prints valid JSON lines with the documented keys, no retrace inside the
timed windows, and a "skip" record for what it does not run."""

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


def test_bench_smallest_case_prints_json_lines():
    records = run_bench("--levels", "8", "--widths", "demo", "--precisions", "fp32",
                        "--xla", "off", "--batch", "4", "--steps", "1", "--no-checks",
                        "--no-mem1024", "--augment", "bgc,bgcfnc")
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "env"
    assert {"device", "tf_version", "cpu_count", "warmup_steps"} <= set(records[0])
    timed = [r for r in records[1:] if r["kind"] not in ("skip", "augment", "train_augment")]
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
    """StyleGAN2 demo widths at 8x8: the plain step, the lazy-regularization variants and
    their cycle mean, the pipe's cost, and the roofline of the step and of the cycle (about
    two minutes)."""
    records = run_bench("--levels", "8", "--widths", "stylegan2-demo", "--precisions", "fp32",
                        "--xla", "off", "--batch", "4", "--minibatch-gpu", "2", "--steps", "1",
                        "--no-checks", "--no-mem1024", "--roofline", "--augment", "bgc",
                        timeout=900)
    train = {r["pipeline"]: r for r in records if r["kind"] == "train"}
    assert sorted(train) == ["off", "on"]
    assert all(r["family"] == "stylegan2" and r["passes"] == 2 for r in train.values())
    variants = {"+".join(r["variant"]): r for r in records if r["kind"] == "train_variant"}
    assert sorted(variants) == ["D_reg", "G_reg", "G_reg+D_reg"]
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
    check_step_augmentation_reported(records, ["bgc"])
    roof = {"cycle" if r["variant"] == "cycle" else "plain": r
            for r in records if r["kind"] == "roofline"}
    assert sorted(roof) == ["cycle", "plain"]
    # The regularization steps add work (R1's double backward, the path-length pass).
    assert roof["cycle"]["gflop_per_step"] > roof["plain"]["gflop_per_step"] > 0
    assert roof["cycle"]["sec_per_step"] == pytest.approx(cycle["sec_per_step"])
