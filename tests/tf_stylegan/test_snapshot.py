"""Snapshots: (G, D, Gs) round trip, no pickle, atomic writes, clear errors."""

import json
import zipfile

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.tiny_networks import tiny_generator, tiny_networks
from tf_stylegan.errors import UserError

CLASSES = {"stylegan": (sg.Generator, sg.Discriminator),
           "stylegan2": (sg.StyleGAN2Generator, sg.StyleGAN2Discriminator)}


@pytest.mark.parametrize("family,fields", [
    ("stylegan", {}), ("stylegan2", dict(g_architecture="resnet", d_architecture="skip"))])
def test_snapshot_round_trip(tmp_path, family, fields):
    G, D = tiny_networks(family, 8, label_size=2, **fields)
    Gs = tiny_generator(family, 8, label_size=2, seed=1, **fields)
    cfg = Gs.config
    path = tmp_path / "network-snapshot-000001.zip"
    sg.save_snapshot(path, G, D, Gs, {"kimg": 1.0})
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert names == ["D.keras", "G.keras", "Gs.keras", "snapshot.json"]
        assert not any(n.endswith(".pkl") for n in names)
    G2, D2, Gs2, info = sg.load_snapshot(path, with_info=True)
    assert info["family"] == family and info["config"] == cfg.to_dict()
    assert info["metadata"] == {"kimg": 1.0}
    assert (type(G2), type(D2)) == CLASSES[family] and type(Gs2) is CLASSES[family][0]
    assert Gs2.config == cfg
    z, labels = tf.random.normal([4, 16]), tf.one_hot([0, 1, 0, 1], 2)
    for a, b in ((G, G2), (Gs, Gs2)):
        np.testing.assert_array_equal(a(z, labels, noise="const"), b(z, labels, noise="const"))
    x = tf.random.normal([4, 8, 8, 3])
    np.testing.assert_array_equal(D(x, labels), D2(x, labels))
    np.testing.assert_array_equal(Gs2.dlatent_avg.numpy(), Gs.dlatent_avg.numpy())
    assert np.abs(Gs2.dlatent_avg.numpy() - G2.dlatent_avg.numpy()).max() > 0  # Gs is Gs
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_snapshot_errors(tmp_path):
    with pytest.raises(UserError, match="missing.zip"):
        sg.load_snapshot(tmp_path / "missing.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.zip: not a tf_stylegan snapshot"):
        sg.load_snapshot(bad)


def _rewrite_info(path, **changes):
    # Rewrites snapshot.json inside the zip (as an older or a tampered snapshot would be).
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    info = json.loads(members["snapshot.json"])
    for key, value in changes.items():
        if value is None:
            info.pop(key, None)
        else:
            info[key] = value
    members["snapshot.json"] = json.dumps(info).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_snapshots_without_a_family_are_stylegan(tmp_path):
    G, D = tiny_networks("stylegan", 8)
    path = tmp_path / "old.zip"
    sg.save_snapshot(path, G, D, G)
    _rewrite_info(path, family=None)  # written before StyleGAN2 existed
    G, D, Gs, info = sg.load_snapshot(path, with_info=True)
    assert info["family"] == "stylegan"
    assert isinstance(Gs, sg.Generator) and not isinstance(Gs, sg.StyleGAN2Generator)


def test_snapshot_family_must_match_the_networks(tmp_path):
    G, D = tiny_networks("stylegan2", 8)
    path = tmp_path / "snap.zip"
    sg.save_snapshot(path, G, D, G)
    _rewrite_info(path, family=None)  # claims StyleGAN, holds StyleGAN2
    with pytest.raises(UserError, match="snap.zip: G.keras holds a 'stylegan2' network"):
        sg.load_snapshot(path)
    _rewrite_info(path, family="stylegan3")
    with pytest.raises(UserError, match="snap.zip: unknown network family 'stylegan3'"):
        sg.load_snapshot(path)


def test_snapshot_taken_during_growing_renders_its_level_upscaled(tmp_path):
    # Official Gs keeps its `lod`: a network saved while training at 16x16 renders 16x16 images,
    # nearest-upscaled to the full 32x32 (recursive G_synthesis, upscale2d by 2**floor(lod)).
    G, D = tiny_networks("stylegan", 32)
    Gs = tiny_generator("stylegan", 32, seed=1)
    z = tf.random.normal([3, 16], seed=4)
    kw = dict(noise="const", truncation_psi=1.0)  # w = mapping(z), as synthesis gets below
    level16 = Gs(z, resolution=16, **kw).numpy()
    fading = Gs(z, resolution=16, alpha=0.25, **kw).numpy()  # lod 1.75
    full = Gs(z, **kw).numpy()
    for lod, expected in ((1.0, level16), (1.75, fading)):
        Gs.lod = lod
        path = tmp_path / f"lod{lod}.zip"
        sg.save_snapshot(path, G, D, Gs, {"lod": lod})
        _, _, loaded = sg.load_snapshot(path)
        assert loaded.lod == lod and loaded.synthesis.lod == lod
        images = loaded(z, **kw).numpy()
        assert images.shape == (3, 32, 32, 3)
        # Constant over 2x2 blocks, and equal to the 16x16 output upscaled.
        np.testing.assert_array_equal(images[:, 0::2, 0::2], images[:, 1::2, 1::2])
        np.testing.assert_array_equal(images[:, 0::2, 1::2], images[:, 1::2, 0::2])
        np.testing.assert_allclose(images[:, ::2, ::2], expected, atol=1e-6)
        # The synthesis alone renders the same level (the metrics call it directly).
        w = loaded.mapping(z)
        np.testing.assert_allclose(loaded.synthesis(w, noise="const")[:, ::2, ::2], expected,
                                   atol=1e-6)
        # Asking for the full network.
        loaded.lod = 0
        np.testing.assert_allclose(loaded(z, **kw), full, atol=1e-6)
    with pytest.raises(UserError, match=r"`lod` must be in \[0, 3\]"):
        Gs.lod = 3.5


def test_stylegan2_networks_have_no_lod():
    G = tiny_generator("stylegan2", 8)
    assert G.lod == 0.0
    G.lod = 0  # accepted: nothing to change
    with pytest.raises(UserError, match="does not grow"):
        G.lod = 1.0
