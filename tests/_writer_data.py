"""Generated files for the writer / reference-input tests (parquet, Icechunk,
kerchunk inputs): NetCDF4 files with the features the writers must carry."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_nc4(path: Path, *, seed: int = 0, t0: int = 0, nt: int = 6) -> Path:
    """A NetCDF4 file with chunked+compressed data, unwritten chunks (fill),
    CF packing, a time coordinate, a scalar, a big-endian and a contiguous
    variable, fletcher32, attributes of several types."""
    import netCDF4

    rng = np.random.default_rng(seed)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.title = "writer test"
        nc.history = "made by tests/_writer_data.py"
        nc.version = np.int32(3)
        nc.createDimension("time", None)
        nc.createDimension("lat", 5)
        nc.createDimension("lon", 8)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2000-01-01"
        t.calendar = "standard"
        t[:] = np.arange(t0, t0 + nt, dtype="f8")
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-60, 60, 5, dtype="f4")
        lon = nc.createVariable("lon", "f4", ("lon",), contiguous=True)
        lon[:] = np.linspace(0, 315, 8, dtype="f4")
        air = nc.createVariable(
            "air", "f4", ("time", "lat", "lon"), zlib=True, shuffle=True, complevel=4,
            chunksizes=(2, 3, 4), fill_value=np.float32(-999.0),
        )
        air.units = "K"
        air.long_name = "air temperature"
        data = rng.normal(280, 10, (nt, 5, 8)).astype("f4")
        air[: nt - 2] = data[: nt - 2]  # last time chunk never written: reads as fill
        air[0, 0, 0] = np.float32(-999.0)  # a masked value inside a written chunk
        packed = nc.createVariable(
            "packed", "i2", ("time", "lat", "lon"), zlib=True, chunksizes=(3, 5, 8), fletcher32=True,
            fill_value=np.int16(-32767),
        )
        packed.scale_factor = np.float32(0.01)
        packed.add_offset = np.float32(100.0)
        packed.set_auto_maskandscale(False)
        packed[:] = rng.integers(-3000, 3000, (nt, 5, 8)).astype("i2")
        big = nc.createVariable("big", ">i4", ("lat", "lon"), endian="big", chunksizes=(5, 4))
        big[:] = np.arange(40, dtype="i4").reshape(5, 8) - 20
        sc = nc.createVariable("scalar", "f8", ())
        sc.note = "a scalar"
        sc.assignValue(3.25)
    return path


def assert_same_dataset(a, b, *, check_attrs: bool = True) -> None:
    """Values (NaN-aware), dims and attributes of two xarray datasets agree."""
    assert set(a.variables) == set(b.variables), (set(a.variables), set(b.variables))
    for name in a.variables:
        va, vb = a[name], b[name]
        assert va.dims == vb.dims, name
        x, y = va.values, vb.values
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            np.testing.assert_array_equal(np.asarray(x, dtype=np.result_type(x, y)), np.asarray(y, dtype=np.result_type(x, y)), err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
        if check_attrs:
            for k in set(va.attrs) | set(vb.attrs):
                np.testing.assert_array_equal(np.asarray(va.attrs.get(k)), np.asarray(vb.attrs.get(k)), err_msg=f"{name}.{k}")
    if check_attrs:
        for k in set(a.attrs) | set(b.attrs):
            np.testing.assert_array_equal(np.asarray(a.attrs.get(k)), np.asarray(b.attrs.get(k)), err_msg=k)


def assert_equals_original(src: Path, got) -> None:
    """``got`` (opened with decode=False) holds the same values as the file:
    NetCDF through xarray (decode_cf=False), plain HDF5 through h5py."""
    import xarray as xr

    if Path(src).suffix == ".h5":
        import h5py
        import hdf5plugin  # noqa: F401  (blosc, lz4, zstd filters)

        with h5py.File(src, "r") as f:
            names = [k for k in f if isinstance(f[k], h5py.Dataset)]
            assert set(names) == set(got.variables), (names, list(got.variables))
            for k in names:
                want = f[k][()]
                if f[k].dtype.kind == "O":
                    want = np.array([w.decode() if isinstance(w, bytes) else w for w in want.ravel()], dtype=object).reshape(want.shape)
                np.testing.assert_array_equal(got[k].values, want, err_msg=k)
        return
    with xr.open_dataset(src, decode_cf=False) as orig:
        assert_same_dataset(orig, got, check_attrs=False)


# -- a loopback HTTP server with Range support (for URL sources) -----------------------
import contextlib
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RangeHandler(BaseHTTPRequestHandler):
    root = "."
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    requests: list = []

    def log_message(self, *a):
        pass

    def _file(self):
        p = os.path.join(self.root, self.path.lstrip("/").split("?")[0])
        return p if os.path.isfile(p) else None

    def do_HEAD(self):
        p = self._file()
        if not p:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(p)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        p = self._file()
        if not p:
            self.send_error(404)
            return
        size = os.path.getsize(p)
        rng = self.headers.get("Range")
        with open(p, "rb") as f:
            if rng:
                m = re.match(r"bytes=(\d*)-(\d*)", rng)
                a = int(m.group(1)) if m.group(1) else 0
                b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                f.seek(a)
                body = f.read(b - a + 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
            else:
                body = f.read()
                self.send_response(200)
        type(self).requests.append((self.path, rng, len(body)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serve_folder(folder, port: int = 0, delay: float = 0.0):
    """Serve ``folder`` on 127.0.0.1; yields (base_url, handler class).
    ``delay``: every GET answered after that many seconds, as an object store
    answers (the server then accepts many connections at once)."""
    attrs = {"root": str(folder), "requests": []}
    if delay:
        def do_GET(self):
            time.sleep(delay)
            RangeHandler.do_GET(self)

        attrs["do_GET"] = do_GET
    handler = type("H", (RangeHandler,), attrs)
    server = type("S", (ThreadingHTTPServer,), {"request_queue_size": 256, "daemon_threads": True}) if delay \
        else ThreadingHTTPServer
    srv = server(("127.0.0.1", port), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        srv.shutdown()
        srv.server_close()


def rebase(vds, folder, base_url):
    """The same dataset with local paths under ``folder`` turned into URLs."""
    from vz_jupyter.core.model import Manifest, Source

    variables = {}
    for name, v in vds.variables.items():
        m = v.manifest
        paths = tuple(base_url + "/" + os.path.relpath(p, folder) for p in m.paths)
        variables[name] = v.replace(manifest=Manifest(paths, m.path_id, m.offset, m.length, m.inline))
    sources = tuple(Source(base_url + "/" + os.path.relpath(s.path, folder), s.size) for s in vds.sources)
    return vds.replace(variables=variables, sources=sources)


def check_combined(tmp_path, target: str, **options) -> None:
    """Three files concatenated along time, written to ``target``, equal to
    ``xarray.open_mfdataset`` of the originals."""
    import xarray as xr

    import vz_jupyter as vz

    files = [make_nc4(tmp_path / f"f{i}.nc", seed=i, t0=6 * i) for i in range(3)]
    combined = vz.concat(vz.scan([str(f) for f in files]), dim="time")
    out = vz.write(combined, tmp_path / target, **options)
    got = vz.open(out, decode=False)
    with xr.open_mfdataset(files, combine="nested", concat_dim="time", decode_cf=False, data_vars="minimal",
                           coords="minimal", compat="override") as orig:
        assert got.sizes["time"] == 18
        for name in orig.variables:
            np.testing.assert_array_equal(got[name].values, orig[name].values, err_msg=name)


def random_virtual_dataset(folder: Path, draw_grid, chunks, kinds, dtype, seed=0):
    """A VDataset over a raw file of full-size (edge chunks padded) C-order chunks,
    with the given per-chunk kinds ('ref', 'missing', 'inline'), and the array
    those references must read as."""
    from vz_jupyter.core.model import INLINE, MISSING, Manifest, Source, VArray, VDataset

    grid = tuple(draw_grid)
    shape = tuple(g * c for g, c in zip(grid, chunks))
    rng = np.random.default_rng(seed)
    full = np.asarray(rng.integers(0, 100, shape) if np.dtype(dtype).kind in "iu" else rng.normal(size=shape)).astype(dtype)
    fill = np.dtype(dtype).type(-1 if np.dtype(dtype).kind != "u" else 255)
    expected = full.copy()
    n = int(np.prod(grid)) if grid else 1
    pid = np.zeros(n, np.uint32)
    off = np.zeros(n, np.uint64)
    ln = np.zeros(n, np.uint64)
    inline = {}
    fname = folder / f"random{seed}.bin"
    with open(fname, "wb") as f:
        pos = 0
        for flat in range(n):
            idx = np.unravel_index(flat, grid) if grid else ()
            sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))
            b = np.ascontiguousarray(full[sl] if sl else full).tobytes()  # (full[()] would be a native scalar)
            if kinds[flat] == "missing":
                pid[flat] = MISSING
                expected[sl] = fill
            elif kinds[flat] == "inline":
                pid[flat] = INLINE
                inline[flat] = b
                ln[flat] = len(b)
            else:
                f.write(b)
                off[flat], ln[flat] = pos, len(b)
                pos += len(b)
    m = Manifest((str(fname),), pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inline)
    dims = tuple(f"d{i}" for i in range(len(grid)))
    v = VArray("v", dims, shape, np.dtype(dtype), chunks, (), fill, {}, m)
    return VDataset({"v": v}, sources=(Source(str(fname)),)), expected
