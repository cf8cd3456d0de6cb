"""Daily NetCDF4 files for the append tests, and a plain-xarray judge.

``make_day(folder, day, ...)`` writes ``day_<day>.nc``: ``time`` (the record
dimension, 6-hourly, CF units), ``lat``/``lon``, ``air(time, lat, lon)``
(zlib + shuffle, a fill value, its last time chunk of day 1 never written),
``packed`` (int16 with scale_factor/add_offset), ``mask(lat, lon)`` (static),
optionally ``prof(lev, time)`` (time not the leading axis, lev in 2 chunks).
Chunks of the data variables are big enough not to be inlined by a scan.

``judge(refs, kind, files)`` opens ``refs`` with plain xarray (xarray's
defaults, CF decoding on) in a process that never imports vz_jupyter, opens
the originals with ``xr.open_mfdataset`` in the same process, and returns the
variables whose values, dims or attributes differ (empty: equal).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def make_day(folder: Path, day: int, *, nt: int = 4, chunk_t: int = 2, units: str | None = None,
             scale: float = 0.01, nlat: int = 12, nlon: int = 20, drop: tuple = (), extra: bool = False,
             lat_shift: float = 0.0, prof: bool = False, name: str | None = None, t_offset: int = 0) -> Path:
    import netCDF4

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"day_{day:03d}.nc")
    rng = np.random.default_rng(day)
    hours = day * 24 + t_offset + 24 // nt * np.arange(nt)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.title = "append test"
        nc.day = np.int32(day)  # differs per file: kept from the archive (an info)
        nc.createDimension("time", None)
        nc.createDimension("lat", nlat)
        nc.createDimension("lon", nlon)
        t = nc.createVariable("time", "f8", ("time",))
        if units is None:
            t.units = "hours since 2000-01-01 00:00:00"
            t[:] = hours.astype("f8")
        else:  # e.g. per-file units "hours since <its day>"
            t.units = units
            import cftime

            dates = cftime.num2date(hours, "hours since 2000-01-01 00:00:00", calendar="standard")
            t[:] = cftime.date2num(dates, units, calendar="standard")
        t.calendar = "standard"
        t.standard_name = "time"
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-60, 60, nlat, dtype="f4") + np.float32(lat_shift)
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        lon[:] = np.linspace(0, 360, nlon, endpoint=False, dtype="f4")
        if "air" not in drop:
            air = nc.createVariable("air", "f4", ("time", "lat", "lon"), zlib=True, shuffle=True, complevel=1,
                                    chunksizes=(chunk_t, nlat, nlon), fill_value=np.float32(-999.0))
            air.units = "K"
            data = rng.normal(280, 10, (nt, nlat, nlon)).astype("f4").round(2)
            if day == 1 and nt > chunk_t:
                air[: nt - chunk_t] = data[: nt - chunk_t]  # the last chunk never written: reads as fill
            else:
                air[:] = data
            air[0, 0, 0] = np.float32(-999.0)
        if "packed" not in drop:
            packed = nc.createVariable("packed", "i2", ("time", "lat", "lon"), zlib=True,
                                       chunksizes=(chunk_t, nlat, nlon), fill_value=np.int16(-32767))
            packed.scale_factor = np.float32(scale)
            packed.add_offset = np.float32(100.0)
            packed.set_auto_maskandscale(False)
            packed[:] = rng.integers(-3000, 3000, (nt, nlat, nlon)).astype("i2")
        mask = nc.createVariable("mask", "i1", ("lat", "lon"))
        mask[:] = (np.arange(nlat * nlon).reshape(nlat, nlon) % 3 == 0).astype("i1")
        if prof:
            nc.createDimension("lev", 200)
            p = nc.createVariable("prof", "f4", ("lev", "time"), chunksizes=(100, chunk_t))
            p[:] = rng.normal(0, 1, (200, nt)).astype("f4")
        if extra:
            e = nc.createVariable("extra", "f4", ("time",))
            e[:] = np.arange(nt, dtype="f4")
    return path


JUDGE = r'''
import json, sys, traceback, warnings
import numpy as np
warnings.simplefilter("ignore")
import xarray as xr


def opener(refs, kind, snap):
    if kind == "icechunk":
        import icechunk as ic
        storage = ic.local_filesystem_storage(refs)
        repo = ic.Repository.open(storage)
        prefixes = [c.url_prefix for c in (repo.config.virtual_chunk_containers or {}).values()]
        creds = ic.containers_credentials({p: None for p in prefixes}) if prefixes else None
        repo = ic.Repository.open(storage, authorize_virtual_chunk_access=creds)
        session = repo.readonly_session(snapshot_id=snap) if snap else repo.readonly_session(branch="main")
        return lambda decode: xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None,
                                           decode_cf=decode)
    return lambda decode: xr.open_dataset("reference://", engine="zarr", decode_cf=decode,
                                          backend_kwargs={"consolidated": False, "storage_options": {"fo": refs}})


def judge(refs, kind, files, snap):
    reopen = opener(refs, kind, snap)

    def mf(decode):
        return xr.open_mfdataset(files, combine="nested", concat_dim="time", data_vars="minimal", coords="minimal",
                                 compat="override", combine_attrs="override", decode_cf=decode)

    got, got_raw, exp, exp_raw = reopen(True), reopen(False), mf(True), mf(False)
    bad = []
    if set(got.variables) != set(exp.variables):
        bad.append(["variables", sorted(got.variables), sorted(exp.variables)])
    for name in sorted(set(got.variables) & set(exp.variables)):
        a, b = got[name], exp[name]
        if a.dims != b.dims:
            bad.append([name, "dims", list(a.dims), list(b.dims)])
            continue
        x, y = np.asarray(a.values), np.asarray(b.values)
        if "scale_factor" in exp_raw[name].attrs:
            # packed values decode in float64 from references (scale_factor is a JSON double): compare closely
            same = x.shape == y.shape and np.allclose(x, y, rtol=1e-6, equal_nan=True)
        else:
            same = x.shape == y.shape and (np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fcmM"
                                           else np.array_equal(x, y))
        if not same:
            bad.append([name, "values", str(x.shape), str(y.shape)])
        if name != "time":  # raw (stored) values exactly as in the files; time is re-encoded on purpose
            xr_, yr = np.asarray(got_raw[name].values), np.asarray(exp_raw[name].values)
            if not (xr_.shape == yr.shape and np.array_equal(xr_, yr, equal_nan=xr_.dtype.kind in "fc")):
                bad.append([name, "raw values"])
    assert "vz_jupyter" not in sys.modules, "the plain reader imported vz_jupyter"
    return {"bad": bad, "time": [str(v) for v in got["time"].values[:2]] + [str(got["time"].values[-1])],
            "n": int(got.sizes["time"]), "units": str(got["time"].encoding.get("units"))}


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    try:
        out = judge(job["refs"], job["kind"], job["files"], job.get("snapshot"))
    except Exception:
        out = {"error": traceback.format_exc()[-3000:]}
    print(json.dumps(out), flush=True)
'''


_SERVER: dict = {}


def _server():
    p = _SERVER.get("proc")
    if p is None or p.poll() is not None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.setdefault("ICECHUNK_LOG", "icechunk=error")  # its per-open warning would land on stdout
        p = subprocess.Popen([sys.executable, "-c", JUDGE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=env)
        assert _answer(p)["ready"]
        _SERVER["proc"] = p
        import atexit

        atexit.register(lambda: (p.stdin.close(), p.wait(timeout=30)))
    return p


def _answer(p) -> dict:
    """The next JSON line of the judge (other lines, a library's log, are skipped)."""
    for _ in range(1000):
        line = p.stdout.readline()
        if not line:
            raise AssertionError("the plain judge process died")
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no answer from the plain judge")


def judge(refs, kind: str, files, snapshot: str | None = None) -> dict:
    """See the module doc; returns ``{"bad": [...], "n": len(time), "units": ..., "time": [...]}``.
    One long-lived plain process answers every call (it never imports vz_jupyter)."""
    p = _server()
    p.stdin.write(json.dumps({"refs": str(refs), "kind": kind, "files": [str(f) for f in files],
                              "snapshot": snapshot}) + "\n")
    p.stdin.flush()
    out = _answer(p)
    assert "error" not in out, out.get("error")
    return out
