"""`python -m bench.demo_curves`: a quality metric against training time, from run directories.

Reads what training writes (`stats.jsonl`: kimg and seconds per tick, ADA's p; and
`metric-<name>.jsonl`: the metric at each snapshot, `--metrics NAME --set
network_snapshot_ticks=N`) and prints one table row per evaluated snapshot: kimg, training
minutes, the metric and p. With `--idle-sec-per-kimg`, minutes are idle-machine minutes (kimg
times that rate, scaled per run by its own seconds per kimg against the first run's), for runs that
shared the cores with others; `--plot` draws the curves into a PNG (bench/RESULTS.md).

    python -m bench.demo_curves results/00000-stylegan2-demo-1gpu results/00001-... \\
        --labels "no augmentation,ADA" --idle-sec-per-kimg 9.2 --plot curves.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["curve", "main"]


def _jsonl(path):
    from tf_stylegan.files import read_jsonl

    if not os.path.isfile(path):
        raise SystemExit(f"Error: {path}: missing (a training run directory holds it)")
    return read_jsonl(path)


def curve(run_dir: str, metric: str = "fid_digits") -> dict:
    """{"kimg", "minutes", "value", "p"} lists at each evaluated snapshot of `run_dir`, and its
    median seconds per kimg ("sec_per_kimg")."""
    ticks = _jsonl(os.path.join(run_dir, "stats.jsonl"))
    evals = _jsonl(os.path.join(run_dir, f"metric-{metric}.jsonl"))
    out = {"kimg": [], "minutes": [], "value": [], "p": []}
    for rec in evals:
        kimg = float(rec["kimg"])
        done = [t for t in ticks if t["kimg"] <= kimg + 1e-6]
        out["kimg"].append(kimg)
        out["minutes"].append(sum(t["sec_per_tick"] for t in done) / 60.0)
        out["value"].append(float(rec["results"][metric]))
        out["p"].append(done[-1].get("Progress/augment") if done else None)
    rates = sorted(t["sec_per_kimg"] for t in ticks[1:] or ticks)  # tick 1 holds the tracing
    out["sec_per_kimg"] = rates[len(rates) // 2]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--metric", default="fid_digits")
    parser.add_argument("--labels", default=None, help="Comma-separated, one per run directory.")
    parser.add_argument("--idle-sec-per-kimg", type=float, default=None)
    parser.add_argument("--plot", default=None, help="Write the curves to this PNG.")
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else args.run_dirs
    if len(labels) != len(args.run_dirs):
        raise SystemExit("Error: --labels needs one label per run directory")
    curves = [curve(d, args.metric) for d in args.run_dirs]
    base = curves[0]["sec_per_kimg"]
    for label, c in zip(labels, curves):
        if args.idle_sec_per_kimg:
            rate = args.idle_sec_per_kimg * c["sec_per_kimg"] / base
            c["minutes"] = [k * rate / 60.0 for k in c["kimg"]]
        print(f"{label}: {c['sec_per_kimg']:.1f} s/kimg measured")
        for k, m, v, p in zip(c["kimg"], c["minutes"], c["value"], c["p"]):
            extra = f"  p {p:.3f}" if p is not None else ""
            print(f"  kimg {k:6.1f}  min {m:5.1f}  {args.metric} {v:8.2f}{extra}")
    print(json.dumps({label: c for label, c in zip(labels, curves)}))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tf_stylegan.files import atomic_write

        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        for label, c in zip(labels, curves):
            ax.plot(c["minutes"], c["value"], marker="o", label=label)
        ax.set_xlabel("idle training minutes" if args.idle_sec_per_kimg else "training minutes")
        ax.set_ylabel(f"{args.metric} (lower is better)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_write(args.plot, "wb") as f:
            fig.savefig(f, format="png")
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
