"""SavedModel export for TF Serving: loads without tf_stylegan, same images as the Keras model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tf_stylegan.errors import UserError
from tf_stylegan.export import export_saved_model
from tf_stylegan.images import to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def tiny_generator(label_size=0, seed=0):
    """A 16x16 generator with every variable randomized (noise weights are zero at init)."""
    cfg = sg.NetworkConfig(resolution=16, fmap_base=32, fmap_max=16, latent_size=16,
                           dlatent_size=16, mapping_fmaps=16, mapping_layers=2,
                           label_size=label_size)
    G = sg.Generator(cfg)
    rng = np.random.RandomState(seed)
    for v in G.variables:
        if "noise" in v.path and v.trainable:  # per-channel noise weights
            v.assign(rng.randn(*v.shape).astype(np.float32) * 0.5)
    G.dlatent_avg.assign(rng.randn(cfg.dlatent_size).astype(np.float32) * 0.3)
    return G


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    G = tiny_generator()
    base = tmp_path_factory.mktemp("serving") / "stylegan"
    path = export_saved_model(G, base, version=3)
    return G, base, path


def _keras_images(G, z, psi, labels=None):
    return np.asarray(to_uint8(G(tf.constant(z), labels, truncation_psi=psi, noise="const")))


# A script run in a fresh interpreter, outside the repo: what TF Serving sees.
_FRESH = r"""
import importlib.abc, json, sys


class _Block(importlib.abc.MetaPathFinder):  # any attempt to import our code fails loudly
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tf_stylegan":
            raise ImportError("tf_stylegan must not be imported here")


sys.meta_path.insert(0, _Block())
import numpy as np
import tensorflow as tf
repo, path, npz, out = sys.argv[1:5]
assert not any(p and (p.rstrip("/") == repo) for p in sys.path), sys.path
m = tf.saved_model.load(path)
inp = np.load(npz)
sig = m.signatures
res = {}
res["images"] = sig["serving_default"](z=tf.constant(inp["z"]),
                                       truncation_psi=tf.constant(0.7))["images"].numpy()
res["w"] = sig["mapping"](z=tf.constant(inp["z"]))["w"].numpy()
res["synth"] = sig["synthesis"](w=tf.constant(inp["w"]))["images"].numpy()
seeds = tf.constant([0, 7, 123456789], tf.int64)
s1 = sig["seeds"](seeds=seeds, truncation_psi=tf.constant(0.5))
s2 = sig["seeds"](seeds=seeds, truncation_psi=tf.constant(0.5))
res["seeds_images"], res["seeds_z"] = s1["images"].numpy(), s1["z"].numpy()
res["seeds_again"] = s2["images"].numpy()
np.savez(out, **res)
print(json.dumps({"tf_stylegan": "tf_stylegan" in sys.modules,
                  "restored": type(m).__module__.split(".")[0],
                  "dtype": str(res["images"].dtype)}))
"""


def test_loads_in_fresh_process_and_matches_keras(exported, tmp_path):
    G, base, path = exported
    assert path == os.path.join(str(base), "3") and os.path.isfile(
        os.path.join(path, "saved_model.pb"))
    rng = np.random.RandomState(1)
    z = rng.randn(4, 16).astype(np.float32)
    w = G.mapping(tf.constant(rng.randn(2, 16).astype(np.float32))).numpy()
    np.savez(tmp_path / "in.npz", z=z, w=w)
    script = tmp_path / "fresh.py"
    script.write_text(_FRESH)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    proc = subprocess.run(
        [sys.executable, str(script), ROOT, path, str(tmp_path / "in.npz"),
         str(tmp_path / "out.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    # A plain restored TF object (not a Keras model), and our package never imported.
    assert report == {"tf_stylegan": False, "restored": "tensorflow", "dtype": "uint8"}
    out = np.load(tmp_path / "out.npz")

    expected = _keras_images(G, z, 0.7)
    assert out["images"].shape == (4, 16, 16, 3)
    assert np.abs(out["images"].astype(int) - expected.astype(int)).max() <= 1
    assert np.mean(out["images"] == expected) > 0.99
    np.testing.assert_allclose(out["w"], G.mapping(tf.constant(z)).numpy(), rtol=1e-5, atol=1e-5)
    synth = np.asarray(to_uint8(G.synthesis(tf.constant(w), noise="const")))
    assert np.abs(out["synth"].astype(int) - synth.astype(int)).max() <= 1

    # seeds: deterministic across calls, across processes, and equal to rendering its z.
    np.testing.assert_array_equal(out["seeds_images"], out["seeds_again"])
    m = tf.saved_model.load(path)
    here = m.signatures["seeds"](seeds=tf.constant([0, 7, 123456789], tf.int64),
                                 truncation_psi=tf.constant(0.5))
    np.testing.assert_array_equal(here["images"].numpy(), out["seeds_images"])
    np.testing.assert_array_equal(here["z"].numpy(), out["seeds_z"])
    assert not np.allclose(out["seeds_z"][0], out["seeds_z"][1])
    ref = _keras_images(G, out["seeds_z"], 0.5)
    assert np.abs(out["seeds_images"].astype(int) - ref.astype(int)).max() <= 1


def test_truncation_psi_is_a_live_input(exported):
    G, _, path = exported
    sig = tf.saved_model.load(path).signatures["serving_default"]
    z = tf.constant(np.random.RandomState(2).randn(3, 16).astype(np.float32))
    for psi in (1.0, 0.0, -0.5):
        got = sig(z=z, truncation_psi=tf.constant(psi))["images"].numpy()
        assert np.abs(got.astype(int) - _keras_images(G, z.numpy(), psi).astype(int)).max() <= 1
    # psi 0 on the first 8 layers = all 6 layers here: every z gives the same image.
    zero = sig(z=z, truncation_psi=tf.constant(0.0))["images"].numpy()
    assert np.abs(zero[0].astype(int) - zero[1].astype(int)).max() <= 1


def test_saved_model_cli_lists_signatures(exported):
    _, _, path = exported
    proc = subprocess.run([SAVED_MODEL_CLI, "show", "--all", "--dir", path],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    blocks = {}
    for chunk in text.split("signature_def['")[1:]:
        name, body = chunk.split("']", 1)
        blocks[name] = body.split("Method name is")[0]
    assert {"serving_default", "mapping", "synthesis", "seeds"} <= set(blocks)

    def io(body, key):
        # "inputs['z'] tensor_info:\n dtype: DT_FLOAT\n shape: (-1, 16)\n name: ..."
        part = body.split(f"['{key}'] tensor_info:")[1]
        dtype = part.split("dtype: ")[1].split()[0]
        shape = part.split("shape: ")[1].splitlines()[0].strip()
        return dtype, shape

    sd = blocks["serving_default"]
    assert io(sd, "z") == ("DT_FLOAT", "(-1, 16)")
    assert io(sd, "truncation_psi") == ("DT_FLOAT", "()")
    assert io(sd.split("output(s):")[1], "images") == ("DT_UINT8", "(-1, 16, 16, 3)")
    assert "labels" not in sd
    assert io(blocks["mapping"].split("output(s):")[1], "w") == ("DT_FLOAT", "(-1, 6, 16)")
    assert io(blocks["synthesis"], "w") == ("DT_FLOAT", "(-1, 6, 16)")
    assert io(blocks["seeds"], "seeds") == ("DT_INT64", "(-1)")
    assert io(blocks["seeds"].split("output(s):")[1], "images") == ("DT_UINT8", "(-1, 16, 16, 3)")


def test_conditional_export_takes_labels(tmp_path):
    G = tiny_generator(label_size=3, seed=1)
    path = export_saved_model(G, tmp_path / "cond")
    assert os.path.basename(path) == "1"
    m = tf.saved_model.load(path)
    z = np.random.RandomState(3).randn(3, 16).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)
    got = m.signatures["serving_default"](z=tf.constant(z), labels=tf.constant(labels),
                                          truncation_psi=tf.constant(0.7))["images"].numpy()
    ref = _keras_images(G, z, 0.7, tf.constant(labels))
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    w = m.signatures["mapping"](z=tf.constant(z), labels=tf.constant(labels))["w"].numpy()
    np.testing.assert_allclose(w, G.mapping(tf.constant(z), tf.constant(labels)).numpy(),
                               rtol=1e-5, atol=1e-5)
    seeds = m.signatures["seeds"](seeds=tf.constant([4, 4], tf.int64),
                                  labels=tf.constant(labels[:2]),
                                  truncation_psi=tf.constant(1.0))["images"].numpy()
    assert not np.array_equal(seeds[0], seeds[1])  # same z, different class


def test_existing_version_is_refused_and_nothing_half_written(exported):
    G, base, path = exported
    with pytest.raises(UserError, match="already exists"):
        export_saved_model(G, base, version=3)
    with pytest.raises(ValueError, match="version"):
        export_saved_model(G, base, version=0)
    assert sorted(os.listdir(base)) == ["3"]  # no temporary directories left behind
    info = json.load(open(os.path.join(path, "assets.extra", "tf_stylegan.json")))
    assert info["noise"] == "const" and info["config"]["resolution"] == 16
