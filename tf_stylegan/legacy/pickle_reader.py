"""A restricted unpickler: reads pickles of plain data and numpy arrays, executing nothing.

Security guarantee of this file (it is reviewed as security code):

* Nothing in the file runs. Every opcode that names a global (GLOBAL, STACK_GLOBAL, INST, OBJ,
  EXT1/2/4) goes through one gate, `RestrictedUnpickler.find_class`, which resolves only the
  `(module, name)` pairs of the `allowed_globals` mapping its caller passes, so the only callables
  that REDUCE, NEWOBJ and BUILD can reach are the stand-ins of that mapping. Persistent ids are
  refused unless the caller passes a `persistent_load` function, which then gets the id as plain
  pickled data and must validate it like any other input.
* The numpy stand-ins (`NUMPY_GLOBALS`: `_DtypeFactory`, `_ReconstructFactory`,
  `_ScalarFactory`, the `numpy.ndarray` marker) accept exactly the well-formed arguments and
  state numpy writes and build inert placeholders (`PickledDtype`, `PickledArray`,
  `PickledScalar`); the real arrays are made by us from the validated bytes. Dict subclasses
  become `DictStandIn`s, filled like a dict.
* Unknown globals fail loudly: any other global (`os.system`, `builtins.eval`, a numpy
  subclass, ...) raises `UnsafePickleError` before it could be called or built, as does any
  non-data object placed where data belongs (`plain_data`).

Readers of particular formats build on it by passing their own small set of stand-ins through
the same gate: `tf_stylegan.legacy.official_network` (NVIDIA's TF network pickles) and
`tf_stylegan.legacy.torch_formats` (PyTorch tensors, storages, `torch.save` and TorchScript
archives).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tf_stylegan.errors import UserError

__all__ = [
    "NUMPY_GLOBALS",
    "DictStandIn",
    "EasyDictStandIn",
    "Inert",
    "MalformedPickleError",
    "OrderedDictStandIn",
    "PickledArray",
    "PickledDtype",
    "PickledScalar",
    "Placeholder",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "check_flag",
    "check_readable_file",
    "not_data_error",
    "plain_data",
    "restricted_load",
    "translate_pickle_errors",
]

# Why the numpy globals are wrapped and not handed out as they are: a pickle may send BUILD
# (`__setstate__`) to any object it holds, at any later point. A real `numpy.dtype` can be
# rebuilt in place into a structured dtype with object fields *after* an array already uses it,
# so the array's bytes would then be read as Python object pointers. The unpickler therefore
# never gives the pickle a real numpy object: the allowed globals are our own callables that
# return inert placeholders (`PickledDtype`, `PickledArray`, `PickledScalar`), which accept
# exactly one well-formed state each; the real arrays are made by us from the validated bytes and
# are only reachable through `Placeholder.value()`, after loading.

# Numeric numpy type strings as numpy pickles them ('f4', 'i8', 'u1', 'b1', 'c8', ...).
_NUMERIC_TYPESTR = re.compile(r"[biufc]\d{1,2}")
_MAX_NESTING = 64


class UnsafePickleError(UserError, pickle.UnpicklingError):
    """A pickle asked for something other than the data its reader allows.

    Raised before the offending object is called or built, so nothing from the file runs. It is
    a `UserError` (the file given is not what the reader expects) and a
    `pickle.UnpicklingError`.
    """


class MalformedPickleError(ValueError):
    """A well-formed, safe pickle whose content is not the layout the reader expects."""


class Inert:
    """Base of every object the unpickler hands to a pickle: no `__dict__`, refuses state.

    Defining `__setstate__` matters: without it, BUILD would set arbitrary attributes.
    """

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle tried to set the state of {self!r}")


class Placeholder(Inert):
    """An inert stand-in for a value (array, scalar, tensor) that `plain_data` resolves."""

    __slots__ = ()

    def value(self) -> Any:
        """The plain value (a numpy array or scalar) this placeholder stands for."""
        raise NotImplementedError


def check_flag(value: Any, what: str) -> bool:
    """`value` as a bool if it is exactly a bool or 0/1, else `UnsafePickleError`."""
    if isinstance(value, (bool, int)) and value in (0, 1):
        return bool(value)
    raise UnsafePickleError(f"{what} must be a bool. Received: {what}={value!r}")


def _numeric_dtype(typestr: Any) -> np.dtype:
    if isinstance(typestr, bytes):
        typestr = typestr.decode("ascii", errors="replace")
    if not isinstance(typestr, str) or not _NUMERIC_TYPESTR.fullmatch(typestr):
        raise UnsafePickleError(
            f"numpy dtype {typestr!r} is not a plain numeric dtype "
            "(bool, int, uint, float, complex)"
        )
    try:
        dtype = np.dtype(typestr)
    except TypeError as e:
        raise UnsafePickleError(f"numpy dtype {typestr!r} is not a valid numeric dtype") from e
    if dtype.kind not in "biufc" or dtype.hasobject:
        raise UnsafePickleError(f"numpy dtype {typestr!r} is not a plain numeric dtype")
    return dtype


class PickledDtype(Inert):
    """Placeholder for a `numpy.dtype` the pickle built; resolved to a fresh dtype by us.

    numpy pickles a dtype as `dtype('f4', False, True)` followed by BUILD with
    `(3, byteorder, None, None, None, -1, -1, flags)` (version 4 appends `metadata`). Only that
    plain form is accepted, once, and only before the dtype is used by an array or scalar.
    """

    __slots__ = ("_dtype", "_byteorder", "_has_state", "_used")

    def __init__(self, dtype: np.dtype):
        self._dtype = dtype
        self._byteorder = "="
        self._has_state = False
        self._used = False

    def __setstate__(self, state):
        if self._has_state or self._used:
            raise UnsafePickleError("the pickle tried to rebuild a numpy dtype after setting it")
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
            raise UnsafePickleError(f"unsupported numpy dtype state {state!r}")
        _, byteorder, subarray, names, fields, elsize, alignment, flags = state[:8]
        metadata = state[8] if len(state) == 9 else None
        plain = (
            byteorder in ("<", ">", "|", "=")
            and subarray is None
            and names is None
            and fields is None
            and elsize in (-1, self._dtype.itemsize)
            and alignment in (-1, self._dtype.alignment)
            and type(flags) is int
            and (metadata is None or (type(metadata) is dict and not metadata))
        )
        if not plain:
            raise UnsafePickleError(f"numpy dtype state {state!r} is not a plain numeric dtype")
        self._byteorder = byteorder
        self._has_state = True

    def resolve(self) -> np.dtype:
        self._used = True  # From now on the dtype is frozen: a later BUILD is refused.
        if self._byteorder in ("<", ">") and self._dtype.itemsize > 1:
            return self._dtype.newbyteorder(self._byteorder)
        return self._dtype

    def __repr__(self):
        return f"<pickled numpy dtype {self._dtype.str}>"


class PickledArray(Placeholder):
    """Placeholder for a `numpy.ndarray`; BUILD with the array state makes the real array.

    numpy pickles an array as `_reconstruct(ndarray, (0,), b'b')` then BUILD with
    `(1, shape, dtype, is_fortran, raw_bytes)`. The array is made by `np.frombuffer` on the
    validated bytes and kept here; the pickle never sees it. Other readers make one around an
    array they built themselves with `PickledArray.holding`.
    """

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    @classmethod
    def holding(cls, array: np.ndarray) -> "PickledArray":
        """A placeholder already set to (a C-contiguous, writable copy of) `array`."""
        holder = cls()
        holder.array = np.array(array, order="C", copy=True)
        return holder

    def __setstate__(self, state):
        if self.array is not None:
            raise UnsafePickleError("the pickle tried to rebuild a numpy array after setting it")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise UnsafePickleError("unsupported numpy array state")
        shape, pickled_dtype, is_fortran, data = state
        if not isinstance(pickled_dtype, PickledDtype):
            raise UnsafePickleError(
                f"numpy array state holds {pickled_dtype!r} where a numpy dtype belongs"
            )
        if not (
            isinstance(shape, tuple)
            and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(data, (bytes, bytearray))
        ):
            raise UnsafePickleError("numpy array state is not (shape, dtype, is_fortran, bytes)")
        fortran = check_flag(is_fortran, "is_fortran")
        dtype = pickled_dtype.resolve()
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise MalformedPickleError(
                f"numpy array of shape {shape} and dtype {dtype} needs "
                f"{math.prod(shape) * dtype.itemsize} bytes, the pickle holds {len(data)}"
            )
        array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        # A C-contiguous, writable copy in native byte order: the values are as stored.
        self.array = np.array(array, dtype=dtype.newbyteorder("="), order="C", copy=True)

    def value(self) -> np.ndarray:
        if self.array is None:
            raise MalformedPickleError("a numpy array without data")
        return self.array

    def __repr__(self):
        return "<pickled numpy array>"


class PickledScalar(Placeholder):
    """Placeholder for a numpy scalar (`numpy.core.multiarray.scalar(dtype, bytes)`)."""

    __slots__ = ("_value",)

    def __init__(self, value: np.generic):
        self._value = value

    def value(self) -> np.generic:
        return self._value

    def __repr__(self):
        return f"<pickled numpy scalar {self._value!r}>"


class _NdarrayMarker(Inert):
    """Stands for the global `numpy.ndarray`, valid only as the subtype of `_reconstruct`."""

    __slots__ = ()

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("the pickle tried to call numpy.ndarray directly")

    def __repr__(self):
        return "<numpy.ndarray marker>"


class _DtypeFactory(Inert):
    """Replaces the global `numpy.dtype`: accepts `dtype(typestr, align, copy)` only."""

    __slots__ = ()

    def __call__(self, typestr=None, align=False, copy=False, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("numpy.dtype was called with unexpected arguments")
        if check_flag(align, "align"):
            raise UnsafePickleError("aligned (structured) numpy dtypes are not allowed")
        check_flag(copy, "copy")
        return PickledDtype(_numeric_dtype(typestr))

    def __repr__(self):
        return "<safe numpy.dtype>"


class _ReconstructFactory(Inert):
    """Replaces `numpy.core.multiarray._reconstruct(subtype, shape, typecode)`.

    The subtype must be exactly `numpy.ndarray` (subclasses could run their own code).
    """

    __slots__ = ()

    def __call__(self, subtype=None, shape=None, typecode=None, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("_reconstruct was called with unexpected arguments")
        if subtype is not _NDARRAY:
            raise UnsafePickleError(f"_reconstruct may only build numpy.ndarray, not {subtype!r}")
        if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
            raise UnsafePickleError(f"_reconstruct got an invalid shape {shape!r}")
        if isinstance(typecode, PickledDtype):
            typecode.resolve()
        elif typecode not in (b"b", "b"):
            raise UnsafePickleError(f"_reconstruct got an unexpected typecode {typecode!r}")
        return PickledArray()

    def __repr__(self):
        return "<safe numpy _reconstruct>"


class _ScalarFactory(Inert):
    """Replaces `numpy.core.multiarray.scalar(dtype, bytes)` for numeric dtypes only."""

    __slots__ = ()

    def __call__(self, pickled_dtype=None, data=None, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("numpy scalar was called with unexpected arguments")
        if not isinstance(pickled_dtype, PickledDtype):
            raise UnsafePickleError(f"numpy scalar needs a numpy dtype, not {pickled_dtype!r}")
        dtype = pickled_dtype.resolve()
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise UnsafePickleError(f"numpy scalar of dtype {dtype} needs {dtype.itemsize} bytes")
        value = np.frombuffer(data, dtype=dtype)[0]
        return PickledScalar(value.astype(dtype.newbyteorder("=")))

    def __repr__(self):
        return "<safe numpy scalar>"


class DictStandIn(dict):
    """Stand-in for dict subclasses (`dnnlib.util.EasyDict`, `collections.OrderedDict`):
    filled by SETITEMS like a dict, converted to a plain dict by `plain_data`."""

    __slots__ = ()

    def __setstate__(self, state):
        if state:
            raise UnsafePickleError("the pickle tried to set attributes on a dict")


class EasyDictStandIn(DictStandIn):
    __slots__ = ()


class OrderedDictStandIn(DictStandIn):
    __slots__ = ()


_NDARRAY = _NdarrayMarker()

# The numpy globals a pickle of numeric arrays and scalars uses, with their stand-ins. Both numpy 1
# (`numpy.core`) and numpy 2 (`numpy._core`) spell the array reconstructors.
NUMPY_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _ReconstructFactory(),
    ("numpy._core.multiarray", "_reconstruct"): _ReconstructFactory(),
    ("numpy.core.multiarray", "scalar"): _ScalarFactory(),
    ("numpy._core.multiarray", "scalar"): _ScalarFactory(),
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeFactory(),
}


def plain_data(obj: Any, where: str, depth: int = 0) -> Any:
    """Copy of `obj` as plain Python data, numpy scalars and arrays; refuse anything else.

    Placeholders become their values, dict stand-ins plain dicts; keys must be str, int, bool or
    None. Anything else (a stand-in callable, a class) raises `UnsafePickleError`.
    """
    if depth > _MAX_NESTING:
        raise MalformedPickleError(f"{where} is nested more than {_MAX_NESTING} levels deep")
    if obj is None or type(obj) in (bool, int, float, complex, str, bytes):
        return obj
    if isinstance(obj, Placeholder):
        try:
            return obj.value()
        except MalformedPickleError as e:
            raise MalformedPickleError(f"{where}: {e}") from None
    if type(obj) in (list, tuple):
        items = [plain_data(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
        return items if type(obj) is list else tuple(items)
    if type(obj) is dict or isinstance(obj, DictStandIn):
        out = {}
        for key, value in obj.items():
            if type(key) not in (str, int, bool) and key is not None:
                raise UnsafePickleError(f"{where} has a key of type {type(key).__name__}")
            out[key] = plain_data(value, f"{where}[{key!r}]", depth + 1)
        return out
    raise UnsafePickleError(f"{where} holds {obj!r}, which is not plain data")


def not_data_error(obj: Any, where: str, expected: str) -> Exception:
    """The error for `obj` found where `expected` belongs: smuggled objects (callables,
    classes, our stand-ins) are unsafe; wrong plain data is merely malformed."""
    if type(obj) in (bool, int, float, complex, str, bytes, list, tuple, dict) or obj is None:
        return MalformedPickleError(f"{where} must be {expected}. Received: {type(obj).__name__}")
    return UnsafePickleError(f"{where} holds {obj!r} where {expected} belongs")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose only reachable globals are those of `allowed_globals`.

    In CPython every opcode that names a global (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT1/2/4)
    goes through `find_class`, so this is the one gate.

    Args:
        file: binary file object positioned at the pickle.
        allowed_globals: mapping `(module, name) -> stand-in`. Lookups that raise `KeyError`
            (or `TypeError`) are refused; a mapping may compute its stand-ins (e.g. one class
            per TorchScript class name) as long as it only returns inert objects.
        persistent_load: callable `pid -> object` or None. Resolves persistent ids (PyTorch's
            storages); None refuses every persistent id.
        allowed_hint: str. What the reader allows, for the refusal message.
    """

    def __init__(self, file, allowed_globals: Mapping, *,
                 persistent_load: Callable[[Any], Any] | None = None,
                 allowed_hint: str = "only plain data and numpy arrays are allowed"):
        super().__init__(file)
        self._allowed_globals = allowed_globals
        self._persistent_load = persistent_load
        self._allowed_hint = allowed_hint

    def find_class(self, module, name):
        try:
            return self._allowed_globals[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"the pickle references the global '{module}.{name}', which is not allowed "
                f"({self._allowed_hint})"
            ) from None

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise UnsafePickleError("the pickle uses persistent ids, which are not allowed")
        return self._persistent_load(pid)


def restricted_load(file, allowed_globals: Mapping, *,
                    persistent_load: Callable[[Any], Any] | None = None,
                    allowed_hint: str = "only plain data and numpy arrays are allowed") -> Any:
    """Reads one pickle from the binary `file` with a `RestrictedUnpickler` (same arguments).

    Returns what the pickle builds: plain data, the stand-ins of `allowed_globals` and
    placeholders (pass it through `plain_data` to get plain values).
    """
    return RestrictedUnpickler(file, allowed_globals, persistent_load=persistent_load,
                               allowed_hint=allowed_hint).load()


def check_readable_file(path: str | os.PathLike, what: str) -> str:
    """`path` as a str if it is an existing file, else a `UserError` naming `what`
    (e.g. "official network pickle")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{what[:1].upper()}{what[1:]} not found. Received: path={path!r}")
    if os.path.isdir(path):
        raise UserError(f"Expected {what}, got a directory. Received: path={path!r}")
    return path


@contextlib.contextmanager
def translate_pickle_errors(path: str, what: str):
    """Context manager: errors while reading the pickle `path` become one-line `UserError`s.

    `UnsafePickleError` says that nothing was executed; `MalformedPickleError` that the file is
    not a valid `what`; the exceptions a truncated or corrupt pickle raises inside `pickle`
    that it is not readable. Other `UserError`s pass unchanged, and so do bugs.
    """
    try:
        yield
    except UnsafePickleError as e:
        raise UnsafePickleError(
            f"Refusing to load {path!r}: {e}. Nothing from the file was executed."
        ) from None
    except MalformedPickleError as e:
        raise UserError(f"{path!r} is not a valid {what}: {e}") from None
    except UserError:
        raise
    except _CORRUPT as e:
        raise UserError(
            f"{path!r} is not a readable {what} (not a pickle, truncated or corrupt): "
            f"{type(e).__name__}: {e}"
        ) from None
    except OSError as e:
        raise UserError(f"Cannot read the {what} {path!r}: {e.strerror or e}") from None


# What a truncated or corrupt pickle raises inside `pickle` and the stand-ins.
_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, RecursionError)
