"""The roofline's FLOP counting (bench/roofline.py) on a graph counted by hand, and the ops
rebuilt alone. `python -m bench --roofline` on its smallest cases (the records of the plain step
and of StyleGAN2's cycle) is run by tests/bench/test_bench_smoke.py."""

import numpy as np
import pytest
import tensorflow as tf

from bench import roofline as rl

# Conv2D of x [2, 8, 8, 3] with a [3, 3, 3, 4] filter, stride 1, SAME: output [2, 8, 8, 4],
# 2 * 8 * 8 * 4 = 512 outputs of 3 * 3 * 3 = 27 multiply-adds each.
CONV = 2 * (2 * 8 * 8 * 4) * 27            # 27,648
CONV_STRIDE2 = 2 * (2 * 4 * 4 * 4) * 27    # output [2, 4, 4, 4]: 6,912
DEPTHWISE = 2 * (2 * 8 * 8 * 3) * 9        # [3, 3, 3, 1] filter, output [2, 8, 8, 3]: 6,912
DENSE = 2 * (5 * 3) * 7                    # [5, 7] @ [7, 3]: 210


def _traced():
    inner = tf.function(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), jit_compile=True)

    @tf.function
    def f(x, k, a, w, blur, flag):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            loss = tf.reduce_sum(inner(x, k) ** 2)  # a called (XLA) function
        gx, gk = tape.gradient(loss, [x, k])  # Conv2DBackpropInput + Conv2DBackpropFilter
        unused = tf.nn.conv2d(x, k, 1, "VALID")  # feeds nothing: pruned, not counted
        del unused
        c = tf.cond(flag, lambda: tf.reduce_sum(tf.nn.conv2d(x, k, 2, "SAME")),
                    lambda: tf.reduce_sum(tf.nn.conv2d(x, k, 4, "SAME")))  # the costlier counts
        d = tf.matmul(a, w)
        b = tf.nn.depthwise_conv2d(x, blur, [1, 1, 1, 1], "SAME")
        return gx, gk, c, d, b

    return f.get_concrete_function(
        tf.TensorSpec([2, 8, 8, 3]), tf.TensorSpec([3, 3, 3, 4]), tf.TensorSpec([5, 7]),
        tf.TensorSpec([7, 3]), tf.TensorSpec([3, 3, 3, 1]), tf.TensorSpec([], tf.bool))


def test_flops_of_a_graph_counted_by_hand():
    costs = rl.count_flops(_traced())
    by_type = {}
    for c in costs:
        by_type.setdefault(c.op_type, []).append(c.flops)
    assert {k: sorted(v) for k, v in by_type.items()} == {
        "Conv2D": sorted([CONV, CONV_STRIDE2]),
        "Conv2DBackpropInput": [CONV],
        "Conv2DBackpropFilter": [CONV],
        "MatMul": [DENSE],
        "DepthwiseConv2dNative": [DEPTHWISE],
    }
    assert sum(c.flops for c in costs) == 3 * CONV + CONV_STRIDE2 + DENSE + DEPTHWISE


def test_transposed_matmul_and_batch_matmul():
    @tf.function
    def f(a, b, x, y):
        return tf.matmul(a, b, transpose_a=True), tf.matmul(x, y, adjoint_b=True)

    costs = rl.count_flops(f.get_concrete_function(
        tf.TensorSpec([7, 5]), tf.TensorSpec([7, 3]), tf.TensorSpec([4, 2, 6]),
        tf.TensorSpec([4, 9, 6])))
    # a^T b: [5, 3] outputs of 7 terms; x y^T: 4 x [2, 9] outputs of 6 terms.
    assert sorted(c.flops for c in costs) == sorted([2 * 15 * 7, 2 * 4 * 18 * 6])


def test_ops_rebuilt_alone_and_the_roofline_summary():
    costs = rl.count_flops(_traced())
    for c in costs:
        fn, args = rl.rebuild(c.op_type, c.signature, copies=2)
        outs = fn(*args)
        assert len(outs) == 2 and tuple(outs[0].shape) == c.signature[2]
    summary = rl.roofline(costs, sec_per_step=0.5, min_seconds=0.001)
    total = sum(c.flops for c in costs) / 1e9
    assert summary["gflop_per_step"] == pytest.approx(total, rel=1e-12)
    assert summary["achieved_gflops"] == pytest.approx(total / 0.5, rel=1e-12)
    assert summary["ops_alone_seconds"] > 0
    assert summary["peak_gflops"] == pytest.approx(total / summary["ops_alone_seconds"])
    assert summary["fraction_of_peak"] == pytest.approx(
        summary["achieved_gflops"] / summary["peak_gflops"])
    assert summary["num_ops"] == 6 and summary["num_distinct"] == 6
    assert summary["by_type"]["Conv2D"]["count"] == 2
    assert summary["by_type"]["Conv2D"]["gflop"] == pytest.approx((CONV + CONV_STRIDE2) / 1e9)
    assert np.isfinite(summary["best_op_gflops"]) and summary["best_op_gflops"] > 0


def test_shapes_must_be_static():
    @tf.function
    def f(x, k):
        return tf.nn.conv2d(x, k, 1, "SAME")

    with pytest.raises(ValueError, match="static shapes"):
        rl.count_flops(f.get_concrete_function(tf.TensorSpec([None, 8, 8, 3]),
                                               tf.TensorSpec([3, 3, 3, 4])))
