"""How far the training step is from the hardware's limit: its FLOPs, and the same ops alone.

`python -m bench --roofline` (bench/group_worker.py) reports per level:

* **FLOPs per step**, counted from the traced graph of the training loop's own step
  (`training.step.TrainStep.function`): every convolution (Conv2D, its two gradients, the
  depthwise ones of the blur) and matrix product (MatMul, BatchMatMul) in the step's graph and
  in the functions it calls, at 2 FLOPs per multiply-add, from the static shapes of each op's
  inputs and outputs. A Conv2D of output [N, H', W', C'] with a [k, k, C, C'] filter is
  ``2 N H' W' C' k^2 C`` FLOPs, and each of its two gradients the same. Only ops that feed the
  step's outputs or a stateful op are counted (TF prunes the rest before running it: the
  gradients nobody asked for); of a `tf.cond` the costlier branch counts (the step's conds
  choose between an optimizer update and nothing). Elementwise ops, reductions and the
  optimizer's updates are not counted: they are memory-bound, and a compute peak says nothing
  about them.
* **Achieved GFLOP/s**: those FLOPs divided by the measured time of a step.
* **Peak GFLOP/s at the same shapes**: each distinct counted op (type, shapes, dtype,
  attributes) is rebuilt alone with `tf.raw_ops` on random inputs and timed (the fastest of
  repeated calls, each running several copies so that the per-call overhead is shared). The
  step's FLOPs divided by the sum over its ops of these times is what the hardware delivers for
  exactly this work. The ratio achieved / peak is how close the step comes; the rest of the
  step time goes to everything else (elementwise ops, the optimizer, the Gs average, op
  dispatch) and to running the ops in sequence. The step time is the benchmark's mean over its
  timed steps; on a busy machine the ratio is low.

Example:
    >>> costs = count_flops(step.get_concrete_function(reals, labels, alpha, seed))
    >>> sum(c.flops for c in costs) / 1e9             # GFLOP per step
    >>> summary = roofline(costs, sec_per_step=0.25)  # times every distinct op
"""

from __future__ import annotations

import collections
import dataclasses
import time

import numpy as np
import tensorflow as tf

__all__ = ["COUNTED_OPS", "OpCost", "count_flops", "op_flops", "roofline", "time_op"]

# Op type -> the input that has the shape of the product's output (None: the op's own output).
_CONV_OUTPUT = {
    "Conv2D": None, "Conv2DBackpropInput": 2, "Conv2DBackpropFilter": 2,
    "DepthwiseConv2dNative": None, "DepthwiseConv2dNativeBackpropInput": 2,
    "DepthwiseConv2dNativeBackpropFilter": 2,
}
_MATMUL = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
COUNTED_OPS = tuple(_CONV_OUTPUT) + _MATMUL
_BRANCHING = ("If", "StatelessIf", "Case", "StatelessCase")


@dataclasses.dataclass(frozen=True)
class OpCost:
    """One counted op of a graph.

    Attributes:
        op_type: str. The TF op type.
        signature: tuple. What fixes its cost: input shapes and dtypes, output shape, and its
            attributes; equal signatures are timed once.
        flops: int. 2 per multiply-add.
        name: str. The op's name in its graph (for reading the counts).
    """

    op_type: str
    signature: tuple
    flops: int
    name: str = dataclasses.field(default="", compare=False)


def _shape(tensor):
    if not tensor.shape.is_fully_defined():
        raise ValueError(f"FLOPs need static shapes. Received: {tensor.name} of shape "
                         f"{tensor.shape}")
    return tuple(int(d) for d in tensor.shape)


def op_flops(op) -> int | None:
    """FLOPs of one graph op (2 per multiply-add), or None if its type is not counted."""
    if op.type in _CONV_OUTPUT:
        index = _CONV_OUTPUT[op.type]
        out = _shape(op.outputs[0] if index is None else op.inputs[index])
        # The filter: input 1, except for the filter gradient, whose output it is.
        kernel = _shape(op.outputs[0] if op.type.endswith("BackpropFilter") else op.inputs[1])
        if op.type.startswith("Depthwise"):  # [kh, kw, C, multiplier]; each output: kh*kw MACs
            return 2 * int(np.prod(out)) * kernel[0] * kernel[1]
        return 2 * int(np.prod(out)) * kernel[0] * kernel[1] * kernel[2]
    if op.type in _MATMUL:
        a = _shape(op.inputs[0])
        if op.type == "MatMul":
            transposed = op.get_attr("transpose_a")
        else:
            transposed = op.get_attr("adj_x")
        inner = a[-2] if transposed else a[-1]
        return 2 * int(np.prod(_shape(op.outputs[0]))) * inner
    return None


def _called_graphs(op, graph):
    """The FuncGraphs `op` calls (function-valued attributes), looked up in `graph` and the
    graphs around it, by attribute name."""
    out = {}
    for name, value in op.node_def.attr.items():
        names = [value.func.name] if value.HasField("func") else [f.name for f in value.list.func]
        graphs = []
        for fname in names:
            g, fn = graph, None
            while fn is None and g is not None:
                fn = getattr(g, "_functions", {}).get(fname)
                g = getattr(g, "outer_graph", None)
            if fn is None:
                raise ValueError(f"{op.name} ({op.type}) calls {fname}, which is not in the "
                                 "traced graph's function library")
            graphs.append(fn.graph)
        if graphs:
            out[name] = graphs
    return out


def _live_ops(graph):
    """The ops that feed the graph's outputs, its control outputs or a stateful op, in graph
    order: what runs when the function is called (TF prunes the rest of a function body:
    `PruneFunctionBody`, tensorflow/core/common_runtime)."""
    todo = [t.op for t in graph.outputs] + list(graph.control_outputs)
    todo += [op for op in graph.get_operations()
             if op.op_def.is_stateful and op.type != "Placeholder"]
    live = set()
    while todo:
        op = todo.pop()
        if op in live:
            continue
        live.add(op)
        todo.extend(t.op for t in op.inputs)
        todo.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op in live]


def _count(graph) -> list[OpCost]:
    costs = []
    for op in _live_ops(graph):
        flops = op_flops(op)
        if flops is not None:
            costs.append(OpCost(op.type, _signature(op), flops, op.name))
        called = _called_graphs(op, graph)
        if op.type in _BRANCHING:  # one branch runs: count the costliest
            branches = [_count(g) for graphs in called.values() for g in graphs]
            costs += max(branches, key=lambda b: sum(c.flops for c in b), default=[])
        else:  # function calls (XLA-compiled passes), loop bodies (counted once)
            for graphs in called.values():
                for g in graphs:
                    costs += _count(g)
    return costs


def count_flops(function) -> list[OpCost]:
    """The counted ops of a traced function (a ConcreteFunction or a FuncGraph), with those of
    the functions it calls."""
    graph = getattr(function, "graph", function)
    return _count(graph)


# --- Timing the ops alone ----------------------------------------------------------------------
def _signature(op):
    inputs = tuple((_shape(t), t.dtype.name) for t in op.inputs)
    inferred = {arg.type_attr for arg in op.op_def.input_arg}  # the inputs' dtypes
    attrs = []
    for attr in op.op_def.attr:
        if attr.name in inferred:
            continue
        value = op.get_attr(attr.name)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = tuple(value)
        attrs.append((attr.name, value))
    names = tuple(arg.name for arg in op.op_def.input_arg)
    return (names, inputs, _shape(op.outputs[0]), tuple(attrs))


def rebuild(op_type, signature, copies):
    """A tf.function running `copies` independent copies of the op (distinct inputs, so that
    none is merged with another), and its random inputs."""
    names, inputs, output_shape, attrs = signature
    rng = np.random.default_rng(0)
    arrays, consts = [], {}
    for name, (shape, dtype) in zip(names, inputs):
        if name.endswith("_sizes"):  # input_sizes / filter_sizes: the shape of the result
            consts[name] = tf.constant(output_shape, tf.as_dtype(dtype))
        else:
            arrays.append((name, shape, dtype))
    args = [tf.cast(rng.standard_normal(shape).astype(np.float32), dtype)
            for _ in range(copies) for _, shape, dtype in arrays]
    raw = getattr(tf.raw_ops, op_type)

    def run(*tensors):
        outs = []
        for c in range(copies):
            chunk = tensors[c * len(arrays):(c + 1) * len(arrays)]
            kwargs = {name: t for (name, _, _), t in zip(arrays, chunk)}
            outs.append(raw(**kwargs, **consts, **dict(attrs)))
        return outs

    return tf.function(run), args


def time_op(op_type, signature, min_seconds=0.05, min_calls=3, max_copies=8,
            max_bytes=256 * 2**20) -> float:
    """Seconds of one run of the op alone: the fastest of repeated calls (after a warm-up
    call), each running several independent copies, over at least `min_seconds` and
    `min_calls`. The fastest call is the peak: other work on the machine only slows calls."""
    _, inputs, _, _ = signature
    nbytes = sum(int(np.prod(shape)) * tf.as_dtype(dtype).size for shape, dtype in inputs)
    copies = int(np.clip(max_bytes // max(nbytes, 1), 1, max_copies))
    fn, args = rebuild(op_type, signature, copies)
    fn(*args)[-1].numpy()  # traces, and allocates the outputs once
    best, calls, start = float("inf"), 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn(*args)[-1].numpy()  # the ops of a call have all run when it returns
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return best / copies


def roofline(costs, sec_per_step: float, min_seconds: float = 0.05) -> dict:
    """The step's FLOPs against the time its counted ops take alone.

    Args:
        costs: list of OpCost (`count_flops` of the step).
        sec_per_step: float. Measured seconds of one step.
        min_seconds: float. Timing window of each distinct op.

    Returns:
        dict: ``gflop_per_step``, ``achieved_gflops`` (FLOPs / step time), ``ops_alone_seconds``
        (the counted ops' summed times alone), ``peak_gflops`` (FLOPs / that sum),
        ``fraction_of_peak`` (achieved / peak), ``best_op_gflops`` (the fastest distinct op's
        rate), ``num_ops``, ``num_distinct``, and per op type ``by_type``: {type: {"gflop",
        "seconds_alone", "gflops_alone", "count"}}.
    """
    counts = collections.Counter((c.op_type, c.signature) for c in costs)
    flops_of = {(c.op_type, c.signature): c.flops for c in costs}
    by_type = collections.defaultdict(lambda: {"gflop": 0.0, "seconds_alone": 0.0, "count": 0})
    best = 0.0
    for key, n in counts.items():
        seconds = time_op(*key, min_seconds=min_seconds)
        best = max(best, flops_of[key] / seconds / 1e9)
        entry = by_type[key[0]]
        entry["gflop"] += n * flops_of[key] / 1e9
        entry["seconds_alone"] += n * seconds
        entry["count"] += n
    for entry in by_type.values():
        entry["gflops_alone"] = entry["gflop"] / max(entry["seconds_alone"], 1e-12)
    gflop = sum(c.flops for c in costs) / 1e9
    alone = sum(e["seconds_alone"] for e in by_type.values())
    peak = gflop / max(alone, 1e-12)
    achieved = gflop / sec_per_step
    return {"gflop_per_step": gflop, "sec_per_step": sec_per_step, "achieved_gflops": achieved,
            "ops_alone_seconds": alone, "peak_gflops": peak,
            "fraction_of_peak": achieved / peak if peak else float("nan"),
            "best_op_gflops": best, "num_ops": len(costs), "num_distinct": len(counts),
            "by_type": dict(by_type)}
