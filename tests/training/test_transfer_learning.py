"""Transfer learning (`--resume NETWORK`) from the official StyleGAN2 fixture pickle and from our
snapshots: what `--resume` names, the weights copied by name and shape (the official outputs
reproduced from the started run's networks), a fresh run at kimg 0 with the official
ada_kimg 100 and no Gs ramp-up, and the errors for networks that do not fit."""

import os

import numpy as np
import pytest
import yaml

from data.writer import write_arrays
from tests.paths import FIXTURES
from tests.tiny_networks import tiny_training_config
from tf_stylegan.errors import UserError
from tf_stylegan.files import read_jsonl
from training import launch
from training.loop import Trainer
from training.trained_networks import variables_by_name
from training.transfer_learning import RESUME_SPECS, resume_kind, start_from_network

PICKLE = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl")
OUTPUTS = os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32-outputs.npz")
# The fixture network's architecture (tests/fixtures/official-stylegan2/README.md).
PICKLE_NETWORK = dict(fmap_base=512, fmap_max=64, latent_size=64, dlatent_size=64,
                      mapping_fmaps=64, mapping_layers=8)


@pytest.fixture(scope="module")
def rgb_data(tmp_path_factory):
    """Tiny unlabelled RGB datasets, `rgb32` and `rgb16` (8 random images each)."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.RandomState(3)
    for res in (32, 16):
        images = rng.randint(0, 256, [8, 3, res, res]).astype(np.uint8)
        write_arrays(str(root / f"rgb{res}"), images, None, progress=False)
    return root


def _config(data, dataset, **kw):
    fields = dict(cond=False, network=dict(PICKLE_NETWORK), resolution=None,
                  schedule=dict(minibatch_base=4, tick_kimg_base=0.008), minibatch_gpu=4,
                  total_kimg=0.016, aug="ada", augpipe="bgc", grid_size=[2, 2])
    fields.update(kw)
    return tiny_training_config(data, dataset, "stylegan2", **fields)


def test_what_resume_names(tmp_path):
    run = tmp_path / "00003-stylegan2-x-1gpu"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "ckpt-8.index").write_text("")
    snapshot = tmp_path / "network-snapshot-000100.zip"
    snapshot.write_bytes(b"PK")
    assert resume_kind(None) is None and resume_kind("") is None
    for continued in ("auto", str(run), str(run / "checkpoints"), str(run / "checkpoints/ckpt-8")):
        assert resume_kind(continued) == "continue", continued
    for network in (str(snapshot), PICKLE, "https://example.com/net.pkl", "ffhq256",
                    "stylegan2-ffhq-config-f"):
        assert resume_kind(network) == "transfer", network
    with pytest.raises(UserError, match="not a run directory, checkpoint prefix, network file"):
        resume_kind(str(tmp_path / "missing"))
    # stylegan2-ada-pytorch train.py's source networks.
    assert sorted(RESUME_SPECS) == ["celebahq256", "ffhq1024", "ffhq256", "ffhq512",
                                    "lsundog256"]
    assert RESUME_SPECS["ffhq256"] == (
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
        "transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl")


def test_transfer_from_the_official_pickle_reproduces_its_outputs(rgb_data):
    t = Trainer(_config(rgb_data, "rgb32"), progress=False)
    lines = []
    report = start_from_network(t, PICKLE, lines.append)
    assert report["kept"] == [] and report["unused"] == []
    assert len(report["copied"]) == sum(len(variables_by_name(t.networks.network(n)))
                                        for n in ("G", "D", "Gs"))
    assert lines[0].startswith(f"Transfer learning from {PICKLE}: {len(report['copied'])} "
                               "variables copied; starting at kimg 0")
    out = dict(np.load(OUTPUTS))
    Gs, D = t.networks.Gs, t.networks.D
    psi1 = np.transpose(Gs(out["z"], truncation_psi=1.0, noise="const").numpy(), [0, 3, 1, 2])
    scores = D(np.transpose(out["D_in"], [0, 2, 3, 1])).numpy()
    for got, ref in ((psi1, out["psi1"]), (scores, out["D"])):
        assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4
    # A fresh run: no images shown, fresh optimizers, p from augment_p.
    assert t.nimg == 0 and int(t.networks.D_opt.iterations.numpy()) == 0
    assert float(t.losses.augment.p.numpy()) == 0.0


def test_transfer_to_another_resolution_keeps_what_the_source_lacks(rgb_data):
    t = Trainer(_config(rgb_data, "rgb16"), progress=False)
    report = start_from_network(t, PICKLE, lambda line: None)
    # D reads the image at 16x16 with a FromRGB the 32x32 source does not have; the source's
    # 32x32 blocks have no place in a 16x16 run.
    assert report["kept"] == ["D/from_rgb16/weight", "D/from_rgb16/bias"]
    assert "D/conv32x32/weight" in report["unused"] and "D/from_rgb32/weight" in report["unused"]
    assert "G/synthesis/conv32x32_up/conv/weight" in report["unused"]
    assert "D/conv16x16/weight" in report["copied"]


def test_networks_that_do_not_fit_are_refused(rgb_data):
    narrow = _config(rgb_data, "rgb32", network=dict(PICKLE_NETWORK, fmap_max=32))
    with pytest.raises(UserError, match=r"of another shape: .*\. Its config differs in .*"
                                        r"fmap_max.*64 \(run: 32\)"):
        start_from_network(Trainer(narrow, progress=False), PICKLE)
    stylegan = tiny_training_config(rgb_data, "rgb32", cond=False)
    with pytest.raises(UserError, match="a 'stylegan2' network cannot start a 'stylegan' run"):
        start_from_network(Trainer(stylegan, progress=False), PICKLE)


@pytest.mark.large  # two traced 32x32 step variants: ~1-2 min
def test_run_training_transfers_into_a_fresh_run(rgb_data, tmp_path):
    preset = tmp_path / "transfer.yaml"
    # Ticks of 2 steps, checked after every step.
    preset.write_text(yaml.safe_dump(_config(rgb_data, "rgb32", minibatch_repeats=1).to_dict()))
    lines = []
    run_dir = launch.run(preset=str(preset), outdir=str(tmp_path / "results"), resume=PICKLE,
                         progress=False, print_fn=lines.append, overrides=["ada_interval=1"])
    assert os.path.basename(run_dir) == "00000-stylegan2-rgb32-1gpu"
    log = "\n".join(lines)
    assert f"Transfer learning from {PICKLE}" in log
    stats = read_jsonl(os.path.join(run_dir, "stats.jsonl"))
    assert [r["kimg"] for r in stats] == [0.008, 0.016]  # from kimg 0, not the source's
    assert all("Progress/augment" in r and "Loss/signs/real" in r for r in stats)
    assert sum(line.startswith("tick ") and " augment " in line for line in lines) == 2
    with open(os.path.join(run_dir, "training_options.yaml")) as f:
        training = yaml.safe_load(f)["training"]
    # The official transfer settings (train.py:313-314).
    assert training["ada_kimg"] == 100 and training["G_smoothing_rampup"] is None
    # p moves by the official step of batch 4, interval 1, ada_kimg 100 (4e-5) after each of
    # the 4 steps, from 0: a whole number of steps, at most 4.
    steps = stats[-1]["Progress/augment"] / (4 * 1 / 100000)
    assert abs(steps - round(steps)) < 1e-3 and 0 <= round(steps) <= 4
    assert -1 <= stats[-1]["Progress/ada_r_t"] <= 1
    import tf_stylegan as sg

    snapshot = sorted(f for f in os.listdir(run_dir) if f.endswith(".zip"))[-1]
    _, _, _, info = sg.load_snapshot(os.path.join(run_dir, snapshot), with_info=True)
    assert info["metadata"]["augment_p"] == stats[-1]["Progress/augment"]
