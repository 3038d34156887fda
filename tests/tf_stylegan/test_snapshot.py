"""Snapshots: (G, D, Gs) round trip, no pickle, atomic writes, clear errors."""

import zipfile

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tf_stylegan.errors import UserError


def test_snapshot_round_trip(tmp_path):
    cfg = sg.NetworkConfig(resolution=8, fmap_base=64, fmap_max=16, latent_size=16,
                           dlatent_size=16, mapping_fmaps=16, label_size=2)
    G, D, Gs = sg.Generator(cfg), sg.Discriminator(cfg), sg.Generator(cfg)
    Gs.dlatent_avg.assign(tf.fill([16], 0.25))
    path = tmp_path / "network-snapshot-000001.zip"
    sg.save_snapshot(path, G, D, Gs, {"kimg": 1.0})
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert names == ["D.keras", "G.keras", "Gs.keras", "snapshot.json"]
        assert not any(n.endswith(".pkl") for n in names)
    G2, D2, Gs2, info = sg.load_snapshot(path, with_info=True)
    assert info["metadata"] == {"kimg": 1.0} and info["config"] == cfg.to_dict()
    z, labels = tf.random.normal([4, 16]), tf.one_hot([0, 1, 0, 1], 2)
    for a, b in ((G, G2), (Gs, Gs2)):
        np.testing.assert_array_equal(a(z, labels, noise="const"), b(z, labels, noise="const"))
    x = tf.random.normal([4, 8, 8, 3])
    np.testing.assert_array_equal(D(x, labels), D2(x, labels))
    np.testing.assert_array_equal(Gs2.dlatent_avg.numpy(), 0.25)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_snapshot_errors(tmp_path):
    with pytest.raises(UserError, match="missing.zip"):
        sg.load_snapshot(tmp_path / "missing.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.zip: not a tf_stylegan snapshot"):
        sg.load_snapshot(bad)
