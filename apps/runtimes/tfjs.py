"""TensorFlow.js graph models of the generator's graphs, written directly from the GraphDef.

A TF.js graph model is `model.json` (the GraphDef as protobuf JSON, with the constants' values
taken out) plus a binary weights file holding those values, listed in `weightsManifest`; TF.js
runs the TensorFlow ops of the graph as they are (the format TensorFlow.js' own converter,
`tensorflowjs_converter --input_format=tf_saved_model`, writes). We write it ourselves because
the `tensorflowjs` pip package cannot be installed with our pins: it requires the `tensorflow`
package (not `tensorflow_cpu`), `packaging~=23.1` and TensorFlow Decision Forests, jax and flax.
Nothing is approximated: every node of the simplified frozen graph is written as it is.
"""

import json
import os

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2

FORMAT = "graph-model"
WEIGHTS_FILE = "weights.bin"
# Element types TF.js reads from a weights file, by TensorFlow dtype.
_WEIGHT_DTYPES = {tf.float32: "float32", tf.int32: "int32", tf.bool: "bool"}


def model_json(graph):
    """(model.json dict, weights bytes) of a `graphs.FrozenGraph`.

    Every Const node keeps its dtype and shape in the topology; its value moves to the weights
    file under the node's name, which is how TF.js finds it. Int64 constants (shape arithmetic)
    are stored as int32, as the official converter does (TF.js has no int64).
    """
    gd = type(graph.graph_def)()
    gd.CopyFrom(graph.graph_def)
    weights, chunks = [], []
    for node in gd.node:
        if node.op == "EnsureShape":
            # A shape assertion only (the value passes through). TF.js 4.22 reads its `shape`
            # as a second input, which TensorFlow's node does not have, and fails.
            node.op = "Identity"
            del node.attr["shape"]
        if node.op != "Const":
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        dtype = tf.as_dtype(value.dtype)
        if dtype == tf.int64:
            value, dtype = value.astype(np.int32), tf.int32
            node.attr["dtype"].type = tf.int32.as_datatype_enum
            node.attr["value"].tensor.dtype = tf.int32.as_datatype_enum
        if dtype not in _WEIGHT_DTYPES:
            raise ValueError(f"constant {node.name!r} has dtype {dtype.name}, which TF.js "
                             "cannot load from a weights file")
        tensor = node.attr["value"].tensor
        for field in ("tensor_content", "float_val", "int_val", "int64_val", "bool_val"):
            tensor.ClearField(field)
        weights.append({"name": node.name, "shape": list(value.shape),
                        "dtype": _WEIGHT_DTYPES[dtype]})
        chunks.append(np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"))
                      .tobytes())

    def info(node):  # a signature entry: the tensor's name, dtype and (inputs) shape
        dtype = node.attr["dtype"].type if node.op == "Placeholder" else node.attr["T"].type
        entry = {"name": f"{node.name}:0", "dtype": types_pb2.DataType.Name(dtype)}
        if node.op == "Placeholder":
            entry["tensorShape"] = json_format.MessageToDict(node.attr["shape"].shape)
        return entry

    nodes = {n.name: n for n in gd.node}

    return {
        "format": FORMAT,
        "generatedBy": tf.__version__,
        "convertedBy": "apps.runtimes.tfjs",
        "signature": {
            "inputs": {name: info(nodes[name]) for name in graph.inputs},
            "outputs": {graph.output: info(nodes[graph.output])},
        },
        "modelTopology": json_format.MessageToDict(gd),
        "weightsManifest": [{"paths": [WEIGHTS_FILE], "weights": weights}],
    }, b"".join(chunks)


def write_graph_model(graph, out_dir):
    """Writes `model.json` and `weights.bin` of a `graphs.FrozenGraph` into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    spec, data = model_json(graph)
    with open(os.path.join(out_dir, WEIGHTS_FILE), "wb") as f:
        f.write(data)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(spec, f)
