"""Training that survives preemption (docs/training.md, "Stopping and resuming"): a stop request
ends a run with a checkpoint, clock checkpoints land in the middle of ticks, and a run resumed
from either ends with the weights, optimizer states, Gs, counters and tick statistics of the
same run left alone, bit for bit."""

import os
import resource
import signal

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.errors import UserError
from tf_stylegan.files import read_jsonl
from training.checkpoint import latest_checkpoint
from training.loop import Trainer
from training.preemption import StopSignals

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Wall-clock values, which differ between any two runs.
TIMING = ("state/train_time", "state/tick_seconds")


class Never:
    """No stop request: the run goes to its end (without touching the process's handlers)."""

    requested, name = False, None


class StopAt:
    """A stop request that arrives once the trainer has shown `nimg` images (what a SIGTERM
    does, at a known moment)."""

    def __init__(self, nimg, name="SIGTERM"):
        self.nimg, self.name, self.trainer = nimg, name, None

    @property
    def requested(self):
        return self.trainer.nimg >= self.nimg


class CrashAt(StopAt):
    """The process dies (an exception out of the loop) once `nimg` images are shown: what a
    SIGKILL or a power loss does, after whatever the run had written by then."""

    @property
    def requested(self):
        if self.trainer.nimg >= self.nimg:
            raise _Crash
        return False


class _Crash(Exception):
    pass


def _values(trainer):
    return {name: np.array(v.numpy()) for name, v in trainer.checkpoint.values.items()
            if name not in TIMING}


def _losses(run_dir):
    return [{k: v for k, v in r.items() if k.startswith(("Loss/", "Updates/"))} | {
        "kimg": r["kimg"], "tick": r["tick"]} for r in read_jsonl(run_dir / "stats.jsonl")]


def _assert_same(a, b):
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _uninterrupted(cfg, run_dir):
    trainer = Trainer(cfg, run_dir=run_dir, progress=False, log=lambda s: None)
    trainer.train(stop=Never())
    return trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_tiny_dataset(root / "tiny", resolution=8)
    return root


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """{case: (checkpoint values, tick losses)} of each case's run left alone (computed once)."""
    out = {}

    def get(case):
        if case not in out:
            run_dir = tmp_path_factory.mktemp(case)
            trainer = _uninterrupted(CASES[case](data), run_dir)
            out[case] = _values(trainer), _losses(run_dir)
        return out[case]

    return get


CASES = {
    # StyleGAN growing 4 -> 8: ticks of 96 images (12 steps), the fade-in from 32 to 96 images;
    # a stop at 64 images is in the middle of both.
    "stylegan-fade-in": lambda data: tiny_training_config(
        data, "tiny", total_kimg=0.192, schedule={"lod_transition_kimg": 0.064,
                                                  "tick_kimg_base": 0.096}),
    # StyleGAN2: R1 every 16 steps (steps 0 and 16 of 24), path length every 4; a stop at 96
    # images (step 12) is mid-tick and before the second R1 step.
    "stylegan2-lazy-reg": lambda data: tiny_training_config(
        data, "tiny", "stylegan2", total_kimg=0.192, schedule={"tick_kimg_base": 0.128}),
}
STOP_NIMG = {"stylegan-fade-in": 64, "stylegan2-lazy-reg": 96}


@pytest.mark.large  # three tiny runs of 24 steps (uninterrupted, stopped, resumed): ~1 min
@pytest.mark.parametrize("case", sorted(CASES))
def test_stop_request_then_resume_equals_never_stopping(data, tmp_path, case, uninterrupted):
    cfg = CASES[case](data)
    expected, expected_losses = uninterrupted(case)

    log = []
    stop = StopAt(STOP_NIMG[case])
    first = Trainer(cfg, run_dir=tmp_path / "run", progress=False, log=log.append)
    stop.trainer = first
    first.train(stop=stop)
    assert first.stopped_by == "SIGTERM" and first.nimg == STOP_NIMG[case]
    assert any(line.startswith("Stopped by SIGTERM at kimg 0.0") and "--resume" in line
               for line in log), log
    if case == "stylegan-fade-in":  # really inside a fade-in and a tick
        sched = first.schedule()
        assert sched.resolution == 8 and 0 < sched.alpha < 1
    prefix = latest_checkpoint(str(tmp_path / "run"))
    assert int(prefix.rsplit("-", 1)[1]) == STOP_NIMG[case] // 8  # the checkpoint of the stop
    assert not (tmp_path / "run" / "_finished.txt").exists()

    resumed = Trainer(cfg, run_dir=tmp_path / "run", progress=False, log=lambda s: None)
    resumed.train(resume=str(tmp_path / "run"), stop=Never())
    _assert_same(expected, _values(resumed))
    assert _losses(tmp_path / "run") == expected_losses
    if case == "stylegan2-lazy-reg":  # the second R1 step happened after the resume
        assert [r["Updates/D_reg"] for r in _losses(tmp_path / "run")] == [1, 1]


@pytest.mark.large  # two tiny runs of 24 steps: ~40 s
def test_clock_checkpoint_mid_tick_then_kill_loses_nothing(data, tmp_path, uninterrupted):
    """Checkpoints between every two groups of 4 steps (checkpoint_minutes ~ 0); the process
    dies at 96 images (step 12), after the checkpoint at 64 (step 8), in the middle of the first
    tick (128 images); a new process resumes from it exactly."""
    cfg = CASES["stylegan2-lazy-reg"](data)
    cfg.checkpoint_minutes = 1e-9
    expected, expected_losses = uninterrupted("stylegan2-lazy-reg")
    crash = CrashAt(96)
    first = Trainer(cfg, run_dir=tmp_path / "run", progress=False, log=lambda s: None)
    crash.trainer = first
    with pytest.raises(_Crash):
        first.train(stop=crash)
    prefix = latest_checkpoint(str(tmp_path / "run"))
    reader = tf.train.load_checkpoint(prefix)
    assert int(prefix.rsplit("-", 1)[1]) == 8
    assert reader.get_tensor("state/tick/.ATTRIBUTES/VARIABLE_VALUE") == 0
    assert reader.get_tensor("state/tick_seconds/.ATTRIBUTES/VARIABLE_VALUE") > 0
    resumed = Trainer(cfg, run_dir=tmp_path / "run", progress=False, log=lambda s: None)
    resumed.train(resume=str(tmp_path / "run"), stop=Never())
    _assert_same(expected, _values(resumed))
    assert _losses(tmp_path / "run") == expected_losses


def test_stop_signals_set_a_flag_and_restore_the_handlers():
    lines = []
    previous = signal.getsignal(signal.SIGUSR1)
    with StopSignals(lines.append) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGUSR1)  # handled at the next bytecode: no exit
        assert stop.requested and stop.name == "SIGUSR1"
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping
        assert stop.name == "SIGUSR1"
    assert signal.getsignal(signal.SIGUSR1) is previous
    assert "SIGUSR1 received: finishing" in lines[0] and "already stopping" in lines[1]


def test_a_failed_checkpoint_write_names_the_directory_and_keeps_the_previous(data, tmp_path):
    """A full disk, emulated by a file-size limit (RLIMIT_FSIZE, no root needed): writing the
    second checkpoint fails with a one-line error naming the checkpoint directory, and the
    first checkpoint is still the latest and loads."""
    cfg = CASES["stylegan2-lazy-reg"](data)
    cfg.checkpoint_minutes = 0.0
    trainer = Trainer(cfg, run_dir=tmp_path / "run", progress=False, log=lambda s: None)
    trainer.run_steps(4)
    first = trainer.save_run_checkpoint()
    trainer.run_steps(4)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(UserError) as info:
            trainer.save_run_checkpoint()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "run" / "checkpoints") in message
    assert f"the previous one, {first}, is kept" in message
    assert latest_checkpoint(str(tmp_path / "run")) == first
    restored = Trainer(cfg, progress=False, log=lambda s: None)
    restored.restore(str(tmp_path / "run"))
    assert restored.nimg == 32


_WORKER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, {root!r})
from tests.training.test_preemption import CASES, Never, StopAt
from training.loop import Trainer
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
cfg = CASES["stylegan2-lazy-reg"]({data!r})
cfg.minibatch_gpu = 4  # the global minibatch of 8: one pass of 4 on each worker
t = Trainer(cfg, run_dir={run_dir!r}, progress=False)
stop = StopAt(64) if index == 1 else Never()  # the signal reaches worker 1 only
stop.trainer = t
t.train(stop=stop)
print(f"worker {{index}} stopped_by={{t.stopped_by}} nimg={{t.nimg}} chief={{t.chief}}", flush=True)
"""


@pytest.mark.large  # two worker processes: ~1 min
def test_workers_stop_together_when_one_gets_the_signal(data, tmp_path):
    """MultiWorkerMirroredStrategy: a stop request on worker 1 only stops both workers after
    the same step (`StopAgreement`), and the chief writes the checkpoint of that step."""
    from tests.two_workers import start_two_workers, worker_logs

    script = tmp_path / "worker.py"
    run_dir = tmp_path / "run"
    script.write_text(_WORKER.format(root=ROOT, data=str(data), run_dir=str(run_dir)))
    procs = start_two_workers(script, seconds=300)
    logs = worker_logs(procs, seconds=320)
    for index, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, log[-3000:]
        expected = "SIGTERM" if index == 1 else "a stop request"
        assert f"worker {index} stopped_by={expected} nimg=64" in log, log[-3000:]
    prefix = latest_checkpoint(str(run_dir))
    assert int(prefix.rsplit("-", 1)[1]) == 8  # step 8 = 64 images, written by the chief
