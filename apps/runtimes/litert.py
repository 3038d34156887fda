"""LiteRT (TensorFlow Lite) models of the generator's graphs, by TensorFlow's own converter.

Only built-in LiteRT ops are allowed (no "Select TF ops"), so the files run in the plain LiteRT
interpreter (`ai_edge_litert`, Android, iOS). StyleGAN2 networks do not convert: their FIR
upsampling (`upfirdn_2d`) pads a 6-D tensor, and LiteRT's PAD takes at most 5 dimensions.
"""

import tempfile

import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of


def check_convertible(Gs):
    """Raises UserError for networks LiteRT's built-in ops cannot run (the family's
    `litert_unsupported`: StyleGAN2)."""
    family = family_of(Gs)
    if family.litert_unsupported:
        raise UserError(
            f"--format litert: {family.name} networks do not convert to LiteRT "
            f"({family.litert_unsupported}). Use onnx or tfjs.")


def write_litert(function, Gs, path):
    """Writes the LiteRT model of a traced generator function (`graphs.mapping_function` /
    `synthesis_function`) to `path`; its one signature, "serving_default", keeps the input and
    output names.

    The converter reads a SavedModel of the function: converted from the function directly
    (`from_concrete_functions`), the weights stay resource variables that the interpreter never
    initializes, and the model computes garbage.
    """
    check_convertible(Gs)
    module = tf.Module()
    module.function = function
    # The underlying tf.Variables (not the Keras wrappers), as tf_stylegan.export does.
    module.weights = [v.value if hasattr(v, "value") else v for v in Gs.variables]
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved,
                            signatures={"serving_default": function.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        data = converter.convert()
    with open(path, "wb") as f:
        f.write(data)
