"""The generator for other runtimes: ONNX, TensorFlow.js and LiteRT files.

`export_runtime(Gs, "onnx" | "tfjs" | "litert", out_dir)` writes two models, the mapping network
and the synthesis network with explicit noise inputs (`graphs`), plus what a caller needs to use
them:

    out_dir/
      generator.json   config, dlatent_avg, noise sizes, the files and their inputs
      noise.bin        the stored noise buffers, float32 little-endian, concatenated in order
      mapping.onnx  synthesis.onnx                     (onnx)
      mapping/model.json  synthesis/model.json (+ weights.bin each)   (tfjs graph models)
      mapping.tflite  synthesis.tflite                 (litert; StyleGAN networks only)

To render an image as `Gs(z, labels, truncation_psi=psi, noise="const")` does:
`w = mapping(z[, labels])`; `w = dlatent_avg + psi * (w - dlatent_avg)` on the layers below
`truncation_cutoff` (all layers when it is null); `images = synthesis(w, noise0, noise1, ...)`
with noise i the i-th buffer of noise.bin shaped [1, size_i, size_i, 1] (N(0, 1) samples for
random noise, zeros for none); uint8 pixels are `clip(images * 127.5 + 128, 0, 255)` truncated.
The TF Serving SavedModel (`tf_stylegan.export`) is the fourth format.
"""

import json
import os
import shutil

from apps.runtimes import graphs
from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path
from tf_stylegan.progress import track

FORMATS = ("onnx", "tfjs", "litert")
# The file (or directory) name of each graph, per format.
_NAMES = {"onnx": "{}.onnx", "tfjs": "{}", "litert": "{}.tflite"}


def model_files(fmt):
    """{"mapping": name, "synthesis": name} of the model files a format writes."""
    return {g: _NAMES[fmt].format(g) for g in graphs.OUTPUTS}


def write_models(Gs, fmt, out_dir):
    """Writes the two models of format `fmt` into the existing directory `out_dir`."""
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    if fmt == "litert":
        from apps.runtimes.litert import check_convertible, write_litert

        check_convertible(Gs)
        functions = {"mapping": graphs.mapping_function(Gs),
                     "synthesis": graphs.synthesis_function(Gs)}
        for name, path in track(model_files(fmt).items(), desc=f"export {fmt}", unit="model",
                                summary=False):
            write_litert(functions[name], Gs, os.path.join(out_dir, path))
        return
    frozen = graphs.frozen_graphs(Gs)
    # The command prints its own closing line ("Wrote ..."): no summary line off a terminal.
    for name, path in track(model_files(fmt).items(), desc=f"export {fmt}", unit="model",
                            summary=False):
        if fmt == "onnx":
            from apps.runtimes.onnx import write_onnx

            write_onnx(frozen[name], os.path.join(out_dir, path))
        else:
            from apps.runtimes.tfjs import write_graph_model

            write_graph_model(frozen[name], os.path.join(out_dir, path))


def describe(Gs, fmt):
    """The generator.json of an export: `graphs.runtime_metadata` plus the format, the model
    files with their input and output names, and the noise file."""
    inputs = {"mapping": ["z", "labels"] if Gs.config.label_size else ["z"],
              "synthesis": ["w"] + [f"noise{i}" for i in range(len(graphs.noise_sizes(Gs)))]}
    return {
        **graphs.runtime_metadata(Gs),
        "format": fmt,
        "models": {name: {"file": path, "inputs": inputs[name], "output": graphs.OUTPUTS[name]}
                   for name, path in model_files(fmt).items()},
        "noise_file": "noise.bin",
    }


def write_runtime_files(Gs, fmt, out_dir):
    """Writes the models, generator.json and noise.bin into the existing directory `out_dir`."""
    write_models(Gs, fmt, out_dir)
    with open(os.path.join(out_dir, "noise.bin"), "wb") as f:
        f.write(graphs.noise_buffer_bytes(Gs))
    with open(os.path.join(out_dir, "generator.json"), "w") as f:
        json.dump(describe(Gs, fmt), f, indent=1)


def export_runtime(Gs, fmt, out_dir, overwrite=False):
    """Writes Gs in format `fmt` ("onnx", "tfjs" or "litert") to the directory `out_dir`.

    The directory is written under a temporary name and renamed when complete
    (`tf_stylegan.files.atomic_path`), so it never holds half an export.

    Raises:
        UserError: unknown format, a network the format cannot hold (StyleGAN2 in LiteRT), or
            `out_dir` exists and not `overwrite`.
    """
    graphs.check_generator(Gs)
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.lexists(out_dir) and not overwrite:
        raise UserError(f"{out_dir}: already exists (pass --overwrite to replace it).")
    if fmt == "litert":
        from apps.runtimes.litert import check_convertible

        check_convertible(Gs)  # before any work
    with atomic_path(out_dir, directory=True) as tmp:
        write_runtime_files(Gs, fmt, tmp)
        if os.path.lexists(out_dir):
            shutil.rmtree(out_dir)
    return out_dir
