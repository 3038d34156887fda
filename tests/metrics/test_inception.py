"""Loading the 2015 Inception GraphDef (on a tiny graph with the same tensor names) and errors."""

import tarfile

import numpy as np
import pytest
import tensorflow as tf

from metrics import inception
from metrics.image_ops import legacy_resize_bilinear
from metrics.inception import load_inception, resolve_inception_path
from tests.metrics.stand_ins import write_tiny_inception_graph
from tf_stylegan.errors import UserError

FEATURES = 2048


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("inception") / "classify_image_graph_def.pb")
    return path, write_tiny_inception_graph(path, FEATURES)


def _reference_one_by_one(graph, images):
    """What the graph gives fed image by image at ExpandDims:0 (its native batch of 1)."""
    with tf.compat.v1.Session(graph=graph) as sess:
        return np.concatenate([
            sess.run("pool_3:0", {"ExpandDims:0": img[None].astype(np.float32)}).reshape(1, -1)
            for img in images
        ])


def test_graphdef_is_batched_and_matches_the_graph_fed_one_image_at_a_time(tiny_graph):
    path, graph = tiny_graph
    images = np.random.RandomState(1).randint(0, 256, [5, 40, 40, 3]).astype(np.uint8)
    extractor = load_inception(path)
    assert extractor.identity["kind"] == "graphdef"
    assert extractor.identity["input"] == "ExpandDims:0"
    features = extractor(images)
    assert features.shape == (5, FEATURES) and features.dtype == np.float32
    np.testing.assert_allclose(features, _reference_one_by_one(graph, images), rtol=1e-5,
                               atol=1e-6)
    # A different batch size reuses the same compiled function and gives the same rows.
    np.testing.assert_allclose(extractor(images[:2]), features[:2], rtol=1e-5, atol=1e-6)
    assert load_inception(path) is extractor  # Memoised per file version.


def test_feeding_mul_reproduces_the_graphs_own_resize_and_normalisation(tiny_graph):
    path, _ = tiny_graph
    images = np.random.RandomState(2).randint(0, 256, [3, 64, 48, 3]).astype(np.uint8)
    via_expand = load_inception(path)(images)
    via_mul = load_inception(path, input_name="Mul:0")(images)
    np.testing.assert_allclose(via_mul, via_expand, rtol=1e-5, atol=1e-6)


def test_tgz_archive_and_grayscale_images(tiny_graph, tmp_path):
    path, graph = tiny_graph
    archive = str(tmp_path / "inception-2015-12-05.tgz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(path, arcname="classify_image_graph_def.pb")
    gray = np.random.RandomState(3).randint(0, 256, [2, 32, 32, 1]).astype(np.uint8)
    features = load_inception(archive)(gray)
    np.testing.assert_allclose(features, _reference_one_by_one(graph, np.tile(gray, 3)),
                               rtol=1e-5, atol=1e-6)


def test_legacy_resize_is_tf1_bilinear():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    out = legacy_resize_bilinear(x, [2, 2]).numpy()[0, :, :, 0]
    # half_pixel_centers=False samples the source at 2*i: pixels (0,0), (0,2), (2,0), (2,2).
    np.testing.assert_array_equal(out, [[0, 2], [8, 10]])


def test_missing_inception_file_messages(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.INCEPTION_ENV, raising=False)
    with pytest.raises(UserError) as info:
        resolve_inception_path(None)
    message = str(info.value)
    assert "--inception" in message and inception.INCEPTION_ENV in message
    assert "inception-2015-12-05.tgz" in message and inception.KERAS_INCEPTION_WEIGHTS in message
    assert "\n" not in message

    monkeypatch.setenv(inception.INCEPTION_ENV, str(tmp_path / "nope.pb"))
    with pytest.raises(UserError, match="TF_STYLEGAN_INCEPTION=.*nope.pb"):
        load_inception()

    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"123")
    with pytest.raises(ValueError, match="Unknown Inception file type"):
        load_inception(str(bad))
    not_graph = tmp_path / "broken.pb"
    not_graph.write_bytes(b"\xff\xff\xff")
    with pytest.raises(ValueError, match="broken.pb"):
        load_inception(str(not_graph))


def test_extractor_rejects_float_images(tiny_graph):
    with pytest.raises(ValueError, match="uint8 NHWC"):
        load_inception(tiny_graph[0])(np.zeros([1, 16, 16, 3], np.float32))
