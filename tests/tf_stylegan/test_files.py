"""tf_stylegan.files: nothing appears under the final name until the write has succeeded."""

import os

import numpy as np
import pytest

from tf_stylegan.files import append_jsonl, atomic_path, atomic_write, read_jsonl


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # the temporary file is gone
    with atomic_write(path) as f:
        f.write("new")
        assert path.read_text() == "old"  # not visible before the block ends
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_refuses_append_modes(tmp_path):
    with pytest.raises(ValueError, match="not a write mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_atomic_path_keeps_extension_for_format_sniffing_tools(tmp_path):
    target = tmp_path / "arrays.npz"
    with atomic_path(target) as tmp:
        assert tmp.endswith(".npz") and os.path.dirname(tmp) == str(tmp_path)
        np.savez(tmp, a=np.arange(3))  # would write tmp + ".npz" if the suffix were missing
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == ["arrays.npz"]


def test_atomic_path_directory(tmp_path):
    target = tmp_path / "sub" / "model"
    with pytest.raises(KeyError):
        with atomic_path(target, directory=True) as tmp:
            open(os.path.join(tmp, "a"), "w").close()
            raise KeyError("boom")
    assert os.listdir(tmp_path / "sub") == []
    with atomic_path(target, directory=True) as tmp:
        open(os.path.join(tmp, "a"), "w").close()
    assert os.listdir(target) == ["a"]


def test_jsonl_round_trip_and_torn_line(tmp_path):
    path = tmp_path / "stats.jsonl"
    assert read_jsonl(path) == []
    append_jsonl(path, {"kimg": 1.0})
    append_jsonl(path, {"kimg": 2.0, "x": [1, 2]})
    with open(path, "a") as f:
        f.write('{"kimg": 3.')  # a writer killed mid-line
    assert read_jsonl(path) == [{"kimg": 1.0}, {"kimg": 2.0, "x": [1, 2]}]


def test_results_get_the_usual_permissions(tmp_path):
    # mkstemp/mkdtemp would leave 0600/0700: a web server running as another user could not read.
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt") as f:
            f.write("x")
        with atomic_path(tmp_path / "d", directory=True) as tmp:
            open(os.path.join(tmp, "a"), "w").close()
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "f.txt").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o755
