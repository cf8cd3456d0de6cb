"""Existing kerchunk references (JSON v0/v1, parquet) as inputs: scan_refs."""
from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest
import xarray as xr
from _writer_data import assert_same_dataset, make_nc4

import vz_jupyter as vz
from vz_jupyter.core.errors import ScanError, UnsupportedFeature
from vz_jupyter.core.model import INLINE, MISSING
from vz_jupyter.core.scan.refs import scan_refs
from vz_jupyter.core.serialize.kerchunk_json import to_kerchunk_json


def _same_reads(va, vb):
    """Same chunks, and unwritten chunks of ``va`` read the same in ``vb``: still
    unwritten with the same fill, or (when zarr's fill value could not say the
    storage fill without masking it) the fill chunk the writers reference."""
    from vz_jupyter.core.model import MISSING
    from vz_jupyter.core.serialize.zarr_meta import fill_plan, same_fill

    ma, mb = va.manifest, vb.manifest
    blob = fill_plan(va).blob
    miss = (ma.path_id == MISSING).ravel()
    if blob is not None and miss.any():
        assert all(mb.inline.get(k) == blob for k in np.flatnonzero(miss).tolist()), va.name
        ma = ma.with_inline(dict.fromkeys(np.flatnonzero(miss).tolist(), blob))
    elif miss.any():
        assert same_fill(va.fill_value, vb.fill_value, va.dtype), va.name
    assert ma.equals(mb), va.name
    if blob is None:
        assert [dict(c) for c in va.codecs] == [dict(c) for c in vb.codecs], va.name


def _same_vdataset(a, b, ordered=True):
    if ordered:
        assert list(a.variables) == list(b.variables)
    assert set(a.variables) == set(b.variables)
    for name, va in a.variables.items():
        vb = b[name]
        _same_reads(va, vb)
        assert (va.dims, va.shape, va.chunks, va.dtype) == (vb.dims, vb.shape, vb.chunks, vb.dtype), name
        assert set(va.attrs) == set(vb.attrs), name
        for k in va.attrs:
            x, y = np.asarray(va.attrs[k]), np.asarray(vb.attrs[k])
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (name, k)
            if k == "_FillValue":
                assert x.dtype == y.dtype, (name, k)
    assert {k: np.asarray(v).tolist() for k, v in a.attrs.items()} == {k: np.asarray(v).tolist() for k, v in b.attrs.items()}
    assert set(a.coords) == set(b.coords)
    assert sorted(a.paths) == sorted(b.paths)


@pytest.fixture
def nc4(tmp_path):
    return make_nc4(tmp_path / "src.nc", seed=11)


@pytest.mark.parametrize("target,opts", [("r.json", {}), ("r.json", {"templates": False}), ("r.parquet", {"record_size": 2})])
def test_round_trip_through_references(tmp_path, nc4, target, opts):
    ds = vz.scan(nc4)[0]
    out = vz.write(ds, tmp_path / target, **opts)
    back = scan_refs(out)
    _same_vdataset(ds, back)
    assert back.sources[0].path == str(nc4) and back.sources[0].size is None  # no I/O on sources
    # and through the scan dispatcher
    _same_vdataset(ds, vz.scan(out)[0])


def test_references_as_input_write_again_and_open(tmp_path, nc4):
    back = scan_refs(vz.write(vz.scan(nc4)[0], tmp_path / "r.json"))
    out = vz.write(back, tmp_path / "again.parquet")
    with xr.open_dataset(nc4, decode_cf=False) as orig:
        assert_same_dataset(orig, vz.open(out, decode=False))


def test_kerchunk_single_hdf5_output(tmp_path, nc4):
    """References made by kerchunk itself read back to the same values."""
    kh = pytest.importorskip("kerchunk.hdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = kh.SingleHdf5ToZarr(str(nc4), inline_threshold=50).translate()
    (tmp_path / "k.json").write_text(json.dumps(refs))
    ds = scan_refs(tmp_path / "k.json")
    assert set(ds.variables) >= {"air", "time", "lat", "lon", "big"}  # (kerchunk drops fletcher32 "packed")
    ours = vz.scan(nc4)[0]
    # kerchunk takes air's HDF5 extent (4 written time steps), not the netCDF time
    # dimension (6): where both reference chunks, they are the same chunks
    a, b = ours["air"].manifest, ds["air"].manifest
    assert ds["air"].shape == (4, 5, 8) and ours["air"].shape == (6, 5, 8)
    assert np.array_equal(a.offset[:2], b.offset) and np.array_equal(a.length[:2], b.length)
    # (so air and time disagree on the time length: leave time out to open it)
    ds = ds.replace(variables={k: v for k, v in ds.variables.items() if k != "time"})
    out = vz.write(ds, tmp_path / "k.parquet")
    with xr.open_dataset(nc4, decode_cf=False) as orig:
        got = vz.open(out, decode=False)
        for name in ("big", "lat", "lon"):
            np.testing.assert_array_equal(got[name].values, orig[name].values, err_msg=name)
        np.testing.assert_array_equal(got["air"].values, orig["air"].values[:4])


def _v1(tmp_path, refs, templates=None, gen=None, name="h.json"):
    doc = {"version": 1, "refs": refs}
    if templates:
        doc["templates"] = templates
    if gen:
        doc["gen"] = gen
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def _meta(shape, chunks, dtype="<i4", dims=None, fill=0, **extra):
    za = {"shape": shape, "chunks": chunks, "dtype": dtype, "compressor": None, "filters": None,
          "fill_value": fill, "order": "C", "zarr_format": 2, **extra}
    return {
        ".zgroup": json.dumps({"zarr_format": 2}),
        ".zattrs": json.dumps({"title": "hand"}),
        "a/.zarray": json.dumps(za),
        "a/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": dims or [f"d{i}" for i in range(len(shape))], "units": "1"}),
    }


def test_hand_written_v1_templates_inline_whole_file(tmp_path):
    data = np.arange(12, dtype="<i4")
    (tmp_path / "d.bin").write_bytes(b"xxxx" + data.tobytes())
    (tmp_path / "w.bin").write_bytes(data[4:8].tobytes())
    refs = _meta([12], [4])
    refs["a/0"] = ["{{u}}/d.bin", 4, 16]
    refs["a/1"] = [str(tmp_path / "w.bin")]  # whole file
    refs["a/2"] = "base64:" + base64.b64encode(data[8:].tobytes()).decode()
    p = _v1(tmp_path, refs, templates={"u": str(tmp_path)})
    ds = scan_refs(p)
    m = ds["a"].manifest
    assert m.paths == (str(tmp_path / "d.bin"), str(tmp_path / "w.bin"))
    assert m.chunk(1) == (str(tmp_path / "w.bin"), 0, 16, None)
    assert m.path_id[2] == INLINE and m.inline[2] == data[8:].tobytes()
    # zarr v2: xarray reads the .zarray fill_value (0 here) as the variable's _FillValue
    assert ds["a"].dims == ("d0",) and ds["a"].attrs == {"units": "1", "_FillValue": 0} and ds.attrs == {"title": "hand"}
    np.testing.assert_array_equal(vz.open(vz.write(ds, tmp_path / "o.parquet"), decode=False)["a"].values, data)


def test_version0_text_inline_and_missing(tmp_path):
    refs = _meta([3, 4], [1, 4], dtype="|u1", fill=9)
    refs["a/0.0"] = "abcd"  # plain-text inline data
    refs["a/2.0"] = "base64:" + base64.b64encode(b"\x01\x02\x03\x04").decode()
    p = tmp_path / "v0.json"
    p.write_text(json.dumps(refs))
    ds = scan_refs(p)
    m = ds["a"].manifest
    assert m.path_id[1, 0] == MISSING and m.inline[0] == b"abcd"
    assert ds["a"].fill_value == 9
    got = vz.open(vz.write(ds, tmp_path / "o.json"), decode=False)["a"].values
    np.testing.assert_array_equal(got, [list(b"abcd"), [9] * 4, [1, 2, 3, 4]])


def test_gen_and_slash_separator(tmp_path):
    data = np.arange(16, dtype="<f8").reshape(4, 4)
    raw = b"".join(np.ascontiguousarray(data[i * 2:(i + 1) * 2, j * 2:(j + 1) * 2]).tobytes() for i in range(2) for j in range(2))
    (tmp_path / "g.bin").write_bytes(raw)
    refs = _meta([4, 4], [2, 2], dtype="<f8", fill=None, dimension_separator="/")
    gen = [{"key": "a/{{i}}/{{j}}", "url": "{{root}}/g.bin", "offset": "{{(i * 2 + j) * 32}}", "length": "32",
            "dimensions": {"i": {"stop": 2}, "j": [0, 1]}}]
    p = _v1(tmp_path, refs, templates={"root": str(tmp_path)}, gen=gen)
    ds = scan_refs(p)
    assert ds["a"].manifest.offset.tolist() == [[0, 32], [64, 96]]
    np.testing.assert_array_equal(vz.open(vz.write(ds, tmp_path / "o.json"))["a"].values, data)


def test_subgroup_arrays_are_listed_as_skipped(tmp_path):
    refs = _meta([2], [2])
    refs["g/.zgroup"] = json.dumps({"zarr_format": 2})
    refs["g/b/.zarray"] = refs["a/.zarray"]
    refs["a/0"] = ["/nowhere/x.bin", 0, 8]  # never opened
    ds = scan_refs(_v1(tmp_path, refs), allowed_roots=["/nowhere"])
    assert list(ds.variables) == ["a"] and ds.skipped[0][0] == "g/b" and "sub-group" in ds.skipped[0][1]
    assert ds.paths == ("/nowhere/x.bin",)


def test_in_memory_dict(tmp_path, nc4):
    ds = vz.scan(nc4)[0]
    _same_vdataset(ds, scan_refs(to_kerchunk_json(ds)))


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r.update({"a/9": ["x", 0, 4]}), "outside the chunk grid"),
        (lambda r: r.update({"a/0.1": ["x", 0, 4]}), "does not fit a 1-d chunk grid"),
        (lambda r: r.update({"a/0": ["x", 0]}), "is not [url] or [url, offset, length]"),
        (lambda r: r.update({"a/0": ["x", "zero", 4]}), "must be integers"),
        (lambda r: r.update({"a/0": 17}), "neither"),
        (lambda r: r.update({"a/0": ["{{nope}}/x", 0, 4]}), "undefined template"),
        (lambda r: r.update({"a/.zarray": "{not json"}), "a/.zarray' is not valid JSON"),
        (lambda r: r.update({"a/.zarray": json.dumps({"chunks": [4], "dtype": "<i4"})}), "needs integer 'shape'"),
        (lambda r: r.update({"a/.zarray": json.dumps({**json.loads(r["a/.zarray"]), "order": "F"})}), "Fortran"),
        (lambda r: r.update({"a/.zarray": json.dumps({**json.loads(r["a/.zarray"]), "dtype": "<q9"})}), "not a valid zarr v2 dtype"),
        (lambda r: r.update({"a/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["x", "y"]})}), "does not match shape"),
    ],
)
def test_malformed_references_raise_one_line_errors(tmp_path, mutate, message):
    refs = _meta([8], [4])
    mutate(refs)
    p = _v1(tmp_path, refs)
    with pytest.raises(ScanError) as e:
        scan_refs(p)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(p) in str(e.value)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ScanError, match="not valid kerchunk JSON"):
        scan_refs(bad)
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps({"version": 2, "refs": {}}))
    with pytest.raises(ScanError, match="unknown kerchunk reference version 2"):
        scan_refs(v2)
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(ScanError, match="top level is a list"):
        scan_refs(lst)
    with pytest.raises(UnsupportedFeature, match="null url"):
        scan_refs(_v1(tmp_path, {**_meta([4], [4]), "a/0": [None, 0, 16]}, name="n.json"))
    with pytest.raises(ScanError, match="no such file"):
        scan_refs(tmp_path / "missing.json")


def test_malformed_parquet(tmp_path, nc4):
    out = vz.write(vz.scan(nc4)[0], tmp_path / "r.parquet", record_size=2)
    import pathlib

    zm = pathlib.Path(out) / ".zmetadata"
    good = zm.read_text()
    zm.write_text(json.dumps({"metadata": json.loads(good)["metadata"]}))
    with pytest.raises(ScanError, match="record_size"):
        scan_refs(out)
    zm.write_text(good)
    (pathlib.Path(out) / "air" / "refs.1.parq").write_bytes(b"PAR1 garbage")
    with pytest.raises(ScanError, match=r"air/refs.1.parq is not a readable parquet file"):
        scan_refs(out)
    # a record file that is absent reads as missing chunks, as fsspec does
    (pathlib.Path(out) / "air" / "refs.1.parq").unlink()
    ds = scan_refs(out)
    assert ds["air"].manifest.path_id.ravel()[2:4].tolist() == [MISSING, MISSING]


# -- property: write then scan_refs is the identity on manifests ------------------------
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

from vz_jupyter.core.model import Manifest, VArray, VDataset  # noqa: E402


@st.composite
def manifests(draw):
    ndim = draw(st.integers(0, 3))
    grid = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    n = int(np.prod(grid)) if grid else 1
    npaths = draw(st.integers(1, 3))
    paths = tuple(f"/data/dir{i % 2}/file {i}.nc" if i != 2 else "https://example.org/x/f.nc" for i in range(npaths))
    kinds = draw(st.lists(st.sampled_from(["ref", "missing", "inline"]), min_size=n, max_size=n))
    pid = np.array([draw(st.integers(0, npaths - 1)) if k == "ref" else MISSING for k in kinds], dtype=np.uint32)
    off = np.array([draw(st.integers(0, 2**40)) if k == "ref" else 0 for k in kinds], dtype=np.uint64)
    ln = np.array([draw(st.integers(1, 2**30)) if k == "ref" else 0 for k in kinds], dtype=np.uint64)
    inline = {i: draw(st.binary(min_size=0, max_size=12)) for i, k in enumerate(kinds) if k == "inline"}
    m = Manifest(paths, pid.reshape(grid), off.reshape(grid), ln.reshape(grid)).with_inline(inline)
    chunks = tuple(draw(st.integers(1, 3)) for _ in grid)
    shape = tuple(g * c - draw(st.integers(0, c - 1)) for g, c in zip(grid, chunks))
    return m, shape, chunks


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=manifests(), record_size=st.integers(1, 7), fmt=st.sampled_from(["r.json", "r.parquet"]))
def test_property_write_then_scan_refs_is_identity(tmp_path_factory, data, record_size, fmt):
    m, shape, chunks = data
    dims = tuple(f"d{i}" for i in range(len(shape)))
    v = VArray("v", dims, shape, np.dtype("<u2"), chunks, ({"id": "zlib", "level": 1},), np.uint16(7), {"k": [1, 2]}, m)
    ds = VDataset({"v": v}, attrs={"a": "b"})
    out = tmp_path_factory.mktemp("prop") / fmt
    vz.write(ds, out, **({"record_size": record_size} if fmt.endswith("parquet") else {}))
    back = scan_refs(out)
    # unwritten chunks (fill 7, no _FillValue attribute) come back as the fill chunk the writers reference
    _same_reads(v.replace(manifest=m.compact_paths()), back["v"])
    assert back["v"].shape == shape and back["v"].chunks == chunks and "_FillValue" not in back["v"].attrs


def test_kerchunk_parquet_output_as_input(tmp_path, nc4):
    """Parquet written by kerchunk's refs_to_dataframe (fastparquet, categorical
    paths) scans to the same manifests as ours."""
    kdf = pytest.importorskip("kerchunk.df")
    pytest.importorskip("fastparquet")
    ds = vz.scan(nc4)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kdf.refs_to_dataframe(to_kerchunk_json(ds, templates=False), str(tmp_path / "k.parquet"), record_size=3)
    back = scan_refs(tmp_path / "k.parquet")
    _same_vdataset(ds, back, ordered=False)  # kerchunk sorts the keys
