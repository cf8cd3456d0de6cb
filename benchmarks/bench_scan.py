"""Scan speed and manifest memory: vz_jupyter vs kerchunk vs VirtualiZarr, one run.

    python benchmarks/bench_scan.py            # 100-file corpus, best of 5, all tools
    python benchmarks/bench_scan.py --files 20 --repeat 1     # a quick look

For every tool, in a fresh interpreter of its own (vz_jupyter in the project's
``.venv``, the peers in ``.venv-peers``, created on first use by setup_peers.sh):

1. one untimed warm-up pass over the corpus (page cache warm, imports done),
2. ``--repeat`` timed passes, serial, one file after the other: files/s from the best
   and the median pass,
3. one more pass under tracemalloc for memory: bytes per chunk reference,
4. a summary of the references produced (per variable: chunk count, sum of offsets,
   sum of lengths), compared across tools as a light correctness check.

What each tool does per file (all references, no data loaded):

- vz_jupyter: ``vz.scan(files)`` (serial; executor None) -> VDataset per file
- kerchunk: ``SingleHdf5ToZarr(path).translate()`` -> refs dict (inline_threshold 500,
  its default; the file handle is closed after each file)
- VirtualiZarr: ``open_virtual_dataset("file://" + path, registry, HDFParser(),
  loadable_variables=[])`` -> xarray.Dataset of ManifestArrays. ``loadable_variables=[]``
  so coordinates are references too, like the others (its default would read the
  dimension coordinates' values into memory).

Memory columns:

- manifest B/chunk: the chunk references only. vz_jupyter: sum of ``Manifest.nbytes``
  (columns + inlined bytes); kerchunk: deep ``sys.getsizeof`` of the chunk entries
  (key string, [url, offset, length] list and ints, the shared url counted once, plus
  their share of the dict's table); VirtualiZarr: sum of ``ChunkManifest.nbytes``
  (numpy paths/offsets/lengths; StringDType counts 16 B per path, its heap excluded).
- retained B/chunk: everything the scan result keeps alive (metadata, attributes,
  objects), measured with tracemalloc, divided by the chunk references.

Results go to benchmarks/results/scan-<stamp>.json and scan-latest.json.

Wide files (``--wide N``): scan cost must grow linearly with the number of
variables. Two NetCDF4 files with N variables each (time x 10 floats, two
attributes, one chunk), one as netCDF-C writes it today (``_Netcdf4Coordinates``
on every variable) and one as older netCDF-C and h5py dimension-scale writers do
(dimension scales only: ``DIMENSION_LIST`` / ``REFERENCE_LIST``). Each tool scans
each file in a fresh process; the table gives seconds per file and the ratio to
the h5py floor (target: vz_jupyter <= 3x the floor)::

    python benchmarks/bench_scan.py --wide 2000            # all tools
    python benchmarks/bench_scan.py --wide 2000 --tools vz_jupyter,h5py_floor
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (stdlib only: importable in every venv)

TOOLS = ("vz_jupyter", "kerchunk", "virtualizarr", "h5py_floor")
PEERS = ("kerchunk", "virtualizarr")
TARGET = 5.0  # vz files/s >= TARGET x the faster peer, serial


# ---------------------------------------------------------------------------
# workers (run in a subprocess; import their tool lazily)
# ---------------------------------------------------------------------------

def _versions(*mods) -> dict:
    import importlib

    out = {}
    for m in mods:
        try:
            out[m] = getattr(importlib.import_module(m), "__version__", "?")
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            out[m] = f"unavailable: {e}"
    try:
        import h5py

        out["hdf5"] = h5py.version.hdf5_version
    except Exception:  # noqa: BLE001
        pass
    return out


def _measure(one_pass, summarize, manifest_bytes, repeat, warmup, memory) -> dict:
    timing = C.time_passes(one_pass, repeat=repeat, warmup=warmup)
    result = one_pass()
    per_var, n_chunks = summarize(result)
    out = {
        "timing": timing,
        "chunks": n_chunks,
        "per_var": per_var,
        "manifest_bytes": manifest_bytes(result),
    }
    del result
    if memory:
        result, retained, peak = C.retained_memory(one_pass)
        out["retained_bytes"] = retained
        out["peak_bytes"] = peak
        del result
    return out


def worker_vz(files, repeat=3, warmup=1, memory=True):
    import numpy as np

    import vz_jupyter as vz
    from vz_jupyter.core.model import MAX_PATH_ID

    def one_pass():
        return vz.scan(files)

    def summarize(result):
        per_var, n = {}, 0
        for ds in result:
            for name, va in ds.variables.items():
                m = va.manifest
                ref = m.path_id <= MAX_PATH_ID
                k = int(np.count_nonzero(ref)) + m.n_inline
                s = per_var.setdefault(name, [0, 0, 0, 0])
                s[0] += k
                s[1] += m.n_inline
                s[2] += int(m.offset[ref].sum(dtype=np.uint64))
                s[3] += int(m.length[ref].sum(dtype=np.uint64))
                n += k
        return per_var, n

    def manifest_bytes(result):
        return sum(va.manifest.nbytes for ds in result for va in ds.variables.values())

    out = _measure(one_pass, summarize, manifest_bytes, repeat, warmup, memory)
    out["versions"] = _versions("vz_jupyter", "h5py", "numpy")
    out["call"] = "vz.scan(files)  # serial"
    return out


def worker_kerchunk(files, repeat=3, warmup=1, memory=True):
    from kerchunk.hdf import SingleHdf5ToZarr

    def translate(path):
        h = SingleHdf5ToZarr(path)
        try:
            return h.translate()
        finally:
            h.input_file.close()

    def one_pass():
        return [translate(f) for f in files]

    def chunk_items(refs):
        for k, v in refs.items():
            base = k.rsplit("/", 1)[-1]
            if "/" in k and not base.startswith("."):
                yield k, v

    def summarize(result):
        per_var, n = {}, 0
        for r in result:
            for k, v in chunk_items(r["refs"]):
                s = per_var.setdefault(k.rsplit("/", 1)[0], [0, 0, 0, 0])
                s[0] += 1
                n += 1
                if isinstance(v, list) and len(v) == 3:
                    s[2] += int(v[1])
                    s[3] += int(v[2])
                elif isinstance(v, list):  # [url]: a whole file
                    pass
                else:
                    s[1] += 1
        return per_var, n

    def manifest_bytes(result):
        total = 0
        for r in result:
            refs = r["refs"]
            seen: set = set()
            items = list(chunk_items(refs))
            for k, v in items:
                total += C.deep_sizeof(k, seen) + C.deep_sizeof(v, seen)
            total += sys.getsizeof(refs) * len(items) // max(1, len(refs))
        return total

    out = _measure(one_pass, summarize, manifest_bytes, repeat, warmup, memory)
    out["versions"] = _versions("kerchunk", "h5py", "zarr", "fsspec")
    out["call"] = "SingleHdf5ToZarr(path).translate()"
    return out


def worker_virtualizarr(files, repeat=3, warmup=1, memory=True):
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.manifests import ManifestArray
    from virtualizarr.parsers import HDFParser

    registry = ObjectStoreRegistry({"file://": LocalStore()})
    parser = HDFParser()
    urls = ["file://" + f for f in files]

    def one_pass():
        return [open_virtual_dataset(u, registry=registry, parser=parser, loadable_variables=[])
                for u in urls]

    def manifests(result):
        for ds in result:
            for name, v in ds.variables.items():
                if isinstance(v.data, ManifestArray):
                    yield name, v.data.manifest

    def summarize(result):
        per_var, n = {}, 0
        for name, m in manifests(result):
            ref = m._paths != ""
            k = int(np.count_nonzero(ref))
            s = per_var.setdefault(name, [0, 0, 0, 0])
            s[0] += k
            s[2] += int(m._offsets[ref].sum(dtype=np.uint64))
            s[3] += int(m._lengths[ref].sum(dtype=np.uint64))
            n += k
        return per_var, n

    def manifest_bytes(result):
        return sum(m.nbytes for _, m in manifests(result))

    out = _measure(one_pass, summarize, manifest_bytes, repeat, warmup, memory)
    out["versions"] = _versions("virtualizarr", "h5py", "zarr", "obstore", "xarray")
    out["call"] = "open_virtual_dataset(url, registry, HDFParser(), loadable_variables=[])"
    return out


def worker_h5py_floor(files, repeat=3, warmup=1, memory=True):
    """Not a tool: the least work any h5py-based scanner does -- open the file, walk
    every dataset's chunks with ``chunk_iter`` (offset/size of contiguous ones) and
    read all attributes -- keeping offsets and lengths in plain lists."""
    import h5py

    def scan_one(path):
        out = {}
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs.items())
            for name, ds in f.items():
                if not isinstance(ds, h5py.Dataset):
                    continue
                a = dict(ds.attrs.items())
                offs, lens = [], []
                if ds.chunks is not None:
                    def visit(info, offs=offs, lens=lens):  # returns None: keep iterating
                        offs.append(info.byte_offset)
                        lens.append(info.size)

                    ds.id.chunk_iter(visit)
                else:
                    off = ds.id.get_offset()
                    if off is not None:
                        offs.append(off)
                        lens.append(ds.id.get_storage_size())
                out[name] = (offs, lens, a)
        return out, attrs

    def one_pass():
        return [scan_one(f) for f in files]

    def summarize(result):
        per_var, n = {}, 0
        for dsets, _ in result:
            for name, (offs, lens, _a) in dsets.items():
                s = per_var.setdefault(name, [0, 0, 0, 0])
                s[0] += len(offs)
                s[2] += sum(offs)
                s[3] += sum(lens)
                n += len(offs)
        return per_var, n

    def manifest_bytes(result):
        seen: set = set()
        return sum(C.deep_sizeof(o, seen) + C.deep_sizeof(lst, seen)
                   for dsets, _ in result for o, lst, _a in dsets.values())

    out = _measure(one_pass, summarize, manifest_bytes, repeat, warmup, memory)
    out["versions"] = _versions("h5py", "numpy")
    out["call"] = "h5py.File + chunk_iter + attrs.items() (reference floor, not a tool)"
    return out


def make_wide(out: str, n_vars: int) -> list[str]:
    """Two NetCDF4 files with ``n_vars`` variables each (see the module docstring);
    reused when present."""
    import shutil

    import h5py
    import netCDF4
    import numpy as np

    os.makedirs(out, exist_ok=True)
    nc4 = os.path.join(out, f"wide{n_vars}_nc4.nc")
    old = os.path.join(out, f"wide{n_vars}_dimscales_only.nc")
    if not os.path.exists(nc4):
        tmp = nc4 + ".tmp"
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as d:
            d.createDimension("time", None)
            d.createDimension("x", 10)
            d.createVariable("time", "f8", ("time",))[:] = np.arange(3)
            d.createVariable("x", "f4", ("x",))[:] = np.arange(10)
            for i in range(n_vars):
                v = d.createVariable(f"v{i:05d}", "f4", ("time", "x"))
                v.units = "m"
                v.long_name = f"variable {i}"
                v[:] = np.full((3, 10), i, "f4")
        os.replace(tmp, nc4)
    if not os.path.exists(old):
        tmp = old + ".tmp"
        shutil.copy(nc4, tmp)
        with h5py.File(tmp, "a") as f:
            for v in f.values():
                if "CLASS" not in v.attrs and "_Netcdf4Coordinates" in v.attrs:
                    del v.attrs["_Netcdf4Coordinates"]
        os.replace(tmp, old)
    return [nc4, old]


def main_wide(a, tools) -> int:
    out = os.path.join(C.BENCH_DIR, "_corpus", f"wide{a.wide}")
    print(f"corpus: making or reusing {os.path.relpath(out, C.ROOT)} ...", file=sys.stderr, flush=True)
    files = C.run_worker(C.project_python(), __file__, "make_wide", {"out": out, "n_vars": a.wide})
    info = C.machine_info()
    results: dict = {}
    for f in files:
        label = os.path.basename(f)
        for t in tools:
            py = C.project_python() if t in ("vz_jupyter", "h5py_floor") else C.peers_python()
            print(f"{label} {t}: {a.warmup} warm-up + {a.repeat} timed passes ...", file=sys.stderr, flush=True)
            try:
                r = C.run_worker(py, __file__, WORKERS[t], dict(files=[f], repeat=a.repeat, warmup=a.warmup, memory=False))
                results.setdefault(label, {})[t] = {"seconds": r["timing"]["best"], "cpu_seconds": r["timing"]["cpu_best"],
                                                    "chunks": r["chunks"]}
            except C.WorkerError as e:
                results.setdefault(label, {})[t] = {"error": str(e)}
                print(f"{t}: FAILED\n{e}", file=sys.stderr)
    rows = []
    for label, res in results.items():
        floor = res.get("h5py_floor", {})
        for t in TOOLS:
            if t not in res:
                continue
            r = res[t]
            if "error" in r:
                rows.append([label, t, "failed", "", "", ""])
                continue
            ratio = r["seconds"] / floor["seconds"] if floor.get("seconds") else None
            ratio_cpu = r["cpu_seconds"] / floor["cpu_seconds"] if floor.get("cpu_seconds") else None
            rows.append([label, "h5py floor (ref.)" if t == "h5py_floor" else t, f"{r['seconds']:.2f}",
                         f"{r['cpu_seconds']:.2f}", C.fmt_ratio(ratio), C.fmt_ratio(ratio_cpu)])
    print()
    print(f"wide-file scan — {a.wide} variables per file, best of {a.repeat} — {info['date']}, {info['cpus']} CPUs, "
          f"load average {info.get('loadavg', '?')}")
    print(C.format_table(rows, ["file", "tool", "s/file", "CPU s", "x h5py floor", "(CPU)"]))
    path = C.write_results("scan-wide", {"benchmark": "scan-wide", "machine": info, "n_vars": a.wide,
                                         "repeat": a.repeat, "results": results})
    print(f"results: {os.path.relpath(path, C.ROOT)}")
    return 1 if any("error" in r for res in results.values() for r in res.values()) else 0


WORKERS = {"h5py_floor": "worker_h5py_floor", "vz_jupyter": "worker_vz", "kerchunk": "worker_kerchunk", "virtualizarr": "worker_virtualizarr"}


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------

def check_refs(results: dict) -> list[str]:
    """Compare per-variable reference summaries across tools; return problems."""
    problems = []
    ok = {t: r for t, r in results.items() if "per_var" in r}
    if len(ok) < 2:
        return problems
    names = sorted(set().union(*(r["per_var"] for r in ok.values())))
    for name in names:
        have = {t: r["per_var"].get(name) for t, r in ok.items()}
        missing = [t for t, s in have.items() if s is None]
        if missing:
            problems.append(f"{name}: no references from {', '.join(missing)}")
            continue
        counts = {t: s[0] for t, s in have.items()}
        if len(set(counts.values())) > 1:
            problems.append(f"{name}: chunk counts differ {counts}")
            continue
        # offsets/lengths comparable only where no tool inlined any chunk of it
        if all(s[1] == 0 for s in have.values()):
            sums = {t: (s[2], s[3]) for t, s in have.items()}
            if len(set(sums.values())) > 1:
                problems.append(f"{name}: offsets/lengths differ {sums}")
    return problems


def merge_rounds(runs: list[dict]) -> dict:
    """Combine one tool's worker runs (rounds): timings pooled, the rest from round 1."""
    out = dict(runs[0])
    t = {"times": [x for r in runs for x in r["timing"]["times"]],
         "cpu_times": [x for r in runs for x in r["timing"]["cpu_times"]]}
    t.update(best=min(t["times"]), median=statistics.median(t["times"]),
             cpu_best=min(t["cpu_times"]), cpu_median=statistics.median(t["cpu_times"]))
    out["timing"] = t
    return out


def report(results: dict, n_files: int) -> tuple[str, dict]:
    ok = {t: r for t, r in results.items() if "timing" in r}
    rate = {t: {k: n_files / r["timing"][k] for k in ("best", "median", "cpu_best", "cpu_median")}
            for t, r in ok.items()}
    faster = {}
    for k in ("best", "cpu_best"):
        peer = [rate[t][k] for t in PEERS if t in rate]
        faster[k] = max(peer) if peer else None
    rows = []
    summary = {}
    for t in TOOLS:
        if t not in results:
            continue
        label = "h5py floor (ref.)" if t == "h5py_floor" else t
        r = results[t]
        if t not in ok:
            rows.append([label, "failed"] + [""] * 7)
            continue
        rt = rate[t]
        ratio = rt["best"] / faster["best"] if faster["best"] else None
        ratio_cpu = rt["cpu_best"] / faster["cpu_best"] if faster["cpu_best"] else None
        chunks = r["chunks"]
        mb = r["manifest_bytes"] / chunks if chunks else None
        rb = r["retained_bytes"] / chunks if chunks and "retained_bytes" in r else None
        summary[t] = {"files_per_s_best": rt["best"], "files_per_s_median": rt["median"],
                      "files_per_cpu_s_best": rt["cpu_best"], "files_per_cpu_s_median": rt["cpu_median"],
                      "ratio_vs_faster_peer": ratio, "ratio_vs_faster_peer_cpu": ratio_cpu,
                      "manifest_bytes_per_chunk": mb, "retained_bytes_per_chunk": rb, "chunks": chunks}
        rows.append([label, C.fmt_rate(rt["best"]), C.fmt_rate(rt["median"]), C.fmt_rate(rt["cpu_best"]),
                     C.fmt_ratio(ratio), C.fmt_ratio(ratio_cpu), C.fmt_rate(mb), C.fmt_rate(rb), f"{chunks:,}"])
    table = C.format_table(rows, ["tool", "files/s", "(median)", "files/CPU-s", "vs faster peer",
                                  "(CPU)", "manifest B/chunk", "retained B/chunk", "chunk refs"])
    return table, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="scan files/s and bytes per chunk vs peers")
    ap.add_argument("--files", type=int, default=100, help="number of corpus files (default 100)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per tool and round (default 3)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds: tools run in turn, each round in fresh processes, so that load from "
                         "other work hits every tool alike; timings are pooled (default 2)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed passes first")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--corpus", help="scan these NetCDF4 files' directory instead of the generated corpus")
    ap.add_argument("--wide", type=int, metavar="N",
                    help="instead: two files with N variables each, seconds per file vs the h5py floor")
    a = ap.parse_args(argv)

    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {', '.join(bad)}")
    if a.wide:
        return main_wide(a, tools)

    if a.corpus:
        import glob

        files = sorted(glob.glob(os.path.join(os.path.abspath(a.corpus), "*.nc")))[: a.files]
        corpus_params = {"dir": os.path.abspath(a.corpus)}
    else:
        print("corpus: making or reusing benchmarks/_corpus/scan ...", file=sys.stderr, flush=True)
        files = C.ensure_corpus("scan", files=max(a.files, 100))[: a.files]
        from make_corpus import load_manifest

        corpus_params = load_manifest(os.path.dirname(files[0]))["params"]
    if not files:
        print("no files to scan", file=sys.stderr)
        return 2
    total_bytes = sum(os.path.getsize(f) for f in files)

    info = C.machine_info()  # load average before the runs
    runs: dict = {t: [] for t in tools}
    errors: dict = {}
    for rnd in range(a.rounds):
        for t in tools:
            if t in errors:
                continue
            kwargs = dict(files=files, repeat=a.repeat, warmup=a.warmup, memory=(rnd == 0 and not a.no_memory))
            try:
                py = C.project_python() if t in ("vz_jupyter", "h5py_floor") else C.peers_python()
                print(f"round {rnd + 1}/{a.rounds} {t}: {a.warmup} warm-up + {a.repeat} timed passes "
                      f"over {len(files)} files ...", file=sys.stderr, flush=True)
                runs[t].append(C.run_worker(py, __file__, WORKERS[t], kwargs))
            except C.WorkerError as e:
                errors[t] = {"error": str(e)}
                print(f"{t}: FAILED\n{e}", file=sys.stderr)
    results = {t: errors[t] if t in errors else merge_rounds(runs[t]) for t in tools}

    table, summary = report(results, len(files))
    problems = check_refs(results)
    info["loadavg_after"] = C.machine_info().get("loadavg", "?")
    print()
    print(f"scan benchmark — {len(files)} NetCDF4 files, {total_bytes / 1e6:.0f} MB, serial, page cache warm, "
          f"best of {a.repeat * a.rounds} passes in {a.rounds} rounds — {info['date']}, {info['cpus']} CPUs, {info['processor']}, "
          f"load average {info.get('loadavg', '?')} before, {info['loadavg_after']} after")
    print(table)
    vz = summary.get("vz_jupyter")
    if vz and vz["ratio_vs_faster_peer"] is not None:
        w, c = vz["ratio_vs_faster_peer"], vz["ratio_vs_faster_peer_cpu"]
        verdict = ("met" if min(w, c) >= TARGET else "met on CPU time only" if c >= TARGET
                   else "met on wall time only" if w >= TARGET else "NOT met")
        print(f"target: vz_jupyter >= {TARGET:g}x the faster peer, serial: {verdict} "
              f"(wall {C.fmt_ratio(w)}, CPU {C.fmt_ratio(c)})")
    if problems:
        print("reference check: MISMATCH")
        for p in problems:
            print("  " + p)
    elif sum("per_var" in r for r in results.values()) >= 2:
        print("reference check: every tool produced the same chunk references per variable "
              "(counts; offsets and lengths where nothing was inlined)")
    path = C.write_results("scan", {
        "benchmark": "scan", "machine": info, "corpus": corpus_params, "n_files": len(files),
        "corpus_bytes": total_bytes, "repeat": a.repeat, "rounds": a.rounds, "warmup": a.warmup,
        "summary": summary, "results": results, "reference_problems": problems, "target": TARGET,
    })
    print(f"results: {os.path.relpath(path, C.ROOT)}")
    failed = [t for t, r in results.items() if "error" in r]
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
