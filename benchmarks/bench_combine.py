"""Combine time and peak memory: vz_jupyter vs kerchunk vs VirtualiZarr, one run.

    python benchmarks/bench_combine.py                 # 100 and 1,000 files, all tools
    python benchmarks/bench_combine.py --sizes 100 --repeat 1   # a quick look

The corpus is ``make_corpus.py --preset combine``: 1,000 daily NetCDF4 files, each
``air``/``rhum``/``uwnd`` (time=24, lat=37, lon=72), chunks (1, 37, 72), plus
``time``/``lat``/``lon``: 75 chunk references per file. ``--per-file-units`` uses
the variant whose files count hours from their own day (so combining has to decode
and re-encode time; kerchunk does it with ``coo_map={"time": "cf:time"}``).

Each tool runs in a fresh interpreter (vz_jupyter in the project's ``.venv``, the
peers in ``.venv-peers``). The per-file inputs are built once, untimed, the way each
tool's users build them; then, for each size N (the first N files):

- vz_jupyter: ``vz.concat(dsets[:N], "time")`` -- the default, which runs
  ``vz.check`` first (every finding, one pass) and inlines the combined time
  coordinate; the row "+ JSON refs" adds ``vz.serialize`` to a kerchunk dict.
- kerchunk: ``MultiZarrToZarr(refs[:N], concat_dims=["time"],
  identical_dims=["lat", "lon"]).translate()`` on ``SingleHdf5ToZarr`` refs
  (its output is already the kerchunk reference dict).
- VirtualiZarr: ``xr.concat(vdss[:N], dim="time", coords="minimal",
  compat="override", combine_attrs="override")`` on ``open_virtual_dataset``
  results with its default loadable variables (the dimension coordinates are
  loaded, which is what lets it concatenate them), as its docs recommend.

One untimed warm-up pass, then ``--repeat`` timed passes (best and median), then
one pass under tracemalloc for the peak memory of the combine itself. The number
of chunk references per variable in each result is compared across tools.

Results go to benchmarks/results/combine-<stamp>.json and combine-latest.json.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (stdlib only: importable in every venv)

TOOLS = ("vz_jupyter", "kerchunk", "virtualizarr")
TARGET_KERCHUNK = 20.0  # vz >= 20x faster than kerchunk MultiZarrToZarr
TARGET_VIRTUALIZARR = 1.0  # and no slower than VirtualiZarr


def _measure(sizes, make_pass, summarize, repeat, warmup, memory) -> dict:
    out = {}
    for n in sizes:
        one_pass = make_pass(n)
        timing = C.time_passes(one_pass, repeat=repeat, warmup=warmup)
        result = one_pass()
        per_var = summarize(result)
        del result
        r = {"timing": timing, "per_var": per_var}
        if memory:
            result, retained, peak = C.retained_memory(one_pass)
            r["peak_bytes"] = peak
            r["retained_bytes"] = retained
            del result
        out[str(n)] = r
    return out


# ---------------------------------------------------------------------------
# workers (run in a subprocess; import their tool lazily)
# ---------------------------------------------------------------------------

def worker_vz(files, sizes, repeat=3, warmup=1, memory=True):
    import time

    import numpy as np

    import vz_jupyter as vz
    from vz_jupyter.core.model import MAX_PATH_ID
    from vz_jupyter.core.serialize.kerchunk_json import to_kerchunk_json

    t0 = time.perf_counter()
    dsets = list(vz.scan(files))
    prep = time.perf_counter() - t0

    def summarize(ds):
        out = {}
        for name, va in ds.variables.items():
            m = va.manifest
            out[name] = int(np.count_nonzero(m.path_id <= MAX_PATH_ID)) + m.n_inline
        return out

    def fresh_concat(n):
        # every call reads the coordinate values from the files again (a new
        # reader per call; time is not inlined in this corpus), as peers do
        return vz.concat(dsets[:n], "time")

    res = {"prep_seconds": prep, "prep_call": "vz.scan(files)"}
    res["combine"] = _measure(sizes, lambda n: (lambda: fresh_concat(n)), summarize,
                              repeat, warmup, memory)
    res["combine_json"] = _measure(
        sizes, lambda n: (lambda: to_kerchunk_json(fresh_concat(n))),
        lambda refs: {}, repeat, warmup, memory)
    rep = vz.check(dsets[: max(sizes)], "time")
    res["report"] = rep.summary_line()
    res["versions"] = {"vz_jupyter": vz.__version__, "numpy": np.__version__}
    res["call"] = 'vz.concat(dsets[:N], "time")  # check included'
    return res


def _kerchunk_chunks(refs: dict) -> dict:
    out: dict = {}
    for k in refs:
        if "/" in k and not k.rsplit("/", 1)[-1].startswith("."):
            name = k.rsplit("/", 1)[0]
            out[name] = out.get(name, 0) + 1
    return out


def worker_kerchunk(files, sizes, repeat=3, warmup=1, memory=True, per_file_units=False):
    import time
    import warnings

    warnings.simplefilter("ignore")
    import kerchunk
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    def translate(path):
        h = SingleHdf5ToZarr(path)
        try:
            return h.translate()
        finally:
            h.input_file.close()

    t0 = time.perf_counter()
    singles = [translate(f) for f in files]
    prep = time.perf_counter() - t0
    kw = dict(concat_dims=["time"], identical_dims=["lat", "lon"])
    if per_file_units:
        kw["coo_map"] = {"time": "cf:time"}

    def make_pass(n):
        return lambda: MultiZarrToZarr(singles[:n], **kw).translate()

    res = {"prep_seconds": prep, "prep_call": "SingleHdf5ToZarr(path).translate()"}
    res["combine"] = _measure(sizes, make_pass, lambda r: _kerchunk_chunks(r["refs"]), repeat, warmup, memory)
    res["versions"] = {"kerchunk": kerchunk.__version__}
    res["call"] = f"MultiZarrToZarr(refs[:N], {', '.join(f'{k}={v!r}' for k, v in kw.items())}).translate()"
    return res


def worker_virtualizarr(files, sizes, repeat=3, warmup=1, memory=True):
    import time
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

    def make_pass(n):
        return lambda: xr.concat(vdss[:n], dim="time", coords="minimal", compat="override",
                                 combine_attrs="override")

    def summarize(ds):
        out = {}
        for name, v in ds.variables.items():
            if isinstance(v.data, ManifestArray):
                out[name] = int((v.data.manifest._paths != "").sum())
            else:
                out[name] = 1  # loaded in memory (written inline)
        return out

    res = {"prep_seconds": prep, "prep_call": "open_virtual_dataset(url, registry, HDFParser())"}
    res["combine"] = _measure(sizes, make_pass, summarize, repeat, warmup, memory)
    res["versions"] = {"virtualizarr": virtualizarr.__version__, "xarray": xr.__version__}
    res["call"] = 'xr.concat(vdss[:N], dim="time", coords="minimal", compat="override", combine_attrs="override")'
    return res


WORKERS = {"vz_jupyter": "worker_vz", "kerchunk": "worker_kerchunk", "virtualizarr": "worker_virtualizarr"}


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------

def _fmt_s(x):
    if x is None:
        return "—"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_mb(b):
    return "—" if b is None else f"{b / 2**20:.1f} MiB"


def report(results: dict, sizes) -> tuple[str, dict, list[str]]:
    rows, summary, problems = [], {}, []
    for n in map(str, sizes):
        best = {}
        for t, r in results.items():
            if "combine" in r and n in r["combine"]:
                best[t] = r["combine"][n]["timing"]["best"]
        summary[n] = {}
        for t in TOOLS:
            r = results.get(t)
            if r is None:
                continue
            if "error" in r:
                rows.append([f"{t}", n, "failed", "", "", "", ""])
                continue
            c = r["combine"][n]
            b = c["timing"]["best"]
            vs_k = best["kerchunk"] / b if "kerchunk" in best and t != "kerchunk" else None
            vs_v = best["virtualizarr"] / b if "virtualizarr" in best and t != "virtualizarr" else None
            summary[n][t] = {"best_s": b, "median_s": c["timing"]["median"], "peak_bytes": c.get("peak_bytes"),
                             "speedup_vs_kerchunk": vs_k, "speedup_vs_virtualizarr": vs_v}
            rows.append([t, n, _fmt_s(b), _fmt_s(c["timing"]["median"]), C.fmt_ratio(vs_k), C.fmt_ratio(vs_v),
                         _fmt_mb(c.get("peak_bytes"))])
            if t == "vz_jupyter" and "combine_json" in r:
                cj = r["combine_json"][n]
                bj = cj["timing"]["best"]
                summary[n]["vz_jupyter+json"] = {"best_s": bj, "peak_bytes": cj.get("peak_bytes"),
                                                 "speedup_vs_kerchunk": best["kerchunk"] / bj if "kerchunk" in best else None}
                rows.append(["  vz_jupyter + JSON refs", n, _fmt_s(bj), _fmt_s(cj["timing"]["median"]),
                             C.fmt_ratio(best["kerchunk"] / bj if "kerchunk" in best else None),
                             C.fmt_ratio(best["virtualizarr"] / bj if "virtualizarr" in best else None),
                             _fmt_mb(cj.get("peak_bytes"))])
        # chunk references of the data variables must agree
        per = {t: r["combine"][n]["per_var"] for t, r in results.items() if "combine" in r}
        for name in ("air", "rhum", "uwnd"):
            counts = {t: p.get(name) for t, p in per.items()}
            if len(set(counts.values())) > 1:
                problems.append(f"{n} files, {name}: chunk references differ {counts}")
    table = C.format_table(rows, ["tool", "files", "best", "median", "vs kerchunk", "vs VirtualiZarr",
                                  "peak memory"])
    return table, summary, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="combine time and peak memory vs peers")
    ap.add_argument("--sizes", default="100,1000", help="numbers of files to combine (default 100,1000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per size (best and median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--per-file-units", action="store_true",
                    help="use the corpus whose files have 'hours since <own day>' time units")
    a = ap.parse_args(argv)
    sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {', '.join(bad)}")

    out_dir = os.path.join(C.BENCH_DIR, "_corpus", "combine-units") if a.per_file_units else None
    print("corpus: making or reusing the combine corpus ...", file=sys.stderr, flush=True)
    files = C.ensure_corpus("combine", out_dir, files=max(1000, max(sizes)),
                            per_file_units=a.per_file_units or None)[: max(sizes)]
    info = C.machine_info()
    results: dict = {}
    for t in tools:
        kwargs = dict(files=files, sizes=sizes, repeat=a.repeat, warmup=a.warmup, memory=not a.no_memory)
        if t == "kerchunk":
            kwargs["per_file_units"] = a.per_file_units
        try:
            py = C.project_python() if t == "vz_jupyter" else C.peers_python()
            print(f"{t}: building per-file inputs for {len(files)} files, then combining {sizes} ...",
                  file=sys.stderr, flush=True)
            results[t] = C.run_worker(py, __file__, WORKERS[t], kwargs, timeout=3600)
        except C.WorkerError as e:
            results[t] = {"error": str(e)}
            print(f"{t}: FAILED\n{e}", file=sys.stderr)
    table, summary, problems = report(results, sizes)
    info["loadavg_after"] = C.machine_info().get("loadavg", "?")
    print()
    print(f"combine benchmark — {', '.join(map(str, sizes))} NetCDF4 files (75 chunk refs each), along time, "
          f"{'per-file time units, ' if a.per_file_units else ''}best of {a.repeat} — {info['date']}, "
          f"{info['cpus']} CPUs, load average {info.get('loadavg', '?')} before, {info['loadavg_after']} after")
    print(table)
    vzr = results.get("vz_jupyter", {})
    if "report" in vzr:
        print(f"vz check on {max(sizes)} files: {vzr['report']}")
    for n in map(str, sizes):
        s = summary.get(n, {}).get("vz_jupyter")
        if not s:
            continue
        k, v = s["speedup_vs_kerchunk"], s["speedup_vs_virtualizarr"]
        if k is not None:
            print(f"target ({n} files): >= {TARGET_KERCHUNK:g}x kerchunk: {'met' if k >= TARGET_KERCHUNK else 'NOT met'} "
                  f"({C.fmt_ratio(k)})")
        if v is not None:
            print(f"target ({n} files): no slower than VirtualiZarr: {'met' if v >= TARGET_VIRTUALIZARR else 'NOT met'} "
                  f"({C.fmt_ratio(v)})")
    if problems:
        print("reference check: MISMATCH")
        for p in problems:
            print("  " + p)
    elif len([r for r in results.values() if "combine" in r]) >= 2:
        print("reference check: every tool's combined result has the same chunk references per data variable")
    path = C.write_results("combine", {
        "benchmark": "combine", "machine": info, "sizes": sizes, "repeat": a.repeat, "warmup": a.warmup,
        "per_file_units": a.per_file_units, "summary": summary, "results": results,
        "reference_problems": problems,
        "targets": {"vs_kerchunk": TARGET_KERCHUNK, "vs_virtualizarr": TARGET_VIRTUALIZARR},
    })
    print(f"results: {os.path.relpath(path, C.ROOT)}")
    failed = [t for t, r in results.items() if "error" in r]
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
