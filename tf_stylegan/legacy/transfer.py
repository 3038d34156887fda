"""Converting official TF networks into ours: the one converter every family's pickles go through.

A family describes its official networks with a `PickleFormat`: the build functions of its
generator, discriminator and generator components, which static kwargs are config fields, and
`targets` functions that name, for each official variable, the variable of our network that
receives it. The conversion is the same for every family:

- `config_from_static_kwargs` turns the build function's keyword arguments into our config
  (refusing any kwarg that would change what the network computes and that we do not model);
- an official generator stores its own variables plus those of its components (`mapping`,
  `synthesis`) under their scope names; `generator_variables` flattens them into one
  `{"G_mapping/Dense0/weight": array, ...}` dict;
- `assign_variables` copies every variable into its target, `(our variable, transform or None)`,
  refusing any official variable without a target, any target without a variable, and any shape
  mismatch, so that nothing is silently left at its initial value.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from tf_stylegan.errors import UserError

__all__ = ["PickleFormat", "assign_variables", "config_from_static_kwargs", "convert_networks",
           "convert_network", "generator_variables", "mapping_targets", "nchw_to_nhwc_const",
           "noise_to_nhwc", "weight_and_bias"]

# static_kwargs that only steer how an official graph is built or run, not what it computes.
IGNORED_KEYS = frozenset({
    "dlatent_broadcast", "structure", "dtype", "is_template_graph", "randomize_noise",
    "is_training", "is_validation", "truncation_psi_val", "truncation_cutoff_val", "components",
    "force_clean_graph", "num_gpus", "fused_modconv", "return_dlatents",
})


@dataclasses.dataclass(frozen=True)
class PickleFormat:
    """How one family's official TF networks are named and map onto ours.

    Args:
        generator_func, discriminator_func: `build_func_name` of the official G (and Gs) and D.
        component_funcs: {component name: build_func_name} of the generator's components.
        generator_targets, discriminator_targets: `fn(our network) -> {official variable name:
            (our variable, transform or None)}`.
        tuple_keys: config fields stored as lists in the kwargs (filters), made tuples.
        architecture_keys: {"G": field, "D": field} receiving the official `architecture`
            kwarg of that network (empty: the family has no such kwarg).
        func_keys: {kwarg: build_func_name} kwargs naming sub-network build functions, which
            must name this family's.
    """

    generator_func: str
    discriminator_func: str
    component_funcs: dict
    generator_targets: Callable
    discriminator_targets: Callable
    tuple_keys: tuple = ()
    architecture_keys: dict = dataclasses.field(default_factory=dict)
    func_keys: dict = dataclasses.field(default_factory=dict)


def nchw_to_nhwc_const(a):
    """The official constant input [1, C, 4, 4] (NCHW) as ours, [1, 4, 4, C]."""
    return np.transpose(a, [0, 2, 3, 1])


def noise_to_nhwc(a):
    """An official noise buffer [1, 1, H, W] as ours, [1, H, W, 1]."""
    return np.reshape(a, [1, a.shape[2], a.shape[3], 1])


def mapping_targets(G):
    """The targets of a generator's own `dlatent_avg` and of its mapping network, named as both
    families' official pickles name them (`G_mapping/LabelConcat`, `G_mapping/Dense{i}`)."""
    t = {"dlatent_avg": (G.dlatent_avg, None)}
    m = G.mapping
    if G.config.label_size:
        t["G_mapping/LabelConcat/weight"] = (m.label_embedding, None)
    for i, layer in enumerate(m.dense_layers):
        t[f"G_mapping/Dense{i}/weight"] = (layer.weight, None)
        t[f"G_mapping/Dense{i}/bias"] = (layer.bias, None)
    return t


def generator_variables(net, where):
    """A generator's (G_style or G_main) own variables plus its components', the latter named
    'G_mapping/...' and 'G_synthesis/...'."""
    out = dict(net.variables)
    for comp_name, scope in (("mapping", "G_mapping"), ("synthesis", "G_synthesis")):
        comp = net.components.get(comp_name)
        if comp is None:
            raise UserError(f"{where}: generator '{net.name}' has no '{comp_name}' component.")
        for name, value in comp.variables.items():
            out[f"{scope}/{name}"] = value
    return out


def assign_variables(targets, variables, where):
    """Copies every official variable into its target; fails on anything unmapped or mismatched."""
    # `lod` variables only steer the official graph's growing; ours takes it as a call argument.
    variables = {k: v for k, v in variables.items() if k.split("/")[-1] != "lod"}
    unmapped = sorted(set(variables) - set(targets))
    if unmapped:
        raise UserError(f"{where}: official variables with no counterpart: {unmapped}")
    missing = sorted(set(targets) - set(variables))
    if missing:
        raise UserError(f"{where}: variables missing from the pickle: {missing}")
    for name, (var, transform) in targets.items():
        value = np.asarray(variables[name], dtype=np.float32)
        if transform is not None:
            value = transform(value)
        if tuple(var.shape) != value.shape:
            raise UserError(
                f"{where}: shape mismatch for {name}: pickle {value.shape}, ours {tuple(var.shape)}"
            )
        var.assign(value)


def weight_and_bias(targets, scope, layer):
    """Adds the targets `{scope}/weight` and `{scope}/bias` of a layer with both."""
    targets[f"{scope}/weight"] = (layer.weight, None)
    targets[f"{scope}/bias"] = (layer.bias, None)


def config_from_static_kwargs(family, static_kwargs, network="G", where="pickle"):
    """Our config of `family` (a `tf_stylegan.families.NetworkFamily`) from an official
    network's `static_kwargs`.

    Args:
        family: the family whose official network the kwargs belong to.
        static_kwargs: dict. The build function's keyword arguments.
        network: "G" or "D": whose `architecture` kwarg the kwargs hold.
        where: str. Names the file in error messages.

    Keys that are missing keep our config's defaults, the family's official values (released
    StyleGAN2 config-F pickles carry only `num_channels`, `resolution` and `label_size`).
    """
    if network not in ("G", "D"):
        raise ValueError(f"`network` must be 'G' or 'D'. Received: network={network!r}")
    fmt = family.pickles
    fields = {f.name for f in dataclasses.fields(family.config_class)}
    kwargs = {}
    for key, value in static_kwargs.items():
        if key == "architecture" and fmt.architecture_keys:
            kwargs[fmt.architecture_keys[network]] = value
        elif key in fields and key not in fmt.architecture_keys.values():
            kwargs[key] = tuple(value) if key in fmt.tuple_keys else value
        elif key in fmt.func_keys:
            if value != fmt.func_keys[key]:
                raise UserError(
                    f"{where}: unsupported {key}={value!r}: only {fmt.func_keys[key]!r} "
                    f"({family.name}) networks are supported."
                )
        elif key in ("nonlinearity", "mapping_nonlinearity"):
            if value != "lrelu":
                raise UserError(f"{where}: unsupported {key}={value!r} (only 'lrelu').")
        elif key not in IGNORED_KEYS:
            raise UserError(f"{where}: unsupported static kwarg {key}={value!r}.")
    try:
        return family.config_class(**kwargs)
    except UserError as e:  # the config's own validation: say which file it came from
        raise UserError(f"{where}: {e}") from None


def _check_build_func(net, expected, family, where):
    if net.build_func_name != expected:
        raise UserError(
            f"{where}: network {net.name!r} was built by {net.build_func_name!r}; a "
            f"{family.name} pickle has {expected!r} here."
        )


def convert_network(family, net, network, where="pickle"):
    """Our network of `family` from one official network (`OfficialNetwork`) with its weights.

    Args:
        family: `tf_stylegan.families.NetworkFamily` of the official network.
        net: the official network (G or Gs for network "G", D for "D").
        network: "G" or "D".
        where: str. Names the file in error messages.
    """
    fmt = family.pickles
    if network == "G":
        _check_build_func(net, fmt.generator_func, family, where)
        for comp_name, func in fmt.component_funcs.items():
            if comp_name in net.components:
                _check_build_func(net.components[comp_name], func, family, where)
        model = family.generator_class(config_from_static_kwargs(family, net.static_kwargs, "G",
                                                                 where), name=net.name)
        targets, variables = fmt.generator_targets(model), generator_variables(net, where)
    else:
        _check_build_func(net, fmt.discriminator_func, family, where)
        model = family.discriminator_class(
            config_from_static_kwargs(family, net.static_kwargs, "D", where), name=net.name)
        targets, variables = fmt.discriminator_targets(model), dict(net.variables)
    assign_variables(targets, variables, f"{where}:{net.name}")
    return model


def convert_networks(family, G_net, D_net, Gs_net, where="pickle"):
    """Our `(G, D, Gs)` from the official `(G, D, Gs)` of a pickle of `family`."""
    return (convert_network(family, G_net, "G", where), convert_network(family, D_net, "D", where),
            convert_network(family, Gs_net, "G", where))
