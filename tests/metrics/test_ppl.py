"""Perceptual path length against closed forms, with a generator that is linear in w.

Stand-in: latent = dlatent = 2, w = z, the image holds s * w[0] and s * w[1] at two pixels inside
the face crop, large values outside the crop (which the crop must remove) and strong noise on the
other pixels of the crop (which must be identical for the two images of a pair). With the
squared L2 distance on [0, 255] images, a sample's value is exactly

    W space: (127.5 s)^2 ||w1 - w0||^2, ||z1 - z0||^2 ~ 2 chi2_2 = Exponential(mean 4);
    Z space: (127.5 s)^2 (2 sin(eps theta / 2) / eps)^2 ~ (127.5 s)^2 theta^2, where theta, the
             angle between two random directions in the plane, is uniform on [0, pi];

for 'full' as well as 'end' (the path is traversed at constant speed). The official statistic is
the mean between the 1st and 99th percentiles, whose expectation is known in closed form.
"""

import numpy as np
import pytest
import tensorflow as tf

from metrics.image_ops import box_downsample_to, face_crop
from metrics.ppl import compute_ppl, filtered_mean, prepare_for_distance, slerp
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import LinearGenerator

RES, CH, SCALE = 16, 3, 100.0
PIXELS = ((7, 5, 0), (9, 6, 1))  # Inside the crop rows [6, 14), columns [4, 12).


def _flat(h, w, c):
    return (h * RES + w) * CH + c


def make_generator(explicit_noise=True):
    B = np.zeros([2, RES * RES * CH])
    for i, (h, w, c) in enumerate(PIXELS):
        B[i, _flat(h, w, c)] = SCALE
    B[0, _flat(0, 0, 0)] = 50 * SCALE  # Outside the crop: only counted if the crop is missing.
    B[1, _flat(15, 15, 2)] = 50 * SCALE
    mask = np.zeros([1, RES, RES, 1])
    mask[:, 6:14, 4:12] = 1.0
    for h, w, _ in PIXELS:
        mask[:, h, w] = 0.0
    return LinearGenerator(np.eye(2), B, RES, CH, noise_strength=1.0, noise_mask=mask,
                           explicit_noise=explicit_noise)


def squared_l2(a, b):
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])


def expected_w():
    mu = 4.0 * (127.5 * SCALE) ** 2
    a, b = -mu * np.log(0.99), -mu * np.log(0.01)
    return ((a + mu) * 0.99 - (b + mu) * 0.01) / 0.98


def expected_z():
    return (127.5 * SCALE) ** 2 * np.pi**2 * (0.99**3 - 0.01**3) / (3 * 0.98)


@pytest.mark.parametrize("space,sampling", [("w", "end"), ("w", "full"), ("z", "end"),
                                            ("z", "full")])
def test_linear_generator_closed_form(space, sampling):
    G = make_generator()
    value = compute_ppl(G, squared_l2, num_samples=20000, space=space, sampling=sampling,
                        batch_size=1000, seed=3, progress=False)
    expected = expected_w() if space == "w" else expected_z()
    assert value == pytest.approx(expected, rel=0.03)


def test_registry_names_and_stored_noise_buffers_are_restored(tmp_path):
    G = make_generator(explicit_noise=False)  # Only stored buffers: re-drawn per minibatch.
    before = G.noise_buffer.numpy().copy()
    opts = MetricOptions(run_dir=str(tmp_path), num_samples=4000, batch_size=500,
                         distance_fn=squared_l2, progress=False)
    record = evaluate("ppl_wend", G, opts)
    assert record["results"]["ppl_wend"] == pytest.approx(expected_w(), rel=0.06)
    np.testing.assert_array_equal(G.noise_buffer.numpy(), before)
    assert (tmp_path / "metric-ppl_wend.jsonl").is_file()


def test_without_crop_the_outside_pixels_count():
    G = make_generator()
    value = compute_ppl(G, squared_l2, num_samples=4000, space="w", sampling="end", crop=False,
                        batch_size=1000, progress=False)
    assert value > 100 * expected_w()  # 50x larger pixels outside the crop: 2500x the value.


def test_filtered_mean_is_the_official_percentile_rule():
    rng = np.random.RandomState(0)
    for n in (7, 100, 1001):
        d = rng.exponential(size=n)
        s = np.sort(d)
        lo, hi = s[int(np.floor(0.01 * (n - 1)))], s[int(np.ceil(0.99 * (n - 1)))]
        assert filtered_mean(d) == pytest.approx(d[(d >= lo) & (d <= hi)].mean(), rel=1e-12)
    d = np.arange(1.0, 1001.0)
    assert filtered_mean(d[::-1]) == pytest.approx(np.arange(10.0, 992.0).mean())


def test_slerp_properties():
    rng = np.random.RandomState(1)
    a = rng.standard_normal([5, 8]).astype(np.float32)
    b = rng.standard_normal([5, 8]).astype(np.float32)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    np.testing.assert_allclose(slerp(a, b, np.zeros([5, 1], np.float32)), unit(a), atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, np.ones([5, 1], np.float32)), unit(b), atol=1e-5)
    mid = slerp(a, b, np.full([5, 1], 0.25, np.float32)).numpy()
    np.testing.assert_allclose(np.linalg.norm(mid, axis=-1), 1.0, atol=1e-6)
    theta = np.arccos(np.sum(unit(a) * unit(b), axis=-1))
    np.testing.assert_allclose(np.arccos(np.sum(unit(a) * mid, axis=-1)), 0.25 * theta,
                               atol=1e-5)


def test_face_crop_downsample_and_range():
    x = np.random.RandomState(2).uniform(-1, 1, [1, 1024, 1024, 3]).astype(np.float32)
    crop = face_crop(tf.constant(x)).numpy()
    np.testing.assert_array_equal(crop, x[:, 384:896, 256:768])  # c = 128: [3c:7c, 2c:6c].
    out = prepare_for_distance(x).numpy()
    assert out.shape == (1, 256, 256, 3)
    expected = crop.reshape(1, 256, 2, 256, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, (expected + 1) * 127.5, rtol=1e-5, atol=1e-4)
    small = np.zeros([2, 64, 64, 1], np.float32)
    assert box_downsample_to(small).shape == small.shape
    assert prepare_for_distance(small, crop=False).shape == (2, 64, 64, 3)  # Gray -> RGB.


def test_bad_arguments():
    G = make_generator()
    with pytest.raises(ValueError, match="space"):
        compute_ppl(G, squared_l2, num_samples=4, space="x", progress=False)
    with pytest.raises(ValueError, match="sampling"):
        compute_ppl(G, squared_l2, num_samples=4, sampling="middle", progress=False)
