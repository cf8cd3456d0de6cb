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

Remote (``--remote``): the same files served by a loopback HTTP server with
Range support that answers every request after ``--latency`` seconds (30 ms:
an object store), references pointing at its URLs. (a) plain xarray over the
kerchunk references (``reference://`` with zarr, as a colleague opens them),
(b) the read-plan executor with its defaults (the object-store cost model
coalesces ranges), (c) the executor span-exact (``cost=LOCAL``, the local
rule). Requests and bytes are counted by the server; time is the median of
``--repeat`` warm runs (the first, untimed, opens sessions).

Run:  .venv/bin/python benchmarks/bench_read.py [--size small|medium] [--repeat N]
      .venv/bin/python benchmarks/bench_read.py --remote [--latency 0.03] [--repeat 3]
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    for v in ds.variables.values():
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


def _plan_and_read(ds, key):
    return plan(ds, key, variable="air").execute()


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
                ta = median_time(functools.partial(_xr_read, xl, isel), repeat)
                tb = median_time(functools.partial(_plan_and_read, ds_local, key), repeat)
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


# ---------------------------------------------------------------------------
# remote: a loopback Range server with a per-request latency


class SlowRangeHandler(BaseHTTPRequestHandler):
    """Serves ``root`` with Range support; every request waits ``latency`` s first
    and is counted (requests, body bytes)."""

    root = "."
    latency = 0.03
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock = threading.Lock()
    requests = 0
    nbytes = 0

    def log_message(self, *a):
        pass

    def _count(self, n: int) -> None:
        with SlowRangeHandler.lock:
            SlowRangeHandler.requests += 1
            SlowRangeHandler.nbytes += n

    def do_HEAD(self):
        time.sleep(self.latency)
        p = os.path.join(self.root, self.path.lstrip("/").split("?")[0])
        self._count(0)
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(p)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        time.sleep(self.latency)
        p = os.path.join(self.root, self.path.lstrip("/").split("?")[0])
        size = os.path.getsize(p)
        rng = self.headers.get("Range")
        with open(p, "rb") as f:
            if rng:
                m = re.match(r"bytes=(\d*)-(\d*)", rng)
                a = int(m.group(1) or 0)
                b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                f.seek(a)
                body = f.read(b - a + 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
            else:
                body = f.read()
                self.send_response(200)
        self._count(len(body))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)

    @classmethod
    def reset(cls):
        cls.requests = 0
        cls.nbytes = 0


@contextlib.contextmanager
def slow_server(root: str, latency: float):
    handler = type("H", (SlowRangeHandler,), {"root": root, "latency": latency})
    srv = type("S", (ThreadingHTTPServer,), {"request_queue_size": 512, "daemon_threads": True})(
        ("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _plain_xarray(refs: str):
    """The references opened as a colleague does: plain xarray + zarr over ``reference://``."""
    import xarray as xr

    return xr.open_dataset("reference://", engine="zarr", decode_cf=False,
                           backend_kwargs={"consolidated": False, "storage_options": {
                               "fo": refs, "remote_protocol": "http", "remote_options": {"asynchronous": True}}})


def _xr_read(xa, isel):
    return xa["air"].isel(isel).values


def _counted(fn):
    SlowRangeHandler.reset()
    out = fn()
    return out, SlowRangeHandler.requests, SlowRangeHandler.nbytes


def run_remote(size: str = "small", latency: float = 0.03, repeat: int = 3, out=sys.stdout) -> list[dict]:
    """Long because: one table row per (file, read) with three readers each counted and timed
    in turn; splitting it scatters the one measurement protocol."""
    from vz_jupyter.core.read.cost import LOCAL

    nt, ny, nx = {"small": (365, 73, 144), "medium": (1460, 73, 144)}[size]
    reads = {
        "point": (nt // 2, ny // 2, nx // 3),
        "series": (slice(None), ny // 2, nx // 3),
        "slab": (slice(10, 110), slice(10, 40), slice(20, 80)),
        "full": (slice(None), slice(None), slice(None)),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="vzbench-remote-") as d, slow_server(d, latency) as base:
        files = make_files(d, nt, ny, nx)
        for label, path in files.items():
            ds = _at_base(vz.scan_file(path), d, base)
            refs = os.path.join(d, label + "-http.json")
            vz.write(ds, refs)
            xa = _plain_xarray(refs)
            for rname, key in reads.items():
                isel = dict(zip(("time", "lat", "lon"), key))
                p = plan(ds, key, variable="air")
                read_a = functools.partial(_xr_read, xa, isel)
                read_b = p.execute
                read_c = functools.partial(p.execute, cost=LOCAL)
                a, a_req, a_bytes = _counted(read_a)
                b, b_req, b_bytes = _counted(read_b)
                c, c_req, c_bytes = _counted(read_c)
                np.testing.assert_array_equal(a, b)
                np.testing.assert_array_equal(b, c)
                assert b_req == p.n_requests and b_bytes == p.bytes_to_read, (b_req, p.n_requests)
                ta, tb, tc = (median_time(f, repeat) for f in (read_a, read_b, read_c))
                rows.append(dict(data=label, read=rname, needed=p.bytes_needed, a_req=a_req, a_bytes=a_bytes,
                                 b_req=b_req, b_bytes=b_bytes, c_req=c_req, c_bytes=c_bytes, ta=ta, tb=tb, tc=tc,
                                 est=p.estimated_seconds))
            xa.close()
    _print_remote(rows, out, size, (nt, ny, nx), latency, repeat)
    return rows


def _at_base(ds, folder: str, base: str):
    """``ds`` with its local paths under ``folder`` turned into URLs under ``base``."""
    out = ds
    for v in ds.variables.values():
        m = v.manifest
        paths = tuple(base + "/" + os.path.relpath(p, folder) for p in m.paths)
        out = out.with_variable(v.replace(manifest=type(m)(paths, m.path_id, m.offset, m.length, m.inline)))
    return out


def _print_remote(rows, out, size, shape, latency, repeat):
    out.write(f"bench_read --remote: float32 air{shape}, size={size}, loopback HTTP with {latency * 1e3:.0f} ms "
              f"per request, time = median of {repeat} warm runs\n")
    out.write("(a) plain xarray over kerchunk references (zarr)   (b) vz plan executor, object-store cost model "
              "(default)   (c) vz executor span-exact (cost=LOCAL)\n\n")
    hdr = (f"{'data':<11} {'read':<7} {'needed':>10} {'(a) req':>7} {'(a) bytes':>10} {'(b) req':>7} "
           f"{'(b) bytes':>10} {'(c) req':>7} {'(a) ms':>8} {'(b) ms':>8} {'(c) ms':>8} {'a/b time':>8} "
           f"{'c/b time':>8} {'b est ms':>8}\n")
    out.write(hdr)
    out.write("-" * len(hdr) + "\n")
    for r in rows:
        out.write(
            f"{r['data']:<11} {r['read']:<7} {_fmt_b(r['needed']):>10} {r['a_req']:>7} {_fmt_b(r['a_bytes']):>10} "
            f"{r['b_req']:>7} {_fmt_b(r['b_bytes']):>10} {r['c_req']:>7} {r['ta'] * 1e3:>8.1f} "
            f"{r['tb'] * 1e3:>8.1f} {r['tc'] * 1e3:>8.1f} {r['ta'] / r['tb']:>8.1f} {r['tc'] / r['tb']:>8.1f} "
            f"{r['est'] * 1e3:>8.1f}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "medium"), default="small")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per read (5 local, 3 remote)")
    ap.add_argument("--remote", action="store_true", help="read over a loopback HTTP server with --latency")
    ap.add_argument("--latency", type=float, default=0.03, help="seconds per request for --remote (0.03)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.remote:
        rows = run_remote(args.size, args.latency, args.repeat or 3)
    else:
        rows = run(args.size, args.repeat or 5)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
