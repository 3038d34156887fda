"""Kill -9 a StyleGAN2 training run mid-tick and resume it with --resume auto: the
regularization cadence continues from the checkpointed step count and the path-length mean
is restored."""

import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
import yaml

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.files import read_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(args, tmp_path):
    return [
        "timeout", "-k", "5", "300", sys.executable, os.path.join(ROOT, "run_training.py"),
        "--config", str(tmp_path / "tiny2.yaml"), "--outdir", str(tmp_path / "results"),
        "--no-progress", *args,
    ]


def _ckpt(prefix):
    reader = tf.train.load_checkpoint(prefix)
    get = lambda name: reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
    return int(get("state/cur_nimg")), int(get("state/step")), float(get("losses/pl_mean"))


def _expected_updates(first_step, steps, interval):
    return sum(1 for s in range(first_step, first_step + steps) if s % interval == 0)


@pytest.mark.large  # two training processes: ~2-3 min on 2 shared cores
def test_kill_and_resume_keeps_the_cadence_and_the_path_length_mean(tmp_path):
    make_tiny_dataset(tmp_path / "data" / "tiny")
    # Ticks of 8 steps; a checkpoint at every tick.
    cfg = tiny_training_config(tmp_path / "data", "tiny", "stylegan2", total_kimg=20.0)
    (tmp_path / "tiny2.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log1 = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(_cli([], tmp_path), cwd=ROOT, env=env, stdout=log1,
                            stderr=subprocess.STDOUT, start_new_session=True)
    run_dir = tmp_path / "results" / "00000-stylegan2-tiny-1gpu"
    ckpt_dir = run_dir / "checkpoints"
    deadline = time.time() + 250
    try:
        # Wait for the checkpoint after step 24 (past the R1 step 16), then kill mid-tick.
        while time.time() < deadline:
            prefix = (tf.train.latest_checkpoint(str(ckpt_dir))
                      if (ckpt_dir / "checkpoint").exists() else None)
            if prefix and int(prefix.rsplit("-", 1)[1]) >= 24:
                break
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log1.close()
    prefix = tf.train.latest_checkpoint(str(ckpt_dir))
    nimg, step, pl_mean = _ckpt(prefix)
    assert step >= 24 and step % 8 == 0 and nimg == 8 * step
    assert pl_mean > 0  # updated at steps 0, 4, ..., from 0
    stats_before = read_jsonl(run_dir / "stats.jsonl")

    out = subprocess.run(_cli(["--resume", "auto", "--total-kimg", str(nimg / 1000 + 0.128)],
                              tmp_path), cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=320)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (f"Resumed from {prefix} at kimg {nimg / 1000:.1f} (tick {step // 8}, lod_key "
            f"[0, 0]); step {step}, pl_mean {pl_mean:.8g}") in out.stdout, out.stdout[-2000:]
    assert sorted(os.listdir(tmp_path / "results")) == ["00000-stylegan2-tiny-1gpu"]
    stats = read_jsonl(run_dir / "stats.jsonl")
    assert [r for r in stats if r["kimg"] <= nimg / 1000] == \
        [r for r in stats_before if r["kimg"] <= nimg / 1000]
    resumed = [r for r in stats if r["kimg"] > nimg / 1000]
    assert [r["tick"] for r in resumed] == [step // 8 + 1, step // 8 + 2]
    # The cadence goes on from the restored step count: path length every 4 steps, R1 every
    # 16 (a restart from step 0 would run R1 in the first resumed tick whatever the step).
    for i, r in enumerate(resumed):
        first = step + 8 * i
        assert r["Updates/G_reg"] == _expected_updates(first, 8, 4) == 2
        assert r["Updates/D_reg"] == _expected_updates(first, 8, 16)
    assert [r["Updates/D_reg"] for r in resumed] in ([1, 0], [0, 1])
    end_nimg, end_step, end_pl_mean = _ckpt(tf.train.latest_checkpoint(str(ckpt_dir)))
    assert (end_nimg, end_step) == (nimg + 128, step + 16) and end_pl_mean != pl_mean
    assert (run_dir / "_finished.txt").exists()
