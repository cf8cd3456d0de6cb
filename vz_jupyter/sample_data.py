"""Small generated sample data for the tutorials, the demo and Binder.

``python -m vz_jupyter.sample_data FOLDER`` writes a little archive of daily
NetCDF4 files (compressed, chunked, CF time), one NetCDF3 file and one plain
HDF5 file. Everything is synthetic and deterministic.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np


def make_daily_netcdf4(folder, n_files: int = 4, nt: int = 4, ny: int = 18, nx: int = 36, start_day: int = 0,
                       per_file_time_units: bool = False, scale_factor=None) -> list[Path]:
    """Daily NetCDF4 files ``air_YYYYMMDD.nc`` with an ``air`` (time, lat, lon)
    float32 variable, zlib+shuffle, chunks (1, ny, nx)."""
    import netCDF4

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
    import netCDF4

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
    import h5py
    import hdf5plugin

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
    return files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vz_jupyter.sample_data", description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="sample-data")
    args = p.parse_args(argv)
    files = make_all(args.folder)
    for f in files:
        print(os.fspath(f))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
