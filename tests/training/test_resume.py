"""Kill -9 a training run mid-tick, resume it with --resume auto, and check that it continues
from the last checkpoint with the schedule state intact and nothing written before lost."""

import os
import signal
import subprocess
import sys
import time

import tensorflow as tf
import yaml

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.files import read_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(args, tmp_path):
    """The command, with its progress reports on: its output goes to a file or a pipe, where
    they must be plain lines."""
    return [
        "timeout", "-k", "5", "240", sys.executable, os.path.join(ROOT, "run_training.py"),
        "--config", str(tmp_path / "tiny.yaml"), "--outdir", str(tmp_path / "results"), *args,
    ]


def _ckpt_state(prefix):
    reader = tf.train.load_checkpoint(prefix)
    get = lambda name: reader.get_tensor(f"state/{name}/.ATTRIBUTES/VARIABLE_VALUE")
    return int(get("cur_nimg")), get("lod_key").tolist(), int(get("tick"))


def test_kill_and_resume(tmp_path):
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", total_kimg=20.0, network_snapshot_ticks=2)
    preset = cfg.to_dict()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(preset))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log1 = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(_cli([], tmp_path), cwd=ROOT, env=env, stdout=log1,
                            stderr=subprocess.STDOUT, start_new_session=True)
    run_dir = tmp_path / "results" / "00000-stylegan-tiny-1gpu"
    ckpt_index = run_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 200
    try:
        # Wait for two checkpoints (the second one after the 4 -> 8 LOD change), then kill
        # the process in the middle of the next tick.
        while time.time() < deadline:
            prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints")) \
                if ckpt_index.exists() else None
            if prefix and int(prefix.rsplit("-", 1)[1]) >= 16:
                break
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log1.close()
    prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    nimg, lod_key, tick = _ckpt_state(prefix)
    assert nimg >= 128 and tick >= 2
    assert lod_key == [0, 0]  # 8x8 stable: past the fade-in
    before = sorted(os.listdir(run_dir))
    stats_before = read_jsonl(run_dir / "stats.jsonl")
    assert not (run_dir / "_finished.txt").exists()

    # Resume: --resume auto finds this run (same dataset and preset) and continues in place.
    target_kimg = nimg / 1000 + 0.128  # two more ticks
    out = subprocess.run(_cli(["--resume", "auto", "--total-kimg", str(target_kimg)], tmp_path),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=260)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"Resumed from {prefix} at kimg {nimg / 1000:.1f} (tick {tick}, lod_key [0, 0])" \
        in out.stdout, out.stdout[-2000:]
    assert sorted(os.listdir(tmp_path / "results")) == ["00000-stylegan-tiny-1gpu"]

    # Nothing written before is lost; stats continue from the checkpoint without a gap or a
    # duplicate (a stats line written after the checkpoint, if any, is replaced).
    after = set(os.listdir(run_dir))
    # (temporary files of a write the kill interrupted aside)
    assert set(f for f in before if ".tmp" not in f) - after <= {"checkpoints"}
    stats = read_jsonl(run_dir / "stats.jsonl")
    kimgs = [r["kimg"] for r in stats]
    assert kimgs == sorted(set(kimgs))
    assert [r for r in stats if r["kimg"] <= nimg / 1000] == \
        [r for r in stats_before if r["kimg"] <= nimg / 1000]
    resumed = [r for r in stats if r["kimg"] > nimg / 1000]
    assert [r["tick"] for r in resumed] == [tick + 1, tick + 2]
    assert resumed[0]["kimg"] == (nimg + 64) / 1000 and resumed[0]["resolution"] == 8
    assert (run_dir / "_finished.txt").exists()
    assert (run_dir / f"fakes{int(target_kimg * 1000) // 1000:06d}.png").exists()
    final_prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    assert _ckpt_state(final_prefix)[0] == nimg + 128
    from tf_stylegan.snapshot import load_snapshot

    snaps = sorted(f for f in after if f.startswith("network-snapshot-"))
    G, D, Gs = load_snapshot(run_dir / snaps[-1])
    assert Gs.config.resolution == 8

    # Output redirected to a file holds complete lines only: no progress-bar redraws (read as
    # bytes: text mode would turn each carriage return into a newline).
    for path in (tmp_path / "run1.log", run_dir / "log.txt"):
        raw = path.read_bytes()
        assert b"\r" not in raw, f"{path.name}: {raw[-2000:]!r}"
        assert b"kimg" in raw
