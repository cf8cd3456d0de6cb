"""Property-based fuzzing (hypothesis) of the reference loaders (JSON and
parquet), the chunk-key parser and the selection parser: valid inputs give the
right answer, everything else a one-line VZError, never another exception."""
from __future__ import annotations

import base64
import json
import string
import zlib

import numpy as np
import pytest
from _hostile_refs import base_refs
from hypothesis import HealthCheck, given, settings, strategies as st

from vz_jupyter.core.errors import ScanError, SelectionError, VZError
from vz_jupyter.core.execute import oindex
from vz_jupyter.core.plan import plan
from vz_jupyter.core.scan.refs import chunk_numbers, scan_refs
from vz_jupyter.core.selection import normalize_selection, parse_selection

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line(e: BaseException):
    assert "\n" not in str(e) and str(e).strip() and len(str(e)) < 600, repr(str(e))


# -- chunk keys ------------------------------------------------------------------
grids = st.lists(st.integers(1, 12), min_size=0, max_size=4).map(tuple)
key_chars = st.sampled_from(list("0123456789./ +-_\n\t") + ["\u0660", "\uff10", "\u00b9", "e", "x"])


@SETTINGS
@given(grid=grids, sep=st.sampled_from([".", "/"]), data=st.data())
def test_chunk_key_parser_accepts_exactly_the_canonical_keys(grid, sep, data):
    ndim = len(grid)
    canonical = st.tuples(*[st.integers(0, g + 2) for g in grid]).map(lambda t: sep.join(map(str, t)) if t else "0")
    junk = st.text(key_chars, min_size=0, max_size=12)
    leaves = data.draw(st.lists(st.one_of(canonical, junk), min_size=1, max_size=6, unique=True))
    try:
        flat = chunk_numbers(leaves, grid, sep, "refs.json", "v")
    except ScanError as e:
        _one_line(e)
        assert "refs.json" in str(e) and "v/" in str(e)
        ok = True
        for leaf in leaves:
            parts = leaf.split(sep) if ndim else [leaf]
            if ndim == 0:
                good = leaf == "0"
            else:
                good = (len(parts) == ndim and all(p.isascii() and p.isdigit() and str(int(p)) == p for p in parts)
                        and all(int(p) < g for p, g in zip(parts, grid)))
            ok = ok and good
        assert not ok or (ndim == 0 and len(leaves) > 1), leaves  # a refused set holds a bad key
        return
    # accepted: every key is canonical, inside the grid, and numbered in C order
    for leaf, n in zip(leaves, flat.tolist()):
        if ndim == 0:
            assert leaf == "0" and n == 0
            continue
        idx = tuple(int(p) for p in leaf.split(sep))
        assert sep.join(map(str, idx)) == leaf and all(i < g for i, g in zip(idx, grid))
        assert n == np.ravel_multi_index(idx, grid)


# -- selections --------------------------------------------------------------------
@st.composite
def selections(draw):
    shape = tuple(draw(st.lists(st.integers(0, 7), min_size=1, max_size=3)))
    texts, keys = [], []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "list", "bool", "full"] if n else ["slice", "full", "list0"]))
        if kind == "int":
            i = draw(st.integers(-n, n - 1))
            texts.append(str(i)), keys.append(i)
        elif kind == "slice":
            a, b = draw(st.one_of(st.none(), st.integers(-10, 10))), draw(st.one_of(st.none(), st.integers(-10, 10)))
            c = draw(st.one_of(st.none(), st.integers(-4, 4).filter(bool)))
            texts.append(f"{'' if a is None else a}:{'' if b is None else b}" + ("" if c is None else f":{c}"))
            keys.append(slice(a, b, c))
        elif kind == "list":
            idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
            texts.append(str(idx)), keys.append(np.array(idx))
        elif kind == "list0":
            texts.append("[]"), keys.append(np.array([], dtype=np.int64))
        elif kind == "bool":
            m = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            texts.append(str(m)), keys.append(np.array(m, dtype=bool))
        else:
            texts.append(":"), keys.append(slice(None))
    return shape, texts, keys


def _numpy_orthogonal(a: np.ndarray, keys) -> np.ndarray:
    """numpy's own answer for an orthogonal index: one axis at a time."""
    out = a
    axis = 0
    for k in keys:
        if isinstance(k, (int, np.integer)):
            out = np.take(out, k, axis=axis)
            continue
        if isinstance(k, np.ndarray) and k.dtype == bool:
            k = np.flatnonzero(k)
        idx = [slice(None)] * out.ndim
        idx[axis] = k
        out = out[tuple(idx)]
        axis += 1
    return out


@SETTINGS
@given(sel=selections())
def test_selection_parser_agrees_with_numpy(sel):
    shape, texts, keys = sel
    a = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    name, key = parse_selection(f"v[{', '.join(texts)}]")
    assert name == "v"
    norm = normalize_selection(key, shape)
    got = oindex(a, [d.to_key() for d in norm])
    want = _numpy_orthogonal(a, keys)
    assert got.shape == want.shape and np.array_equal(got, want), (texts, got, want)


@SETTINGS
@given(text=st.text(st.sampled_from(list(string.printable) + ["\u0660", "\uff10", "…", "\x00"]), max_size=40))
def test_selection_parser_gives_one_line_or_a_valid_selection(text):
    try:
        name, key = parse_selection(text)
        normalize_selection(key, (4, 5, 6), ("x", "y", "z"))
    except SelectionError as e:
        _one_line(e)


@SETTINGS
@given(depth=st.integers(1, 3000), opener=st.sampled_from(["[", "(", "-", "+"]))
def test_selection_parser_survives_deep_nesting(depth, opener):
    closer = {"[": "]", "(": ")", "-": "", "+": ""}[opener]
    try:
        parse_selection("v[" + opener * depth + "1" + closer * depth + "]")
    except SelectionError as e:
        _one_line(e)


# -- JSON reference loader ----------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
              st.text(max_size=8), st.sampled_from(["base64:AAAA", "base64:!!", "<i4", "|O", "0", "zlib", "{{u}}"])),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12,
)


def _paths(obj, prefix=()):
    """Every (container path) in a JSON-like object, for targeted mutation."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _expand_docs(refs: dict) -> dict:
    """The base references with every JSON-document string parsed, so that
    mutations reach inside .zarray/.zattrs too."""
    out = json.loads(json.dumps(refs))
    for k, v in out["refs"].items():
        if k.rsplit("/", 1)[-1].startswith(".z"):
            out["refs"][k] = json.loads(v)
    return out


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    from _hostile_refs import write_data

    folder = tmp_path_factory.mktemp("props")
    return folder, write_data(folder)


def _read_everything(ds):
    for name in ds.variables:
        try:
            plan(ds, name).execute()
        except VZError as e:
            _one_line(e)


@SETTINGS
@given(data=st.data())
def test_json_loader_mutations_give_values_or_one_line(data_folder, data):
    folder, data_path = data_folder
    refs = _expand_docs(base_refs(data_path))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(refs))[1:]
        if not paths:
            break
        where = data.draw(st.sampled_from(paths))
        parent = refs
        for p in where[:-1]:
            parent = parent[p]
        action = data.draw(st.sampled_from(["replace", "delete", "rekey"]))
        if action == "replace":
            parent[where[-1]] = data.draw(json_values)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(st.sampled_from("az0./ \u0660"), max_size=6))] = parent.pop(where[-1])
    try:
        ds = scan_refs(refs)
    except VZError as e:
        _one_line(e)
        return
    _read_everything(ds)


@SETTINGS
@given(blob=st.binary(max_size=64), dtype=st.sampled_from(["<i4", "<f8", "|u1", "|O", ">i2"]),
       codec=st.sampled_from([None, "zlib", "gzip", "bz2", "lzma", "zstd", "blosc", "lz4", "vz.lzf", "vz.h5lz4",
                              "imagecodecs_lz4h5", "vlen-utf8", "vlen-bytes", "shuffle"]))
def test_any_inline_bytes_decode_or_give_one_line(blob, dtype, codec):
    cfg = None if codec is None else ({"id": codec, "elementsize": 4} if codec == "shuffle" else {"id": codec})
    za = {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": dtype, "compressor": cfg, "filters": None,
          "fill_value": None, "order": "C"}
    refs = {"version": 1, "refs": {".zgroup": '{"zarr_format": 2}', "v/.zarray": json.dumps(za),
                                   "v/0": "base64:" + base64.b64encode(blob).decode()}}
    try:
        _read_everything(scan_refs(refs))
    except VZError as e:
        _one_line(e)


@SETTINGS
@given(n=st.integers(0, 1 << 16), chunk=st.integers(1, 64))
def test_zlib_streams_decode_only_within_the_chunk_size(n, chunk):
    refs = {"version": 1, "refs": {
        ".zgroup": '{"zarr_format": 2}',
        "v/.zarray": json.dumps({"zarr_format": 2, "shape": [chunk], "chunks": [chunk], "dtype": "|u1",
                                 "compressor": {"id": "zlib"}, "filters": None, "fill_value": None, "order": "C"}),
        "v/0": "base64:" + base64.b64encode(zlib.compress(bytes(n))).decode()}}
    ds = scan_refs(refs)
    try:
        out = plan(ds, "v").execute()
        assert n == chunk and out.tolist() == [0] * chunk
    except VZError as e:
        _one_line(e)
        assert n != chunk


# -- parquet reference loader --------------------------------------------------------
parquet_columns = st.sampled_from(["path", "offset", "size", "raw"])
arrow_values = st.sampled_from(["int64", "float64", "string", "binary", "null", "uint64", "bool_"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parquet_loader_column_mutations_give_values_or_one_line(tmp_path_factory, data):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from _hostile_refs import _write_parquet, write_data

    folder = tmp_path_factory.mktemp("pq")
    root = _write_parquet(folder, base_refs(write_data(folder)))
    var = data.draw(st.sampled_from(["a", "z", "s"]))
    f = root / var / "refs.0.parq"
    t = pq.read_table(f)
    col = data.draw(parquet_columns)
    kind = data.draw(arrow_values)
    n = data.draw(st.sampled_from([t.num_rows, t.num_rows - 1, t.num_rows + 1, 0]))
    gen = {"int64": st.integers(-2 ** 63, 2 ** 63 - 1), "uint64": st.integers(0, 2 ** 64 - 1),
           "float64": st.floats(), "string": st.text(max_size=6), "binary": st.binary(max_size=8),
           "bool_": st.booleans(), "null": st.none()}[kind]
    values = data.draw(st.lists(st.one_of(st.none(), gen), min_size=n, max_size=n))
    cols = {c: t.column(c).to_pylist()[:n] + [None] * max(0, n - t.num_rows) for c in t.column_names}
    types = {c: t.schema.field(c).type for c in t.column_names}
    cols[col], types[col] = values, (pa.null() if kind == "null" else getattr(pa, kind)())
    pq.write_table(pa.table({c: pa.array(v, types[c]) for c, v in cols.items()}), f)
    try:
        ds = scan_refs(str(root))
    except VZError as e:
        _one_line(e)
        return
    _read_everything(ds)
