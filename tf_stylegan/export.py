"""Export a generator as a TensorFlow SavedModel for TF Serving.

`export_saved_model(Gs, out_dir, version=1)` writes `<out_dir>/<version>/`, the layout TF Serving
watches (a model base path holding integer version directories). The SavedModel is a plain
`tf.Module` holding Gs's variables and traced `tf.function`s: loading it needs TensorFlow only,
never Keras or `tf_stylegan` (which is what `tensorflow_model_server` does).

Signatures (all images are uint8 NHWC, converted as the official `convert_images_to_uint8`:
`saturate_cast(x * 127.5 + 128)`, i.e. [-1, 1] -> [0, 255] rounded half up and clipped):

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `z` f32 [N, latent_size], `truncation_psi` f32 [] (+ `labels`) | `images` |
| `mapping` | `z` f32 [N, latent_size] (+ `labels`) | `w` f32 [N, num_layers, dlatent_size] |
| `synthesis` | `w` f32 [N, num_layers, dlatent_size] | `images` |
| `seeds` | `seeds` i64 [N], `truncation_psi` f32 [] (+ `labels`) | `images`, `z` |

`labels` is f32 [N, label_size] and present only for conditional networks. Every signature uses
the stored noise buffers ("const" noise, the official `randomize_noise=False`), so the server is
deterministic: the same request always gives the same images. `serving_default` and `seeds`
apply the truncation trick to the layers below the config's `truncation_cutoff` (StyleGAN: 8,
official `G_style`; StyleGAN2: None, i.e. all layers, official `G_main`); `truncation_psi` = 1
disables it. `mapping` returns w without truncation and
`synthesis` renders w as given, as the official sub-networks do.

`seeds` draws `z[i] = stateless_normal([latent_size], seed=[seeds[i], 0], alg="philox")`: the
same seed gives the same image in any process, on any device. These are *not* the latents of
`np.random.RandomState(seed).randn(...)` that `generate.py` and the official scripts use (numpy's
Mersenne-Twister cannot run inside a graph); send those through `serving_default` as `z`.
"""

import json
import os
import shutil

import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path
from tf_stylegan.images import to_uint8

SERVING_NOISE = "const"
SIGNATURES = ("serving_default", "mapping", "synthesis", "seeds")


def seeds_to_z(seeds, latent_size):
    """int64 seeds [N] -> z [N, latent_size] float32, `stateless_normal(seed=[seed, 0])` each."""
    seeds = tf.cast(seeds, tf.int64)

    def one(seed):
        return tf.random.stateless_normal([latent_size], seed=tf.stack([seed, tf.zeros_like(seed)]),
                                          alg="philox")

    return tf.map_fn(one, seeds, fn_output_signature=tf.TensorSpec([latent_size], tf.float32))


class _ServingModule(tf.Module):
    """Gs's variables plus traced signatures; nothing in it refers to Keras after tracing."""

    def __init__(self, Gs):
        super().__init__(name="stylegan_generator")
        cfg = Gs.config
        # The underlying tf.Variables (not the Keras wrappers): what the traced graphs capture.
        self.variables_list = [v.value if hasattr(v, "value") else v for v in Gs.variables]
        conditional = cfg.label_size > 0
        z_spec = tf.TensorSpec([None, cfg.latent_size], tf.float32, name="z")
        psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
        label_spec = tf.TensorSpec([None, cfg.label_size], tf.float32, name="labels")
        w_spec = tf.TensorSpec([None, cfg.num_layers, cfg.dlatent_size], tf.float32, name="w")
        seed_spec = tf.TensorSpec([None], tf.int64, name="seeds")
        cutoff = cfg.truncation_cutoff

        def render(z, labels, psi):
            w = Gs.mapping(z, labels)
            w = Gs.truncate(w, psi, cutoff)
            return to_uint8(Gs.synthesis(w, noise=SERVING_NOISE))

        if conditional:
            @tf.function(input_signature=[z_spec, psi_spec, label_spec])
            def generate(z, truncation_psi, labels):
                return {"images": render(z, labels, truncation_psi)}

            @tf.function(input_signature=[z_spec, label_spec])
            def mapping(z, labels):
                return {"w": tf.cast(Gs.mapping(z, labels), tf.float32)}

            @tf.function(input_signature=[seed_spec, psi_spec, label_spec])
            def from_seeds(seeds, truncation_psi, labels):
                z = seeds_to_z(seeds, cfg.latent_size)
                return {"images": render(z, labels, truncation_psi), "z": z}
        else:
            @tf.function(input_signature=[z_spec, psi_spec])
            def generate(z, truncation_psi):
                return {"images": render(z, None, truncation_psi)}

            @tf.function(input_signature=[z_spec])
            def mapping(z):
                return {"w": tf.cast(Gs.mapping(z), tf.float32)}

            @tf.function(input_signature=[seed_spec, psi_spec])
            def from_seeds(seeds, truncation_psi):
                z = seeds_to_z(seeds, cfg.latent_size)
                return {"images": render(z, None, truncation_psi), "z": z}

        @tf.function(input_signature=[w_spec])
        def synthesis(w):
            return {"images": to_uint8(Gs.synthesis(w, noise=SERVING_NOISE))}

        self.generate = generate
        self.mapping = mapping
        self.synthesis = synthesis
        self.seeds = from_seeds

    def signatures(self):
        return {
            "serving_default": self.generate.get_concrete_function(),
            "mapping": self.mapping.get_concrete_function(),
            "synthesis": self.synthesis.get_concrete_function(),
            "seeds": self.seeds.get_concrete_function(),
        }


def export_saved_model(Gs, out_dir, version=1, overwrite=False):
    """Writes Gs as a TF Serving SavedModel to `<out_dir>/<version>/` and returns that path.

    The model is written to a temporary directory inside `out_dir` (`tf_stylegan.files.
    atomic_path`; TF Serving ignores its name, not being an integer) and renamed when complete,
    so a server watching `out_dir` never sees a half-written version.

    Args:
        Gs: `tf_stylegan.Generator` or `StyleGAN2Generator` (usually the moving-average Gs of
            a snapshot).
        out_dir: model base directory (TF Serving's `--model_base_path`).
        version: positive int, the version directory name.
        overwrite: replace an existing `<out_dir>/<version>` instead of failing.

    Returns:
        The path of the written version directory.

    Raises:
        UserError: `version` is not a positive int, or the version exists and not `overwrite`.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UserError(f"`version` must be a positive int. Received: version={version!r}")
    if not hasattr(Gs, "mapping") or not hasattr(Gs, "synthesis") or not hasattr(Gs, "config"):
        raise TypeError(f"`Gs` must be a tf_stylegan Generator. Received: Gs={type(Gs).__name__}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    final = os.path.join(out_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise UserError(f"{final}: model version already exists (pass overwrite=True).")
    module = _ServingModule(Gs)
    with atomic_path(final, directory=True) as tmp:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        # Human-readable description next to the graph; loaders ignore assets.extra.
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "tf_stylegan.json"), "w") as f:
            json.dump({"family": Gs.config.family, "config": Gs.config.to_dict(),
                       "noise": SERVING_NOISE,
                       "truncation_cutoff": Gs.config.truncation_cutoff,
                       "signatures": SIGNATURES}, f, indent=2)
        if os.path.exists(final):  # overwrite: the rename needs the old version out of the way
            shutil.rmtree(final)
    return final
