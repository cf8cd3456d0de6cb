"""Small generated sample data for the tutorials, the demo and the tests.

``python -m vz_jupyter.sample_data FOLDER`` writes a little archive of daily
NetCDF4 files (compressed, chunked, CF time), one NetCDF3 file, one plain HDF5
file and a year of tiny daily NetCDF3 files (``FOLDER/year/day_001.nc`` ...) to
try the combine widget at archive scale. Everything is synthetic and
deterministic. :func:`make_daily_archive` writes 1,000 files in about a second
(its own NetCDF3 writer, no library needed), with optional flaws: files packed
differently, days missing, a file repeated.
"""
from __future__ import annotations

import argparse
import os
import struct
from pathlib import Path

import numpy as np

# NetCDF3 classic (CDF-1) writer: just enough for fixed-size variables
_NC_TYPES = {np.dtype("i1"): 1, np.dtype("S1"): 2, np.dtype("i2"): 3, np.dtype("i4"): 4,
             np.dtype("f4"): 5, np.dtype("f8"): 6}


def _nc_name(name: str) -> bytes:
    b = name.encode("utf-8")
    return struct.pack(">i", len(b)) + b + b"\0" * (-len(b) % 4)


def _nc_attrs(attrs: dict) -> bytes:
    if not attrs:
        return b"\0" * 8
    out = [struct.pack(">ii", 0x0C, len(attrs))]
    for k, v in attrs.items():
        if isinstance(v, str):
            data, t, n = v.encode("utf-8"), 2, len(v.encode("utf-8"))
        else:
            arr = np.atleast_1d(np.asarray(v))
            arr = arr.astype(">f8" if arr.dtype.kind == "f" else ">i4")
            data, t, n = arr.tobytes(), _NC_TYPES[arr.dtype.newbyteorder("=")], arr.size
        out.append(_nc_name(k) + struct.pack(">ii", t, n) + data + b"\0" * (-len(data) % 4))
    return b"".join(out)


def netcdf3_bytes(dims: dict, variables: dict, attrs: dict | None = None) -> bytes:
    """A NetCDF3 classic file as bytes: ``dims`` {name: length}, ``variables``
    {name: (dim names, array, attrs)}; arrays are written big-endian, fixed size."""
    names = list(dims)
    head = [b"CDF\x01", struct.pack(">i", 0)]
    head.append(struct.pack(">ii", 0x0A, len(dims)) + b"".join(_nc_name(d) + struct.pack(">i", n)
                                                            for d, n in dims.items()))
    head.append(_nc_attrs(attrs or {}))
    datas = []
    entries = []
    for name, (vdims, arr, vattrs) in variables.items():
        arr = np.asarray(arr)
        data = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        data += b"\0" * (-len(data) % 4)
        datas.append(data)
        entries.append((name, vdims, vattrs, _NC_TYPES[arr.dtype.newbyteorder("=")], len(data)))
    var_heads = []
    for name, vdims, vattrs, t, size in entries:
        var_heads.append(_nc_name(name) + struct.pack(">i", len(vdims))
                         + b"".join(struct.pack(">i", names.index(d)) for d in vdims)
                         + _nc_attrs(vattrs) + struct.pack(">ii", t, size))
    fixed = len(b"".join(head)) + 8 + sum(len(v) + 4 for v in var_heads)
    out = b"".join(head) + struct.pack(">ii", 0x0B, len(entries))
    begin = fixed
    for vh, data in zip(var_heads, datas):
        out += vh + struct.pack(">i", begin)
        begin += len(data)
    return out + b"".join(datas)


def make_daily_archive(folder, n_files: int = 365, *, ny: int = 16, nx: int = 20, prefix: str = "day_",
                       scale_factor: dict | None = None, skip: tuple = (), repeat: tuple = ()) -> list[Path]:
    """``n_files`` tiny daily NetCDF3 files ``day_0001.nc`` ... (one time step of
    ``air(time, lat, lon)`` packed as int16, 640 bytes: referenced, not inlined).

    Flaws on request: ``scale_factor={day: 0.02}`` packs those days differently,
    ``skip=(days,)`` leaves days out (a gap in time), ``repeat=(days,)`` writes
    those days' times again in an extra file ``<prefix><day>b.nc``. Days count
    from 1; returns the paths in name order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(n_files)))
    lat = np.linspace(-60, 60, ny).astype("f4")
    lon = np.linspace(0, 342, nx).astype("f4")
    yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    base = 280 + 20 * np.cos(yy) + 3 * np.sin(xx)
    out = []
    days = [d for d in range(1, n_files + 1) if d not in set(skip)]
    for day in days + [d for d in repeat]:
        name = f"{prefix}{day:0{width}d}{'b' if len(out) >= len(days) else ''}.nc"
        sf = (scale_factor or {}).get(day, 0.01)
        field = base + 5 * np.sin(2 * np.pi * day / 365.0)
        packed = np.round((field - 250.0) / sf).astype("i2")[None]
        data = netcdf3_bytes(
            {"time": 1, "lat": ny, "lon": nx},
            {"time": (("time",), np.array([day - 1.0]), {"units": "days since 2001-01-01", "calendar": "standard",
                                                          "standard_name": "time"}),
             "lat": (("lat",), lat, {"units": "degrees_north"}),
             "lon": (("lon",), lon, {"units": "degrees_east"}),
             "air": (("time", "lat", "lon"), packed, {"units": "K", "scale_factor": sf, "add_offset": 250.0,
                                                     "_FillValue": np.int16(-32767), "long_name": "air temperature"})},
            {"title": "vz_jupyter sample: a tiny daily archive", "Conventions": "CF-1.8"},
        )
        p = folder / name
        p.write_bytes(data)
        out.append(p)
    return sorted(out)


def make_daily_netcdf4(folder, n_files: int = 4, nt: int = 4, ny: int = 18, nx: int = 36, start_day: int = 0,
                       per_file_time_units: bool = False, scale_factor=None) -> list[Path]:
    """Daily NetCDF4 files ``air_YYYYMMDD.nc`` with an ``air`` (time, lat, lon)
    float32 variable, zlib+shuffle, chunks (1, ny, nx)."""
    import netCDF4  # optional: netCDF4 (the notebook extra)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    lat = np.linspace(-85, 85, ny)
    lon = np.linspace(0, 350, nx)
    out = []
    base = np.datetime64("2024-01-01")
    for i in range(n_files):
        day = base + np.timedelta64(start_day + i, "D")
        name = folder / f"air_{str(day).replace('-', '')}.nc"
        with netCDF4.Dataset(name, "w") as nc:
            nc.title = "vz_jupyter sample: synthetic air temperature"
            nc.Conventions = "CF-1.8"
            nc.createDimension("time", None)
            nc.createDimension("lat", ny)
            nc.createDimension("lon", nx)
            t = nc.createVariable("time", "f8", ("time",))
            if per_file_time_units:
                t.units = f"hours since {day} 00:00:00"
                t[:] = np.arange(nt) * (24 / nt)
            else:
                t.units = "hours since 2024-01-01 00:00:00"
                t[:] = (start_day + i) * 24 + np.arange(nt) * (24 / nt)
            t.calendar = "standard"
            t.standard_name = "time"
            y = nc.createVariable("lat", "f4", ("lat",))
            y[:] = lat
            y.units = "degrees_north"
            x = nc.createVariable("lon", "f4", ("lon",))
            x[:] = lon
            x.units = "degrees_east"
            a = nc.createVariable("air", "f4", ("time", "lat", "lon"), zlib=True, shuffle=True,
                                  chunksizes=(1, ny, nx), fill_value=np.float32(-9999.0))
            a.units = "K"
            a.long_name = "air temperature"
            field = 280 + 20 * np.cos(np.deg2rad(lat))[:, None] + 5 * np.sin(np.deg2rad(lon))[None, :]
            a[:] = field[None] + rng.normal(0, 1, (nt, ny, nx)).astype("f4")
        out.append(name)
    return out


def make_netcdf3(path, nt: int = 6, ny: int = 18, nx: int = 36) -> Path:
    """A NetCDF3 classic file with a record variable and a fixed one."""
    import netCDF4  # optional: netCDF4 (the notebook extra)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "days since 2024-01-01"
        t[:] = np.arange(nt)
        nc.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-85, 85, ny)
        nc.createVariable("lon", "f4", ("lon",))[:] = np.linspace(0, 350, nx)
        p = nc.createVariable("precip", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
        p.scale_factor = 0.01
        p.add_offset = 0.0
        p.units = "mm/day"
        p[:] = rng.gamma(1.0, 2.0, (nt, ny, nx))
        h = nc.createVariable("orography", "f4", ("lat", "lon"))
        h[:] = rng.uniform(0, 3000, (ny, nx))
        h.units = "m"
    return path


def make_hdf5(path) -> Path:
    """A plain HDF5 file (no NetCDF conventions) with a group and blosc/zstd data."""
    import h5py  # heavy: HDF5, only when HDF5 demo files are made
    import hdf5plugin  # heavy: as h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    with h5py.File(path, "w") as f:
        f.attrs["instrument"] = "synthetic"
        g = f.create_group("scans")
        g.create_dataset("counts", data=rng.integers(0, 1000, (64, 64), dtype="u2"), chunks=(16, 16),
                         **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
        g.create_dataset("intensity", data=rng.normal(size=(32, 128)).astype("f8"), chunks=(8, 64),
                         **hdf5plugin.Zstd(clevel=3))
    return path


def make_all(folder) -> list[Path]:
    folder = Path(folder)
    files = make_daily_netcdf4(folder / "daily")
    files.append(make_netcdf3(folder / "precip_nc3.nc"))
    files.append(make_hdf5(folder / "detector.h5"))
    files.extend(make_daily_archive(folder / "year", 365))
    return files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vz_jupyter.sample_data", description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="sample-data")
    args = p.parse_args(argv)
    files = make_all(args.folder)
    for f in files[:8]:
        print(os.fspath(f))
    if len(files) > 8:
        print(f"... {len(files) - 8} more files in {args.folder}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
