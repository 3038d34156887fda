"""Paths shared by the tests (no side effects on import)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Ground truth made by running NVIDIA's own code (network pickles with their outputs, dataset
# pyramids the official tool wrote, the official schedule), copied into the repository so that a
# clone anywhere runs the suite. Each folder's README.md says how its files were made.
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
