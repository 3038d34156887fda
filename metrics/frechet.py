"""Distances between two sets of network features: Frechet distance (FID) and KID.

* Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a
  local Nash equilibrium", arXiv 1706.08500): the 2-Wasserstein distance between the Gaussians
  fitted to the two feature sets,
  ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))``. As in the official StyleGAN code
  (`metrics/frechet_inception_distance.py`): `scipy.linalg.sqrtm` of the product, real part of
  the result; the covariances are the unbiased `np.cov` estimates (divide by N - 1). When the
  product is singular and `sqrtm` returns non-finite values, the TF FID reference
  (bioinf-jku/TTUR `fid.py`) retries with `eps * I` added to both covariances; we do the same.
* Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv 1801.01401):
  the unbiased estimate of the squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (100 subsets of 1,000 samples by
  default, the standard choice; the subset size shrinks to the smaller set when there are fewer
  samples).

`FeatureStats` accumulates features batch by batch (mean and covariance in float64, optionally
every feature) so that 50,000 x 2048 features need not be held in memory for FID.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from tf_stylegan.files import atomic_path

__all__ = ["FeatureStats", "frechet_distance", "kernel_inception_distance"]


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: array [D]. Means.
        sigma1, sigma2: array [D, D]. Covariances.
        eps: float. Diagonal offset used only when `sqrtm(sigma1 @ sigma2)` is not finite
            (a singular product), as in the TF FID reference implementation.

    Returns:
        float. ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2))``, real part.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(
            f"Means must be vectors of the same length. Received: mu1.shape={mu1.shape}, "
            f"mu2.shape={mu2.shape}"
        )
    dim = mu1.shape[0]
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"Covariances must be [{dim}, {dim}]. Received: sigma1.shape={sigma1.shape}, "
            f"sigma2.shape={sigma2.shape}"
        )
    mean_term = np.square(mu1 - mu2).sum()
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(dim) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    dist = mean_term + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(np.real(dist))


def kernel_inception_distance(
    features1,
    features2,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """Unbiased squared MMD with the kernel ``(x.y / d + 1)^3``, averaged over random subsets.

    Each subset draws ``m = min(len(features1), len(features2), max_subset_size)`` samples
    without replacement from each set and computes

        1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j)
        - 2/m^2 sum_{i,j} k(x_i, y_j).

    Args:
        features1, features2: array [N, D]. The two feature sets (e.g. reals and fakes).
        num_subsets: int. Number of random subsets averaged.
        max_subset_size: int. Largest subset size.
        seed: int. Seed of the subset selection (the estimate is then deterministic).

    Returns:
        float. The KID estimate (can be slightly negative for identical distributions).
    """
    x_all = np.asarray(features1, dtype=np.float64)
    y_all = np.asarray(features2, dtype=np.float64)
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(
            "Features must be [N, D] arrays with the same D. "
            f"Received: features1.shape={x_all.shape}, features2.shape={y_all.shape}"
        )
    m = min(x_all.shape[0], y_all.shape[0], int(max_subset_size))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set. Received: subset size={m}")
    if num_subsets < 1:
        raise ValueError(f"`num_subsets` must be >= 1. Received: num_subsets={num_subsets}")
    dim = x_all.shape[1]
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = x_all[rng.choice(x_all.shape[0], m, replace=False)]
        y = y_all[rng.choice(y_all.shape[0], m, replace=False)]
        kxx = (x @ x.T / dim + 1.0) ** 3
        kyy = (y @ y.T / dim + 1.0) ** 3
        kxy = (x @ y.T / dim + 1.0) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total += within - 2.0 * kxy.sum() / (m * m)
    return float(total / num_subsets)


class FeatureStats:
    """Streaming statistics of feature vectors: count, mean, covariance and (optionally) all rows.

    The mean and covariance are accumulated as float64 sums, so the result equals `np.mean` and
    `np.cov(rowvar=False)` (unbiased, N - 1) of the concatenated features up to rounding.

    Args:
        capture_all: bool. Also keep every feature row (needed by KID).
        capture_mean_cov: bool. Accumulate the sums for mean and covariance (needed by FID).
        max_items: int or None. Rows beyond this count are ignored.
    """

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = True,
                 max_items: int | None = None):
        self.capture_all = bool(capture_all)
        self.capture_mean_cov = bool(capture_mean_cov)
        self.max_items = max_items
        self.num_items = 0
        self.num_features = None
        self._all = []
        self._sum = None
        self._sum_outer = None
        self._loaded_mean_cov = None  # Set by load(); such stats are read-only.

    @property
    def is_full(self) -> bool:
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, features) -> None:
        """Adds a batch of features [n, D]."""
        if self._loaded_mean_cov is not None:
            raise ValueError("FeatureStats read from a file cannot be appended to.")
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"Features must be [n, D]. Received: shape={x.shape}")
        if self.num_features is None:
            self.num_features = x.shape[1]
            if self.capture_mean_cov:
                self._sum = np.zeros([self.num_features], np.float64)
                self._sum_outer = np.zeros([self.num_features] * 2, np.float64)
        elif x.shape[1] != self.num_features:
            raise ValueError(
                f"Feature size changed from {self.num_features}. Received: shape={x.shape}"
            )
        if self.max_items is not None:
            x = x[: max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        self.num_items += x.shape[0]
        if self.capture_all:
            self._all.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            self._sum += x64.sum(axis=0)
            self._sum_outer += x64.T @ x64

    def get_all(self) -> np.ndarray:
        """All captured features, float32 [N, D]."""
        if not self.capture_all:
            raise ValueError("These FeatureStats were created with capture_all=False.")
        if not self._all:
            return np.zeros([0, self.num_features or 0], np.float32)
        if len(self._all) > 1:
            self._all = [np.concatenate(self._all, axis=0)]
        return self._all[0]

    def get_mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean [D] and unbiased covariance [D, D] (float64)."""
        if not self.capture_mean_cov:
            raise ValueError("These FeatureStats were created with capture_mean_cov=False.")
        if self._loaded_mean_cov is not None:
            return self._loaded_mean_cov
        if self.num_items < 2:
            raise ValueError(
                f"A covariance needs at least 2 feature vectors. Received: {self.num_items}"
            )
        n = self.num_items
        mean = self._sum / n
        cov = (self._sum_outer - n * np.outer(mean, mean)) / (n - 1)
        return mean, cov

    # --- Persistence (the real-image cache) ---------------------------------------------
    def save(self, path: str) -> None:
        """Writes the statistics to `path` (.npz) atomically: a temporary file, then a rename."""
        arrays = {"num_items": np.int64(self.num_items)}
        if self.capture_mean_cov:
            mean, cov = self.get_mean_cov()
            arrays.update(mean=mean, cov=cov)
        if self.capture_all:
            arrays["features"] = self.get_all()
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path: str) -> "FeatureStats":
        """Reads statistics written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            stats = cls(capture_all="features" in keys, capture_mean_cov="mean" in keys)
            stats.num_items = int(data["num_items"])
            if "features" in keys:
                stats._all = [data["features"].astype(np.float32)]
                stats.num_features = stats._all[0].shape[1]
            if "mean" in keys:
                stats._loaded_mean_cov = (data["mean"], data["cov"])
                stats.num_features = data["mean"].shape[0]
        return stats
