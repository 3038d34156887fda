"""Crash-safe file writes: one helper for "write to a temporary name, then rename".

A crash or a kill while writing never leaves a half-written file under the final name: the data
goes to a temporary name in the same directory (so the rename is atomic on POSIX) and is renamed
only once complete. Append-only JSON-lines logs are flushed line by line, so a kill loses at most
the line being written, and a torn last line is ignored when read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

__all__ = ["append_jsonl", "atomic_path", "atomic_write", "read_jsonl"]


@contextlib.contextmanager
def atomic_path(path, *, directory=False):
    """Yields a temporary path beside `path`; renames it to `path` when the block succeeds.

    The temporary name keeps `path`'s extension (so tools that infer a format from it, such as
    PIL or `np.savez`, behave the same) and starts with a dot. With `directory=True` the
    temporary path is an empty directory that the block fills. On an exception the temporary
    file or directory is removed and `path` is left as it was. An existing file at `path` is
    replaced; an existing directory must be moved away by the caller first. The result has
    the permissions `open()` or `os.mkdir()` would give it.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    prefix = f".{base}.tmp-"
    if directory:
        tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    else:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=os.path.splitext(base)[1], dir=parent)
        os.close(fd)
    # mkstemp/mkdtemp create private (0600/0700) entries; give the result the permissions a
    # plain open()/mkdir() would (less the umask), so that e.g. a web server can read it.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kwargs):
    """`open()` for writing, atomically: yields a file object; `path` appears when it is closed.

    The data is flushed and fsynced before the rename, so the final name never names a file
    whose contents are still in flight.
    """
    if "r" in mode or "a" in mode or "+" in mode:
        raise ValueError(f"atomic_write writes a new file; mode {mode!r} is not a write mode")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def append_jsonl(path, record: dict) -> None:
    """Appends one JSON line and flushes it to disk (a kill loses at most the current line)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path) -> list[dict]:
    """The records of a JSON-lines file ([] when it does not exist); a torn line is skipped."""
    out = []
    if not os.path.isfile(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
