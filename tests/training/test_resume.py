"""Kill -9 a training run of each family mid-tick, resume it with --resume auto, and check that
it continues from the last checkpoint: the counters and the schedule state intact, nothing
written before lost, and for StyleGAN2 the regularization cadence going on from the restored
step count with the path-length mean restored."""

import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

import run_training
from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.files import read_jsonl
from tf_stylegan.snapshot import load_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP_IMAGES, TICK_STEPS = 8, 8  # the tiny config's minibatch and ticks (64 images)
SETUP = {
    # Killed after the checkpoint that follows the 4 -> 8 growth (8x8 stable from step 8).
    "stylegan": dict(overrides=dict(network_snapshot_ticks=2), kill_after=16, resolution=8),
    # Killed after the checkpoint of step 24, past the R1 step 16. The path-length interval 7
    # does not divide the ticks of 8 steps: the regularization counts of the resumed ticks then
    # depend on the step count they start from, and a counter restarted at 0 gives other
    # counts unless the run stopped at a multiple of lcm(8, 7, 16) = 112 steps (the test checks
    # that it can tell).
    "stylegan2": dict(overrides=dict(G_reg_interval=7), kill_after=24, resolution=4),
}


def _cli(args, tmp_path):
    """The command, with its progress reports on: its output goes to a file or a pipe, where
    they must be plain lines."""
    return ["timeout", "-k", "5", "300", sys.executable, os.path.join(ROOT, "run_training.py"),
            *_options(args, tmp_path)]


def _options(args, tmp_path):
    """The command's options: the tiny config and an output directory under `tmp_path`."""
    return ["--config", str(tmp_path / "tiny.yaml"), "--outdir", str(tmp_path / "results"), *args]


def _ckpt_state(prefix):
    """(cur_nimg, step, tick, lod_key, {losses variable: value}) of a checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    suffix = "/.ATTRIBUTES/VARIABLE_VALUE"
    get = lambda name: reader.get_tensor(f"{name}{suffix}")  # noqa: E731
    losses = {key[len("losses/"):-len(suffix)]: float(reader.get_tensor(key))
              for key in reader.get_variable_to_shape_map()
              if key.startswith("losses/") and key.endswith(suffix)}
    return (int(get("state/cur_nimg")), int(get("state/step")), int(get("state/tick")),
            get("state/lod_key").tolist(), losses)


def _updates(first_step, steps, interval):
    """Regularization steps among steps first_step .. first_step + steps - 1 (on every step
    whose index is a multiple of the interval, step 0 included)."""
    return sum(1 for s in range(first_step, first_step + steps) if s % interval == 0)


@pytest.mark.parametrize("family", [
    "stylegan", pytest.param("stylegan2", marks=pytest.mark.large)])  # stylegan2: ~2-3 min
def test_kill_and_resume(tmp_path, family):
    setup = SETUP[family]
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", family, total_kimg=20.0,
                               **setup["overrides"])
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log1 = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(_cli([], tmp_path), cwd=ROOT, env=env, stdout=log1,
                            stderr=subprocess.STDOUT, start_new_session=True)
    run_dir = tmp_path / "results" / f"00000-{family}-tiny-1gpu"
    ckpt_dir = run_dir / "checkpoints"
    deadline = time.time() + 250
    try:
        # Wait for the checkpoint, then kill the process in the middle of the next tick.
        while time.time() < deadline:
            prefix = (tf.train.latest_checkpoint(str(ckpt_dir))
                      if (ckpt_dir / "checkpoint").exists() else None)
            if prefix and int(prefix.rsplit("-", 1)[1]) >= setup["kill_after"]:
                break
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log1.close()
    prefix = tf.train.latest_checkpoint(str(ckpt_dir))
    nimg, step, tick, lod_key, losses = _ckpt_state(prefix)
    assert step >= setup["kill_after"] and step % TICK_STEPS == 0 and tick == step // TICK_STEPS
    assert nimg == STEP_IMAGES * step
    assert lod_key == [0, 0]  # StyleGAN: 8x8 stable, past the fade-in
    assert set(losses) == ({"pl_mean"} if family == "stylegan2" else set())
    assert all(value > 0 for value in losses.values())  # updated from 0 at steps 0, 7, ...
    before = sorted(os.listdir(run_dir))
    stats_before = read_jsonl(run_dir / "stats.jsonl")
    assert not (run_dir / "_finished.txt").exists()

    # Resume: --resume auto finds this run (same dataset and preset) and continues in place.
    target_kimg = nimg / 1000 + 0.128  # two more ticks
    out = subprocess.run(_cli(["--resume", "auto", "--total-kimg", str(target_kimg)], tmp_path),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=320)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    restored = "".join(f", {name} {value:.8g}" for name, value in losses.items())
    message = f"Resumed from {prefix} at kimg {nimg / 1000:.1f} (tick {tick}, lod_key [0, 0])"
    if restored:
        message += f"; step {step}{restored}"
    assert message in out.stdout, out.stdout[-2000:]
    assert sorted(os.listdir(tmp_path / "results")) == [f"00000-{family}-tiny-1gpu"]

    # Nothing written before is lost (temporary files of a write the kill interrupted aside);
    # stats continue from the checkpoint without a gap or a duplicate (a stats line written
    # after the checkpoint, if any, is replaced).
    after = set(os.listdir(run_dir))
    assert set(f for f in before if ".tmp" not in f) - after <= {"checkpoints"}
    stats = read_jsonl(run_dir / "stats.jsonl")
    kimgs = [r["kimg"] for r in stats]
    assert kimgs == sorted(set(kimgs))
    assert [r for r in stats if r["kimg"] <= nimg / 1000] == \
        [r for r in stats_before if r["kimg"] <= nimg / 1000]
    resumed = [r for r in stats if r["kimg"] > nimg / 1000]
    assert [r["tick"] for r in resumed] == [tick + 1, tick + 2]
    assert resumed[0]["kimg"] == (nimg + 64) / 1000
    assert resumed[0]["resolution"] == setup["resolution"]
    assert (run_dir / "_finished.txt").exists()
    assert (run_dir / f"fakes{int(target_kimg * 1000) // 1000:06d}.png").exists()
    end_nimg, end_step, _, _, end_losses = _ckpt_state(tf.train.latest_checkpoint(str(ckpt_dir)))
    assert (end_nimg, end_step) == (nimg + 128, step + 16)
    snaps = sorted(f for f in after if f.startswith("network-snapshot-"))
    assert load_snapshot(run_dir / snaps[-1])[2].config.resolution == setup["resolution"]

    if family == "stylegan2":
        # The cadence goes on from the restored step count: path length every 7 steps, R1
        # every 16; a counter restarted at 0 would give other counts (checked to differ).
        firsts = [step + TICK_STEPS * i for i in range(len(resumed))]
        counts = {p: [r[f"Updates/{p}"] for r in resumed] for p in ("G_reg", "D_reg")}
        continued = {p: [_updates(f, TICK_STEPS, k) for f in firsts]
                     for p, k in (("G_reg", 7), ("D_reg", 16))}
        restarted = {p: [_updates(TICK_STEPS * i, TICK_STEPS, k) for i in range(len(resumed))]
                     for p, k in (("G_reg", 7), ("D_reg", 16))}
        assert continued != restarted, (step, continued)
        assert counts == continued, (step, counts)
        assert end_losses["pl_mean"] != losses["pl_mean"]

    # Output redirected to a file holds complete lines only: no progress-bar redraws (read as
    # bytes: text mode would turn each carriage return into a newline).
    for path in (tmp_path / "run1.log", run_dir / "log.txt"):
        raw = path.read_bytes()
        assert b"\r" not in raw, f"{path.name}: {raw[-2000:]!r}"
        assert b"kimg" in raw


def _wait_for(path, text, proc, deadline, log):
    while time.time() < deadline:
        exited = proc.poll() is not None
        if path.exists() and text in path.read_text():
            return
        assert not exited, log.read_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} in time: {log.read_text()[-3000:]}")


@pytest.mark.large  # two processes of the CLI: ~40 s
def test_sigterm_stops_with_a_checkpoint_and_resume_finishes(tmp_path):
    """SIGTERM mid-tick (and again once the first is acknowledged, if the process is still
    there: it must change nothing): the command writes a checkpoint of where it is, says how to
    continue and exits 75 within seconds; --resume auto then finishes the run, and every
    snapshot loads."""
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", total_kimg=1.0, checkpoint_minutes=0)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run_dir = tmp_path / "results" / "00000-stylegan-tiny-1gpu"
    log = tmp_path / "run1.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(_cli([], tmp_path), cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # Past two ticks (the steps traced, training steadily), into the next group of
            # steps, then stop.
            _wait_for(log, "tick 2 ", proc, time.time() + 200, log)
            time.sleep(1.0)
            sent = time.time()
            proc.send_signal(signal.SIGTERM)
            _wait_for(log, "SIGTERM received", proc, time.time() + 60, log)
            if proc.poll() is None:  # while the step finishes or the checkpoint is written
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            signal_to_exit = time.time() - sent
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert code == 75, text[-3000:]
    assert signal_to_exit < 30, signal_to_exit
    assert "SIGTERM received: finishing the current step" in text
    stopped = [line for line in text.splitlines() if line.startswith("Stopped by SIGTERM")]
    assert len(stopped) == 1 and f"--resume {run_dir}" in stopped[0], text[-3000:]
    prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    nimg, _, tick, _, _ = _ckpt_state(prefix)
    assert f"at kimg {nimg / 1000:.3f}" in stopped[0] and tick >= 2
    assert not (run_dir / "_finished.txt").exists()
    print(f"SIGTERM to exit: {signal_to_exit:.2f} s")

    out = subprocess.run(_cli(["--resume", "auto"], tmp_path), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"Resumed from {prefix} at kimg {nimg / 1000:.1f}" in out.stdout
    assert (run_dir / "_finished.txt").exists()
    stats = read_jsonl(run_dir / "stats.jsonl")
    assert [r["tick"] for r in stats] == list(range(1, len(stats) + 1))
    assert stats[-1]["kimg"] == 1.024  # the first group of 4 x 8 images past 1 kimg
    from tf_stylegan.snapshot import load_snapshot

    for name in sorted(os.listdir(run_dir)):
        if name.startswith("network-snapshot-"):
            load_snapshot(run_dir / name)


def test_dry_run_checks_what_a_resume_would_read(tmp_path):
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", total_kimg=0.064)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    def dry_run(resume):
        """The command's dry run, in this process (it builds nothing, so needs no process of
        its own): (exit status, stdout, stderr)."""
        result = CliRunner().invoke(run_training.main,
                                    _options(["--resume", resume, "--dry-run"], tmp_path))
        if not isinstance(result.exception, (SystemExit, type(None))):
            raise result.exception  # a bug, not a reported error
        return result.exit_code, result.stdout, result.stderr

    missing = str(tmp_path / "nowhere")
    code, out, err = dry_run(missing)
    assert code == 1, out + err
    assert f"Error: --resume {missing}: not a run directory, checkpoint prefix" in err
    assert "Traceback" not in err and err.count("Error:") == 1  # one line
    # A network to transfer from that is no snapshot is refused by the dry run too.
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    code, out, err = dry_run(str(bad))
    assert code == 1, out + err
    assert f"Error: {bad}: not a tf_stylegan snapshot" in err
    assert "Traceback" not in err and err.count("Error:") == 1
    # A finished run: the dry run says what it would continue from.
    done = subprocess.run(_cli([], tmp_path), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "results" / "00000-stylegan-tiny-1gpu"
    code, out, err = dry_run(str(run_dir))
    assert code == 0, err
    prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    assert f"Resume: continue {run_dir} from {prefix}" in out
    # A checkpoint of another network is refused before anything is built.
    other = dict(cfg.to_dict(), network={**cfg.network, "fmap_max": 32})
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(other))
    code, out, err = dry_run(str(run_dir))
    assert code == 1 and "different network config (differs in ['fmap_max'])" in err, err
