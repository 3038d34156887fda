"""Copying the variables of an official network onto ours: what every family's mapping shares.

An official network stores its own variables plus those of its components (`mapping`,
`synthesis`) under their scope names; `generator_variables` flattens them into one
`{"G_mapping/Dense0/weight": array, ...}` dict. A mapping module builds `targets`, a dict from
those official names to `(our variable, transform or None)`, and `assign_variables` copies every
one, refusing any official variable without a target, any target without a variable, and any
shape mismatch, so that nothing is silently left at its initial value.
"""

import numpy as np

from tf_stylegan.errors import UserError

__all__ = ["assign_variables", "generator_variables", "mapping_targets", "nchw_to_nhwc_const",
           "noise_to_nhwc"]


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
