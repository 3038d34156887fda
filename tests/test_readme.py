"""The README's Python API example runs as written."""

import os
import re

from tests.paths import ROOT


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the example writes G.keras
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["images"].shape == (4, 64, 64, 3)
    assert namespace["scores"].shape == (4, 1)
    assert os.path.exists(tmp_path / "G.keras")


def test_readme_starts_with_the_two_commands():
    with open(os.path.join(ROOT, "README.md")) as f:
        head = f.read(400)
    assert "make demo" in head and "make test" in head
