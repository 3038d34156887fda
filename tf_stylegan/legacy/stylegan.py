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

from tf_stylegan.legacy.transfer import (
    PickleFormat,
    mapping_targets,
    nchw_to_nhwc_const,
    noise_to_nhwc,
    weight_and_bias,
)


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
                weight_and_bias(t, f"{scope}/{name}/StyleMod", e.style_mod.dense)
        weight_and_bias(t, f"G_synthesis/ToRGB_lod{R - res_log2}", s.to_rgb[res_log2 - 2])
    return t


def discriminator_targets(D):
    """Official variable name -> (our variable, transform) for a `Discriminator`."""
    R = D.config.resolution_log2
    t = {}
    for res_log2 in range(2, R + 1):
        weight_and_bias(t, f"FromRGB_lod{R - res_log2}", D.from_rgb[res_log2 - 2])
    for res_log2 in range(3, R + 1):
        size = 2**res_log2
        weight_and_bias(t, f"{size}x{size}/Conv0", D.conv0[res_log2 - 3])
        weight_and_bias(t, f"{size}x{size}/Conv1_down", D.conv1_down[res_log2 - 3])
    # Dense0's rows are in the official NCHW flatten order, which our D keeps: no reordering.
    for name, layer in (("Conv", D.conv4x4), ("Dense0", D.dense0), ("Dense1", D.dense1)):
        weight_and_bias(t, f"4x4/{name}", layer)
    return t


# The official StyleGAN networks (NVlabs/stylegan training/networks_stylegan.py).
PICKLES = PickleFormat(
    generator_func="G_style", discriminator_func="D_basic",
    component_funcs={"synthesis": "G_synthesis", "mapping": "G_mapping"},
    generator_targets=generator_targets, discriminator_targets=discriminator_targets,
    tuple_keys=("blur_filter",))
