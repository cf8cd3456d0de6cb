"""Bytes moved, requests and wall time: xarray over kerchunk references (zarr)
vs the vz_jupyter read-plan executor.

Data (written to a temporary folder):
  nc3-record   NetCDF3 64-bit offset, float32 record variable (one chunk per record)
  nc4-contig   NetCDF4, contiguous float32 (one chunk for the whole variable)
  nc4-zlib     NetCDF4, chunked float32, shuffle + zlib

Reads: point ``air[t, y, x]``, time series ``air[:, y, x]``, slab
``air[10:110, 10:40, 20:80]``, full ``air``.

Bytes and requests are counted by a wrapping fsspec filesystem (``vzcount://``,
a LocalFileSystem that counts every ranged read) that both readers go through.
Wall time is the median of several warm runs on plain local paths (xarray over
the reference filesystem with zarr; the executor with its own ``pread`` path),
timing the read only (references/scan done beforehand, as a user would).

Run:  .venv/bin/python benchmarks/bench_read.py [--size small|medium] [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

import vz_jupyter as vz
from vz_jupyter.core.plan import plan


class CountingFS(LocalFileSystem):
    """Local files under ``vzcount://``; counts ranged reads and bytes."""

    protocol = ("vzcount",)
    lock = threading.Lock()
    requests = 0
    nbytes = 0

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("vzcount://"):
            path = path[len("vzcount://"):]
        return super()._strip_protocol(path)

    def cat_file(self, path, start=None, end=None, **kwargs):
        data = super().cat_file(path, start=start, end=end, **kwargs)
        with CountingFS.lock:
            CountingFS.requests += 1
            CountingFS.nbytes += len(data)
        return data

    @classmethod
    def reset(cls):
        cls.requests = 0
        cls.nbytes = 0


fsspec.register_implementation("vzcount", CountingFS, clobber=True)


def make_files(d: str, nt: int, ny: int, nx: int) -> dict[str, str]:
    import netCDF4

    rng = np.random.default_rng(0)
    vals = (280 + 10 * rng.standard_normal((nt, ny, nx))).astype("f4")
    paths = {}
    p = os.path.join(d, "nc3_record.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        nc.createVariable("air", "f4", ("time", "lat", "lon"))[:] = vals
    paths["nc3-record"] = p
    p = os.path.join(d, "nc4_contig.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF4") as nc:
        nc.createDimension("time", nt)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        nc.createVariable("air", "f4", ("time", "lat", "lon"), contiguous=True)[:] = vals
    paths["nc4-contig"] = p
    p = os.path.join(d, "nc4_zlib.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF4") as nc:
        nc.createDimension("time", nt)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        nc.createVariable("air", "f4", ("time", "lat", "lon"), zlib=True, shuffle=True, complevel=4,
                          chunksizes=(min(nt, 50), min(ny, 37), min(nx, 72)))[:] = vals
    paths["nc4-zlib"] = p
    return paths


def rebase(ds, proto: str):
    out = ds
    for name, v in ds.variables.items():
        m = v.manifest
        m2 = type(m)(tuple(proto + p for p in m.paths), m.path_id, m.offset, m.length, m.inline)
        out = out.with_variable(v.replace(manifest=m2))
    return out


def median_time(fn, repeat: int) -> float:
    fn()  # warm up (page cache, imports, sessions)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def run(size: str = "small", repeat: int = 5, out=sys.stdout) -> list[dict]:
    nt, ny, nx = {"small": (365, 73, 144), "medium": (1460, 73, 144)}[size]
    reads = {
        "point": (nt // 2, ny // 2, nx // 3),
        "series": (slice(None), ny // 2, nx // 3),
        "slab": (slice(10, 110), slice(10, 40), slice(20, 80)),
        "full": (slice(None), slice(None), slice(None)),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="vzbench-") as d:
        files = make_files(d, nt, ny, nx)
        for label, path in files.items():
            ds_local = vz.scan_file(path)
            ds_count = rebase(ds_local, "vzcount://")
            refs_local = os.path.join(d, label + ".json")
            refs_count = os.path.join(d, label + "-count.json")
            vz.write(ds_local, refs_local)
            vz.write(ds_count, refs_count)
            xl = vz.open(refs_local, decode=False)
            xc = vz.open(refs_count, decode=False)
            for rname, key in reads.items():
                isel = dict(zip(("time", "lat", "lon"), key))
                # (a) xarray over references, counted
                CountingFS.reset()
                a = xc["air"].isel(isel).values
                a_bytes, a_req = CountingFS.nbytes, CountingFS.requests
                # (b) plan executor, counted
                p = plan(ds_count, key, variable="air")
                CountingFS.reset()
                b = p.execute()
                b_bytes, b_req = CountingFS.nbytes, CountingFS.requests
                assert b_bytes == p.last_stats.bytes_read, (b_bytes, p.last_stats)
                np.testing.assert_array_equal(a, b)
                # wall time on plain local paths
                pl = plan(ds_local, key, variable="air")
                ta = median_time(lambda: xl["air"].isel(isel).values, repeat)
                tb = median_time(lambda: plan(ds_local, key, variable="air").execute(), repeat)
                rows.append(dict(data=label, read=rname, needed=p.bytes_needed, chunk_bytes=p.chunk_bytes,
                                 a_bytes=a_bytes, a_req=a_req, b_bytes=b_bytes, b_req=b_req, ta=ta, tb=tb,
                                 compressed=bool(ds_local["air"].codecs)))
            xl.close()
            xc.close()
    _print(rows, out, size, (nt, ny, nx), repeat)
    return rows


def _fmt_b(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _print(rows, out, size, shape, repeat):
    out.write(f"bench_read: float32 air{shape}, size={size}, wall time = median of {repeat} warm runs\n")
    out.write("(a) xarray over kerchunk references (zarr)   (b) vz_jupyter plan executor\n\n")
    hdr = (f"{'data':<11} {'read':<7} {'needed':>10} {'(a) bytes':>10} {'(a) req':>7} {'(b) bytes':>10} "
           f"{'(b) req':>7} {'b/needed':>8} {'a/b bytes':>9} {'(a) ms':>8} {'(b) ms':>8} {'a/b time':>8}  target\n")
    out.write(hdr)
    out.write("-" * (len(hdr) + 10) + "\n")
    for r in rows:
        ratio_need = r["b_bytes"] / r["needed"] if r["needed"] else float("nan")
        if r["compressed"]:
            ok_bytes = r["b_bytes"] == r["chunk_bytes"]
            target = "bytes == touched chunks " + ("ok" if ok_bytes else "MISSED")
        else:
            ok_bytes = ratio_need <= 1.1
            target = "bytes ≤ 1.1× needed " + ("ok" if ok_bytes else "MISSED")
        target += "; time " + ("ok" if r["tb"] <= r["ta"] * 1.05 else "slower")
        out.write(
            f"{r['data']:<11} {r['read']:<7} {_fmt_b(r['needed']):>10} {_fmt_b(r['a_bytes']):>10} {r['a_req']:>7} "
            f"{_fmt_b(r['b_bytes']):>10} {r['b_req']:>7} {ratio_need:>8.2f} "
            f"{(r['a_bytes'] / r['b_bytes'] if r['b_bytes'] else float('nan')):>9.1f} "
            f"{r['ta'] * 1e3:>8.2f} {r['tb'] * 1e3:>8.2f} {r['ta'] / r['tb']:>8.1f}  {target}\n"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "medium"), default="small")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    run(args.size, args.repeat)


if __name__ == "__main__":
    main()
