"""fid_digits: the quality figure of the digit demos.

The Frechet distance (`metrics.frechet.frechet_distance`, FID's formula) between generated and
real digits in the feature space of the project's digit classifier (`metrics.digit_classifier`,
its 64-d penultimate layer) instead of Inception-v3's, whose ImageNet features say little about
32x32 grayscale digits. Not an official metric: its values compare runs of this project on digit
datasets, not published FIDs.

* Reals: the dataset's digits that the classifier never trained on (for the demo dataset, exactly
  the 2,000 digits it holds out), in file order, read through `metrics.metric_inputs`. The first
  n are the reference set A, the next n the floor set B.
* Fakes: n digits of Gs with class labels drawn uniformly, no truncation, random noise, converted
  to uint8 as the official `convert_images_to_uint8` does (`metrics.fid.fake_feature_stats`).
* ``fid_digits = FD(fakes, A)``; ``fid_digits_floor = FD(B, A)``: the score of a generator that
  would draw fresh real digits. Both compare n digits with the same n reals A, so both carry the
  same small-sample bias (FD of two finite samples of one distribution is positive and shrinks
  as 1/n); the floor is thus the value to read `fid_digits` against. A floor from the
  classifier's training digits instead would mix in its overfitting: it has seen those, and
  their features are more confident than those of any new digit.

n defaults to 1,000 (`registry.DEFAULT_NUM_SAMPLES`), the most the demo dataset allows.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from metrics.fid import fake_feature_stats
from metrics.frechet import FeatureStats, frechet_distance
from metrics.metric_inputs import generator_config, progress_bar, real_batches_from_dataset
from tf_stylegan.errors import UserError

__all__ = ["check_digit_generator", "compute_fid_digits", "unseen_digits"]

RESOLUTION = 32
NUM_CLASSES = 10


def check_digit_generator(G) -> None:
    """Raises UserError unless G draws what the classifier reads: 32x32 grayscale digits,
    unconditional or with 10 class labels."""
    cfg = generator_config(G)
    if (cfg.resolution, cfg.num_channels) != (RESOLUTION, 1) or \
            cfg.label_size not in (0, NUM_CLASSES):
        raise UserError(
            "fid_digits measures generators of 32x32 grayscale digits with 0 or 10 class labels "
            "(the demo datasets). Received: a generator with resolution="
            f"{cfg.resolution}, num_channels={cfg.num_channels}, label_size={cfg.label_size}")


def unseen_digits(dataset_dir: str, classifier, num_images: int, batch_size: int = 500,
                  progress: bool = True) -> np.ndarray:
    """The first `num_images` digits of a dataset that `classifier` never trained on.

    Returns:
        uint8 [num_images, 32, 32, 1], in file order.

    Raises:
        UserError: the dataset is not 32x32 grayscale, or has too few such digits.
    """
    from data.reader import TFRecordDataset  # metrics need no reader otherwise

    ds = TFRecordDataset(dataset_dir)
    if ds.resolution != RESOLUTION or ds.num_channels != 1:
        raise UserError(f"{dataset_dir}: fid_digits needs 32x32 grayscale digits (dataset_tool.py "
                        f"create_demo or create_mnist). Received: {ds.resolution}x"
                        f"{ds.resolution} images with {ds.num_channels} channels")
    kept, seen = [], 0
    # One pass over the dataset (num_images = its size: nothing repeats), stopping when enough.
    with progress_bar(num_images, "reals", progress) as bar:
        for images in real_batches_from_dataset(dataset_dir, ds.num_images, batch_size):
            seen += images.shape[0]
            new = [img for img in images if not classifier.was_trained_on(img)]
            new = new[:num_images - len(kept)]
            kept += new
            bar.update(len(new))
            if len(kept) == num_images:
                return np.stack(kept)
    raise UserError(
        f"{dataset_dir}: fid_digits needs {num_images} digits the classifier never trained on "
        f"(2 x num_samples); the dataset has {len(kept)} of {seen}. Lower --num-samples to "
        f"{len(kept) // 2} or less.")


def _stats(features) -> FeatureStats:
    stats = FeatureStats()
    stats.append(features)
    return stats


def compute_fid_digits(G, classifier, *, dataset_dir: str, num_images: int = 1000,
                       batch_size: int = 50, seed: int = 0, progress: bool = True) -> dict:
    """`fid_digits` and its real-vs-real floor for generator `G` (see the module docstring).

    Args:
        G: generator of 32x32 grayscale digits (`check_digit_generator`).
        classifier: `metrics.digit_classifier.DigitClassifier`.
        dataset_dir: str. TFRecord directory of the digits (e.g. datasets/demo).
        num_images: int. n: fakes, and reals in each of A and B.
        batch_size: int. Generator minibatch.
        seed: int. Seed of the latents and labels.

    Returns:
        dict(fid_digits=float, fid_digits_floor=float, classifier_accuracy=float,
        num_reals=int (A and B together), num_fakes=int).
    """
    check_digit_generator(G)
    reals = unseen_digits(dataset_dir, classifier, 2 * num_images, progress=progress)
    mu_a, sigma_a = _stats(classifier(reals[:num_images])).get_mean_cov()
    mu_b, sigma_b = _stats(classifier(reals[num_images:])).get_mean_cov()
    # labels=None: uniformly drawn one-hot classes for a conditional G.
    fakes = fake_feature_stats(G, classifier, num_images=num_images, batch_size=batch_size,
                               labels=None, seed=seed, progress=progress)
    mu_f, sigma_f = fakes.get_mean_cov()
    with warnings.catch_warnings():
        # ReLU features that never fire (on all reals, or on the many of an untrained G) make
        # the covariances singular; sqrtm of such a product is still accurate enough for FID,
        # and the official metrics/frechet_inception_distance.py silences it too (sqrtm's
        # disp=False).
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        fid = frechet_distance(mu_f, sigma_f, mu_a, sigma_a)
        floor = frechet_distance(mu_b, sigma_b, mu_a, sigma_a)
    return dict(fid_digits=fid, fid_digits_floor=floor, classifier_accuracy=classifier.accuracy,
                num_reals=int(reals.shape[0]), num_fakes=fakes.num_items)
