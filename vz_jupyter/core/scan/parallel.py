"""Who scans which file: this process, worker processes, or an executor.

* **Remote files** (URLs) are fetched concurrently by this process and parsed
  from memory (:mod:`vz_jupyter.core.scan.remote_batch`): ``jobs`` files in
  flight, 32 by default. Parsing is cheap once the bytes are in; waiting is
  what costs.
* **Local files** are parsed one after the other by default. ``jobs=N`` runs
  them in N worker *processes* (HDF5 holds one global lock, so threads cannot
  parse two files at once): a ``forkserver`` pool where the platform has one
  (forked from a clean server process, not from this one with its threads),
  ``spawn`` otherwise. As with any process pool, a script must guard its
  entry point with ``if __name__ == "__main__":``.
* **An executor** (``executor=``: any ``concurrent.futures.Executor``, or a
  ``dask.distributed.Client``, whose ``get_executor()`` is used) gets the
  files in batches; each batch is scanned in a worker as above (remote
  batches concurrently there).

Every path reports each file as it finishes through ``on_result(index, dataset,
error)`` in the calling thread; the caller keeps input order.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import ScanError, VZError
from ..urls import protocol
from .dispatch import _scan_file, fetchable, parse_image
from .files import remote_fs
from .remote_batch import DEFAULT_JOBS, scan_urls

OnResult = Callable[[int, Any, "BaseException | None"], None]


# ---------------------------------------------------------------------------
# executors


def as_executor(executor) -> Executor:
    """A ``concurrent.futures.Executor`` for ``executor``: itself, or a dask
    ``Client``'s (tasks not treated as pure: two scans of a file are two scans)."""
    if isinstance(executor, Executor):
        return executor
    if hasattr(executor, "get_executor") and hasattr(executor, "scheduler_info"):
        return executor.get_executor(pure=False)
    raise TypeError(f"executor must be a concurrent.futures.Executor or a dask.distributed Client, "
                    f"not {type(executor).__name__}")


def workers_of(executor) -> int:
    """How many tasks ``executor`` runs at once (a guess where it does not say)."""
    info = getattr(executor, "scheduler_info", None)
    if callable(info):
        try:
            ws = info().get("workers", {})
            return max(1, sum(int(w.get("nthreads", 1)) for w in ws.values()))
        except Exception:  # noqa: BLE001  (a client that cannot tell: guess)
            return 4
    n = getattr(executor, "_max_workers", None)
    return int(n) if isinstance(n, int) and n > 0 else 4


def process_pool(jobs: int) -> Executor:
    """A pool of ``jobs`` worker processes for local files (see the module doc)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # the server imports the scanners once; the workers forked from it start ready
        # (no effect when this process's fork server is already running)
        ctx.set_forkserver_preload(["vz_jupyter.core.scan.parallel"])
    else:
        ctx = mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)


def batches(items: Sequence, workers: int, most: int = 64) -> list[list]:
    """``items`` cut into about four batches per worker (load balance vs
    per-task overhead), each at most ``most`` long."""
    if not items:
        return []
    size = max(1, min(most, math.ceil(len(items) / (4 * max(1, workers)))))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def run_executor(executor, items: Sequence[tuple[int, str]], kwargs: dict, jobs: int | None,
                 on_result: OnResult, *, remote_batch: int = 64) -> None:
    """Scan ``items`` (``(index, path)``) on ``executor`` in batches."""
    ex = as_executor(executor)
    workers = workers_of(executor)
    local = [it for it in items if not fetchable(it[1])]
    remote = [it for it in items if fetchable(it[1])]
    todo = batches(local, workers) + batches(remote, workers, most=remote_batch)
    futures = {ex.submit(scan_batch, b, kwargs, jobs): b for b in todo}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                for i, ds, err in fut.result():
                    on_result(i, ds, err)
    finally:
        for fut in futures:
            fut.cancel()


# ---------------------------------------------------------------------------
# in this process (and in each worker)


def scan_batch(items: Sequence[tuple[int, str]], kwargs: dict, jobs: int | None = None) -> list[tuple]:
    """Scan ``items`` here; returns ``(index, dataset or None, error or None)``
    per file, in completion order. What a worker runs."""
    out: list[tuple] = []
    run_here(items, kwargs, jobs, lambda i, ds, err: out.append((i, ds, err)))
    return out


def run_here(items: Sequence[tuple[int, str]], kwargs: dict, jobs: int | None, on_result: OnResult) -> None:
    """Remote files concurrently, then the others one by one, in this process."""
    remote = [it for it in items if fetchable(it[1])]
    local = [it for it in items if not fetchable(it[1])]
    if remote:
        run_remote(remote, kwargs, jobs, on_result)
    for i, path in local:
        try:
            ds = _scan_file(path, **kwargs)
        except ScanError as e:
            on_result(i, None, e)
            continue
        on_result(i, ds, None)


def run_local(items: Sequence[tuple[int, str]], kwargs: dict, jobs: int | None, on_result: OnResult) -> None:
    """Local files: serially, or in ``jobs`` worker processes."""
    if jobs is None or jobs <= 1 or len(items) <= 1:
        return run_here(items, kwargs, None, on_result)
    pool = process_pool(min(jobs, len(items)))
    try:
        run_executor(pool, items, kwargs, None, on_result)
    except BrokenProcessPool:
        raise VZError(f"the {jobs} worker processes of the scan stopped before finishing; a script that scans "
                      f"with jobs > 1 must run it under `if __name__ == \"__main__\":` (its workers import it), "
                      f"and cannot be read from standard input; or scan with jobs=1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_remote(items: Sequence[tuple[int, str]], kwargs: dict, jobs: int | None, on_result: OnResult) -> None:
    """URLs fetched concurrently (``jobs`` in flight) and parsed here."""
    jobs = jobs or DEFAULT_JOBS
    index = [i for i, _ in items]
    opts = kwargs.get("storage_options")
    cache: dict[str, Any] = {}

    def fs_for(url: str):
        proto = protocol(url)
        if proto not in cache:
            cache[proto] = remote_fs(url, pool_options(proto, opts, jobs))
        return cache[proto]

    def parse(url, image, fs):
        return parse_image(url, image, **kwargs)

    scan_urls([u for _, u in items], parse, fs_for, lambda k, ds, err: on_result(index[k], ds, err), jobs=jobs,
              fallback=_fallback_for(kwargs))


def _fallback_for(kwargs: dict):
    def fallback(url: str):
        return _scan_file(url, **kwargs)

    return fallback


def pool_options(proto: str, options: dict | None, jobs: int) -> dict:
    """``options`` with room for ``jobs`` connections (s3fs' botocore pool
    holds 10 by default); what the user set wins."""
    opts = dict(options or {})
    if proto in ("s3", "s3a"):
        cfg = dict(opts.get("config_kwargs") or {})
        cfg.setdefault("max_pool_connections", max(10, 2 * jobs))
        opts["config_kwargs"] = cfg
    return opts


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
