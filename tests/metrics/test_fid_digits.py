"""fid_digits and its digit classifier: the split, determinism, the cache, the distances, and the
metric through the registry and run_metrics.py on tiny StyleGAN and StyleGAN2 generators.

A tiny classifier (two epochs, 8 channels, 16 features; a few seconds) stands in for the
default one everywhere except in the one large test.
"""

import dataclasses
import json
import os
import warnings

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from click.testing import CliRunner

import run_metrics
from data.sources import demo_digits
from metrics import digit_classifier as dc
from metrics.digit_classifier import DigitClassifierSpec, held_out_mask, load_digit_classifier
from metrics.fid_digits import unseen_digits
from metrics.frechet import FeatureStats, frechet_distance
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import write_tfrecord_dataset
from tests.tiny_networks import tiny_generator
from tf_stylegan.config import NetworkConfig
from tf_stylegan.errors import UserError

TINY = DigitClassifierSpec(filters=(8, 8, 8), feature_size=16, epochs=2, learning_rate=5e-3,
                          max_shift=1)


def _quiet(message):
    pass


@pytest.fixture(scope="module")
def digits():
    images, labels = demo_digits()
    return images, labels, held_out_mask(labels, TINY)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache directory holding the tiny classifier, and the classifier."""
    directory = str(tmp_path_factory.mktemp("cache"))
    return directory, load_digit_classifier(TINY, cache_dir=directory, log=_quiet)


def _fd(features_a, features_b):
    sa, sb = FeatureStats(), FeatureStats()
    sa.append(features_a)
    sb.append(features_b)
    with warnings.catch_warnings():  # features that never fire: singular covariances
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return frechet_distance(*sa.get_mean_cov(), *sb.get_mean_cov())


def test_held_out_split_is_per_class_seeded_and_never_trained_on(digits, cache):
    images, labels, held = digits
    assert images.shape == (5000, 32, 32) and images.dtype == np.uint8
    assert np.bincount(labels[held], minlength=10).tolist() == [200] * 10
    np.testing.assert_array_equal(held, held_out_mask(labels, TINY))
    other = held_out_mask(labels, dataclasses.replace(TINY, seed=1))
    assert other.sum() == 2000 and not np.array_equal(held, other)
    _, classifier = cache
    assert classifier.num_train == 3000 and classifier.num_held_out == 2000
    assert not any(classifier.was_trained_on(img) for img in images[held])
    assert all(classifier.was_trained_on(img[..., None]) for img in images[~held][:100])


def test_training_is_deterministic_given_the_seed(digits):
    images, labels, held = digits
    a = dc.train_classifier(TINY, images[~held][:500], labels[~held][:500])
    b = dc.train_classifier(TINY, images[~held][:500], labels[~held][:500])
    c = dc.train_classifier(dataclasses.replace(TINY, seed=1), images[~held][:500],
                            labels[~held][:500])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_features_distance_to_itself_is_zero_and_to_other_images_large(digits, cache):
    images, labels, held = digits
    _, classifier = cache
    assert classifier.accuracy > 0.7  # two epochs of the tiny network: far above chance (0.1)
    reals = images[held][..., None]
    features = classifier(reals)
    assert features.shape == (2000, 16) and features.dtype == np.float32
    order = np.random.RandomState(0).permutation(2000)
    a, b = features[order[:1000]], features[order[1000:]]
    same = _fd(a, a)
    floor = _fd(b, a)
    assert abs(same) < 1e-6 * np.trace(np.cov(a, rowvar=False))
    inverted = classifier(255 - reals[order[1000:]])
    noise = classifier(np.random.RandomState(1).randint(0, 256, reals.shape).astype(np.uint8))
    assert _fd(inverted, a) > 20 * floor and _fd(noise, a) > 20 * floor


def test_cache_is_reused_and_invalidated_when_its_key_changes(cache, monkeypatch):
    directory, first = cache
    files = os.listdir(directory)
    assert first.trained_now and files == [os.path.basename(first.path)]
    assert files[0].startswith("digit-classifier-") and files[0].endswith(".keras")

    def no_training(*args):
        raise AssertionError("the cached classifier should have been read, not retrained")

    monkeypatch.setattr(dc, "train_classifier", no_training)
    again = load_digit_classifier(TINY, cache_dir=directory, log=_quiet)
    assert not again.trained_now and again.path == first.path
    assert again.accuracy == first.accuracy
    probe = demo_digits()[0][:64, ..., None]
    np.testing.assert_array_equal(again(probe), first(probe))

    monkeypatch.undo()
    messages = []
    other = load_digit_classifier(dataclasses.replace(TINY, epochs=3), cache_dir=directory,
                                  log=messages.append)
    assert other.trained_now and other.path != first.path
    assert sorted(os.listdir(directory)) == sorted(files + [os.path.basename(other.path)])
    assert "trained on 3000 digits" in messages[0] and "held-out digits" in messages[0]


class ReplayGenerator(tf.Module):
    """A 'perfect' conditional digit generator: for label c it returns a real digit of class c
    (from `bank`, chosen by z). Its fid_digits is as low as the floor only if the metric draws
    the classes uniformly, as the bank is."""

    def __init__(self, bank, bank_labels):
        super().__init__()
        self.config = NetworkConfig(resolution=32, num_channels=1, latent_size=4, label_size=10)
        order = np.argsort(bank_labels, kind="stable")
        self.per_class = int(np.bincount(bank_labels).min())
        by_class = np.stack([bank[order][bank_labels[order] == c][:self.per_class]
                             for c in range(10)])
        self.bank = tf.constant(by_class.astype(np.float32) / 127.5 - 1.0)  # [10, k, 32, 32]

    def __call__(self, z, labels=None, truncation_psi=0.7, noise="random", **kwargs):
        c = tf.argmax(labels, axis=1, output_type=tf.int32)
        u = 0.5 * (1.0 + tf.math.erf(z[:, 0] / np.sqrt(2.0)))  # uniform in (0, 1)
        i = tf.minimum(tf.cast(u * self.per_class, tf.int32), self.per_class - 1)
        return tf.gather_nd(self.bank, tf.stack([c, i], axis=1))[..., None]


def _dataset(tmp_path, images, labels):
    directory = str(tmp_path / "digits")
    write_tfrecord_dataset(directory, images[..., None], np.eye(10)[labels])
    return directory


def test_unseen_digits_skip_the_training_digits_in_file_order(digits, cache, tmp_path):
    images, labels, held = digits
    _, classifier = cache
    mixed = np.stack([images[~held][:30], images[held][:30]], axis=1).reshape(60, 32, 32)
    directory = _dataset(tmp_path, mixed, np.zeros(60, np.int64))
    got = unseen_digits(directory, classifier, 20, batch_size=7, progress=False)
    np.testing.assert_array_equal(got[..., 0], images[held][:20])
    with pytest.raises(UserError, match=r"digits.*30 of 60.*--num-samples to 15"):
        unseen_digits(directory, classifier, 31, progress=False)


@pytest.fixture
def registry_opts(digits, cache, tmp_path, monkeypatch):
    """MetricOptions on a dataset of 400 held-out digits, all labelled class 0, with the tiny
    classifier as the default one (read from the module's cache)."""
    images, labels, held = digits
    directory, _ = cache
    monkeypatch.setattr(dc, "DEFAULT_SPEC", TINY)
    rng = np.random.RandomState(0)
    pick = rng.permutation(np.flatnonzero(held))
    dataset = _dataset(tmp_path, images[pick[:400]], np.zeros(400, np.int64))
    opts = MetricOptions(run_dir=str(tmp_path / "run"), dataset_dir=dataset, cache_dir=directory,
                         num_samples=200, batch_size=25, progress=False)
    return opts, images[pick[400:]], labels[pick[400:]]


def test_fid_digits_of_a_perfect_generator_is_near_its_floor(registry_opts):
    opts, bank, bank_labels = registry_opts
    record = evaluate("fid_digits", ReplayGenerator(bank, bank_labels), opts)
    r = record["results"]
    assert r["num_reals"] == 400 and r["num_fakes"] == 200 and record["num_samples"] == 200
    # The dataset's labels are all class 0: drawn from them instead of uniformly, the classes
    # of the fakes would not match the reals' and the distance would be far above the floor.
    assert 0 < r["fid_digits_floor"] and r["fid_digits"] < 2.5 * r["fid_digits_floor"]


@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_fid_digits_through_the_registry_on_tiny_generators(registry_opts, family):
    opts, bank, bank_labels = registry_opts
    G = tiny_generator(family, 32, label_size=10, num_channels=1)
    record = evaluate("fid_digits", G, opts)
    r = record["results"]
    assert set(r) == {"fid_digits", "fid_digits_floor", "classifier_accuracy", "num_reals",
                      "num_fakes"}
    assert r["fid_digits"] > 5 * r["fid_digits_floor"] > 0  # an untrained G draws no digits
    lines = open(os.path.join(opts.run_dir, "metric-fid_digits.jsonl")).read().splitlines()
    assert json.loads(lines[-1])["results"] == r
    perfect = evaluate("fid_digits", ReplayGenerator(bank, bank_labels), opts)["results"]
    assert perfect["fid_digits_floor"] == pytest.approx(r["fid_digits_floor"], rel=1e-12)
    assert perfect["fid_digits"] < r["fid_digits"] / 5


def test_fid_digits_user_errors(registry_opts):
    opts, _, _ = registry_opts
    rgb = tiny_generator("stylegan", 32, label_size=10, num_channels=3)
    with pytest.raises(UserError, match=r"fid_digits .*32x32 grayscale.*num_channels=3"):
        evaluate("fid_digits", rgb, opts)
    small = tiny_generator("stylegan", 16, num_channels=1)
    with pytest.raises(UserError, match=r"resolution=16"):
        evaluate("fid_digits", small, opts)
    gray = tiny_generator("stylegan", 32, num_channels=1)
    with pytest.raises(UserError, match=r"fid_digits needs the real digits.*--dataset"):
        evaluate("fid_digits", gray, dataclasses.replace(opts, dataset_dir=None))
    with pytest.raises(UserError, match=r"needs 1000 digits the classifier never trained on"):
        evaluate("fid_digits", gray, dataclasses.replace(opts, num_samples=500))


def test_fid_digits_through_run_metrics(registry_opts, tmp_path, monkeypatch):
    opts, _, _ = registry_opts
    network = tmp_path / "network-snapshot-000064.zip"
    network.write_bytes(b"stand-in")
    G = tiny_generator("stylegan2", 32, label_size=10, num_channels=1)
    monkeypatch.setattr(run_metrics, "load_network", lambda path, with_info: (None, None, G, {}))
    base = ["--network", str(network), "--metrics", "fid_digits", "--num-samples", "200",
            "--cache-dir", opts.cache_dir, "--no-progress"]
    runner = CliRunner()
    result = runner.invoke(run_metrics.main, base)
    assert result.exit_code == 2 and "fid_digits need --dataset" in result.output
    data_dir, name = os.path.split(opts.dataset_dir)
    result = runner.invoke(run_metrics.main, base + ["--dataset", name, "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "fid_digits_floor" in result.output and "classifier_accuracy" in result.output
    record = json.loads((tmp_path / "metric-fid_digits.jsonl").read_text().splitlines()[-1])
    assert record["snapshot"] == network.name and record["results"]["num_fakes"] == 200


@pytest.mark.large
def test_default_classifier(tmp_path, digits):
    """The classifier the demo uses: trained once (about 20 s), accurate, and its features tell
    real digits from distorted ones."""
    images, labels, _ = digits
    messages = []
    classifier = load_digit_classifier(cache_dir=str(tmp_path), log=messages.append)
    assert classifier.spec == dc.DEFAULT_SPEC and classifier.accuracy >= 0.975
    assert f"accuracy {100 * classifier.accuracy:.2f}%" in messages[0]
    held = held_out_mask(labels, dc.DEFAULT_SPEC)
    reals = images[held][..., None]
    a, b = classifier(reals[0::2]), classifier(reals[1::2])
    floor = _fd(b, a)
    blurred = classifier(tf.nn.avg_pool2d(reals[1::2].astype(np.float32), 3, 1, "SAME")
                         .numpy().round().astype(np.uint8))
    assert _fd(blurred, a) > 20 * floor


@pytest.mark.large
def test_fid_digits_in_a_training_run(registry_opts, tmp_path):
    """run_training.py --metrics fid_digits: the loop evaluates it on its Gs at the snapshot
    (about 20 s: tracing the 32x32 training step)."""
    from data.writer import write_arrays
    from tests.tiny_networks import tiny_training_config
    from training.loop import Trainer

    opts, bank, bank_labels = registry_opts
    write_arrays(str(tmp_path / "data" / "digits"), bank[:, None], np.eye(10)[bank_labels],
                 progress=False)
    cfg = tiny_training_config(tmp_path / "data", "digits", total_kimg=0.008,
                               metrics=["fid_digits"],
                               metric_options={"cache_dir": opts.cache_dir, "num_samples": 100},
                               schedule={"lod_initial_resolution": 32, "tick_kimg_base": 0.008})
    logs = []
    Trainer(cfg, run_dir=str(tmp_path / "run"), progress=False, log=logs.append).train()
    record = json.loads((tmp_path / "run" / "metric-fid_digits.jsonl").read_text())
    assert record["kimg"] > 0 and (tmp_path / "run" / record["snapshot"]).is_file()
    assert record["results"]["num_fakes"] == 100 and record["results"]["fid_digits"] > 0
    assert any(line.startswith("fid_digits {'fid_digits': ") for line in logs)
