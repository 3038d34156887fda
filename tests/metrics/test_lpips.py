"""The Keras LPIPS-VGG16 network with random weights: shapes, metric properties, file formats."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from metrics import lpips as lpips_module
from metrics.lpips import (
    LPIPS,
    LPIPS_CHANNELS,
    VGG16_CONVS,
    convert_torch_lpips,
    load_lpips,
    save_lpips_npz,
)
from tf_stylegan.errors import UserError


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    net = LPIPS()
    rng = np.random.RandomState(0)
    for w in net.lin:
        w.assign(np.abs(rng.standard_normal(w.shape)).astype(np.float32))
    return net


def _images(seed, n=3, size=32):
    return np.random.RandomState(seed).uniform(0, 255, [n, size, size, 3]).astype(np.float32)


def test_shapes_identity_symmetry_positivity(model):
    x, y = _images(0), _images(1)
    d = model((x, y)).numpy()
    assert d.shape == (3,) and d.dtype == np.float32
    np.testing.assert_array_equal(model((x, x)).numpy(), np.zeros(3))
    np.testing.assert_allclose(model((y, x)).numpy(), d, rtol=1e-6)
    assert np.all(d > 0)
    # A small perturbation is closer than an unrelated image.
    near = model((x, x + np.random.RandomState(2).normal(0, 2, x.shape))).numpy()
    assert np.all(near < d)


def test_matches_a_direct_numpy_formula_for_the_lin_and_normalisation_steps(model):
    x, y = _images(3, n=2), _images(4, n=2)
    scaled = lambda im: (im / 127.5 - 1.0 - np.array([-0.030, -0.088, -0.188])) / np.array(
        [0.458, 0.448, 0.450])
    fx = model.features(tf.constant(scaled(x), tf.float32))
    fy = model.features(tf.constant(scaled(y), tf.float32))
    expected = 0.0
    for a, b, w in zip(fx, fy, model.lin):
        a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
        a = a / (np.sqrt((a**2).sum(-1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b**2).sum(-1, keepdims=True)) + 1e-10)
        expected = expected + ((a - b) ** 2 * w.numpy()).sum(-1).mean(axis=(1, 2))
    np.testing.assert_allclose(model((x, y)).numpy(), expected, rtol=1e-4)
    assert [f.shape[-1] for f in fx] == list(LPIPS_CHANNELS)
    assert [f.shape[1] for f in fx] == [32, 16, 8, 4, 2]  # conv1_2 .. conv5_3, before pooling.


def test_npz_and_keras_round_trips(model, tmp_path):
    x, y = _images(5), _images(6)
    expected = model((x, y)).numpy()
    path = str(tmp_path / "lpips.npz")
    save_lpips_npz(model, path)
    with np.load(path) as data:
        assert str(data["format"]) == lpips_module.LPIPS_FORMAT
        assert data["block1_conv1/kernel"].shape == (3, 3, 3, 64)
        assert data["lin4"].shape == (512,)
    loaded = load_lpips(path)
    np.testing.assert_allclose(loaded((x, y)).numpy(), expected, rtol=1e-6)
    keras_path = str(tmp_path / "lpips.keras")
    model.save(keras_path)
    restored = keras.saving.load_model(keras_path)
    assert isinstance(restored, LPIPS)
    np.testing.assert_allclose(restored((x, y)).numpy(), expected, rtol=1e-6)


def test_converter_from_pytorch_layouts(model, tmp_path):
    # Build torch-layout state dicts from our weights: [O, I, kh, kw] kernels, [1, C, 1, 1] lin.
    arrays = model.get_named_arrays()
    vgg_state = {}
    for name, index in VGG16_CONVS:
        vgg_state[f"features.{index}.weight"] = arrays[f"{name}/kernel"].transpose(3, 2, 0, 1)
        vgg_state[f"features.{index}.bias"] = arrays[f"{name}/bias"]
    vgg_state["classifier.0.weight"] = np.zeros([4, 4])  # Ignored.
    lin_state = {f"lin{k}.model.1.weight": arrays[f"lin{k}"].reshape(1, -1, 1, 1)
                 for k in range(5)}
    converted = convert_torch_lpips(vgg_state, lin_state)
    assert set(converted) == set(arrays)
    for key in arrays:
        np.testing.assert_array_equal(converted[key], arrays[key])
    # The lpips module's own state dict names (net.sliceK.N) work as well.
    lpips_state = {f"net.slice{1 + i // 3}.{k.split('.')[1]}.{k.split('.')[2]}": v
                   for i, (k, v) in enumerate(sorted(vgg_state.items())) if "features" in k}
    lpips_state.update(lin_state)
    converted2 = convert_torch_lpips(lpips_state, lpips_state)
    np.testing.assert_array_equal(converted2["block5_conv3/kernel"], arrays["block5_conv3/kernel"])
    with pytest.raises(ValueError, match="features\\[28\\]"):
        convert_torch_lpips({k: v for k, v in vgg_state.items() if "28" not in k}, lin_state)


def test_file_errors(model, tmp_path, monkeypatch):
    monkeypatch.delenv(lpips_module.LPIPS_ENV, raising=False)
    with pytest.raises(UserError, match="--lpips PATH.*TF_STYLEGAN_LPIPS"):
        load_lpips(None)
    with pytest.raises(UserError, match="lpips=.*missing.npz"):
        load_lpips(str(tmp_path / "missing.npz"))
    arrays = model.get_named_arrays()
    arrays["lin0"] = -arrays["lin0"]
    bad = str(tmp_path / "negative.npz")
    lpips_module.save_lpips_npz_arrays(arrays, bad)
    with pytest.raises(ValueError, match="non-negative"):
        load_lpips(bad)
    other = str(tmp_path / "other.npz")
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not an LPIPS weights file"):
        load_lpips(other)
    with pytest.raises(ValueError, match="at least 16x16"):
        model((np.zeros([1, 8, 8, 3]), np.zeros([1, 8, 8, 3])))
