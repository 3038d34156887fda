"""The generator as two plain TensorFlow graphs, the form every other runtime converts from.

`mapping`: `z` f32 [N, latent_size] (+ `labels` f32 [N, label_size]) -> `w` f32
[N, num_layers, dlatent_size], no truncation (the official `G_mapping`).
`synthesis`: `w` f32 [N, num_layers, dlatent_size] and one noise input per noise layer,
`noise{i}` f32 [N, size_i, size_i, 1] -> `images` f32 [N, H, W, C] in about [-1, 1] (the official
`G_synthesis`, or `G_synthesis_stylegan2` for StyleGAN2, with explicit noise inputs).

What is left out of the graphs is the arithmetic a caller does in a few lines, and which a
page's controls change without re-running the network: the truncation trick
`w' = dlatent_avg + psi * (w - dlatent_avg)` on the layers below the cutoff, style mixing (rows of
w taken from a second latent) and the choice of noise (the stored buffers for deterministic
images, N(0, 1) for random noise, zeros for none: adding zero noise is the official "no noise").
`runtime_metadata` and `noise_buffer_bytes` give what that needs: the config, `dlatent_avg` and
the stored noise buffers.

`frozen_graphs` freezes them (variables become constants) and simplifies them with TensorFlow's
graph optimizer; every converter (TF.js, ONNX, LiteRT) starts from these, so all formats compute
the same graph.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)


def check_generator(Gs):
    """Raises TypeError unless Gs is one of our generators (StyleGAN or StyleGAN2)."""
    if not all(hasattr(Gs, a) for a in ("mapping", "synthesis", "config", "dlatent_avg")):
        raise TypeError(f"`Gs` must be a tf_stylegan generator. Received: Gs={type(Gs).__name__}")


def noise_sizes(Gs):
    """Spatial size of each noise input of the synthesis graph, in layer order."""
    return [int(b.shape[1]) for b in Gs.synthesis.noise_buffers]


def mapping_function(Gs):
    """A tf.function z [, labels] -> {"w"} with a fixed input signature."""
    check_generator(Gs)
    cfg = Gs.config
    z_spec = tf.TensorSpec([None, cfg.latent_size], tf.float32, name="z")
    if cfg.label_size:
        label_spec = tf.TensorSpec([None, cfg.label_size], tf.float32, name="labels")

        @tf.function(input_signature=[z_spec, label_spec])
        def mapping(z, labels):
            return {"w": tf.cast(Gs.mapping(z, labels), tf.float32)}
    else:
        @tf.function(input_signature=[z_spec])
        def mapping(z):
            return {"w": tf.cast(Gs.mapping(z), tf.float32)}
    return mapping


def synthesis_function(Gs):
    """A tf.function w, noise0, noise1, ... -> {"images"} with a fixed input signature."""
    check_generator(Gs)
    cfg = Gs.config
    specs = [tf.TensorSpec([None, cfg.num_layers, cfg.dlatent_size], tf.float32, name="w")]
    specs += [tf.TensorSpec([None, s, s, 1], tf.float32, name=f"noise{i}")
              for i, s in enumerate(noise_sizes(Gs))]

    @tf.function(input_signature=specs)
    def synthesis(w, *noise):
        return {"images": tf.cast(Gs.synthesis(w, noise=list(noise)), tf.float32)}

    return synthesis


@dataclasses.dataclass
class FrozenGraph:
    """One of the two graphs, variables frozen to constants.

    Attributes:
        name: "mapping" or "synthesis".
        function: the frozen ConcreteFunction (callable with tensors, positional).
        inputs: input names in call order ("z", "labels" / "w", "noise0", ...).
        output: the output name ("w" / "images").
        graph_def: the simplified GraphDef (`simplify`), with the output as a node named
            `output`.
    """

    name: str
    function: object
    inputs: list
    output: str
    graph_def: object


OUTPUTS = {"mapping": "w", "synthesis": "images"}


def frozen_graphs(Gs):
    """{"mapping": FrozenGraph, "synthesis": FrozenGraph} of a generator."""
    funcs = {"mapping": mapping_function(Gs), "synthesis": synthesis_function(Gs)}
    graphs = {}
    for name, func in funcs.items():
        frozen = convert_variables_to_constants_v2(func.get_concrete_function())
        inputs = [t.name.split(":")[0] for t in frozen.inputs]
        graphs[name] = FrozenGraph(name, frozen, inputs, OUTPUTS[name],
                                   simplify(frozen, OUTPUTS[name]))
    return graphs


def runtime_metadata(Gs):
    """What a runtime needs besides the two graphs and the noise buffers (JSON-serializable).

    Keys: family ("stylegan" / "stylegan2"), config (the network config), resolution,
    num_channels, latent_size, label_size, num_layers, dlatent_size, truncation_psi and
    truncation_cutoff (the network's defaults; cutoff None = all layers), dlatent_avg (list),
    noise_sizes (the spatial size of each noise input, in order).
    """
    check_generator(Gs)
    cfg = Gs.config
    return {
        "family": cfg.family,
        "config": cfg.to_dict(),
        "resolution": cfg.resolution,
        "num_channels": cfg.num_channels,
        "latent_size": cfg.latent_size,
        "label_size": cfg.label_size,
        "num_layers": cfg.num_layers,
        "dlatent_size": int(Gs.dlatent_avg.shape[0]),
        "truncation_psi": cfg.truncation_psi,
        "truncation_cutoff": cfg.truncation_cutoff,
        "dlatent_avg": np.asarray(Gs.dlatent_avg, np.float32).tolist(),
        "noise_sizes": noise_sizes(Gs),
    }


def noise_buffer_bytes(Gs):
    """The stored noise buffers (official `noise0..`), float32 little-endian, concatenated in
    layer order, each [size, size] row-major: the file `noise.bin` of every export."""
    return b"".join(np.asarray(b, "<f4").reshape(-1).tobytes()
                    for b in Gs.synthesis.noise_buffers)


def simplify(frozen, output):
    """The GraphDef of a frozen function, simplified and with named outputs.

    Grappler (TensorFlow's own graph optimizer, as `tf.function` runs it) folds the constant
    sub-expressions (the equalized-learning-rate scaling of every weight, flipped filters, shape
    arithmetic) and prunes the Identity/NoOp bookkeeping, which every runtime would otherwise
    redo at each call. The output becomes an Identity node named `output` ("w", "images"), so
    each converter finds it by name.
    """
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    (tensor,) = frozen.outputs
    gd = frozen.graph.as_graph_def()
    node = gd.node.add(name=output, op="Identity", input=[tensor.name])
    node.attr["T"].type = tensor.dtype.as_datatype_enum
    meta = tf.compat.v1.train.export_meta_graph(graph_def=gd, graph=frozen.graph)
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.append(output)
    meta.collection_def["train_op"].CopyFrom(fetch)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers[:] = ["pruning", "constfold", "dependency", "pruning"]
    rewrite.min_graph_nodes = -1  # optimize small graphs too
    return tf_optimizer.OptimizeGraph(config, meta)
