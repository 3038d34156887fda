"""Test-session setup: quiet TensorFlow, two logical CPU devices (stand-ins for two GPUs)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Split the CPU into two logical devices before anything initialises the runtime, so that
# MirroredStrategy tests can run "two replicas" on this machine. Single-device code is unaffected.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # Runtime already initialised by an earlier import: keep what exists.
    pass

from tests.paths import FIXTURES, NETWORK_CACHE_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def _empty_network_cache(monkeypatch, tmp_path_factory):
    """No test finds the metric networks a user fetched (their presence must not change what a
    test sees); tests/metrics/real_networks.py fetches and uses them explicitly."""
    monkeypatch.setenv(NETWORK_CACHE_ENV, str(tmp_path_factory.getbasetemp() / "no-networks"))


@pytest.fixture
def fixtures_dir():
    """Path of tests/fixtures (ground truth made by NVIDIA's own code)."""
    if not os.path.isdir(FIXTURES):
        raise FileNotFoundError(f"test fixtures not found at {FIXTURES}")
    return FIXTURES
