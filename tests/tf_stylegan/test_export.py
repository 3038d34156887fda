"""SavedModel export for TF Serving, for each family: loads in a process that never imports
tf_stylegan, same signatures and same images as the Keras Gs.

StyleGAN exports a 16x16 generator (6 dlatent rows, under its truncation cutoff 8); StyleGAN2 a
64x64 one (10 rows, more than StyleGAN's cutoff 8, so that its cutoff None, "all layers", is
seen). Expected images are Gs's own, or the official truncation `avg + psi * (w - avg)`
written out here.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.paths import ROOT
from tests.tiny_networks import tiny_generator
from tf_stylegan.errors import UserError
from tf_stylegan.export import SIGNATURES, export_saved_model
from tf_stylegan.families import get_family
from tf_stylegan.images import to_uint8

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
FAMILIES = ["stylegan", "stylegan2"]
RESOLUTION = {"stylegan": 16, "stylegan2": 64}
NUM_LAYERS = {16: 6, 64: 10}  # 2 * log2(resolution) - 2
# The official default cutoffs: G_style truncates the 8 coarsest layers, G_main all of them.
CUTOFF = {"stylegan": 8, "stylegan2": None}


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, tmp_path_factory):
    G = tiny_generator(request.param, RESOLUTION[request.param])
    base = tmp_path_factory.mktemp("serving") / request.param
    path = export_saved_model(G, base, version=3)
    return G, base, path


def keras_images(G, z, psi, labels=None):
    """Gs's own images: its default cutoff, stored noise."""
    return np.asarray(to_uint8(G(tf.constant(z), labels, truncation_psi=psi, noise="const")))


def max_diff(a, b):
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()


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
for psi in (0.5, 0.7, 1.0):
    res[f"images{psi}"] = sig["serving_default"](
        z=tf.constant(inp["z"]), truncation_psi=tf.constant(psi))["images"].numpy()
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
                  "dtype": str(res["images0.5"].dtype),
                  "signatures": sorted(sig.keys())}))
"""


def test_loads_in_fresh_process_and_equals_gs(exported, tmp_path):
    G, base, path = exported
    res, layers = G.config.resolution, NUM_LAYERS[G.config.resolution]
    assert path == os.path.join(str(base), "3") and os.path.isfile(
        os.path.join(path, "saved_model.pb"))
    rng = np.random.RandomState(1)
    z = rng.randn(4, 16).astype(np.float32)
    w = rng.randn(2, layers, 16).astype(np.float32)  # a different w per layer, as after mixing
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
    assert report == {"tf_stylegan": False, "restored": "tensorflow", "dtype": "uint8",
                      "signatures": sorted(SIGNATURES)}
    out = np.load(tmp_path / "out.npz")

    for psi in (0.5, 0.7, 1.0):
        got = out[f"images{psi}"]
        assert got.shape == (4, res, res, 3) and got.dtype == np.uint8
        expected = keras_images(G, z, psi)
        assert max_diff(got, expected) <= 1
        assert np.mean(got == expected) > 0.99
    # psi 0.5 on the layers below the official cutoff (all of them here): written out.
    w_z = G.mapping(tf.constant(z)).numpy()
    avg = G.dlatent_avg.numpy()
    truncated = avg + 0.5 * (w_z - avg)
    cutoff = CUTOFF[G.config.family]
    if cutoff is not None:
        truncated[:, cutoff:] = w_z[:, cutoff:]
    by_hand = np.asarray(to_uint8(G.synthesis(tf.constant(truncated), noise="const")))
    assert max_diff(out["images0.5"], by_hand) <= 1
    assert out["w"].shape == (4, layers, 16)
    np.testing.assert_allclose(out["w"], w_z, rtol=1e-5, atol=1e-5)
    synth = np.asarray(to_uint8(G.synthesis(tf.constant(w), noise="const")))
    assert max_diff(out["synth"], synth) <= 1

    # seeds: deterministic across calls, across processes, and equal to rendering its z.
    np.testing.assert_array_equal(out["seeds_images"], out["seeds_again"])
    m = tf.saved_model.load(path)
    here = m.signatures["seeds"](seeds=tf.constant([0, 7, 123456789], tf.int64),
                                 truncation_psi=tf.constant(0.5))
    np.testing.assert_array_equal(here["images"].numpy(), out["seeds_images"])
    np.testing.assert_array_equal(here["z"].numpy(), out["seeds_z"])
    assert not np.allclose(out["seeds_z"][0], out["seeds_z"][1])
    assert max_diff(out["seeds_images"], keras_images(G, out["seeds_z"], 0.5)) <= 1


def test_truncation_psi_is_a_live_input(exported):
    G, _, path = exported
    sig = tf.saved_model.load(path).signatures["serving_default"]
    z = tf.constant(np.random.RandomState(2).randn(3, 16).astype(np.float32))
    for psi in (1.0, 0.0, -0.5):
        got = sig(z=z, truncation_psi=tf.constant(psi))["images"].numpy()
        assert max_diff(got, keras_images(G, z.numpy(), psi)) <= 1
    # psi 0 on every truncated layer, which is all of them here: every z gives the same image.
    zero = sig(z=z, truncation_psi=tf.constant(0.0))["images"].numpy()
    assert max_diff(zero[0], zero[1]) <= 1


def test_signatures_in_process(exported):
    # Names, dtypes and shapes of tf_stylegan/export.py's table, as the loaded functions say.
    G, _, path = exported
    res, layers = G.config.resolution, NUM_LAYERS[G.config.resolution]
    m = tf.saved_model.load(path)

    def io(name):
        fn = m.signatures[name]
        inputs = {k: (v.dtype, tuple(v.shape)) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: (v.dtype, tuple(v.shape)) for k, v in fn.structured_outputs.items()}
        return inputs, outputs

    f32, image = tf.float32, (tf.uint8, (None, res, res, 3))
    assert io("serving_default") == ({"z": (f32, (None, 16)), "truncation_psi": (f32, ())},
                                     {"images": image})
    assert io("mapping") == ({"z": (f32, (None, 16))}, {"w": (f32, (None, layers, 16))})
    assert io("synthesis") == ({"w": (f32, (None, layers, 16))}, {"images": image})
    assert io("seeds") == ({"seeds": (tf.int64, (None,)), "truncation_psi": (f32, ())},
                           {"images": image, "z": (f32, (None, 16))})


# The tool reads every family's files alike (each family's signatures: the test above).
@pytest.mark.parametrize("exported", ["stylegan"], indirect=True)
def test_saved_model_cli_lists_signatures(exported):
    # What TF Serving's own tool reads from the files.
    G, _, path = exported
    res, layers = G.config.resolution, NUM_LAYERS[G.config.resolution]
    proc = subprocess.run([SAVED_MODEL_CLI, "show", "--all", "--dir", path],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    blocks = {}
    for chunk in proc.stdout.split("signature_def['")[1:]:
        name, body = chunk.split("']", 1)
        blocks[name] = body.split("Method name is")[0]
    assert {"serving_default", "mapping", "synthesis", "seeds"} <= set(blocks)

    def io(body, key):
        # "inputs['z'] tensor_info:\n dtype: DT_FLOAT\n shape: (-1, 16)\n name: ..."
        part = body.split(f"['{key}'] tensor_info:")[1]
        dtype = part.split("dtype: ")[1].split()[0]
        shape = part.split("shape: ")[1].splitlines()[0].strip()
        return dtype, shape

    sd, images = blocks["serving_default"], ("DT_UINT8", f"(-1, {res}, {res}, 3)")
    assert io(sd, "z") == ("DT_FLOAT", "(-1, 16)")
    assert io(sd, "truncation_psi") == ("DT_FLOAT", "()")
    assert io(sd.split("output(s):")[1], "images") == images
    assert "labels" not in sd
    assert io(blocks["mapping"].split("output(s):")[1], "w") == ("DT_FLOAT", f"(-1, {layers}, 16)")
    assert io(blocks["synthesis"], "w") == ("DT_FLOAT", f"(-1, {layers}, 16)")
    assert io(blocks["seeds"], "seeds") == ("DT_INT64", "(-1)")
    assert io(blocks["seeds"].split("output(s):")[1], "images") == images


@pytest.mark.parametrize("family", FAMILIES)
def test_conditional_export_takes_labels(tmp_path, family):
    G = tiny_generator(family, RESOLUTION[family], label_size=3, seed=1)
    path = export_saved_model(G, tmp_path / "cond")
    assert os.path.basename(path) == "1"
    m = tf.saved_model.load(path)
    z = np.random.RandomState(3).randn(3, 16).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)
    for psi in (0.5, 0.7):
        got = m.signatures["serving_default"](z=tf.constant(z), labels=tf.constant(labels),
                                              truncation_psi=tf.constant(psi))["images"].numpy()
        assert max_diff(got, keras_images(G, z, psi, tf.constant(labels))) <= 1
    w = m.signatures["mapping"](z=tf.constant(z), labels=tf.constant(labels))["w"].numpy()
    np.testing.assert_allclose(w, G.mapping(tf.constant(z), tf.constant(labels)).numpy(),
                               rtol=1e-5, atol=1e-5)
    seeds = m.signatures["seeds"](seeds=tf.constant([4, 4], tf.int64),
                                  labels=tf.constant(labels[:2]),
                                  truncation_psi=tf.constant(1.0))["images"].numpy()
    assert not np.array_equal(seeds[0], seeds[1])  # same z, different class


def test_description_and_no_half_written_versions(exported):
    G, base, path = exported
    family = G.config.family
    with pytest.raises(UserError, match="already exists"):
        export_saved_model(G, base, version=3)
    with pytest.raises(ValueError, match="version"):
        export_saved_model(G, base, version=0)
    assert sorted(os.listdir(base)) == ["3"]  # no temporary directories left behind
    with open(os.path.join(path, "assets.extra", "tf_stylegan.json")) as f:
        info = json.load(f)
    assert info["family"] == family and info["noise"] == "const"
    assert info["truncation_cutoff"] == CUTOFF[family]
    config = get_family(family).config_class.from_dict(info["config"])
    assert config.resolution == RESOLUTION[family] and config == G.config
