"""The official ADA fixture cases (tests/fixtures/official-ada), in our layout.

The fixtures hold NCHW images and keep torch's trailing singleton axes on the draws; the pipe
takes NHWC images and [B] / [B, 2] / [4, B] draws (tf_stylegan/augment/draws.py)."""

import json
import os

import numpy as np
import tensorflow as tf

from tests.paths import FIXTURES
from tf_stylegan.augment import AugmentPipe
from tf_stylegan.augment.draws import DRAW_NAMES

ADA_FIXTURES = os.path.join(FIXTURES, "official-ada")
CASES = sorted(name[4:-4] for name in os.listdir(ADA_FIXTURES)
               if name.startswith("aug_") and name.endswith(".npz"))
GEOMETRIC_CASES = [c for c in CASES if c in {"xflip", "rotate90", "xint", "scale", "rotate",
                                             "aniso", "xfrac"} or c.startswith("bg")]
_PAIRS = {"xint_u", "xfrac_n", "cutout_center", "xint_t", "xfrac_t"}
_BAND_MAJOR = {"imgfilter_n", "imgfilter_gate_u", "imgfilter_t"}


def nhwc(a):
    return np.transpose(a, (0, 2, 3, 1))


def ours(name, a, batch):
    """A fixture array `name` in the layout the pipe uses."""
    if name == "noise_n":
        return nhwc(a)
    if name in _BAND_MAJOR or name == "p_rot":
        return a
    if name in _PAIRS:
        return a.reshape(batch, 2)
    if name == "cutout_size":  # [B, 2, 1, 1, 1]: the same side for x and y
        a = a.reshape(batch, 2)
        assert np.array_equal(a[:, 0], a[:, 1])
        return a[:, 0]
    return a.reshape(batch)


class Case:
    """One aug_<name>.npz: `pipe` (from its recorded config), `x` (NHWC), `p`, `draws` (the
    recorded raw draws), and `data` (every array as stored)."""

    def __init__(self, name, static_padding=True):
        self.name = name
        with np.load(os.path.join(ADA_FIXTURES, f"aug_{name}.npz")) as f:
            self.data = {k: f[k] for k in f.files}
        config = json.loads(str(self.data["config_json"]))
        self.batch = config["B"]
        self.pipe = AugmentPipe(static_padding=static_padding, **config["cfg"])
        self.x = tf.constant(nhwc(self.data["x"]))
        self.p = tf.constant(self.data["p"], tf.float32)
        self.draws = {k: tf.constant(ours(k, v, self.batch)) for k, v in self.data.items()
                      if k in DRAW_NAMES}

    def official(self, name):
        return ours(name, self.data[name], self.batch)

    def stages(self):
        return {k: v.numpy() for k, v in self.pipe.stages(self.x, self.p, self.draws).items()}


def load_npz(name):
    with np.load(os.path.join(ADA_FIXTURES, name)) as f:
        return {k: f[k] for k in f.files}
