"""Linear separability on synthetic data, conditional entropy, and the classifier path."""

import keras
import numpy as np
import pytest

from metrics import linear_separability as ls_module
from metrics.linear_separability import (
    compute_ls,
    conditional_entropy,
    load_classifiers,
    separability,
)
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import random_linear_generator
from tf_stylegan.errors import UserError


def _softmax_pm(logits):
    """The official two-class prediction softmax([l, -l])."""
    logits = np.asarray(logits, np.float64)[:, None]
    e = np.exp(np.concatenate([logits, -logits], axis=1))
    return e / e.sum(axis=1, keepdims=True)


def test_conditional_entropy_known_values():
    assert conditional_entropy([[0.5, 0.0], [0.0, 0.5]]) == pytest.approx(0.0, abs=1e-12)
    assert conditional_entropy([[0.25, 0.25], [0.25, 0.25]]) == pytest.approx(1.0)
    # X = rows: knowing X = 0 leaves Y uniform (1 bit), X = 1 determines Y; P(X = 0) = 0.5.
    assert conditional_entropy([[0.25, 0.25], [0.5, 0.0]]) == pytest.approx(0.5)
    assert conditional_entropy([[2, 2], [4, 0]]) == pytest.approx(0.5)  # Unnormalised input.
    with pytest.raises(ValueError, match="non-negative"):
        conditional_entropy([[-0.1, 1.1], [0, 0]])


def test_separable_attribute_has_near_zero_entropy_and_random_one_does_not():
    rng = np.random.RandomState(0)
    n = 2000
    z = rng.standard_normal([n, 8])
    w = np.tanh(z @ rng.standard_normal([8, 6]) * 0.3)  # A different (smooth) space.
    separable = _softmax_pm(4.0 * z[:, 0] + 2.0 * z[:, 3])  # Linear in z.
    random = _softmax_pm(3.0 * rng.standard_normal(n))  # Independent of z and w.
    result = separability(z, w, [separable, random])
    assert result["entropy_z"][0] < 0.05
    assert result["entropy_z"][1] > 0.9 and result["entropy_w"][1] > 0.9
    assert result["ls_z"] == pytest.approx(2.0 ** sum(result["entropy_z"]))
    assert result["ls_w"] == pytest.approx(2.0 ** sum(result["entropy_w"]))
    assert 1.8 < result["ls_z"] < 2.1


def test_keeps_the_most_confident_half_and_single_class_counts_as_perfect(monkeypatch):
    rng = np.random.RandomState(1)
    n = 100
    z = rng.standard_normal([n, 3])
    logits = np.concatenate([np.full(50, 5.0), np.full(50, -0.01)])  # Confident ones: class 0.
    seen = []
    real = ls_module.svm_entropy
    monkeypatch.setattr(ls_module, "svm_entropy",
                        lambda x, y: seen.append((x, y)) or real(x, y))
    result = separability(z, z, [_softmax_pm(logits)], num_keep=50)
    kept_z, targets = seen[0]
    np.testing.assert_array_equal(kept_z, z[:50])  # The 50 most confident, in order.
    assert set(targets) == {0}
    # One class only: LinearSVC cannot fit; the official code takes the prediction as perfect.
    assert result["entropy_z"] == [0.0] and result["ls_z"] == 1.0
    with pytest.raises(ValueError, match="num_keep"):
        separability(z, z, [_softmax_pm(logits)], num_keep=0)


def _save_classifier(path, weights, resolution):
    """A tiny Keras classifier: logit = sum over pixels of image * weights."""
    inputs = keras.Input((resolution, resolution, 3))
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, dense(x))
    dense.set_weights([weights.reshape(-1, 1).astype(np.float32)])
    model.save(path)


def test_ls_end_to_end_with_keras_classifiers(tmp_path, monkeypatch):
    rng = np.random.RandomState(2)
    res = 16
    G = random_linear_generator(resolution=res, latent_size=4, seed=3)
    _save_classifier(str(tmp_path / "00-linear.keras"), rng.standard_normal([res, res, 3]), res)
    # A classifier whose logit is always 0: every sample gets class 0 (argmax of [.5, .5]);
    # one class cannot be fitted, which the official code counts as perfectly separable.
    _save_classifier(str(tmp_path / "01-constant.keras"), np.zeros([res, res, 3]), res)
    classifiers = load_classifiers(str(tmp_path))
    assert [name for name, _ in classifiers] == ["00-linear", "01-constant"]
    result = compute_ls(G, classifiers, num_samples=400, batch_size=100, progress=False)
    # Images are linear in z (and w = z @ A): a linear attribute is linearly separable.
    assert result["entropy_z"][0] < 0.1 and result["entropy_w"][0] < 0.1
    assert result["entropy_z"][1] == 0.0 and result["entropy_w"][1] == 0.0
    assert result["attributes"] == ["00-linear", "01-constant"]

    monkeypatch.setenv(ls_module.CLASSIFIERS_ENV, str(tmp_path))
    record = evaluate("ls", G, MetricOptions(num_samples=200, batch_size=100, progress=False))
    assert set(record["results"]) >= {"ls_z", "ls_w"} and record["num_samples"] == 200


def test_classifier_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(ls_module.CLASSIFIERS_ENV, raising=False)
    with pytest.raises(UserError, match="--classifiers DIR"):
        load_classifiers(None)
    with pytest.raises(UserError, match="No \\*.keras"):
        load_classifiers(str(tmp_path))
