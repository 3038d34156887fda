"""`python -m bench.demo_curves` reads what a real training run writes (stats.jsonl, the metric's
JSON lines) and turns it into the quality-against-minutes rows of bench/RESULTS.md."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bench import demo_curves
from metrics import registry
from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.files import read_jsonl
from training.loop import Trainer

METRIC = "curves_mean_pixel"

pytestmark = pytest.mark.large  # a real (tiny) training run of 3 ticks with a metric at each


@pytest.fixture(scope="module")
def ada_run(tmp_path_factory):
    """A tiny StyleGAN2 run with ADA, a snapshot and a metric evaluation at each of 3 ticks."""
    root = tmp_path_factory.mktemp("curves")
    make_tiny_dataset(root / "data" / "tiny")
    values = []

    def curves_mean_pixel(Gs, opts):
        # A real (if simple) measurement of Gs: the mean pixel of its images.
        cfg = Gs.config
        z = tf.random.stateless_normal([opts.num_samples, cfg.latent_size], [opts.seed, 1])
        labels = tf.one_hot(tf.range(opts.num_samples) % cfg.label_size, cfg.label_size)
        value = float(tf.reduce_mean(Gs(z, labels, truncation_psi=1.0, noise="const")))
        values.append(value)
        return {METRIC: value}

    registry.register_metric(curves_mean_pixel)
    try:
        cfg = tiny_training_config(root / "data", "tiny", "stylegan2", total_kimg=0.192,
                                   aug="ada", augpipe="blit", ada_interval=2,
                                   metrics=[METRIC], metric_options={"num_samples": 4},
                                   network_snapshot_ticks=1)
        run_dir = root / "run"
        Trainer(cfg, run_dir=str(run_dir), progress=False).train()
    finally:
        registry.unregister_metric(METRIC)
    return run_dir, values


def _main(capsys, *argv):
    assert demo_curves.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return out, json.loads(out[-1])


def test_rows_are_the_runs_snapshots_ticks_and_p(ada_run, capsys):
    run_dir, values = ada_run
    lines, curves = _main(capsys, run_dir, "--metric", METRIC, "--labels", "ada")
    c = curves["ada"]
    ticks = read_jsonl(run_dir / "stats.jsonl")
    assert len(ticks) == 3 and len(values) == 3
    assert c["kimg"] == pytest.approx([0.064, 0.128, 0.192])
    assert c["value"] == pytest.approx(values)
    # Training minutes: the seconds of the ticks up to each snapshot.
    seconds = np.cumsum([t["sec_per_tick"] for t in ticks])
    assert c["minutes"] == pytest.approx(list(seconds / 60.0))
    assert c["p"] == [t["Progress/augment"] for t in ticks]
    assert c["sec_per_kimg"] == sorted(t["sec_per_kimg"] for t in ticks[1:])[1]
    assert lines[0].startswith("ada: ") and len(lines) == 1 + 3 + 1
    assert f"{METRIC} " in lines[1] and " p " in lines[1]


def test_idle_minutes_and_plot(ada_run, capsys, tmp_path):
    run_dir, _ = ada_run
    png = tmp_path / "curves.png"
    _, curves = _main(capsys, run_dir, run_dir, "--metric", METRIC, "--labels", "a,b",
                      "--idle-sec-per-kimg", "9.2", "--plot", png)
    # The same run twice: both at the idle rate, kimg x 9.2 s.
    for label in ("a", "b"):
        assert curves[label]["minutes"] == pytest.approx([k * 9.2 / 60 for k in
                                                          (0.064, 0.128, 0.192)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_names_the_file(ada_run, tmp_path):
    run_dir, _ = ada_run
    with pytest.raises(SystemExit, match="metric-fid_digits.jsonl: missing"):
        demo_curves.main([str(run_dir)])
    with pytest.raises(SystemExit, match="one label per run directory"):
        demo_curves.main([str(run_dir), "--metric", METRIC, "--labels", "a,b"])
