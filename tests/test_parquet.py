"""kerchunk parquet references: layout as fsspec's LazyReferenceMapper reads it,
built from the manifest columns, values read back through xarray."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
from _writer_data import assert_equals_original, assert_same_dataset, make_nc4

import vz_jupyter as vz
from vz_jupyter.core.model import INLINE, MISSING, Manifest, Source, VArray, VDataset
from vz_jupyter.core.opening import parquet_store
from vz_jupyter.core.serialize import serialize
from vz_jupyter.core.serialize.kerchunk_parquet import (
    ParquetRefs,
    manifest_tables,
    to_parquet_tables,
    write_parquet_dir,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

ENGINES = ["pyarrow"] + (["fastparquet"] if __import__("importlib").util.find_spec("fastparquet") else [])


def _raw_dataset(tmp_path, *, grid=(5, 3), chunk=(2, 4), missing=(), inline=(), dtype="<f4", seed=0):
    """A VDataset over a raw binary file written with numpy: uncompressed chunks
    laid out one after another (some left out as missing, some inlined)."""
    rng = np.random.default_rng(seed)
    shape = tuple(g * c for g, c in zip(grid, chunk))
    data = rng.normal(size=shape).astype(dtype)
    fname = tmp_path / f"raw{seed}.bin"
    n = int(np.prod(grid))
    pid = np.zeros(n, dtype=np.uint32)
    off = np.zeros(n, dtype=np.uint64)
    ln = np.zeros(n, dtype=np.uint64)
    inl = {}
    pos = 0
    with open(fname, "wb") as f:
        f.write(b"HEAD" * 4)
        pos = 16
        for flat in range(n):
            idx = np.unravel_index(flat, grid)
            sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunk))
            b = np.ascontiguousarray(data[sl]).tobytes()
            if flat in missing:
                pid[flat] = MISSING
                data[sl] = -1.0
                continue
            if flat in inline:
                pid[flat] = INLINE
                ln[flat] = len(b)
                inl[flat] = b
                continue
            f.write(b)
            off[flat], ln[flat] = pos, len(b)
            pos += len(b)
    m = Manifest((str(fname),), pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inl)
    v = VArray("v", ("y", "x"), shape, np.dtype(dtype), chunk, (), np.dtype(dtype).type(-1), {"units": "m"}, m)
    return VDataset({"v": v}, attrs={"title": "raw"}, sources=(Source(str(fname)),)), data


def _open_engine(path, engine):
    store = parquet_store(str(path), engine=engine)
    return xr.open_dataset(store, engine="zarr", consolidated=False, zarr_format=2, mask_and_scale=False, decode_times=False)


# -- layout ------------------------------------------------------------------------
def test_layout_matches_lazy_reference_mapper(tmp_path):
    ds, _ = _raw_dataset(tmp_path, grid=(5, 3), missing={4}, inline={7})
    out = tmp_path / "r.parquet"
    vz.write(ds, out, record_size=4)
    zm = json.loads((out / ".zmetadata").read_text())
    assert zm["record_size"] == 4
    assert set(zm["metadata"]) == {".zgroup", ".zattrs", "v/.zarray", "v/.zattrs"}
    assert zm["metadata"]["v/.zarray"]["shape"] == [10, 12]
    files = sorted(p.name for p in (out / "v").iterdir())
    assert files == [f"refs.{k}.parq" for k in range(math.ceil(15 / 4))]
    for f in files:
        t = pq.read_table(out / "v" / f)
        assert t.num_rows == 4  # padded
        assert t.column_names == ["path", "offset", "size", "raw"]
        assert pa.types.is_dictionary(t.schema.field("path").type)
        assert t.schema.field("offset").type == pa.int64() and t.schema.field("size").type == pa.int64()
    m = ds["v"].manifest
    # row r of file k is chunk k*4 + r in C order
    t1 = pq.read_table(out / "v" / "refs.1.parq").to_pydict()
    for r in range(4):
        flat = 4 + r
        path, offset, length, raw = m.chunk(flat)
        if flat == 4:
            # unwritten, fill -1 without a _FillValue attribute: a chunk of -1 in raw
            assert t1["path"][r] is None and np.all(np.frombuffer(t1["raw"][r], "<f4") == -1)
        elif flat == 7:
            assert t1["path"][r] is None and t1["raw"][r] == raw
        else:
            assert (t1["path"][r], t1["offset"][r], t1["size"][r]) == (path, offset, length)
    # the padding rows of the last file are missing chunks
    last = pq.read_table(out / "v" / "refs.3.parq").to_pydict()
    assert last["path"][3:] == [None] and last["raw"][3:] == [None]


def test_dictionary_holds_only_the_record_paths(tmp_path):
    paths = tuple(f"/data/f{i}.nc" for i in range(6))
    pid = np.repeat(np.arange(6, dtype=np.uint32), 2)  # 12 chunks, 2 per file
    m = Manifest(paths, pid, np.arange(12) * 10, np.full(12, 10))
    tables = manifest_tables(m, record_size=4)
    assert len(tables) == 3
    assert tables[0].column("path").chunk(0).dictionary.to_pylist() == ["/data/f0.nc", "/data/f1.nc"]
    assert tables[2].column("path").to_pylist() == ["/data/f4.nc"] * 2 + ["/data/f5.nc"] * 2
    assert tables[1].column("offset").to_pylist() == [40, 50, 60, 70]


def test_serialize_is_pure_and_write_uses_it(tmp_path):
    ds, _ = _raw_dataset(tmp_path)
    refs = serialize(ds, "kerchunk-parquet", record_size=7)
    assert isinstance(refs, ParquetRefs)
    assert refs.record_size == 7 and len(refs.tables["v"]) == 3
    assert not list(tmp_path.glob("*.parquet"))
    write_parquet_dir(refs, tmp_path / "direct")
    assert json.loads((tmp_path / "direct" / ".zmetadata").read_bytes()) == json.loads(refs.zmetadata())
    with pytest.raises(ValueError):
        to_parquet_tables(ds, record_size=0)


def test_large_grid_is_built_from_columns(tmp_path):
    """300k chunks over 1,000 files: built quickly and read back exactly."""
    n = 300_000
    paths = tuple(f"/archive/file_{i:04d}.nc" for i in range(1000))
    rng = np.random.default_rng(1)
    pid = rng.integers(0, 1000, n).astype(np.uint32)
    pid[::97] = MISSING
    m = Manifest(paths, pid.reshape(600, 500), rng.integers(0, 2**40, n).reshape(600, 500), rng.integers(1, 2**20, n).reshape(600, 500))
    tables = manifest_tables(m, record_size=100_000)
    assert [t.num_rows for t in tables] == [100_000] * 3
    # (to_pylist: pyarrow 26's ChunkedArray.to_numpy drops the nulls of dictionary columns)
    got_paths = np.array([p for t in tables for p in t.column("path").to_pylist()], dtype=object)
    want = np.array(paths + (None,), dtype=object)[np.where(pid == MISSING, 1000, pid)]
    assert (got_paths == want).all()
    got_off = np.concatenate([t.column("offset").to_numpy() for t in tables])
    assert np.array_equal(got_off[pid != MISSING], m.offset.ravel()[pid != MISSING].astype(np.int64))
    assert (got_off[pid == MISSING] == 0).all()


# -- reading back ------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_values_read_back_with_each_engine(tmp_path, engine):
    ds, data = _raw_dataset(tmp_path, grid=(4, 3), missing={0, 5}, inline={2, 11})
    out = tmp_path / "r.parquet"
    vz.write(ds, out, record_size=5)
    got = _open_engine(out, engine)
    np.testing.assert_array_equal(got["v"].values, data)
    assert got["v"].attrs["units"] == "m"
    assert got.attrs["title"] == "raw"


def test_stock_fsspec_reads_our_parquet(tmp_path):
    """fsspec's own reference filesystem (its default engine) reads the files,
    missing and inlined chunks included."""
    pytest.importorskip("fastparquet")
    import fsspec

    ds, data = _raw_dataset(tmp_path, grid=(3, 3), missing={4}, inline={8})
    out = tmp_path / "r.parquet"
    vz.write(ds, out, record_size=4)
    fs = fsspec.filesystem("reference", fo=str(out))
    got = xr.open_dataset(fs.get_mapper(""), engine="zarr", consolidated=False, zarr_format=2, mask_and_scale=False)
    np.testing.assert_array_equal(got["v"].values, data)


def test_end_to_end_netcdf4(tmp_path):
    src = make_nc4(tmp_path / "a.nc")
    ds = vz.scan(src)[0]
    out = vz.write(ds, tmp_path / "a.parquet", record_size=3)
    with xr.open_dataset(src, decode_cf=False) as orig:
        assert_same_dataset(orig, vz.open(out, decode=False))
    with xr.open_dataset(src) as orig:
        got = vz.open(out)
        # CF decoding: identical except packed data, decoded with the scale_factor's
        # dtype (float32 in the file, float64 once the attribute went through JSON)
        for name in orig.variables:
            if name == "packed":
                np.testing.assert_allclose(got[name].values, orig[name].values, rtol=1e-6)
            else:
                np.testing.assert_array_equal(got[name].values, orig[name].values)
        assert np.isnan(got["air"].values[-2:]).all()  # unwritten chunks read as fill -> NaN
        assert np.isnan(got["air"].values[0, 0, 0])


@pytest.mark.parametrize("engine", ENGINES)
def test_end_to_end_with_each_engine(tmp_path, engine):
    src = make_nc4(tmp_path / "a.nc", seed=3)
    out = vz.write(vz.scan(src)[0], tmp_path / "a.parquet")
    with xr.open_dataset(src, decode_cf=False) as orig:
        got = _open_engine(out, engine)
        for name in orig.variables:
            np.testing.assert_array_equal(got[name].values, orig[name].values, err_msg=name)


def test_kerchunk_refs_to_dataframe_output_opens_like_ours(tmp_path):
    """kerchunk's own parquet writer and ours describe the same data."""
    kdf = pytest.importorskip("kerchunk.df")
    from vz_jupyter.core.serialize.kerchunk_json import to_kerchunk_json

    pytest.importorskip("fastparquet")  # kerchunk's writer uses it
    src = make_nc4(tmp_path / "a.nc", seed=5)
    ds = vz.scan(src)[0]
    kout = tmp_path / "k.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kdf.refs_to_dataframe(to_kerchunk_json(ds, templates=False), str(kout), record_size=4)
    ours = vz.write(ds, tmp_path / "o.parquet", record_size=4)
    assert_same_dataset(vz.open(str(kout), decode=False), vz.open(ours, decode=False))


def _real_ids():
    from conftest import REAL_FILES

    return [p.name for p in REAL_FILES] or ["(none)"]


@pytest.mark.parametrize("name", _real_ids())
def test_real_files(real_data, tmp_path, name):
    """The real sample files: scanned, written as parquet, equal to xarray's read."""
    import hdf5plugin  # noqa: F401

    src = real_data / name
    out = vz.write(vz.scan(src)[0], tmp_path / "r.parquet", record_size=10)
    assert_equals_original(src, vz.open(out, decode=False))


def test_http_sources(tmp_path):
    """Parquet references to URLs read through fsspec's HTTP filesystem."""
    from _writer_data import rebase, serve_folder

    src = make_nc4(tmp_path / "a.nc", seed=4)
    ds = vz.scan(src)[0]
    with serve_folder(tmp_path) as (base, handler):
        out = vz.write(rebase(ds, tmp_path, base), tmp_path / "h.parquet")
        with xr.open_dataset(src, decode_cf=False) as orig:
            # a loopback host is never granted implicitly
            assert_same_dataset(orig, vz.open(out, decode=False, allowed_roots=[base]).load())
        assert handler.requests


def test_combined_files(tmp_path):
    from _writer_data import check_combined

    check_combined(tmp_path, "c.parquet", record_size=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_inline_bytes_that_look_like_base64(tmp_path, engine):
    """fsspec base64-decodes values starting with 'base64:', raw bytes included;
    such inlined chunks must still read back as themselves."""
    from vz_jupyter.core.scan.refs import scan_refs

    chunks = [b"base64:A", b"plainAAA"]
    m = Manifest((), np.full(2, INLINE, np.uint32), np.zeros(2), np.full(2, 8), {0: chunks[0], 1: chunks[1]})
    v = VArray("b", ("x",), (16,), np.dtype("|u1"), (8,), (), 0, {}, m)
    out = vz.write(VDataset({"b": v}), tmp_path / "b.parquet")
    got = _open_engine(out, engine)["b"].values
    assert got.tobytes() == b"".join(chunks)
    assert scan_refs(out)["b"].manifest.equals(m)
