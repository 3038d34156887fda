"""The library never imports the applications: every import in tf_stylegan/, including
lazy imports inside functions, is from the standard library, TensorFlow, Keras, NumPy, ml_dtypes
or tf_stylegan itself. So no training/, metrics/, data/, apps/, nor click, PIL, yaml, matplotlib,
scipy: the installed package needs nothing but its declared dependencies."""

import ast
import os
import sys

import pytest

from tests.paths import ROOT

LIBRARY = os.path.join(ROOT, "tf_stylegan")
ALLOWED = frozenset({"tensorflow", "keras", "numpy", "ml_dtypes", "tf_stylegan"})


def imported_modules(source, filename="<source>"):
    """(line, module) of every import in `source`, at any depth; relative imports count as
    tf_stylegan (they stay inside the package). `importlib.import_module("x")` and
    `__import__("x")` count too; with a non-literal name the module is reported as '<dynamic>'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "tf_stylegan" if node.level else node.module))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__"):
                arg = node.args[0] if node.args else None
                literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                found.append((node.lineno, arg.value if literal else "<dynamic>"))
    return found


def is_allowed(module):
    top = module.split(".")[0]
    return top in ALLOWED or top in sys.stdlib_module_names


def library_files():
    paths = []
    for directory, _, names in os.walk(LIBRARY):
        paths += [os.path.join(directory, n) for n in sorted(names) if n.endswith(".py")]
    return sorted(paths)


def test_the_checker_sees_every_kind_of_import():
    source = (
        "import os, numpy as np\n"
        "from . import layers\n"
        "from tf_stylegan.config import NetworkConfig\n"
        "def f():\n"
        "    import click\n"
        "    from training.loop import run\n"
        "    class C:\n"
        "        def g(self):\n"
        "            import PIL.Image\n"
        "    return importlib.import_module('metrics.fid'), __import__(name)\n"
    )
    modules = sorted(m for _, m in imported_modules(source))
    assert modules == sorted(["os", "numpy", "tf_stylegan", "tf_stylegan.config", "click",
                              "training.loop", "PIL.Image", "metrics.fid", "<dynamic>"])
    assert sorted(m for m in modules if not is_allowed(m)) == sorted(
        ["click", "training.loop", "PIL.Image", "metrics.fid", "<dynamic>"])
    for app in ("data", "apps", "yaml", "matplotlib", "scipy", "tqdm"):
        assert not is_allowed(app)


def test_library_has_modules_to_check():
    names = {os.path.relpath(p, LIBRARY) for p in library_files()}
    assert {"__init__.py", "snapshot.py", "legacy/__init__.py", "legacy/pickle_reader.py",
            "networks/synthesis.py", "layers/equalized.py"} <= names


@pytest.mark.parametrize("path", library_files(), ids=lambda p: os.path.relpath(p, LIBRARY))
def test_library_imports_only_its_dependencies(path):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    bad = [f"line {line}: {module}" for line, module in imported_modules(source, path)
           if not is_allowed(module)]
    assert not bad, f"{os.path.relpath(path, ROOT)} imports outside the library: {bad}"
