"""Read plans on synthetic virtual arrays: raw binary files written here with
numpy + numcodecs, described by hand-built manifests (no scanner involved).

The oracle is numpy: ``plan.execute()`` must equal orthogonal indexing of the
original array (np.ix_ over per-dim index arrays), for random shapes, chunkings,
dtypes (both byte orders), codecs, missing/inlined chunks and selections.
"""
from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vz_jupyter.core.errors import SelectionError, VZError
from vz_jupyter.core.model import INLINE, MISSING, Manifest, VArray, VDataset
from vz_jupyter.core.plan import chunk_spans, merge_ranges, plan

CODECS = {
    "none": (),
    "zlib": ({"id": "zlib", "level": 1},),
    "shuffle+zlib": ({"id": "shuffle", "elementsize": 0}, {"id": "zlib", "level": 1}),
    "blosc": ({"id": "blosc", "cname": "lz4", "clevel": 3, "shuffle": 1, "blocksize": 0},),
    "zstd": ({"id": "zstd", "level": 1},),
}
DTYPES = ["<f4", ">f4", "<f8", ">i2", "<i4", ">i8", "|u1", "<u2", ">u4"]


def build_var(path, data: np.ndarray, chunks, codecs=(), *, missing=(), inline=(), name="x", fill=0,
              attrs=None, header=b"HEAD1234", gap: int = 3) -> VArray:
    """Write ``data`` chunk by chunk (full-size edge chunks, C order, encoded with
    ``codecs`` in encode order) into ``path`` with a header and gaps between
    chunks; return a VArray referencing it. ``missing``/``inline``: flat chunk
    numbers left unwritten / put into the manifest's inline map."""
    data = np.asarray(data)
    codecs = tuple(dict(c, elementsize=data.dtype.itemsize) if c["id"] == "shuffle" else dict(c) for c in codecs)
    grid = tuple(-(-s // c) for s, c in zip(data.shape, chunks))
    pid = np.zeros(grid, np.uint32)
    off = np.zeros(grid, np.uint64)
    ln = np.zeros(grid, np.uint64)
    inl = {}
    with open(path, "wb") as f:
        f.write(header)
        pos = len(header)
        for flat, idx in enumerate(np.ndindex(*grid)):
            if flat in missing:
                pid[idx] = MISSING
                continue
            ch = np.full(chunks, fill, dtype=data.dtype)
            sl = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, data.shape))
            part = data[sl]
            ch[tuple(slice(0, n) for n in part.shape)] = part
            b = ch.tobytes()
            for cfg in codecs:
                b = bytes(numcodecs.get_codec(cfg).encode(b))
            if flat in inline:
                pid[idx] = INLINE
                ln[idx] = len(b)
                inl[flat] = b
                continue
            f.write(b"\xee" * gap)
            pos += gap
            f.write(b)
            off[idx] = pos
            ln[idx] = len(b)
            pos += len(b)
    m = Manifest((str(path),), pid, off, ln, inl)
    dims = tuple(f"d{i}" for i in range(data.ndim))
    return VArray(name, dims, data.shape, data.dtype, chunks, codecs, fill, attrs or {}, m)


def expected_with_missing(data, chunks, missing, fill):
    out = np.array(data, copy=True)
    grid = tuple(-(-s // c) for s, c in zip(data.shape, chunks))
    for flat, idx in enumerate(np.ndindex(*grid)):
        if flat in missing:
            out[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))] = fill
    return out


def np_orthogonal(data: np.ndarray, key: tuple) -> np.ndarray:
    """Oracle: orthogonal indexing via np.ix_ on per-dim index arrays."""
    idx, drop = [], []
    for d, (k, n) in enumerate(zip(key, data.shape)):
        a = np.arange(n)
        if isinstance(k, (int, np.integer)):
            idx.append(np.array([a[k]]))
            drop.append(d)
        elif isinstance(k, slice):
            idx.append(a[k])
        else:
            idx.append(a[np.asarray(k)])
    if not idx:
        return data[()]
    res = data[np.ix_(*idx)]
    return res.reshape(tuple(len(i) for d, i in enumerate(idx) if d not in drop))


# ---------------------------------------------------------------------------
# strategies


@st.composite
def dim_key(draw, n):
    kind = draw(st.sampled_from(["int", "slice", "slice", "array", "bool", "full"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "full":
        return slice(None)
    if kind == "slice":
        b = st.one_of(st.none(), st.integers(-n - 2, n + 2))
        step = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2, 5])))
        return slice(draw(b), draw(b), step)
    if kind == "array":
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=6)), dtype=np.int64)
    return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)


@st.composite
def case(draw):
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9 if ndim <= 2 else 5), min_size=ndim, max_size=ndim)))
    chunks = tuple(draw(st.integers(1, s + 1)) for s in shape)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    codec = draw(st.sampled_from(sorted(CODECS)))
    grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
    nchunks = int(np.prod(grid, dtype=np.int64))
    flags = draw(st.lists(st.sampled_from(["ref", "ref", "ref", "missing", "inline"]), min_size=nchunks,
                          max_size=nchunks))
    key = tuple(draw(dim_key(n)) for n in shape)
    full_key = key
    if draw(st.booleans()):
        # an Ellipsis standing for dims i..j-1 (taken whole)
        i = draw(st.integers(0, ndim))
        j = draw(st.integers(i, ndim))
        full_key = key[:i] + (slice(None),) * (j - i) + key[j:]
        key = key[:i] + (Ellipsis,) + key[j:]
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, chunks, dtype, codec, flags, key, full_key, seed


def _data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, endpoint=True).astype(dtype)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(case())
def test_execute_equals_numpy(tmp_path, c):
    shape, chunks, dtype, codec, flags, key, full_key, seed = c
    data = _data(shape, dtype, seed)
    missing = {i for i, f in enumerate(flags) if f == "missing"}
    inline = {i for i, f in enumerate(flags) if f == "inline"}
    fill = 7 if dtype.kind in "iu" else -9.5
    var = build_var(tmp_path / "data.bin", data, chunks, CODECS[codec], missing=missing, inline=inline, fill=fill)
    ds = VDataset({"x": var})
    p = plan(ds, key, variable="x")
    got = p.execute()
    exp = np_orthogonal(expected_with_missing(data, chunks, missing, fill), full_key)
    assert got.shape == exp.shape
    assert got.dtype == exp.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, exp)
    # accounting: needed bytes = unique selected elements; raw chunks read ≤ stored chunk bytes
    st_ = p.last_stats
    assert st_.bytes_read == p.bytes_to_read
    assert st_.n_requests == p.n_requests
    if codec == "none":
        # only spans are read; merged-in gaps stay within the 10% waste budget
        assert p.bytes_to_read <= 1.1 * p.bytes_needed + 1e-9
    else:
        # encoded chunks are fetched whole: the touched stored chunks (+ gaps within budget)
        assert p.chunk_bytes <= p.bytes_to_read <= 1.1 * p.chunk_bytes + 1e-9
    assert p.n_chunks == len({e.chunk_index for e in p.entries})


# ---------------------------------------------------------------------------
# examples


@pytest.fixture
def cube(tmp_path):
    data = np.arange(20 * 6 * 8, dtype=">f4").reshape(20, 6, 8)
    var = build_var(tmp_path / "cube.bin", data, (20, 6, 8), (), name="air")  # one big chunk, like NetCDF3
    return data, VDataset({"air": var})


def test_string_selection_and_spans(cube):
    data, ds = cube
    p = plan(ds, "air[0:10, 2:5, 3]")
    assert p.shape == (10, 3)
    assert p.dims == ("d0", "d1")
    assert p.n_chunks == 1
    e = p.entries[0]
    # last dim is a point: one run per (t, y), 4 bytes each
    assert e.n_spans == 30
    assert set(e.span_lengths.tolist()) == {4}
    assert e.spans[0] == ((0 * 48 + 2 * 8 + 3) * 4, 4)
    np.testing.assert_array_equal(p.execute(), data[0:10, 2:5, 3])
    assert p.bytes_needed == 10 * 3 * 4
    assert p.bytes_to_read <= 1.1 * p.bytes_needed


def test_trailing_full_dims_make_one_run(cube):
    data, ds = cube
    p = plan(ds, "air[3:7]")
    e = p.entries[0]
    assert e.spans == [(3 * 48 * 4, 4 * 48 * 4)]
    assert p.n_requests == 1 and p.bytes_to_read == p.bytes_needed == 4 * 48 * 4
    np.testing.assert_array_equal(p.execute(), data[3:7])


def test_time_series_reads_only_points(cube):
    data, ds = cube
    p = plan(ds, "air[:, 4, 5]")
    assert p.bytes_needed == 20 * 4
    assert p.bytes_to_read == 20 * 4  # 188-byte gaps exceed the 10% waste budget
    assert p.n_requests == 20
    wide = plan(ds, "air[:, 4, 5]", max_waste=None)
    assert wide.n_requests == 1  # every gap ≤ max_gap merged
    np.testing.assert_array_equal(wide.execute(), data[:, 4, 5])
    np.testing.assert_array_equal(p.execute(max_waste=None), data[:, 4, 5])
    assert p.last_stats.n_requests == 1


def test_named_and_variable_forms(cube):
    data, ds = cube
    a = plan(ds, "air[d0=2, d2=1:3]").execute()
    np.testing.assert_array_equal(a, data[2, :, 1:3])
    b = plan(ds, (slice(None, None, -3), Ellipsis, [7, 0, 7]), variable="air").execute()
    np.testing.assert_array_equal(b, data[::-3][:, :, [7, 0, 7]])
    c = plan(ds, "5, 1", variable="air").execute()
    np.testing.assert_array_equal(c, data[5, 1])
    d = plan(ds, {"d1": 4}, variable="air").execute()
    np.testing.assert_array_equal(d, data[:, 4])
    e = ds.plan("air[-1, -1, -1]").execute()
    assert e.shape == () and e == data[-1, -1, -1]


@pytest.mark.parametrize("bad, msg", [
    ("air[0:10", "end with"),
    ("air[0:10, 1, 2, 3]", "too many"),
    ("air[20]", "out of range"),
    ("air[::0]", "zero"),
    ("air[x=1]", "unknown dimension"),
    ("nope[1]", "no variable"),
    ("air[1.5]", "not an index"),
    ("air[..., ...]", "one Ellipsis"),
    ("air[__import__('os')]", "cannot understand"),
    ("[1]", "names no variable"),
])
def test_bad_selections_are_one_line_errors(cube, bad, msg):
    _, ds = cube
    with pytest.raises(SelectionError) as ei:
        plan(ds, bad)
    assert msg in str(ei.value)
    assert "\n" not in str(ei.value)


def test_empty_selection(cube):
    data, ds = cube
    p = plan(ds, "air[5:5]")
    assert p.n_chunks == 0 and p.n_requests == 0 and p.bytes_to_read == 0
    assert p.execute().shape == (0, 6, 8)


def test_missing_and_inline_chunks_need_no_io(tmp_path):
    data = np.arange(16, dtype="<i4").reshape(4, 4)
    var = build_var(tmp_path / "a.bin", data, (2, 2), CODECS["zlib"], missing={0}, inline={3}, fill=-1)
    p = plan(VDataset({"x": var}), "x[0:2, 0:2]")
    assert p.n_missing == 1 and p.n_requests == 0 and p.bytes_to_read == 0
    np.testing.assert_array_equal(p.execute(), np.full((2, 2), -1))
    q = plan(VDataset({"x": var}), "x[2:4, 2:4]")
    assert q.n_inline == 1 and q.n_requests == 0
    np.testing.assert_array_equal(q.execute(), data[2:4, 2:4])


def test_truncated_file_is_a_clear_error(tmp_path):
    data = np.arange(100, dtype="<f8")
    var = build_var(tmp_path / "a.bin", data, (100,))
    with open(tmp_path / "a.bin", "r+b") as f:
        f.truncate(200)
    with pytest.raises(VZError, match="short read"):
        plan(VDataset({"x": var}), "x[90:]").execute()


def test_scalar_variable(tmp_path):
    data = np.array(3.25, dtype=">f8")
    var = build_var(tmp_path / "s.bin", data, ())
    p = plan(VDataset({"x": var}), "x")
    assert p.shape == () and p.n_chunks == 1
    assert p.execute()[()] == 3.25


def test_chunk_spans_merge_contiguous_leading_runs():
    within = (np.array([1, 2]), np.arange(4), np.array([0, 1, 2]))
    starts, lengths, k = chunk_spans(within, (3, 4, 5), 2)
    assert k == 3
    # rows (i, j) each give a 3-element run; nothing contiguous across rows (gap of 2 elements)
    assert len(starts) == 8 and set(lengths.tolist()) == {6}
    within = (np.array([1, 2]), np.arange(4), np.arange(5))
    starts, lengths, k = chunk_spans(within, (3, 4, 5), 2)
    assert k == 1 and starts.tolist() == [40] and lengths.tolist() == [80]


def test_merge_ranges_budget_and_block():
    s = np.array([0, 110, 300, 1000])
    e = np.array([100, 200, 400, 1100])
    # wanted 400 bytes; budget 10% = 40: only the 10-byte gap is merged
    ms, me = merge_ranges(s, e, max_gap=1000, max_waste=0.1)
    assert ms.tolist() == [0, 300, 1000] and me.tolist() == [200, 400, 1100]
    ms, me = merge_ranges(s, e, max_gap=1000, max_waste=None)
    assert ms.tolist() == [0] and me.tolist() == [1100]
    ms, me = merge_ranges(s, e, max_gap=1000, max_waste=None, max_block=450)
    assert ms.tolist() == [0, 1000]
    ms, me = merge_ranges(np.array([5, 0, 50]), np.array([20, 10, 60]), max_gap=0)
    assert ms.tolist() == [0, 50] and me.tolist() == [20, 60]


def test_to_reductionist(tmp_path):
    data = np.arange(64, dtype="<f4").reshape(8, 8)
    var = build_var(tmp_path / "r.bin", data, (4, 4), CODECS["shuffle+zlib"], missing={3},
                    attrs={"_FillValue": np.float32(-1.0)})
    p = plan(VDataset({"x": var}), "x[1:7:2, ::-1]")
    reqs = p.to_reductionist("sum", axis=0, url_for=lambda path: "https://store.example/" + path.split("/")[-1])
    assert len(reqs) == 4
    ok = [r for r in reqs if "request" in r]
    assert len(ok) == 3
    assert all(r["endpoint"] == "/v2/sum/" for r in reqs)
    assert plan(VDataset({"x": var}), "x").to_reductionist("mean")[0]["endpoint"] == "/v2/sum/"
    assert plan(VDataset({"x": var}), "x").to_reductionist("max")[0]["endpoint"] == "/v2/max/"
    body = next(r["request"] for r in ok if r["chunk"] == [0, 0])
    assert body["url"] == "https://store.example/r.bin"
    assert body["dtype"] == "float32" and body["byte_order"] == "little"
    assert body["shape"] == [4, 4] and body["order"] == "C"
    assert body["selection"] == [[1, 4, 2], [0, 4, 1]]  # reversed slice sent forwards
    assert body["compression"] == {"id": "zlib"}
    assert body["filters"] == [{"id": "shuffle", "element_size": 4}]
    assert body["missing"] == {"missing_value": -1.0}
    assert body["axis"] == [0]
    e = next(e for e in p.entries if e.chunk_index == (0, 0))
    assert (body["offset"], body["size"]) == (e.offset, e.length)
    with open(tmp_path / "r.bin", "rb") as f:
        f.seek(body["offset"])
        assert len(f.read(body["size"])) == body["size"]
    miss = next(r for r in reqs if r["chunk"] == [1, 1])
    assert "missing chunk" in miss["reason"]
    # local paths without url_for, unsupported codecs and dtypes give reasons
    assert all("not an s3://" in r["reason"] for r in p.to_reductionist() if "reason" in r and r["chunk"] != [1, 1])
    var2 = build_var(tmp_path / "z.bin", data.astype("<i2"), (4, 4), CODECS["zstd"])
    r2 = plan(VDataset({"x": var2}), "x").to_reductionist(url_for=lambda p: "s3://b/z.bin")
    assert all("int16" in r["reason"] for r in r2)
    var3 = build_var(tmp_path / "z3.bin", data, (4, 4), CODECS["zstd"])
    r3 = plan(VDataset({"x": var3}), "x").to_reductionist(url_for=lambda p: "s3://b/z.bin")
    assert all("'zstd'" in r["reason"] for r in r3)
    with pytest.raises(VZError, match="zstd"):
        plan(VDataset({"x": var3}), "x").to_reductionist(url_for=lambda p: "s3://b/z.bin", strict=True)
    var4 = build_var(tmp_path / "r4.bin", data, (4, 4), (), attrs={"_FillValue": -1.0, "valid_min": 0.0})
    r4 = plan(VDataset({"x": var4}), "x[[0, 3, 1]]").to_reductionist(url_for=lambda p: "s3://b/r4.bin")
    assert all("several missing-data rules" in r["reason"] for r in r4)
    var5 = build_var(tmp_path / "r5.bin", data, (4, 4), (), attrs={"valid_range": [0.0, 10.0]})
    r5 = plan(VDataset({"x": var5}), "x[[0, 3, 1]]").to_reductionist(url_for=lambda p: "s3://b/r5.bin")
    assert all("irregular" in r["reason"] for r in r5)
    r5b = plan(VDataset({"x": var5}), "x[[0, 2], 1]").to_reductionist(url_for=lambda p: "s3://b/r5.bin")
    assert r5b[0]["request"]["missing"] == {"valid_range": [0.0, 10.0]}
    assert r5b[0]["request"]["selection"] == [[0, 3, 2], [1, 2, 1]]
