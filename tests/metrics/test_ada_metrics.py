"""stylegan2-ada's fid50k_full and kid50k_full, and how training points a metric at its network.

stylegan2-ada `metrics/metric_main.py`: fid50k_full compares 50,000 fakes with every image of
the dataset, x-flips forced off; kid50k_full reads at most 1,000,000 reals, 100 subsets of at
most 1,000. A closed-form feature extractor (channel means of each image's left half, which
a mirrored read changes) makes the expected real statistics computable from the images.
"""

import numpy as np
import pytest
import tensorflow as tf

from metrics import fid as fid_module
from metrics import inception, registry
from metrics.inception import FeatureExtractor
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import random_linear_generator, write_tfrecord_dataset

NUM_REALS = 12


def _left_half_means(images):
    return tf.reduce_mean(images[:, :, :16], axis=[1, 2])


def _features(images):
    return images[:, :, :16].astype(np.float64).mean(axis=(1, 2))


@pytest.fixture
def extractor(monkeypatch):
    ex = FeatureExtractor(_left_half_means, "left-half channel means", dict(kind="test"),
                          feature_dim=3)
    seen = []
    monkeypatch.setattr(inception, "load_inception", lambda path=None: seen.append(path) or ex)
    ex.paths_asked = seen
    return ex


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.RandomState(3)
    images = rng.randint(0, 256, [NUM_REALS, 32, 32, 3]).astype(np.uint8)
    directory = str(tmp_path / "data" / "tiny")
    write_tfrecord_dataset(directory, images)
    return directory, images


def _spy(monkeypatch, name):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return 1.25

    monkeypatch.setattr(fid_module, name, spy)
    return calls


def test_fid50k_full_uses_every_real_unmirrored(extractor, dataset, tmp_path, monkeypatch):
    directory, images = dataset
    calls = _spy(monkeypatch, "frechet_distance")
    G = random_linear_generator(resolution=32)
    opts = MetricOptions(run_dir=str(tmp_path / "run"), dataset_dir=directory, mirror=True,
                         num_samples=5, batch_size=4, cache_dir=None, progress=False,
                         inception="the/inception.pt")
    record = evaluate("fid50k_full", G, opts)
    results = record["results"]
    assert results == dict(fid50k_full=1.25, num_reals=NUM_REALS, num_fakes=5)
    assert record["num_samples"] == 5 and extractor.paths_asked == ["the/inception.pt"]
    (mu_fake, sigma_fake, mu_real, sigma_real), = calls
    feats = _features(images)  # all 12, in file order, not flipped
    np.testing.assert_allclose(mu_real, feats.mean(0), rtol=1e-5)
    np.testing.assert_allclose(sigma_real, np.cov(feats, rowvar=False), rtol=1e-4)
    assert (tmp_path / "run" / "metric-fid50k_full.jsonl").is_file()
    # The legacy fid50k reads num_samples reals and keeps the run's mirroring.
    calls.clear()
    evaluate("fid50k", G, opts)
    assert not np.allclose(calls[0][2], feats[:5].mean(0), rtol=1e-5)


def test_kid50k_full_caps_the_reals(extractor, dataset, monkeypatch):
    directory, images = dataset
    calls = _spy(monkeypatch, "kernel_inception_distance")
    G = random_linear_generator(resolution=32)
    opts = MetricOptions(dataset_dir=directory, num_samples=4, batch_size=4, cache_dir=None,
                         progress=False)
    assert evaluate("kid50k_full", G, opts)["results"]["num_reals"] == NUM_REALS
    (reals, fakes), = calls
    np.testing.assert_allclose(reals, _features(images), rtol=1e-5)
    assert fakes.shape == (4, 3)
    assert registry.KID_FULL_MAX_REALS == 1_000_000
    monkeypatch.setattr(registry, "KID_FULL_MAX_REALS", 7)
    assert evaluate("kid50k_full", G, opts)["results"]["num_reals"] == 7


def test_full_metrics_need_the_dataset(extractor):
    G = random_linear_generator(resolution=32)
    reals = np.zeros([4, 32, 32, 3], np.uint8)
    for name in ("fid50k_full", "kid50k_full"):
        with pytest.raises(ValueError, match=f"{name} reads every image of the dataset"):
            evaluate(name, G, MetricOptions(real_source=[reals], num_samples=4, progress=False))
    assert registry.DEFAULT_NUM_SAMPLES["fid50k_full"] == 50000


def test_training_passes_metric_options_to_the_metric(tmp_path):
    # run_training.py --metrics fid50k_full --set metric_options.inception=PATH: the path
    # reaches MetricOptions.inception as the training loop builds it.
    from training.loop import Trainer
    from training.training_config import load_config

    cfg = load_config("demo", ["metric_options.inception=/nets/inception.pt"],
                      metrics="fid50k_full")
    assert cfg.metrics == ["fid50k_full"]
    options = Trainer.check_metrics(cfg)
    assert options == {"inception": "/nets/inception.pt"}
    assert MetricOptions(**options).inception == "/nets/inception.pt"
    cfg = load_config("demo", ["metric_options.inception_path=/x"], metrics="fid50k_full")
    with pytest.raises(ValueError, match="Unknown metric_options keys"):
        Trainer.check_metrics(cfg)
