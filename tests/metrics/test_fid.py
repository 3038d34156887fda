"""The whole FID/KID path with a randomly initialised Keras InceptionV3 built offline.

InceptionV3 at 299x299 is the expensive part on 2 CPU cores: the tests use 8 images.
"""

import json
import os

import keras
import numpy as np
import pytest

from metrics import fid as fid_module
from metrics.fid import real_feature_stats
from metrics.image_ops import legacy_resize_bilinear
from metrics.inception import load_inception
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import random_linear_generator, write_tfrecord_dataset

NUM = 8


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """Weights of a random keras.applications.InceptionV3(include_top=False, pooling='avg')."""
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                           input_shape=(299, 299, 3))
    path = str(tmp_path_factory.mktemp("keras_inception") / "inception_v3.weights.h5")
    model.save_weights(path)
    return path, model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.RandomState(5)
    images = rng.randint(0, 256, [NUM + 4, 32, 32, 3]).astype(np.uint8)
    directory = str(tmp_path_factory.mktemp("data") / "tiny")
    write_tfrecord_dataset(directory, images)
    return directory, images


def test_keras_inception_features(inception_weights):
    path, model = inception_weights
    extractor = load_inception(path)
    assert extractor.identity["kind"] == "keras" and len(extractor.identity["sha256"]) == 64
    images = np.random.RandomState(0).randint(0, 256, [3, 32, 32, 3]).astype(np.uint8)
    features = extractor(images)
    assert features.shape == (3, 2048)
    resized = legacy_resize_bilinear(images.astype(np.float32), [299, 299])
    expected = model(resized / 127.5 - 1.0, training=False).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-6)
    assert np.std(features) > 0


def _spy_frechet(calls):
    """Stand-in for `frechet_distance` in the end-to-end test (records its inputs). scipy's
    sqrtm (or any eigendecomposition) of a 2048x2048 matrix takes 20-45 s on 2 cores; the
    Frechet math itself is tested in test_frechet.py."""

    def fd(mu1, sigma1, mu2, sigma2):
        calls.append((mu1, sigma1, mu2, sigma2))
        return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2))

    return fd


def test_fid_end_to_end_and_real_statistics_cache(inception_weights, dataset, tmp_path,
                                                  monkeypatch):
    path, _ = inception_weights
    directory, images = dataset
    calls = []
    monkeypatch.setattr(fid_module, "frechet_distance", _spy_frechet(calls))
    G = random_linear_generator(resolution=32)
    opts = MetricOptions(run_dir=str(tmp_path / "run"), dataset_dir=directory, inception=path,
                         num_samples=NUM, batch_size=4, cache_dir=str(tmp_path / "cache"),
                         progress=False, snapshot="network-snapshot-000010.zip", kimg=10.0)
    record = evaluate("fid50k", G, opts)

    fid = record["results"]["fid50k"]
    assert len(calls) == 1
    mu_fake, sigma_fake = calls[0][0], calls[0][1]
    assert fid == pytest.approx(np.sum((mu_fake - calls[0][2]) ** 2) + np.trace(sigma_fake)
                                + np.trace(calls[0][3]))
    assert mu_fake.shape == (2048,) and sigma_fake.shape == (2048, 2048) and fid > 0
    assert record["results"]["num_reals"] == NUM and record["results"]["num_fakes"] == NUM
    # Fakes: Gs without truncation and with random noise.
    assert {c["truncation_psi"] for c in G.calls} == {1.0}
    assert {c["noise"] for c in G.calls} == {"random"}
    with open(tmp_path / "run" / "metric-fid50k.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 1 and lines[0]["results"]["fid50k"] == pytest.approx(fid)
    assert lines[0]["snapshot"] == "network-snapshot-000010.zip" and lines[0]["kimg"] == 10.0

    # The cached real statistics are those of the dataset's first NUM images in file order.
    cache_files = os.listdir(tmp_path / "cache")
    assert len(cache_files) == 1 and cache_files[0].endswith("-moments-tiny.npz")
    extractor = load_inception(path)
    direct = extractor(images[:NUM])
    kwargs = dict(num_images=NUM, batch_size=4, dataset_dir=directory, resolution=32,
                  cache_dir=str(tmp_path / "cache"), progress=False)

    def no_reading(*args, **kw):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(fid_module, "real_batches_from_dataset", no_reading)
    cached = real_feature_stats(extractor, **kwargs)
    mu, sigma = cached.get_mean_cov()
    np.testing.assert_allclose(mu, direct.mean(0), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(sigma, np.cov(direct.astype(np.float64), rowvar=False),
                               rtol=1e-3, atol=1e-9)
    # ... and they entered the Frechet distance as the second Gaussian (fakes first, official).
    np.testing.assert_array_equal(calls[0][2], mu)
    np.testing.assert_array_equal(calls[0][3], sigma)
    # Another option (mirror) is another cache entry: the dataset must be read again.
    with pytest.raises(AssertionError, match="cache should have been used"):
        real_feature_stats(extractor, mirror=True, **kwargs)


def test_kid_through_the_registry_with_a_real_image_source(inception_weights, tmp_path):
    path, _ = inception_weights
    rng = np.random.RandomState(7)
    reals = rng.randint(0, 256, [NUM, 32, 32, 3]).astype(np.uint8)
    G = random_linear_generator(resolution=32, seed=1)
    opts = MetricOptions(run_dir=str(tmp_path), real_source=[reals[:5], reals[5:]],
                         inception=path, num_samples=NUM, batch_size=4, cache_dir=None,
                         progress=False)
    result = evaluate("kid50k", G, opts)["results"]
    assert np.isfinite(result["kid50k"])
    assert result["num_reals"] == NUM and result["num_fakes"] == NUM
    assert os.path.isfile(tmp_path / "metric-kid50k.jsonl")


def test_fid_needs_real_images(inception_weights):
    G = random_linear_generator(resolution=32)
    with pytest.raises(ValueError, match="need real images"):
        evaluate("fid50k", G, MetricOptions(inception=inception_weights[0], num_samples=4,
                                            progress=False))
