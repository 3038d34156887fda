"""`generate.py web`: a self-contained static site in which the generator runs client-side.

The site is plain files, served by any static file server; nothing is fetched from elsewhere:

    index.html style.css app.js worker.js latent.js   the page (apps/web/static/)
    lib/      ONNX Runtime Web (JavaScript + WebAssembly), copied from node_modules
    model/    mapping.onnx synthesis.onnx generator.json noise.bin (apps.runtimes)
              page.json: the title, the style-mixing layer ranges, the runtime version

The page draws latents with numpy's legacy RandomState generator (latent.js), so a seed gives
the latent of `generate.py images --seeds`; the worker runs the mapping and synthesis models and
applies truncation, style mixing and the noise choice itself, as `apps.runtimes`
documents.

Why ONNX Runtime Web: both it and TensorFlow.js run our graphs exactly (same images), and ORT's
WebAssembly backend was the faster one in headless Chromium on a 2-core CPU (docs/web.md, "Why
ONNX Runtime Web").
"""

import json
import os
import shutil

from apps.figures import layer_ranges
from apps.runtimes import write_runtime_files
from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
NODE_MODULES = os.path.join(ROOT, "node_modules")
RUNTIME_PACKAGE = "onnxruntime-web"
# The ONNX Runtime Web files the page loads: the WebAssembly-only build (its licence header
# included), its module loader and its SIMD (+ threads when cross-origin isolated) binary.
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "style.css", "app.js", "worker.js", "latent.js")


def runtime_dir(node_modules=NODE_MODULES):
    """The installed onnxruntime-web package (`make install` runs `npm ci`); UserError if not."""
    package = os.path.join(node_modules, RUNTIME_PACKAGE)
    missing = [f for f in RUNTIME_FILES if not os.path.isfile(os.path.join(package, "dist", f))]
    if missing:
        raise UserError(f"{package}: {missing[0]} not found; install the JavaScript runtime "
                        "with `make install` (npm ci).")
    return package


def page_config(Gs, package, title=None, class_names=None):
    """page.json: what the page shows besides the model (title, layer ranges, runtime)."""
    coarse, middle, fine = layer_ranges(Gs.config.num_layers)
    with open(os.path.join(package, "package.json")) as f:
        version = json.load(f)["version"]
    if class_names is not None and len(class_names) != Gs.config.label_size:
        raise UserError(f"--class-names: {len(class_names)} names for "
                        f"{Gs.config.label_size} classes.")
    return {
        "title": title,
        "class_names": class_names,
        "layer_ranges": {"coarse": [coarse.start, coarse.stop],
                         "middle": [middle.start, middle.stop],
                         "fine": [fine.start, fine.stop]},
        "runtime": RUNTIME_PACKAGE,
        "runtime_version": version,
    }


def build_site(Gs, outdir, overwrite=False, title=None, class_names=None,
               node_modules=NODE_MODULES):
    """Writes the static site of generator Gs to the directory `outdir` and returns its path.

    The site is assembled under a temporary name beside `outdir` and renamed when complete, so
    a failed conversion leaves nothing behind.

    Raises:
        UserError: `outdir` exists and is not empty (without `overwrite`), or the JavaScript
            runtime is not installed.
    """
    package = runtime_dir(node_modules)
    outdir = os.path.abspath(os.fspath(outdir))
    if os.path.isfile(outdir) or (os.path.isdir(outdir) and os.listdir(outdir) and
                                  not overwrite):
        raise UserError(f"--outdir {outdir}: exists and is not empty (pass --overwrite to "
                        "replace it).")
    page = page_config(Gs, package, title, class_names)
    with atomic_path(outdir, directory=True) as tmp:
        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(STATIC, name), os.path.join(tmp, name))
        lib = os.path.join(tmp, "lib")
        os.makedirs(lib)
        for name in RUNTIME_FILES:
            shutil.copyfile(os.path.join(package, "dist", name), os.path.join(lib, name))
        model = os.path.join(tmp, "model")
        os.makedirs(model)
        write_runtime_files(Gs, "onnx", model)
        with open(os.path.join(model, "page.json"), "w") as f:
            json.dump(page, f, indent=1)
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
    return outdir
