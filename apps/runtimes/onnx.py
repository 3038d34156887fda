"""ONNX models of the generator's graphs (tf2onnx, from the simplified frozen GraphDef).

tf2onnx translates each TensorFlow op of the graph to ONNX ops (convolutions are wrapped in
NHWC <-> NCHW transposes); inputs and outputs keep the graphs' names ("z", "labels", "w",
"noise0", ..., "images"). Opset 17 runs in ONNX Runtime 1.14 and later, ONNX Runtime Web
included.
"""

import os

OPSET = 17


def write_onnx(graph, path):
    """Writes the ONNX model of a `graphs.FrozenGraph` to `path`."""
    import tf2onnx  # optional: imported only when ONNX is asked for
    from tensorflow.python.util import deprecation

    names = {f"{name}:0": name for name in [*graph.inputs, graph.output]}
    with deprecation.silence():  # tf2onnx calls TF1 graph utilities that warn on every use
        tf2onnx.convert.from_graph_def(
            graph.graph_def, input_names=[f"{name}:0" for name in graph.inputs],
            output_names=[f"{graph.output}:0"], opset=OPSET, tensors_to_rename=names,
            output_path=os.fspath(path))
