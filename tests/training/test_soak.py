"""The preemption soak (docs/training.md, "Stopping and resuming"): a tiny run is killed with
SIGKILL and stopped with SIGTERM at random moments, resumed with `--resume auto` each time, and
finally finished. It must end with every snapshot loadable, the tick statistics complete and in
order, no training lost to a SIGTERM, at most `--checkpoint-minutes` (plus one group of steps)
lost to a SIGKILL, and the same weights as the run left alone."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import yaml

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.files import read_jsonl
from tf_stylegan.snapshot import load_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKPOINT_MINUTES = 0.02  # 1.2 s
# 48 ticks of 64 images. Each life trains its first tick and a random 0.2-4 s more (at most
# about 0.7 kimg on the 2-core CPU), so the three lives end well before the run does; the
# finishing run and the reference run each train what is left / all of it.
TOTAL_KIMG = 3.072
SNAPSHOT_TICKS = 8  # 0.512 kimg: 7 snapshots with tick 1's
LIVES = 3  # SIGKILL, SIGTERM, SIGKILL: the finishing run resumes from a killed life
SLACK = 10.0  # seconds: one group of steps and the checkpoint write, on a loaded 2-core CPU


def _cli(tmp_path, outdir, *args):
    return [sys.executable, os.path.join(ROOT, "run_training.py"), "--config",
            str(tmp_path / "tiny.yaml"), "--outdir", str(outdir), "--no-progress", *args]


def _latest(run_dir):
    directory = run_dir / "checkpoints"
    prefix = tf.train.latest_checkpoint(str(directory)) if directory.is_dir() else None
    if prefix is None:
        return None, None, None
    nimg = int(tf.train.load_checkpoint(prefix).get_tensor(
        "state/cur_nimg/.ATTRIBUTES/VARIABLE_VALUE"))
    return prefix, nimg, os.path.getmtime(prefix + ".index")


def _weights(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.split("/")[0] in ("G", "D", "Gs", "G_opt", "D_opt")}


@pytest.mark.large  # three killed processes, a finishing one and a reference run: ~2 min
def test_killed_and_stopped_at_random_moments_loses_nothing_beyond_the_promise(tmp_path):
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", total_kimg=TOTAL_KIMG,
                      checkpoint_minutes=CHECKPOINT_MINUTES,
                      network_snapshot_ticks=SNAPSHOT_TICKS)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    outdir = tmp_path / "results"
    run_dir = outdir / "00000-stylegan-tiny-1gpu"
    rng = random.Random(7)
    report = []
    for life in range(LIVES):
        kind = "SIGTERM" if life % 2 else "SIGKILL"
        log = tmp_path / f"life{life}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(_cli(tmp_path, outdir, "--resume", "auto"), cwd=ROOT,
                                    env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            # Training starts after "Training for"; once this life's first tick is done (its
            # steps traced, a checkpoint written), it is killed at a random moment.
            began = None
            deadline = time.time() + 240
            while time.time() < deadline:
                text = log.read_text()
                if began is None and "Training for" in text:
                    began = time.time()
                if re.search(r"^tick ", text, re.M):
                    break
                assert proc.poll() is None, text[-3000:]
                time.sleep(0.05)
            time.sleep(rng.uniform(0.2, 4.0))
            killed_at = time.time()
            if kind == "SIGKILL":
                os.kill(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        text = log.read_text()
        prefix, nimg, written = _latest(run_dir)
        if kind == "SIGTERM":
            assert code == 75, text[-3000:]
            stopped = re.search(r"Stopped by SIGTERM at kimg ([0-9.]+)", text)
            assert stopped and nimg == round(float(stopped.group(1)) * 1000), text[-2000:]
            lost = 0.0
        else:
            assert code == -signal.SIGKILL, text[-3000:]
            # Training time after the last checkpoint of this life (or since it began).
            lost = killed_at - max(written or 0.0, began)
            assert lost <= CHECKPOINT_MINUTES * 60 + SLACK, (lost, text[-2000:])
        report.append((kind, nimg, round(lost, 1)))
    done = subprocess.run(_cli(tmp_path, outdir, "--resume", "auto"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print("soak:", report)
    assert sum(kind == "SIGKILL" for kind, _, _ in report) == (LIVES + 1) // 2
    assert len({nimg for _, nimg, _ in report}) > 1  # progress was made between lives

    assert (run_dir / "_finished.txt").exists()
    stats = read_jsonl(run_dir / "stats.jsonl")
    assert [r["tick"] for r in stats] == list(range(1, len(stats) + 1))
    kimg = [r["kimg"] for r in stats]
    assert kimg == sorted(kimg) and kimg[-1] == TOTAL_KIMG
    snapshots = sorted(p for p in os.listdir(run_dir) if p.startswith("network-snapshot-"))
    assert len(snapshots) >= 4  # at tick 1, every 8 ticks (0.512 kimg) and at the end
    for name in snapshots:
        load_snapshot(run_dir / name)
    final, final_nimg, _ = _latest(run_dir)
    assert final_nimg == TOTAL_KIMG * 1000

    # The same run left alone ends with the same weights and optimizer states.
    alone = subprocess.run(_cli(tmp_path, tmp_path / "alone"), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=400)
    assert alone.returncode == 0, alone.stdout[-3000:] + alone.stderr[-3000:]
    reference, _, _ = _latest(tmp_path / "alone" / "00000-stylegan-tiny-1gpu")
    want, got = _weights(reference), _weights(final)
    assert set(want) == set(got) and len(want) > 50
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    ref_stats = read_jsonl(tmp_path / "alone" / "00000-stylegan-tiny-1gpu" / "stats.jsonl")
    assert [{k: v for k, v in r.items() if k.startswith("Loss/")} for r in stats] == \
        [{k: v for k, v in r.items() if k.startswith("Loss/")} for r in ref_stats]
