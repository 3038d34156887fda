"""Import NVIDIA's official StyleGAN2 network pickles into our StyleGAN2 networks, safely.

Official StyleGAN2 pickles (NVlabs/stylegan2, `stylegan2-ffhq-config-f.pkl`,
`network-snapshot-*.pkl`) hold the same `(G, D, Gs)` tuple of `dnnlib.tflib.network.Network`
states as StyleGAN's, with state version 4 and the build functions `G_main` (components
`G_synthesis` built by `G_synthesis_stylegan2` and `G_mapping`) and `D_stylegan2`. They are
read by the same restricted unpickler (`tf_stylegan.legacy.pickle_reader`: nothing from the
file is executed); this module maps their variables onto `StyleGAN2Generator` /
`StyleGAN2Discriminator`:

- Conv weights [k, k, in, out] and dense weights [in, out] are used as stored, with no spatial
  flip anywhere: our FIR up-conv is the official transposed convolution, which flips the kernel
  itself (`tf_stylegan/layers/fir_conv.py`).
- `mod_bias` is stored as the official code stores it (zero init, +1 added at runtime).
- `const` [1, C, 4, 4] and `noise{i}` [1, 1, H, W] are NCHW and become NHWC.
- D's `Dense0` rows are in NCHW flatten order, which our discriminator keeps.
- Static kwargs missing from the pickle take the official StyleGAN2 defaults: released config-F
  pickles carry only `num_channels`, `resolution` and `label_size` (the official training loop
  passes nothing else), so a missing `fmap_base` is 16384, not StyleGAN's 8192.
"""

from __future__ import annotations

import dataclasses

from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.transfer import (
    assign_variables,
    generator_variables,
    mapping_targets,
    nchw_to_nhwc_const,
    noise_to_nhwc,
)
from tf_stylegan.networks import StyleGAN2Discriminator, StyleGAN2Generator

# build_func_name of each official StyleGAN2 network (training/networks_stylegan2.py).
GENERATOR_FUNC = "G_main"
SYNTHESIS_FUNC = "G_synthesis_stylegan2"
MAPPING_FUNC = "G_mapping"
DISCRIMINATOR_FUNC = "D_stylegan2"

# static_kwargs that are StyleGAN2Config fields under the same name (`architecture` is per network).
_CONFIG_KEYS = ({f.name for f in dataclasses.fields(StyleGAN2Config)}
                - {"g_architecture", "d_architecture"})
# static_kwargs that only steer how the official graph is built or run, not what it computes.
_IGNORED_KEYS = {
    "dlatent_broadcast", "dtype", "is_template_graph", "randomize_noise", "fused_modconv",
    "components", "is_training", "is_validation", "truncation_psi_val", "truncation_cutoff_val",
    "return_dlatents", "force_clean_graph", "num_gpus",
}
# Sub-network build functions named in G_main's kwargs: only the StyleGAN2 (config E/F) ones.
_FUNC_KEYS = {"synthesis_func": SYNTHESIS_FUNC, "mapping_func": MAPPING_FUNC}


def config_from_static_kwargs(static_kwargs, network="G", where="pickle"):
    """Builds a StyleGAN2Config from an official StyleGAN2 network's `static_kwargs`.

    Args:
        static_kwargs: dict. The official build kwargs (G_main's, or D_stylegan2's).
        network: "G" or "D": whose `architecture` the kwargs hold.
        where: str. Names the file in error messages.

    Keys that are missing keep the official StyleGAN2 defaults (config F).
    """
    if network not in ("G", "D"):
        raise ValueError(f"`network` must be 'G' or 'D'. Received: network={network!r}")
    kwargs = {}
    for key, value in static_kwargs.items():
        if key == "architecture":
            kwargs["g_architecture" if network == "G" else "d_architecture"] = value
        elif key in _CONFIG_KEYS:
            kwargs[key] = tuple(value) if key == "resample_kernel" else value
        elif key in _FUNC_KEYS:
            if value != _FUNC_KEYS[key]:
                raise UserError(
                    f"{where}: unsupported {key}={value!r}: only StyleGAN2 config E/F networks "
                    f"({_FUNC_KEYS[key]!r}) are supported."
                )
        elif key in ("nonlinearity", "mapping_nonlinearity"):
            if value != "lrelu":
                raise UserError(f"{where}: unsupported {key}={value!r} (only 'lrelu').")
        elif key not in _IGNORED_KEYS:
            raise UserError(f"{where}: unsupported static kwarg {key}={value!r}.")
    try:
        return StyleGAN2Config(**kwargs)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def _conv_scopes(R):
    """(official scope, synthesis layer index) of every modulated conv layer, 4x4 first."""
    scopes = [("4x4/Conv", 0)]
    for r in range(3, R + 1):
        size = 2**r
        scopes += [(f"{size}x{size}/Conv0_up", 2 * r - 5), (f"{size}x{size}/Conv1", 2 * r - 4)]
    return scopes


def generator_targets(G):
    """Official variable name -> (our variable, transform) for a `StyleGAN2Generator`."""
    cfg = G.config
    R = cfg.resolution_log2
    t = mapping_targets(G)
    s = G.synthesis
    for i, layer in enumerate(s.conv_layers):
        t[f"G_synthesis/noise{i}"] = (layer.noise.noise, noise_to_nhwc)
    t["G_synthesis/4x4/Const/const"] = (s.const.const, nchw_to_nhwc_const)
    for scope, i in _conv_scopes(R):
        layer = s.conv_layers[i]
        t[f"G_synthesis/{scope}/weight"] = (layer.conv.weight, None)
        t[f"G_synthesis/{scope}/mod_weight"] = (layer.conv.affine.weight, None)
        t[f"G_synthesis/{scope}/mod_bias"] = (layer.conv.affine.bias, None)
        t[f"G_synthesis/{scope}/noise_strength"] = (layer.noise.noise_strength, None)
        t[f"G_synthesis/{scope}/bias"] = (layer.bias, None)
    for r in range(2, R + 1):
        size = 2**r
        to_rgb = s.to_rgb[r - 2]
        if to_rgb is not None:
            scope = f"G_synthesis/{size}x{size}/ToRGB"
            t[f"{scope}/weight"] = (to_rgb.conv.weight, None)
            t[f"{scope}/mod_weight"] = (to_rgb.conv.affine.weight, None)
            t[f"{scope}/mod_bias"] = (to_rgb.conv.affine.bias, None)
            t[f"{scope}/bias"] = (to_rgb.bias, None)
    for r, skip in zip(range(3, R + 1), s.skips):
        t[f"G_synthesis/{2**r}x{2**r}/Skip/weight"] = (skip.weight, None)
    return t


def discriminator_targets(D):
    """Official variable name -> (our variable, transform) for a `StyleGAN2Discriminator`."""
    R = D.config.resolution_log2
    t = {}
    for r in range(2, R + 1):
        layer = D.from_rgb[r - 2]
        if layer is not None:
            t[f"{2**r}x{2**r}/FromRGB/weight"] = (layer.weight, None)
            t[f"{2**r}x{2**r}/FromRGB/bias"] = (layer.bias, None)
    for r in range(3, R + 1):
        size = 2**r
        for name, layer in (("Conv0", D.conv0[r - 3]), ("Conv1_down", D.conv1_down[r - 3])):
            t[f"{size}x{size}/{name}/weight"] = (layer.weight, None)
            t[f"{size}x{size}/{name}/bias"] = (layer.bias, None)
    for r, skip in zip(range(3, R + 1), D.skips):
        t[f"{2**r}x{2**r}/Skip/weight"] = (skip.weight, None)
    for name, layer in (("4x4/Conv", D.conv4x4), ("4x4/Dense0", D.dense0),
                        ("Output", D.output_dense)):
        t[f"{name}/weight"] = (layer.weight, None)
        t[f"{name}/bias"] = (layer.bias, None)
    return t


def _check_build_func(net, expected, where):
    if net.build_func_name != expected:
        raise UserError(
            f"{where}: network {net.name!r} was built by {net.build_func_name!r}; a StyleGAN2 "
            f"(config E/F) pickle has {expected!r} here."
        )


def convert_generator(net, where="pickle"):
    """Builds our `StyleGAN2Generator` from an official `G_main` network (G or Gs) with its
    weights, noise buffers and `dlatent_avg`."""
    _check_build_func(net, GENERATOR_FUNC, where)
    for comp_name, func in (("synthesis", SYNTHESIS_FUNC), ("mapping", MAPPING_FUNC)):
        if comp_name in net.components:
            _check_build_func(net.components[comp_name], func, where)
    cfg = config_from_static_kwargs(net.static_kwargs, "G", where)
    G = StyleGAN2Generator(cfg, name=net.name)
    assign_variables(generator_targets(G), generator_variables(net, where), f"{where}:{net.name}")
    return G


def convert_discriminator(net, where="pickle"):
    """Builds our `StyleGAN2Discriminator` from an official `D_stylegan2` network."""
    _check_build_func(net, DISCRIMINATOR_FUNC, where)
    cfg = config_from_static_kwargs(net.static_kwargs, "D", where)
    D = StyleGAN2Discriminator(cfg, name=net.name)
    assign_variables(discriminator_targets(D), dict(net.variables), f"{where}:{net.name}")
    return D


def convert_networks(G_net, D_net, Gs_net, where="pickle"):
    """Our `(G, D, Gs)` from the official `(G, D, Gs)` of a StyleGAN2 pickle, weights included."""
    return (convert_generator(G_net, where), convert_discriminator(D_net, where),
            convert_generator(Gs_net, where))
