"""Writers of stylegan2-ada-pytorch network pickles for the tests, without torch.

The layout is the one stylegan2-ada-pytorch's training loop writes (tests/fixtures/
official-ada-pytorch/README.md, section 3): a dict whose networks are
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with `meta = {type, version,
module_src, class_name, state}`, tensors as in tests/tf_stylegan/torch_streams.py
(`_rebuild_parameter(_rebuild_tensor_v2(_load_from_bytes(<legacy stream>), ...))`), `EasyDict`
kwargs and `OrderedDict` hooks. Stand-ins with the official module and class names (registered
in `sys.modules` by `fake_ada_modules`) make Python's own pickler write the same opcodes.

`write_snapshot` writes a snapshot read from the official fixture back, record by record, so
the variants other writers produce (another pickle protocol, numpy 1's scalar global, parameters
with state, storages on a GPU, real ADA runs' `conv_clamp`) are made from real networks.
"""

import collections
import io
import pickle
import pickletools
import sys
import types

import numpy as np

from tests.tf_stylegan import torch_streams as ts
from tf_stylegan.legacy.pytorch_network import PersistentModule, PytorchSnapshot


def _reconstruct_persistent_obj(meta):
    raise AssertionError("never called: only pickled by reference")


RECONSTRUCT = ts._global("torch_utils.persistence", "_reconstruct_persistent_obj",
                         _reconstruct_persistent_obj)
EasyDict = ts._global("dnnlib.util", "EasyDict", type("EasyDict", (dict,), {}))
HOOK_DICTS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks",
              "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
              "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks",
              "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def fake_ada_modules(monkeypatch):
    """Registers `torch`, `torch._utils`, `torch.storage`, `torch_utils.persistence` and
    `dnnlib.util` modules holding the stand-ins, so that they pickle by reference."""
    ts.fake_torch_modules(monkeypatch)
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = RECONSTRUCT
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")),
                         ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)


class Persistent:
    """`_reconstruct_persistent_obj(meta)` of a module of class `class_name` with `state`."""

    def __init__(self, class_name, state, module_src="# source text omitted", version=6,
                 meta_extra=None):
        self.meta = dict(type="class", version=version, module_src=module_src,
                         class_name=class_name, state=state, **(meta_extra or {}))

    def __reduce__(self):
        return RECONSTRUCT, (self.meta,)


class Options:
    """How `write_snapshot` writes tensors: `location` of every storage, parameters with a
    Python state (`_rebuild_parameter_with_state`)."""

    def __init__(self, location="cpu", parameter_state=None):
        self.location = location
        self.parameter_state = parameter_state


def _tensor(array, options):
    array = np.ascontiguousarray(array)
    strides = tuple(s // array.itemsize for s in array.strides)
    storage = ts.StorageFromBytes(array, location=options.location)
    return ts.Tensor(storage, array.shape, strides)


def _value(value, options):
    if isinstance(value, PersistentModule):
        return module_writer(value, options)
    if isinstance(value, frozenset):
        return set(value)
    if isinstance(value, list):
        return [_value(v, options) for v in value]
    if isinstance(value, tuple):
        return tuple(_value(v, options) for v in value)
    if isinstance(value, dict):
        return {k: _value(v, options) for k, v in value.items()}
    return value


def module_writer(module: PersistentModule, options=None, edit=None):
    """A `Persistent` writing `module` (a record read from a pickle) back as the official code
    wrote it. `edit(class_name, state)` may change each module's state (a dict) in place."""
    options = options or Options()
    state = {}
    for key, value in module.state.items():
        if key == "_parameters":
            state[key] = {name: ts.Parameter(_tensor(v, options), options.parameter_state)
                          for name, v in value.items()}
        elif key == "_buffers":
            state[key] = {name: _tensor(v, options) for name, v in value.items()}
        elif key == "_modules":
            state[key] = {name: module_writer(child, options, edit)
                          for name, child in value.items()}
        elif key in HOOK_DICTS:
            state[key] = collections.OrderedDict()
        elif key == "_init_kwargs":
            state[key] = {k: EasyDict(v) if isinstance(v, dict) else _value(v, options)
                          for k, v in value.items()}
        else:
            state[key] = _value(value, options)
    if edit is not None:
        edit(module.class_name, state)
    return Persistent(module.class_name, state, module.module_src, module.version)


def snapshot_dict(snapshot: PytorchSnapshot, options=None, edit=None):
    """The dict `training_loop.py` pickles, from a snapshot read from a pickle."""
    def write(m):
        return None if m is None else module_writer(m, options, edit)

    return {"training_set_kwargs": snapshot.training_set_kwargs, "G": write(snapshot.G),
            "D": write(snapshot.D), "G_ema": write(snapshot.G_ema),
            "augment_pipe": write(snapshot.augment_pipe)}


def write_snapshot(path, snapshot, protocol=4, options=None, edit=None, replace=()):
    """Pickles `snapshot_dict(...)` with `protocol` to `path`; `replace` is a list of
    (old bytes, new bytes) applied to the pickle (e.g. another module name of a GLOBAL)."""
    buf = io.BytesIO()
    pickle.dump(snapshot_dict(snapshot, options, edit), buf, protocol=protocol)
    data = buf.getvalue()
    for old, new in replace:
        assert old in data, old
        data = data.replace(old, new)
    with open(path, "wb") as f:
        f.write(data)
    return path


def pickle_globals(data):
    """The (module, name) of every global a pickle references, found by reading its opcodes
    (`pickletools`; nothing is built): GLOBAL's argument, or the two strings STACK_GLOBAL
    takes from the stack (pushed directly or fetched from the memo)."""
    found, stack, memo = set(), [], {}
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            stack.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = stack[-1] if stack else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(int(arg)))
        elif op.name == "STACK_GLOBAL":
            found.add((stack[-2], stack[-1]))
            stack.append(None)
        else:
            stack.append(None)
    return found
