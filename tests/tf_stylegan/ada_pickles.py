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
    array = np.array(array, order="C")  # (not ascontiguousarray: it makes 0-d arrays 1-d)
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


# --- records of stylegan2-ada-pytorch networks from official TF-layout variables -----------------
FIR = (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64).astype(np.float32)


def record(class_name, parameters=None, buffers=None, modules=None, **attrs):
    """A `PersistentModule` of `class_name` with torch's module state and attributes `attrs`."""
    state = {"training": False, "_parameters": dict(parameters or {}),
             "_buffers": dict(buffers or {}), "_non_persistent_buffers_set": frozenset(),
             "_modules": dict(modules or {}), **{k: {} for k in HOOK_DICTS}, **attrs}
    return PersistentModule(class_name, 6, "# source text omitted", state)


def _pt_conv(w, flip=False):
    """A TF-layout kernel [k, k, I, O] as PyTorch's [O, I, k, k] (fixture README 5.1), flipped
    for the true convolutions of G's up-sampling layers."""
    w = np.asarray(w, np.float32)
    return np.ascontiguousarray((w[::-1, ::-1] if flip else w).transpose(3, 2, 0, 1))


def _fc(weight, bias, activation="linear", lrmul=1.0):
    weight = np.ascontiguousarray(np.asarray(weight, np.float32).T)  # [in, out] -> [out, in]
    return record("FullyConnectedLayer", {"weight": weight, "bias": np.asarray(bias, "f4")},
                   activation=activation, bias_gain=lrmul,
                   weight_gain=np.float64(lrmul / np.sqrt(weight.shape[1])))


def _mapping_record(dense, z_dim, c_dim, w_dim, num_ws, lrmul, w_avg=None, embed=None):
    modules = {f"fc{i}": _fc(w, b, "lrelu", lrmul) for i, (w, b) in enumerate(dense)}
    if embed is not None:
        modules["embed"] = _fc(*embed)
    buffers = {} if w_avg is None else {"w_avg": np.asarray(w_avg, np.float32)}
    return record("MappingNetwork", buffers=buffers, modules=modules, z_dim=z_dim, c_dim=c_dim,
                   w_dim=w_dim, num_ws=num_ws, num_layers=len(dense),
                   w_avg_beta=None if w_avg is None else 0.995)


def pt_generator(own, mapping, synth, resolution, architecture="skip", conv_clamp=None,
                 lrmul=0.01, channels=3):
    """A stylegan2-ada-pytorch `Generator` record holding the official TF-layout variables of
    `stylegan2_numpy.random_official_generator` (own, mapping, synthesis), renamed and
    re-laid-out by the fixture README's table (section 5.1, which NVIDIA's converter inverts:
    transposes, `mod_bias + 1`, the up-convolutions flipped)."""
    R = int(np.log2(resolution))
    latent = own["dlatent_avg"].shape[0]
    i = 0
    dense = []
    while f"Dense{i}/weight" in mapping:
        dense.append((mapping[f"Dense{i}/weight"], mapping[f"Dense{i}/bias"]))
        i += 1

    def modulated(scope, class_name, noise_index=None, up=1):
        v = {k.split("/")[-1]: synth[k] for k in synth if k.startswith(scope + "/")}
        affine = _fc(v["mod_weight"], v["mod_bias"] + np.float32(1))
        params = {"weight": _pt_conv(v["weight"], flip=up == 2), "bias": v["bias"]}
        attrs = {"conv_clamp": conv_clamp}
        buffers = {}
        if class_name == "SynthesisLayer":
            params["noise_strength"] = np.asarray(v["noise_strength"], np.float32)
            buffers = {"noise_const": synth[f"noise{noise_index}"][0, 0], "resample_filter": FIR}
            attrs.update(activation="lrelu", use_noise=True, up=up, act_gain=np.float64(2**0.5))
        else:
            attrs["weight_gain"] = np.float64(1 / np.sqrt(params["weight"].shape[1]))
        return record(class_name, params, buffers, {"affine": affine}, **attrs)

    blocks = {}
    for r in range(2, R + 1):
        s = f"{2**r}x{2**r}"
        modules = {}
        if r == 2:
            params = {"const": np.ascontiguousarray(synth["4x4/Const/const"][0])}
            modules["conv1"] = modulated("4x4/Conv", "SynthesisLayer", 0)
        else:
            params = {}
            modules["conv0"] = modulated(f"{s}/Conv0_up", "SynthesisLayer", 2 * r - 5, up=2)
            modules["conv1"] = modulated(f"{s}/Conv1", "SynthesisLayer", 2 * r - 4)
        if architecture == "skip" or r == R:
            modules["torgb"] = modulated(f"{s}/ToRGB", "ToRGBLayer")
        if architecture == "resnet" and r > 2:
            modules["skip"] = record(
                "Conv2dLayer", {"weight": _pt_conv(synth[f"{s}/Skip/weight"], flip=True)},
                {"resample_filter": FIR}, activation="linear", up=2, down=1, conv_clamp=None,
                bias=None)
        blocks[f"b{2**r}"] = record("SynthesisBlock", params, {"resample_filter": FIR},
                                     modules, architecture=architecture, resolution=2**r,
                                     in_channels=0 if r == 2 else None, is_last=r == R)
    num_ws = 2 * R - 2
    synthesis = record("SynthesisNetwork", modules=blocks, num_ws=num_ws,
                        block_resolutions=[2**r for r in range(2, R + 1)])
    mapping_rec = _mapping_record(dense, latent, 0, latent, num_ws, lrmul, own["dlatent_avg"])
    return record("Generator", modules={"synthesis": synthesis, "mapping": mapping_rec},
                   z_dim=latent, c_dim=0, w_dim=latent, img_resolution=resolution,
                   img_channels=channels, num_ws=num_ws, _init_kwargs={})


def pt_discriminator(v, resolution, architecture="resnet", conv_clamp=None, channels=3):
    """A stylegan2-ada-pytorch `Discriminator` record holding the official TF-layout variables
    of `stylegan2_numpy.random_official_discriminator` (README 5.1; no flips in D)."""
    R = int(np.log2(resolution))

    def conv(scope, down=1, activation="lrelu", clamp=conv_clamp):
        params = {"weight": _pt_conv(v[scope + "/weight"])}
        if scope + "/bias" in v:
            params["bias"] = v[scope + "/bias"]
        return record("Conv2dLayer", params, {"resample_filter": FIR}, activation=activation,
                       up=1, down=down, conv_clamp=clamp)

    blocks = {}
    for r in range(R, 2, -1):
        s = f"{2**r}x{2**r}"
        modules = {"conv0": conv(f"{s}/Conv0"), "conv1": conv(f"{s}/Conv1_down", down=2)}
        if architecture == "skip" or r == R:
            modules["fromrgb"] = conv(f"{s}/FromRGB")
        if architecture == "resnet":
            modules["skip"] = conv(f"{s}/Skip", down=2, activation="linear", clamp=None)
        blocks[f"b{2**r}"] = record("DiscriminatorBlock", buffers={"resample_filter": FIR},
                                     modules=modules, architecture=architecture,
                                     resolution=2**r)
    epilogue = {"mbstd": record("MinibatchStdLayer", group_size=4, num_channels=1),
                "conv": conv("4x4/Conv"),
                "fc": _fc(v["4x4/Dense0/weight"], v["4x4/Dense0/bias"], "lrelu"),
                "out": _fc(v["Output/weight"], v["Output/bias"])}
    if architecture == "skip":
        epilogue["fromrgb"] = conv("4x4/FromRGB")
    blocks["b4"] = record("DiscriminatorEpilogue", modules=epilogue, architecture=architecture,
                           cmap_dim=0, resolution=4)
    return record("Discriminator", modules=blocks, c_dim=0, img_resolution=resolution,
                   img_channels=channels, block_resolutions=[2**r for r in range(R, 2, -1)])
