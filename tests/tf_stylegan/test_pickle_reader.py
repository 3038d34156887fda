"""The restricted unpickler as a building block (tf_stylegan/legacy/pickle_reader.py).

Readers pass their own allowed globals and persistent-id loader; everything else is refused
before it runs. The attacks on NVIDIA's network pickles are in test_legacy_reader.py.
"""

import io
import os
import pickle
import sys
import types
import uuid

import numpy as np
import pytest

from tf_stylegan.errors import UserError
from tf_stylegan.legacy.pickle_reader import (
    NUMPY_GLOBALS,
    Inert,
    MalformedPickleError,
    RestrictedUnpickler,
    UnsafePickleError,
    check_readable_file,
    plain_data,
    restricted_load,
    translate_pickle_errors,
)


class _Thing(Inert):
    """A reader's own stand-in: built by REDUCE with one int."""

    __slots__ = ("n",)

    def __init__(self, n):
        if type(n) is not int:
            raise UnsafePickleError("a thing takes an int")
        self.n = n


class _Original:
    """What the writer pickles as `mylib.things.Thing(n)`."""

    __module__ = "mylib.things"
    __qualname__ = "Thing"

    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return _Original, (self.n,)


@pytest.fixture
def mylib(monkeypatch):
    module = types.ModuleType("mylib.things")
    module.Thing = _Original
    monkeypatch.setitem(sys.modules, "mylib", types.ModuleType("mylib"))
    monkeypatch.setitem(sys.modules, "mylib.things", module)


def _load(data, allowed, **kwargs):
    return restricted_load(io.BytesIO(data), allowed, **kwargs)


def test_a_reader_allows_its_own_stand_ins_and_nothing_else(mylib):
    data = pickle.dumps({"a": _Original(3), "w": np.arange(4, dtype=np.float32)}, protocol=4)
    allowed = {**NUMPY_GLOBALS, ("mylib.things", "Thing"): _Thing}
    out = _load(data, allowed)
    assert isinstance(out["a"], _Thing) and out["a"].n == 3
    np.testing.assert_array_equal(plain_data(out["w"], "w"), np.arange(4, dtype=np.float32))
    # Without the entry the same global is refused, with the reader's hint.
    with pytest.raises(UnsafePickleError, match="'mylib.things.Thing'.*only things"):
        _load(data, NUMPY_GLOBALS, allowed_hint="only things")
    # The allowed set is per reader: numpy is not implicitly allowed.
    with pytest.raises(UnsafePickleError, match="numpy"):
        _load(data, {("mylib.things", "Thing"): _Thing})
    # A stand-in's own validation runs before anything is built.
    bad = pickle.dumps(_Original("x"), protocol=2)
    with pytest.raises(UnsafePickleError, match="takes an int"):
        _load(bad, {("mylib.things", "Thing"): _Thing})


def test_live_payload_is_refused_whatever_the_reader_allows(tmp_path):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {target}",)

    data = pickle.dumps(Payload(), protocol=2)
    with pytest.raises(UnsafePickleError, match="system"):
        _load(data, {**NUMPY_GLOBALS, ("mylib.things", "Thing"): _Thing})
    assert not target.exists()
    pickle.loads(data)  # Control: the payload is live.
    assert target.exists()


class _Pid:
    def __init__(self, pid):
        self.pid = pid


class _PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Pid) else None


def test_persistent_ids_need_a_loader_which_gets_plain_data():
    buf = io.BytesIO()
    _PidPickler(buf, protocol=2).dump([_Pid(("blob", "k1", 3)), _Pid(("blob", "k1", 3))])
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        _load(buf.getvalue(), {})
    seen = []

    def loader(pid):
        seen.append(pid)
        return np.full(pid[2], 7.0)

    out = RestrictedUnpickler(io.BytesIO(buf.getvalue()), {}, persistent_load=loader).load()
    assert seen == [("blob", "k1", 3)] * 2
    np.testing.assert_array_equal(out[1], [7.0, 7.0, 7.0])


def test_plain_data_refuses_stand_ins_and_callables():
    assert plain_data({"a": [1, (2.5, None)], 3: b"x"}, "d") == {"a": [1, (2.5, None)], 3: b"x"}
    for obj in (_Thing(1), NUMPY_GLOBALS[("numpy", "dtype")], print, _Thing):
        with pytest.raises(UnsafePickleError, match="not plain data"):
            plain_data({"k": [obj]}, "state")


def test_error_translation_names_the_file(tmp_path):
    path = str(tmp_path / "f.pkl")
    with pytest.raises(UnsafePickleError, match="Refusing to load .*f.pkl.*Nothing"):
        with translate_pickle_errors(path, "thing file"):
            raise UnsafePickleError("bad global")
    with pytest.raises(UserError, match="f.pkl.*is not a valid thing file: wrong"):
        with translate_pickle_errors(path, "thing file"):
            raise MalformedPickleError("wrong")
    with pytest.raises(UserError, match="not a readable thing file.*truncated"):
        with translate_pickle_errors(path, "thing file"):
            _load(pickle.dumps([1, 2, 3])[:-3], {})
    with pytest.raises(ZeroDivisionError):  # Bugs keep their type and traceback.
        with translate_pickle_errors(path, "thing file"):
            1 / 0
    with pytest.raises(UserError, match="Thing file not found"):
        check_readable_file(path, "thing file")
    with pytest.raises(UserError, match="directory"):
        check_readable_file(tmp_path, "thing file")
