"""Safe reading of stylegan2-ada-pytorch network pickles (tf_stylegan/legacy/pytorch_network.py).

The fixture pickles were written by NVIDIA's stylegan2-ada-pytorch itself
(tests/fixtures/official-ada-pytorch/README.md); the facts checked here (the globals, the
persistence records, the tensor counts) are that README's, found by running the official code.
Variants other writers produce are made from the fixture's own records by
tests/tf_stylegan/ada_pickles.py; attacks are built the same way and shown live first.
"""

import os
import pickle
import subprocess
import sys
import uuid

import numpy as np
import pytest

from tests.paths import FIXTURES, ROOT
from tests.tf_stylegan import ada_pickles as ap
from tests.tf_stylegan import torch_streams as ts
from tf_stylegan.errors import UserError
from tf_stylegan.legacy import UnsafePickleError
from tf_stylegan.legacy.pytorch_network import (
    ALLOWED_GLOBALS,
    PersistentModule,
    is_pytorch_snapshot,
    read_pytorch_pickle,
)

DIR = os.path.join(FIXTURES, "official-ada-pytorch")
R32, C10 = os.path.join(DIR, "sg2ada-r32.pkl"), os.path.join(DIR, "sg2ada-r32-c10.pkl")
PLACEHOLDER = "# source text omitted from this test fixture"
# README section 3.2: every global of both files.
README_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"),
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
    ("torch.storage", "_load_from_bytes"), ("collections", "OrderedDict"),
    ("dnnlib.util", "EasyDict"), ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
}
# ... and the variants it documents.
VARIANTS = {("builtins", "set"), ("numpy.core.multiarray", "scalar"),
            ("torch._utils", "_rebuild_parameter_with_state")}


@pytest.fixture(scope="module")
def snapshots():
    return {"r32": read_pytorch_pickle(R32), "c10": read_pytorch_pickle(C10)}


@pytest.fixture
def fake_ada(monkeypatch):
    ap.fake_ada_modules(monkeypatch)


def all_tensors(snapshot):
    out = {}
    for name in ("G", "D", "G_ema", "augment_pipe"):
        module = getattr(snapshot, name)
        if module is not None:
            out.update({f"{name}.{k}": v for k, v in module.named_tensors().items()})
    return out


# --- the fixtures ---------------------------------------------------------------------------------
def test_the_fixtures_use_exactly_the_documented_globals_and_the_reader_allows_no_more():
    for path in (R32, C10):
        with open(path, "rb") as f:
            assert ap.pickle_globals(f.read()) == README_GLOBALS
    assert set(ALLOWED_GLOBALS) == README_GLOBALS | VARIANTS


@pytest.mark.parametrize("name, count, floats", [("r32", 190, 823_264), ("c10", 209, 870_758)])
def test_every_tensor_is_read(snapshots, name, count, floats):
    tensors = all_tensors(snapshots[name])
    assert len(tensors) == count  # README 3.5: 190 / 209 tensors, 823,264 / 870,758 floats
    assert sum(v.size for v in tensors.values()) == floats
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in tensors.values())


def test_records_hold_the_documented_structure(snapshots):
    s = snapshots["r32"]
    assert (s.G.class_name, s.D.class_name, s.G_ema.class_name) == (
        "Generator", "Discriminator", "Generator")
    assert s.augment_pipe.class_name == "AugmentPipe"
    assert snapshots["c10"].augment_pipe is None
    assert s.training_set_kwargs == {
        "class_name": "training.dataset.ImageFolderDataset", "path": "/data/fixture-r32.zip",
        "use_labels": False, "max_size": 1000, "xflip": False, "resolution": 32}
    # The source text is kept as text (here the fixture's placeholder) and nothing else.
    assert s.G.module_src == s.augment_pipe.module_src == PLACEHOLDER
    assert s.G.version == 6
    layer = s.G.child("synthesis").child("b8").child("conv0")
    assert layer.class_name == "SynthesisLayer"
    assert (layer.attr("up"), layer.attr("resolution"), layer.attr("use_noise")) == (2, 8, True)
    assert layer.attr("act_gain") == np.sqrt(2) and isinstance(layer.attr("act_gain"), np.float64)
    assert layer.attr("_non_persistent_buffers_set") == frozenset()
    assert s.G.attr("_init_kwargs")["mapping_kwargs"] == {"num_layers": 2}
    assert layer.parameters["weight"].shape == (64, 64, 3, 3)  # PT layout [O, I, kh, kw]
    assert layer.buffers["noise_const"].shape == (8, 8)
    assert layer.parameters["noise_strength"].shape == ()
    # The D skip has no bias parameter; its `bias` is a plain None attribute.
    skip = s.D.child("b32").child("skip")
    assert set(skip.parameters) == {"weight"} and skip.attr("bias") is None
    # G and G_ema are distinct networks (README 1.2).
    g, g_ema = s.G.named_tensors(), s.G_ema.named_tensors()
    assert g.keys() == g_ema.keys()
    assert not np.array_equal(g["mapping.fc0.weight"], g_ema["mapping.fc0.weight"])


def test_named_tensors_are_torch_names(snapshots):
    names = snapshots["c10"].D.named_tensors()
    assert {"b32.fromrgb.weight", "b32.skip.weight", "mapping.embed.weight", "mapping.fc7.bias",
            "b4.out.weight", "b32.conv1.resample_filter"} <= set(names)
    assert names["b4.out.weight"].shape == (64, 64) and names["b4.fc.weight"].shape == (64, 1024)
    names = snapshots["c10"].G.named_tensors()
    assert names["mapping.fc0.weight"].shape == (64, 128)
    assert names["synthesis.b4.const"].shape == (64, 4, 4)


def test_tells_pytorch_snapshots_from_tf_pickles(tmp_path):
    assert is_pytorch_snapshot(R32) and is_pytorch_snapshot(C10)
    assert not is_pytorch_snapshot(os.path.join(FIXTURES, "official-stylegan2",
                                                "stylegan2-r32.pkl"))
    assert not is_pytorch_snapshot(os.path.join(FIXTURES, "official", "official-r32.pkl"))
    for protocol in (0, 2, 4):  # a dict is built first in every protocol, a tuple is not
        (tmp_path / "d.pkl").write_bytes(pickle.dumps({"G": 1}, protocol=protocol))
        (tmp_path / "t.pkl").write_bytes(pickle.dumps((1, {"G": 1}), protocol=protocol))
        assert is_pytorch_snapshot(tmp_path / "d.pkl")
        assert not is_pytorch_snapshot(tmp_path / "t.pkl")
    (tmp_path / "x.pkl").write_bytes(b"not a pickle")
    assert not is_pytorch_snapshot(tmp_path / "x.pkl")


def test_torch_and_nvidias_code_are_never_imported(tmp_path):
    # In a process where torch, torch_utils, dnnlib, legacy and training cannot be imported.
    code = (
        "import sys\n"
        "BLOCKED = ('torch', 'torch_utils', 'dnnlib', 'legacy', 'training')\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} may not be imported')\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "from tf_stylegan.legacy import read_pytorch_pickle\n"
        f"s = read_pytorch_pickle({R32!r})\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in BLOCKED]\n"
        "print(len(s.G_ema.named_tensors()), s.G_ema.module_src[:8])\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["75", "#", "source"]


# --- variants other writers produce ---------------------------------------------------------------
def _same_tensors(a, b):
    ta, tb = all_tensors(a), all_tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k].shape == tb[k].shape and ta[k].dtype == tb[k].dtype, k
        np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)


def test_the_writer_reproduces_the_fixture(fake_ada, snapshots, tmp_path):
    # The test writer makes the same globals and content as the official code: the variants
    # below then differ from an official pickle only where they say.
    path = ap.write_snapshot(tmp_path / "again.pkl", snapshots["r32"])
    assert ap.pickle_globals(path.read_bytes()) == README_GLOBALS
    again = read_pytorch_pickle(path)
    _same_tensors(again, snapshots["r32"])
    assert again.G.attr("_init_kwargs") == snapshots["r32"].G.attr("_init_kwargs")


def test_protocol_3_and_numpy_1_pickles(fake_ada, snapshots, tmp_path):
    # Python <= 3.7 pickles with protocol 3: GLOBAL opcodes and `builtins.set` for the empty
    # `_non_persistent_buffers_set`; numpy 1 names its scalar reconstructor numpy.core.
    path = ap.write_snapshot(tmp_path / "p3.pkl", snapshots["c10"], protocol=3,
                             replace=[(b"cnumpy._core.multiarray\nscalar\n",
                                       b"cnumpy.core.multiarray\nscalar\n")])
    found = ap.pickle_globals(path.read_bytes())
    assert ("builtins", "set") in found and ("numpy.core.multiarray", "scalar") in found
    assert ("numpy._core.multiarray", "scalar") not in found
    again = read_pytorch_pickle(path)
    _same_tensors(again, snapshots["c10"])
    layer = again.G.child("mapping").child("fc0")
    assert layer.attr("weight_gain") == snapshots["c10"].G.child("mapping").child(
        "fc0").attr("weight_gain")
    assert again.G.child("mapping").attr("_non_persistent_buffers_set") == frozenset()


def test_parameters_with_state_and_gpu_storages(fake_ada, snapshots, tmp_path):
    options = ap.Options(location="cuda:0", parameter_state={"tag": "frozen"})
    path = ap.write_snapshot(tmp_path / "gpu.pkl", snapshots["r32"], options=options)
    data = path.read_bytes()
    assert b"_rebuild_parameter_with_state" in data and b"cuda:0" in data
    _same_tensors(read_pytorch_pickle(path), snapshots["r32"])


# --- what is refused ---------------------------------------------------------------------------
class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _module(class_name="Generator", **state):
    return ap.Persistent(class_name, {"training": False, "_parameters": {}, "_buffers": {},
                                      "_modules": {}, **state})


def _snapshot(**networks):
    return {"training_set_kwargs": None, "G": _module(), "D": _module("Discriminator"),
            "G_ema": _module(), "augment_pipe": None, **networks}


def test_payload_in_a_module_state_is_live_with_plain_pickle_and_refused_here(fake_ada, tmp_path):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    data = pickle.dumps(_snapshot(G=_module(hook=_Reduce(os.system, (f"touch {target}",)))),
                        protocol=4)
    with pytest.raises(AssertionError, match="never called"):
        pickle.loads(data)  # the payload runs before the (stand-in) reconstruction is called
    assert target.exists()
    target.unlink()
    (tmp_path / "evil.pkl").write_bytes(data)
    with pytest.raises(UnsafePickleError, match="posix.system"):
        read_pytorch_pickle(tmp_path / "evil.pkl")
    assert not target.exists()


def test_module_source_is_never_executed(fake_ada, tmp_path):
    # NVIDIA's loader execs `module_src`; here it stays text.
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    source = f"open({str(target)!r}, 'w').close()\nclass Generator: pass\n"
    exec(compile(source, "<live>", "exec"), {})  # the source is live...
    assert target.exists()
    target.unlink()
    snapshot = _snapshot(G=ap.Persistent("Generator", {"_modules": {}}, module_src=source))
    (tmp_path / "src.pkl").write_bytes(pickle.dumps(snapshot, protocol=4))
    read = read_pytorch_pickle(tmp_path / "src.pkl")
    assert read.G.module_src == source
    assert not target.exists()  # ...and was not run


@pytest.mark.parametrize("make, match", [
    # Globals the format does not use, even harmless-looking ones.
    (lambda t: _snapshot(G=_module(x=_Reduce(eval, ("1",)))), "builtins.eval"),
    (lambda t: _snapshot(G=_module(x=np.zeros(2))), "_reconstruct"),
    (lambda t: _snapshot(G=_module(x=ts.StorageFromBytes(np.ones(2, np.float32)))),
     "not plain data"),
    # An allowed stand-in smuggled where data belongs (not called).
    (lambda t: _snapshot(G=_module(x=ap.RECONSTRUCT)), "not plain data"),
    (lambda t: _snapshot(G=_module(x=ap.EasyDict)), "not plain data"),
    # The reconstruction called with more than its meta, or with non-data meta.
    (lambda t: _snapshot(G=_Reduce(ap.RECONSTRUCT, ({}, 1))), "unexpected arguments"),
    (lambda t: _snapshot(G=_Reduce(ap.RECONSTRUCT, (ap.EasyDict,))), "meta"),
    # A set of something other than names, a set built from a string.
    (lambda t: _snapshot(G=_module(x=_Reduce(set, ("abc",)))), "set of names"),
    # State handed to a parameter that is not data.
    (lambda t: _snapshot(G=_module(_parameters={"w": ts.Parameter(
        ts.Tensor(ts.StorageFromBytes(np.ones(2, np.float32)), (2,), (1,)),
        state={"x": ap.EasyDict})})), "not plain data"),
], ids=["eval", "numpy-array", "storage-in-state", "reconstruct-as-data", "easydict-class",
        "extra-arguments", "meta-not-data", "set-of-chars", "parameter-state"])
def test_attacks_are_refused(fake_ada, tmp_path, make, match):
    path = tmp_path / "attack.pkl"
    path.write_bytes(pickle.dumps(make(tmp_path), protocol=4))
    with pytest.raises(UnsafePickleError, match=match):
        read_pytorch_pickle(path)


def test_a_record_cannot_be_given_state_and_persistent_ids_are_refused(fake_ada, tmp_path):
    class WithState:  # _reconstruct_persistent_obj(meta), then BUILD with a state
        def __reduce__(self):
            return ap.RECONSTRUCT, (ap.Persistent("Generator", {}).meta,), {"evil": 1}

    path = tmp_path / "build.pkl"
    path.write_bytes(pickle.dumps(_snapshot(G=WithState()), protocol=2))
    with pytest.raises(UnsafePickleError, match="set the state"):
        read_pytorch_pickle(path)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage" if obj == "pid" else None

    with open(tmp_path / "pid.pkl", "wb") as f:
        Pickler(f, protocol=2).dump(_snapshot(G=_module(x="pid")))
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        read_pytorch_pickle(tmp_path / "pid.pkl")


@pytest.mark.parametrize("make, match", [
    (lambda: [1, 2], "holds a list"),
    (lambda: {"G": _module(), "D": _module("Discriminator")}, "no network G_ema"),
    (lambda: {**_snapshot(), "augment_pipe": 3}, "augment_pipe"),
    (lambda: _snapshot(G=ap.Persistent("Generator", {}, version=5)), "format version 5"),
    (lambda: _snapshot(G=ap.Persistent("Generator", {}, meta_extra={"x": 1})), "keys"),
    (lambda: _snapshot(G=ap.Persistent("not a name!", {})), "class name"),
], ids=["not-a-dict", "missing-G_ema", "bad-augment-pipe", "version", "meta-keys",
        "class-name"])
def test_malformed_snapshots_are_user_errors(fake_ada, tmp_path, make, match):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(make(), protocol=4))
    with pytest.raises(UserError, match=match):
        read_pytorch_pickle(path)


def test_missing_truncated_and_non_pickle_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_pytorch_pickle(tmp_path / "missing.pkl")
    with open(R32, "rb") as f:
        (tmp_path / "cut.pkl").write_bytes(f.read()[:100_000])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_pytorch_pickle(tmp_path / "cut.pkl")
    (tmp_path / "text.pkl").write_text("hello")
    with pytest.raises(UserError, match="not a readable"):
        read_pytorch_pickle(tmp_path / "text.pkl")


def test_records_are_inert(snapshots):
    record = snapshots["r32"].G
    assert isinstance(record, PersistentModule)
    with pytest.raises(UnsafePickleError):
        record.__setstate__({"class_name": "x"})
    with pytest.raises(AttributeError):
        record.anything = 1
