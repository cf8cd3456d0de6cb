"""Append time: one new daily file onto archives of 1,000 and 10,000 files,
vz_jupyter vs kerchunk vs VirtualiZarr, one run.

    python benchmarks/bench_append.py                       # 1,000 and 10,000 files, all tools
    python benchmarks/bench_append.py --sizes 1000 --repeat 3   # a quicker look

The corpus is ``make_corpus.py --preset append``: 10,001 daily NetCDF4 files,
each ``air``/``rhum``/``uwnd`` (time=24, lat=13, lon=24), chunks (1, 13, 24),
zlib + shuffle, plus ``time``/``lat``/``lon``: 75 chunk references per file
(750,000 in the 10,000-file archive), ~70 kB a file. Chunks are ~800 bytes, so
nothing is inlined by accident: the archive references its files.

The archives (the first N files) are built once, untimed, by vz_jupyter
(``vz.concat`` + ``vz.write``): kerchunk JSON, kerchunk parquet (record size
100,000) and an Icechunk repository. Every tool appends to the same archive:
the JSON and parquet ones are plain kerchunk references that kerchunk reads
and amends; the Icechunk repository is what VirtualiZarr appends to.

Each timed pass starts from a fresh copy of the archive (the copy is not
timed) and appends file N+1 (its scan included, for every tool):

- vz_jupyter: ``vz.append(archive, new_file, dim="time")`` -- the whole
  check included (dtype, codecs, chunks, fills, CF packing, time order and
  overlaps against the archive, "already in the archive"), then an atomic
  write: the JSON file rewritten, the parquet folder rebuilt beside the old one
  with untouched record files hard-linked, one Icechunk commit. During every
  pass an audit hook counts opens of the archive's source files (must be 0).
- kerchunk: ``SingleHdf5ToZarr(new).translate()`` then
  ``MultiZarrToZarr.append([refs], archive, concat_dims=["time"],
  identical_dims=["lat", "lon"]).translate()``; JSON: the result written back
  with ``json.dump``; parquet: amended in place (``out.flush()``, not atomic).
- VirtualiZarr: ``open_virtual_dataset(new)`` then
  ``vds.virtualize.to_icechunk(session.store, append_dim="time")`` and
  ``session.commit(...)``.

After the passes each tool's result is opened with xarray and checked: the
time length is 24 (N+1), the last time is file N+1's last hour and the last
``air`` field equals the file's. One untimed warm-up pass, then ``--repeat``
timed passes (best and median, wall clock and CPU time).

Results go to benchmarks/results/append-<stamp>.json and append-latest.json.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (stdlib only: importable in every venv)

TOOLS = ("vz_jupyter", "kerchunk", "virtualizarr")
ROWS = (("vz_jupyter", "json"), ("kerchunk", "json"), ("vz_jupyter", "parquet"), ("kerchunk", "parquet"),
        ("vz_jupyter", "icechunk"), ("virtualizarr", "icechunk"))
PEER = {"json": "kerchunk", "parquet": "kerchunk", "icechunk": "virtualizarr"}
TARGET_SECONDS = 1.0  # 1 file onto 10,000 (parquet): well under a second


# ---------------------------------------------------------------------------
# shared by the workers (each runs in its own interpreter)
# ---------------------------------------------------------------------------

def _passes(prepare, run, repeat: int, warmup: int) -> dict:
    """``prepare()`` (untimed, returns the pass's target) then ``run(target)``
    (timed), ``warmup`` + ``repeat`` times."""
    import gc
    import statistics
    import time

    times, cpu, last = [], [], None
    for i in range(warmup + repeat):
        target = prepare()
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        out = run(target)
        t1, c1 = time.perf_counter(), time.process_time()
        if i >= warmup:
            times.append(t1 - t0)
            cpu.append(c1 - c0)
        last = (target, out)
    return {"best": min(times), "median": statistics.median(times), "times": times,
            "cpu_best": min(cpu), "cpu_median": statistics.median(cpu), "last": last}


def _fresh(src: str, scratch: str) -> str:
    """A fresh copy of the archive ``src`` in ``scratch`` (old copies removed)."""
    import shutil

    dst = os.path.join(scratch, "pass-" + os.path.basename(src))
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    elif os.path.exists(dst):
        os.remove(dst)
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
    return dst


def _verify(ds, new_file: str, n: int) -> str | None:
    """None when ``ds`` (xarray) holds n+1 files with the new one last."""
    import numpy as np
    import xarray as xr

    if ds.sizes.get("time") != 24 * (n + 1):
        return f"time has {ds.sizes.get('time')} steps, expected {24 * (n + 1)}"
    with xr.open_dataset(new_file) as ref:
        last = ds.isel(time=-1)  # only the last step is read (not the whole archive)
        if last["time"].values != ref["time"].values[-1]:
            return f"last time {last['time'].values} != {ref['time'].values[-1]}"
        if not np.array_equal(last["air"].values, ref["air"].values[-1], equal_nan=True):
            return "the last air field differs from the new file's"
    return None


# ---------------------------------------------------------------------------
# workers
# ---------------------------------------------------------------------------

def worker_build(files, sizes, root):
    """Build (or reuse) the archives of the first N files with vz_jupyter."""
    import json
    import shutil
    import time
    import warnings

    warnings.simplefilter("ignore")
    import vz_jupyter as vz

    out, seconds = {}, {}
    stamp_of = {"files": len(files), "first": files[0], "vz": vz.__version__, "version": 1}
    dsets = None
    for n in sizes:
        folder = os.path.join(root, str(n))
        paths = {fmt: os.path.join(folder, f"archive.{ext}")
                 for fmt, ext in (("json", "json"), ("parquet", "parquet"), ("icechunk", "icechunk"))}
        stamp = os.path.join(folder, "stamp.json")
        want = dict(stamp_of, n=n, last=files[n - 1])
        try:
            with open(stamp) as f:
                if json.load(f) == want and all(os.path.exists(p) for p in paths.values()):
                    out[str(n)] = paths
                    continue
        except (OSError, ValueError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        t0 = time.perf_counter()
        if dsets is None:
            dsets = list(vz.scan(files[: max(sizes)]))
        combined = vz.concat(dsets[:n], "time")
        for p in paths.values():
            vz.write(combined, p)
        seconds[str(n)] = time.perf_counter() - t0
        with open(stamp, "w") as f:
            json.dump(want, f)
        out[str(n)] = paths
    return {"archives": out, "build_seconds": seconds}


def worker_vz(archives, new_files, sizes, scratch, repeat=3, warmup=1):
    import sys as _sys
    import warnings

    warnings.simplefilter("ignore")
    import vz_jupyter as vz

    watch: dict = {"roots": (), "new": None, "opened": 0}

    def hook(event, args):
        if event == "open" and watch["roots"] and args and isinstance(args[0], (str, bytes)):
            p = os.fsdecode(args[0])
            if p.startswith(watch["roots"]) and p != watch["new"]:
                watch["opened"] += 1

    _sys.addaudithook(hook)
    res = {"versions": {"vz_jupyter": vz.__version__}}
    for n in map(str, sizes):
        new = new_files[n]
        corpus_dir = os.path.dirname(new) + os.sep
        for fmt, src in archives[n].items():
            os.makedirs(scratch, exist_ok=True)

            def run(target, new=new, corpus_dir=corpus_dir):
                watch["roots"], watch["new"] = (corpus_dir,), new
                try:
                    return vz.append(target, new, dim="time")
                finally:
                    watch["roots"] = ()

            watch["opened"] = 0
            before = watch["opened"]
            t = _passes(lambda src=src: _fresh(src, scratch), run, repeat, warmup)
            target, report = t.pop("last")
            # opens of corpus files other than the new one: the archive's sources
            t["archive_sources_opened"] = watch["opened"] - before
            t["report"] = report.summary_line()
            t["problem"] = _verify(vz.open(target), new, int(n))
            res.setdefault(n, {})[fmt] = t
    res["call"] = 'vz.append(archive, new_file, dim="time")'
    return res


def worker_kerchunk(archives, new_files, sizes, scratch, repeat=3, warmup=1):
    import json
    import warnings

    warnings.simplefilter("ignore")
    import kerchunk
    import xarray as xr
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    def single(path):
        h = SingleHdf5ToZarr(path)
        try:
            return h.translate()
        finally:
            h.input_file.close()

    kw = dict(concat_dims=["time"], identical_dims=["lat", "lon"])
    res = {"versions": {"kerchunk": kerchunk.__version__}}
    for n in map(str, sizes):
        new = new_files[n]
        for fmt in ("json", "parquet"):
            src = archives[n][fmt]
            os.makedirs(scratch, exist_ok=True)

            def run(target, fmt=fmt, new=new):
                mzz = MultiZarrToZarr.append([single(new)], target, **kw)
                out = mzz.translate()
                if fmt == "json":
                    with open(target, "w") as f:
                        json.dump(out, f)
                else:
                    mzz.out.flush()
                return None

            t = _passes(lambda src=src: _fresh(src, scratch), run, repeat, warmup)
            target, _ = t.pop("last")
            ds = xr.open_dataset("reference://", engine="zarr",
                                 backend_kwargs={"consolidated": False, "storage_options": {"fo": target}})
            t["problem"] = _verify(ds, new, int(n))
            res.setdefault(n, {})[fmt] = t
    res["call"] = ("MultiZarrToZarr.append([SingleHdf5ToZarr(new).translate()], archive, concat_dims=['time'], "
                   "identical_dims=['lat', 'lon']).translate() + json.dump / out.flush()")
    return res


def worker_virtualizarr(archives, new_files, sizes, scratch, repeat=3, warmup=1):
    import warnings

    warnings.simplefilter("ignore")
    os.environ.setdefault("ICECHUNK_LOG", "icechunk=error")
    import icechunk as ic
    import virtualizarr
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    registry = ObjectStoreRegistry({"file://": LocalStore()})
    parser = HDFParser()

    def repo_of(path):
        storage = ic.local_filesystem_storage(path)
        repo = ic.Repository.open(storage)
        prefixes = [c.url_prefix for c in (repo.config.virtual_chunk_containers or {}).values()]
        creds = ic.containers_credentials({p: None for p in prefixes}) if prefixes else None
        return ic.Repository.open(storage, authorize_virtual_chunk_access=creds)

    res = {"versions": {"virtualizarr": virtualizarr.__version__, "icechunk": ic.__version__}}
    for n in map(str, sizes):
        new = new_files[n]
        src = archives[n]["icechunk"]
        os.makedirs(scratch, exist_ok=True)

        def run(target, new=new):
            vds = open_virtual_dataset("file://" + new, registry=registry, parser=parser)
            session = repo_of(target).writable_session("main")
            vds.virtualize.to_icechunk(session.store, append_dim="time")
            return session.commit(f"append {os.path.basename(new)}")

        t = _passes(lambda src=src: _fresh(src, scratch), run, repeat, warmup)
        target, _ = t.pop("last")
        store = repo_of(target).readonly_session(branch="main").store
        t["problem"] = _verify(xr.open_zarr(store, consolidated=False, zarr_format=3), new, int(n))
        res.setdefault(n, {})["icechunk"] = t
    res["call"] = ('open_virtual_dataset(new) + vds.virtualize.to_icechunk(session.store, append_dim="time") '
                   "+ session.commit(...)")
    return res


WORKERS = {"vz_jupyter": "worker_vz", "kerchunk": "worker_kerchunk", "virtualizarr": "worker_virtualizarr"}


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------

def _fmt_s(x):
    if x is None:
        return "—"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def report(results: dict, sizes) -> tuple[str, dict, list[str]]:
    rows, summary, problems = [], {}, []
    for n in map(str, sizes):
        summary[n] = {}
        for tool, fmt in ROWS:
            r = results.get(tool)
            if r is None:
                continue
            if "error" in r:
                rows.append([tool, fmt, n, "failed", "", "", "", ""])
                continue
            t = r.get(n, {}).get(fmt)
            if t is None:
                continue
            peer = results.get(PEER[fmt], {}).get(n, {}).get(fmt) if tool == "vz_jupyter" else None
            ratio = peer["best"] / t["best"] if peer else None
            cpu_ratio = peer["cpu_best"] / t["cpu_best"] if peer and t["cpu_best"] else None
            summary[n][f"{tool}/{fmt}"] = {"best_s": t["best"], "median_s": t["median"], "cpu_best_s": t["cpu_best"],
                                           "vs_peer": ratio, "vs_peer_cpu": cpu_ratio,
                                           "archive_sources_opened": t.get("archive_sources_opened")}
            opened = t.get("archive_sources_opened")
            rows.append([tool, fmt, n, _fmt_s(t["best"]), _fmt_s(t["median"]), _fmt_s(t["cpu_best"]),
                         C.fmt_ratio(ratio) if tool == "vz_jupyter" else "—", "—" if opened is None else str(opened)])
            if t.get("problem"):
                problems.append(f"{tool} {fmt} {n}: {t['problem']}")
    table = C.format_table(rows, ["tool", "format", "archive files", "best", "median", "CPU best",
                                  "vs peer (same format)", "archive sources opened"])
    return table, summary, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="append 1 file to big archives: vz_jupyter vs kerchunk vs VirtualiZarr")
    ap.add_argument("--sizes", default="1000,10000", help="archive sizes in files (default 1000,10000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes per size and format")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tools", default=",".join(TOOLS))
    a = ap.parse_args(argv)
    sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {', '.join(bad)}")

    print("corpus: making or reusing the append corpus ...", file=sys.stderr, flush=True)
    files = C.ensure_corpus("append", files=max(sizes) + 1)
    new_files = {str(n): files[n] for n in sizes}
    root = os.path.join(C.BENCH_DIR, "_corpus", "append-archives")
    print(f"archives: building or reusing archives of {sizes} files ...", file=sys.stderr, flush=True)
    built = C.run_worker(C.project_python(), __file__, "worker_build",
                         dict(files=files[: max(sizes)], sizes=sizes, root=root), timeout=7200)
    archives = built["archives"]
    scratch = os.path.join(C.BENCH_DIR, "_corpus", "append-scratch")
    info = C.machine_info()
    results: dict = {}
    for t in tools:
        kwargs = dict(archives=archives, new_files=new_files, sizes=sizes, scratch=os.path.join(scratch, t),
                      repeat=a.repeat, warmup=a.warmup)
        try:
            py = C.project_python() if t == "vz_jupyter" else C.peers_python()
            print(f"{t}: appending 1 file to archives of {sizes} files ...", file=sys.stderr, flush=True)
            results[t] = C.run_worker(py, __file__, WORKERS[t], kwargs, timeout=7200)
        except C.WorkerError as e:
            results[t] = {"error": str(e)}
            print(f"{t}: FAILED\n{e}", file=sys.stderr)
    table, summary, problems = report(results, sizes)
    info["loadavg_after"] = C.machine_info().get("loadavg", "?")
    print()
    print(f"append benchmark — 1 NetCDF4 file (75 chunk refs) onto archives of {', '.join(f'{n:,}' for n in sizes)} "
          f"files, best of {a.repeat} — {info['date']}, {info['cpus']} CPUs, load average "
          f"{info.get('loadavg', '?')} before, {info['loadavg_after']} after")
    print(table)
    for n in map(str, sizes):
        s = summary.get(n, {}).get("vz_jupyter/parquet")
        if s and int(n) >= 10000:
            print(f"target ({n} files, parquet): well under {TARGET_SECONDS:g} s and no archive source read: "
                  f"{'met' if s['best_s'] < TARGET_SECONDS and not s['archive_sources_opened'] else 'NOT met'} "
                  f"({_fmt_s(s['best_s'])}, {s['archive_sources_opened']} opened)")
    if problems:
        print("result check: PROBLEM")
        for p in problems:
            print("  " + p)
    else:
        print("result check: every tool's archive opens with N+1 files, the new file's times and values last")
    path = C.write_results("append", {
        "benchmark": "append", "machine": info, "sizes": sizes, "repeat": a.repeat, "warmup": a.warmup,
        "build_seconds": built.get("build_seconds"), "summary": summary, "results": results, "problems": problems,
    })
    print(f"results: {os.path.relpath(path, C.ROOT)}")
    failed = [t for t, r in results.items() if "error" in r]
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
