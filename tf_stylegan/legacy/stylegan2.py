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

from tf_stylegan.legacy.transfer import (
    PickleFormat,
    mapping_targets,
    nchw_to_nhwc_const,
    noise_to_nhwc,
    weight_and_bias,
)


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
            weight_and_bias(t, f"{2**r}x{2**r}/FromRGB", layer)
    for r in range(3, R + 1):
        size = 2**r
        weight_and_bias(t, f"{size}x{size}/Conv0", D.conv0[r - 3])
        weight_and_bias(t, f"{size}x{size}/Conv1_down", D.conv1_down[r - 3])
    for r, skip in zip(range(3, R + 1), D.skips):
        t[f"{2**r}x{2**r}/Skip/weight"] = (skip.weight, None)
    for name, layer in (("4x4/Conv", D.conv4x4), ("4x4/Dense0", D.dense0),
                        ("Output", D.output_dense)):
        weight_and_bias(t, name, layer)
    return t


# The official StyleGAN2 networks (NVlabs/stylegan2 training/networks_stylegan2.py), configs E
# and F: G_main with the G_synthesis_stylegan2 and G_mapping components, and D_stylegan2.
PICKLES = PickleFormat(
    generator_func="G_main", discriminator_func="D_stylegan2",
    component_funcs={"synthesis": "G_synthesis_stylegan2", "mapping": "G_mapping"},
    generator_targets=generator_targets, discriminator_targets=discriminator_targets,
    tuple_keys=("resample_kernel",),
    architecture_keys={"G": "g_architecture", "D": "d_architecture"},
    func_keys={"synthesis_func": "G_synthesis_stylegan2", "mapping_func": "G_mapping"})
