"""stylegan2-ada-pytorch's networks -> our StyleGAN2 networks (`G`, `D`, `G_ema` -> G, D, Gs).

The records come from `tf_stylegan.legacy.pytorch_network` (nothing from the pickle runs). The
architecture is read from the modules' own attributes and tensor shapes, never assumed:
resolution, channels, z/w/c dims, the mapping depth, width and learning-rate multiplier (each
`FullyConnectedLayer`'s `bias_gain`), the w average's beta, the G and D architectures, the
widths of every block, the minibatch-stddev group, D's label mapping network and `conv_clamp`.
The tensors then go through `transfer.assign_variables` (every tensor mapped, every variable
filled, every shape checked), as the inverse of NVIDIA's TF -> PyTorch converter
(stylegan2-ada-pytorch `legacy.py:171-202, 268-285`):

- PyTorch conv weights [O, I, kh, kw] become [kh, kw, I, O]; dense weights [out, in] become
  [in, out]. The generator's up-convolutions (`conv0`, `skip`) are true convolutions in
  PyTorch (`flip_weight = (up == 1)`, `networks.py:298`) where ours correlate with the stored
  kernel, so their kernels are flipped spatially; no discriminator kernel is.
- The style affines store their bias with the +1 of `bias_init=1` (`networks.py:278`); ours
  add the 1 at runtime (official TF `mod_bias`), so 1 is subtracted (one float32 rounding).
- `const` [C, 4, 4] and `noise_const` [H, W] become NHWC [1, 4, 4, C] and [1, H, W, 1];
  `mapping.w_avg` is `dlatent_avg`. The FIR buffers `resample_filter` must be the [1, 3, 3, 1]
  filter; they are checked, not copied.
- Conditional networks use stylegan2-ada-pytorch's label forms (`label_mapping="embed"`): G's
  `mapping.embed` and D's label mapping network `mapping.embed`, `mapping.fc{i}`.

The official fp16 layers (`num_fp16_res`) run in float32 here; `conv_clamp` is applied as the
official code applies it. Truncation defaults to psi 1, the official `Generator`'s default.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from tf_stylegan.augment.spec import AugmentSpec
from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import MalformedPickleError
from tf_stylegan.legacy.pytorch_network import (
    PersistentModule,
    PytorchSnapshot,
    read_pytorch_pickle,
)
from tf_stylegan.legacy.transfer import assign_variables
from tf_stylegan.networks import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = ["SOURCE_FORMAT", "augment_pipe_info", "config_from_modules", "convert_pytorch_networks",
           "discriminator_targets", "generator_targets", "load_pytorch_pickle"]

SOURCE_FORMAT = "stylegan2-ada-pytorch"
_FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def _check_class(module: PersistentModule, expected: str, where: str):
    if module.class_name != expected:
        raise UserError(f"{where}: expected a stylegan2-ada-pytorch {expected}, found "
                        f"{module.class_name} (only StyleGAN2-ADA networks are supported)")


def _int_attr(module: PersistentModule, name: str) -> int:
    value = module.attr(name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise MalformedPickleError(f"{module.class_name}.{name} must be an int. "
                                   f"Received: {value!r}")
    return int(value)


def _fc_lrmul(fc: PersistentModule, activation: str, where: str) -> float:
    """The learning-rate multiplier of a `FullyConnectedLayer` (its `bias_gain`), checked
    against its activation and its `weight_gain = lr / sqrt(in)` (`networks.py:89-118`)."""
    _check_class(fc, "FullyConnectedLayer", where)
    if fc.attr("activation") != activation:
        raise UserError(f"{where}: activation {fc.attr('activation')!r}, only "
                        f"{activation!r} is supported here")
    lrmul = float(fc.attr("bias_gain"))
    expected = lrmul / math.sqrt(_tensor(fc, "weight", where).shape[1])
    if not math.isclose(float(fc.attr("weight_gain")), expected, rel_tol=1e-6):
        raise UserError(f"{where}: weight_gain {float(fc.attr('weight_gain'))} is not "
                        f"lr / sqrt(fan_in) = {expected}")
    return lrmul


def _mapping_fcs(mapping: PersistentModule, where: str):
    """(the fc layers, their common learning-rate multiplier) of a `MappingNetwork`."""
    _check_class(mapping, "MappingNetwork", where)
    fcs = [mapping.child(f"fc{i}") for i in range(_int_attr(mapping, "num_layers"))]
    lrmuls = {_fc_lrmul(fc, "lrelu", f"{where}.fc{i}") for i, fc in enumerate(fcs)}
    if len(lrmuls) > 1:
        raise UserError(f"{where}: its layers have different learning rates {sorted(lrmuls)}")
    return fcs, (lrmuls.pop() if lrmuls else None)


def _tensor(module: PersistentModule, name: str, where: str) -> np.ndarray:
    # Freeze-D (`--freezed`) keeps the frozen layers' tensors as buffers (networks.py:150-158).
    tensors = {**module.buffers, **module.parameters}
    if name not in tensors:
        raise MalformedPickleError(f"{where}: {module.class_name} has no tensor {name!r}")
    return tensors[name]


def _block_channels(synthesis: PersistentModule, D: PersistentModule, R: int, where: str):
    """{resolution: feature maps} of G's synthesis blocks, checked against D's blocks."""
    channels = {4: _tensor(synthesis.child("b4"), "const", where).shape[0]}
    d_channels = {4: _tensor(D.child("b4").child("conv"), "weight", where).shape[0]}
    for r in range(3, R + 1):
        block = synthesis.child(f"b{2**r}").child("conv1")
        channels[2**r] = _tensor(block, "weight", where).shape[0]
        d_channels[2**r] = _tensor(D.child(f"b{2**r}").child("conv0"), "weight",
                                   where).shape[0]
    if d_channels != channels:
        raise UserError(f"{where}: G and D have different widths ({channels} and "
                        f"{d_channels}); one config describes both here")
    return channels


def _widths(channels: dict, synthesis_kwargs: dict, where: str) -> dict:
    """(fmap_base, fmap_max) with `nf(r - 1) = min(fmap_base / 2**(r - 1), fmap_max)` equal to
    the width of every block (`channels_dict = min(channel_base // res, channel_max)`,
    `networks.py:437`, and fmap_base = channel_base / 2, `legacy.py:137`), and nf(0), the
    width of D's dense layer, equal to the official `channels_dict[4]`."""
    candidates = []
    base, top = synthesis_kwargs.get("channel_base"), synthesis_kwargs.get("channel_max")
    if isinstance(base, int) and isinstance(top, int) and base % 2 == 0:
        candidates.append((base // 2, top))
    top = channels[4]  # the widest block: widths never grow with the resolution
    narrower = [res for res in sorted(channels) if channels[res] < top]
    base = channels[narrower[0]] * narrower[0] // 2 if narrower else top * max(channels) // 2
    candidates.append((base, top))
    for fmap_base, fmap_max in candidates:
        if min(fmap_base, fmap_max) == channels[4] and all(
                min(int(fmap_base / (res // 2)), fmap_max) == c for res, c in channels.items()):
            return {"fmap_base": fmap_base, "fmap_max": fmap_max}
    raise UserError(f"{where}: block widths {channels} are not min(base / resolution, max)")


def _check_filters(module: PersistentModule, where: str):
    """Every `resample_filter` buffer of the module tree must be the [1, 3, 3, 1] FIR filter."""
    for name, value in module.named_tensors().items():
        if name.split(".")[-1] == "resample_filter":
            if value.shape != _FIR.shape or not np.allclose(value, _FIR, rtol=0, atol=1e-7):
                raise UserError(f"{where}: {name} is not the [1,3,3,1] FIR filter")


def _layer_attrs(module: PersistentModule, class_name: str, name: str) -> set:
    """The values of attribute `name` over every `class_name` module of the tree."""
    values = set()
    if module.class_name == class_name:
        values.add(module.attr(name, None))
    for child in module.children.values():
        values |= _layer_attrs(child, class_name, name)
    return values


def _one_value(values: set, what: str, where: str):
    if len(values) != 1:
        raise UserError(f"{where}: the layers differ in {what} ({sorted(map(str, values))})")
    return values.pop()


def config_from_modules(G: PersistentModule, D: PersistentModule,
                        where: str = "pickle") -> StyleGAN2Config:
    """Our `StyleGAN2Config` of a stylegan2-ada-pytorch `Generator` and `Discriminator`.

    Raises:
        UserError: the modules are not stylegan2-ada-pytorch's StyleGAN2 networks, or use an
            option our networks do not have (another activation or FIR filter, noise turned
            off, layers of different learning rates or clamps, G and D of different widths).
    """
    _check_class(G, "Generator", f"{where}: G")
    _check_class(D, "Discriminator", f"{where}: D")
    res = _int_attr(G, "img_resolution")
    R = int(math.log2(res)) if res >= 4 else 0
    if 2**R != res:
        raise UserError(f"{where}: resolution {res} is not a power of two >= 4")
    c_dim, w_dim = _int_attr(G, "c_dim"), _int_attr(G, "w_dim")
    for name in ("img_resolution", "c_dim", "img_channels"):
        if _int_attr(D, name) != _int_attr(G, name):
            raise UserError(f"{where}: G and D differ in {name}")
    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    _check_class(synthesis, "SynthesisNetwork", f"{where}: G.synthesis")
    if list(synthesis.attr("block_resolutions")) != [2**r for r in range(2, R + 1)] \
            or _int_attr(G, "num_ws") != 2 * R - 2:
        raise UserError(f"{where}: G's synthesis network is not stylegan2-ada-pytorch's")
    fcs, lrmul = _mapping_fcs(mapping, f"{where}: G.mapping")
    if c_dim and _fc_lrmul(mapping.child("embed"), "linear", f"{where}: G.mapping.embed") != 1:
        raise UserError(f"{where}: G's label embedding has a learning-rate multiplier other "
                        "than 1")
    for module, name, allowed in ((synthesis, "SynthesisLayer", {"lrelu"}),
                                  (D, "Conv2dLayer", {"lrelu", "linear"})):  # linear: skips
        activations = _layer_attrs(module, name, "activation")
        if activations - allowed:
            raise UserError(f"{where}: activations {sorted(map(str, activations))}, only "
                            "'lrelu' is supported")
    if _layer_attrs(synthesis, "SynthesisLayer", "use_noise") != {True}:
        raise UserError(f"{where}: synthesis layers without noise inputs are not supported")
    _check_filters(G, f"{where}: G")
    _check_filters(D, f"{where}: D")
    g_clamp = _one_value(_layer_attrs(synthesis, "SynthesisLayer", "conv_clamp")
                         | _layer_attrs(synthesis, "ToRGBLayer", "conv_clamp"), "conv_clamp",
                         where)
    d_convs = {v for v in _layer_attrs(D, "Conv2dLayer", "conv_clamp") if v is not None}
    if d_convs - {g_clamp}:  # the skips have none, the other D convs G's clamp
        raise UserError(f"{where}: G and D differ in conv_clamp")
    g_arch = _one_value(_layer_attrs(synthesis, "SynthesisBlock", "architecture"),
                        "architecture", where)
    d_arch = _one_value(_layer_attrs(D, "DiscriminatorBlock", "architecture")
                        | {D.child("b4").attr("architecture")}, "architecture", where)
    kwargs = G.attr("_init_kwargs", {}) or {}
    channels = _block_channels(synthesis, D, R, where)
    widths = _widths(channels, kwargs.get("synthesis_kwargs") or {}, where)
    epilogue = D.child("b4")
    _check_class(epilogue, "DiscriminatorEpilogue", f"{where}: D.b4")
    mbstd = epilogue.children.get("mbstd")
    mbstd_kwargs = {"mbstd_group_size": 0}
    if mbstd is not None:
        group = mbstd.attr("group_size")
        if not isinstance(group, int) or group < 2:
            raise UserError(f"{where}: minibatch-stddev group size {group!r} (only >= 2)")
        mbstd_kwargs = {"mbstd_group_size": group,
                        "mbstd_num_features": _int_attr(mbstd, "num_channels")}
    label_kwargs = {}
    if c_dim:
        d_fcs, d_lrmul = _mapping_fcs(D.child("mapping"), f"{where}: D.mapping")
        if _fc_lrmul(D.child("mapping").child("embed"), "linear",
                     f"{where}: D.mapping.embed") != 1:
            raise UserError(f"{where}: D's label embedding has a learning-rate multiplier "
                            "other than 1")
        cmap_dim = _int_attr(epilogue, "cmap_dim")
        label_kwargs = {"label_mapping": "embed", "d_mapping_layers": len(d_fcs),
                        "d_cmap_dim": None if cmap_dim == channels[4] else cmap_dim}
        if d_lrmul is not None:
            label_kwargs["d_mapping_lrmul"] = d_lrmul
    beta = mapping.attr("w_avg_beta")
    try:
        return StyleGAN2Config(
            resolution=res, num_channels=_int_attr(G, "img_channels"), label_size=c_dim,
            latent_size=_int_attr(G, "z_dim"), dlatent_size=w_dim, mapping_layers=len(fcs),
            mapping_fmaps=_tensor(fcs[0], "weight", where).shape[0] if len(fcs) > 1 else w_dim,
            mapping_lrmul=0.01 if lrmul is None else lrmul,
            dlatent_avg_beta=None if beta is None else float(beta),
            truncation_psi=1.0, truncation_cutoff=None, g_architecture=g_arch,
            d_architecture=d_arch, conv_clamp=g_clamp, **widths, **mbstd_kwargs,
            **label_kwargs)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


# --- targets: PyTorch tensor name -> (our variable, transform) -----------------------------------
def _conv(w):
    """[O, I, kh, kw] -> [kh, kw, I, O]."""
    return np.transpose(w, (2, 3, 1, 0))


def _flipped_conv(w):
    """A true convolution's kernel as the kernel our correlation uses."""
    return np.ascontiguousarray(_conv(w)[::-1, ::-1])


def _dense(w):
    return np.ascontiguousarray(w.T)


def _style_bias(b):
    return b - np.float32(1)


def _const(c):
    return np.transpose(c, (1, 2, 0))[None]


def _noise(n):
    return n[None, :, :, None]


def _dense_targets(t, prefix, layer):
    t[f"{prefix}.weight"] = (layer.weight, _dense)
    t[f"{prefix}.bias"] = (layer.bias, None)


def _modulated_targets(t, prefix, conv, flip=False):
    """The weight and style affine of a `ModulatedConv2D` (in a synthesis layer or ToRGB)."""
    t[f"{prefix}.weight"] = (conv.weight, _flipped_conv if flip else _conv)
    t[f"{prefix}.affine.weight"] = (conv.affine.weight, _dense)
    t[f"{prefix}.affine.bias"] = (conv.affine.bias, _style_bias)


def generator_targets(G) -> dict:
    """PyTorch name -> (our variable, transform) for a `StyleGAN2Generator` built by
    `config_from_modules` (names as the official `named_parameters()`/`named_buffers()`)."""
    cfg = G.config
    R = cfg.resolution_log2
    t = {"mapping.w_avg": (G.dlatent_avg, None)}
    m, s = G.mapping, G.synthesis
    if cfg.label_size:
        _dense_targets(t, "mapping.embed", m.embed)
    for i, layer in enumerate(m.dense_layers):
        _dense_targets(t, f"mapping.fc{i}", layer)
    t["synthesis.b4.const"] = (s.const.const, _const)
    names = ["b4.conv1"] + [f"b{2**r}.conv{j}" for r in range(3, R + 1) for j in (0, 1)]
    for name, layer in zip(names, s.conv_layers):
        prefix = f"synthesis.{name}"
        _modulated_targets(t, prefix, layer.conv, flip=layer.up)
        t[f"{prefix}.bias"] = (layer.bias, None)
        t[f"{prefix}.noise_strength"] = (layer.noise.noise_strength, None)
        t[f"{prefix}.noise_const"] = (layer.noise.noise, _noise)
    for r in range(2, R + 1):
        to_rgb = s.to_rgb[r - 2]
        if to_rgb is not None:
            _modulated_targets(t, f"synthesis.b{2**r}.torgb", to_rgb.conv)
            t[f"synthesis.b{2**r}.torgb.bias"] = (to_rgb.bias, None)
    for r, skip in zip(range(3, R + 1), s.skips):
        t[f"synthesis.b{2**r}.skip.weight"] = (skip.weight, _flipped_conv)
    return t


def _conv_targets(t, prefix, layer):
    t[f"{prefix}.weight"] = (layer.weight, _conv)
    if layer.bias is not None:
        t[f"{prefix}.bias"] = (layer.bias, None)


def discriminator_targets(D) -> dict:
    """PyTorch name -> (our variable, transform) for a `StyleGAN2Discriminator` built by
    `config_from_modules`."""
    cfg = D.config
    R = cfg.resolution_log2
    t = {}
    for r in range(3, R + 1):
        if D.from_rgb[r - 2] is not None:
            _conv_targets(t, f"b{2**r}.fromrgb", D.from_rgb[r - 2])
        _conv_targets(t, f"b{2**r}.conv0", D.conv0[r - 3])
        _conv_targets(t, f"b{2**r}.conv1", D.conv1_down[r - 3])
    for r, skip in zip(range(3, R + 1), D.skips):
        _conv_targets(t, f"b{2**r}.skip", skip)
    if D.from_rgb[0] is not None:  # the 4x4 FromRGB of "skip" (or of a 4x4 network)
        _conv_targets(t, "b4.fromrgb", D.from_rgb[0])
    _conv_targets(t, "b4.conv", D.conv4x4)
    _dense_targets(t, "b4.fc", D.dense0)
    _dense_targets(t, "b4.out", D.output_dense)
    if D.label_projection is not None:
        _dense_targets(t, "mapping.embed", D.label_projection.embed)
        for i, layer in enumerate(D.label_projection.dense_layers):
            _dense_targets(t, f"mapping.fc{i}", layer)
    return t


def _tensors(module: PersistentModule) -> dict:
    return {name: value for name, value in module.named_tensors().items()
            if name.split(".")[-1] != "resample_filter"}


def convert_pytorch_networks(snapshot: PytorchSnapshot, where: str = "pickle"):
    """Our `(G, D, Gs)` from a stylegan2-ada-pytorch snapshot's `(G, D, G_ema)`, weights
    included (`Gs` is `G_ema`)."""
    try:
        config = config_from_modules(snapshot.G, snapshot.D, where)
        if config_from_modules(snapshot.G_ema, snapshot.D, where) != config:
            raise UserError(f"{where}: G and G_ema have different architectures")
        networks = []
        for name, module, cls, targets in (
                ("G", snapshot.G, StyleGAN2Generator, generator_targets),
                ("D", snapshot.D, StyleGAN2Discriminator, discriminator_targets),
                ("G_ema", snapshot.G_ema, StyleGAN2Generator, generator_targets)):
            model = cls(config, name="Gs" if name == "G_ema" else name)
            assign_variables(targets(model), _tensors(module), f"{where}:{name}")
            networks.append(model)
    except MalformedPickleError as e:
        raise UserError(f"{where!r} is not a valid stylegan2-ada-pytorch network pickle: {e}"
                        ) from None
    return tuple(networks)


def _plain(value):
    """JSON-ready copy: numpy values become Python numbers and lists, tuples lists, other
    objects their repr."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def augment_pipe_info(pipe: PersistentModule | None) -> dict | None:
    """`{"p": float, "spec": {multiplier or strength: value}}` of an `AugmentPipe` record (its
    `p` buffer and the constructor arguments it keeps as attributes, `augment.py:118-164`,
    named as `tf_stylegan.augment.AugmentSpec`'s fields), or None. Fields the record lacks are
    left out; nothing here is required to load the networks."""
    if pipe is None or pipe.class_name != "AugmentPipe":
        return None
    p = pipe.buffers.get("p")
    spec = {f.name: _plain(pipe.state[f.name]) for f in dataclasses.fields(AugmentSpec)
            if f.name in pipe.state}
    return {"p": None if p is None or p.size != 1 else float(p.reshape(())), "spec": spec}


def load_pytorch_pickle(path, with_info: bool = False):
    """Reads a stylegan2-ada-pytorch network pickle into our `(G, D, Gs)`, executing nothing
    from the file.

    Returns:
        (G, D, Gs): `StyleGAN2Generator`, `StyleGAN2Discriminator`, `StyleGAN2Generator` (the
        pickle's G, D and G_ema); with `with_info`, also a dict of where they came from:
        `{"source": path, "source_format": "stylegan2-ada-pytorch", "augment_pipe": {"p",
        "spec"} or None, "training_set_kwargs": dict or None}`.

    Raises:
        UserError: the file is missing, unreadable, unsafe (`UnsafePickleError`), not such a
            pickle, of an unsupported architecture, or has a tensor left unmapped or of the
            wrong shape.
    """
    where = os.fspath(path)
    snapshot = read_pytorch_pickle(where)
    networks = convert_pytorch_networks(snapshot, where)
    if not with_info:
        return networks
    info = {"source": where, "source_format": SOURCE_FORMAT,
            "augment_pipe": augment_pipe_info(snapshot.augment_pipe),
            "training_set_kwargs": _plain(snapshot.training_set_kwargs)}
    return (*networks, info)
