"""The precision a run computes in: float32, Keras mixed policies, or the oneDNN bfloat16 rewrite.

`TrainingConfig.mixed_precision` names one of these (`resolve`):

- False: float32.
- "float16": Keras `mixed_float16` (layers compute in float16, variables stay float32) with
  dynamic loss scaling, float16's 5 exponent bits need it. `True` picks it on machines with GPUs.
- "bfloat16": Keras `mixed_bfloat16` on any device, no loss scaling (bfloat16 has float32's
  exponent range). On CPUs it is about 10x slower than float32: TensorFlow has no oneDNN
  bfloat16 kernels for the backward convolutions and falls back to Eigen.
- "onednn_bfloat16": the networks stay float32 in Keras; TensorFlow's grappler pass
  `auto_mixed_precision_onednn_bfloat16` rewrites each training-step graph when it is
  instantiated, running the convolutions and their gradients in oneDNN's
  bfloat16 kernels with float32 casts around them. `True` picks it on machines without GPUs.
  It pays on CPUs with native bfloat16 dot products (x86 flag `avx512_bf16`; `amx_bf16` gains
  more); on others oneDNN emulates bfloat16 and it gains little or loses.

The grappler option is process-global and is read when a tf.function's graph is optimized, on
the first call of each concrete function (the call's config is part of the key of the
instantiation, so a later call with the same options reuses it, and one without them gets a
float32 instantiation of its own). `onednn_bfloat16_rewrite()` turns it on and restores the
previous options on exit; `TrainStep` calls every step function inside it, so metrics,
snapshots and other trainers in the same process stay float32.

What stays float32 in the rewritten graph. TensorFlow's oneDNN lists (grappler
`auto_mixed_precision_lists.h`, `AutoMixedPrecisionListsMkl`; printed by the rewrite's paint
buckets with `TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_LOG_PATH`): the allow list (always bfloat16)
holds Conv2D, DepthwiseConv2dNative (the FIR filters and blurs), MatMul, BatchMatMul, Einsum and
their gradients; the infer list (bfloat16 where fed by bfloat16) the elementwise ops (Add, Mul,
Sub, RealDiv, BiasAdd, LeakyRelu, Rsqrt, Square, Softplus, Sigmoid, their gradients) and the
reductions Sum and Mean; the deny list (float32) Exp, Pow and the softmax losses; the clear
list (either) reshapes, slices, concatenations, Tile, Pad, Select. Variables stay float32.

`KEEP_FLOAT32` removes the matrix products from the allow list and moves Sum and Mean to the deny
list, for three reasons:
- by default the losses and their sums are computed in bfloat16: every reported loss is a
  bfloat16 number (8 significant bits), e.g. Loss/G 0.58203125. With the reductions in float32
  the per-sample losses (softplus of float32 scores from D's dense output layer) and their sums
  are float32 (tests/training/test_precision.py checks that no statistic is a bfloat16 number);
- the instance-norm, demodulation, R1 and path-length statistics are sums over many elements;
- the dense layers (mapping network, style affines, label embedding, D's head) are a negligible
  share of the FLOPs, all in the convolutions, which stay bfloat16.
Gradient relative error ||g - g32|| / ||g32|| per variable group, tiny networks (fmaps 16) at
8x8, batch 8, after 4 float32 steps (default lists -> KEEP_FLOAT32):
    StyleGAN (alpha 0.5, D with R1)  D convs 0.10 -> 0.085, D dense 0.020 -> 0.017, G mapping
        0.11 -> 0.11, G styles 0.17 -> 0.16, G synthesis convs 0.14 -> 0.14; loss D 8e-4 ->
        1e-3, G 1e-3 -> 1e-3, R1 penalty 2e-3 -> 9e-3.
    StyleGAN2  D 0.067 -> 0.11 (convs), 0.014 -> 0.047 (dense); D_reg (R1) 0.020 -> 0.021;
        G mapping 0.064 -> 0.035, styles 0.063 -> 0.028, synthesis convs 0.075 -> 0.035;
        G_reg (path length) 0.06-0.11 -> 0.055-0.080; losses D 8e-4 -> 1e-4, G 2.5e-3 ->
        1.2e-3, R1 penalty 7e-3 -> 5e-3, path-length penalty 3.5e-2 -> 3.4e-2.
    From the initial weights (StyleGAN): G 0.075-0.125 -> 0.020-0.041, loss G 5e-3 -> 8e-6.
Both settings are bfloat16-sized errors (float32 reorderings give ~1e-6), the same within the
spread of one seed to the next; the choice rests on float32 losses and statistics, at no cost
in the convolutions (its effect on the step time is to be measured with `python -m bench`).
"""

from __future__ import annotations

import contextlib
import os

import tensorflow as tf
from tensorflow.python.eager import context as tf_context

from tf_stylegan.errors import UserError

__all__ = ["KEEP_FLOAT32", "ONEDNN_BFLOAT16", "PRECISIONS", "check_xla", "cpu_bf16_flags",
           "describe", "keras_policy", "onednn_bfloat16_rewrite", "resolve", "step_scope"]

ONEDNN_BFLOAT16 = "onednn_bfloat16"
# The values of `TrainingConfig.mixed_precision`.
PRECISIONS = (False, True, "bfloat16", "float16", ONEDNN_BFLOAT16)
_OPTION = "auto_mixed_precision_onednn_bfloat16"
_ENV = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_"

# {environment variable suffix: comma-separated op names} set while a graph is rewritten: dense
# layers and every reduction stay float32 (see the module docstring for why).
KEEP_FLOAT32 = {
    "ALLOWLIST_REMOVE": "MatMul,BatchMatMul,BatchMatMulV2",
    "INFERLIST_REMOVE": "Sum,Mean",
    "DENYLIST_ADD": "Sum,Mean",
}


def resolve(mixed_precision) -> str | None:
    """The precision `mixed_precision` (a `PRECISIONS` value) names on this machine: None
    (float32), "float16", "bfloat16" or "onednn_bfloat16". True is "float16" when TensorFlow sees
    a GPU, else "onednn_bfloat16"."""
    if mixed_precision is True:
        return "float16" if tf.config.list_logical_devices("GPU") else ONEDNN_BFLOAT16
    return mixed_precision or None


def keras_policy(precision) -> tuple[str | None, bool]:
    """(Keras dtype policy name, or None for float32; whether gradients need loss scaling) of a
    resolved precision. The oneDNN rewrite keeps the Keras networks in float32."""
    if precision in ("float16", "bfloat16"):
        return f"mixed_{precision}", precision == "float16"
    return None, False


def check_xla(precision, xla):
    """Refuses the oneDNN rewrite with XLA: grappler does not rewrite XLA-compiled functions, so
    the step would silently run in float32 (checked: bit-identical results)."""
    if precision == ONEDNN_BFLOAT16 and xla:
        raise UserError("mixed_precision onednn_bfloat16 (what --mixed-precision picks without a "
                        "GPU) does not combine with xla: TensorFlow does not rewrite XLA-compiled "
                        "functions to bfloat16. Drop --xla, or use mixed_precision=bfloat16 "
                        "(Keras' mixed_bfloat16) with it.")


def cpu_bf16_flags(path="/proc/cpuinfo") -> dict[str, bool] | None:
    """{"avx512_bf16": bool, "amx_bf16": bool} from the CPU flags in `path`, or None where the
    file cannot be read (not Linux)."""
    try:
        with open(path) as f:
            flags = set()
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return None
    return {name: name in flags for name in ("avx512_bf16", "amx_bf16")}


def describe(precision, flags=None) -> str:
    """One line saying which precision path a run uses and, for the oneDNN rewrite, whether the
    CPU has native bfloat16 (`flags` as `cpu_bf16_flags`, read when None)."""
    if precision is None:
        return "Precision: float32."
    if precision == "float16":
        return "Precision: Keras mixed_float16 with dynamic loss scaling (float32 variables)."
    if precision == "bfloat16":
        return ("Precision: Keras mixed_bfloat16 (float32 variables); on CPUs this is much slower "
                "than float32, --mixed-precision uses the oneDNN bfloat16 rewrite there.")
    flags = cpu_bf16_flags() if flags is None else flags
    if flags is None:
        cpu = "CPU bfloat16 support unknown (no /proc/cpuinfo)"
    else:
        cpu = "CPU flags: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items())
        if not any(flags.values()):
            cpu += " (bfloat16 is emulated: expect little gain or a loss)"
    return (f"Precision: oneDNN bfloat16 rewrite of the training step's convolutions (float32 "
            f"networks, dense layers, losses and sums; no loss scaling); {cpu}.")


@contextlib.contextmanager
def onednn_bfloat16_rewrite():
    """Turns on grappler's oneDNN bfloat16 rewrite (and sets `KEEP_FLOAT32`'s variables) for the
    tf.functions first called inside, restoring the previous options and variables on exit."""
    ctx = tf_context.context()
    # The public getter reports an option left unset as absent, but the public setter can only
    # set it, not unset it: an explicit OFF would change the config every other function call
    # carries and make each of them re-optimized once. The context's own dict restores exactly.
    saved_options = dict(ctx._optimizer_experimental_options)
    saved_env = {k: os.environ.get(k) for k in (_ENV + s for s in KEEP_FLOAT32)}
    tf.config.optimizer.set_experimental_options({_OPTION: True})
    for suffix, ops in KEEP_FLOAT32.items():
        os.environ[_ENV + suffix] = ops
    try:
        yield
    finally:
        ctx._optimizer_experimental_options.clear()
        ctx._optimizer_experimental_options.update(saved_options)
        tf.config.optimizer.set_experimental_options({})  # drops the cached call options
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def step_scope(precision):
    """The context the training-step functions of a run are called in: the oneDNN rewrite for
    "onednn_bfloat16", nothing otherwise."""
    if precision == ONEDNN_BFLOAT16:
        return onednn_bfloat16_rewrite()
    return contextlib.nullcontext()
