"""End to end: scan NetCDF3 / NetCDF4 files, plan selections, execute locally and
over a loopback HTTP server with Range support; compare with xarray ``isel`` on
the original file (raw values, ``decode_cf=False``)."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import xarray as xr
from _writer_data import serve_folder
from conftest import REAL_FILES
from hypothesis import HealthCheck, given, settings, strategies as st
from test_plan_core import dim_key

import vz_jupyter as vz
from vz_jupyter.core.plan import plan

netCDF4 = pytest.importorskip("netCDF4")


def make_nc3(path):
    rng = np.random.default_rng(1)
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", 9)
        nc.createDimension("lon", 12)
        t = nc.createVariable("time", "f8", ("time",))
        air = nc.createVariable("air", "f4", ("time", "lat", "lon"), fill_value=-999.0)
        air.scale_factor = 0.5
        sh = nc.createVariable("sh", "i2", ("time", "lat"))  # a second record variable (interleaved)
        sh.missing_value = np.int16(-1)
        topo = nc.createVariable("topo", "i4", ("lat", "lon"))  # fixed-size: one contiguous chunk
        t[:] = np.arange(15)
        vals = rng.normal(280, 10, size=(15, 9, 12)).astype("f4")
        vals[3, 2, 5] = -999.0
        air[:] = vals
        shv = rng.integers(-1, 100, size=(15, 9)).astype("i2")
        sh[:] = shv
        topo[:] = np.arange(9 * 12).reshape(9, 12)


def make_nc4(path):
    rng = np.random.default_rng(2)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("time", 15)
        nc.createDimension("lat", 9)
        nc.createDimension("lon", 12)
        air = nc.createVariable("air", "f4", ("time", "lat", "lon"), zlib=True, shuffle=True, complevel=4,
                                chunksizes=(4, 5, 6), fill_value=-999.0)
        air.scale_factor = 0.5
        cont = nc.createVariable("cont", "i8", ("time", "lat"), contiguous=True)
        air[:] = rng.normal(280, 10, size=(15, 9, 12)).astype("f4")
        air[0:4, 0:5, 0:6] = -999.0  # one chunk all fill
        cont[:] = rng.integers(0, 1000, size=(15, 9))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("planfiles")
    nc3, nc4 = str(d / "a3.nc"), str(d / "a4.nc")
    make_nc3(nc3)
    make_nc4(nc4)
    return d, nc3, nc4


_RAW: dict = {}


def xr_isel(path, var, key):
    """xarray's isel on the original file (raw stored values), loaded once per file."""
    if path not in _RAW:
        with xr.open_dataset(path, decode_cf=False, mask_and_scale=False, decode_times=False) as ds:
            _RAW[path] = ds.load()
    da = _RAW[path][var]
    isel = {}
    for dim, k, n in zip(da.dims, key, da.shape):
        if isinstance(k, slice) and (k.step or 1) < 0:
            k = np.arange(n)[k]  # xarray fails on some empty negative-step slices
        isel[dim] = k
    return da.isel(isel).values


@pytest.mark.parametrize("which", ["nc3", "nc4"])
@pytest.mark.parametrize("var,sel", [
    ("air", (slice(0, 10), slice(5, 20), 3)),
    ("air", (slice(None, None, -2), [0, 8, 3], slice(2, 11, 3))),
    ("air", (4, 4, 4)),
    ("air", (slice(None), 2, 7)),
])
def test_execute_matches_xarray(files, which, var, sel):
    d, nc3, nc4 = files
    path = nc3 if which == "nc3" else nc4
    ds = vz.scan_file(path)
    p = plan(ds, sel, variable=var)
    got = p.execute()
    exp = xr_isel(path, var, sel)
    np.testing.assert_array_equal(got, exp)
    assert p.last_stats.bytes_read == p.bytes_to_read


def test_nc3_record_and_fixed_variables(files):
    d, nc3, _ = files
    ds = vz.scan_file(nc3)
    for var, sel in [("sh", (slice(2, 9), slice(None, None, 2))), ("topo", (slice(1, 8), -1)), ("time", (slice(3, 11),))]:
        p = plan(ds, sel, variable=var)
        np.testing.assert_array_equal(p.execute(), xr_isel(nc3, var, sel))


def test_same_selection_bytes_nc3_vs_nc4(files):
    """The tutorial's point: uncompressed data reads only the needed spans;
    compressed data reads exactly the touched chunks."""
    d, nc3, nc4 = files
    p3 = vz.scan_file(nc3).plan("air[0:10, 2:7, 3]")
    p4 = vz.scan_file(nc4).plan("air[0:10, 2:7, 3]")
    assert p3.bytes_needed == p4.bytes_needed == 10 * 5 * 4
    assert p3.bytes_to_read <= 1.1 * p3.bytes_needed
    assert p4.n_chunks == 3 * 2  # time chunks 0-3,4-7,8-11 x lat chunks 0-4,5-8 x lon chunk 0-5
    assert p4.bytes_to_read == p4.chunk_bytes
    key = (slice(0, 10), slice(2, 7), 3)
    np.testing.assert_array_equal(p3.execute(), xr_isel(nc3, "air", key))
    np.testing.assert_array_equal(p4.execute(), xr_isel(nc4, "air", key))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_random_selections_match_xarray(files, data):
    d, nc3, nc4 = files
    which = data.draw(st.sampled_from(["nc3", "nc4"]))
    path = nc3 if which == "nc3" else nc4
    ds = _scanned(path)
    var = "air"
    key = tuple(data.draw(dim_key(n)) for n in ds[var].shape)
    p = plan(ds, key, variable=var)
    np.testing.assert_array_equal(p.execute(), xr_isel(path, var, key))


_SCANS: dict = {}


def _scanned(path):
    if path not in _SCANS:
        _SCANS[path] = vz.scan_file(path)
    return _SCANS[path]


def test_reduction_matches_xarray_decoded(files):
    d, nc3, nc4 = files
    for path in (nc3, nc4):
        ds = vz.scan_file(path)
        p = ds.plan("air[2:13, 1:8, :]")
        with xr.open_dataset(path) as x:  # CF decoding: _FillValue masked, scale_factor applied
            sel = x["air"].isel(time=slice(2, 13), lat=slice(1, 8))
            np.testing.assert_allclose(np.asarray(p.reduce("mean", axis=(0, 2))), sel.mean(("time", "lon")).values,
                                       rtol=1e-6)
            assert float(p.reduce("max")) == pytest.approx(float(sel.max()), rel=1e-6)
            assert int(p.reduce("count")) == int(sel.count())
            np.testing.assert_allclose(np.asarray(p.reduce("sum", axis="time")), sel.sum("time").values, rtol=1e-5)


# ---------------------------------------------------------------------------
# HTTP with Range requests (the loopback server of tests/_writer_data.py)


@pytest.fixture
def http_root(tmp_path):
    with serve_folder(tmp_path) as (base, handler):
        yield tmp_path, base, handler


def _rebase(ds, old_dir, base):
    """Point every manifest at URLs under ``base`` instead of local paths."""
    out = ds
    for _name, v in ds.variables.items():
        m = v.manifest
        paths = tuple(base + "/" + os.path.relpath(p, old_dir) for p in m.paths)
        m2 = type(m)(paths, m.path_id, m.offset, m.length, m.inline)
        out = out.with_variable(v.replace(manifest=m2))
    return out


@pytest.mark.parametrize("which", ["nc3", "nc4"])
def test_execute_over_http(files, http_root, which):
    d, nc3, nc4 = files
    root, base, handler = http_root
    src = nc3 if which == "nc3" else nc4
    shutil.copy(src, root / os.path.basename(src))
    ds = _rebase(vz.scan_file(str(root / os.path.basename(src))), str(root), base)
    assert ds["air"].manifest.paths[0].startswith("http://127.0.0.1")
    sel = (slice(1, 12, 2), slice(2, 8), 5)
    p = plan(ds, sel, variable="air")
    handler.requests.clear()
    got = p.execute()
    np.testing.assert_array_equal(got, xr_isel(src, "air", sel))
    ranged = [x for x in handler.requests if x[1]]
    assert len(ranged) == p.n_requests == p.last_stats.n_requests
    assert sum(x[2] for x in ranged) == p.bytes_to_read
    # a reduction over HTTP agrees with the local one
    local = plan(vz.scan_file(src), sel, variable="air")
    assert float(p.reduce("mean")) == pytest.approx(float(local.reduce("mean")))


def test_missing_remote_file_is_a_clear_error(files, http_root):
    d, nc3, _ = files
    root, base, handler = http_root
    ds = _rebase(vz.scan_file(nc3), os.path.dirname(nc3), base)  # files not copied: 404
    with pytest.raises(vz.VZError) as ei:
        ds.plan("air[0:2]").execute()
    assert "\n" not in str(ei.value)


def test_plan_on_reference_file(files, tmp_path):
    pytest.importorskip("vz_jupyter.core.scan.refs")
    d, _, nc4 = files
    refs = str(tmp_path / "refs.json")
    vz.write(vz.scan_file(nc4), refs)
    p = plan(refs, "air[3:9, ::2, -1]")
    np.testing.assert_array_equal(p.execute(), xr_isel(nc4, "air", (slice(3, 9), slice(None, None, 2), -1)))


# ---------------------------------------------------------------------------
# real sample files (second opinion)


@pytest.mark.parametrize("path", [p for p in REAL_FILES if p.suffix == ".nc"], ids=lambda p: p.name)
def test_real_files_match_xarray(path):
    ds = vz.scan_file(str(path))
    with xr.open_dataset(path, decode_cf=False, mask_and_scale=False, decode_times=False) as x:
        for name, var in ds.variables.items():
            if var.dtype.kind not in "iuf" or name not in x.variables:
                continue
            key = tuple(slice(None, None, 2) if i == 0 else slice(n // 3, None) for i, n in enumerate(var.shape))
            got = plan(ds, key, variable=name).execute()
            exp = x[name].isel({dm: k for dm, k in zip(x[name].dims, key)}).values
            np.testing.assert_array_equal(got, exp.astype(got.dtype) if exp.dtype != got.dtype else exp)
