"""The run directory: `results/NNNNN-stylegan-<dataset>-<N>gpu/` and what is written into it.

Layout (official run directory, reference section 3.4, minus the pickles):
    log.txt                     everything printed (tee of stdout)
    training_options.yaml       the resolved TrainingConfig (+ network and schedule configs)
    stats.jsonl                 one JSON line per tick
    events.out.tfevents.*       TensorBoard scalars and image grids
    reals.png, fakesKKKKKK.png  image grids (fakes from Gs, no truncation)
    network-snapshot-KKKKKK.zip tf_stylegan snapshots (no pickle)
    checkpoints/                tf.train.Checkpoint files for --resume
    training_curves.png         loss/score curves from stats.jsonl (at the end)
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

import numpy as np
import yaml

from tf_stylegan.errors import UserError

__all__ = ["Tee", "append_jsonl", "create_run_dir", "find_resume_dir", "plot_training_curves",
           "read_jsonl", "save_image_grid", "write_yaml"]

_RUN_ID = re.compile(r"^(\d+)-")


def _run_ids(outdir: str) -> list[int]:
    if not os.path.isdir(outdir):
        return []
    ids = []
    for name in os.listdir(outdir):
        m = _RUN_ID.match(name)
        if m and os.path.isdir(os.path.join(outdir, name)):
            ids.append(int(m.group(1)))
    return ids


def create_run_dir(outdir: str, dataset: str, num_gpus: int) -> str:
    """Creates `<outdir>/<next id:05d>-stylegan-<dataset>-<num_gpus>gpu` (never reuses an id)."""
    os.makedirs(outdir, exist_ok=True)
    desc = f"stylegan-{os.path.basename(os.path.normpath(dataset))}-{num_gpus}gpu"
    run_id = max(_run_ids(outdir), default=-1) + 1
    while True:
        path = os.path.join(outdir, f"{run_id:05d}-{desc}")
        try:
            os.makedirs(path)  # fails if another process took the id: try the next one
            return path
        except FileExistsError:
            run_id += 1


def find_resume_dir(outdir: str, dataset: str, config_name: str) -> str | None:
    """The latest run directory of the same dataset and preset that holds a checkpoint."""
    best = None
    for path in glob.glob(os.path.join(glob.escape(outdir), "*-stylegan-*")):
        m = _RUN_ID.match(os.path.basename(path))
        options = os.path.join(path, "training_options.yaml")
        if not m or not os.path.isfile(options):
            continue
        if not os.path.isfile(os.path.join(path, "checkpoints", "checkpoint")):
            continue
        try:
            with open(options) as f:
                opts = (yaml.safe_load(f) or {}).get("training", {})
        except (OSError, yaml.YAMLError):
            continue
        if opts.get("dataset") != dataset or opts.get("config_name") != config_name:
            continue
        if best is None or int(m.group(1)) > best[0]:
            best = (int(m.group(1)), path)
    return None if best is None else best[1]


def write_yaml(path: str, data: dict) -> None:
    """Atomic YAML write."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    os.replace(tmp, path)


def append_jsonl(path: str, record: dict) -> None:
    """Appends one JSON line and flushes it to disk (a kill loses at most the current line)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str) -> list[dict]:
    """The records of a JSONL file; a torn last line (killed writer) is ignored."""
    out = []
    if not os.path.isfile(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def save_image_grid(path: str, images: np.ndarray, grid_size) -> np.ndarray:
    """Tiles float images [N,H,W,C] in [-1,1] (or uint8) into a `grid_size` = (cols, rows) PNG.

    Returns the uint8 grid [rows*H, cols*W, C]. Written to a temporary name, then renamed.
    """
    import PIL.Image

    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    cols, rows = grid_size
    n, h, w, c = images.shape
    grid = np.zeros([rows * h, cols * w, c], np.uint8)
    for i in range(min(n, cols * rows)):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = images[i]
    tmp = f"{path}.tmp{os.getpid()}.png"
    PIL.Image.fromarray(grid[..., 0] if c == 1 else grid).save(tmp)
    os.replace(tmp, path)
    return grid


def plot_training_curves(stats_path: str, out_png: str) -> str:
    """Plots losses, scores and R1 / gradient penalty per tick against kimg (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(stats_path)
    if not records:
        raise UserError(f"{stats_path}: no statistics to plot")
    kimg = [r["kimg"] for r in records]
    panels = [
        ("Loss", ["Loss/G", "Loss/D"]),
        ("D scores", ["Loss/scores/real", "Loss/scores/fake"]),
        ("Regularizer", ["Loss/r1_penalty", "Loss/gradient_penalty"]),
        ("Throughput (img/s)", ["Timing/img_per_sec"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            values = [r.get(key) for r in records]
            if any(v is not None for v in values):
                ax.plot(kimg, [np.nan if v is None else v for v in values],
                        label=key.split("/")[-1])
        ax.set_title(title)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    # Mark resolution changes.
    for prev, cur in zip(records, records[1:]):
        if cur.get("resolution") != prev.get("resolution"):
            for ax in axes:
                ax.axvline(cur["kimg"], color="gray", lw=0.6, ls="--")
    fig.tight_layout()
    tmp = f"{out_png}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png


class Tee:
    """Copies everything written to stdout/stderr into `log.txt` (official log.txt)."""

    def __init__(self, path: str):
        self.file = open(path, "a", buffering=1)
        self.stdout, self.stderr = sys.stdout, sys.stderr
        sys.stdout = _TeeStream(self.stdout, self.file)
        sys.stderr = _TeeStream(self.stderr, self.file)

    def close(self):
        sys.stdout, sys.stderr = self.stdout, self.stderr
        self.file.close()


class _TeeStream:
    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text):
        self.stream.write(text)
        # tqdm redraws with carriage returns: keep only finished lines in the log.
        if "\r" not in text:
            self.file.write(text)
        return len(text)

    def flush(self):
        self.stream.flush()
        self.file.flush()

    def isatty(self):
        return self.stream.isatty()

    def fileno(self):
        return self.stream.fileno()
