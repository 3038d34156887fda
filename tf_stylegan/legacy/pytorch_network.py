"""stylegan2-ada-pytorch's network pickles as plain data: `PersistentModule`, `read_pytorch_pickle`.

What is read: NVIDIA's stylegan2-ada-pytorch (`training/training_loop.py`) pickles a snapshot
(`network-snapshot-*.pkl`, and most StyleGAN2 models shared today) as a dict
`{training_set_kwargs, G, D, G_ema, augment_pipe}`; its `legacy.py` writes networks converted
from TF pickles the same way with `training_set_kwargs` and `augment_pipe` None. Every network
module is a `torch_utils.persistence` object, pickled as
`_reconstruct_persistent_obj(meta)` with `meta = {type: 'class', version: 6, module_src: <the
whole source of the defining module>, class_name, state: <the module's __dict__>}`
(`torch_utils/persistence.py:118-126`); the state holds the torch parameters, buffers and
child modules (`_parameters`, `_buffers`, `_modules`), the module's own attributes and its
constructor arguments (`_init_args`, `_init_kwargs`). Tensors are
`_rebuild_tensor_v2(storage, offset, size, stride, ...)` (wrapped in `_rebuild_parameter` for
parameters) over storages `torch.storage._load_from_bytes(<legacy torch.save stream>)`
(`tf_stylegan.legacy.torch_formats`).

Security: the file is read by the restricted unpickler of `tf_stylegan.legacy.pickle_reader`;
nothing in it runs, and neither torch nor NVIDIA's code is imported. The allowed globals are
exactly those such pickles use (`ALLOWED_GLOBALS`): `_reconstruct_persistent_obj` becomes a
`PersistentModule` record (class name and state; `module_src` is kept as text and never
executed), the torch tensor and storage reducers their numpy stand-ins of `torch_formats`,
`dnnlib.util.EasyDict` and `collections.OrderedDict` dicts, `numpy.dtype` and the numpy scalar
reconstructor (numpy 1 and 2 spellings) inert placeholders, and `builtins.set` (protocol <= 3
pickles) a set of names. Anything else raises `UnsafePickleError` before it is called.
"""

from __future__ import annotations

import dataclasses
import os
import pickletools
from collections.abc import Mapping
from typing import Any

import numpy as np

from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import (
    NUMPY_GLOBALS,
    DictStandIn,
    EasyDictStandIn,
    Inert,
    MalformedPickleError,
    Placeholder,
    UnsafePickleError,
    check_readable_file,
    not_data_error,
    restricted_load,
    translate_pickle_errors,
)
from tf_stylegan.legacy.torch_formats import TORCH_GLOBALS

__all__ = ["ALLOWED_GLOBALS", "PERSISTENCE_VERSION", "PersistentModule", "PytorchSnapshot",
           "is_pytorch_snapshot", "read_pytorch_pickle"]

# `torch_utils/persistence.py:27`; its loader asserts this version (persistence.py:212).
PERSISTENCE_VERSION = 6
_META_KEYS = frozenset({"type", "version", "module_src", "class_name", "state"})
_MAX_NESTING = 64
_WHAT = "stylegan2-ada-pytorch network pickle"
_HINT = ("only stylegan2-ada-pytorch persistent modules, PyTorch tensors, plain data and numpy "
         "scalars are allowed")


class PersistentModule(Inert):
    """One `torch_utils.persistence` object of the pickle (a network module or the augment
    pipe), as plain data. Nothing of it runs: `module_src` is text.

    Attributes:
        class_name: str. The class name ("Generator", "SynthesisLayer", "AugmentPipe", ...);
            the module path is not stored in the pickle.
        version: int. The persistence format version (6).
        module_src: str. The source of the module that defined the class (never executed).
        state: dict. The module's `__dict__`: tensors as numpy arrays, child modules as
            `PersistentModule`s, dict subclasses as dicts, sets as frozensets, numpy scalars
            as numpy scalars.
    """

    __slots__ = ("class_name", "version", "module_src", "state")

    def __init__(self, class_name: str, version: int, module_src: str, state: dict):
        self.class_name = class_name
        self.version = version
        self.module_src = module_src
        self.state = state

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """This module's own torch parameters `{name: array}` (not its children's)."""
        return _tensor_dict(self, "_parameters")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """This module's own torch buffers `{name: array}` (not its children's)."""
        return _tensor_dict(self, "_buffers")

    @property
    def children(self) -> dict[str, "PersistentModule"]:
        """The child modules `{name: PersistentModule}` (torch `_modules`, without the
        submodules set to None)."""
        children = self.state.get("_modules") or {}
        if type(children) is not dict or not all(
                c is None or isinstance(c, PersistentModule) for c in children.values()):
            raise MalformedPickleError(f"{self.class_name}._modules must map names to modules")
        return {name: c for name, c in children.items() if c is not None}

    def child(self, name: str) -> "PersistentModule":
        """The child module `name` (`MalformedPickleError` if there is none)."""
        children = self.children
        if name not in children:
            raise MalformedPickleError(
                f"{self.class_name} has no submodule {name!r} (it has {sorted(children)})")
        return children[name]

    def attr(self, name: str, default: Any = ...) -> Any:
        """The attribute `name` of the module's state (its `__dict__`)."""
        if name in self.state:
            return self.state[name]
        if default is ...:
            raise MalformedPickleError(f"{self.class_name} has no attribute {name!r}")
        return default

    def named_tensors(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Every parameter and buffer of this module and its descendants, named as torch's
        `named_parameters()` / `named_buffers()` name them (`synthesis.b4.conv1.weight`)."""
        out = {}
        for name, value in {**self.parameters, **self.buffers}.items():
            out[prefix + name] = value
        for name, child in self.children.items():
            out.update(child.named_tensors(f"{prefix}{name}."))
        return out

    def __repr__(self):
        return f"<persistent {self.class_name}>"


def _tensor_dict(module: PersistentModule, key: str) -> dict[str, np.ndarray]:
    tensors = module.state.get(key) or {}
    if type(tensors) is not dict:
        raise MalformedPickleError(f"{module.class_name}.{key} must be a dict of tensors")
    out = {}
    for name, value in tensors.items():
        if value is None:  # torch allows registering None (an absent optional tensor)
            continue
        if type(name) is not str or not isinstance(value, np.ndarray):
            raise MalformedPickleError(f"{module.class_name}.{key}[{name!r}] is not a tensor")
        out[name] = value
    return out


def _state_data(obj: Any, where: str, depth: int = 0) -> Any:
    """`obj` as plain data for a module state: tensors and numpy scalars become numpy values,
    dict stand-ins dicts, sets frozensets; records stay records; anything else is refused."""
    if depth > _MAX_NESTING:
        raise MalformedPickleError(f"{where} is nested more than {_MAX_NESTING} levels deep")
    if obj is None or type(obj) in (bool, int, float, complex, str, bytes):
        return obj
    if isinstance(obj, PersistentModule):
        return obj
    if isinstance(obj, Placeholder):
        try:
            return obj.value()
        except MalformedPickleError as e:
            raise MalformedPickleError(f"{where}: {e}") from None
    if type(obj) in (list, tuple):
        items = [_state_data(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
        return items if type(obj) is list else tuple(items)
    if type(obj) in (set, frozenset):
        if not all(type(v) in (str, int) for v in obj):
            raise UnsafePickleError(f"{where} is a set of something other than names")
        return frozenset(obj)
    if type(obj) is dict or isinstance(obj, DictStandIn):
        out = {}
        for key, value in obj.items():
            if type(key) not in (str, int, bool) and key is not None:
                raise UnsafePickleError(f"{where} has a key of type {type(key).__name__}")
            out[key] = _state_data(value, f"{where}[{key!r}]", depth + 1)
        return out
    raise UnsafePickleError(f"{where} holds {obj!r}, which is not plain data")


class _ReconstructPersistent(Inert):
    """Replaces `torch_utils.persistence._reconstruct_persistent_obj(meta)`: checks `meta` and
    returns a `PersistentModule` of a copy of its state (later changes the pickle makes to the
    dicts it passed cannot reach the record)."""

    __slots__ = ()

    def __call__(self, meta=None, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError(
                "_reconstruct_persistent_obj was called with unexpected arguments")
        if not (type(meta) is dict or isinstance(meta, DictStandIn)):
            raise not_data_error(meta, "persistent object meta", "a dict")
        if set(meta) != _META_KEYS:
            raise MalformedPickleError(
                f"persistent object meta has keys {sorted(map(str, meta))}, expected "
                f"{sorted(_META_KEYS)}")
        class_name, version, source = meta["class_name"], meta["version"], meta["module_src"]
        if type(class_name) is not str or not class_name.isidentifier():
            raise not_data_error(class_name, "persistent object class_name", "a class name")
        if meta["type"] != "class":
            raise MalformedPickleError(f"persistent {class_name} has type {meta['type']!r}, "
                                       "expected 'class'")
        if type(version) is not int or version != PERSISTENCE_VERSION:
            raise MalformedPickleError(
                f"persistent {class_name} has format version {version!r}; only version "
                f"{PERSISTENCE_VERSION} (stylegan2-ada-pytorch) is supported")
        if type(source) is not str:
            raise not_data_error(source, f"persistent {class_name} module_src", "a str")
        state = meta["state"]
        if not (type(state) is dict or isinstance(state, DictStandIn)):
            raise not_data_error(state, f"persistent {class_name} state", "a dict")
        if not all(type(k) is str for k in state):
            raise MalformedPickleError(f"persistent {class_name} state has non-str keys")
        return PersistentModule(class_name, version, source,
                                _state_data(state, f"{class_name} state"))

    def __repr__(self):
        return "<safe torch_utils.persistence._reconstruct_persistent_obj>"


class _RebuildParameterWithState(Inert):
    """Replaces `torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks,
    state)`, which torch writes for a parameter with Python attributes of its own (`state`,
    its `__dict__`, or `(__dict__, slots)`; torch `nn/parameter.py` `__reduce_ex__`): the tensor,
    once the hooks are checked empty and the state checked to be plain data (then dropped)."""

    __slots__ = ()

    def __call__(self, data=None, requires_grad=False, backward_hooks=None, state=None, *rest,
                 **kwargs):
        if rest or kwargs:
            raise UnsafePickleError(
                "_rebuild_parameter_with_state was called with unexpected arguments")
        _state_data(state, "parameter state")
        return _REBUILD_PARAMETER(data, requires_grad, backward_hooks)

    def __repr__(self):
        return "<safe torch._utils._rebuild_parameter_with_state>"


class _SetFactory(Inert):
    """Replaces `builtins.set` (protocol <= 3 pickles of `_non_persistent_buffers_set`):
    `set()` or `set([names])` only."""

    __slots__ = ()

    def __call__(self, items=(), *rest, **kwargs):
        if rest or kwargs or type(items) not in (list, tuple) \
                or not all(type(v) in (str, int) for v in items):
            raise UnsafePickleError("builtins.set may only make a set of names")
        return frozenset(items)

    def __repr__(self):
        return "<safe builtins.set>"


def _pick(mapping: Mapping, *keys) -> dict:
    return {key: mapping[key] for key in keys}


_REBUILD_PARAMETER = TORCH_GLOBALS[("torch._utils", "_rebuild_parameter")]

# (module, name) -> stand-in: the globals of stylegan2-ada-pytorch pickles (fixture README
# section 3.2) and their documented variants (protocol <= 3 sets, numpy 1 scalars,
# `_rebuild_parameter_with_state`), and nothing else.
ALLOWED_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _ReconstructPersistent(),
    **_pick(TORCH_GLOBALS, ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"), ("torch.storage", "_load_from_bytes"),
            ("collections", "OrderedDict")),
    ("torch._utils", "_rebuild_parameter_with_state"): _RebuildParameterWithState(),
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    **_pick(NUMPY_GLOBALS, ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
            ("numpy.core.multiarray", "scalar")),
    ("builtins", "set"): _SetFactory(),
}


@dataclasses.dataclass(frozen=True)
class PytorchSnapshot:
    """The content of a stylegan2-ada-pytorch network pickle.

    Attributes:
        G, D, G_ema: `PersistentModule`s of the `Generator`, `Discriminator` and the
            moving-average `Generator`.
        augment_pipe: `PersistentModule` of the `AugmentPipe`, or None (`--aug=noaug`, and the
            networks `legacy.py` converted from TF).
        training_set_kwargs: dict or None. The dataset arguments of the run.
    """

    G: PersistentModule
    D: PersistentModule
    G_ema: PersistentModule
    augment_pipe: PersistentModule | None
    training_set_kwargs: dict | None


def _first_opcode(f) -> str | None:
    """The name of the first opcode after the protocol and framing headers, or None."""
    try:
        for opcode, _, _ in pickletools.genops(f):
            if opcode.name not in ("PROTO", "FRAME"):
                return opcode.name
    except (ValueError, EOFError):
        return None
    return None


def is_pytorch_snapshot(path: str | os.PathLike) -> bool:
    """Whether the pickle `path` holds a dict at the top (stylegan2-ada-pytorch's snapshots),
    rather than NVIDIA's TF tuple `(G, D, Gs)`.

    A pickle of a dict starts by building that (empty) dict: EMPTY_DICT, or MARK DICT in
    protocol 0. A pickle of a tuple starts with its first item, in NVIDIA's TF pickles the
    Network G. Only the first opcodes are read and nothing is built; whichever reader then
    reads the file checks its whole structure.
    """
    with open(path, "rb") as f:
        first = _first_opcode(f)
        if first == "MARK":
            return _first_opcode(f) == "DICT"
    return first == "EMPTY_DICT"


def read_pytorch_pickle(path: str | os.PathLike) -> PytorchSnapshot:
    """Reads a stylegan2-ada-pytorch network pickle, executing nothing from the file.

    Args:
        path: str or path-like. `network-snapshot-*.pkl` or a converted/pretrained `.pkl`.

    Returns:
        `PytorchSnapshot` with the G, D, G_ema (and augment pipe) records.

    Raises:
        UnsafePickleError: the file references anything but `ALLOWED_GLOBALS`, or puts objects
            that are not plain data where data belongs.
        UserError: `path` is missing or unreadable, is not a pickle, is truncated, or does not
            hold a dict with persistent G, D and G_ema.
    """
    path = check_readable_file(path, _WHAT)
    with translate_pickle_errors(path, _WHAT), open(path, "rb") as f:
        data = _state_data(restricted_load(f, ALLOWED_GLOBALS, allowed_hint=_HINT), "the pickle")
    if type(data) is not dict:
        raise UserError(f"{path!r} is not a {_WHAT}: it holds a {type(data).__name__}, not a "
                        "dict with G, D and G_ema")
    missing = [k for k in ("G", "D", "G_ema") if not isinstance(data.get(k), PersistentModule)]
    if missing:
        raise UserError(f"{path!r} is not a {_WHAT}: it has no network {', '.join(missing)} "
                        f"(keys: {sorted(map(str, data))})")
    pipe = data.get("augment_pipe")
    if pipe is not None and not isinstance(pipe, PersistentModule):
        raise UserError(f"{path!r}: augment_pipe is a {type(pipe).__name__}, not a module")
    kwargs = data.get("training_set_kwargs")
    if kwargs is not None and type(kwargs) is not dict:
        raise UserError(f"{path!r}: training_set_kwargs is a {type(kwargs).__name__}, "
                        "not a dict")
    return PytorchSnapshot(data["G"], data["D"], data["G_ema"], pipe, kwargs)
