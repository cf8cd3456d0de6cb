"""Scanning an archive in object storage: files/s and requests per file vs kerchunk
and VirtualiZarr at 0, 10, 30 and 100 ms per request; and local scans serial vs
2 worker processes. One run, the same files, ratios.

    .venv/bin/python benchmarks/bench_remote.py            # ~10 min on 2 busy cores
    .venv/bin/python benchmarks/bench_remote.py --quick    # fewer files, one round, ~1.5 min

The corpus is bench_scan's (100 daily NetCDF4 files of ~10 MB, 3 chunked
variables each: netCDF-C puts each variable's chunk index where its data begins,
so metadata sits at 0, ~3 MB and ~6.3 MB of every file). ``_range_server.py``
serves it on 127.0.0.1 from memory, like an object store: ranged GETs and HEADs,
ETag and Last-Modified, and a wait of the chosen latency before every answer.
It counts the requests; every tool runs in a fresh interpreter of its own.

Tools and calls (per file; files/s = files / wall seconds of the whole batch):

* ``vz_jupyter``: ``vz.scan(urls)`` with its defaults (32 files in flight, parsed
  from memory);
* ``kerchunk``: ``SingleHdf5ToZarr(url).translate()`` (fsspec's HTTP file: a
  HEAD, then 5 MB blocks), one file after the other, and in a thread pool of the
  same size as vz's (``"same concurrency"``);
* ``VirtualiZarr``: ``open_virtual_dataset(url, registry={base: HTTPStore},
  parser=HDFParser(), loadable_variables=[])`` (obstore), serially and in the
  same thread pool.

Per latency the tools take turns ``--rounds`` times (default 2) and each keeps
its best round (all rounds are printed), so load from other work on a shared
machine falls on every tool alike. Each worker also reports its CPU time (all
threads of its process), which moves much less with the machine's load than
the wall clock: **CPU ms/file**.

Serial peers at high latency scan fewer files (their files/s do not depend on
the count). Targets: vz_jupyter's defaults ≥ 5× kerchunk's (serial) files/s at
30 ms, and ≥ 3× the faster peer given the same concurrency.

Local: ``vz.scan(files)`` serial vs ``vz.scan(files, jobs=2)`` (two worker
processes from a fork server), on the scan corpus (100 files) and the combine
corpus (1,000 small files, the same layout: more work per call for the pool's
start to weigh on), passes alternating, page cache warm; the first
parallel call in a process also starts the fork server (reported apart). CPU
time there counts the worker processes too (the fork server's reaped children).
Results: ``benchmarks/results/remote-<stamp>.json`` and ``remote-latest.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common as C  # noqa: E402

LATENCIES_MS = (0, 10, 30, 100)
JOBS = 32
#: files a serial peer scans at each latency (its rate does not depend on the count)
SERIAL_FILES = {0: 100, 10: 40, 30: 20, 100: 10}
THREADED_FILES = {0: 100, 10: 100, 30: 60, 100: 30}


# ---------------------------------------------------------------------------
# workers (each in a fresh interpreter)


def worker_vz(urls, jobs=None):
    import vz_jupyter as vz
    from vz_jupyter.core.scan import remote_batch

    t0, c0 = time.perf_counter(), time.process_time()
    ds = vz.scan(urls, jobs=jobs, progress=False)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = remote_batch.last_stats
    return {"seconds": dt, "cpu": cpu, "files": len(ds), "chunks": sum(d.n_chunks for d in ds),
            "own_count": {"requests": st.requests, "bytes": st.bytes}}


def _pool_map(fn, urls, threads):
    if not threads:
        return [fn(u) for u in urls]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(fn, urls))


def worker_kerchunk(urls, threads=0):
    import warnings

    warnings.simplefilter("ignore")
    from kerchunk.hdf import SingleHdf5ToZarr

    def one(u):
        h = SingleHdf5ToZarr(u, inline_threshold=500)
        try:
            return h.translate()
        finally:
            h.input_file.close()

    t0, c0 = time.perf_counter(), time.process_time()
    out = _pool_map(one, urls, threads)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    chunks = sum(sum(1 for k, v in r["refs"].items() if not k.split("/")[-1].startswith(".")) for r in out)
    return {"seconds": dt, "cpu": cpu, "files": len(out), "chunks": chunks}


def worker_virtualizarr(urls, base, threads=0):
    import warnings

    warnings.simplefilter("ignore")
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import HTTPStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.manifests import ManifestArray
    from virtualizarr.parsers import HDFParser

    registry = ObjectStoreRegistry({base: HTTPStore.from_url(base, client_options={"allow_http": True})})
    parser = HDFParser()

    def one(u):
        return open_virtual_dataset(u, registry=registry, parser=parser, loadable_variables=[])

    t0, c0 = time.perf_counter(), time.process_time()
    out = _pool_map(one, urls, threads)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    chunks = 0
    for ds in out:
        for v in ds.variables.values():
            if isinstance(v.data, ManifestArray):
                chunks += int((v.data.manifest._paths != "").sum())
    return {"seconds": dt, "cpu": cpu, "files": len(out), "chunks": chunks}


def _cpu_with_workers() -> float:
    """CPU seconds of this process (all threads) plus the worker processes of
    its pools: they are children of the fork server, which reaps them, so their
    time is in the server's cumulative children's time (Linux /proc)."""
    from multiprocessing import forkserver

    cpu = time.process_time()
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # after ")": state is field 3; utime, stime, cutime, cstime are fields 14-17
        cpu += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return cpu


def worker_local(files, repeat=3):
    import statistics

    import vz_jupyter as vz

    vz.scan(files[:4], progress=False)  # imports, page cache
    t0 = time.perf_counter()
    vz.scan(files, jobs=2, progress=False)  # the first parallel call: starts the fork server
    first = time.perf_counter() - t0
    serial, par, serial_cpu, par_cpu = [], [], [], []
    for _ in range(repeat):  # alternate, so load from elsewhere falls on both alike
        t0, c0 = time.perf_counter(), _cpu_with_workers()
        a = vz.scan(files, progress=False)
        serial.append(time.perf_counter() - t0)
        serial_cpu.append(_cpu_with_workers() - c0)
        t0, c0 = time.perf_counter(), _cpu_with_workers()
        b = vz.scan(files, jobs=2, progress=False)
        par.append(time.perf_counter() - t0)
        par_cpu.append(_cpu_with_workers() - c0)
        assert len(a) == len(b) == len(files)
    return {"serial": serial, "jobs2": par, "serial_cpu": serial_cpu, "jobs2_cpu": par_cpu,
            "jobs2_first_call": first, "files": len(files),
            "serial_median": statistics.median(serial), "jobs2_median": statistics.median(par)}


# ---------------------------------------------------------------------------
# the orchestra


class Server:
    def __init__(self, folder: str):
        self.proc = subprocess.Popen([C.project_python(), os.path.join(HERE, "_range_server.py"), folder],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise RuntimeError("the range server did not start")
        self.base = f"http://127.0.0.1:{line[1]}"

    def post(self, what: str) -> dict:
        req = urllib.request.Request(f"{self.base}/{what}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.base}/_stats", timeout=10) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def run_tool(server: Server, python: str, func: str, kwargs: dict) -> dict:
    server.post("_reset")
    r = C.run_worker(python, __file__, func, kwargs, timeout=1200)
    st = server.stats()
    r["requests"], r["heads"], r["bytes_sent"] = st["requests"], st["heads"], st["bytes"]
    r["files_per_s"] = r["files"] / r["seconds"]
    r["cpu_ms_per_file"] = 1000 * r["cpu"] / r["files"]
    r["req_per_file"] = st["requests"] / r["files"]
    r["mb_per_file"] = st["bytes"] / r["files"] / 1e6
    return r


def remote_rows(server, files, latencies, peers_py, quick: bool, rounds: int = 2) -> dict:
    """Per latency, the tools take turns ``rounds`` times (load from elsewhere
    falls on all alike); each keeps its best round, all rounds' rates recorded."""
    names = [os.path.basename(f) for f in files]
    urls = [f"{server.base}/{n}" for n in names]
    out = {}
    for ms in latencies:
        server.post(f"_latency?s={ms / 1000}")
        div = 3 if quick else 1
        n_serial, n_threaded = max(4, SERIAL_FILES[ms] // div), max(4, THREADED_FILES[ms] // div)
        runs = {"vz_jupyter": (C.project_python(), "worker_vz", {"urls": urls[: len(urls) // (2 if quick else 1)]})}
        if peers_py:
            for tool, func, extra in (("kerchunk", "worker_kerchunk", {}),
                                      ("virtualizarr", "worker_virtualizarr", {"base": server.base + "/"})):
                runs[tool] = (peers_py, func, dict(extra, urls=urls[:n_serial]))
                runs[f"{tool} ×{JOBS} threads"] = (peers_py, func, dict(extra, urls=urls[:n_threaded],
                                                                          threads=JOBS))
        res: dict = {}
        for _ in range(rounds):
            for name, (py, func, kw) in runs.items():
                try:
                    r = run_tool(server, py, func, kw)
                except C.WorkerError as e:
                    r = {"error": str(e)[-600:]}
                print(f"  {ms:>3} ms  {name:<28} " + (f"{r['files_per_s']:8.1f} files/s  {r['cpu_ms_per_file']:5.0f} "
                                                        f"CPU ms/file  {r['req_per_file']:5.2f} req/file"
                                                        if "error" not in r else "FAILED"), flush=True)
                prev = res.get(name)
                rates = (prev or {}).get("rounds", []) + [r.get("files_per_s")]
                if prev is None or "error" in prev or r.get("files_per_s", 0) > prev["files_per_s"]:
                    res[name] = r
                res[name]["rounds"] = rates
        out[ms] = res
    return out


def remote_table(results: dict) -> str:
    rows = []
    for ms, res in results.items():
        ok = {k: v for k, v in res.items() if "error" not in v}
        kerchunk = ok.get("kerchunk", {}).get("files_per_s")
        same = [ok[k]["files_per_s"] for k in ok if "threads" in k]
        best_same = max(same) if same else None
        for name, r in res.items():
            if "error" in r:
                rows.append([f"{ms} ms", name, "failed", "", "", "", "", "", "", ""])
                continue
            rate = r["files_per_s"]
            all_rates = " / ".join(C.fmt_rate(x) for x in r.get("rounds", []) if x)
            rows.append([f"{ms} ms", name, C.fmt_rate(rate), all_rates, f"{r['cpu_ms_per_file']:.0f}", f"{r['req_per_file']:.2f}",
                         f"{r['heads'] / r['files']:.2f}",
                         f"{r['mb_per_file']:.1f}", C.fmt_ratio(rate / kerchunk) if kerchunk else "—",
                         C.fmt_ratio(rate / best_same) if best_same and name == "vz_jupyter" else ""])
    return C.format_table(rows, ["latency", "tool", "files/s (best)", "each round", "CPU ms/file", "req/file", "HEAD/file", "MB/file", "vs kerchunk",
                                 "vs faster peer ×32"])


def local_table(r: dict) -> str:
    """Serial vs 2 worker processes: best pass and median, wall and CPU time."""
    import statistics

    n = r["files"]
    s, p = min(r["serial"]), min(r["jobs2"])
    sm, pm = statistics.median(r["serial"]), statistics.median(r["jobs2"])
    rows = []
    for name, best, med, cpu in (("serial", s, sm, r["serial_cpu"]), ("jobs=2 (2 processes)", p, pm, r["jobs2_cpu"])):
        rows.append([name, f"{best:.2f} s", C.fmt_rate(n / best), C.fmt_ratio(s / best), C.fmt_ratio(sm / med),
                     f"{1000 * statistics.median(cpu) / n:.1f}"])
    f = r["jobs2_first_call"]
    rows.append(["jobs=2, first call (starts the fork server)", f"{f:.2f} s", C.fmt_rate(n / f), C.fmt_ratio(s / f),
                 "", ""])
    return C.format_table(rows, ["run", "best", "files/s", "speed-up (best)", "speed-up (median)",
                                 "CPU ms/file (all processes)"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latencies", default=",".join(map(str, LATENCIES_MS)), help="ms per request, e.g. 0,30")
    ap.add_argument("--quick", action="store_true", help="fewer files, one round")
    ap.add_argument("--rounds", type=int, default=2, help="turns of all tools per latency (best kept)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--no-remote", action="store_true")
    ap.add_argument("--corpus", help="folder of *.nc (default: bench_scan's generated corpus)")
    a = ap.parse_args(argv)
    files = sorted(os.path.join(a.corpus, f) for f in os.listdir(a.corpus) if f.endswith(".nc")) if a.corpus \
        else C.ensure_corpus("scan")
    info = C.machine_info()
    print(f"{len(files)} files, {sum(os.path.getsize(f) for f in files) / 1e6:,.0f} MB; load {info.get('loadavg')}")
    data: dict = {"machine": info, "files": len(files)}
    if not a.no_remote:
        peers_py = None if a.no_peers else C.peers_python()
        server = Server(os.path.dirname(files[0]))
        try:
            lat = [int(x) for x in a.latencies.split(",") if x]
            data["remote"] = remote_rows(server, files, lat, peers_py, a.quick, 1 if a.quick else a.rounds)
        finally:
            server.close()
        print("\nRemote scan (loopback object store; one run, same files)")
        print(remote_table(data["remote"]))
    if not a.no_local:
        sets = [("scan", files)]
        if not a.corpus and not a.quick:
            sets.append(("combine", C.ensure_corpus("combine")))  # 1,000 small files: more work per call
        data["local"] = {}
        for name, fs in sets:
            r = C.run_worker(C.project_python(), __file__, "worker_local", {"files": fs, "repeat": 2 if a.quick else 3})
            data["local"][name] = r
            print(f"\nLocal scan of the {name} corpus ({len(fs):,} files), page cache warm")
            print(local_table(r))
    info["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload after: {info['loadavg_after']}; written {C.write_results('remote', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
