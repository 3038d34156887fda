"""PyTorch's file formats read as numpy data, without torch and executing nothing.

Everything goes through the restricted unpickler of `tf_stylegan.legacy.pickle_reader`; this
module adds the stand-ins PyTorch's pickles need (`TORCH_GLOBALS`) and the two ways PyTorch
stores tensor data:

* **Tensors.** `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
  requires_grad, backward_hooks[, metadata])` (torch `_tensor.py` `__reduce_ex__`) becomes a
  `PickledTensor` placeholder: the elements `storage[offset + sum(i_k * stride_k)]`, copied into
  a C-contiguous numpy array once the storage's data are known. `_rebuild_parameter(tensor,
  requires_grad, backward_hooks)` and `_rebuild_parameter_with_state(..., state)` (torch
  `nn/parameter.py`) return that tensor. The `torch.<Type>Storage` globals name the element
  type (`STORAGE_DTYPES`; bfloat16 is widened exactly to float32).
* **Storages by persistent id**, `('storage', storage_type, key, location, numel)`:
  (a) zip archives (`torch.save` since torch 1.6 and TorchScript's `torch.jit.save`):
  `<archive>/data.pkl` is the pickle, `<archive>/data/<key>` the raw bytes of each storage
  (little-endian unless `<archive>/byteorder` says "big"); `load_torch_zip`.
  (b) the legacy `torch.save` stream (torch `serialization.py` `_legacy_save`): five pickles
  (the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a `sys_info` dict, the
  object whose persistent ids are `('storage', type, key, location, numel, None)`, the list of
  keys), then for each key an int64 little-endian element count and the raw little-endian data;
  `read_legacy_stream`. Whole files in this format (torch before 1.6) and the byte strings that
  `torch.storage._load_from_bytes(b)` receives in pickles of torch objects (stylegan2-ada-pytorch
  network pickles: one storage per stream) are read this way.
* **TorchScript objects.** A TorchScript archive pickles its modules as classes of the
  `__torch__` namespace built by NEWOBJ and BUILD with a dict of attributes; they become
  `ScriptObject`s (`torchscript_globals()`: class name and attribute dict, nothing else). Its
  `code/` files are never read.

Storages are checked against the bytes present, tensors against their storage's bounds;
every other global raises `UnsafePickleError`.
"""

from __future__ import annotations

import collections
import io
import os
import re
import struct
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import (
    DictStandIn,
    Inert,
    MalformedPickleError,
    Placeholder,
    UnsafePickleError,
    check_flag,
    check_readable_file,
    plain_data,
    restricted_load,
    translate_pickle_errors,
)

__all__ = [
    "LEGACY_MAGIC",
    "STORAGE_DTYPES",
    "TORCH_GLOBALS",
    "PickledTensor",
    "ScriptObject",
    "StorageType",
    "TorchStorage",
    "load_torch_file",
    "load_torch_zip",
    "read_legacy_stream",
    "read_torch_state_dict",
    "torchscript_globals",
]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_HINT = "only PyTorch tensors, storages, plain data and numpy arrays are allowed"
_KEY = re.compile(r"[0-9A-Za-z_.\-]{1,64}")

# torch.<name> storage classes -> little-endian element type of their raw bytes.
STORAGE_DTYPES: Mapping[str, str] = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # widened to float32 (the upper half of a float32's bits)
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class StorageType(Inert):
    """Stands for the global `torch.<name>Storage`: only a type tag inside a persistent id."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError(f"the pickle tried to call torch.{self.name}")

    def __repr__(self):
        return f"<torch.{self.name}>"


class TorchStorage(Inert):
    """A storage: `numel` elements of one type, as a read-only 1-D numpy array once filled."""

    __slots__ = ("storage_type", "key", "numel", "_data")

    def __init__(self, storage_type: StorageType, key: str, numel: int):
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self._data = None

    def fill(self, raw: bytes, byteorder: str = "<") -> None:
        """Sets the data from exactly `numel` elements of raw bytes (once)."""
        if self._data is not None:
            raise MalformedPickleError(f"storage {self.key!r} is given data twice")
        dtype = self.storage_type.dtype
        if dtype.itemsize > 1:
            dtype = dtype.newbyteorder(byteorder)
        if len(raw) != self.numel * dtype.itemsize:
            raise MalformedPickleError(
                f"storage {self.key!r} needs {self.numel * dtype.itemsize} bytes "
                f"({self.numel} x torch.{self.storage_type.name}), the file holds {len(raw)}"
            )
        data = np.frombuffer(raw, dtype=dtype)
        if self.storage_type.name == "BFloat16Storage":
            data = (data.astype(np.uint32) << 16).view(np.float32)
        self._data = data.astype(data.dtype.newbyteorder("="), copy=False)
        self._data.flags.writeable = False

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            raise MalformedPickleError(f"storage {self.key!r} has no data")
        return self._data

    def __repr__(self):
        return f"<torch storage {self.key!r}: {self.numel} x {self.storage_type.name}>"


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if type(value) not in (tuple, list) or not all(type(v) is int for v in value):
        raise MalformedPickleError(f"tensor {what} must be a tuple of ints. Received: {value!r}")
    return tuple(value)


def _check_empty(value: Any, what: str) -> None:
    """Hooks, metadata and state must be None or empty dicts: we make plain arrays."""
    if value is None:
        return
    if (type(value) is dict or isinstance(value, DictStandIn)) and not value:
        return
    raise UnsafePickleError(f"{what} must be empty. Received: {value!r}")


class PickledTensor(Placeholder):
    """Placeholder of a tensor: a strided view of a storage, copied when its value is asked.

    The value is the C-contiguous float32/int/... numpy array of shape `size` whose element
    `i` is `storage[offset + sum(i_k * stride_k)]`; every index must lie inside the storage.
    """

    __slots__ = ("_storage", "_offset", "_size", "_stride", "_array")

    def __init__(self, storage: TorchStorage, offset: int, size: tuple, stride: tuple):
        self._storage = storage
        self._offset = offset
        self._size = size
        self._stride = stride
        self._array = None

    def value(self) -> np.ndarray:
        if self._array is None:
            data = self._storage.data
            if 0 in self._size:
                self._array = np.zeros(self._size, data.dtype)
            else:
                last = self._offset + sum((n - 1) * s for n, s in zip(self._size, self._stride))
                if last >= data.shape[0]:
                    raise MalformedPickleError(
                        f"tensor of size {self._size}, stride {self._stride} and offset "
                        f"{self._offset} reaches element {last} of a storage of {data.shape[0]}"
                    )
                view = np.lib.stride_tricks.as_strided(
                    data[self._offset:], shape=self._size,
                    strides=[s * data.itemsize for s in self._stride], writeable=False)
                self._array = np.array(view, order="C", copy=True)
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return self._size

    def __repr__(self):
        return f"<pickled torch tensor {self._size}>"


class _RebuildTensor(Inert):
    """Replaces `torch._utils._rebuild_tensor_v2`."""

    __slots__ = ()

    def __call__(self, storage=None, storage_offset=None, size=None, stride=None,
                 requires_grad=False, backward_hooks=None, metadata=None, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("_rebuild_tensor_v2 was called with unexpected arguments")
        if not isinstance(storage, TorchStorage):
            raise UnsafePickleError(f"a tensor needs a torch storage, not {storage!r}")
        size = _int_tuple(size, "size")
        stride = _int_tuple(stride, "stride")
        if type(storage_offset) is not int or storage_offset < 0:
            raise MalformedPickleError(f"invalid tensor storage offset {storage_offset!r}")
        if len(size) != len(stride) or min(size + stride, default=0) < 0:
            raise MalformedPickleError(f"invalid tensor size {size} / stride {stride}")
        check_flag(requires_grad, "requires_grad")
        _check_empty(backward_hooks, "tensor backward hooks")
        _check_empty(metadata, "tensor metadata")
        return PickledTensor(storage, storage_offset, size, stride)

    def __repr__(self):
        return "<safe torch._utils._rebuild_tensor_v2>"


class _RebuildParameter(Inert):
    """Replaces `torch._utils._rebuild_parameter` and `_rebuild_parameter_with_state`."""

    __slots__ = ("_with_state",)

    def __init__(self, with_state: bool):
        self._with_state = with_state

    def __call__(self, data=None, requires_grad=False, backward_hooks=None, *rest, **kwargs):
        expected = 1 if self._with_state else 0
        if len(rest) != expected or kwargs:
            raise UnsafePickleError("_rebuild_parameter was called with unexpected arguments")
        if not isinstance(data, PickledTensor):
            raise UnsafePickleError(f"a parameter needs a tensor, not {data!r}")
        check_flag(requires_grad, "requires_grad")
        _check_empty(backward_hooks, "parameter backward hooks")
        if self._with_state:
            _check_empty(rest[0], "parameter state")
        return data

    def __repr__(self):
        return "<safe torch._utils._rebuild_parameter>"


class TorchOrderedDict(DictStandIn):
    """`collections.OrderedDict` in torch pickles: built empty or from `[key, value]` pairs;
    a state dict's BUILD with `{'_metadata': ...}` (module versions) is checked and dropped."""

    __slots__ = ()

    def __setstate__(self, state):
        if type(state) is not dict or set(state) - {"_metadata"}:
            raise UnsafePickleError("the pickle tried to set attributes on a dict")
        plain_data(state.get("_metadata"), "state dict _metadata")


class _LoadFromBytes(Inert):
    """Replaces `torch.storage._load_from_bytes(b)`: `b` is a legacy `torch.save` stream."""

    __slots__ = ()

    def __call__(self, data=None, *rest, **kwargs):
        if rest or kwargs or type(data) is not bytes:
            raise UnsafePickleError("_load_from_bytes takes exactly one bytes argument")
        return read_legacy_stream(io.BytesIO(data), _TENSOR_GLOBALS, whole=True)

    def __repr__(self):
        return "<safe torch.storage._load_from_bytes>"


_TENSOR_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensor(),
    ("torch._utils", "_rebuild_parameter"): _RebuildParameter(with_state=False),
    ("torch._utils", "_rebuild_parameter_with_state"): _RebuildParameter(with_state=True),
    ("collections", "OrderedDict"): TorchOrderedDict,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}
# What PyTorch's pickles of tensors, parameters and state dicts use, with their stand-ins.
TORCH_GLOBALS: Mapping[tuple[str, str], Any] = {
    **_TENSOR_GLOBALS,
    ("torch.storage", "_load_from_bytes"): _LoadFromBytes(),
}


# --- TorchScript objects ------------------------------------------------------------------------
class ScriptObject(Inert):
    """A TorchScript object (`__torch__.<module>.<Class>`): its class name and attributes.

    Made by NEWOBJ without arguments and given its attribute dict by exactly one BUILD;
    `state` holds the dict as pickled (tensors as `PickledTensor`, submodules as
    `ScriptObject`).
    """

    __slots__ = ("state",)
    torch_class: tuple[str, str] = ("", "")

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise UnsafePickleError(f"{cls.__name__} was created with arguments")
        self = super().__new__(cls)
        self.state = None
        return self

    def __setstate__(self, state):
        if self.state is not None:
            raise UnsafePickleError(f"the pickle tried to set the state of {self!r} twice")
        if type(state) is not dict or not all(type(k) is str for k in state):
            raise UnsafePickleError(f"{self!r} state must be a dict of attributes")
        self.state = state

    @property
    def class_name(self) -> str:
        """The class name without its module, e.g. "Conv2dLayer"."""
        return self.torch_class[1]

    def __repr__(self):
        return f"<TorchScript {'.'.join(self.torch_class)}>"


class _ScriptClasses(Mapping):
    """`(module, name)` of the `__torch__` namespace -> one `ScriptObject` subclass each."""

    def __init__(self):
        self._classes: dict[tuple[str, str], type] = {}

    def __getitem__(self, key):
        module, name = key
        if not (type(module) is str and type(name) is str and name.isidentifier()
                and (module == "__torch__" or module.startswith("__torch__."))
                and all(part.isidentifier() for part in module.split("."))):
            raise KeyError(key)
        if key not in self._classes:
            self._classes[key] = type(name, (ScriptObject,), {"__slots__": (),
                                                              "torch_class": (module, name)})
        return self._classes[key]

    def __iter__(self):
        return iter(self._classes)

    def __len__(self):
        return len(self._classes)


class _BuildIntList(Inert):
    """Replaces `torch.jit._pickle.build_intlist(list)`: returns the list of ints."""

    __slots__ = ()

    def __call__(self, values=None, *rest, **kwargs):
        if rest or kwargs or type(values) is not list or not all(type(v) is int for v in values):
            raise UnsafePickleError("build_intlist takes one list of ints")
        return list(values)


def torchscript_globals() -> Mapping:
    """A fresh mapping of the globals of a TorchScript archive's `data.pkl`: `TORCH_GLOBALS`,
    `torch.jit._pickle.build_intlist` and one `ScriptObject` class per `__torch__` class."""
    return collections.ChainMap(
        {("torch.jit._pickle", "build_intlist"): _BuildIntList()}, _TENSOR_GLOBALS,
        _ScriptClasses())


# --- (a) zip archives -------------------------------------------------------------------------
class _ZipStorages:
    """persistent_load of zip archives: `('storage', type, key, location, numel)` ->
    the storage read from `<prefix>data/<key>` (one `TorchStorage` per key)."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str, byteorder: str):
        self._archive = archive
        self._prefix = prefix
        self._byteorder = byteorder
        self._storages: dict[str, TorchStorage] = {}

    def __call__(self, pid):
        storage_type, key, numel = _storage_pid(pid, 5)
        if key in self._storages:
            return _same_storage(self._storages[key], storage_type, numel)
        name = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(name)
        except KeyError:
            raise MalformedPickleError(f"the archive has no storage {name!r}") from None
        if info.file_size != numel * storage_type.dtype.itemsize:
            raise MalformedPickleError(
                f"storage {name!r} holds {info.file_size} bytes, the pickle declares "
                f"{numel} x torch.{storage_type.name}")
        storage = TorchStorage(storage_type, key, numel)
        storage.fill(self._archive.read(info), self._byteorder)
        self._storages[key] = storage
        return storage


def _storage_pid(pid: Any, length: int) -> tuple[StorageType, str, int]:
    """Checks a storage persistent id; returns (storage type, key, numel)."""
    if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
        raise UnsafePickleError(f"unsupported persistent id {pid!r} (expected a torch storage)")
    storage_type, key, location, numel = pid[1:5]
    if not isinstance(storage_type, StorageType):
        raise UnsafePickleError(f"storage type {storage_type!r} is not a torch storage class")
    if type(key) is not str or not _KEY.fullmatch(key):
        raise MalformedPickleError(f"invalid storage key {key!r}")
    if type(location) is not str or type(numel) is not int or numel < 0:
        raise MalformedPickleError(f"invalid storage location/size {location!r}/{numel!r}")
    if length == 6 and pid[5] is not None:
        raise MalformedPickleError(f"storage {key!r} is a view of another storage (unsupported)")
    return storage_type, key, numel


def _same_storage(storage: TorchStorage, storage_type: StorageType, numel: int) -> TorchStorage:
    if storage.storage_type.name != storage_type.name or storage.numel != numel:
        raise MalformedPickleError(f"storage {storage.key!r} is declared twice differently")
    return storage


def load_torch_zip(archive: zipfile.ZipFile, allowed_globals: Mapping | None = None,
                   *, pickle_name: str = "data.pkl") -> Any:
    """Unpickles `<prefix>/<pickle_name>` of a torch zip archive with its storages.

    Args:
        archive: an open `zipfile.ZipFile` (a `torch.save` file or a TorchScript archive).
        allowed_globals: the stand-ins (default `TORCH_GLOBALS`; `torchscript_globals()` for
            TorchScript modules).
        pickle_name: "data.pkl" (`constants.pkl` holds TorchScript's tensor constants).

    Returns:
        What the pickle builds, with `PickledTensor`s for tensors (see `plain_data`).
    """
    names = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(names) != 1:
        raise MalformedPickleError(
            f"expected one '<name>/data.pkl' in the archive, found {names[:4]}")
    prefix = names[0][: -len("data.pkl")]
    byteorder = "<"
    if f"{prefix}byteorder" in archive.namelist():
        order = archive.read(f"{prefix}byteorder").strip()
        if order not in (b"little", b"big"):
            raise MalformedPickleError(f"unknown byteorder {order[:16]!r}")
        byteorder = "<" if order == b"little" else ">"
    storages = _ZipStorages(archive, prefix, byteorder)
    with archive.open(f"{prefix}{pickle_name}") as f:
        return restricted_load(f, TORCH_GLOBALS if allowed_globals is None else allowed_globals,
                               persistent_load=storages, allowed_hint=_HINT)


# --- (b) the legacy torch.save stream -------------------------------------------------------------
def _read_exact(f, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise MalformedPickleError(f"the stream ends inside {what}")
    return data


def read_legacy_stream(f, allowed_globals: Mapping | None = None, *, whole: bool = False) -> Any:
    """Reads one legacy `torch.save` stream (module docstring, (b)) from the binary file `f`.

    Args:
        f: binary file object at the start of the stream.
        allowed_globals: the stand-ins of the object pickle (default `TORCH_GLOBALS` without
            `_load_from_bytes`, so streams do not nest).
        whole: bool. The stream must end exactly after the last storage (a
            `_load_from_bytes` payload).

    Returns:
        The object, with `PickledTensor`s and `TorchStorage`s filled from the stream's data.
    """
    for expected, what in ((LEGACY_MAGIC, "magic number"), (LEGACY_PROTOCOL, "protocol")):
        value = restricted_load(f, {})
        if type(value) is not int or value != expected:
            raise MalformedPickleError(
                f"not a legacy torch.save stream ({what} {value!r}, expected {expected:#x})")
    sys_info = plain_data(restricted_load(f, {}), "sys_info")
    if type(sys_info) is not dict or sys_info.get("little_endian") is not True:
        raise MalformedPickleError(f"unsupported sys_info {sys_info!r} (little-endian only)")
    storages: dict[str, TorchStorage] = {}

    def persistent_load(pid):
        storage_type, key, numel = _storage_pid(pid, 6)
        if key in storages:
            return _same_storage(storages[key], storage_type, numel)
        storages[key] = TorchStorage(storage_type, key, numel)
        return storages[key]

    obj = restricted_load(f, _TENSOR_GLOBALS if allowed_globals is None else allowed_globals,
                          persistent_load=persistent_load, allowed_hint=_HINT)
    keys = restricted_load(f, {})
    if type(keys) is not list or sorted(keys) != sorted(storages) or len(set(keys)) != len(keys):
        raise MalformedPickleError(
            f"the stream's storage keys {keys!r} do not match those of its object")
    for key in keys:
        storage = storages[key]
        (numel,) = struct.unpack("<q", _read_exact(f, 8, f"the size of storage {key!r}"))
        if numel != storage.numel:
            raise MalformedPickleError(
                f"storage {key!r} has {numel} elements, the pickle declares {storage.numel}")
        storage.fill(_read_exact(f, numel * storage.storage_type.dtype.itemsize,
                                 f"storage {key!r}"))
    if whole and f.read(1):
        raise MalformedPickleError("the stream has data after its last storage")
    return obj


# --- Files ----------------------------------------------------------------------------------------
def load_torch_file(path: str | os.PathLike, allowed_globals: Mapping | None = None, *,
                    what: str = "PyTorch file") -> Any:
    """Reads a `torch.save` file (zip or legacy) or a TorchScript archive, executing nothing.

    Args:
        path: str or path-like.
        allowed_globals: stand-ins (default `TORCH_GLOBALS`; `torchscript_globals()` for
            TorchScript archives).
        what: str. What the file should be, for error messages.

    Returns:
        The unpickled object with placeholders (`plain_data` turns data into numpy arrays).

    Raises:
        UnsafePickleError: the file references anything but the allowed globals.
        UserError: missing, unreadable, truncated or malformed file.
    """
    path = check_readable_file(path, what)
    with translate_pickle_errors(path, what):
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    return load_torch_zip(archive, allowed_globals)
            except zipfile.BadZipFile as e:
                raise MalformedPickleError(f"corrupt zip archive ({e})") from None
        with open(path, "rb") as f:
            return read_legacy_stream(f, allowed_globals)


def read_torch_state_dict(path: str | os.PathLike, *, what: str = "PyTorch state dict"
                          ) -> dict[str, np.ndarray]:
    """A `torch.save`d state dict (zip or legacy format) as `{name: numpy array}`.

    Raises:
        UserError: the file does not hold a flat dict of tensors (or is unsafe, see
            `load_torch_file`).
    """
    obj = load_torch_file(path, what=what)
    with translate_pickle_errors(os.fspath(path), what):
        data = plain_data(obj, "the state dict")
    if type(data) is not dict or not all(
            type(k) is str and isinstance(v, np.ndarray) for k, v in data.items()):
        raise UserError(f"{os.fspath(path)!r} is not a {what}: expected a dict of tensors, got "
                        f"{type(data).__name__}")
    return data

