"""What a run directory `results/NNNNN-stylegan-<dataset>-<N>gpu/` holds, and writing it.

Layout (the official run directory of `training_loop.py` / `submit.py`, minus the pickles):
    log.txt                     everything printed (tee of stdout and stderr)
    training_options.yaml       the resolved TrainingConfig (+ network and schedule configs)
    stats.jsonl                 one JSON line per tick
    events.out.tfevents.*       TensorBoard scalars and image grids
    reals.png, fakesKKKKKK.png  image grids (fakes from Gs, no truncation)
    network-snapshot-KKKKKK.zip tf_stylegan snapshots (no pickle)
    checkpoints/                tf.train.Checkpoint files for --resume
    training_curves.png         loss/score curves from stats.jsonl (at the end)
    _finished.txt               written when the run reaches total_kimg

Every file but the append-only ones (log.txt, stats.jsonl) is written to a temporary name and
renamed (`tf_stylegan.files`), so a kill never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import yaml

from data.image_files import save_png
from tf_stylegan.errors import UserError
from tf_stylegan.files import append_jsonl, atomic_path, atomic_write, read_jsonl
from tf_stylegan.images import image_grid, to_uint8

__all__ = ["RunDir", "Tee", "plot_training_curves", "save_image_grid"]


class RunDir:
    """The files of one run directory (see the module docstring).

    Args:
        path: the run directory (it must exist).
    """

    OPTIONS = "training_options.yaml"
    STATS = "stats.jsonl"

    def __init__(self, path):
        self.path = os.fspath(path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def checkpoints(self) -> str:
        """The directory of the resumable checkpoints."""
        return self.file("checkpoints")

    def snapshot_path(self, nimg: int) -> str:
        """`network-snapshot-KKKKKK.zip` for `nimg` images shown (official naming, in kimg)."""
        return self.file(f"network-snapshot-{nimg // 1000:06d}.zip")

    @staticmethod
    def fakes_name(nimg: int) -> str:
        """`fakesKKKKKK.png`, the grid of Gs images at `nimg` images shown (in kimg)."""
        return f"fakes{nimg // 1000:06d}.png"

    # -- training_options.yaml --------------------------------------------------------------------
    def write_options(self, options: dict) -> None:
        with atomic_write(self.file(self.OPTIONS)) as f:
            yaml.safe_dump(options, f, sort_keys=False, default_flow_style=None)

    def read_options(self) -> dict | None:
        """The options written by `write_options`, or None when there are none (or unreadable)."""
        try:
            with open(self.file(self.OPTIONS)) as f:
                options = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            return None
        return options if isinstance(options, dict) else None

    # -- stats.jsonl ------------------------------------------------------------------------------
    def append_stats(self, record: dict) -> None:
        append_jsonl(self.file(self.STATS), record)

    def read_stats(self) -> list[dict]:
        return read_jsonl(self.file(self.STATS))

    def truncate_stats(self, max_kimg: float) -> None:
        """Drops the ticks after `max_kimg` (written after the checkpoint a run resumes from, and
        about to be redone)."""
        keep = [r for r in self.read_stats() if r["kimg"] <= max_kimg]
        with atomic_write(self.file(self.STATS)) as f:
            f.writelines(json.dumps(r) + "\n" for r in keep)

    # -- Images, curves, end marker ---------------------------------------------------------------
    def save_grid(self, name: str, images, grid_size) -> np.ndarray:
        """Writes the image grid `name` (e.g. reals.png); see `save_image_grid`."""
        return save_image_grid(self.file(name), images, grid_size)

    def plot_curves(self) -> str:
        return plot_training_curves(self.file(self.STATS), self.file("training_curves.png"))

    def mark_finished(self, nimg: int) -> None:
        with atomic_write(self.file("_finished.txt")) as f:
            f.write(f"kimg {nimg / 1000:.1f}\n")

    def open_log(self) -> Tee:
        """Starts copying stdout and stderr into log.txt (close the Tee to stop)."""
        return Tee(self.file("log.txt"))


def save_image_grid(path, images, grid_size) -> np.ndarray:
    """Tiles images [N,H,W,C] (floats in [-1, 1], or uint8) into a `grid_size` = (columns, rows)
    PNG and returns the uint8 grid [rows*H, columns*W, C].

    Floats become uint8 with `tf_stylegan.images.to_uint8`, `floor(x * 127.5 + 128)` clipped,
    as every other image of the project. The official training grids use
    `rint((x + 1) * 127.5)` (`misc.convert_to_pil_image`); the two differ by one level only where
    `(x + 1) * 127.5` is exactly n + 0.5 with n even (rint rounds those half-way values to even).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.asarray(to_uint8(images))
    columns, rows = grid_size
    grid = image_grid(images, columns, rows)
    save_png(path, grid)
    return grid


def plot_training_curves(stats_path, out_png) -> str:
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
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return os.fspath(out_png)


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
        # Terminal progress bars redraw with carriage returns: keep only finished lines.
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
