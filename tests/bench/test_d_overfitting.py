"""`python -m bench.d_overfitting`: held-out reals are the images of the other dataset not in the
training one, and D's outputs on each set are counted and averaged as printed."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bench import d_overfitting
from data.writer import write_arrays
from tests.tiny_networks import make_tiny_dataset, tiny_networks
from tf_stylegan.snapshot import save_snapshot
from training.trained_networks import variables_by_name


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The tiny dataset (48 images, 3 classes) and a dataset of its first 10 images."""
    root = tmp_path_factory.mktemp("overfit")
    full = make_tiny_dataset(root / "full")
    images, labels = d_overfitting.read_dataset(full)
    write_arrays(str(root / "part"), images[:10].transpose(0, 3, 1, 2), labels[:10],
                 progress=False)
    return full, str(root / "part")


def test_heldout_images_are_those_not_in_the_training_set(datasets):
    full, part = datasets
    train, other = d_overfitting.read_dataset(part), d_overfitting.read_dataset(full)
    assert len(train[0]) == 10 and len(other[0]) == 48
    held = d_overfitting.heldout_images(train, other)
    # The tiny images carry per-pixel noise: all 48 differ, so exactly the other 38 are left.
    assert len({im.tobytes() for im in other[0]}) == 48
    np.testing.assert_array_equal(held[0], other[0][10:])
    np.testing.assert_array_equal(held[1], other[1][10:])


def test_summarize_counts_means_and_signs():
    assert d_overfitting.summarize([2.0, -1.0, 0.5, 0.0]) == {"n": 4, "mean": 0.375,
                                                              "sign": 0.25}


@pytest.mark.parametrize("bias, label_size", [(-0.75, 3), (1.25, 3), (0.5, 0)])
def test_cli_prints_each_set_of_a_constant_D(datasets, tmp_path, capsys, bias, label_size):
    """A D whose every weight is zero but its output bias scores every image `bias`: each set
    has its size, mean `bias` and signs sign(bias), and the gap is 0. The sets' sizes (10, 38,
    21) do not divide into minibatch-stddev groups of 4; an unconditional network ignores the
    dataset's labels."""
    full, part = datasets
    G, D = tiny_networks("stylegan2", 8, label_size=label_size, num_channels=1)
    for v in D.weights:
        v.assign(tf.zeros(v.shape, v.dtype))
    out_bias = variables_by_name(D)["output/bias"]
    out_bias.assign(tf.fill(out_bias.shape, bias))
    snap = str(tmp_path / "net.zip")
    save_snapshot(snap, G, D, G)
    assert d_overfitting.main(["--network", snap, "--dataset", part, "--heldout", full,
                               "--num-fakes", "21", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    record = json.loads(lines[-1])
    want = {"training reals": 10, "held-out reals": 38, "fakes (G)": 21}
    for name, n in want.items():
        assert record[name]["n"] == n
        assert record[name]["mean"] == pytest.approx(bias, abs=1e-6)
        assert record[name]["sign"] == np.sign(bias)
    assert record["gap"] == pytest.approx(0.0, abs=1e-6)
    assert any(line.strip().startswith("held-out reals  n     38") for line in lines)


def test_no_heldout_reals_is_a_one_line_error(datasets, tmp_path):
    full, part = datasets
    G, D = tiny_networks("stylegan2", 8, label_size=3, num_channels=1)
    snap = str(tmp_path / "net.zip")
    save_snapshot(snap, G, D, G)
    with pytest.raises(SystemExit, match=f"{part}: every image is also in {part}"):
        d_overfitting.main(["--network", snap, "--dataset", part, "--heldout", part])


def test_missing_network_is_a_one_line_error(datasets, tmp_path):
    full, part = datasets
    with pytest.raises(SystemExit, match="Error: .*missing.zip"):
        d_overfitting.main(["--network", str(tmp_path / "missing.zip"), "--dataset", part,
                            "--heldout", full])
