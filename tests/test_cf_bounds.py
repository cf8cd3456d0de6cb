"""CF across files: variables that inherit ``time``'s units (``bounds``,
``climatology``) and other "<unit> since <date>" variables are re-encoded when
the units differ per file, and check names them; the result read by plain
xarray equals ``xr.open_mfdataset`` of the originals."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import vz_jupyter as vz

netCDF4 = pytest.importorskip("netCDF4")


def _file(path, start_day: int, units_day: str, n: int = 3, with_valid: bool = True):
    """Daily data; time in 'hours since <units_day>'; time_bnds without units;
    a climatology variable; valid_time (its own time units, per file)."""
    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("time", None)
        d.createDimension("nv", 2)
        d.createDimension("x", 2)
        base = np.datetime64(units_day)
        days = np.arange(start_day, start_day + n)
        hours = (np.datetime64("2000-01-01") + days.astype("timedelta64[D]") - base) / np.timedelta64(1, "h")
        t = d.createVariable("time", "f8", ("time",))
        t.units = f"hours since {units_day}"
        t.calendar = "standard"
        t.bounds = "time_bnds"
        t.climatology = "clim_bnds"
        t[:] = hours
        b = d.createVariable("time_bnds", "f8", ("time", "nv"))
        b[:] = np.stack([hours - 12, hours + 12], axis=1)
        c = d.createVariable("clim_bnds", "f8", ("time", "nv"))
        c[:] = np.stack([hours - 24, hours], axis=1)
        if with_valid:
            v = d.createVariable("valid_time", "i4", ("time",))
            v.units = f"days since {units_day}"
            v[:] = (np.datetime64("2000-01-01") + days.astype("timedelta64[D]") - base) // np.timedelta64(1, "D") + 1
        a = d.createVariable("air", "f4", ("time", "x"))
        a[:] = np.arange(n * 2).reshape(n, 2) + start_day
    return str(path)


@pytest.fixture
def files(tmp_path):
    return [
        _file(tmp_path / "a.nc", 0, "2000-01-01"),
        _file(tmp_path / "b.nc", 3, "2000-01-04"),  # other units: raw offsets restart at 0
        _file(tmp_path / "c.nc", 6, "1999-12-01"),
    ]


def test_check_names_inherited_units(files):
    rep = vz.check(vz.scan(files), dim="time")
    by_var = {f.variable: f for f in rep.findings if f.code == "time-units"}
    assert {"time", "time_bnds", "clim_bnds", "valid_time"} <= set(by_var)
    f = by_var["time_bnds"]
    assert f.severity == "warning" and "inherits" in f.message and "re-encoded" in f.fix
    assert {p.rsplit("/", 1)[-1] for p in f.files} == {"b.nc", "c.nc"}
    rep2 = vz.check(vz.scan(files), dim="time", fix_time=False)
    assert any(f.variable == "time_bnds" and f.severity == "error" for f in rep2.findings)


@pytest.mark.parametrize("fmt", ["r.json", "r.parquet"])
def test_bounds_read_right_after_concat(files, tmp_path, fmt):
    out = vz.write(vz.concat(vz.scan(files), "time"), tmp_path / fmt)
    from _plain import read_plain

    dest = str(tmp_path / "vals")
    got = read_plain([{"ref": str(out), "kind": fmt.split(".")[1] if fmt.endswith("parquet") else "json",
                       "decode": True, "dest": dest}])[dest]
    vals = {k: np.load(v["file"], allow_pickle=True) for k, v in got.items() if "file" in v}
    with xr.open_mfdataset(files, combine="nested", concat_dim="time", data_vars="all") as exp:
        for name in ("time", "time_bnds", "valid_time", "air"):
            np.testing.assert_array_equal(vals[name], exp[name].values, err_msg=name)
    # xarray decodes bounds but not climatology variables (open_mfdataset keeps each
    # file's raw offsets there): ours are in the first file's units throughout
    h = 24.0 * np.arange(9)
    np.testing.assert_array_equal(vals["clim_bnds"], np.stack([h - 24, h], axis=1))


def test_bounds_keep_inheriting(files):
    ds = vz.concat(vz.scan(files), "time")
    assert "units" not in ds["time_bnds"].attrs and ds["time"].attrs["units"] == "hours since 2000-01-01"
    raw = vz.open(ds, decode=False)
    np.testing.assert_array_equal(raw["time_bnds"].values[3], [72 - 12, 72 + 12])  # b.nc's first day, first file's units
