"""vz.sort: by CF-decoded coordinate values, filename pattern, attribute, explicit
order; and the value-reading helper it relies on."""
from __future__ import annotations

import os

import numpy as np
import pytest
from test_check import archive

import vz_jupyter as vz
from vz_jupyter.core.cf import convert_time, decode_to_seconds, inline_values_var
from vz_jupyter.core.model import Manifest, Source, VArray, VDataset
from vz_jupyter.core.values import read_values


def base(dsets):
    return [os.path.basename(d.sources[0].path) for d in dsets]


def time_ds(path: str, values, units: str, calendar: str = "standard", **attrs) -> VDataset:
    """A dataset built from model objects: an inlined time coordinate only."""
    vals = np.asarray(values, dtype="<f8")
    proto = VArray("time", ("time",), vals.shape, vals.dtype, vals.shape, (), None, {}, Manifest.empty((1,)))
    var = inline_values_var(proto, vals, attrs={"units": units, "calendar": calendar})
    return VDataset({"time": var}, attrs=attrs, coords=("time",), sources=(Source(path),))


def test_sort_by_time_with_per_file_units_model_objects():
    # each file counts hours from its own start: raw values are all 0..3
    a = time_ds("/d/a.nc", [0, 1, 2], "hours since 2000-01-03 00:00")
    b = time_ds("/d/b.nc", [0, 1, 2], "hours since 2000-01-01 00:00")
    c = time_ds("/d/c.nc", [0, 24, 48], "minutes since 2000-01-02 00:00")
    d = time_ds("/d/d.nc", [0.5], "days since 1999-12-31")
    out = vz.sort([a, b, c, d], by="time")
    assert base(out) == ["d.nc", "b.nc", "c.nc", "a.nc"]
    assert isinstance(out, vz.VDatasetList)
    assert base(vz.sort([a, b, c, d], dim="time", reverse=True)) == ["a.nc", "c.nc", "b.nc", "d.nc"]


def test_sort_by_time_generated_files(tmp_path):
    files = archive(tmp_path, n_files=4, per_file={k: {"units": f"hours since 2000-01-01 {4 * k:02d}:00"} for k in range(4)})
    shuffled = vz.scan([files[2], files[0], files[3], files[1]])
    assert [d.sources[0].path for d in vz.sort(shuffled, by="time")] == files


def test_sort_reads_time_not_inlined(tmp_path):
    files = archive(tmp_path, n_files=3, per_file={0: {"t0": 50}, 2: {"t0": -10}})
    dsets = vz.scan(files, inline_threshold=0)
    assert dsets[0]["time"].manifest.n_inline == 0
    assert base(vz.sort(dsets, by="time")) == ["air_02.nc", "air_01.nc", "air_00.nc"]


def test_sort_calendars_differ_raises():
    a = time_ds("/d/a.nc", [0], "days since 2000-01-01", "noleap")
    b = time_ds("/d/b.nc", [0], "days since 2000-01-02", "360_day")
    with pytest.raises(vz.VZError, match="calendars"):
        vz.sort([a, b], by="time")


def test_sort_non_standard_calendar():
    a = time_ds("/d/a.nc", [0], "days since 2000-03-01", "360_day")
    b = time_ds("/d/b.nc", [59], "days since 2000-01-01", "360_day")  # 2000-02-30 in 360_day
    assert base(vz.sort([a, b], by="time")) == ["b.nc", "a.nc"]


def test_sort_by_pattern_numbers_and_dates():
    ds = [time_ds(f"/d/x_{s}.nc", [0], "days since 2000-01-01") for s in ("20200110", "20191231", "20200102")]
    assert base(vz.sort(ds, pattern=r"_(\d{8})\.nc")) == ["x_20191231.nc", "x_20200102.nc", "x_20200110.nc"]
    runs = [time_ds(f"/d/run{k}.nc", [0], "days since 2000-01-01") for k in (10, 9, 100)]
    # numbers compare as numbers, not text
    assert base(vz.sort(runs, pattern=r"run(\d+)")) == ["run9.nc", "run10.nc", "run100.nc"]
    with pytest.raises(vz.VZError, match="does not match"):
        vz.sort(runs, pattern=r"member(\d+)")


def test_sort_by_attr_and_explicit_order():
    ds = [time_ds(f"/d/{n}.nc", [0], "days since 2000-01-01", start=s) for n, s in (("a", 3), ("b", 1), ("c", 2))]
    assert base(vz.sort(ds, attr="start")) == ["b.nc", "c.nc", "a.nc"]
    assert base(vz.sort(ds, order=[2, 0, 1])) == ["c.nc", "a.nc", "b.nc"]
    assert base(vz.sort(ds, order=["b.nc", "/d/c.nc", "a.nc"])) == ["b.nc", "c.nc", "a.nc"]
    assert base(vz.sort(ds, by="path")) == ["a.nc", "b.nc", "c.nc"]
    with pytest.raises(vz.VZError, match="permutation"):
        vz.sort(ds, order=[0, 0, 1])
    with pytest.raises(vz.VZError, match="not one of"):
        vz.sort(ds, order=["a.nc", "b.nc", "z.nc"])
    with pytest.raises(vz.VZError, match="no global attribute"):
        vz.sort(ds, attr="nope")
    with pytest.raises(vz.VZError, match="one way"):
        vz.sort(ds, by="time", pattern="x")
    with pytest.raises(vz.VZError, match="nothing to sort"):
        vz.sort(ds)


def test_sort_duplicates_strict_and_reported():
    a = time_ds("/d/a.nc", [0, 1], "hours since 2000-01-01")
    b = time_ds("/d/b.nc", [60, 61], "minutes since 2000-01-01")  # same start as a? no: 1h
    c = time_ds("/d/c.nc", [0, 60], "minutes since 2000-01-01")  # same times as a
    out = vz.sort([a, b, c], by="time")
    assert base(out) == ["a.nc", "c.nc", "b.nc"]  # stable for equal keys
    with pytest.raises(vz.VZError, match="same sort key"):
        vz.sort([a, b, c], by="time", strict=True)
    rep = vz.check(out, "time")
    dup = [f for f in rep.findings if f.code == "duplicate"]
    assert dup and dup[0].severity == "error" and [os.path.basename(p) for p in dup[0].files] == ["c.nc"]
    assert any(f.code == "overlap" for f in rep.errors)


def test_convert_and_decode_time():
    v = convert_time(np.array([0.0, 1.0]), "days since 2000-01-02", "standard", "hours since 2000-01-01")
    np.testing.assert_allclose(v, [24.0, 48.0])
    sec, cal = decode_to_seconds(np.array([0.0]), {"units": "hours since 1970-01-01 01:00", "calendar": "gregorian"})
    assert cal == "standard" and sec[0] == 3600.0
    plain, cal2 = decode_to_seconds(np.array([3, 1]), {"units": "m"})
    assert cal2 is None and list(plain) == [3.0, 1.0]
    with pytest.raises(vz.VZError):
        convert_time(np.array([0.0]), "fortnights since 2000-01-01", "standard", "hours since 2000-01-01")


def test_read_values_decodes_codecs_and_edge_chunks(tmp_path):
    # a chunked, compressed, shuffled 1-D variable with a partial last chunk
    import netCDF4

    p = tmp_path / "v.nc"
    vals = np.arange(37, dtype="f8") * 1.5
    with netCDF4.Dataset(p, "w") as ds:
        ds.createDimension("x", 37)
        v = ds.createVariable("x", "f8", ("x",), zlib=True, shuffle=True, chunksizes=(10,))
        v[:] = vals
    var = vz.scan(p, inline_threshold=0)[0]["x"]
    assert var.manifest.n_inline == 0 and var.grid == (4,)
    np.testing.assert_array_equal(read_values(var), vals)
    with pytest.raises(vz.VZError, match="too large"):
        read_values(var, max_bytes=8)
