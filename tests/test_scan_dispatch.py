"""The dispatcher: literal names before globs, only regular files, one-line
errors for tiny files; dimension assignment on wide files."""
from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.errors import ScanError
from vz_jupyter.core.scan import expand_paths, scan_file


def _nc3(path, n):
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as d:
        d.createDimension("x", n)
        d.createVariable("v", "i4", ("x",))[:] = np.arange(n)
    return str(path)


@pytest.mark.parametrize("name, decoy", [("x[a].nc", "xa.nc"), ("data[1].nc", None), ("what?.nc", "whatX.nc"),
                                         ("star*.nc", "star-more.nc")])
def test_an_existing_path_is_taken_literally(tmp_path, name, decoy):
    literal = _nc3(tmp_path / name, 3)
    if decoy:
        _nc3(tmp_path / decoy, 7)
    assert expand_paths(literal) == [literal]
    ds = vz.scan(literal)
    assert len(ds) == 1 and ds[0]["v"].shape == (3,) and ds[0].sources[0].path == literal


def test_a_pattern_still_globs(tmp_path):
    a, b = _nc3(tmp_path / "xa.nc", 1), _nc3(tmp_path / "xb.nc", 2)
    assert expand_paths(str(tmp_path / "x[ab].nc")) == [a, b]
    with pytest.raises(ScanError, match="no files match"):
        expand_paths(str(tmp_path / "y[ab].nc"))


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.nc"
    os.mkfifo(fifo)
    # in a subprocess with a timeout: a regression would block forever
    code = ("import vz_jupyter as vz\n"
            "from vz_jupyter.core.errors import ScanError\n"
            "for f in (vz.scan_file,\n"
            "          __import__('vz_jupyter.core.scan.netcdf3', fromlist=['x']).scan_netcdf3,\n"
            "          __import__('vz_jupyter.core.scan.hdf5', fromlist=['x']).scan_hdf5):\n"
            "    try:\n"
            f"        f({str(fifo)!r})\n"
            "    except ScanError as e:\n"
            "        print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 3, r.stderr
    assert all(line == f"{fifo}: is a named pipe (FIFO), not a regular file; only regular files can be scanned"
               for line in lines)
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "info", str(fifo)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "named pipe" in r.stderr


def test_a_device_is_refused():
    with pytest.raises(ScanError, match="character device"):
        scan_file("/dev/null")


@pytest.mark.parametrize("data, words", [
    (b"CDF", "truncated NetCDF3 file: only 3 bytes"),
    (b"CD", "not an HDF5, NetCDF or kerchunk"),
    (b"CDF\x03", "unknown NetCDF3 version byte 3"),
    (b"CDF\x01", "truncated NetCDF3 header"),
    (b"\x89HDF", "not an HDF5, NetCDF or kerchunk"),
    (b"", "empty"),
])
def test_tiny_files_give_one_line_errors(tmp_path, data, words):
    p = tmp_path / "tiny.nc"
    p.write_bytes(data)
    with pytest.raises(ScanError) as e:
        scan_file(str(p))
    assert str(e.value).startswith(f"{p}: ") and words in str(e.value) and "\n" not in str(e.value)


def test_wide_file_dims_without_netcdf4_coordinates(tmp_path):
    """Dimension scales matched by object address (not H5Rget_name, which made
    wide files quadratic) give the same dims as netCDF-C's ids."""
    import netCDF4

    path = str(tmp_path / "wide.nc")
    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("t", None)
        d.createDimension("x", 3)
        d.createDimension("y", 2)
        d.createVariable("x", "f4", ("x",))[:] = np.arange(3)
        for i in range(300):
            dims = [("t", "x"), ("y", "x"), ("x", "y"), ("t", "y", "x")][i % 4]
            d.createVariable(f"v{i}", "i2", dims)
    before = {n: v.dims for n, v in scan_file(path).variables.items()}
    with h5py.File(path, "r+") as f:
        for v in f.values():
            if "_Netcdf4Coordinates" in v.attrs:
                del v.attrs["_Netcdf4Coordinates"]
    after = {n: v.dims for n, v in scan_file(path).variables.items()}
    assert after == before
    with netCDF4.Dataset(path) as nc:
        assert after == {n: v.dimensions for n, v in nc.variables.items()}

