"""Writers of PyTorch's pickle formats for the tests, without torch.

The byte layouts are those PyTorch writes (torch `serialization.py` `_legacy_save` and the zip
writer, `_tensor.py` `__reduce_ex__`, `storage.py` `_load_from_bytes`), as
tests/fixtures/torch-formats/README.md and the stylegan2-ada-pytorch fixture README (section 3.4)
describe them. Stand-in classes with torch's module and class names (registered in
`sys.modules` by `fake_torch_modules`) make Python's own pickler write the same opcodes.
"""

import collections
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("int64"): "LongStorage", np.dtype("uint8"): "ByteStorage",
                 np.dtype("float16"): "HalfStorage", np.dtype("bool"): "BoolStorage"}


def _global(module, name, obj=None):
    """An object that pickles as the global `module.name`."""
    if obj is None:
        obj = type(name, (), {})
    obj.__module__ = module
    obj.__qualname__ = name
    obj.__name__ = name
    return obj


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called: only pickled by reference")


def _rebuild_parameter(*args):
    raise AssertionError("never called")


def _rebuild_parameter_with_state(*args):
    raise AssertionError("never called")


def _load_from_bytes(*args):
    raise AssertionError("never called")


_STORAGE_CLASSES = {name: _global("torch", name) for name in
                    ["FloatStorage", "DoubleStorage", "LongStorage", "ByteStorage",
                     "HalfStorage", "BoolStorage", "BFloat16Storage"]}
REBUILD_TENSOR = _global("torch._utils", "_rebuild_tensor_v2", _rebuild_tensor_v2)
REBUILD_PARAMETER = _global("torch._utils", "_rebuild_parameter", _rebuild_parameter)
REBUILD_PARAMETER_WITH_STATE = _global("torch._utils", "_rebuild_parameter_with_state",
                                       _rebuild_parameter_with_state)
LOAD_FROM_BYTES = _global("torch.storage", "_load_from_bytes", _load_from_bytes)


def fake_torch_modules(monkeypatch):
    """Registers modules `torch`, `torch._utils`, `torch.storage` holding the stand-ins."""
    torch = types.ModuleType("torch")
    for name, cls in _STORAGE_CLASSES.items():
        setattr(torch, name, cls)
    utils = types.ModuleType("torch._utils")
    utils._rebuild_tensor_v2 = REBUILD_TENSOR
    utils._rebuild_parameter = REBUILD_PARAMETER
    utils._rebuild_parameter_with_state = REBUILD_PARAMETER_WITH_STATE
    storage = types.ModuleType("torch.storage")
    storage._load_from_bytes = LOAD_FROM_BYTES
    for name, module in (("torch", torch), ("torch._utils", utils), ("torch.storage", storage)):
        monkeypatch.setitem(sys.modules, name, module)


class Storage:
    """A storage to write: a 1-D numpy array under a key (`storage_name` overrides the type),
    on the device `location` ("cpu", or e.g. "cuda:0" when pickled without `.cpu()`)."""

    def __init__(self, data, key, storage_name=None, location="cpu"):
        self.data = np.ascontiguousarray(data).reshape(-1)
        self.key = key
        self.storage_name = storage_name or STORAGE_NAMES[self.data.dtype]
        self.location = location

    @property
    def storage_class(self):
        return _STORAGE_CLASSES[self.storage_name]


class Tensor:
    """`_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`."""

    def __init__(self, storage, size, stride, offset=0, hooks=None):
        self.args = (storage, offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict() if hooks is None else hooks)

    def __reduce__(self):
        return REBUILD_TENSOR, self.args


class Parameter:
    """`_rebuild_parameter(tensor, False, OrderedDict())`; a parameter with Python attributes
    of its own (`state`, its `__dict__`) is `_rebuild_parameter_with_state(tensor, False,
    OrderedDict(), state)` (torch `nn/parameter.py` `__reduce_ex__`)."""

    def __init__(self, tensor, state=None):
        self.tensor = tensor
        self.state = state

    def __reduce__(self):
        if self.state:
            return REBUILD_PARAMETER_WITH_STATE, (self.tensor, False, collections.OrderedDict(),
                                                  self.state)
        return REBUILD_PARAMETER, (self.tensor, False, collections.OrderedDict())


def tensor(array, key, offset_pad=0):
    """A C-contiguous tensor over its own storage (optionally after `offset_pad` elements)."""
    array = np.asarray(array)
    data = np.concatenate([np.zeros(offset_pad, array.dtype), array.reshape(-1)])
    strides = tuple(s // array.itemsize for s in np.zeros(array.shape, array.dtype).strides)
    return Tensor(Storage(data, key), array.shape, strides, offset_pad)


class _Pickler(pickle.Pickler):
    def __init__(self, file, protocol, legacy):
        super().__init__(file, protocol=protocol)
        self.legacy = legacy
        self.storages = {}

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            pid = ("storage", obj.storage_class, obj.key, obj.location, obj.data.size)
            return pid + (None,) if self.legacy else pid
        return None


def legacy_stream(obj, little_endian=True, keys=None, tail=b""):
    """The legacy `torch.save` stream of `obj`: five protocol-2 pickles, then per storage key
    an int64 element count and the raw little-endian data."""
    out = io.BytesIO()
    pickle.dump(MAGIC, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump(dict(protocol_version=1001, little_endian=little_endian,
                     type_sizes=dict(short=2, int=4, long=4)), out, protocol=2)
    pickler = _Pickler(out, 2, legacy=True)
    pickler.dump(obj)
    storages = pickler.storages
    keys = sorted(storages) if keys is None else keys
    pickle.dump(list(keys), out, protocol=2)
    for key in keys:
        data = storages[key].data
        out.write(struct.pack("<q", data.size))
        out.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return out.getvalue() + tail


class StorageFromBytes:
    """A storage pickled as stylegan2-ada-pytorch's pickles hold it:
    `torch.storage._load_from_bytes(<legacy torch.save stream of the storage>)`."""

    def __init__(self, data, key="0", location="cpu"):
        self.storage = Storage(data, key, location=location)

    def __reduce__(self):
        return LOAD_FROM_BYTES, (legacy_stream(self.storage),)


def zip_archive(path, obj, name="archive", byteorder=None, extra=None):
    """A zip archive as `torch.save` (torch >= 1.6) writes it: `<name>/data.pkl` with 5-tuple
    persistent ids, `<name>/data/<key>` raw storage bytes, `<name>/version`."""
    buf = io.BytesIO()
    pickler = _Pickler(buf, 2, legacy=False)
    pickler.dump(obj)
    order = "<" if byteorder in (None, "little") else ">"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/data.pkl", buf.getvalue())
        if byteorder is not None:
            z.writestr(f"{name}/byteorder", byteorder)
        for key, storage in sorted(pickler.storages.items()):
            data = storage.data
            z.writestr(f"{name}/data/{key}", data.astype(data.dtype.newbyteorder(order)).tobytes())
        z.writestr(f"{name}/version", "3\n")
        for member, data in (extra or {}).items():
            z.writestr(f"{name}/{member}", data)
    return path
