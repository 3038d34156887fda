"""NVIDIA's official TF network pickles as plain data: `OfficialNetwork`, `read_official_pickle`.

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

Security: the file is read by the restricted unpickler of `tf_stylegan.legacy.pickle_reader`
(nothing in the file runs). The globals allowed here are numpy's array, dtype and scalar
reconstructors (`NUMPY_GLOBALS`), `dnnlib.tflib.network.Network` (-> `OfficialNetwork`, which
accepts exactly a well-formed Network state of plain data), `dnnlib.util.EasyDict` and
`collections.OrderedDict` (-> dict stand-ins). The stored `build_module_src` is kept as text and
never executed; TensorFlow is not needed.
"""

from __future__ import annotations

import collections
import difflib
import os
import re
from typing import Any, Callable

import numpy as np

from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import (
    NUMPY_GLOBALS,
    DictStandIn,
    EasyDictStandIn,
    MalformedPickleError,
    OrderedDictStandIn,
    PickledArray,
    PickledScalar,
    UnsafePickleError,
    check_readable_file,
    not_data_error,
    plain_data,
    restricted_load,
    translate_pickle_errors,
)

__all__ = ["SUPPORTED_VERSIONS", "OfficialNetwork", "read_official_pickle"]

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
            raise not_data_error(state, "Network state", "a dict")
        where = f"Network {state.get('name')!r}" if type(state.get("name")) is str else "Network"
        unknown = set(state) - _STATE_KEYS
        if unknown:
            raise MalformedPickleError(
                f"{where} state has unexpected keys {sorted(map(repr, unknown))}"
            )
        version = state.get("version")
        if type(version) is not int:
            raise not_data_error(version, f"{where} version", "an int")
        if version not in SUPPORTED_VERSIONS:
            raise MalformedPickleError(
                f"{where} has state version {version}; supported versions are "
                f"{list(SUPPORTED_VERSIONS)}"
            )
        required = _STATE_KEYS - ({"components"} if version == 2 else set())
        missing = required - set(state)
        if missing:
            raise MalformedPickleError(f"{where} state lacks {sorted(missing)}")
        for key in ("name", "build_func_name", "build_module_src"):
            if type(state[key]) is not str:
                raise not_data_error(state[key], f"{where} {key}", "a str")

        static_kwargs = state["static_kwargs"]
        if not (type(static_kwargs) is dict or isinstance(static_kwargs, DictStandIn)):
            raise not_data_error(static_kwargs, f"{where} static_kwargs", "a dict")
        static_kwargs = plain_data(static_kwargs, f"{where} static_kwargs")

        components = state.get("components", {})
        if not (type(components) is dict or isinstance(components, DictStandIn)):
            raise not_data_error(components, f"{where} components", "a dict")
        checked_components = {}
        for key, comp in components.items():
            if type(key) is not str:
                raise not_data_error(key, f"{where} component name", "a str")
            if not isinstance(comp, OfficialNetwork):
                raise not_data_error(comp, f"{where} component {key!r}", "a Network")
            if not comp._initialized:  # Also rules out cycles: a parent is not built yet.
                raise MalformedPickleError(f"{where} component {key!r} is a Network without state")
            checked_components[key] = comp

        raw_variables = state["variables"]
        if type(raw_variables) not in (list, tuple):
            raise not_data_error(raw_variables, f"{where} variables", "a list")
        variables = collections.OrderedDict()
        for i, item in enumerate(raw_variables):
            if type(item) not in (list, tuple) or len(item) != 2:
                raise not_data_error(item, f"{where} variables[{i}]", "a (name, array) pair")
            var_name, value = item
            if type(var_name) is not str:
                raise not_data_error(var_name, f"{where} variables[{i}] name", "a str")
            if var_name in variables:
                raise MalformedPickleError(f"{where} has the variable {var_name!r} twice")
            if isinstance(value, PickledScalar):
                value = np.asarray(value.value())
            elif isinstance(value, PickledArray) and value.array is not None:
                value = value.array
            else:
                raise not_data_error(value, f"{where} variable {var_name!r}", "a numpy array")
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
                        value = PickledArray.holding(value)
                    item = (name, value)
                converted.append(item)
            state["variables"] = converted
        net = cls()
        try:
            net.__setstate__(state)
        except MalformedPickleError as e:
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


# (module, name) -> what the pickle gets instead.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("dnnlib.tflib.network", "Network"): OfficialNetwork,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("collections", "OrderedDict"): OrderedDictStandIn,
}


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
    what = "official network pickle"
    path = check_readable_file(path, what)
    with translate_pickle_errors(path, what), open(path, "rb") as f:
        result = restricted_load(f, _ALLOWED_GLOBALS, allowed_hint=_ALLOWED_HINT)

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
