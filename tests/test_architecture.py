"""Data flows one way (docs/architecture.md): each part imports only the parts upstream of it.

    tf_stylegan (library) <- data <- metrics <- training <- apps, the CLI scripts, bench

tests/tf_stylegan/test_library_imports.py checks the library itself; this checks the others."""

import os

import pytest

from tests.paths import ROOT
from tests.tf_stylegan.test_library_imports import imported_modules

# Part -> the application parts it must never import (the library is upstream of all).
FORBIDDEN = {
    "data": {"training", "metrics", "apps", "bench"},
    "metrics": {"training", "apps", "bench"},
    "training": {"apps", "bench"},
}


def part_files(part):
    out = []
    for directory, _, names in os.walk(os.path.join(ROOT, part)):
        out += [os.path.join(directory, n) for n in sorted(names) if n.endswith(".py")]
    return sorted(out)


def test_every_part_has_files():
    for part in FORBIDDEN:
        assert len(part_files(part)) >= 3, part


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_import_points_back_up_the_chain(part):
    bad = []
    for path in part_files(part):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        for line, module in imported_modules(source, path):
            if module.split(".")[0] in FORBIDDEN[part]:
                bad.append(f"{os.path.relpath(path, ROOT)}:{line} imports {module}")
    assert not bad, bad


def test_the_check_would_see_a_violation():
    source = "def f():\n    from training.loop import Trainer\n"
    assert [m for _, m in imported_modules(source)] == ["training.loop"]
    assert "training" in FORBIDDEN["metrics"] and "training" in FORBIDDEN["data"]
