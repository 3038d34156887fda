"""StyleGAN (v1) weights: official `G_style` / `D_basic` variables onto our networks.

The official networks (NVlabs/stylegan `training/networks_stylegan.py`: `G_style` with its
`G_mapping` and `G_synthesis` components, and `D_basic`) store their raw, unscaled variables
under names such as `G_mapping/Dense0/weight`, `G_synthesis/4x4/Const/const`,
`G_synthesis/32x32/Conv0_up/StyleMod/bias`, `G_synthesis/ToRGB_lod0/weight`,
`G_synthesis/noise7` and `4x4/Dense1/bias`. `generator_targets` / `discriminator_targets` name,
for each of them, the variable of our `Generator` / `Discriminator` that receives it and the
layout change it needs (NCHW constants and noise buffers become NHWC; kernels are HWIO in both).
Nothing is left unmapped: an extra, missing or mis-shaped variable is an error.

Our fused up-conv is the official transposed convolution (`tf_stylegan/layers/equalized.py`),
so official kernels load unchanged at every resolution; an upsample + conv implementation would
have to flip `Conv0_up/weight` spatially where the official graph is fused (>= 128 px).
"""

import dataclasses

from tf_stylegan.config import NetworkConfig
from tf_stylegan.errors import UserError
from tf_stylegan.legacy.transfer import (
    assign_variables,
    generator_variables,
    mapping_targets,
    nchw_to_nhwc_const,
    noise_to_nhwc,
)
from tf_stylegan.networks import Discriminator, Generator

# static_kwargs of G_style / G_mapping / G_synthesis / D_basic that are NetworkConfig fields.
_CONFIG_KEYS = {f.name for f in dataclasses.fields(NetworkConfig)}
# static_kwargs that only steer how the official graph is built, not what it computes.
_IGNORED_KEYS = {
    "dlatent_broadcast", "structure", "dtype", "is_template_graph", "randomize_noise",
    "is_training", "is_validation", "truncation_psi_val", "truncation_cutoff_val", "components",
    "force_clean_graph", "num_gpus",
}


def config_from_static_kwargs(static_kwargs, where="pickle"):
    """Builds our NetworkConfig from an official network's `static_kwargs`."""
    kwargs = {}
    for key, value in static_kwargs.items():
        if key in _CONFIG_KEYS:
            kwargs[key] = tuple(value) if key == "blur_filter" else value
        elif key in ("nonlinearity", "mapping_nonlinearity"):
            if value != "lrelu":
                raise UserError(f"{where}: unsupported {key}={value!r} (only 'lrelu').")
        elif key not in _IGNORED_KEYS:
            raise UserError(f"{where}: unsupported static kwarg {key}={value!r}.")
    try:
        return NetworkConfig(**kwargs)
    except ValueError as e:  # NetworkConfig's own validation: say which file it came from.
        raise UserError(f"{where}: {e}") from None


def _conv_layer_index(res_log2, conv_name):
    """Synthesis layer index of an official conv scope ('Const'/'Dense', 'Conv', 'Conv0_up'...)."""
    if res_log2 == 2:
        return 0 if conv_name in ("Const", "Dense") else 1
    return 2 * res_log2 - 4 if conv_name == "Conv0_up" else 2 * res_log2 - 3


def generator_targets(G):
    """Official variable name -> (our variable, transform) for a `Generator`."""
    cfg = G.config
    R = cfg.resolution_log2
    t = mapping_targets(G)
    s = G.synthesis
    for i, e in enumerate(s.epilogues):
        if e.noise is not None:
            t[f"G_synthesis/noise{i}"] = (e.noise.noise, noise_to_nhwc)
    for res_log2 in range(2, R + 1):
        size = 2**res_log2
        scope = f"G_synthesis/{size}x{size}"
        names = (["Const" if cfg.const_input_layer else "Dense", "Conv"] if res_log2 == 2
                 else ["Conv0_up", "Conv1"])
        for name in names:
            i = _conv_layer_index(res_log2, name)
            e = s.epilogues[i]
            if name == "Const":
                t[f"{scope}/Const/const"] = (s.const, nchw_to_nhwc_const)
            elif name == "Dense":
                t[f"{scope}/Dense/weight"] = (s.input_dense.weight, None)
            else:
                t[f"{scope}/{name}/weight"] = (s.convs[i - 1].weight, None)
            if e.noise is not None:
                t[f"{scope}/{name}/Noise/weight"] = (e.noise.weight, None)
            t[f"{scope}/{name}/bias"] = (e.bias.bias, None)
            if e.style_mod is not None:
                t[f"{scope}/{name}/StyleMod/weight"] = (e.style_mod.dense.weight, None)
                t[f"{scope}/{name}/StyleMod/bias"] = (e.style_mod.dense.bias, None)
        lod = R - res_log2
        t[f"G_synthesis/ToRGB_lod{lod}/weight"] = (s.to_rgb[res_log2 - 2].weight, None)
        t[f"G_synthesis/ToRGB_lod{lod}/bias"] = (s.to_rgb[res_log2 - 2].bias, None)
    return t


def discriminator_targets(D):
    """Official variable name -> (our variable, transform) for a `Discriminator`."""
    R = D.config.resolution_log2
    t = {}
    for res_log2 in range(2, R + 1):
        layer = D.from_rgb[res_log2 - 2]
        t[f"FromRGB_lod{R - res_log2}/weight"] = (layer.weight, None)
        t[f"FromRGB_lod{R - res_log2}/bias"] = (layer.bias, None)
    for res_log2 in range(3, R + 1):
        size = 2**res_log2
        for name, layer in (("Conv0", D.conv0[res_log2 - 3]),
                            ("Conv1_down", D.conv1_down[res_log2 - 3])):
            t[f"{size}x{size}/{name}/weight"] = (layer.weight, None)
            t[f"{size}x{size}/{name}/bias"] = (layer.bias, None)
    # Dense0's rows are in the official NCHW flatten order, which our D keeps: no reordering.
    for name, layer in (("Conv", D.conv4x4), ("Dense0", D.dense0), ("Dense1", D.dense1)):
        t[f"4x4/{name}/weight"] = (layer.weight, None)
        t[f"4x4/{name}/bias"] = (layer.bias, None)
    return t


def convert_generator(net, where="pickle"):
    """Builds our `Generator` from an official G_style network (G or Gs) with its weights."""
    cfg = config_from_static_kwargs(net.static_kwargs, where)
    G = Generator(cfg, name=net.name)
    assign_variables(generator_targets(G), generator_variables(net, where),
            f"{where}:{net.name}")
    return G


def convert_discriminator(net, where="pickle"):
    """Builds our `Discriminator` from an official D_basic network with its weights."""
    cfg = config_from_static_kwargs(net.static_kwargs, where)
    D = Discriminator(cfg, name=net.name)
    assign_variables(discriminator_targets(D), dict(net.variables), f"{where}:{net.name}")
    return D


def convert_networks(G_net, D_net, Gs_net, where="pickle"):
    """Our `(G, D, Gs)` from the official `(G, D, Gs)` of a StyleGAN pickle, weights included."""
    return (convert_generator(G_net, where), convert_discriminator(D_net, where),
            convert_generator(Gs_net, where))
