"""A hostile corpus for the scanners: small NetCDF3 and HDF5 seed files (made
here, seeded) and seeded mutations of them (truncations, byte flips, huge
counts and sizes, spliced blocks that make structures point at themselves), and
a runner that scans each input in a forked child with a time limit and an
address-space limit, recording how each one ended.

Run as a script (the suite does, in a subprocess)::

    python tests/_hostile_scan.py OUT_DIR N_PER_SEED SEED

prints one JSON summary line: inputs tried, outcomes per kind, the worst peak
RSS, and every traceback, crash or hang with its input file (kept in OUT_DIR).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import vz_jupyter  # noqa: F401  (first: sets up h5py's filters before netCDF4 is imported)

#: per input: seconds before the child is killed and counted as a hang
INPUT_TIMEOUT = float(os.environ.get("VZ_HOSTILE_TIMEOUT", "20"))
#: per input: address space of the child (a bomb becomes a MemoryError traceback)
CHILD_AS_BYTES = int(float(os.environ.get("VZ_HOSTILE_AS_GB", "4")) * 2**30)

HUGE32 = [0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0x10000000, 0x00FFFFFF]
HUGE64 = [2**64 - 1, 2**63, 2**62, 2**40, 2**32, 2**31 + 1]


# --------------------------------------------------------------------------- seeds
def _nc3_name(s: str, wide: bool) -> bytes:
    b = s.encode()
    return struct.pack(">Q" if wide else ">I", len(b)) + b + b"\0" * (-len(b) % 4)


def nc3_bytes(version: int, numrecs: int, dims, gatts, variables) -> bytes:
    """A NetCDF3 header. dims: [(name, length)]; gatts: [(name, nc_type, data,
    nelems)]; variables: [(name, dimids, atts, nc_type, vsize, begin)]."""
    wide = version == 5
    cnt = ">Q" if wide else ">I"
    out = [b"CDF" + bytes([version]), struct.pack(cnt, numrecs)]

    def lst(tag, n):
        return struct.pack(">I", tag if n else 0) + struct.pack(cnt, n)

    def atts(a):
        parts = [lst(12, len(a))]
        for name, t, data, n in a:
            parts += [_nc3_name(name, wide), struct.pack(">I", t), struct.pack(cnt, n), data + b"\0" * (-len(data) % 4)]
        return b"".join(parts)

    out.append(lst(10, len(dims)))
    for name, ln in dims:
        out += [_nc3_name(name, wide), struct.pack(cnt, ln)]
    out.append(atts(gatts))
    out.append(lst(11, len(variables)))
    for name, dimids, a, t, vsize, begin in variables:
        out += [_nc3_name(name, wide), struct.pack(cnt, len(dimids))]
        out += [struct.pack(cnt, d) for d in dimids]
        out += [atts(a), struct.pack(">I", t), struct.pack(cnt, vsize), struct.pack(">I" if version == 1 else ">Q", begin)]
    return b"".join(out)


def make_nc3_seeds(folder: Path) -> list[Path]:
    import netCDF4

    out = []
    for fmt, tag in (("NETCDF3_CLASSIC", "c1"), ("NETCDF3_64BIT_OFFSET", "c2"), ("NETCDF3_64BIT_DATA", "c5")):
        p = folder / f"seed_{tag}.nc"
        with netCDF4.Dataset(p, "w", format=fmt) as d:
            d.title = "hostile seed"
            d.createDimension("time", None)
            d.createDimension("y", 3)
            d.createDimension("x", 4)
            d.createDimension("nchar", 5)
            t = d.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t[:] = np.arange(4)
            d.createVariable("y", "f4", ("y",))[:] = np.arange(3)
            v = d.createVariable("v", "i2", ("time", "y", "x"), fill_value=-9)
            v.scale_factor = 0.5
            v[:] = np.arange(48).reshape(4, 3, 4)
            d.createVariable("b", "i1", ("time",))[:] = [1, 2, 3, 4]
            d.createVariable("name", "S1", ("y", "nchar"))[:] = np.array([list("abcde")] * 3, "S1")
            if tag == "c5":
                d.createVariable("u", "u8", ("x",))[:] = np.arange(4)
        out.append(p)
    return out


def make_h5_seeds(folder: Path) -> list[Path]:
    import h5py
    import hdf5plugin
    import netCDF4

    out = []
    p = folder / "seed_nc4.nc"
    with netCDF4.Dataset(p, "w", format="NETCDF4") as d:
        d.createDimension("time", None)
        d.createDimension("x", 6)
        d.createVariable("time", "f8", ("time",))[:] = np.arange(3)
        v = d.createVariable("v", "f4", ("time", "x"), zlib=True, chunksizes=(1, 6))
        v.units = "K"
        v[:] = np.arange(18).reshape(3, 6)
        s = d.createVariable("s", str, ("x",))
        s[:] = np.array([f"s{i}" for i in range(6)], dtype=object)
        g = d.createGroup("sub")
        g.createVariable("w", "i4", ("x",))[:] = np.arange(6)
    out.append(p)

    p = folder / "seed_h5.h5"
    with h5py.File(p, "w") as f:
        f.attrs["title"] = "hostile seed"  # a vlen string attribute (global heap)
        f.create_dataset("contig", data=np.arange(20, dtype="<f8"))
        f.create_dataset("chunked", data=np.arange(60, dtype="<i4").reshape(6, 10), chunks=(2, 5),
                         compression="gzip", shuffle=True)
        f.create_dataset("blosc", data=np.arange(40, dtype="<f4"), chunks=(10,), **hdf5plugin.Blosc())
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        sid = h5py.h5s.create_simple((8,))
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I16LE, sid, dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.arange(8, dtype="<i2"))
        f.create_dataset("vlen_str", data=np.array(["a", "bb", "ccc", "dddd"], dtype=object),
                         dtype=h5py.string_dtype())
        f.create_dataset("compound", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]))
        f.create_dataset("ragged", shape=(2,), dtype=h5py.vlen_dtype("<i4"))
        x = f.create_dataset("x", data=np.arange(10.0))
        x.make_scale("x")
        f["contig2"] = f["contig"]
        f["chunked"].dims[1].attach_scale(x)
        g = f.create_group("grp")
        g.create_dataset("inner", data=np.arange(5))
        g["loop"] = g  # a hard-link cycle
        g["up"] = h5py.SoftLink("/grp")
        f["ext"] = h5py.ExternalLink("elsewhere.h5", "/x")
        f.create_dataset("empty_big", shape=(10**6,), chunks=(1000,), dtype="u1")
    out.append(p)

    p = folder / "seed_latest.h5"  # superblock 3, fixed/extensible array chunk indexes
    with h5py.File(p, "w", libver="latest") as f:
        f.create_dataset("fa", data=np.arange(100, dtype="<u2").reshape(10, 10), chunks=(5, 5))
        e = f.create_dataset("ea", shape=(0, 4), maxshape=(None, 4), chunks=(2, 4), dtype="<f4")
        e.resize((6, 4))
        e[:] = np.ones((6, 4))
        f.create_dataset("bt2", data=np.arange(16, dtype="<i8").reshape(4, 4), chunks=(2, 2), maxshape=(None, None))
        f.attrs.create("numbers", np.arange(5))
    out.append(p)
    return out


# --------------------------------------------------------------------------- mutations
def mutate(data: bytes, rng: np.random.Generator, kind: str) -> tuple[str, bytes]:
    """One mutation of ``data``; returns (description, bytes)."""
    n = len(data)
    meta = min(n, 4096)  # headers and most metadata live near the start in small files
    op = rng.choice(["truncate", "flip", "huge", "splice", "zero"], p=[0.15, 0.35, 0.3, 0.1, 0.1])
    b = bytearray(data)
    if op == "truncate":
        cut = int(rng.integers(0, n))
        return f"truncate {cut}", bytes(b[:cut])
    if op == "flip":
        k = int(rng.integers(1, 9))
        pos = [int(rng.integers(0, meta if rng.random() < 0.8 else n)) for _ in range(k)]
        for p in pos:
            b[p] = int(rng.integers(0, 256))
        return f"flip {pos}", bytes(b)
    if op == "zero":
        p = int(rng.integers(0, meta))
        ln = int(rng.integers(1, 17))
        b[p:p + ln] = bytes(len(b[p:p + ln]))
        return f"zero {p}+{ln}", bytes(b)
    if op == "huge":
        if kind == "nc3":  # big-endian 4/8-byte counts, aligned to 4
            p = int(rng.integers(1, max(2, meta // 4))) * 4
            if rng.random() < 0.5 or p + 8 > n:
                v = HUGE32[int(rng.integers(len(HUGE32)))]
                b[p:p + 4] = struct.pack(">I", v)[: len(b[p:p + 4])]
            else:
                v = HUGE64[int(rng.integers(len(HUGE64)))]
                b[p:p + 8] = struct.pack(">Q", v)
        else:  # little-endian sizes, addresses and dims
            p = int(rng.integers(8, max(9, meta - 8)))
            if rng.random() < 0.5:
                v = HUGE32[int(rng.integers(len(HUGE32)))]
                b[p:p + 4] = struct.pack("<I", v)
            else:
                v = HUGE64[int(rng.integers(len(HUGE64)))]
                b[p:p + 8] = struct.pack("<Q", v)
        return f"huge {p}={v:#x}", bytes(b)
    # splice: copy a block elsewhere (structures then point at each other or themselves)
    src = int(rng.integers(0, meta))
    dst = int(rng.integers(0, meta))
    ln = int(rng.integers(4, 65))
    block = bytes(b[src:src + ln])
    b[dst:dst + len(block)] = block
    return f"splice {src}->{dst}+{ln}", bytes(b[:n])


# --------------------------------------------------------------------------- runner
def _quiet_crash() -> None:
    import faulthandler

    faulthandler.disable()  # a SIGSEGV in libhdf5 is reported by the parent, not dumped here


def _child(path: str, max_grid: int) -> None:  # pragma: no cover - runs in a forked child
    _quiet_crash()
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS_BYTES, CHILD_AS_BYTES))
    import warnings

    warnings.simplefilter("ignore")
    import vz_jupyter as vz
    from vz_jupyter.core import limits
    from vz_jupyter.core.errors import VZError

    limits.MAX_GRID = max_grid  # what shows or writes a grid visits every chunk
    try:
        ds = vz.scan_file(path, errors="skip")
        text = repr(ds)
        html = ds._repr_html_()
        refs = vz.serialize(ds)
        assert isinstance(text, str) and isinstance(html, str) and refs is not None
    except VZError as e:
        msg = str(e)
        ok = "\n" not in msg and msg.startswith(path)
        os.write(1, json.dumps({"kind": "error" if ok else "bad-error", "msg": msg[:300]}).encode() + b"\n")
        os._exit(1)
    except BaseException as e:  # noqa: BLE001
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        os.write(1, json.dumps({"kind": "traceback", "msg": f"{type(e).__name__}: {str(e)[:300]}",
                                "where": "".join(tb[-3:])[-800:]}).encode() + b"\n")
        os._exit(2)
    os.write(1, json.dumps({"kind": "ok", "vars": len(ds.variables), "skipped": len(ds.skipped)}).encode() + b"\n")
    os._exit(0)


def _plain_h5py_child(path: str) -> None:  # pragma: no cover - runs in a forked child
    """What any h5py user does to list a file: open it, visit every link's object
    (info, type, shape, attribute names, chunk index). A damaged file that
    crashes this crashes HDF5 itself, with or without vz_jupyter."""
    import h5py

    _quiet_crash()
    seen = set()
    try:
        with h5py.File(path, "r") as f:
            def walk(gid):
                names = []
                gid.links.iterate(names.append)
                for n in names:
                    try:
                        info = h5py.h5o.get_info(gid, n)
                        if info.addr in seen:
                            continue
                        seen.add(info.addr)
                        obj = h5py.h5o.open(gid, n)
                        h5py.h5a.iterate(obj, lambda *a: None)
                        if isinstance(obj, h5py.h5g.GroupID):
                            walk(obj)
                        elif isinstance(obj, h5py.h5d.DatasetID):
                            obj.get_type(), obj.shape
                            if obj.get_create_plist().get_layout() == h5py.h5d.CHUNKED:
                                obj.chunk_iter(lambda i: None)
                    except Exception:  # noqa: BLE001
                        continue
            walk(f.id)
    except Exception:  # noqa: BLE001
        pass
    os._exit(0)


def reproduces_with_plain_h5py(path: str) -> bool:
    """Whether the plain h5py walk alone dies by a signal on ``path``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            _plain_h5py_child(path)
        finally:
            os._exit(0)
    deadline = time.perf_counter() + INPUT_TIMEOUT
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFSIGNALED(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def run_one(path: str, max_grid: int = 1 << 20) -> dict:
    """Scan ``path`` in a forked child; how it ended, its peak RSS and time."""
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os.close(r)
        os.dup2(w, 1)
        try:
            _child(path, max_grid)
        finally:
            os._exit(3)
    os.close(w)
    out = b""
    hang = False
    deadline = t0 + INPUT_TIMEOUT
    import select

    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            hang = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    res = {"seconds": round(time.perf_counter() - t0, 3), "peak_mb": round(ru.ru_maxrss / 1024, 1)}
    if hang:
        res["kind"] = "hang"
    elif os.WIFSIGNALED(status):
        # a crash inside libhdf5 that plain h5py shows too is HDF5's defect: no
        # Python code can intercept a SIGSEGV in C (counted apart, see the tests)
        res["kind"] = "hdf5-crash" if reproduces_with_plain_h5py(path) else "crash"
        res["msg"] = f"killed by signal {os.WTERMSIG(status)}"
    else:
        try:
            res.update(json.loads(out.decode().strip().splitlines()[-1]))
        except Exception:  # noqa: BLE001
            res.update(kind="crash", msg=f"exit {os.WEXITSTATUS(status)} without a report: {out[-300:]!r}")
    return res


def run_corpus(out_dir: Path, per_seed: int, seed: int) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = [(p, "nc3") for p in make_nc3_seeds(out_dir)] + [(p, "h5") for p in make_h5_seeds(out_dir)]
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    bad: list[dict] = []
    peak = 0.0
    slowest = 0.0
    n = 0
    for sp, kind in seeds:
        clean = sp.read_bytes()
        base = run_one(str(sp))
        if base["kind"] != "ok":
            bad.append({"input": str(sp), "what": "seed", **base})
        for i in range(per_seed):
            what, data = mutate(clean, rng, kind)
            p = out_dir / f"{sp.stem}_{i:04d}{sp.suffix}"
            p.write_bytes(data)
            res = run_one(str(p))
            n += 1
            counts[res["kind"]] = counts.get(res["kind"], 0) + 1
            peak = max(peak, res["peak_mb"])
            slowest = max(slowest, res["seconds"])
            if res["kind"] in ("ok", "error"):
                p.unlink()
            else:
                bad.append({"input": str(p), "what": what, **res})
    return {"inputs": n, "seeds": len(seeds), "outcomes": counts, "peak_rss_mb": peak,
            "slowest_s": slowest, "problems": bad}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    summary = run_corpus(out, int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(summary))
