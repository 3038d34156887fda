"""Frechet Inception Distance (fid50k) and Kernel Inception Distance (kid50k).

The official fid50k (NVlabs/stylegan `metrics/frechet_inception_distance.py`, Karras et al.
2019 section 2): Inception-v3 pool features (2048-d) of

* the dataset's first 50,000 images, in file order, randomly mirrored if the run used
  mirror_augment (their mean and covariance are cached, keyed by the dataset and the options);
* 50,000 images of Gs without truncation, with random noise, converted to uint8 as the official
  `convert_images_to_uint8` does;

then the Frechet distance of the two Gaussians (`metrics.frechet.frechet_distance`). kid50k uses
the same features with the unbiased KID estimator instead (useful on small datasets, where FID is
biased). Conditional generators get labels drawn from the dataset's label rows.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from metrics.frechet import FeatureStats, frechet_distance, kernel_inception_distance
from metrics.metric_inputs import (
    LabelSampler,
    dataset_fingerprint,
    generator_config,
    progress_bar,
    real_batches_from_dataset,
)
from tf_stylegan.errors import UserError
from tf_stylegan.images import to_uint8

__all__ = ["compute_fid", "compute_kid", "fake_feature_stats", "real_feature_stats"]


def _cache_path(cache_dir: str, key: dict, kind: str, name: str) -> str:
    digest = hashlib.md5(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()
    return os.path.join(cache_dir, f"{digest}-{kind}-{name}.npz")


def real_feature_stats(extractor, *, num_images: int, batch_size: int = 8,
                       dataset_dir: str | None = None, mirror: bool = False,
                       resolution: int | None = None, real_source=None,
                       real_source_key: str | None = None, cache_dir: str | None = "cache",
                       capture_all: bool = False, capture_mean_cov: bool = True,
                       seed: int = 0, progress: bool = True) -> FeatureStats:
    """Features of real images, cached on disk.

    Give either `dataset_dir` (a TFRecord directory; the cache key holds its fingerprint) or
    `real_source` (an iterable of uint8 NHWC batches, or a callable `(num_images, batch_size) ->
    iterable`; cached only when `real_source_key` names it).

    The cache file ``<cache_dir>/<md5>-<kind>-<name>.npz`` is keyed by the dataset identity
    (path, file sizes and mtimes), `num_images`, `mirror` and its seed, `resolution`, what is
    captured, and the extractor's identity (the Inception file's SHA-256).
    """
    kind = "features" if capture_all else "moments"
    if (dataset_dir is None) == (real_source is None):
        raise ValueError(
            "Give exactly one of `dataset_dir` and `real_source`. Received: "
            f"dataset_dir={dataset_dir!r}, real_source={real_source!r}"
        )
    if dataset_dir is not None:
        identity = dataset_fingerprint(dataset_dir)
        name = os.path.basename(os.path.normpath(dataset_dir))
    else:
        identity = real_source_key
        name = "source"
    cache_file = None
    if cache_dir and identity is not None:
        key = dict(reals=identity, num_images=int(num_images), mirror=bool(mirror),
                   mirror_seed=int(seed) if mirror else None, resolution=resolution,
                   capture=[capture_all, capture_mean_cov], extractor=extractor.identity)
        cache_file = _cache_path(cache_dir, key, kind, name)
        if os.path.isfile(cache_file):
            return FeatureStats.load(cache_file)

    if dataset_dir is not None:
        batches = real_batches_from_dataset(dataset_dir, num_images, batch_size, mirror=mirror,
                                            resolution=resolution, seed=seed)
    elif callable(real_source):
        batches = real_source(num_images, batch_size)
    else:
        batches = real_source
    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov,
                         max_items=num_images)
    with progress_bar(num_images, "reals", progress) as bar:
        for images in batches:
            images = np.asarray(images)
            for begin in range(0, images.shape[0], batch_size):
                chunk = images[begin:begin + batch_size][: num_images - stats.num_items]
                if chunk.shape[0] == 0:
                    break
                stats.append(extractor(chunk))
                bar.update(chunk.shape[0])
            if stats.is_full:
                break
    if stats.num_items < 2:
        raise UserError(f"Need at least 2 real images for feature statistics, got "
                         f"{stats.num_items} from {dataset_dir or 'the real-image source'}.")
    if cache_file:
        stats.save(cache_file)
    return stats


def fake_feature_stats(G, extractor, *, num_images: int, batch_size: int = 8,
                       labels=None, seed: int = 0, capture_all: bool = False,
                       capture_mean_cov: bool = True, progress: bool = True) -> FeatureStats:
    """Features of `num_images` generated images: Gs without truncation, random noise, uint8.

    Args:
        G: generator (``G(z, labels, truncation_psi=1.0, noise="random")`` -> NHWC [-1, 1]).
        extractor: `metrics.inception.FeatureExtractor`.
        labels: dataset label rows for conditional generators (None: random one-hot).
        seed: int. Seed of the latents (and of the labels).
    """
    cfg = generator_config(G)
    sampler = LabelSampler(cfg.label_size, labels, seed=seed + 1)
    rng = np.random.RandomState(seed)

    @tf.function(reduce_retracing=True)
    def generate(z, c):
        return to_uint8(G(z, c, truncation_psi=1.0, noise="random"))

    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov)
    with progress_bar(num_images, "fakes", progress) as bar:
        while stats.num_items < num_images:
            n = min(batch_size, num_images - stats.num_items)
            z = rng.standard_normal([n, cfg.latent_size]).astype(np.float32)
            c = sampler(n)
            images = generate(tf.constant(z), None if c is None else tf.constant(c))
            stats.append(extractor(images))
            bar.update(n)
    return stats


def compute_fid(G, extractor, *, num_images: int = 50000, batch_size: int = 8, labels=None,
                seed: int = 0, progress: bool = True, num_reals: int | None = None,
                **real_kwargs) -> dict:
    """FID between `num_images` generated images and `num_reals` reals (default: as many).

    `real_kwargs` are passed to `real_feature_stats` (dataset_dir or real_source,
    real_source_key, mirror, resolution, cache_dir).

    Returns:
        dict(fid=float, num_reals=int, num_fakes=int).
    """
    real = real_feature_stats(extractor, num_images=num_images if num_reals is None else num_reals,
                              batch_size=batch_size, seed=seed, progress=progress, **real_kwargs)
    fake = fake_feature_stats(G, extractor, num_images=num_images, batch_size=batch_size,
                              labels=labels, seed=seed, progress=progress)
    mu_real, sigma_real = real.get_mean_cov()
    mu_fake, sigma_fake = fake.get_mean_cov()
    fid = frechet_distance(mu_fake, sigma_fake, mu_real, sigma_real)
    return dict(fid=fid, num_reals=real.num_items, num_fakes=fake.num_items)


def compute_kid(G, extractor, *, num_images: int = 50000, batch_size: int = 8, labels=None,
                seed: int = 0, num_subsets: int = 100, max_subset_size: int = 1000,
                progress: bool = True, num_reals: int | None = None, **real_kwargs) -> dict:
    """KID (unbiased, cubic polynomial kernel) between `num_images` generated images' features
    and those of `num_reals` reals (default: as many).

    Returns:
        dict(kid=float, num_reals=int, num_fakes=int).
    """
    real = real_feature_stats(extractor, num_images=num_images if num_reals is None else num_reals,
                              batch_size=batch_size, seed=seed, capture_all=True,
                              capture_mean_cov=False, progress=progress, **real_kwargs)
    fake = fake_feature_stats(G, extractor, num_images=num_images, batch_size=batch_size,
                              labels=labels, seed=seed, capture_all=True,
                              capture_mean_cov=False, progress=progress)
    kid = kernel_inception_distance(real.get_all(), fake.get_all(), num_subsets=num_subsets,
                                    max_subset_size=max_subset_size, seed=seed)
    return dict(kid=kid, num_reals=real.num_items, num_fakes=fake.num_items)
