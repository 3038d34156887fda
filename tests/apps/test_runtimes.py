"""Exports for other runtimes (ONNX, TensorFlow.js, LiteRT), each run in its own runtime and
checked against the Keras generator it came from."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from apps.runtimes import export_runtime, graphs
from tests.paths import ROOT
from tests.tiny_networks import tiny_generator
from tf_stylegan.errors import UserError
from tf_stylegan.images import to_uint8


def stylegan(label_size=3):
    """A conditional 16x16 StyleGAN generator, noise weights and dlatent_avg randomized."""
    return tiny_generator("stylegan", 16, fmap_base=32, label_size=label_size, seed=0)


def stylegan2():
    return tiny_generator("stylegan2", 16, seed=1)


NETWORKS = {"stylegan": stylegan, "stylegan2": stylegan2}


def inputs_for(G, n=2, seed=3):
    """z, labels (or None), w and random noise maps for n images."""
    rng = np.random.RandomState(seed)
    cfg = G.config
    z = rng.randn(n, cfg.latent_size).astype(np.float32)
    labels = np.eye(cfg.label_size, dtype=np.float32)[rng.randint(cfg.label_size, size=n)] \
        if cfg.label_size else None
    w = G.mapping(tf.constant(z), None if labels is None else tf.constant(labels)).numpy()
    w = w + rng.randn(*w.shape).astype(np.float32) * 0.5  # distinct rows: every layer's w matters
    noise = [rng.randn(n, s, s, 1).astype(np.float32) for s in graphs.noise_sizes(G)]
    return z, labels, w, noise


def keras_reference(G, z, labels, w, noise):
    labels_t = None if labels is None else tf.constant(labels)
    return {
        "w": G.mapping(tf.constant(z), labels_t).numpy(),
        "images": G.synthesis(tf.constant(w), noise=[tf.constant(n) for n in noise]).numpy(),
        "images_const": G.synthesis(tf.constant(w), noise="const").numpy(),
        "images_none": G.synthesis(tf.constant(w), noise="none").numpy(),
    }


def stored_noise(export_dir, info, n):
    """The noise buffers of noise.bin as inputs [n, size, size, 1], as documented."""
    flat = np.fromfile(os.path.join(export_dir, info["noise_file"]), "<f4")
    out, offset = [], 0
    for s in info["noise_sizes"]:
        out.append(np.broadcast_to(flat[offset:offset + s * s].reshape(1, s, s, 1),
                                   (n, s, s, 1)).copy())
        offset += s * s
    assert offset == flat.size
    return out


def documented_render(run, info, export_dir, z, labels, psi):
    """uint8 images by the recipe of apps/runtimes/__init__.py, with `run(graph, feeds)`
    calling the runtime."""
    feeds = {"z": z} if labels is None else {"z": z, "labels": labels}
    w = run("mapping", feeds)
    avg = np.asarray(info["dlatent_avg"], np.float32)
    cutoff = info["truncation_cutoff"]
    layers = np.arange(info["num_layers"])[None, :, None]
    coef = np.where(layers < (info["num_layers"] if cutoff is None else cutoff),
                    np.float32(psi), np.float32(1))
    w = avg + (w - avg) * coef
    noise = stored_noise(export_dir, info, len(z))
    images = run("synthesis", {"w": w, **{f"noise{i}": n for i, n in enumerate(noise)}})
    return np.asarray(to_uint8(images))


def check_export(G, export_dir, run):
    """Every output of the two models against Keras, and the documented recipe against Gs."""
    info = json.load(open(os.path.join(export_dir, "generator.json")))
    assert info["family"] == G.config.family
    assert info["models"]["synthesis"]["inputs"][1:] == [
        f"noise{i}" for i in range(len(info["noise_sizes"]))]
    z, labels, w, noise = inputs_for(G)
    ref = keras_reference(G, z, labels, w, noise)
    feeds = {"z": z} if labels is None else {"z": z, "labels": labels}
    np.testing.assert_allclose(run("mapping", feeds), ref["w"], rtol=1e-5, atol=1e-5)
    synth = {"w": w, **{f"noise{i}": n for i, n in enumerate(noise)}}
    np.testing.assert_allclose(run("synthesis", synth), ref["images"], atol=2e-4)
    const = {"w": w, **{f"noise{i}": n for i, n in
                        enumerate(stored_noise(export_dir, info, len(w)))}}
    np.testing.assert_allclose(run("synthesis", const), ref["images_const"], atol=2e-4)
    zeros = {"w": w, **{f"noise{i}": np.zeros_like(n) for i, n in enumerate(noise)}}
    np.testing.assert_allclose(run("synthesis", zeros), ref["images_none"], atol=2e-4)
    assert np.abs(ref["images"] - ref["images_none"]).max() > 1e-2  # the noise inputs matter

    psi = 0.7
    got = documented_render(run, info, export_dir, z, labels, psi)
    labels_t = None if labels is None else tf.constant(labels)
    want = np.asarray(to_uint8(G(tf.constant(z), labels_t, truncation_psi=psi, noise="const")))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def onnx_runner(export_dir):
    import onnxruntime

    sessions = {name: onnxruntime.InferenceSession(os.path.join(export_dir, f"{name}.onnx"),
                                                   providers=["CPUExecutionProvider"])
                for name in ("mapping", "synthesis")}
    return lambda name, feeds: sessions[name].run(None, feeds)[0]


def litert_runner(export_dir):
    from ai_edge_litert.interpreter import Interpreter

    def run(name, feeds):
        interpreter = Interpreter(model_path=os.path.join(export_dir, f"{name}.tflite"))
        runner = interpreter.get_signature_runner("serving_default")
        (out,) = runner(**feeds).values()
        return out

    return run


def tfjs_runner(export_dir, tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is needed to run TensorFlow.js (make install)"
    script = os.path.join(ROOT, "tests", "tf_stylegan", "tfjs_runner.js")

    def run(name, feeds):
        inputs = {}
        for key, value in feeds.items():
            path = tmp_path / f"{name}-{key}.bin"
            np.ascontiguousarray(value, "<f4").tofile(path)
            inputs[key] = {"file": str(path), "shape": list(value.shape)}
        request = tmp_path / "request.json"
        out = tmp_path / "out.bin"
        request.write_text(json.dumps({"model": os.path.join(export_dir, name),
                                       "inputs": inputs, "output": str(out)}))
        proc = subprocess.run([node, script, str(request)], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        shape = json.loads(proc.stdout.strip().splitlines()[-1])["shape"]
        return np.fromfile(out, "<f4").reshape(shape)

    return run


@pytest.mark.parametrize("family", sorted(NETWORKS))
def test_onnx_export_matches_keras(family, tmp_path):
    G = NETWORKS[family]()
    out = export_runtime(G, "onnx", tmp_path / "onnx")
    assert sorted(os.listdir(out)) == ["generator.json", "mapping.onnx", "noise.bin",
                                       "synthesis.onnx"]
    check_export(G, out, onnx_runner(out))


@pytest.mark.parametrize("family", sorted(NETWORKS))
def test_tfjs_export_matches_keras(family, tmp_path):
    G = NETWORKS[family]()
    out = export_runtime(G, "tfjs", tmp_path / "tfjs")
    assert sorted(os.listdir(os.path.join(out, "synthesis"))) == ["model.json", "weights.bin"]
    check_export(G, out, tfjs_runner(out, tmp_path))


def test_litert_export_matches_keras(tmp_path):
    G = stylegan()
    out = export_runtime(G, "litert", tmp_path / "litert")
    check_export(G, out, litert_runner(out))


def test_litert_refuses_stylegan2_and_existing_dirs(tmp_path):
    with pytest.raises(UserError, match="stylegan2 networks do not convert to LiteRT"):
        export_runtime(stylegan2(), "litert", tmp_path / "lite")
    assert not os.path.exists(tmp_path / "lite")
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="already exists"):
        export_runtime(stylegan(), "onnx", tmp_path / "taken")
    with pytest.raises(UserError, match="--format must be one of"):
        export_runtime(stylegan(), "coreml", tmp_path / "x")
    assert sorted(os.listdir(tmp_path)) == ["taken"]  # nothing half-written left behind
