"""Icechunk output: a local repository with virtual chunk containers, read back
through xarray with values equal to the originals."""
from __future__ import annotations

import os
import warnings

import numcodecs
import numpy as np
import pytest
import xarray as xr

import vz_jupyter as vz
from vz_jupyter.core.errors import VZError, WriteError
from vz_jupyter.core.model import INLINE, MISSING, Manifest, Source, VArray, VDataset

ic = pytest.importorskip("icechunk")

from _writer_data import assert_equals_original, assert_same_dataset, make_nc4  # noqa: E402

from vz_jupyter.core.serialize.icechunk import container_prefixes, open_icechunk_store, v3_codecs, write_icechunk  # noqa: E402


def _encoded_dataset(tmp_path, codecs=("shuffle", "zlib"), dtype=">f4", missing=(1,), inline=(2,)):
    """Chunks encoded with numcodecs into a raw file (encode order = list order)."""
    arr = (np.arange(48).reshape(6, 8) * 1.5).astype(dtype)
    pipeline = []
    for c in codecs:
        if c == "shuffle":
            pipeline.append({"id": "shuffle", "elementsize": np.dtype(dtype).itemsize})
        elif c == "zlib":
            pipeline.append({"id": "zlib", "level": 5})
        elif c == "zstd":
            pipeline.append({"id": "zstd", "level": 3})
        elif c == "fletcher32":
            pipeline.append({"id": "fletcher32"})
        else:
            pipeline.append({"id": c})
    enc = [numcodecs.get_codec(dict(c)) for c in pipeline]
    grid, chunk = (3, 2), (2, 4)
    n = 6
    pid = np.zeros(n, np.uint32)
    off = np.zeros(n, np.uint64)
    ln = np.zeros(n, np.uint64)
    inl = {}
    expected = arr.copy()
    fname = tmp_path / "enc.bin"
    with open(fname, "wb") as f:
        pos = 0
        for flat in range(n):
            i, j = np.unravel_index(flat, grid)
            sl = (slice(i * 2, i * 2 + 2), slice(j * 4, j * 4 + 4))
            b = np.ascontiguousarray(arr[sl]).tobytes()
            for c in enc:
                b = bytes(c.encode(b))
            if flat in missing:
                pid[flat] = MISSING
                expected[sl] = -7
            elif flat in inline:
                pid[flat] = INLINE
                inl[flat] = b
                ln[flat] = len(b)
            else:
                f.write(b)
                off[flat], ln[flat] = pos, len(b)
                pos += len(b)
    m = Manifest((str(fname),), pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inl)
    v = VArray("v", ("y", "x"), (6, 8), np.dtype(dtype), chunk, tuple(pipeline), np.dtype(dtype).type(-7),
               {"units": "K", "_FillValue": np.dtype(dtype).type(-7), "valid_range": [0, 100]}, m)
    st = os.stat(fname)
    return VDataset({"v": v}, attrs={"title": "enc", "n": 3}, sources=(Source(str(fname), st.st_size, st.st_mtime),)), expected


@pytest.mark.parametrize(
    "codecs,dtype",
    [(("shuffle", "zlib"), ">f4"), (("zstd",), "<i8"), (("fletcher32", "shuffle", "zlib"), "<i2"), ((), "<f8")],
)
def test_values_and_codecs_round_trip(tmp_path, codecs, dtype):
    ds, expected = _encoded_dataset(tmp_path, codecs, dtype)
    out = vz.write(ds, tmp_path / "r.icechunk")
    got = vz.open(out, decode=False)
    np.testing.assert_array_equal(got["v"].values, expected)
    assert got["v"].dims == ("y", "x")
    assert got["v"].attrs["units"] == "K" and list(got["v"].attrs["valid_range"]) == [0, 100]
    assert got.attrs == {"title": "enc", "n": 3}
    # CF masking follows the _FillValue attribute, as in the original
    dec = vz.open(out)
    assert (expected == -7).sum() == 8 and np.isnan(dec["v"].values[expected == -7]).all()
    assert np.array_equal(dec["v"].values[expected != -7], expected[expected != -7])


def test_repository_declares_containers_and_holds_virtual_and_inline_chunks(tmp_path):
    ds, _ = _encoded_dataset(tmp_path)
    out = vz.write(ds, tmp_path / "r.icechunk")
    repo = ic.Repository.open(ic.local_filesystem_storage(out))
    prefixes = [c.url_prefix for c in repo.config.virtual_chunk_containers.values()]
    assert prefixes == ["file://" + str(tmp_path) + "/"]
    log = list(repo.ancestry(branch="main"))
    assert log[0].message.startswith("vz_jupyter: 1 variables over 1 files")
    # without authorization the virtual chunks are refused, the inlined one is served
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = zarr.open_array(repo.readonly_session(branch="main").store, path="v", mode="r")
        assert arr.metadata.dimension_names == ("y", "x")
        np.testing.assert_array_equal(arr[2:4, 0:4], (np.arange(48).reshape(6, 8) * 1.5)[2:4, 0:4])  # chunk 2 is inlined
        with pytest.raises(Exception):
            arr[0:2, 0:4]


def test_modified_source_is_refused(tmp_path):
    ds, expected = _encoded_dataset(tmp_path)
    out = vz.write(ds, tmp_path / "r.icechunk")
    np.testing.assert_array_equal(vz.open(out, decode=False)["v"].values, expected)
    src = tmp_path / "enc.bin"
    t = os.stat(src).st_mtime + 10
    os.utime(src, (t, t))
    with pytest.raises(Exception, match="checksum|changed|modified"):
        vz.open(out, decode=False)["v"].values


def test_write_icechunk_direct_branch_and_message(tmp_path):
    ds, expected = _encoded_dataset(tmp_path)
    repo_dir = tmp_path / "direct"
    snap = write_icechunk(ds, repo_dir, message="first import")
    assert isinstance(snap, str) and snap
    repo = ic.Repository.open(ic.local_filesystem_storage(str(repo_dir)))
    assert next(iter(repo.ancestry(branch="main"))).message == "first import"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = xr.open_zarr(open_icechunk_store(repo_dir), consolidated=False, zarr_format=3, mask_and_scale=False)
    np.testing.assert_array_equal(got["v"].values, expected)


def test_other_branch(tmp_path):
    ds, expected = _encoded_dataset(tmp_path)
    write_icechunk(ds, tmp_path / "b", branch="import")
    repo = ic.Repository.open(ic.local_filesystem_storage(str(tmp_path / "b")))
    assert set(repo.list_branches()) == {"main", "import"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = xr.open_zarr(open_icechunk_store(tmp_path / "b", branch="import"), consolidated=False, zarr_format=3,
                           mask_and_scale=False)
        np.testing.assert_array_equal(got["v"].values, expected)
        import zarr

        with pytest.raises(zarr.errors.GroupNotFoundError):  # main holds only the initial, empty commit
            zarr.open_group(open_icechunk_store(tmp_path / "b"), mode="r")


def test_container_prefixes():
    assert container_prefixes(["/a/b/c.nc", "/a/b/d/e.nc"]) == ["file:///a/b/"]
    assert container_prefixes(["/a/x.nc", "/b/c/y.nc"]) == ["file:///a/", "file:///b/"]
    assert container_prefixes(["/data/a b/x.nc", "/data/a b/y.nc"]) == ["file:///data/"]  # no %-escapes in prefixes
    with pytest.raises(WriteError, match="directly in /"):
        container_prefixes(["/x.nc", "/a/y.nc"])
    assert container_prefixes(["https://h.org/d/1.nc", "s3://bkt/k/2.nc", "https://h.org/e/3.nc"]) == [
        "https://h.org/", "s3://bkt/",
    ]


def test_codec_translation_orders_and_refuses():
    from vz_jupyter.core.model import Manifest

    m = Manifest.empty((1,))
    v = VArray("v", ("x",), (4,), np.dtype("<f4"), (4,), ({"id": "shuffle", "elementsize": 4}, {"id": "zlib", "level": 1}), 0, {}, m)
    c = v3_codecs(v)
    assert c["filters"] == [] and [x.codec_name for x in c["compressors"]] == ["numcodecs.shuffle", "numcodecs.zlib"]
    assert c["serializer"].endian.value == "little"
    big = v.replace(dtype=np.dtype(">f4"), codecs=())
    assert v3_codecs(big)["serializer"].endian.value == "big"
    bad = v.replace(codecs=({"id": "zlib", "level": 1}, {"id": "delta", "dtype": "<f4"}))
    with pytest.raises(WriteError, match="delta"):
        v3_codecs(bad)
    with pytest.raises(WriteError, match="'pickle' cannot be written"):
        v3_codecs(v.replace(codecs=({"id": "pickle"},)))
    with pytest.raises(WriteError, match="no-such-codec"):
        v3_codecs(v.replace(codecs=({"id": "no-such-codec"},)))


@pytest.mark.parametrize("folder", ["dir with space", "pct%20x", "hash#dir", "ünï", "q?"])
def test_awkward_file_names(tmp_path, folder):
    """Local paths become percent-encoded file:// locations under a clean prefix."""
    from _writer_data import assert_equals_original

    src = tmp_path / folder / f"{folder}.nc"
    src.parent.mkdir()
    make_nc4(src)
    out = vz.write(vz.scan(str(src).replace("?", "[?]"))[0], tmp_path / "r.icechunk")
    assert_equals_original(src, vz.open(out, decode=False))


def test_open_rejects_a_plain_directory(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(VZError, match="not an Icechunk repository"):
        vz.open(tmp_path / "plain")


def test_end_to_end_netcdf4(tmp_path):
    src = make_nc4(tmp_path / "a.nc", seed=7)
    ds = vz.scan(src)[0]
    out = vz.write(ds, tmp_path / "a.icechunk")
    with xr.open_dataset(src, decode_cf=False) as orig:
        assert_same_dataset(orig, vz.open(out, decode=False))
    with xr.open_dataset(src) as orig:
        got = vz.open(out)
        for name in orig.variables:
            if name == "packed":  # scale_factor's float32 dtype does not survive JSON attributes
                np.testing.assert_allclose(got[name].values, orig[name].values, rtol=1e-6)
            else:
                np.testing.assert_array_equal(got[name].values, orig[name].values, err_msg=name)
        assert got["time"].values[0] == np.datetime64("2000-01-01T00:00")


def test_end_to_end_netcdf3(tmp_path):
    """Big-endian NetCDF3 record variables through Icechunk."""
    import netCDF4

    src = tmp_path / "c.nc"
    with netCDF4.Dataset(src, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("t", None)
        nc.createDimension("x", 3)
        a = nc.createVariable("a", "f4", ("t", "x"), fill_value=np.float32(1e20))
        b = nc.createVariable("b", "i2", ("t",))
        a[:] = np.arange(12, dtype="f4").reshape(4, 3)
        a[2, 1] = np.float32(1e20)
        b[:] = [1, 2, 3, 4]
    ds = vz.scan(src)[0]
    out = vz.write(ds, tmp_path / "c.icechunk")
    with xr.open_dataset(src) as orig:
        assert_same_dataset(orig, vz.open(out))


def _real_ids():
    from conftest import REAL_FILES

    return [p.name for p in REAL_FILES] or ["(none)"]


@pytest.mark.parametrize("name", _real_ids())
def test_real_files(real_data, tmp_path, name):
    """The real sample files: scanned, written to Icechunk, equal to xarray's read."""
    import hdf5plugin  # noqa: F401  (blosc/lz4/zstd for the reference read through h5py)

    src = real_data / name
    out = vz.write(vz.scan(src)[0], tmp_path / "r.icechunk")
    assert_equals_original(src, vz.open(out, decode=False))


def test_http_sources_through_an_http_container(tmp_path):
    """URL sources: an http container is declared and chunks are fetched with
    range requests from a loopback server (on port 80: Icechunk 1.1 ignores
    ports, see the next test)."""
    from _writer_data import rebase, serve_folder

    src = make_nc4(tmp_path / "a.nc", seed=2)
    ds = vz.scan(src)[0]
    try:
        server = serve_folder(tmp_path, port=80)
        base, handler = server.__enter__()
    except OSError:
        pytest.skip("cannot listen on 127.0.0.1:80 here")
    try:
        assert base == "http://127.0.0.1:80"
        base = "http://127.0.0.1"
        out = vz.write(rebase(ds, tmp_path, base), tmp_path / "h.icechunk")
        repo = ic.Repository.open(ic.local_filesystem_storage(out))
        assert [c.url_prefix for c in repo.config.virtual_chunk_containers.values()] == [base + "/"]
        with xr.open_dataset(src, decode_cf=False) as orig:
            # a loopback host is never granted implicitly
            assert_same_dataset(orig, vz.open(out, decode=False, allowed_roots=[base]).load())
        assert any(r[1] for r in handler.requests)  # ranged GETs were made
    finally:
        server.__exit__(None, None, None)


def test_urls_with_a_port_are_refused_clearly(tmp_path):
    from _writer_data import rebase

    src = make_nc4(tmp_path / "a.nc", seed=2)
    remote = rebase(vz.scan(src)[0], tmp_path, "http://127.0.0.1:8123")
    with pytest.raises(WriteError, match=r"ignores the port of URLs such as http://127.0.0.1:8123/a.nc") as e:
        vz.write(remote, tmp_path / "h.icechunk")
    assert str(e.value).startswith(str(tmp_path / "h.icechunk") + ": ") and "\n" not in str(e.value)
    assert not (tmp_path / "h.icechunk").exists()


def test_combined_files(tmp_path):
    from _writer_data import check_combined

    check_combined(tmp_path, "c.icechunk")


def test_opening_registers_no_pickle_codec():
    from zarr import registry

    from vz_jupyter.core.serialize.icechunk import register_numcodecs_wrappers

    register_numcodecs_wrappers()
    assert registry.get_codec_class("numcodecs.vz.lzf")  # vz's HDF5 codecs are readable
    with pytest.raises(KeyError):
        registry.get_codec_class("numcodecs.pickle")


def test_hdf5_plugin_filters_through_icechunk(tmp_path):
    """Codecs zarr has no v3 wrapper for (vz's HDF5 lzf, lz4, bitshuffle) get a
    generic one: values equal h5py's read."""
    import h5py
    import hdf5plugin
    from _writer_data import assert_equals_original

    src = tmp_path / "f.h5"
    data = np.arange(600, dtype="<f4").reshape(20, 30) / 7
    with h5py.File(src, "w") as f:
        f.create_dataset("lzf", data=data, chunks=(10, 10), compression="lzf", shuffle=True)
        f.create_dataset("lz4", data=data, chunks=(10, 10), **hdf5plugin.LZ4())
        f.create_dataset("bitshuffle", data=data, chunks=(10, 10), **hdf5plugin.Bitshuffle())
        f.create_dataset("zstd", data=data.astype("<i8"), chunks=(10, 10), **hdf5plugin.Zstd())
    ds = vz.scan(src)[0]
    assert {str(c["id"]) for v in ds.variables.values() for c in v.codecs} >= {"vz.lzf", "shuffle"}
    out = vz.write(ds, tmp_path / "f.icechunk")
    assert_equals_original(src, vz.open(out, decode=False))


from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)


@st.composite
def _layouts(draw):
    ndim = draw(st.integers(0, 3))
    grid = [draw(st.integers(1, 3)) for _ in range(ndim)]
    chunks = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    n = int(np.prod(grid)) if grid else 1
    kinds = draw(st.lists(st.sampled_from(["ref", "missing", "inline"]), min_size=n, max_size=n))
    dtype = draw(st.sampled_from(["<f4", ">f8", "<i2", ">u4", "|u1"]))
    return grid, chunks, kinds, dtype


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=_layouts(), fmt=st.sampled_from(["r.icechunk", "r.parquet"]))
def test_property_values_read_back(tmp_path_factory, layout, fmt):
    """Any chunk layout (missing, inlined, referenced; any dtype and byte order)
    reads back through Icechunk and parquet as the array it describes."""
    from _writer_data import random_virtual_dataset

    folder = tmp_path_factory.mktemp("layout")
    ds, expected = random_virtual_dataset(folder, *layout)
    out = vz.write(ds, folder / fmt, **({"record_size": 2} if fmt.endswith("parquet") else {}))
    np.testing.assert_array_equal(vz.open(out, decode=False)["v"].values, expected)
