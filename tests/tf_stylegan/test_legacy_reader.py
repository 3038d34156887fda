"""Safe reading of NVIDIA's official StyleGAN pickles (tf_stylegan/legacy/pickle_reader.py).

The expected variable names and shapes are derived from first principles (the official
`training/networks_stylegan.py`: G_style, G_mapping, G_synthesis, D_basic), and the derivation
is itself checked against the official trainable parameter counts (as the official
`print_layers` totals them) before it is used on the fixtures.
"""

import collections
import os
import pickle
import struct
import subprocess
import sys
import types
import uuid

import numpy as np
import pytest

from tf_stylegan.errors import UserError
from tf_stylegan.legacy import OfficialNetwork, UnsafePickleError, read_official_pickle

FIXTURE_KWARGS = dict(fmap_base=256, fmap_max=64, latent_size=64, dlatent_size=64, mapping_fmaps=64)
FIXTURES = {  # file stem -> (resolution, label_size), from fixtures/official/README.md
    "official-r32": (32, 0),
    "official-r16-labels3": (16, 3),
}


# -------------------------------------------------------------------------------------------------
# The official variable layout, from first principles.


def official_layout(
    resolution,
    label_size=0,
    num_channels=3,
    fmap_base=8192,
    fmap_max=512,
    latent_size=512,
    dlatent_size=512,
    mapping_fmaps=512,
    mapping_layers=8,
):
    """{network name: {variable name: shape}} of G_style (own, G_mapping, G_synthesis), D_basic."""
    log2 = int(np.log2(resolution))
    num_layers = 2 * log2 - 2

    def nf(stage):
        return min(int(fmap_base / 2.0**stage), fmap_max)

    g = {"lod": (), "dlatent_avg": (dlatent_size,)}

    mapping = {}
    fan_in = latent_size
    if label_size:
        mapping["LabelConcat/weight"] = (label_size, latent_size)
        fan_in += latent_size
    for i in range(mapping_layers):
        fan_out = dlatent_size if i == mapping_layers - 1 else mapping_fmaps
        mapping[f"Dense{i}/weight"] = (fan_in, fan_out)
        mapping[f"Dense{i}/bias"] = (fan_out,)
        fan_in = fan_out

    synthesis = {"lod": ()}
    for i in range(num_layers):
        size = 2 ** (i // 2 + 2)
        synthesis[f"noise{i}"] = (1, 1, size, size)

    def epilogue(prefix, channels):
        synthesis[f"{prefix}/Noise/weight"] = (channels,)
        synthesis[f"{prefix}/bias"] = (channels,)
        synthesis[f"{prefix}/StyleMod/weight"] = (dlatent_size, 2 * channels)
        synthesis[f"{prefix}/StyleMod/bias"] = (2 * channels,)

    synthesis["4x4/Const/const"] = (1, nf(1), 4, 4)
    epilogue("4x4/Const", nf(1))
    synthesis["4x4/Conv/weight"] = (3, 3, nf(1), nf(1))
    epilogue("4x4/Conv", nf(1))
    for res in range(2, log2 + 1):
        r = 2**res
        if res > 2:
            synthesis[f"{r}x{r}/Conv0_up/weight"] = (3, 3, nf(res - 2), nf(res - 1))
            epilogue(f"{r}x{r}/Conv0_up", nf(res - 1))
            synthesis[f"{r}x{r}/Conv1/weight"] = (3, 3, nf(res - 1), nf(res - 1))
            epilogue(f"{r}x{r}/Conv1", nf(res - 1))
        synthesis[f"ToRGB_lod{log2 - res}/weight"] = (1, 1, nf(res - 1), num_channels)
        synthesis[f"ToRGB_lod{log2 - res}/bias"] = (num_channels,)

    d = {"lod": ()}
    for res in range(log2, 1, -1):
        r = 2**res
        d[f"FromRGB_lod{log2 - res}/weight"] = (1, 1, num_channels, nf(res - 1))
        d[f"FromRGB_lod{log2 - res}/bias"] = (nf(res - 1),)
        if res > 2:
            d[f"{r}x{r}/Conv0/weight"] = (3, 3, nf(res - 1), nf(res - 1))
            d[f"{r}x{r}/Conv0/bias"] = (nf(res - 1),)
            d[f"{r}x{r}/Conv1_down/weight"] = (3, 3, nf(res - 1), nf(res - 2))
            d[f"{r}x{r}/Conv1_down/bias"] = (nf(res - 2),)
    d["4x4/Conv/weight"] = (3, 3, nf(1) + 1, nf(1))  # + 1 minibatch-stddev feature.
    d["4x4/Conv/bias"] = (nf(1),)
    d["4x4/Dense0/weight"] = (nf(1) * 16, nf(0))
    d["4x4/Dense0/bias"] = (nf(0),)
    d["4x4/Dense1/weight"] = (nf(0), max(label_size, 1))
    d["4x4/Dense1/bias"] = (max(label_size, 1),)
    return {"G": g, "G_mapping": mapping, "G_synthesis": synthesis, "D": d}


def trainable_count(shapes):
    """Official trainable count: all but lod, dlatent_avg and the noise buffers noiseK."""
    skip = {"lod", "dlatent_avg"}
    return sum(
        int(np.prod(s))
        for n, s in shapes.items()
        if n not in skip and not (n.startswith("noise") and n[5:].isdigit())
    )


@pytest.mark.parametrize(
    "resolution, mapping, synthesis, d_total",
    [
        (1024, 2_101_248, 24_118_379, 23_087_249),
        (512, 2_101_248, 24_078_520, 23_080_225),
        (256, 2_101_248, 23_984_981, 23_052_353),
        (128, 2_101_248, 23_742_610, 22_941_313),
        (32, 2_101_248, 20_740_108, 20_726_785),
    ],
)
def test_layout_reproduces_official_parameter_counts(resolution, mapping, synthesis, d_total):
    # The official networks' trainable counts (print_layers totals; the 1024 G's 26,219,627 is
    # the Total of the official README): validates official_layout.
    layout = official_layout(resolution)
    assert trainable_count(layout["G_mapping"]) == mapping
    assert trainable_count(layout["G_synthesis"]) == synthesis
    assert trainable_count(layout["G"]) == 0
    assert trainable_count(layout["D"]) == d_total


# -------------------------------------------------------------------------------------------------
# The fixtures made by the official code.


def _fixture(fixtures_dir, stem):
    return os.path.join(fixtures_dir, "official", f"{stem}.pkl")


def _shapes(net):
    return {name: tuple(v.shape) for name, v in net.variables.items()}


@pytest.mark.parametrize("stem", sorted(FIXTURES))
def test_fixture_structure(fixtures_dir, stem):
    resolution, label_size = FIXTURES[stem]
    nets = read_official_pickle(_fixture(fixtures_dir, stem))
    assert isinstance(nets, tuple) and len(nets) == 3
    G, D, Gs = nets
    assert [n.name for n in nets] == ["G", "D", "Gs"]
    assert [n.build_func_name for n in nets] == ["G_style", "D_basic", "G_style"]
    assert all(n.version == 3 for n in nets)
    layout = official_layout(resolution, label_size, **FIXTURE_KWARGS)
    num_layers = 2 * int(np.log2(resolution)) - 2

    common = dict(FIXTURE_KWARGS, num_channels=3, resolution=resolution, label_size=label_size)
    d_kwargs = dict(num_channels=3, resolution=resolution, label_size=label_size)
    d_kwargs.update(fmap_base=256, fmap_max=64)
    for g in (G, Gs):
        assert type(g.static_kwargs) is dict and g.static_kwargs == common
        assert set(g.components) == {"mapping", "synthesis"}
        mapping, synthesis = g.components["mapping"], g.components["synthesis"]
        assert (mapping.name, mapping.build_func_name) == ("G_mapping", "G_mapping")
        assert (synthesis.name, synthesis.build_func_name) == ("G_synthesis", "G_synthesis")
        assert mapping.static_kwargs == dict(common, dlatent_broadcast=num_layers)
        assert synthesis.static_kwargs == common
        assert mapping.components == {} and synthesis.components == {}
        assert _shapes(g) == layout["G"]
        assert _shapes(mapping) == layout["G_mapping"]
        assert _shapes(synthesis) == layout["G_synthesis"]
    assert D.static_kwargs == d_kwargs and D.components == {}
    assert _shapes(D) == layout["D"]

    for net in (G, D, Gs, *G.components.values(), *Gs.components.values()):
        assert isinstance(net.variables, collections.OrderedDict)
        for name, value in net.variables.items():
            assert type(value) is np.ndarray and value.dtype == np.float32, name
            assert value.flags.c_contiguous and value.flags.writeable, name
            assert np.all(np.isfinite(value)), name
    # Randomized by the fixture maker: G and Gs are distinct weights, noise buffers are not zero.
    assert not np.array_equal(G.get("G_mapping/Dense0/weight"), Gs.get("G_mapping/Dense0/weight"))
    assert np.std(Gs.get("G_synthesis/noise0")) > 0
    # Official `Network.vars` naming: own variables, then components under their scope names.
    assert Gs.get("dlatent_avg") is Gs.variables["dlatent_avg"]
    noise0 = Gs.components["synthesis"].variables["noise0"]
    assert Gs.get("G_synthesis/noise0") is noise0


@pytest.mark.parametrize("stem", sorted(FIXTURES))
def test_fixture_trainable_counts_match_first_principles(fixtures_dir, stem):
    resolution, label_size = FIXTURES[stem]
    G, D, Gs = read_official_pickle(_fixture(fixtures_dir, stem))
    layout = official_layout(resolution, label_size, **FIXTURE_KWARGS)
    mapping = trainable_count(layout["G_mapping"])
    synthesis = trainable_count(layout["G_synthesis"])
    expected = {
        "official-r32": (33_280, 193_180, 212_433),
        "official-r16-labels3": (37_568, 181_993, 205_539),
    }[stem]
    assert (mapping, synthesis, trainable_count(layout["D"])) == expected
    for g in (G, Gs):
        assert g.components["mapping"].num_trainable_params() == mapping
        assert g.components["synthesis"].num_trainable_params() == synthesis
        assert g.num_trainable_params() == mapping + synthesis
    assert D.num_trainable_params() == expected[2]


def test_list_variables_and_get(fixtures_dir, capsys):
    G, D, _ = read_official_pickle(_fixture(fixtures_dir, "official-r32"))
    rows = D.list_variables()
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["D", "Params", "Shape"]
    assert out[-1].split() == ["Total", str(D.num_trainable_params())]
    assert len(rows) == len(D.variables) and len(out) == len(rows) + 4
    assert ("lod", (), 1, False) in rows
    assert ("4x4/Dense0/weight", (1024, 64), 65536, True) in rows
    lod_line = next(line for line in out if line.startswith("lod "))
    assert lod_line.split()[1] == "-"

    rows = G.list_variables(print_fn=None)
    assert capsys.readouterr().out == ""
    names = [r[0] for r in rows]
    assert names[:3] == ["lod", "dlatent_avg", "G_synthesis/lod"]
    assert ("G_synthesis/4x4/Const/Noise/weight", (64,), 64, True) in rows
    assert ("G_synthesis/noise7", (1, 1, 32, 32), 1024, False) in rows
    assert sum(r[2] for r in rows if r[3]) == G.num_trainable_params()
    with pytest.raises(KeyError, match="G_mapping/Dense0/weight"):
        G.get("G_mapping/Dense0/weigth")
    assert "name='G'" in repr(G) and "G_style" in repr(G)


# -------------------------------------------------------------------------------------------------
# Pickles that try to run code.


class _Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(target):
    code = f"open({str(target)!r}, 'w').close()"
    return {
        "os.system": _Payload(os.system, (f"touch {target}",)),
        "builtins.exec": _Payload(exec, (code,)),
        "builtins.eval": _Payload(eval, (f"__import__('os').system('touch {target}')",)),
        "subprocess.call": _Payload(subprocess.call, (["touch", str(target)],)),
    }


def _write(tmp_path, data, name="net.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_payload_is_live_with_plain_pickle(tmp_path):
    # Control: the same payloads do run under pickle.loads, so the refusals below are real.
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    pickle.loads(pickle.dumps(_payloads(target)["builtins.exec"]))
    assert target.exists()


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "builtins.eval", "subprocess.call"])
def test_code_execution_is_refused(tmp_path, kind):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    path = _write(tmp_path, pickle.dumps(_payloads(target)[kind], protocol=3))
    with pytest.raises(UnsafePickleError, match="not allowed") as info:
        read_official_pickle(path)
    message = str(info.value)
    assert path in message
    module, name = kind.split(".")
    module = {"os": os.system.__module__}.get(module, module)  # os.system pickles as posix.system
    assert f"'{module}.{name}'" in message
    assert isinstance(info.value, pickle.UnpicklingError)
    assert not target.exists()


# Stand-ins for NVIDIA's classes, so that pickles are written exactly as the official code does.
class _FakeNetwork:
    __module__ = "dnnlib.tflib.network"
    __qualname__ = "Network"

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


class _FakeEasyDict(dict):
    __module__ = "dnnlib.util"
    __qualname__ = "EasyDict"


@pytest.fixture
def fake_dnnlib(monkeypatch):
    """Registers the stand-ins as dnnlib.tflib.network.Network and dnnlib.util.EasyDict."""
    network_mod = types.ModuleType("dnnlib.tflib.network")
    network_mod.Network = _FakeNetwork
    util_mod = types.ModuleType("dnnlib.util")
    util_mod.EasyDict = _FakeEasyDict
    monkeypatch.setitem(sys.modules, "dnnlib", types.ModuleType("dnnlib"))
    monkeypatch.setitem(sys.modules, "dnnlib.tflib", types.ModuleType("dnnlib.tflib"))
    monkeypatch.setitem(sys.modules, "dnnlib.tflib.network", network_mod)
    monkeypatch.setitem(sys.modules, "dnnlib.util", util_mod)
    return _FakeNetwork


def _state(name, variables=(), components=None, static_kwargs=None, version=3):
    state = dict(
        version=version,
        name=name,
        static_kwargs=dict(resolution=8) if static_kwargs is None else static_kwargs,
        components={} if components is None else components,
        build_module_src="raise SystemExit('never executed')",
        build_func_name="G_style",
        variables=list(variables),
    )
    if components is None and version == 2:
        del state["components"]
    return state


def _triple(net_cls, **overrides):
    mapping = net_cls(_state("G_mapping", [("Dense0/weight", np.ones((2, 3), np.float32))]))
    g = net_cls(_state("G", [("lod", np.float32(0))], components=dict(mapping=mapping)))
    d = net_cls(_state("D", [("lod", np.float32(0))]))
    gs = net_cls(_state("Gs", **overrides))
    return g, d, gs


def test_payload_inside_network_state_is_refused(tmp_path, fake_dnnlib):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    payload = _payloads(target)["os.system"]
    nets = _triple(fake_dnnlib, static_kwargs=dict(resolution=8, nonlinearity=payload))
    path = _write(tmp_path, pickle.dumps(nets, protocol=3))
    with pytest.raises(UnsafePickleError, match="system"):
        read_official_pickle(path)
    assert not target.exists()


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(static_kwargs=dict(func=np.dtype)), "not plain data"),
        (dict(static_kwargs=dict(nested=[1, {"f": np.ndarray}])), "not plain data"),
        (dict(variables=[("w", np.ndarray)]), "numpy array"),
        (dict(variables=[("w", np.dtype)]), "numpy array"),
        (dict(components=dict(mapping=_FakeNetwork)), "Network"),
    ],
)
def test_callables_smuggled_through_allowed_globals_are_refused(
    tmp_path, fake_dnnlib, overrides, match
):
    path = _write(tmp_path, pickle.dumps(_triple(fake_dnnlib, **overrides), protocol=3))
    with pytest.raises(UnsafePickleError, match=match) as info:
        read_official_pickle(path)
    assert path in str(info.value)


@pytest.mark.parametrize(
    "array",
    [
        np.array([1, "a"], dtype=object),
        np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]),
        np.array(["ab"]),
        np.ma.masked_array([1.0, 2.0]),
    ],
    ids=["object", "structured", "unicode", "ndarray-subclass"],
)
def test_non_numeric_arrays_are_refused(tmp_path, fake_dnnlib, array):
    nets = _triple(fake_dnnlib, variables=[("w", array)])
    path = _write(tmp_path, pickle.dumps(nets, protocol=3))
    with pytest.raises(UnsafePickleError):
        read_official_pickle(path)


# A tiny pickle assembler for the attacks that pickle.dumps cannot produce.
def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _str(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(n):
    return b"J" + struct.pack("<i", n)


def _bytes(b):
    return b"C" + bytes([len(b)]) + b


_PROTO, _MARK, _TUPLE, _TUPLE1, _TUPLE3 = b"\x80\x03", b"(", b"t", b"\x85", b"\x87"
_REDUCE, _BUILD, _NONE, _FALSE, _TRUE, _STOP = b"R", b"b", b"N", b"\x89", b"\x88", b"."
_DTYPE_STATE = _MARK + _int(3) + _str("<") + _NONE * 3 + _int(-1) + _int(-1) + _int(0) + _TUPLE
_DTYPE_F8 = _global("numpy", "dtype") + _str("f8") + _FALSE + _TRUE + _TUPLE3 + _REDUCE


def _array_f8(subtype=_global("numpy", "ndarray")):
    return (
        _global("numpy.core.multiarray", "_reconstruct")
        + subtype
        + _int(0)
        + _TUPLE1
        + _bytes(b"b")
        + _TUPLE3
        + _REDUCE
        + _MARK
        + _int(1)
        + _int(2)
        + _TUPLE1
        + b"h\x00"  # The dtype, memoized as 0.
        + _FALSE
        + _bytes(b"\x01" * 16)
        + _TUPLE
        + _BUILD
    )


@pytest.mark.parametrize(
    "body, match",
    [
        # Rebuilding a dtype after an array uses it (with real numpy this can turn the array's
        # bytes into object pointers).
        (
            _DTYPE_F8 + b"q\x00" + _DTYPE_STATE + _BUILD + _array_f8() + b"h\x00" + _DTYPE_STATE,
            "rebuild a numpy dtype",
        ),
        (
            _DTYPE_F8
            + b"q\x00"
            + _DTYPE_STATE
            + _BUILD
            + _array_f8(_global("dnnlib.tflib.network", "Network")),
            "only build numpy.ndarray",
        ),
        (_global("numpy", "ndarray") + _int(4) + _TUPLE1 + _TUPLE1 + _REDUCE, "numpy.ndarray"),
        (_global("numpy", "dtype") + _DTYPE_STATE, "set the state"),
        (_global("numpy", "dtype") + _str("O") + _FALSE + _TRUE + _TUPLE3 + _REDUCE, "numeric"),
        (_str("x") + b"Q", "persistent"),
    ],
    ids=[
        "dtype-rebuild",
        "reconstruct-subtype",
        "call-ndarray",
        "build-factory",
        "object-dtype",
        "persistent-id",
    ],
)
def test_handcrafted_attacks_are_refused(tmp_path, body, match):
    path = _write(tmp_path, _PROTO + body + _BUILD + _STOP)
    with pytest.raises(UnsafePickleError, match=match):
        read_official_pickle(path)


def test_building_the_network_class_itself_changes_nothing(tmp_path):
    # BUILD on the class object must not set class attributes (it would affect later loads).
    evil_state = _MARK + _NONE + b"}" + _str("name") + _str("evil") + b"s" + _TUPLE
    data = _PROTO + _global("dnnlib.tflib.network", "Network") + evil_state + _BUILD + _STOP
    with pytest.raises(ValueError):
        read_official_pickle(_write(tmp_path, data))
    assert not hasattr(OfficialNetwork, "name")


# -------------------------------------------------------------------------------------------------
# Pickles written with numpy 2, dict subclasses, versions, and malformed files.


def test_numpy2_pickle_with_easydict_ordereddict_and_byte_orders(tmp_path, fake_dnnlib):
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    big_endian = np.arange(4, dtype=">f4")
    static_kwargs = _FakeEasyDict(
        resolution=8, blur_filter=[1, 2, 1], nested=collections.OrderedDict(a=np.float32(1.5))
    )
    nets = _triple(
        fake_dnnlib,
        static_kwargs=static_kwargs,
        variables=[("lod", np.float32(2.0)), ("f", fortran), ("be", big_endian)],
    )
    data = pickle.dumps(nets, protocol=4)
    assert b"numpy._core.multiarray" in data and b"dnnlib.util" in data  # numpy 2 spelling.
    G, D, Gs = read_official_pickle(_write(tmp_path, data))
    assert type(Gs.static_kwargs) is dict and type(Gs.static_kwargs["nested"]) is dict
    assert Gs.static_kwargs == dict(resolution=8, blur_filter=[1, 2, 1], nested=dict(a=1.5))
    lod = Gs.variables["lod"]
    assert lod.shape == () and lod.dtype == np.float32 and lod == 2.0
    np.testing.assert_array_equal(Gs.variables["f"], fortran)
    np.testing.assert_array_equal(Gs.variables["be"], big_endian)
    assert Gs.variables["be"].dtype == np.float32  # Native byte order, same values.
    assert G.components["mapping"].get("Dense0/weight").shape == (2, 3)
    assert G.get("G_mapping/Dense0/weight").sum() == 6


def test_version_2_without_components_is_read(tmp_path, fake_dnnlib):
    nets = tuple(fake_dnnlib(_state(n, [("w", np.ones(2, np.float32))], version=2)) for n in "GDS")
    G, _, _ = read_official_pickle(_write(tmp_path, pickle.dumps(nets, protocol=3)))
    assert G.version == 2 and G.components == {} and G.num_trainable_params() == 2


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(version=5), "version 5"),
        (dict(variables=[("w", [1.0, 2.0])]), "must be a numpy array"),
        (dict(variables=[("w", np.ones(1, np.float32)), ("w", np.ones(1, np.float32))]), "twice"),
        (dict(name=None), "name must be a str"),
    ],
)
def test_malformed_network_state(tmp_path, fake_dnnlib, overrides, match):
    version = overrides.pop("version", 3)
    state = _state("Gs", version=version)
    state.update(overrides)
    g, d, _ = _triple(fake_dnnlib)
    path = _write(tmp_path, pickle.dumps((g, d, fake_dnnlib(state)), protocol=3))
    with pytest.raises(ValueError, match=match) as info:
        read_official_pickle(path)
    assert path in str(info.value)


def test_missing_state_key(tmp_path, fake_dnnlib):
    state = _state("Gs")
    del state["variables"]
    g, d, _ = _triple(fake_dnnlib)
    path = _write(tmp_path, pickle.dumps((g, d, fake_dnnlib(state)), protocol=3))
    with pytest.raises(ValueError, match="lacks.*variables"):
        read_official_pickle(path)


def test_missing_file_and_directory(tmp_path):
    missing = str(tmp_path / "nope.pkl")
    with pytest.raises(UserError, match="nope.pkl"):
        read_official_pickle(missing)
    with pytest.raises(ValueError, match="directory"):
        read_official_pickle(tmp_path)


def test_truncated_and_non_pickle_files(tmp_path, fixtures_dir):
    data = open(_fixture(fixtures_dir, "official-r32"), "rb").read()
    for cut in (len(data) // 2, len(data) - 1, 100):
        path = _write(tmp_path, data[:cut], f"cut{cut}.pkl")
        with pytest.raises(ValueError, match="truncated or corrupt") as info:
            read_official_pickle(path)
        assert path in str(info.value)
    path = _write(tmp_path, b"not a pickle at all\n", "text.pkl")
    with pytest.raises(ValueError, match="text.pkl"):
        read_official_pickle(path)
    path = _write(tmp_path, b"", "empty.pkl")
    with pytest.raises(ValueError, match="empty.pkl"):
        read_official_pickle(path)


def test_wrong_top_level_structure(tmp_path, fake_dnnlib):
    g, d, gs = _triple(fake_dnnlib)
    for name, obj in (("two", (g, d)), ("dict", {"G": g}), ("four", (g, d, gs, gs))):
        path = _write(tmp_path, pickle.dumps(obj, protocol=3), f"{name}.pkl")
        with pytest.raises(ValueError, match=r"tuple \(G, D, Gs\)") as info:
            read_official_pickle(path)
        assert path in str(info.value)
    # A Network object created without its state (NEWOBJ and no BUILD).
    data = _PROTO + _MARK + (_global("dnnlib.tflib.network", "Network") + b")\x81") * 3 + _TUPLE
    path = _write(tmp_path, data + _STOP, "stateless.pkl")
    with pytest.raises(ValueError, match="tuple"):
        read_official_pickle(path)


def test_from_state():
    net = OfficialNetwork.from_state(_state("G", [("w", np.ones((2, 2), np.float32))]))
    assert net.get("w").shape == (2, 2) and net.num_trainable_params() == 4
    with pytest.raises(UnsafePickleError, match="not plain data"):
        OfficialNetwork.from_state(_state("G", static_kwargs=dict(f=print)))
    with pytest.raises(ValueError, match="version"):
        OfficialNetwork.from_state(_state("G", version=7))
