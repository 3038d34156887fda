"""Data flows one way (docs/architecture.md): each part imports only the parts upstream of it.

    tf_stylegan (library) <- data <- metrics <- training <- apps, the CLI scripts, bench

tests/tf_stylegan/test_library_imports.py checks the library itself; this checks the others.
And the tests use the parts' public names only: a test that needs a private one asks for a
public seam instead."""

import ast
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


# --- Tests use public seams ------------------------------------------------------------------
# The parts and the top-level commands: their `_private` names are theirs to change.
PROJECT = {"tf_stylegan", "data", "training", "metrics", "apps", "bench", "generate",
           "run_training", "run_metrics", "dataset_tool"}
# `_names` that tests may use because they are not the project's, with the reason.
NOT_PROJECT = {
    # PyTorch's pickle globals, which tests/tf_stylegan/torch_streams.py defines on stand-in
    # `torch` modules to write files as torch.save does.
    "_rebuild_tensor_v2": "torch._utils", "_rebuild_parameter": "torch._utils",
    "_rebuild_parameter_with_state": "torch._utils", "_load_from_bytes": "torch.storage",
    # stylegan2-ada-pytorch's persistence global, which tests/tf_stylegan/ada_pickles.py defines
    # on a stand-in `torch_utils.persistence` module to write its network pickles.
    "_reconstruct_persistent_obj": "torch_utils.persistence",
}
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name):
    return name.startswith("_") and not name.startswith("__") and name not in NOT_PROJECT


def private_uses(source, filename="<source>"):
    """(line, text) of every use of a `_private` name that may be the project's in `source`:
    `x._name` (except on `self` / `cls`, the test's own classes, and on names imported from
    `tests`, the tests' own helpers), `from <part> import _name`, and `getattr(x, "_name")`,
    `monkeypatch.setattr(x, "_name", ...)` and the like."""
    tree = ast.parse(source, filename)
    own = {"self", "cls"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                full = alias.name if isinstance(node, ast.Import) else node.module or ""
                if full.split(".")[0] == "tests":
                    own.add(alias.asname or alias.name.split(".")[0])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in own):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            found += [(node.lineno, f"from {node.module} import {a.name}")
                      for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and _private(arg.value):
                    found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_no_test_reaches_into_private_code():
    bad = []
    for path in part_files("tests"):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        bad += [f"{os.path.relpath(path, ROOT)}:{line}: {text}"
                for line, text in private_uses(source, path)]
    assert not bad, bad


def test_the_private_check_would_see_a_reach():
    source = ("from training.loop import _helper\n"
              "from tests.training import helpers as h\n"
              "def test(t, monkeypatch):\n"
              "    t.step._update_Gs(1)\n"
              "    h._fine()\n"
              "    self._fine = 1\n"
              "    monkeypatch.setattr(registry, '_num', 3)\n"
              "    x = __name__.__class__\n")
    assert [line for line, _ in private_uses(source)] == [1, 4, 7]
