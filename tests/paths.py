"""Paths shared by the tests (no side effects on import)."""

import os

from metrics.package_weights import CACHE_ENV, cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Ground truth made by running NVIDIA's own code (network pickles with their outputs, dataset
# pyramids the official tool wrote, the official schedule), copied into the repository so that a
# clone anywhere runs the suite. Each folder's README.md says how its files were made.
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

# The cache of the real metric networks (`run_metrics.py --fetch-networks`) as the environment
# gives it when the tests start: every test sees an empty cache (tests/conftest.py) except
# those that ask for the real networks (tests/metrics/real_networks.py).
NETWORK_CACHE_ENV = CACHE_ENV
NETWORK_CACHE = cache_dir()
