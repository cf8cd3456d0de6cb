"""Shared helpers for the benchmark scripts (stdlib only at import time).

This module is imported both by the orchestrating script (project ``.venv``) and by
workers running in the peers' venv (``.venv-peers``), so it must not import numpy,
vz_jupyter or any peer at module level.

What it offers:

- paths: :data:`ROOT`, :data:`BENCH_DIR`, :data:`RESULTS_DIR`, :data:`PEERS_VENV`
- :func:`ensure_corpus` -- make or reuse a generated corpus (see make_corpus.py)
- :func:`peers_python` -- path of the peers' python, creating the venv on first use
- :func:`run_worker` -- call ``func(**kwargs)`` from a benchmark script in another
  interpreter (the peers' venv or this one) and get its JSON-able result back
- :func:`time_passes` -- warm-up pass(es) then N timed passes: best / median,
  wall clock and process CPU time
- :func:`retained_memory` -- bytes an object graph built by a call keeps alive
  (tracemalloc) and the peak during the call
- :func:`deep_sizeof` -- ``sys.getsizeof`` over a container graph (ids de-duplicated)
- :func:`format_table`, :func:`fmt_rate`, :func:`fmt_ratio` -- plain-text tables
- :func:`machine_info`, :func:`write_results` -- results as JSON in benchmarks/results/

A worker function receives JSON-able keyword arguments and returns a JSON-able dict.
Run from the command line, this file is the worker entry point::

    python benchmarks/_common.py --call benchmarks/bench_scan.py:worker_kerchunk \\
        --kwargs kw.json --out result.json
"""
from __future__ import annotations

import datetime as _dt
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
PEERS_VENV = os.environ.get("VZ_PEERS_VENV", os.path.join(ROOT, ".venv-peers"))
SETUP_PEERS = os.path.join(BENCH_DIR, "setup_peers.sh")

#: environment for workers: single-threaded numerics, no stray warnings in output
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "BLOSC_NTHREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "PYTHONWARNINGS": "ignore",
    "PYTHONHASHSEED": "0",
}


class WorkerError(RuntimeError):
    """A worker process failed; the message holds the tail of its stderr."""


# -- corpus and venvs -------------------------------------------------------

def ensure_corpus(preset: str = "scan", out: str | None = None, **overrides) -> list[str]:
    """Paths of a generated corpus (generated once, reused while its params match)."""
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    try:
        import netCDF4  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        # run from an interpreter without the project's dependencies: generate with the
        # project's python (same code, same files, same manifest)
        kwargs = dict(overrides, preset=preset, out=out)
        return run_worker(project_python(), os.path.join(BENCH_DIR, "make_corpus.py"), "make_corpus", kwargs)
    from make_corpus import make_corpus

    return make_corpus(preset, out, **overrides)


def peers_python(setup: bool = True) -> str:
    """The peers' venv python; runs setup_peers.sh (idempotent, quick when done)."""
    py = os.path.join(PEERS_VENV, "bin", "python")
    if setup:
        r = subprocess.run(["bash", SETUP_PEERS], capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(ln for ln in r.stderr.splitlines() if "is ignored: it is neither" not in ln)
            raise WorkerError(f"setup_peers.sh failed (exit {r.returncode}):\n{tail[-3000:]}")
    if not os.path.exists(py):
        raise WorkerError(f"no peers venv at {PEERS_VENV}; run bash benchmarks/setup_peers.sh")
    return py


def project_python() -> str:
    """The interpreter with vz_jupyter installed (the project .venv if present)."""
    py = os.path.join(ROOT, ".venv", "bin", "python")
    return py if os.path.exists(py) else sys.executable


# -- running a function in another interpreter ------------------------------

def run_worker(python: str, script: str, func: str, kwargs: dict | None = None,
               timeout: float = 1800) -> dict:
    """Run ``func(**kwargs)`` defined in ``script`` under ``python``; return its dict.

    Arguments and results travel as JSON files (library chatter on stdout cannot
    corrupt them). Raises :class:`WorkerError` with the worker's stderr tail on
    failure, including an ``ImportError`` of a tool that is not installed.
    """
    with tempfile.TemporaryDirectory(prefix="vzbench-") as tmp:
        kw_path = os.path.join(tmp, "kwargs.json")
        out_path = os.path.join(tmp, "result.json")
        with open(kw_path, "w") as f:
            json.dump(kwargs or {}, f)
        cmd = [python, os.path.abspath(__file__), "--call", f"{os.path.abspath(script)}:{func}",
               "--kwargs", kw_path, "--out", out_path]
        env = dict(os.environ)
        env.update(WORKER_ENV)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                               cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise WorkerError(f"{func} in {python} took longer than {timeout:.0f} s") from None
        if r.returncode != 0 or not os.path.exists(out_path):
            tail = r.stderr.strip().splitlines()[-15:]
            raise WorkerError(f"{func} failed (exit {r.returncode}):\n" + "\n".join(tail))
        with open(out_path) as f:
            return json.load(f)


def _worker_main(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--call", required=True, help="path/to/script.py:function")
    ap.add_argument("--kwargs", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    script, func = a.call.rsplit(":", 1)
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    spec = importlib.util.spec_from_file_location("_vz_bench_worker", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(a.kwargs) as f:
        kwargs = json.load(f)
    result = getattr(mod, func)(**kwargs)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, a.out)
    return 0


# -- timing and memory -------------------------------------------------------

def time_passes(one_pass: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> dict:
    """Run ``one_pass`` ``warmup`` times untimed (warms the page cache and imports),
    then ``repeat`` times timed. Returns seconds per pass, wall clock (``best``,
    ``median``, ``times``) and CPU time of this process, all threads (``cpu_best``,
    ``cpu_median``, ``cpu_times``). On a shared machine CPU time is the steadier
    measure of what a single-threaded, cache-warm pass costs; on an idle machine the
    two agree."""
    for _ in range(warmup):
        one_pass()
    times, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        c0 = time.process_time()
        t0 = time.perf_counter()
        result = one_pass()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del result
    return {"best": min(times), "median": statistics.median(times), "times": times,
            "cpu_best": min(cpu), "cpu_median": statistics.median(cpu), "cpu_times": cpu}


def retained_memory(build: Callable[[], Any]) -> tuple[Any, int, int]:
    """``(result, retained_bytes, peak_bytes)`` of ``build()`` measured with tracemalloc:
    bytes still allocated while the result is alive (after a GC) and the peak during the
    build, both relative to the start. Allocations by C code that bypasses Python's
    allocator hooks are not seen (numpy arrays are; HDF5's own caches are not)."""
    gc.collect()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    now, peak = tracemalloc.get_traced_memory()
    if not was:
        tracemalloc.stop()
    return result, now - before, peak - before


def deep_sizeof(obj: Any, seen: set | None = None) -> int:
    """``sys.getsizeof`` summed over dicts, lists, tuples, sets and their contents,
    counting each object once. numpy arrays count their ``nbytes`` via getsizeof."""
    if seen is None:
        seen = set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
    return total


# -- output --------------------------------------------------------------------

def fmt_rate(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if x >= 100:
        s = f"{x:,.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    return s + unit


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else (f"{x:.1f}×" if x >= 1 else f"{x:.2f}×")


def format_table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    rows = [[str(c) for c in r] for r in rows]
    header = [str(h) for h in header]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine_info() -> dict:
    info = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["processor"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def write_results(name: str, data: dict) -> str:
    """Write ``data`` to ``benchmarks/results/NAME-<UTC stamp>.json`` and
    ``NAME-latest.json``; returns the stamped path."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(RESULTS_DIR, f"{name}-{stamp}.json")
    text = json.dumps(data, indent=1, sort_keys=False, default=str)
    for p in (path, os.path.join(RESULTS_DIR, f"{name}-latest.json")):
        with open(p + ".tmp", "w") as f:
            f.write(text)
        os.replace(p + ".tmp", p)
    return path


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
