"""bench/ab_commits.py: the rounds alternate the two sides (A B, then B A), and the summary is
the median of each side's seconds per step and their ratio. The bench runs are stand-ins here
(timing is not tested); the command passed to `python -m bench` uses only options that every
version of it accepts, plus the narrowing options a tree's `--help` lists; a StyleGAN2 level's
time is its regularization cycle's mean."""

import json
import subprocess

import pytest

from bench import ab_commits
from bench.run import parse_args as bench_parse_args


def test_rounds_alternate_and_summary_is_median_ratio(monkeypatch):
    calls = []
    # Seconds per step of each side's successive runs, {level: seconds}.
    fake = {"old": iter([{8: 1.0, 16: 4.0}, {8: 3.0, 16: 6.0}, {8: 2.0, 16: 5.0}]),
            "new": iter([{8: 0.5, 16: 4.0}, {8: 0.7, 16: 2.0}, {8: 0.6, 16: 3.0}])}

    def run_once(directory, args):
        calls.append(directory)
        return next(fake[directory])

    monkeypatch.setattr(ab_commits, "run_once", run_once)
    args = ab_commits.parse_args(["--dirs", ab_commits.REPO, ab_commits.REPO, "--rounds", "3"])
    lines = []
    result = ab_commits.run_ab(["old", "new"], ["old", "new"], args, log=lines.append)
    assert calls == ["old", "new", "new", "old", "old", "new"]
    assert [r["side"] for r in result["rounds"]] == ["A", "B", "B", "A", "A", "B"]
    s = result["summary"]
    assert (s[8]["A_median"], s[8]["B_median"], s[8]["A_min"]) == (2.0, 0.6, 1.0)
    assert s[8]["ratio"] == pytest.approx(0.3)
    assert s[16]["ratio"] == pytest.approx(3.0 / 5.0)
    assert any(line.startswith("   8x8") for line in lines)


def test_bench_command_is_accepted_by_bench():
    args = ab_commits.parse_args(["--revs", "HEAD~1", "HEAD", "--levels", "8,16",
                                  "--steps", "2", "--batch", "4"])
    cmd = ab_commits.bench_command(args)
    assert cmd[1:3] == ["-m", "bench"]
    parsed = bench_parse_args(cmd[3:])
    assert (parsed.levels, parsed.steps, parsed.batch, parsed.pipeline_max_res) == \
        ("8,16", 2, 4, 0)
    assert parsed.json_only and parsed.no_checks and parsed.no_mem1024


def test_dirs_must_hold_the_benchmark(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ab_commits.parse_args(["--dirs", str(tmp_path), ab_commits.REPO])
    assert "has no bench/run.py" in capsys.readouterr().err


def test_narrowing_options_only_where_the_tree_has_them():
    args = ab_commits.parse_args(["--revs", "A", "B", "--widths", "stylegan2-demo"])
    options = ab_commits.supported_options(ab_commits.REPO)  # this tree's `--help`
    assert {"--no-augment", "--lazy-variants", "--levels", "--json-only"} <= options
    cmd = ab_commits.bench_command(args, options)
    assert cmd[-3:] == ["--no-augment", "--lazy-variants", "cycle"]
    parsed = bench_parse_args(cmd[3:])
    assert parsed.no_augment and parsed.lazy_variants == "cycle"
    old_tree = {"--levels", "--widths", "--json-only"}
    assert "--no-augment" not in ab_commits.bench_command(args, old_tree)


def test_a_level_with_a_regularization_cycle_is_timed_by_its_mean(monkeypatch):
    records = [{"kind": "env"},
               {"kind": "train", "pipeline": "off", "resolution": 8, "sec_per_step": 1.0},
               {"kind": "train", "pipeline": "on", "resolution": 8, "sec_per_step": 9.0},
               {"kind": "train_cycle", "resolution": 8, "sec_per_step": 1.5},
               {"kind": "train", "pipeline": "off", "resolution": 16, "sec_per_step": 4.0}]
    stdout = "\n".join(json.dumps(r) for r in records)
    monkeypatch.setattr(ab_commits, "supported_options", lambda directory: set())
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, stdout=stdout, stderr=""))
    args = ab_commits.parse_args(["--revs", "A", "B"])
    assert ab_commits.run_once(ab_commits.REPO, args) == {8: 1.5, 16: 4.0}
