"""Fixtures of the training tests."""

import pytest

from tests.tiny_networks import make_tiny_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A data dir holding the tiny 8x8 labelled dataset `tiny` (read only by the tests)."""
    root = tmp_path_factory.mktemp("data")
    make_tiny_dataset(root / "tiny")
    return root
