"""Frechet distance, KID and streaming feature statistics against closed forms and numpy."""

import numpy as np
import pytest
import scipy.linalg

from metrics import frechet
from metrics.frechet import FeatureStats, frechet_distance, kernel_inception_distance


def _spd(rng, dim):
    m = rng.standard_normal([dim, dim])
    return m @ m.T / dim + 0.1 * np.eye(dim)


def test_closed_form_diagonal_gaussians():
    # FD = ||mu1 - mu2||^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2 for diagonal covariances.
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, 1e-12)
    assert frechet_distance(mu2, np.diag(s2), mu1, np.diag(s1)) == pytest.approx(expected, 1e-12)


def test_matches_direct_numpy_computation():
    rng = np.random.RandomState(0)
    dim = 12
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    s1, s2 = _spd(rng, dim), _spd(rng, dim)
    # Direct: Tr sqrtm(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), via symmetric eigendecompositions.
    vals, vecs = np.linalg.eigh(s1)
    root1 = vecs @ np.diag(np.sqrt(vals)) @ vecs.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    rng = np.random.RandomState(1)
    x = rng.standard_normal([600, 16]) @ rng.standard_normal([16, 16])
    stats = FeatureStats()
    stats.append(x)
    mu, sigma = stats.get_mean_cov()
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8
    previous = 0.0
    for size in (0.1, 0.5, 2.0):
        shifted = FeatureStats()
        shifted.append(x + size)
        mu2, sigma2 = shifted.get_mean_cov()
        fd = frechet_distance(mu, sigma, mu2, sigma2)
        assert fd == pytest.approx(16 * size**2, rel=1e-4)  # Same covariance: ||shift||^2.
        assert fd > previous
        previous = fd


def test_singular_product_falls_back_to_eps_offset(monkeypatch):
    calls = []
    real_sqrtm = scipy.linalg.sqrtm

    def fake_sqrtm(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(frechet.scipy.linalg, "sqrtm", fake_sqrtm)
    s1, s2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    fd = frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=1e-6)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (s1 + 1e-6 * np.eye(2)) @ (s2 + 1e-6 * np.eye(2)))
    # The offset covariances give sqrtm = diag(sqrt(eps (1 + eps))) twice on the diagonal.
    assert fd == pytest.approx(2.0 - 4.0 * np.sqrt(1e-6 * (1 + 1e-6)), rel=1e-9)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same length"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"\[2, 2\]"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_feature_stats_match_numpy_and_round_trip(tmp_path):
    rng = np.random.RandomState(2)
    x = rng.standard_normal([103, 7]).astype(np.float32) * 3 + 5
    stats = FeatureStats(capture_all=True, max_items=100)
    for begin in range(0, 103, 10):
        stats.append(x[begin:begin + 10])
    assert stats.num_items == 100 and stats.is_full
    mu, sigma = stats.get_mean_cov()
    np.testing.assert_allclose(mu, x[:100].astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x[:100].astype(np.float64), rowvar=False),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(stats.get_all(), x[:100])

    path = str(tmp_path / "sub" / "stats.npz")
    stats.save(path)
    loaded = FeatureStats.load(path)
    assert loaded.num_items == 100
    np.testing.assert_array_equal(loaded.get_mean_cov()[1], sigma)
    np.testing.assert_array_equal(loaded.get_all(), x[:100])
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["stats.npz"]  # No temp left.
    with pytest.raises(ValueError, match="cannot be appended"):
        loaded.append(x[:2])


def test_feature_stats_errors():
    stats = FeatureStats()
    with pytest.raises(ValueError, match="at least 2"):
        stats.get_mean_cov()
    stats.append(np.zeros([3, 4]))
    with pytest.raises(ValueError, match="Feature size changed"):
        stats.append(np.zeros([3, 5]))
    with pytest.raises(ValueError, match="capture_all=False"):
        stats.get_all()


def _kid_direct(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3
    m = x.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = lambda a: (a.sum() - np.trace(a)) / (m * (m - 1))
    return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_kid_matches_direct_unbiased_mmd_when_subsets_are_the_whole_sets():
    rng = np.random.RandomState(3)
    x = rng.standard_normal([40, 5])
    y = rng.standard_normal([40, 5]) + 0.3
    # Subset size adapts to the 40 samples; a subset of all of them is a permutation.
    kid = kernel_inception_distance(x, y, num_subsets=3)
    assert kid == pytest.approx(_kid_direct(x, y), rel=1e-10)


def test_kid_near_zero_for_same_distribution_and_grows_with_shift():
    rng = np.random.RandomState(4)
    x = rng.standard_normal([1500, 8])
    same = kernel_inception_distance(x, rng.standard_normal([1200, 8]), num_subsets=10)
    shift = kernel_inception_distance(x, rng.standard_normal([1200, 8]) + 0.5, num_subsets=10)
    bigger = kernel_inception_distance(x, rng.standard_normal([1200, 8]) + 1.0, num_subsets=10)
    assert abs(same) < 0.02 * shift
    assert 0 < shift < bigger
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(x[:1], x)
