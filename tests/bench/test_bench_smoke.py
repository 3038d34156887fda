"""Smoke run of the benchmark script (`python -m bench`) on its smallest case. Not a timed test:
it checks that the script runs the training loop's step, the reader and inference, and prints
valid JSON lines with the documented keys and no retrace inside the timed window."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_smallest_case_prints_json_lines():
    cmd = [sys.executable, "-m", "bench", "--levels", "8", "--widths", "demo",
           "--precisions", "fp32", "--xla", "off", "--batch", "4", "--steps", "1",
           "--no-checks", "--no-mem1024", "--json-only"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # --json-only: every stdout line is JSON
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "env"
    assert {"device", "tf_version", "cpu_count", "warmup_steps"} <= set(records[0])
    assert sorted(kinds[1:]) == ["infer", "read", "train", "train"]
    train = [r for r in records if r["kind"] == "train"]
    assert {r["pipeline"] for r in train} == {"off", "on"}
    for r in records[1:]:
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


def test_precisions_include_the_onednn_rewrite_without_xla():
    from bench.run import build_plan, parse_args

    args = parse_args(["--levels", "8", "--widths", "demo", "--precisions",
                       "fp32,bf16-onednn,mixed", "--xla", "off,on"])
    plan, _, _ = build_plan(args)
    pairs = sorted((spec["precision"], spec["xla"]) for _, spec in plan)
    # The rewrite does not reach XLA-compiled functions: that pair is not run.
    assert pairs == [("bf16-onednn", False), ("fp32", False), ("fp32", True),
                     ("mixed", False), ("mixed", True)]
    with pytest.raises(ValueError, match="--precisions.*'fp16'"):
        build_plan(parse_args(["--precisions", "fp16"]))
