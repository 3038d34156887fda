"""The networks and optimizers of a training run: G, D, Gs and two Adams, in one precision policy.

As in the official `training_loop.py`: G and D are trained, Gs is created as a copy of G (the
official `G.clone('Gs')`) and then follows G as a moving average (`training/step.py`), and each
trained network has its own Adam (official `tflib.Optimizer(beta1=0, beta2=0.99, eps=1e-8)`),
whose moments are reset at every LOD boundary (`reset_optimizers`). The network classes are
those of the config's family (`tf_stylegan.families`). A network regularized lazily every k
minibatches (StyleGAN2) gets the official `mb_ratio = k / (k + 1)`: its Adam's betas are raised
to that power here and its learning rates multiplied by it (`set_learning_rates`), as
NVlabs/stylegan2 `training_loop.py` does for the main and regularization steps, which share one
Adam.

Mixed precision (`training/precision.py`): with a Keras mixed policy the networks compute in 16
bits while variables and losses stay float32; float16 has 5 exponent bits, so its gradients need
loss scaling (`loss_scaling`), bfloat16 has float32's exponent range and needs none. With the
oneDNN bfloat16 rewrite (`mixed_precision=True` on CPUs) the networks are float32 Keras layers and
TensorFlow rewrites the step's graph (`TrainStep`).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf_stylegan.families import family_of

from . import precision as precisions

__all__ = ["Networks", "optimizer_variables", "variables_by_name"]


def variables_by_name(layer: keras.layers.Layer) -> dict[str, keras.Variable]:
    """Every variable of `layer` and its sublayers, keyed by its path in the layer tree.

    The path is made of layer names below `layer` and the variable's own name, e.g.
    `mapping/dense0/weight` or `synthesis/4x4/const`, so it says which weight it is whatever the
    order in which Keras lists them (Keras' own `Variable.path` keeps only the innermost layer's
    name, which repeats: every noise input's weight is `noise/weight`).
    """
    out = {}
    # Keras 3 keeps a layer's own variables and direct sublayers in these private lists; its
    # public `weights` flattens the tree and loses the nesting the names are made of.
    for v in list(layer._trainable_variables) + list(layer._non_trainable_variables):
        _add_unique(out, v.name, v, layer)
    for child in layer._flatten_layers(include_self=False, recursive=False):
        for name, v in variables_by_name(child).items():
            _add_unique(out, f"{child.name}/{name}", v, layer)
    return out


def _add_unique(out, name, value, layer):
    if name in out or "." in name:
        raise ValueError(f"layer {layer.name!r}: variable name {name!r} is not unique (or has a "
                         f"'.'); checkpoints need one name per variable")
    out[name] = value


def optimizer_variables(optimizer, model) -> dict[str, keras.Variable]:
    """Adam's variables keyed by name: `iterations`, `learning_rate`, and `m/<path>` and
    `v/<path>` (first and second moments) for each trainable variable of `model`, the network
    it was built for (paths as `variables_by_name`)."""
    out = {"iterations": optimizer.iterations, "learning_rate": optimizer.learning_rate}
    trainable = {id(v) for v in model.trainable_variables}
    for name, v in variables_by_name(model).items():
        if id(v) in trainable:
            # Keras 3's Adam keeps its moments in lists indexed by `_get_variable_index`.
            index = optimizer._get_variable_index(v)
            out[f"m/{name}"] = optimizer._momentums[index]
            out[f"v/{name}"] = optimizer._velocities[index]
    if len(out) != len(optimizer.variables):
        raise ValueError(f"optimizer {optimizer.name!r} has {len(optimizer.variables)} variables, "
                         f"{len(out)} of which are Adam's moments of {model.name!r}'s weights")
    return out


@dataclasses.dataclass
class Networks:
    """G, D, Gs and the Adam optimizers of G and D (`G_opt`, `D_opt`).

    `precision` is the run's resolved precision (`training.precision.resolve`: None for float32,
    "float16", "bfloat16" or "onednn_bfloat16"); `loss_scaling` is True when the networks
    compute in float16 (see the module docstring).
    `lr_ratio` {"G": c, "D": c} multiplies the learning rates (StyleGAN2's lazy-regularization
    rescaling; 1 for StyleGAN). Build with `Networks.build`.
    """

    G: keras.Model
    D: keras.Model
    Gs: keras.Model
    G_opt: keras.optimizers.Optimizer
    D_opt: keras.optimizers.Optimizer
    loss_scaling: bool = False
    lr_ratio: dict = dataclasses.field(default_factory=lambda: {"G": 1.0, "D": 1.0})
    precision: str | None = None

    @classmethod
    def build(cls, cfg, net_cfg, strategy) -> Networks:
        """The networks of `net_cfg` and Adams of `cfg` (a TrainingConfig), in `strategy`'s scope.

        The weights are initialised from `cfg.seed`, so two runs with the same seed start from
        the same networks; Gs starts as an exact copy of G. Each Adam's betas are
        `beta ** cfg.optimizer_ratio(network)`.
        """
        family = family_of(net_cfg)
        G_class, D_class = family.generator_class, family.discriminator_class
        ratio = {n: cfg.optimizer_ratio(n) for n in ("G", "D")}
        precision = precisions.resolve(cfg.mixed_precision)
        policy, loss_scaling = precisions.keras_policy(precision)
        previous = keras.mixed_precision.global_policy()
        if policy:
            keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(cfg.seed)  # network initialisation
            with strategy.scope():
                G = G_class(net_cfg, name="G")
                D = D_class(net_cfg, name="D")
                Gs = G_class(net_cfg, name="Gs")
                for dst, src in zip(Gs.weights, G.weights):
                    dst.assign(src)

                def adam(network):
                    c = ratio[network]
                    return keras.optimizers.Adam(
                        learning_rate=0.001, beta_1=cfg.adam_beta1 ** c,
                        beta_2=cfg.adam_beta2 ** c, epsilon=cfg.adam_epsilon,
                        name=f"{network}_opt")

                G_opt, D_opt = adam("G"), adam("D")
                # Keras 3 creates optimizer variables on build, which must happen inside the
                # strategy's scope and before the first (traced) step.
                G_opt.build(G.trainable_variables)
                D_opt.build(D.trainable_variables)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        return cls(G, D, Gs, G_opt, D_opt, loss_scaling, ratio, precision)

    def optimizer(self, network: str) -> keras.optimizers.Optimizer:
        """The optimizer that trains network "G" or "D"."""
        return {"G": self.G_opt, "D": self.D_opt}[network]

    def network(self, name: str) -> keras.Model:
        """Network "G", "D" or "Gs"."""
        return {"G": self.G, "D": self.D, "Gs": self.Gs}[name]

    def reset_optimizers(self):
        """Zeros both Adams' moments and iteration counts, keeping the learning rates (official
        `reset_optimizer_state`, run when floor(lod) or ceil(lod) changes)."""
        for opt in (self.G_opt, self.D_opt):
            for v in opt.variables:
                if v is not opt.learning_rate:
                    v.assign(tf.zeros(v.shape, v.dtype))

    def set_learning_rates(self, G_lrate: float, D_lrate: float):
        """Assigns the optimizers' learning-rate variables (the traced steps read them): the
        schedule's rates times `lr_ratio`."""
        self.G_opt.learning_rate = G_lrate * self.lr_ratio["G"]
        self.D_opt.learning_rate = D_lrate * self.lr_ratio["D"]

    def copy_weights_from(self, G, D, Gs):
        """Assigns the weights of other networks of the same config (e.g. a snapshot's), matched
        by name."""
        for dst_model, src_model in ((self.G, G), (self.D, D), (self.Gs, Gs)):
            src = variables_by_name(src_model)
            for name, dst in variables_by_name(dst_model).items():
                dst.assign(src[name].numpy())
