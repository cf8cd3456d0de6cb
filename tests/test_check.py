"""vz.check: every finding on generated NetCDF4 files, with its severity and the
file(s) it names; the Report API and its displays."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.check import Finding, Report

netCDF4 = pytest.importorskip("netCDF4")
cftime = pytest.importorskip("cftime")

LAT = np.linspace(-30, 30, 10)
LON = np.linspace(0, 337.5, 16)


def make_nc(
    path,
    t0: float,
    n: int = 4,
    *,
    units: str | None = None,
    calendar: str = "standard",
    step: float = 1.0,
    dtype: str = "f4",
    scale=None,
    offset=None,
    fill=None,
    chunks=None,
    complevel: int | None = 4,
    lat=None,
    lon=None,
    time_chunk: int | None = None,
    extra_vars: tuple[str, ...] = (),
    static: np.ndarray | None = None,
    gattrs: dict | None = None,
    air_attrs: dict | None = None,
    fmt: str = "NETCDF4",
    var: str = "air",
):
    """One archive file: hourly ``time`` (``n`` steps from ``t0`` hours after
    2000-01-01, stored in ``units``), ``lat``/``lon`` and ``air(time, lat, lon)``
    with the given packing, fill, dtype, chunking and compression."""
    lat = LAT if lat is None else np.asarray(lat)
    lon = LON if lon is None else np.asarray(lon)
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", len(lat))
        ds.createDimension("lon", len(lon))
        nc4 = fmt.startswith("NETCDF4")
        tkw = {"chunksizes": (time_chunk or max(n, 1),)} if nc4 else {}
        t = ds.createVariable("time", "f8", ("time",), **tkw)
        hours = t0 + step * np.arange(n)
        t.units = units or "hours since 2000-01-01 00:00:00"
        t.calendar = calendar
        dates = cftime.num2date(hours, "hours since 2000-01-01 00:00:00", calendar)
        t[:] = cftime.date2num(dates, t.units, calendar)
        la = ds.createVariable("lat", "f4", ("lat",))
        la[:] = lat
        la.units = "degrees_north"
        lo = ds.createVariable("lon", "f4", ("lon",))
        lo[:] = lon
        lo.units = "degrees_east"
        kw = {}
        if nc4:
            kw = dict(zlib=complevel is not None, complevel=complevel or 0,
                      chunksizes=chunks or (1, len(lat), len(lon)))
        if fill is not None:
            kw["fill_value"] = fill
        a = ds.createVariable(var, dtype, ("time", "lat", "lon"), **kw)
        if scale is not None:
            a.scale_factor = scale
        if offset is not None:
            a.add_offset = offset
        a.units = "K"
        for k, v in (air_attrs or {}).items():
            setattr(a, k, v)
        rng = np.random.default_rng(int(abs(t0) * 7 + n))
        vals = np.round(250 + 30 * rng.random((n, len(lat), len(lon))), 2)
        if n:
            a[:] = vals
        for name in extra_vars:
            v = ds.createVariable(name, "f4", ("time", "lat", "lon"), **kw)
            if n:
                v[:] = vals / 10
        if static is not None:
            s = ds.createVariable("orog", "f4", ("lat", "lon"))
            s[:] = static
        ds.title = "synthetic archive"
        for k, v in (gattrs or {}).items():
            setattr(ds, k, v)
    return str(path)


def archive(tmp_path, n_files=4, n=4, per_file=None, **common):
    """``n_files`` consecutive files; ``per_file`` maps file index -> overrides."""
    files = []
    for k in range(n_files):
        kw = dict(common)
        kw.update((per_file or {}).get(k, {}))
        files.append(make_nc(tmp_path / f"air_{k:02d}.nc", kw.pop("t0", k * n), kw.pop("n", n), **kw))
    return files


def findings(report: Report, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def only(report: Report, code: str) -> Finding:
    fs = findings(report, code)
    assert len(fs) == 1, (code, report)
    return fs[0]


def names(f: Finding) -> set[str]:
    return {os.path.basename(p) for p in f.files}


# ----------------------------------------------------------------------------- clean

def test_clean_archive_passes(tmp_path):
    files = archive(tmp_path)
    rep = vz.check(vz.scan(files), "time")
    assert not rep.has_errors and not rep.warnings, rep
    assert rep.errors == ()
    assert rep.summary_line().startswith("check passed for concat of 4 files along 'time'")


# ----------------------------------------------------------------------------- findings

def test_dtype_differs(tmp_path):
    files = archive(tmp_path, per_file={2: {"dtype": "f8"}})
    f = only(vz.check(vz.scan(files), "time"), "dtype")
    assert f.severity == "error" and f.variable == "air"
    assert names(f) == {"air_02.nc"}
    assert "float64" in f.message and "float32" in f.message


def test_codec_pipeline_differs(tmp_path):
    files = archive(tmp_path, per_file={1: {"complevel": None}})
    f = only(vz.check(vz.scan(files), "time"), "codecs")
    assert f.severity == "error" and f.variable == "air"
    assert names(f) == {"air_01.nc"}
    assert f.fix


def test_compression_level_only_is_info_and_concat_reads_right(tmp_path):
    files = archive(tmp_path, per_file={3: {"complevel": 9}})
    rep = vz.check(vz.scan(files), "time")
    f = only(rep, "codec-level")
    assert f.severity == "info" and names(f) == {"air_03.nc"}
    assert not rep.has_errors
    xr = pytest.importorskip("xarray")
    out = vz.write(vz.concat(vz.scan(files), "time"), tmp_path / "c.json")
    with vz.open(out) as a, xr.open_mfdataset(files, combine="nested", concat_dim="time") as b:
        np.testing.assert_array_equal(a.air.values, b.air.values)


def test_chunk_shape_differs(tmp_path):
    files = archive(tmp_path, per_file={2: {"chunks": (1, 10, 4)}})
    f = only(vz.check(vz.scan(files), "time"), "chunks")
    assert f.severity == "error" and names(f) == {"air_02.nc"}


def test_partial_last_chunk_along_dim(tmp_path):
    # 3 steps per file, chunked by 2: files 0 and 1 end in a partial chunk; the last may
    files = archive(tmp_path, n_files=3, n=3, chunks=(2, 10, 16))
    f = only(vz.check(vz.scan(files), "time"), "partial-chunk")
    assert f.severity == "error" and f.variable == "air"
    assert names(f) == {"air_00.nc", "air_01.nc"}
    assert "would work: 1, 3" in f.fix


def test_partial_chunk_only_in_last_file_is_fine(tmp_path):
    files = archive(tmp_path, n_files=3, n=4, chunks=(2, 10, 16), per_file={2: {"n": 3}})
    rep = vz.check(vz.scan(files), "time")
    assert not findings(rep, "partial-chunk") and not rep.has_errors, rep


def test_fill_value_differs(tmp_path):
    files = archive(tmp_path, fill=-999.0, per_file={1: {"fill": -1.0}})
    rep = vz.check(vz.scan(files), "time")
    fs = [f for f in findings(rep, "fill-value") if "_FillValue" in f.message]
    assert len(fs) == 1
    assert fs[0].severity == "error" and names(fs[0]) == {"air_01.nc"}


@pytest.mark.parametrize("attr", ["scale_factor", "add_offset"])
def test_scale_offset_differs(tmp_path, attr):
    common = {"dtype": "i2", "scale": 0.01, "offset": 200.0}
    odd = {"scale": 0.02} if attr == "scale_factor" else {"offset": 100.0}
    files = archive(tmp_path, per_file={2: odd}, **common)
    rep = vz.check(vz.scan(files), "time")
    f = only(rep, "scale-offset")
    assert f.severity == "error" and attr in f.message
    assert names(f) == {"air_02.nc"}
    assert "air_02.nc" in f.fix


def test_time_units_differ_is_fixable_warning(tmp_path):
    files = archive(tmp_path, per_file={1: {"units": "hours since 2000-01-01 04:00:00"},
                                       3: {"units": "days since 2000-01-01"}})
    rep = vz.check(vz.scan(files), "time")
    f = only(rep, "time-units")
    assert f.severity == "warning" and f.variable == "time"
    assert names(f) == {"air_01.nc", "air_03.nc"}
    assert "fix_time" in f.fix
    strict = vz.check(vz.scan(files), "time", fix_time=False)
    f2 = only(strict, "time-units")
    assert f2.severity == "error" and names(f2) == {"air_01.nc", "air_03.nc"}


def test_calendar_differs(tmp_path):
    files = archive(tmp_path, per_file={2: {"calendar": "noleap"}})
    f = only(vz.check(vz.scan(files), "time"), "calendar")
    assert f.severity == "error" and names(f) == {"air_02.nc"}


def test_calendar_aliases_are_equal(tmp_path):
    files = archive(tmp_path, per_file={2: {"calendar": "gregorian"}})
    assert not findings(vz.check(vz.scan(files), "time"), "calendar")


def test_non_concat_dim_size_differs(tmp_path):
    files = archive(tmp_path, per_file={1: {"lat": np.linspace(-30, 30, 11), "chunks": (1, 11, 16)}})
    rep = vz.check(vz.scan(files), "time")
    f = [x for x in findings(rep, "dim-size") if x.variable == "air"][0]
    assert f.severity == "error" and names(f) == {"air_01.nc"}


def test_coordinate_values_differ(tmp_path):
    files = archive(tmp_path, per_file={3: {"lon": LON + 1.0}})
    f = only(vz.check(vz.scan(files), "time"), "coord-values")
    assert f.severity == "error" and f.variable == "lon" and names(f) == {"air_03.nc"}


def test_coordinate_values_differ_when_not_inlined(tmp_path):
    # inline_threshold=0: lon is referenced, so check reads it (one read per file)
    files = archive(tmp_path, per_file={0: {"lon": LON + 0.5}})
    rep = vz.check(vz.scan(files, inline_threshold=0), "time")
    f = only(rep, "coord-values")
    # the odd file is the minority, named even though it is the first
    assert f.severity == "error" and names(f) == {"air_00.nc"}


def test_static_variable_differs_is_warning(tmp_path):
    s = np.ones((10, 16), dtype="f4")
    files = archive(tmp_path, static=s, per_file={2: {"static": s * 2}})
    f = only(vz.check(vz.scan(files), "time"), "values-differ")
    assert f.severity == "warning" and f.variable == "orog" and names(f) == {"air_02.nc"}


def test_gap_along_dim(tmp_path):
    files = archive(tmp_path, per_file={2: {"t0": 20}, 3: {"t0": 24}})
    f = only(vz.check(vz.scan(files), "time"), "gap")
    assert f.severity == "warning" and names(f) == {"air_02.nc"}
    assert "13 hours" in f.message  # 7 -> 20


def test_overlap_along_dim(tmp_path):
    files = archive(tmp_path, per_file={2: {"t0": 6}, 3: {"t0": 10}})
    f = only(vz.check(vz.scan(files), "time"), "overlap")
    assert f.severity == "error" and names(f) == {"air_02.nc"}


def test_duplicate_along_dim(tmp_path):
    files = archive(tmp_path, n_files=3)
    files.append(make_nc(tmp_path / "copy.nc", 4, 4))
    f = only(vz.check(vz.scan(files), "time"), "duplicate")
    assert f.severity == "error" and names(f) == {"copy.nc"}


def test_out_of_order(tmp_path):
    files = archive(tmp_path)
    files = [files[0], files[2], files[1], files[3]]
    f = only(vz.check(vz.scan(files), "time"), "order")
    assert f.severity == "error" and names(f) == {"air_01.nc"}
    assert "vz.sort" in f.fix


def test_variable_in_some_files_only(tmp_path):
    files = archive(tmp_path, extra_vars=("rh",), per_file={1: {"extra_vars": ()}})
    f = only(vz.check(vz.scan(files), "time"), "missing-variable")
    assert f.severity == "error" and f.variable == "rh" and names(f) == {"air_01.nc"}
    assert "drop_variables" in f.fix
    # leaving it out makes the combine possible
    combined = vz.concat(vz.scan(files), "time", drop_variables=["rh"])
    assert "rh" not in combined.variables and combined["air"].shape == (16, 10, 16)


def test_static_variable_in_some_files_only_is_warning(tmp_path):
    files = archive(tmp_path, static=np.ones((10, 16), "f4"), per_file={0: {"static": None}})
    f = only(vz.check(vz.scan(files), "time"), "missing-variable")
    assert f.severity == "warning" and f.variable == "orog" and names(f) == {"air_00.nc"}


def test_attribute_drift_is_info(tmp_path):
    files = archive(tmp_path, per_file={1: {"gattrs": {"history": "regridded"}},
                                       2: {"air_attrs": {"long_name": "air temperature (v2)"}}})
    rep = vz.check(vz.scan(files), "time")
    fs = findings(rep, "attrs")
    assert {f.severity for f in fs} == {"info"}
    glob = [f for f in fs if f.variable is None][0]
    var = [f for f in fs if f.variable == "air"][0]
    assert names(glob) == {"air_01.nc"} and "history" in glob.message
    assert names(var) == {"air_02.nc"} and "long_name" in var.message
    assert not rep.has_errors


def test_missing_dim(tmp_path):
    files = archive(tmp_path, n_files=2)
    rep = vz.check(vz.scan(files), "member")
    f = only(rep, "no-dim")
    assert f.severity == "error" and names(f) == {"air_00.nc", "air_01.nc"}
    assert "vz.stack" in f.fix


def test_many_problems_one_pass(tmp_path):
    files = archive(tmp_path, n_files=5, dtype="i2", scale=0.01, offset=200.0, per_file={
        1: {"units": "hours since 2000-01-01 04:00"},
        2: {"scale": 0.02},
        3: {"dtype": "i4"},
        4: {"t0": 40},
    })
    rep = vz.check(vz.scan(files), "time")
    assert {"time-units", "scale-offset", "dtype", "gap"} <= rep.codes
    assert {os.path.basename(p) for f in rep.errors for p in f.files} == {"air_02.nc", "air_03.nc"}


# ----------------------------------------------------------------------------- stack / merge kinds

def test_stack_check_coordinates_must_agree(tmp_path):
    a = make_nc(tmp_path / "m0.nc", 0)
    b = make_nc(tmp_path / "m1.nc", 0, lat=LAT + 1)
    rep = vz.check(vz.scan([a, b]), "member", kind="stack")
    f = only(rep, "coord-values")
    assert f.severity == "error" and f.variable == "lat" and names(f) == {"m1.nc"}
    rep2 = vz.check(vz.scan([a, b]), "time", kind="stack")
    assert "dim-exists" in rep2.codes


def test_stack_time_in_other_units_is_same_time(tmp_path):
    a = make_nc(tmp_path / "m0.nc", 0)
    b = make_nc(tmp_path / "m1.nc", 0, units="minutes since 2000-01-01")
    c = make_nc(tmp_path / "m2.nc", 1)
    rep = vz.check(vz.scan([a, b, c]), "member", kind="stack")
    f = only(rep, "coord-values")
    assert f.variable == "time" and names(f) == {"m2.nc"}


def test_merge_check_conflicts(tmp_path):
    a = make_nc(tmp_path / "a.nc", 0, n=4)
    b = make_nc(tmp_path / "b.nc", 0, n=5)
    rep = vz.check(vz.scan([a, b]), kind="merge")
    assert rep.has_errors
    f = [x for x in findings(rep, "dim-size") if "time" in x.message][0]
    assert names(f) == {"b.nc"}
    c = make_nc(tmp_path / "c.nc", 0, n=4)
    rep2 = vz.check(vz.scan([a, c]), kind="merge")
    f2 = only(rep2, "conflict")
    assert f2.variable == "air" and names(f2) == {"c.nc"}


# ----------------------------------------------------------------------------- Report API

def test_report_api_and_displays(tmp_path):
    files = archive(tmp_path, n_files=3, dtype="i2", scale=0.01, per_file={1: {"scale": 0.5}})
    evil = make_nc(tmp_path / "a<b>&'x.nc", 12, gattrs={"history": "<script>alert(1)</script>"})
    rep = vz.check(vz.scan(files + [evil]), "time")
    assert rep.has_errors and not rep.ok
    assert len(rep.errors) >= 1 and all(f.severity == "error" for f in rep.errors)
    line = rep.summary_line()
    assert "\n" not in line and line.startswith("check failed") and "scale-offset" in line
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["counts"]["error"] == len(rep.errors) and d["has_errors"] is True
    assert rep.for_file("air_01.nc")
    text = repr(rep)
    assert "Errors" in text and "air_01.nc" in text and "Fix:" not in text and "fix:" in text
    html = rep._repr_html_()
    assert "<script>" not in html and "a<b>" not in html
    assert "a&lt;b&gt;&amp;&#x27;x.nc" in html
    assert 'data-code="scale-offset"' in html and 'data-severity="error"' in html
    assert html.count('class="vz-text-repr-fallback"') == 1
    assert len(html) < 200_000
    err = pytest.raises(vz.CheckFailed, vz.concat, vz.scan(files), "time").value
    assert err.report.has_errors and str(err) == err.report.summary_line()


def test_finding_validates_severity():
    with pytest.raises(ValueError):
        Finding("fatal", "x", "y")


def test_report_caps_long_lists():
    fs = [Finding("warning", "gap", f"gap {i}", "time", tuple(f"/d/f{j}.nc" for j in range(40))) for i in range(80)]
    rep = Report(fs, dim="time", kind="concat", files=[f"/d/f{j}.nc" for j in range(300)])
    html = rep._repr_html_()
    assert "+30 more warnings" in html and "+28 more files" in html and "+100 more files" in html
    assert "+30 more warnings" in repr(rep)


def test_real_file_twice_is_a_duplicate(real_data):
    path = real_data / "air.nc"
    if not path.exists():
        pytest.skip("air.nc not in the real sample files")
    dsets = vz.scan([path, path])
    rep = vz.check(dsets, "time")
    f = only(rep, "duplicate")
    assert f.severity == "error" and f.files == (str(path),)
    with pytest.raises(vz.CheckFailed, match="duplicate"):
        vz.concat(dsets, "time")


def test_storage_fill_differs(tmp_path):
    """The storage fill (what unwritten chunks read as) differs but no _FillValue:
    a warning while every chunk is written, an error once the odd file has holes."""
    from vz_jupyter.core.model import MISSING, Manifest

    files = archive(tmp_path, n_files=3)
    dsets = list(vz.scan(files))
    air = dsets[1]["air"]
    dsets[1] = dsets[1].with_variable(air.replace(fill_value=-1.0))
    f = [x for x in findings(vz.check(dsets, "time"), "fill-value") if "storage" in x.message][0]
    assert f.severity == "warning" and names(f) == {"air_01.nc"}
    m = air.manifest
    pid = m.path_id.copy()
    pid[0] = MISSING
    holed = Manifest(m.paths, pid, m.offset, m.length, m.inline)
    dsets[1] = dsets[1].with_variable(air.replace(fill_value=-1.0, manifest=holed))
    f = [x for x in findings(vz.check(dsets, "time"), "fill-value") if "storage" in x.message][0]
    assert f.severity == "error" and names(f) == {"air_01.nc"} and "unwritten" in f.message
