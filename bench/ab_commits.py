"""Interleaved A/B of the training step time between two versions of the code.

Runs the step-time measurement of `python -m bench` (the training loop's own traced step,
constant inputs, after warm-up) for the given levels, alternately from two source trees, for
N rounds: round r runs A then B when r is even, B then A when it is odd, so that a drift of the
machine's load falls on both. Each run is a fresh `python -m bench` process of that tree (its
own code, the current Python). Prints each round's seconds per step, then per level the median
(and min) of each side and the ratio B / A of the medians (< 1: B is faster).

The trees are two git revisions, checked out for the run in temporary `git worktree`s (removed
at the end), or two directories:

    python -m bench.ab_commits --revs 575a132 gsavg --levels 8,16 --rounds 7
    python -m bench.ab_commits --dirs /path/to/old /path/to/new --levels 8,16 --rounds 7

Only options that every version of `python -m bench` has are passed to it (fp32, no XLA, no
input-pipeline case, no numeric checks, no 1024 memory case), plus those of newer versions that
keep a run to the step time where the tree's `--help` lists them (no augmentation cases; of the
lazy-regularization variants only the cycle's). For a family with lazy regularization (StyleGAN2,
`--widths stylegan2-demo` or `config-f`) a level's time is the mean over the regularization
cycle (the "train_cycle" record), otherwise the plain step's.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Options of newer versions of `python -m bench` that keep a run to the step time: passed to a
# tree whose `--help` lists them (older trees time nothing else anyway).
NARROWING_OPTIONS = (("--no-augment",), ("--lazy-variants", "cycle"))


def bench_command(args, options=()) -> list[str]:
    """The `python -m bench` command line of one run; `options` are the option names the
    tree's `python -m bench` accepts beyond those every version has (`supported_options`)."""
    cmd = [sys.executable, "-m", "bench", "--levels", args.levels, "--widths", args.widths,
           "--precisions", "fp32", "--xla", "off", "--no-checks", "--no-mem1024", "--json-only",
           "--pipeline-max-res", "0", "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    for flag in NARROWING_OPTIONS:
        if flag[0] in options:
            cmd += list(flag)
    return cmd


@functools.lru_cache(maxsize=None)
def supported_options(directory) -> frozenset[str]:
    """The option names (`--...`) that `python -m bench --help` of the tree at `directory`
    lists (asked once per tree)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=directory)
    proc = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=directory, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{directory}: `python -m bench --help` failed "
                           f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return frozenset(word.strip("[],") for word in proc.stdout.split()
                     if word.startswith(("--", "[--")))


def run_once(directory, args) -> dict[int, float]:
    """{level: seconds per step} of one `python -m bench` run of the tree at `directory`: its
    "train" records with the input pipeline off, or where there is one (a family with lazy
    regularization) the level's "train_cycle" record, the mean over the regularization cycle."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=directory)
    cmd = bench_command(args, supported_options(directory))
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or any(r["kind"] == "error" for r in records):
        raise RuntimeError(f"{directory}: `python -m bench` failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    out = {int(r["resolution"]): float(r["sec_per_step"]) for r in records
           if r["kind"] == "train" and r["pipeline"] == "off"}
    out.update({int(r["resolution"]): float(r["sec_per_step"]) for r in records
                if r["kind"] == "train_cycle"})
    return out


@contextlib.contextmanager
def checkouts(revs):
    """Temporary detached worktrees of the git revisions `revs`; yields their paths."""
    tmp = tempfile.mkdtemp(prefix="ab-commits-")
    paths = []
    try:
        for i, rev in enumerate(revs):
            path = os.path.join(tmp, f"{'AB'[i]}")
            subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", path, rev],
                           check=True, capture_output=True, text=True)
            paths.append(path)
        yield paths
    finally:
        for path in paths:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path],
                           capture_output=True)
        subprocess.run(["git", "-C", REPO, "worktree", "prune"], capture_output=True)
        with contextlib.suppress(OSError):
            os.rmdir(tmp)


def run_ab(dirs, names, args, log=print) -> dict:
    """The interleaved rounds; returns {"rounds": [...], "summary": {level: {...}}}."""
    times = {name: {} for name in names}  # name -> level -> [sec/step per round]
    rounds = []
    for r in range(args.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            load = os.getloadavg()[0]
            got = run_once(dirs[i], args)
            for level, sec in got.items():
                times[names[i]].setdefault(level, []).append(sec)
            rounds.append({"round": r, "side": "AB"[i], "name": names[i], "load1": load,
                           "sec_per_step": got})
            log(f"round {r} {'AB'[i]} ({names[i]}) load {load:.1f}: " + ", ".join(
                f"{level}x{level} {sec:.4f} s" for level, sec in sorted(got.items())))
    summary = {}
    log("")
    log(f"{'level':>7} {'A median':>10} {'A min':>10} {'B median':>10} {'B min':>10} "
        f"{'B/A':>6}   (seconds per step; A = {names[0]}, B = {names[1]})")
    for level in sorted(times[names[0]]):
        a, b = times[names[0]][level], times[names[1]].get(level, [])
        if not b:
            continue
        row = {"A_median": statistics.median(a), "A_min": min(a),
               "B_median": statistics.median(b), "B_min": min(b)}
        row["ratio"] = row["B_median"] / row["A_median"]
        summary[level] = row
        log(f"{level:>4}x{level:<2} {row['A_median']:>10.4f} {row['A_min']:>10.4f} "
            f"{row['B_median']:>10.4f} {row['B_min']:>10.4f} {row['ratio']:>6.3f}")
    return {"rounds": rounds, "summary": summary}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.ab_commits",
                                description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    side = p.add_mutually_exclusive_group(required=True)
    side.add_argument("--revs", nargs=2, metavar=("A", "B"), help="two git revisions")
    side.add_argument("--dirs", nargs=2, metavar=("A", "B"), help="two source directories")
    p.add_argument("--levels", default="8,16", help="comma list of levels (default 8,16)")
    p.add_argument("--widths", default="official",
                   help="a `python -m bench --widths` setting (default official)")
    p.add_argument("--rounds", type=int, default=5, help="A/B rounds (default 5)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per level and run")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps (the 1st traces)")
    p.add_argument("--batch", type=int, default=None, help="minibatch (bench's default: 4 "
                   "official, 16 demo)")
    p.add_argument("--json", default=None, help="also write the rounds and summary here")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be >= 1")
    if args.dirs:
        for d in args.dirs:
            if not os.path.isfile(os.path.join(d, "bench", "run.py")):
                p.error(f"--dirs: {d} has no bench/run.py")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.dirs:
        dirs = [os.path.abspath(d) for d in args.dirs]
        result = run_ab(dirs, dirs, args)
    else:
        with checkouts(args.revs) as dirs:
            result = run_ab(dirs, list(args.revs), args)
    if args.json:
        from tf_stylegan.files import atomic_write

        with atomic_write(args.json) as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
