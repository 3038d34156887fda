"""Shared checks for Keras layers and models (after keras-hub's `run_layer_test`)."""

import os

import keras
import numpy as np


def run_layer_test(layer, *inputs, expected_shape=None, expected_trainable=None, call_kwargs=None,
                   tmp_path=None):
    """Calls `layer` eagerly, checks shapes and weight counts, its config round trip, and that a
    functional model wrapping it survives a `.keras` save/load with identical outputs."""
    call_kwargs = call_kwargs or {}
    out = layer(*inputs, **call_kwargs)
    if expected_shape is not None:
        assert tuple(out.shape) == tuple(expected_shape), (out.shape, expected_shape)
    if expected_trainable is not None:
        assert len(layer.trainable_weights) == expected_trainable

    # Config round trip: same class, same config.
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config

    # Symbolic call through a functional model, then a .keras round trip.
    sym = [keras.Input(shape=x.shape[1:], batch_size=x.shape[0]) for x in inputs]
    model = keras.Model(sym if len(sym) > 1 else sym[0], layer(*sym, **call_kwargs))
    expected = np.asarray(model(list(inputs) if len(inputs) > 1 else inputs[0]))
    np.testing.assert_allclose(expected, np.asarray(out), rtol=1e-5, atol=1e-6)
    if tmp_path is not None:
        path = os.path.join(str(tmp_path), f"{layer.name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        got = np.asarray(loaded(list(inputs) if len(inputs) > 1 else inputs[0]))
        np.testing.assert_array_equal(got, expected)
    return out
