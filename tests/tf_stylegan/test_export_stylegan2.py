"""SavedModel export of a StyleGAN2 generator: the same signatures as StyleGAN's, loading in a
process that never imports tf_stylegan, and the same images as the Keras Gs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tf_stylegan.export import SIGNATURES, export_saved_model
from tf_stylegan.images import to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_stylegan2(label_size=0, seed=0):
    """A 64x64 StyleGAN2 generator (10 dlatent rows: more than StyleGAN's cutoff 8) with
    randomized noise strengths and dlatent_avg (both zero at init)."""
    cfg = sg.StyleGAN2Config(resolution=64, fmap_base=64, fmap_max=16, latent_size=16,
                             dlatent_size=16, mapping_fmaps=16, mapping_layers=2,
                             label_size=label_size)
    G = sg.StyleGAN2Generator(cfg)
    rng = np.random.RandomState(seed)
    for layer in G.synthesis.conv_layers:
        layer.noise.noise_strength.assign(rng.uniform(0.5, 1.0))
    G.dlatent_avg.assign(rng.randn(cfg.dlatent_size).astype(np.float32) * 0.5)
    return G


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    G = tiny_stylegan2()
    path = export_saved_model(G, tmp_path_factory.mktemp("serving") / "stylegan2", version=2)
    return G, path


def keras_images(G, z, psi, labels=None):
    """Gs's own images: its default cutoff (None: all layers), stored noise."""
    return np.asarray(to_uint8(G(tf.constant(z), labels, truncation_psi=psi, noise="const")))


def max_diff(a, b):
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()


# Run in a fresh interpreter, outside the repository: what TF Serving sees.
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
for psi in (0.5, 1.0):
    res[f"images{psi}"] = sig["serving_default"](
        z=tf.constant(inp["z"]), truncation_psi=tf.constant(psi))["images"].numpy()
res["w"] = sig["mapping"](z=tf.constant(inp["z"]))["w"].numpy()
res["synth"] = sig["synthesis"](w=tf.constant(inp["w"]))["images"].numpy()
s = sig["seeds"](seeds=tf.constant([0, 7], tf.int64), truncation_psi=tf.constant(0.5))
res["seeds_images"], res["seeds_z"] = s["images"].numpy(), s["z"].numpy()
np.savez(out, **res)
print(json.dumps({"tf_stylegan": "tf_stylegan" in sys.modules,
                  "restored": type(m).__module__.split(".")[0],
                  "signatures": sorted(sig.keys())}))
"""


def test_loads_in_fresh_process_and_equals_gs(exported, tmp_path):
    G, path = exported
    rng = np.random.RandomState(1)
    z = rng.randn(3, 16).astype(np.float32)
    w = rng.randn(2, 10, 16).astype(np.float32)  # a different w per layer, as after mixing
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
    assert report == {"tf_stylegan": False, "restored": "tensorflow",
                      "signatures": sorted(SIGNATURES)}
    out = np.load(tmp_path / "out.npz")

    for psi in (0.5, 1.0):
        got = out[f"images{psi}"]
        assert got.shape == (3, 64, 64, 3) and got.dtype == np.uint8
        assert max_diff(got, keras_images(G, z, psi)) <= 1
    # psi 0.5 on every layer: the official G_main truncation, written out.
    w_z = G.mapping(tf.constant(z)).numpy()
    avg = G.dlatent_avg.numpy()
    by_hand = np.asarray(to_uint8(G.synthesis(tf.constant(avg + 0.5 * (w_z - avg)),
                                              noise="const")))
    assert max_diff(out["images0.5"], by_hand) <= 1
    np.testing.assert_allclose(out["w"], w_z, rtol=1e-5, atol=1e-5)
    assert out["w"].shape == (3, 10, 16)
    synth = np.asarray(to_uint8(G.synthesis(tf.constant(w), noise="const")))
    assert max_diff(out["synth"], synth) <= 1
    assert max_diff(out["seeds_images"], keras_images(G, out["seeds_z"], 0.5)) <= 1


def test_signatures_are_stylegans(exported):
    # Names, dtypes and shapes as the StyleGAN export (tf_stylegan/export.py's table).
    _, path = exported
    m = tf.saved_model.load(path)

    def io(name):
        fn = m.signatures[name]
        inputs = {k: (v.dtype, tuple(v.shape)) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: (v.dtype, tuple(v.shape)) for k, v in fn.structured_outputs.items()}
        return inputs, outputs

    f32, image = tf.float32, (tf.uint8, (None, 64, 64, 3))
    assert io("serving_default") == ({"z": (f32, (None, 16)), "truncation_psi": (f32, ())},
                                     {"images": image})
    assert io("mapping") == ({"z": (f32, (None, 16))}, {"w": (f32, (None, 10, 16))})
    assert io("synthesis") == ({"w": (f32, (None, 10, 16))}, {"images": image})
    assert io("seeds") == ({"seeds": (tf.int64, (None,)), "truncation_psi": (f32, ())},
                           {"images": image, "z": (f32, (None, 16))})


def test_description_names_the_family(exported):
    _, path = exported
    with open(os.path.join(path, "assets.extra", "tf_stylegan.json")) as f:
        info = json.load(f)
    assert info["family"] == "stylegan2" and info["truncation_cutoff"] is None
    assert sg.StyleGAN2Config.from_dict(info["config"]).resolution == 64


def test_conditional_stylegan2_export_takes_labels(tmp_path):
    G = tiny_stylegan2(label_size=3, seed=1)
    m = tf.saved_model.load(export_saved_model(G, tmp_path / "cond"))
    z = np.random.RandomState(3).randn(3, 16).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)
    got = m.signatures["serving_default"](z=tf.constant(z), labels=tf.constant(labels),
                                          truncation_psi=tf.constant(0.5))["images"].numpy()
    assert max_diff(got, keras_images(G, z, 0.5, tf.constant(labels))) <= 1
