"""run_metrics.py: the click CLI end to end, with stand-in or small real networks."""

import json
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import run_metrics
from metrics import inception as inception_module
from metrics import lpips as lpips_module
from metrics.lpips import LPIPS, save_lpips_npz
from tests.metrics.stand_ins import (
    random_linear_generator,
    write_tfrecord_dataset,
    write_tiny_inception_graph,
)
from tf_stylegan.errors import UserError


@pytest.fixture(scope="module")
def lpips_file(tmp_path_factory):
    keras.utils.set_random_seed(0)
    net = LPIPS()
    for w in net.lin:
        w.assign(np.abs(np.random.RandomState(0).standard_normal(w.shape)).astype(np.float32))
    path = str(tmp_path_factory.mktemp("lpips") / "lpips_vgg16.npz")
    save_lpips_npz(net, path)
    return path


def test_ppl_through_the_cli(tmp_path, lpips_file, monkeypatch):
    network = tmp_path / "network-snapshot-000100.zip"
    network.write_bytes(b"stand-in")
    G = random_linear_generator(resolution=32)
    info = {"metadata": {"kimg": 100.352}}  # as a training snapshot records it
    monkeypatch.setattr(run_metrics, "load_network",
                        lambda path, with_info: (None, None, G, info))
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(run_metrics.main, [
        "--network", str(network), "--metrics", "ppl_wend,ppl_zfull", "--lpips", lpips_file,
        "--num-samples", "4", "--batch-size", "2", "--run-dir", str(run_dir), "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "ppl_wend" in result.output and "ppl_zfull" in result.output
    for name in ("ppl_wend", "ppl_zfull"):
        lines = (run_dir / f"metric-{name}.jsonl").read_text().splitlines()
        record = json.loads(lines[0])
        assert len(lines) == 1 and record["metric"] == name and record["num_samples"] == 4
        assert record["snapshot"] == network.name and record["kimg"] == 100.352
        assert np.isfinite(record["results"][name]) and record["results"][name] > 0


def test_missing_metric_networks_fail_before_loading(tmp_path, monkeypatch):
    network = tmp_path / "snap.zip"
    network.write_bytes(b"x")
    (tmp_path / "datasets" / "tiny").mkdir(parents=True)
    monkeypatch.delenv(inception_module.INCEPTION_ENV, raising=False)
    monkeypatch.delenv(lpips_module.LPIPS_ENV, raising=False)

    def never(path):
        raise AssertionError("the network should not be loaded")

    monkeypatch.setattr(run_metrics, "load_network", never)
    runner = CliRunner()
    base = ["--network", str(network), "--data-dir", str(tmp_path / "datasets")]
    result = runner.invoke(run_metrics.main, base + ["--metrics", "fid50k", "--dataset", "tiny"])
    assert result.exit_code == 1
    assert inception_module.INCEPTION_2015_URL in result.output
    result = runner.invoke(run_metrics.main, base + ["--metrics", "ppl_wend"])
    assert result.exit_code == 1 and "LPIPS" in result.output
    result = runner.invoke(run_metrics.main, base + ["--metrics", "fid50k"])
    assert result.exit_code == 2 and "--dataset" in result.output
    result = runner.invoke(run_metrics.main, base + ["--metrics", "fid50k,nope"])
    assert result.exit_code == 2 and "unknown metric" in result.output


@pytest.mark.parametrize("mirror", [True, False])
def test_mirror_setting_from_the_files_training_writes(tmp_path, mirror):
    # A real (tiny) training run writes the snapshot and training_options.yaml.
    import yaml

    import tf_stylegan as sg
    from tests.tiny_networks import make_tiny_dataset, tiny_training_config
    from training import launch

    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", mirror=mirror, total_kimg=0.016,
                               outdir=str(tmp_path / "runs"))
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump(cfg.to_dict()))
    run_dir = launch.run(preset=str(preset), progress=False, print_fn=lambda *a: None)
    snapshots = sorted(os.listdir(run_dir))
    snapshot = os.path.join(run_dir, [f for f in snapshots if f.endswith(".zip")][-1])
    assert run_metrics.run_mirror_setting(snapshot) is mirror  # from the snapshot's metadata
    # A snapshot without metadata: from the run directory's training_options.yaml.
    G, D, Gs = sg.load_snapshot(snapshot)
    bare = os.path.join(run_dir, "network-snapshot-bare.zip")
    sg.save_snapshot(bare, G, D, Gs)
    assert run_metrics.run_mirror_setting(bare) is mirror
    # Neither: unknown. A corrupt options file: a clear error.
    elsewhere = tmp_path / "network-snapshot-000000.zip"
    sg.save_snapshot(elsewhere, G, D, Gs)
    assert run_metrics.run_mirror_setting(str(elsewhere)) is None
    (tmp_path / "training_options.yaml").write_text("training: [unclosed\n")
    with pytest.raises(UserError, match="training_options.yaml: cannot read the run's options"):
        run_metrics.run_mirror_setting(str(elsewhere))


def test_real_generator_snapshot(tmp_path, lpips_file):
    """The metrics on tf_stylegan's own Generator, loaded from a snapshot by the CLI; FID with
    a tiny stand-in of the 2015 Inception graph (64 features) on a TFRecord dataset."""
    from tests.tiny_networks import tiny_networks
    from tf_stylegan.snapshot import save_snapshot

    G, D = tiny_networks("stylegan", 32)
    path = str(tmp_path / "network-snapshot-000001.zip")
    save_snapshot(path, G, D, G)
    graph = str(tmp_path / "classify_image_graph_def.pb")
    write_tiny_inception_graph(graph, features=64)
    rng = np.random.RandomState(0)
    write_tfrecord_dataset(str(tmp_path / "datasets" / "tiny"),
                           rng.randint(0, 256, [100, 32, 32, 3]).astype(np.uint8))
    result = CliRunner().invoke(run_metrics.main, [
        "--network", path, "--metrics", "ppl_zend,fid50k", "--lpips", lpips_file,
        "--num-samples", "80", "--batch-size", "40", "--no-progress", "--inception", graph,
        "--dataset", "tiny", "--data-dir", str(tmp_path / "datasets"),
        "--cache-dir", str(tmp_path / "cache"),
    ])
    assert result.exit_code == 0, result.output
    assert "Mirrored reals: off" in result.output
    ppl = json.loads((tmp_path / "metric-ppl_zend.jsonl").read_text())["results"]
    assert np.isfinite(ppl["ppl_zend"]) and ppl["ppl_zend"] > 0
    fid = json.loads((tmp_path / "metric-fid50k.jsonl").read_text())["results"]
    assert np.isfinite(fid["fid50k"]) and fid["fid50k"] > 0 and fid["num_reals"] == 80
