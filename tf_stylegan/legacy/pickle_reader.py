"""Reading NVIDIA's official network pickles without executing anything from them.

Security guarantee of this file (it is reviewed as security code):

* Nothing in the file runs. Every opcode that names a global goes through one gate,
  `_RestrictedUnpickler.find_class`, so the only callables that the REDUCE, NEWOBJ and BUILD
  opcodes can reach are the stand-ins defined here; persistent ids are refused.
* Only a whitelist of globals is resolved (`_ALLOWED_GLOBALS`): numpy's array, dtype and scalar
  reconstructors (numpy 1 and 2 spellings), `dnnlib.tflib.network.Network`,
  `dnnlib.util.EasyDict` and `collections.OrderedDict`. Each resolves to a stand-in of ours
  (`_DtypeFactory`, `_ReconstructFactory`, `_ScalarFactory`, `OfficialNetwork`, `_PickledDict`)
  that accepts exactly the well-formed arguments and state numpy and the official code write,
  and builds plain data: numeric numpy arrays, numbers, strings, lists, tuples and dicts.
* Unknown globals fail loudly: any other global (`os.system`, `builtins.eval`, a numpy
  subclass, ...) raises `UnsafePickleError` before it could be called or built, as does any
  non-data object placed where data belongs. The stored `build_module_src` is kept as text and
  never executed; TensorFlow is not needed.

What is read: the official code (NVlabs/stylegan `dnnlib/tflib/network.py`, `Network.__getstate__`)
pickles a training snapshot or a released model (`karras2019stylegan-ffhq-1024x1024.pkl`,
`network-snapshot-*.pkl`) as a tuple `(G, D, Gs)` of `dnnlib.tflib.network.Network` objects.
Each one pickles its state as a dict: `version` (3 for StyleGAN, 4 for StyleGAN2, 2 for
Progressive GAN), `name`, `static_kwargs` (the keyword arguments of the build function),
`components` (sub-networks: `mapping`, `synthesis`), `build_module_src` (the full Python source
of the network module), `build_func_name` and `variables`, a list of `(name, ndarray)` holding
the raw, unscaled TensorFlow variables, named relative to their network (e.g. `Dense0/weight`
in the mapping component, `4x4/Const/const` in synthesis, `4x4/Dense1/bias` in D).
`read_official_pickle` returns them as `OfficialNetwork` objects; mapping the variables onto our
networks is the job of `tf_stylegan.legacy` (e.g. `tf_stylegan/legacy/stylegan.py`).
"""

from __future__ import annotations

import collections
import difflib
import math
import os
import pickle
import re
from typing import Any, Callable

import numpy as np

from tf_stylegan.errors import UserError

# Why the numpy globals are wrapped and not handed out as they are: a pickle may send BUILD
# (`__setstate__`) to any object it holds, at any later point. A real `numpy.dtype` can be
# rebuilt in place into a structured dtype with object fields *after* an array already uses it,
# so the array's bytes would then be read as Python object pointers. The unpickler therefore
# never gives the pickle a real numpy object: the allowed globals are our own callables that
# return inert placeholders (`_PickledDtype`, `_PickledArray`, `_PickledScalar`), which accept
# exactly one well-formed state each; the real arrays are made by us from the validated bytes and
# are only reachable through `OfficialNetwork`, after loading.

_ALLOWED_HINT = "only numpy arrays and dnnlib.tflib.network.Network objects are allowed"

# Official state keys (network.py `__getstate__`); version 2 (Progressive GAN) has no components.
_STATE_KEYS = frozenset(
    {
        "version",
        "name",
        "static_kwargs",
        "components",
        "build_module_src",
        "build_func_name",
        "variables",
    }
)
SUPPORTED_VERSIONS = (2, 3, 4)

# Variables the official code creates with trainable=False (networks_stylegan.py: `lod` in every
# network, `dlatent_avg` in G_style, the constant noise buffers `noise0..noiseN` in G_synthesis).
# Every other variable is trainable, including the per-layer `.../Noise/weight`.
_NON_TRAINABLE = re.compile(r"lod|dlatent_avg|noise\d+")

# Numeric numpy type strings as numpy pickles them ('f4', 'i8', 'u1', 'b1', 'c8', ...).
_NUMERIC_TYPESTR = re.compile(r"[biufc]\d{1,2}")
_MAX_NESTING = 64


class UnsafePickleError(UserError, pickle.UnpicklingError):
    """A pickle asked for something other than numpy arrays and official Network objects.

    Raised before the offending object is called or built, so nothing from the file runs. It is
    a `UserError` (the file given is not an official network) and a `pickle.UnpicklingError`.
    """


class _Malformed(ValueError):
    """Well-formed pickle whose content is not an official network state."""


class _Inert:
    """Base of every object the unpickler hands to a pickle: no `__dict__`, refuses state.

    Defining `__setstate__` matters: without it, BUILD would set arbitrary attributes.
    """

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle tried to set the state of {self!r}")


def _check_flag(value: Any, what: str) -> bool:
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


class _PickledDtype(_Inert):
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


class _PickledArray(_Inert):
    """Placeholder for a `numpy.ndarray`; BUILD with the array state makes the real array.

    numpy pickles an array as `_reconstruct(ndarray, (0,), b'b')` then BUILD with
    `(1, shape, dtype, is_fortran, raw_bytes)`. The array is made by `np.frombuffer` on the
    validated bytes and kept here; the pickle never sees it.
    """

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if self.array is not None:
            raise UnsafePickleError("the pickle tried to rebuild a numpy array after setting it")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise UnsafePickleError("unsupported numpy array state")
        shape, pickled_dtype, is_fortran, data = state
        if not isinstance(pickled_dtype, _PickledDtype):
            raise UnsafePickleError(
                f"numpy array state holds {pickled_dtype!r} where a numpy dtype belongs"
            )
        if not (
            isinstance(shape, tuple)
            and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(data, (bytes, bytearray))
        ):
            raise UnsafePickleError("numpy array state is not (shape, dtype, is_fortran, bytes)")
        fortran = _check_flag(is_fortran, "is_fortran")
        dtype = pickled_dtype.resolve()
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise _Malformed(
                f"numpy array of shape {shape} and dtype {dtype} needs "
                f"{math.prod(shape) * dtype.itemsize} bytes, the pickle holds {len(data)}"
            )
        array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        # A C-contiguous, writable copy in native byte order: the values are as stored.
        self.array = np.array(array, dtype=dtype.newbyteorder("="), order="C", copy=True)

    def __repr__(self):
        return "<pickled numpy array>"


class _PickledScalar(_Inert):
    """Placeholder for a numpy scalar (`numpy.core.multiarray.scalar(dtype, bytes)`)."""

    __slots__ = ("value",)

    def __init__(self, value: np.generic):
        self.value = value

    def __repr__(self):
        return f"<pickled numpy scalar {self.value!r}>"


class _NdarrayMarker(_Inert):
    """Stands for the global `numpy.ndarray`, valid only as the subtype of `_reconstruct`."""

    __slots__ = ()

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("the pickle tried to call numpy.ndarray directly")

    def __repr__(self):
        return "<numpy.ndarray marker>"


class _DtypeFactory(_Inert):
    """Replaces the global `numpy.dtype`: accepts `dtype(typestr, align, copy)` only."""

    __slots__ = ()

    def __call__(self, typestr=None, align=False, copy=False, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("numpy.dtype was called with unexpected arguments")
        if _check_flag(align, "align"):
            raise UnsafePickleError("aligned (structured) numpy dtypes are not allowed")
        _check_flag(copy, "copy")
        return _PickledDtype(_numeric_dtype(typestr))

    def __repr__(self):
        return "<safe numpy.dtype>"


class _ReconstructFactory(_Inert):
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
        if isinstance(typecode, _PickledDtype):
            typecode.resolve()
        elif typecode not in (b"b", "b"):
            raise UnsafePickleError(f"_reconstruct got an unexpected typecode {typecode!r}")
        return _PickledArray()

    def __repr__(self):
        return "<safe numpy _reconstruct>"


class _ScalarFactory(_Inert):
    """Replaces `numpy.core.multiarray.scalar(dtype, bytes)` for numeric dtypes only."""

    __slots__ = ()

    def __call__(self, pickled_dtype=None, data=None, *rest, **kwargs):
        if rest or kwargs:
            raise UnsafePickleError("numpy scalar was called with unexpected arguments")
        if not isinstance(pickled_dtype, _PickledDtype):
            raise UnsafePickleError(f"numpy scalar needs a numpy dtype, not {pickled_dtype!r}")
        dtype = pickled_dtype.resolve()
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise UnsafePickleError(f"numpy scalar of dtype {dtype} needs {dtype.itemsize} bytes")
        value = np.frombuffer(data, dtype=dtype)[0]
        return _PickledScalar(value.astype(dtype.newbyteorder("=")))

    def __repr__(self):
        return "<safe numpy scalar>"


class _PickledDict(dict):
    """Stand-in for dict subclasses of the official code (`dnnlib.util.EasyDict`,
    `collections.OrderedDict`): filled by SETITEMS like a dict, converted to a plain dict."""

    __slots__ = ()

    def __setstate__(self, state):
        if state:
            raise UnsafePickleError("the pickle tried to set attributes on a dict")


class _PickledEasyDict(_PickledDict):
    __slots__ = ()


class _PickledOrderedDict(_PickledDict):
    __slots__ = ()


_NDARRAY = _NdarrayMarker()
_DTYPE = _DtypeFactory()
_RECONSTRUCT = _ReconstructFactory()
_SCALAR = _ScalarFactory()


def _plain_data(obj: Any, where: str, depth: int = 0) -> Any:
    """Copy of `obj` as plain Python data, numpy scalars and arrays; refuse anything else."""
    if depth > _MAX_NESTING:
        raise _Malformed(f"{where} is nested more than {_MAX_NESTING} levels deep")
    if obj is None or type(obj) in (bool, int, float, complex, str, bytes):
        return obj
    if isinstance(obj, _PickledScalar):
        return obj.value
    if isinstance(obj, _PickledArray):
        if obj.array is None:
            raise _Malformed(f"{where} is a numpy array without data")
        return obj.array
    if type(obj) in (list, tuple):
        items = [_plain_data(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
        return items if type(obj) is list else tuple(items)
    if type(obj) is dict or isinstance(obj, _PickledDict):
        out = {}
        for key, value in obj.items():
            if type(key) not in (str, int, bool) and key is not None:
                raise UnsafePickleError(f"{where} has a key of type {type(key).__name__}")
            out[key] = _plain_data(value, f"{where}[{key!r}]", depth + 1)
        return out
    raise UnsafePickleError(f"{where} holds {obj!r}, which is not plain data")


def _not_data_error(obj: Any, where: str, expected: str) -> Exception:
    """Smuggled objects (callables, classes, our stubs) are unsafe; wrong plain data is not."""
    if type(obj) in (bool, int, float, complex, str, bytes, list, tuple, dict) or obj is None:
        return _Malformed(f"{where} must be {expected}. Received: {type(obj).__name__}")
    return UnsafePickleError(f"{where} holds {obj!r} where {expected} belongs")


class OfficialNetwork:
    """The state of one official `dnnlib.tflib.network.Network`, as plain data.

    Made by `read_official_pickle`; it stores what the pickle holds and nothing runs: the
    stored `build_module_src` is kept as text only.

    Attributes:
        version: int. State version (3 for StyleGAN v1 networks).
        name: str. Network name: "G", "D", "Gs", or "G_mapping" / "G_synthesis" for components.
        static_kwargs: dict. Build-function keyword arguments (e.g. resolution, fmap_base).
        components: dict[str, OfficialNetwork]. Sub-networks ("synthesis", "mapping").
        build_func_name: str. "G_style", "G_mapping", "G_synthesis", "D_basic", ...
        build_module_src: str. Source text of the official network module (never executed).
        variables: OrderedDict[str, np.ndarray]. This network's own variables in file order,
            names relative to the network scope ("Dense0/weight", "4x4/Conv/bias", "lod"),
            raw values as stored (float32; the scalar `lod` as a 0-d array).
    """

    def __new__(cls, *args, **kwargs):
        # The pickle creates networks with NEWOBJ and no arguments; anything else is not ours.
        if args or kwargs:
            raise UnsafePickleError("dnnlib.tflib.network.Network was created with arguments")
        self = super().__new__(cls)
        self._initialized = False
        return self

    def __setstate__(self, state):
        if self._initialized:
            raise UnsafePickleError(f"the pickle tried to set the state of {self!r} twice")
        if type(state) is not dict:
            raise _not_data_error(state, "Network state", "a dict")
        where = f"Network {state.get('name')!r}" if type(state.get("name")) is str else "Network"
        unknown = set(state) - _STATE_KEYS
        if unknown:
            raise _Malformed(f"{where} state has unexpected keys {sorted(map(repr, unknown))}")
        version = state.get("version")
        if type(version) is not int:
            raise _not_data_error(version, f"{where} version", "an int")
        if version not in SUPPORTED_VERSIONS:
            raise _Malformed(
                f"{where} has state version {version}; supported versions are "
                f"{list(SUPPORTED_VERSIONS)}"
            )
        required = _STATE_KEYS - ({"components"} if version == 2 else set())
        missing = required - set(state)
        if missing:
            raise _Malformed(f"{where} state lacks {sorted(missing)}")
        for key in ("name", "build_func_name", "build_module_src"):
            if type(state[key]) is not str:
                raise _not_data_error(state[key], f"{where} {key}", "a str")

        static_kwargs = state["static_kwargs"]
        if not (type(static_kwargs) is dict or isinstance(static_kwargs, _PickledDict)):
            raise _not_data_error(static_kwargs, f"{where} static_kwargs", "a dict")
        static_kwargs = _plain_data(static_kwargs, f"{where} static_kwargs")

        components = state.get("components", {})
        if not (type(components) is dict or isinstance(components, _PickledDict)):
            raise _not_data_error(components, f"{where} components", "a dict")
        checked_components = {}
        for key, comp in components.items():
            if type(key) is not str:
                raise _not_data_error(key, f"{where} component name", "a str")
            if not isinstance(comp, OfficialNetwork):
                raise _not_data_error(comp, f"{where} component {key!r}", "a Network")
            if not comp._initialized:  # Also rules out cycles: a parent is not built yet.
                raise _Malformed(f"{where} component {key!r} is a Network without state")
            checked_components[key] = comp

        raw_variables = state["variables"]
        if type(raw_variables) not in (list, tuple):
            raise _not_data_error(raw_variables, f"{where} variables", "a list")
        variables = collections.OrderedDict()
        for i, item in enumerate(raw_variables):
            if type(item) not in (list, tuple) or len(item) != 2:
                raise _not_data_error(item, f"{where} variables[{i}]", "a (name, array) pair")
            var_name, value = item
            if type(var_name) is not str:
                raise _not_data_error(var_name, f"{where} variables[{i}] name", "a str")
            if var_name in variables:
                raise _Malformed(f"{where} has the variable {var_name!r} twice")
            if isinstance(value, _PickledScalar):
                value = np.asarray(value.value)
            elif isinstance(value, _PickledArray) and value.array is not None:
                value = value.array
            else:
                raise _not_data_error(value, f"{where} variable {var_name!r}", "a numpy array")
            variables[var_name] = value

        self.version = version
        self.name = state["name"]
        self.static_kwargs = static_kwargs
        self.components = checked_components
        self.build_func_name = state["build_func_name"]
        self.build_module_src = state["build_module_src"]
        self.variables = variables
        self._initialized = True

    @classmethod
    def from_state(cls, state: dict) -> "OfficialNetwork":
        """Build from a state dict of plain data (numpy arrays as `variables` values).

        Useful to make official-layout networks in tests; the same checks as for a pickle apply.
        """
        if type(state) is not dict:
            raise ValueError(f"state must be a dict. Received: state={type(state).__name__}")
        state = dict(state)
        if type(state.get("variables")) in (list, tuple):
            converted = []
            for item in state["variables"]:
                if type(item) in (list, tuple) and len(item) == 2:
                    name, value = item
                    if isinstance(value, (np.ndarray, np.generic)):
                        value = np.asarray(value)
                        if value.dtype.kind not in "biufc":
                            raise ValueError(
                                f"variable {name!r} has non-numeric dtype {value.dtype}"
                            )
                        holder = _PickledArray()
                        holder.array = np.array(value)
                        value = holder
                    item = (name, value)
                converted.append(item)
            state["variables"] = converted
        net = cls()
        try:
            net.__setstate__(state)
        except _Malformed as e:
            raise ValueError(str(e)) from None
        return net

    # ---------------------------------------------------------------------------------------------
    # Queries.

    def all_variables(self) -> "collections.OrderedDict[str, np.ndarray]":
        """Own variables, then those of each component prefixed with its name, as in the
        official `Network.vars` (e.g. "dlatent_avg", "G_mapping/Dense0/weight")."""
        out = collections.OrderedDict(self.variables)
        for comp in self.components.values():
            for name, value in comp.all_variables().items():
                out[f"{comp.name}/{name}"] = value
        return out

    def get(self, name: str) -> np.ndarray:
        """The variable `name` (own or "Component/..." as in `all_variables`), like the official
        `Network.get_var`."""
        variables = self.all_variables()
        if name not in variables:
            close = difflib.get_close_matches(name, list(variables), n=3)
            hint = f" Close matches: {close}." if close else ""
            raise KeyError(f"Network {self.name!r} has no variable {name!r}.{hint}")
        return variables[name]

    @staticmethod
    def is_trainable(name: str) -> bool:
        """Whether the official code creates the variable `name` as trainable: all except `lod`,
        `dlatent_avg` and the constant noise buffers `noiseK` (checked on the last name part,
        relative to the owning network)."""
        return not _NON_TRAINABLE.fullmatch(name.rsplit("/", 1)[-1])

    def _rows(self) -> list[tuple[str, tuple[int, ...], int, bool]]:
        rows = [
            (name, tuple(v.shape), int(v.size), self.is_trainable(name))
            for name, v in self.variables.items()
        ]
        for comp in self.components.values():
            rows += [(f"{comp.name}/{n}", s, c, t) for n, s, c, t in comp._rows()]
        return rows

    def num_trainable_params(self) -> int:
        """Trainable parameter count including components, as the official `print_layers`
        totals it (e.g. 26,219,627 for the 1024x1024 FFHQ G, the `Total` the official README
        shows for Gs)."""
        return sum(count for _, _, count, trainable in self._rows() if trainable)

    def list_variables(
        self, print_fn: Callable[[str], Any] | None = print
    ) -> list[tuple[str, tuple[int, ...], int, bool]]:
        """Print a table of variables like the official `print_layers` and return its rows.

        Each row is `(name, shape, size, trainable)`; the printed "Params" column shows "-" for
        non-trainable variables and the "Total" line counts trainable parameters only, as the
        official table does. Pass `print_fn=None` to only return the rows.
        """
        rows = self._rows()
        if print_fn is not None:
            width = max([len(self.name), len("Total")] + [len(r[0]) for r in rows]) + 2
            rule = f"{'---':<{width}}{'---':>10}  ---"
            lines = [f"{self.name:<{width}}{'Params':>10}  Shape", rule]
            for name, shape, count, trainable in rows:
                lines.append(f"{name:<{width}}{count if trainable else '-':>10}  {shape}")
            lines.append(rule)
            lines.append(f"{'Total':<{width}}{self.num_trainable_params():>10}")
            print_fn("\n".join(lines))
        return rows

    def __repr__(self):
        if not self._initialized:
            return "OfficialNetwork(<no state>)"
        return (
            f"OfficialNetwork(name={self.name!r}, build_func_name={self.build_func_name!r}, "
            f"version={self.version}, variables={len(self.variables)}, "
            f"components={list(self.components)}, "
            f"trainable_params={self.num_trainable_params():,})"
        )


# (module, name) -> what the pickle gets instead. Both numpy 1 (`numpy.core`) and numpy 2
# (`numpy._core`) spell the array reconstructors; official pickles use the numpy 1 names.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("dnnlib.tflib.network", "Network"): OfficialNetwork,
    ("dnnlib.util", "EasyDict"): _PickledEasyDict,
    ("collections", "OrderedDict"): _PickledOrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose only reachable globals are those of `_ALLOWED_GLOBALS`.

    In CPython every opcode that names a global (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT1/2/4)
    goes through `find_class`, so this is the one gate; persistent ids are refused too.
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"the pickle references the global '{module}.{name}', which is not allowed "
                f"({_ALLOWED_HINT})"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("the pickle uses persistent ids, which are not allowed")


def read_official_pickle(path: str | os.PathLike) -> tuple[OfficialNetwork, ...]:
    """Read an official StyleGAN network pickle into `(G, D, Gs)` `OfficialNetwork`s.

    Nothing from the file is executed and TensorFlow is not needed: only numpy arrays of numeric
    dtypes and the Network state stubs can be built (see the module docstring).

    Args:
        path: str or path-like. `karras2019stylegan-*.pkl`, `network-snapshot-*.pkl`, ...

    Returns:
        The tuple `(G, D, Gs)` (instantaneous G, D, and the moving-average Gs).

    Raises:
        UnsafePickleError: the file references anything but the allowed globals, or puts
            objects that are not plain data into a Network state.
        UserError: `path` does not exist or cannot be opened, is not a pickle, is truncated, is
            not a tuple of three Networks, or holds a Network state of an unsupported version
            or layout.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"Official network pickle not found. Received: path={path!r}")
    if os.path.isdir(path):
        raise UserError(
            f"Expected an official network pickle, got a directory. Received: path={path!r}"
        )
    try:
        f = open(path, "rb")
    except OSError as e:
        raise UserError(f"Cannot open the official network pickle {path!r}: {e.strerror}") from None
    try:
        with f:
            result = _RestrictedUnpickler(f).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(
            f"Refusing to load {path!r}: {e}. Nothing from the file was executed."
        ) from None
    except _Malformed as e:
        raise UserError(f"{path!r} is not a valid official network pickle: {e}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
        RecursionError,
    ) as e:
        raise UserError(
            f"{path!r} is not a readable official network pickle (not a pickle, truncated or "
            f"corrupt): {type(e).__name__}: {e}"
        ) from None

    networks_ok = (
        isinstance(result, tuple)
        and len(result) == 3
        and all(isinstance(n, OfficialNetwork) and n._initialized for n in result)
    )
    if not networks_ok:
        if isinstance(result, tuple):
            got = f"a tuple of {len(result)}: ({', '.join(type(n).__name__ for n in result)})"
        else:
            got = type(result).__name__
        raise UserError(
            f"{path!r} does not hold a tuple (G, D, Gs) of official Networks; it holds {got}"
        )
    return result

