"""Scale: combine time at 100 / 1,000 / 10,000 files and bytes per chunk reference
at 10 million chunks — vz_jupyter vs kerchunk vs VirtualiZarr, one run.

    python benchmarks/bench_scale.py                        # ~10-15 min on 2 busy cores
    python benchmarks/bench_scale.py --sizes 100,1000 --refs 1000000   # a quick look (~3 min)

**Combine** uses the ``append`` corpus (``make_corpus.py --preset append``: 10,001
daily NetCDF4 files, ``air``/``rhum``/``uwnd`` (time=24, lat=13, lon=24), chunks
(1, 13, 24), plus ``time``/``lat``/``lon``: 75 chunk references per file, ~90 KB a
file; made on first use in ~2 min). Each tool runs in a fresh interpreter; the
per-file inputs are built once, untimed, the way each tool's users build them
(``vz.scan``; kerchunk ``SingleHdf5ToZarr`` — cached as JSON next to the corpus
after the first run, since that untimed step alone takes minutes; VirtualiZarr
``open_virtual_dataset`` with its default loadable variables). Then for each size
N (the first N files) the same calls as ``bench_combine.py``:
``vz.concat(dsets[:N], "time")`` (the full check included),
``MultiZarrToZarr(refs[:N], concat_dims=["time"], identical_dims=["lat", "lon"]).translate()``,
``xr.concat(vdss[:N], dim="time", coords="minimal", compat="override", combine_attrs="override")``.
One warm-up pass for sizes up to 1,000, then ``--repeat`` timed passes (1 at 10,000
files: kerchunk takes minutes there). The chunk references per variable of every
tool's result must agree.

**Bytes per reference** builds ``--refs`` (default 10,000,000) chunk references —
1,000 files x 10,000 chunks each, one variable on a (10,000, 1,000) chunk grid — in
each tool's own in-memory form, in a fresh process each:

- vz_jupyter: a ``VDataset`` holding one ``VArray`` whose ``Manifest`` columns are
  built from numpy arrays (what ``vz.scan`` / ``vz.concat`` produce);
- kerchunk: its reference dict, ``{"air/i.j": [url, offset, length]}`` (what
  ``SingleHdf5ToZarr`` / ``MultiZarrToZarr`` return; the url strings shared per
  file, as kerchunk's translators share them);
- VirtualiZarr: ``ChunkManifest.from_arrays(paths=StringDType, offsets, lengths)``
  (its most compact constructor; ``open_virtual_dataset`` builds the same arrays).

Reported per reference: **RSS growth** of the process (everything, the C heaps of
numpy's StringDType included), **retained** (tracemalloc; not run for kerchunk's
40 million small objects, whose tracing would cost GBs) and the tool's **own
figure** (``Manifest.nbytes``; ``ChunkManifest.nbytes``; deep ``sys.getsizeof``
of kerchunk's dict). Target: vz_jupyter <= 24 B per reference.

Results go to benchmarks/results/scale-<stamp>.json and scale-latest.json.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (stdlib only: importable in every venv)

TOOLS = ("vz_jupyter", "kerchunk", "virtualizarr")
TARGET_BYTES_PER_REF = 24
N_FILES_REFS = 1000  # files the --refs references are spread over


def _rss() -> int:
    """Resident set size of this process, bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(sizes, make_pass, summarize, repeat) -> dict:
    """Per size: a warm-up pass (sizes <= 1,000), ``repeat`` timed passes (1
    beyond 1,000 files), the chunk references per variable of the last result."""
    out = {}
    for n in sizes:
        one_pass = make_pass(n)
        big = n > 1000
        times, cpu, result = [], [], None
        if not big:
            one_pass()
        for _ in range(1 if big else repeat):
            result = None
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            result = one_pass()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[str(n)] = {"best": min(times), "median": sorted(times)[len(times) // 2], "times": times,
                       "cpu_best": min(cpu), "per_var": summarize(result)}
        del result
    return out


# ---------------------------------------------------------------------------
# workers: combine (run in a subprocess; each imports its tool lazily)
# ---------------------------------------------------------------------------

def combine_vz(files, sizes, repeat=3):
    import numpy as np

    import vz_jupyter as vz
    from vz_jupyter.core.model import MAX_PATH_ID

    t0 = time.perf_counter()
    dsets = list(vz.scan(files))
    prep = time.perf_counter() - t0

    def summarize(ds):
        return {name: int(np.count_nonzero(va.manifest.path_id <= MAX_PATH_ID)) + va.manifest.n_inline
                for name, va in ds.variables.items()}

    res = _timed(sizes, lambda n: (lambda: vz.concat(dsets[:n], "time")), summarize, repeat)
    return {"prep_seconds": prep, "combine": res, "versions": {"vz_jupyter": vz.__version__}}


def _kerchunk_singles(files):
    """SingleHdf5ToZarr refs of ``files``, cached as JSON next to the corpus
    (keyed by the corpus manifest and kerchunk's version)."""
    import kerchunk
    from kerchunk.hdf import SingleHdf5ToZarr

    folder = os.path.dirname(files[0])
    with open(os.path.join(folder, "manifest.json"), "rb") as f:
        stamp = f"{kerchunk.__version__}:{hashlib.sha1(f.read()).hexdigest()}"
    cache = os.path.join(os.path.dirname(folder), f"{os.path.basename(folder)}-kerchunk-singles.json")
    if os.path.exists(cache):
        with open(cache) as f:
            data = json.load(f)
        if data.get("stamp") == stamp and len(data["refs"]) >= len(files):
            return data["refs"][: len(files)], True

    def translate(path):
        h = SingleHdf5ToZarr(path)
        try:
            return h.translate()
        finally:
            h.input_file.close()

    refs = [translate(p) for p in files]
    with open(cache + ".tmp", "w") as f:
        json.dump({"stamp": stamp, "refs": refs}, f)
    os.replace(cache + ".tmp", cache)
    return refs, False


def combine_kerchunk(files, sizes, repeat=3):
    import warnings

    warnings.simplefilter("ignore")
    import kerchunk
    from kerchunk.combine import MultiZarrToZarr

    t0 = time.perf_counter()
    singles, cached = _kerchunk_singles(files)
    prep = time.perf_counter() - t0

    def summarize(out):
        counts: dict = {}
        for k in out["refs"]:
            if "/" in k and not k.rsplit("/", 1)[-1].startswith("."):
                name = k.rsplit("/", 1)[0]
                counts[name] = counts.get(name, 0) + 1
        return counts

    def make_pass(n):
        return lambda: MultiZarrToZarr(singles[:n], concat_dims=["time"], identical_dims=["lat", "lon"]).translate()

    res = _timed(sizes, make_pass, summarize, repeat)
    return {"prep_seconds": prep, "prep_cached": cached, "combine": res,
            "versions": {"kerchunk": kerchunk.__version__}}


def combine_virtualizarr(files, sizes, repeat=3):
    import warnings

    warnings.simplefilter("ignore")
    import virtualizarr
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.manifests import ManifestArray
    from virtualizarr.parsers import HDFParser

    registry = ObjectStoreRegistry({"file://": LocalStore()})
    parser = HDFParser()
    t0 = time.perf_counter()
    vdss = [open_virtual_dataset("file://" + f, registry=registry, parser=parser) for f in files]
    prep = time.perf_counter() - t0

    def summarize(ds):
        return {name: int((v.data.manifest._paths != "").sum()) if isinstance(v.data, ManifestArray) else 1
                for name, v in ds.variables.items()}

    def make_pass(n):
        return lambda: xr.concat(vdss[:n], dim="time", coords="minimal", compat="override",
                                 combine_attrs="override")

    res = _timed(sizes, make_pass, summarize, repeat)
    return {"prep_seconds": prep, "combine": res, "versions": {"virtualizarr": virtualizarr.__version__}}


# ---------------------------------------------------------------------------
# workers: bytes per reference
# ---------------------------------------------------------------------------

def _columns(n):
    """The same references for every tool: file k holds chunks k*per .. (k+1)*per-1."""
    import numpy as np

    per = n // N_FILES_REFS
    grid = (n // 1000, 1000)
    pid = (np.arange(n, dtype=np.uint32) // per).reshape(grid)
    off = (np.arange(n, dtype=np.uint64) % per).reshape(grid) * 40_000 + 4096
    ln = np.full(grid, 39_000, dtype=np.uint64)
    paths = [f"/archive/model/output/file_{k:05d}.nc" for k in range(N_FILES_REFS)]
    return grid, pid, off, ln, paths


def _measure_memory(build, trace: bool) -> dict:
    """RSS growth while the result of ``build()`` is alive, and (``trace``) the
    bytes tracemalloc sees retained; the inputs are made before either is read."""
    gc.collect()
    rss0 = _rss()
    if trace:
        import tracemalloc

        tracemalloc.start()
        b0 = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    result = build()
    seconds = time.perf_counter() - t0
    gc.collect()
    retained = None
    if trace:
        retained = tracemalloc.get_traced_memory()[0] - b0
        tracemalloc.stop()
    return {"result": result, "rss": _rss() - rss0, "retained": retained, "build_seconds": seconds}


def refs_vz(n):
    import vz_jupyter as vz
    from vz_jupyter.core.model import Manifest, Source, VArray, VDataset

    def build():
        grid, pid, off, ln, paths = _columns(n)
        m = Manifest(tuple(paths), pid, off, ln)
        v = VArray("air", ("time", "cell"), (grid[0], grid[1] * 100), "<f4", (1, 100),
                   ({"id": "zlib", "level": 1},), None, {"units": "K"}, m)
        return VDataset({"air": v}, sources=tuple(Source(p) for p in paths))

    r = _measure_memory(build, trace=True)
    ds = r.pop("result")
    r["own"] = ds["air"].manifest.nbytes
    r["own_what"] = "Manifest.nbytes"
    r["n"] = ds.n_chunks
    r["versions"] = {"vz_jupyter": vz.__version__}
    return r


def refs_kerchunk(n):
    import kerchunk

    def build():
        # the same references as _columns, made without numpy (no big temporaries
        # that would stay in the process's heap and count as kerchunk's)
        per, ncol = n // N_FILES_REFS, 1000
        refs = {}
        for k in range(N_FILES_REFS):
            url = f"/archive/model/output/file_{k:05d}.nc"
            for c in range(per):
                flat = k * per + c
                refs[f"air/{flat // ncol}.{flat % ncol}"] = [url, c * 40_000 + 4096, 39_000]
        return {"version": 1, "refs": refs}

    r = _measure_memory(build, trace=False)
    out = r.pop("result")
    r["own"] = C.deep_sizeof(out["refs"])
    r["own_what"] = "deep sys.getsizeof of the refs dict"
    r["n"] = len(out["refs"])
    r["versions"] = {"kerchunk": kerchunk.__version__}
    return r


def refs_virtualizarr(n):
    import numpy as np
    import virtualizarr
    from virtualizarr.manifests import ChunkManifest

    def build():
        grid, pid, off, ln, paths = _columns(n)
        table = np.array(["file://" + p for p in paths], dtype=np.dtypes.StringDType())
        return ChunkManifest.from_arrays(paths=table[pid], offsets=off, lengths=ln, validate_paths=False)

    r = _measure_memory(build, trace=True)
    m = r.pop("result")
    r["own"] = int(m.nbytes)
    r["own_what"] = "ChunkManifest.nbytes (string heap not counted)"
    r["n"] = int(np.prod(m.shape_chunk_grid))
    r["versions"] = {"virtualizarr": virtualizarr.__version__}
    return r


COMBINE = {"vz_jupyter": "combine_vz", "kerchunk": "combine_kerchunk", "virtualizarr": "combine_virtualizarr"}
REFS = {"vz_jupyter": "refs_vz", "kerchunk": "refs_kerchunk", "virtualizarr": "refs_virtualizarr"}


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------

def _fmt_s(x):
    return "—" if x is None else (f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s")


def _fmt_b(x, n):
    return "—" if x is None else f"{x / n:.1f}"


def _run(tool, func_map, kwargs, timeout=3600):
    py = C.project_python() if tool == "vz_jupyter" else C.peers_python()
    try:
        return C.run_worker(py, __file__, func_map[tool], kwargs, timeout=timeout)
    except C.WorkerError as e:
        print(f"{tool}: FAILED\n{e}", file=sys.stderr)
        return {"error": str(e)}


def combine_table(results, sizes):
    rows, problems = [], []
    for n in map(str, sizes):
        best = {t: r["combine"][n]["best"] for t, r in results.items() if "combine" in r}
        for t in TOOLS:
            r = results.get(t)
            if r is None:
                continue
            if "error" in r:
                rows.append([t, n, "failed", "", "", "", ""])
                continue
            c = r["combine"][n]
            vs_k = best["kerchunk"] / c["best"] if "kerchunk" in best and t != "kerchunk" else None
            vs_v = best["virtualizarr"] / c["best"] if "virtualizarr" in best and t != "virtualizarr" else None
            rows.append([t, f"{int(n):,}", _fmt_s(c["best"]), _fmt_s(c["median"]), _fmt_s(c["cpu_best"]),
                         C.fmt_ratio(vs_k), C.fmt_ratio(vs_v)])
        per = {t: r["combine"][n]["per_var"] for t, r in results.items() if "combine" in r}
        for name in ("air", "rhum", "uwnd"):
            counts = {t: p.get(name) for t, p in per.items()}
            if len(set(counts.values())) > 1:
                problems.append(f"{n} files, {name}: chunk references differ {counts}")
    table = C.format_table(rows, ["tool", "files", "best", "median", "CPU best", "vs kerchunk", "vs VirtualiZarr"])
    return table, problems


def refs_table(results, n):
    rows = []
    for t in TOOLS:
        r = results.get(t)
        if r is None:
            continue
        if "error" in r:
            rows.append([t, "failed", "", "", "", ""])
            continue
        rows.append([t, f"{r['n']:,}", _fmt_b(r["rss"], r["n"]), _fmt_b(r["retained"], r["n"]),
                     _fmt_b(r["own"], r["n"]), _fmt_s(r["build_seconds"])])
    return C.format_table(rows, ["tool", "chunk refs", "RSS B/ref", "retained B/ref", "own B/ref", "build"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="combine time at scale and bytes per chunk reference vs peers")
    ap.add_argument("--sizes", default="100,1000,10000", help="numbers of files to combine")
    ap.add_argument("--refs", type=int, default=10_000_000, help="chunk references for the memory part")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes for sizes up to 1,000 files")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--corpus", help="folder of daily *.nc files (default: the append corpus)")
    ap.add_argument("--skip", choices=("combine", "refs"), help="leave one part out")
    a = ap.parse_args(argv)
    sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    tools = [t.strip() for t in a.tools.split(",") if t.strip() in TOOLS]
    if a.refs % (1000 * N_FILES_REFS):
        ap.error(f"--refs must be a multiple of {1000 * N_FILES_REFS:,}")
    info = C.machine_info()
    t_start = time.perf_counter()
    combine: dict = {}
    refs: dict = {}
    if a.skip != "combine":
        if a.corpus:
            files = sorted(os.path.join(a.corpus, f) for f in os.listdir(a.corpus) if f.endswith(".nc"))
        else:
            print("corpus: making or reusing the append corpus ...", file=sys.stderr, flush=True)
            files = C.ensure_corpus("append")
        files = files[: max(sizes)]
        for t in tools:
            print(f"{t}: per-file inputs for {len(files):,} files, then combining {sizes} ...",
                  file=sys.stderr, flush=True)
            combine[t] = _run(t, COMBINE, dict(files=files, sizes=sizes, repeat=a.repeat))
    if a.skip != "refs":
        for t in tools:
            print(f"{t}: {a.refs:,} chunk references ...", file=sys.stderr, flush=True)
            refs[t] = _run(t, REFS, dict(n=a.refs))
    info["loadavg_after"] = C.machine_info().get("loadavg", "?")
    info["seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"\nscale benchmark — {info['date']}, {info['cpus']} CPUs ({info.get('processor', '?')}), "
          f"load average {info.get('loadavg', '?')} before, {info['loadavg_after']} after, {info['seconds']:.0f} s")
    problems: list[str] = []
    if combine:
        table, problems = combine_table(combine, sizes)
        print(f"\ncombine along time, files of 75 chunk refs (best of {a.repeat}; one pass beyond 1,000 files)")
        print(table)
        print("reference check: " + ("MISMATCH\n  " + "\n  ".join(problems) if problems else
                                     "every tool's result has the same chunk references per data variable"))
    if refs:
        print(f"\nbytes per chunk reference, {a.refs:,} refs over {N_FILES_REFS:,} files")
        print(refs_table(refs, a.refs))
        vzr = refs.get("vz_jupyter", {})
        if "rss" in vzr:
            worst = max(vzr["rss"], vzr["retained"] or 0) / vzr["n"]
            print(f"target: vz_jupyter <= {TARGET_BYTES_PER_REF} B per reference: "
                  f"{'met' if worst <= TARGET_BYTES_PER_REF else 'NOT met'} ({worst:.1f} B)")
    path = C.write_results("scale", {"benchmark": "scale", "machine": info, "sizes": sizes, "refs": a.refs,
                                     "repeat": a.repeat, "combine": combine, "bytes_per_ref": refs,
                                     "reference_problems": problems})
    print(f"results: {os.path.relpath(path, C.ROOT)}")
    failed = [t for part in (combine, refs) for t, r in part.items() if "error" in r]
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
