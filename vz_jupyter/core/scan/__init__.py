"""Scan legacy files into :class:`~vz_jupyter.core.model.VDataset` objects.

``scan`` expands globs, sniffs each file's format by its magic bytes and hands it
to the matching scanner (HDF5/NetCDF4, NetCDF3, existing kerchunk references). A
list of files can be scanned by any ``concurrent.futures.Executor``.
"""
from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Sequence

from .. import limits, progress as _progress
from ..errors import ScanError, SkippedFileWarning
from ..model import FileFailure, VDatasetList
from ..urls import is_url
from .dispatch import (
    DEFAULT_INLINE_THRESHOLD,
    ERRORS,
    HDF4_MAGIC,
    HDF5_MAGIC,
    NC3_MAGICS,
    _check_errors,
    apply_errors,
    expand_paths,
    fetchable,
    parse_image,
    scan_file,
    sniff,
)
from .files import check_regular_file, file_source, normalize_path, remote_fs
from .parallel import run_executor, run_local, run_remote

__all__ = ["scan", "scan_file", "expand_paths", "sniff", "apply_errors", "file_source", "check_regular_file",
           "normalize_path", "remote_fs", "is_url", "ERRORS", "DEFAULT_INLINE_THRESHOLD", "HDF5_MAGIC",
           "HDF4_MAGIC", "NC3_MAGICS", "fetchable", "parse_image"]


def _failure(e: ScanError) -> FileFailure:
    return FileFailure(e.path, e.problem, type(e).__name__)


class _Collector:
    """Results by input index, the errors policy, and the progress callback."""

    def __init__(self, files: list[str], errors, progress):
        self.files, self.errors, self.progress = files, errors, progress
        self.results: list = [None] * len(files)
        self.failed: dict[int, ScanError] = {}
        self.done = 0

    def put(self, i: int, ds, err) -> None:
        self.done += 1
        if err is not None:
            if self.errors not in ("warn", "skip"):
                raise err
            self.failed[i] = err
        else:
            self.results[i] = ds
        if self.progress:
            self.progress(self.done, len(self.files), self.files[i])

    def result(self) -> VDatasetList:
        out = []
        for i, ds in enumerate(self.results):
            if i in self.failed:
                if self.errors == "warn":
                    warnings.warn(f"file left out: {self.failed[i]}", SkippedFileWarning, stacklevel=3)
                continue
            if ds is not None:
                out.append(apply_errors(ds, self.errors, stacklevel=4))
        return VDatasetList(out, failed=[_failure(self.failed[i]) for i in sorted(self.failed)])


def scan(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    group: str | None = None,
    inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
    executor=None,
    jobs: int | None = None,
    storage_options: dict | None = None,
    progress=None,
    errors: str | None = None,
    allowed_roots=None,
) -> VDatasetList:
    """Scan files, globs or URLs; returns a :class:`VDatasetList` in input order.

    ``jobs``: files scanned at once. URLs are fetched concurrently by this
    process and parsed from memory (default 32 in flight; a typical NetCDF4
    file costs one or two requests, see :mod:`vz_jupyter.core.scan.remote_batch`);
    local files are parsed one by one, or by ``jobs`` worker processes (HDF5's
    global lock makes threads useless for parsing).
    ``executor``: any ``concurrent.futures.Executor`` or a
    ``dask.distributed.Client`` scans the files in batches instead; the result
    is the same as a serial scan's, in input order.
    ``progress``: None shows a bar where someone watches (``tqdm.auto`` in a
    notebook, a terminal bar on a terminal; nothing in scripts and tests),
    True always, False never; or a callable ``progress(done, total, path)``
    called as each file finishes (see :mod:`vz_jupyter.core.progress`).

    ``errors`` says what a problem costs:

    * None (default): a file that cannot be read raises a one-line
      :class:`ScanError` naming it; a variable that cannot be referenced is left
      out, recorded on ``VDataset.skipped`` as ``(name, reason)`` and announced
      with a :class:`~vz_jupyter.core.errors.SkippedVariableWarning`;
    * ``"raise"``: both are errors (:class:`UnsupportedFeature` for a variable);
    * ``"warn"``: both are left out with a warning (``SkippedFileWarning`` for a file);
    * ``"skip"``: both are left out silently (variables still recorded).

    Files left out are listed on the result's ``failed`` (path, problem, kind
    of error), which its display shows.

    ``allowed_roots`` widens what existing references may read (see
    :mod:`vz_jupyter.core.access`); remote reads time out as
    :mod:`vz_jupyter.core.remote` describes (``storage_options={"timeout": s}``).

    Long because: the docstring documents every argument; the body is a dozen lines.
    """
    _check_errors(errors)
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive number of files, not {jobs!r}")
    files = expand_paths(paths, storage_options)
    if not files:
        raise ScanError(str(paths), "no files given")
    kwargs = dict(group=group, inline_threshold=inline_threshold, storage_options=storage_options,
                  allowed_roots=allowed_roots)
    bar = _progress.resolve(progress, len(files))
    col = _Collector(files, errors, bar)
    ok = False
    try:
        _run(list(enumerate(files)), kwargs, executor, jobs, col.put)
        ok = True
    finally:
        _progress.close(bar, ok)
    return col.result()


def _run(items: list, kwargs: dict, executor, jobs: int | None, put) -> None:
    """Scan ``(index, path)`` items: by ``executor`` when given, else URLs
    fetched concurrently here and local files by :func:`run_local`."""
    if executor is not None:
        run_executor(executor, items, kwargs, jobs, put)
        return
    remote = [it for it in items if fetchable(it[1])]
    if remote:
        run_remote(remote, kwargs, jobs, put)
    run_local([it for it in items if not fetchable(it[1])], kwargs, jobs, put)


class _BudgetsModule(types.ModuleType):
    """``vz_jupyter.core.scan.MAX_CHUNKS`` and ``MAX_GRID``, where the scan budgets
    used to live, read and set through to :mod:`vz_jupyter.core.limits` (their
    one place), so code that raises them here keeps working."""

    MAX_CHUNKS = property(lambda self: limits.MAX_CHUNKS, lambda self, v: setattr(limits, "MAX_CHUNKS", v))
    MAX_GRID = property(lambda self: limits.MAX_GRID, lambda self, v: setattr(limits, "MAX_GRID", v))


sys.modules[__name__].__class__ = _BudgetsModule
