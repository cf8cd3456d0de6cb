"""Scan legacy files into :class:`~vz_jupyter.core.model.VDataset` objects.

``scan`` expands globs, sniffs each file's format by its magic bytes and hands it
to the matching scanner (HDF5/NetCDF4, NetCDF3, existing kerchunk references). A
list of files can be scanned by any ``concurrent.futures.Executor``.
"""
from __future__ import annotations

import glob as _glob
import os
import sys
import types
import warnings
from collections.abc import Iterable, Sequence

import fsspec

from .. import limits, progress as _progress
from ..errors import ScanError, SkippedFileWarning, SkippedVariableWarning, UnsupportedFeature, VZError, reading
from ..model import FileFailure, VDataset, VDatasetList
from ..urls import is_url
from .fetch import ImageFile, ImageFS
from .files import check_regular_file, file_source, normalize_path, remote_fs
from .hdf5 import scan_hdf5
from .netcdf3 import scan_netcdf3
from .refs import scan_refs

__all__ = ["scan", "scan_file", "expand_paths", "sniff", "apply_errors", "file_source", "check_regular_file",
           "normalize_path", "remote_fs", "is_url", "ERRORS", "DEFAULT_INLINE_THRESHOLD", "HDF5_MAGIC",
           "HDF4_MAGIC", "NC3_MAGICS"]

#: what ``errors=`` accepts (see :func:`scan`)
ERRORS = (None, "raise", "warn", "skip")

#: chunks (and whole small variables) at most this many bytes are inlined
DEFAULT_INLINE_THRESHOLD = 500

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HDF4_MAGIC = b"\x0e\x03\x13\x01"
NC3_MAGICS = {b"CDF\x01": "NetCDF3 classic", b"CDF\x02": "NetCDF3 64-bit offset", b"CDF\x05": "NetCDF3 CDF5"}


def _exists_literally(p: str, storage_options: dict | None = None) -> bool:
    """Whether ``p``, taken as a name and not as a pattern, exists (``data[1].nc``
    is a file name before it is a glob)."""
    try:
        if is_url(p):
            return bool(remote_fs(p, storage_options).exists(p))
        q = p[len("file://"):] if p.startswith("file://") else p
        return os.path.lexists(os.path.expanduser(q))
    except Exception:  # a pattern that is no valid name for the filesystem
        return False


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike],
                 storage_options: dict | None = None) -> list[str]:
    """Expand globs (local or fsspec URLs, listed with ``storage_options``)
    keeping the user's order for explicit lists and sorted order within one
    glob. A path that exists is taken literally even when it contains glob
    characters. A pattern matching nothing is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if any(ch in p for ch in "*?[") and not _exists_literally(p, storage_options):
            try:
                if is_url(p):
                    proto = p.split("://", 1)[0]
                    rfs = remote_fs(p, storage_options)
                    if hasattr(rfs, "invalidate_cache"):
                        rfs.invalidate_cache()  # list what is there now, not what an earlier glob saw
                    found = rfs.glob(p)
                    matches = sorted(f"{proto}://{m}" if "://" not in m else m for m in found)
                else:
                    matches = sorted(_glob.glob(os.path.expanduser(p)))
            except FileNotFoundError:
                matches = []
            except VZError as e:  # a listing that fails or times out: one line
                raise ScanError(p, str(e).split(": ", 1)[-1]) from None
            except (ValueError, OSError) as e:  # e.g. a bad character range for fsspec's regex
                raise ScanError(p, f"not a usable file pattern ({e})") from None
            if not matches:
                raise ScanError(p, "no files match this pattern")
            out.extend(normalize_path(m) for m in matches)
        else:
            out.append(normalize_path(p))
    return out


def sniff(path: str, head: bytes) -> str:
    """Name the format of a file from its first bytes (``hdf5``, ``netcdf3``,
    ``refs-json``) or raise a one-line :class:`ScanError`."""
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head[:4] in NC3_MAGICS:
        return "netcdf3"
    if head.startswith(HDF4_MAGIC):
        raise UnsupportedFeature(path, "this is an HDF4 file; only HDF5, NetCDF4 and NetCDF3 are supported")
    if head.lstrip()[:1] == b"{":
        return "refs-json"
    if head.startswith(b"CDF"):
        if len(head) < 4:
            raise ScanError(path, f"truncated NetCDF3 file: only {len(head)} bytes")
        raise UnsupportedFeature(path, f"unknown NetCDF3 version byte {head[3]} (expected 1, 2 or 5)")
    if head.startswith(b"PAR1"):
        raise ScanError(path, "a single parquet file is not a reference set; pass the parquet directory")
    if not head:
        raise ScanError(path, "the file is empty")
    raise ScanError(path, "not an HDF5, NetCDF or kerchunk reference file (unrecognised leading bytes)")


def _open_small(fs, path: str):
    """Open for a few small reads: a remote file must not fetch fsspec's default
    multi-megabyte read-ahead block just to sniff 8 bytes."""
    try:
        return fs.open(path, "rb", block_size=1 << 12)
    except TypeError:
        return fs.open(path, "rb")


def _read_head(path: str, fs, n: int = 8) -> bytes:
    with _open_small(fs, path) as f:
        head = f.read(n)
        if head.startswith(HDF5_MAGIC) or head[:4] in NC3_MAGICS:
            return head
        # HDF5 allows a user block: the superblock may sit at 512, 1024, 2048, ...
        off = 512
        size = fs.size(path) if hasattr(fs, "size") else None
        while size is not None and off + 8 <= size:
            f.seek(off)
            if f.read(8) == HDF5_MAGIC:
                return HDF5_MAGIC
            off *= 2
    return head


def _check_errors(errors) -> None:
    if errors not in ERRORS:
        raise ValueError(f"errors must be None, 'raise', 'warn' or 'skip', not {errors!r}")


def apply_errors(ds: VDataset, errors: str | None, stacklevel: int = 3) -> VDataset:
    """Act on the variables a scan could not reference (``ds.skipped``): raise
    (``"raise"``), warn with :class:`SkippedVariableWarning` (None, ``"warn"``) or
    nothing (``"skip"``); they stay recorded on the result."""
    if not ds.skipped or errors == "skip":
        return ds
    where = ds.sources[0].path if ds.sources else "?"
    if errors == "raise":
        name, reason = ds.skipped[0]
        more = f" (and {len(ds.skipped) - 1} more variables)" if len(ds.skipped) > 1 else ""
        raise UnsupportedFeature(where, f"variable {name!r} cannot be referenced: {reason}{more}")
    for name, reason in ds.skipped:
        warnings.warn(f"{where}: variable {name!r} not referenced: {reason}", SkippedVariableWarning,
                      stacklevel=stacklevel)
    return ds


def scan_file(
    path: str | os.PathLike,
    *,
    group: str | None = None,
    inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
    storage_options: dict | None = None,
    errors: str | None = None,
    allowed_roots=None,
) -> VDataset:
    """Scan one file (or reference set) into a :class:`VDataset`; ``errors`` as
    in :func:`scan` (for this file's variables). References are confined (see
    :mod:`vz_jupyter.core.access`): the paths they name must lie under their own
    folder, their recorded roots or ``allowed_roots``."""
    _check_errors(errors)
    ds = _scan_file(path, group=group, inline_threshold=inline_threshold, storage_options=storage_options,
                    allowed_roots=allowed_roots)
    return apply_errors(ds, errors)


def fetchable(path: str) -> bool:
    """A URL scanned by fetching it (a parquet reference folder is not one file)."""
    return is_url(path) and not path.rstrip("/").endswith((".parquet", ".parq"))


def _scan_file(path, *, group, inline_threshold, storage_options, allowed_roots=None) -> VDataset:
    path = normalize_path(path)
    if is_url(path):
        fs = remote_fs(path, storage_options)
    else:
        fs = fsspec.filesystem("file")
        if not os.path.exists(path):
            raise ScanError(path, "no such file")
        if os.path.isdir(path):
            if os.path.exists(os.path.join(path, ".zmetadata")):
                return scan_refs(path, allowed_roots=allowed_roots)
            raise ScanError(path, "is a directory, not a file (pass a glob such as DIR/*.nc)")
        check_regular_file(path)
    with reading(path):
        head = _read_head(path, fs)
    kind = sniff(path, head)
    if kind == "hdf5":
        return scan_hdf5(path, group=group, inline_threshold=inline_threshold, fs=fs if is_url(path) else None)
    if kind == "netcdf3":
        if group:
            raise ScanError(path, f"NetCDF3 files have no groups (asked for group {group!r})")
        return scan_netcdf3(path, inline_threshold=inline_threshold, fs=fs if is_url(path) else None)
    return scan_refs(path, storage_options=storage_options, allowed_roots=allowed_roots)


def parse_image(url: str, image, *, group=None, inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
                storage_options: dict | None = None, allowed_roots=None) -> VDataset:
    """Scan a remote file from its fetched bytes (see
    :mod:`vz_jupyter.core.scan.fetch`); a read the image cannot serve raises
    :class:`~vz_jupyter.core.scan.fetch.ImageMiss` or is recorded on it."""
    ifs = ImageFS(image)
    head = image.read(0, 8)
    if not (head.startswith(HDF5_MAGIC) or head[:4] in NC3_MAGICS):
        off = 512  # an HDF5 user block: the superblock at 512, 1024, 2048, ...
        while image.size is not None and off + 8 <= image.size:
            if image.read(off, off + 8) == HDF5_MAGIC:
                head = HDF5_MAGIC
                break
            off *= 2
    kind = sniff(url, head)
    if kind == "hdf5":
        return scan_hdf5(url, group=group, inline_threshold=inline_threshold, fs=ifs, fobj=ImageFile(image))
    if kind == "netcdf3":
        if group:
            raise ScanError(url, f"NetCDF3 files have no groups (asked for group {group!r})")
        return scan_netcdf3(url, inline_threshold=inline_threshold, fs=ifs)
    return scan_refs(url, storage_options=storage_options, allowed_roots=allowed_roots)


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
    """
    from .parallel import run_executor, run_local, run_remote  # load order: it imports this package's scanners

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
    items = list(enumerate(files))
    ok = False
    try:
        if executor is not None:
            run_executor(executor, items, kwargs, jobs, col.put)
        else:
            remote = [it for it in items if fetchable(it[1])]
            if remote:
                run_remote(remote, kwargs, jobs, col.put)
            run_local([it for it in items if not fetchable(it[1])], kwargs, jobs, col.put)
        ok = True
    finally:
        _progress.close(bar, ok)
    return col.result()


class _BudgetsModule(types.ModuleType):
    """``vz_jupyter.core.scan.MAX_CHUNKS`` and ``MAX_GRID``, where the scan budgets
    used to live, read and set through to :mod:`vz_jupyter.core.limits` (their
    one place), so code that raises them here keeps working."""

    MAX_CHUNKS = property(lambda self: limits.MAX_CHUNKS, lambda self, v: setattr(limits, "MAX_CHUNKS", v))
    MAX_GRID = property(lambda self: limits.MAX_GRID, lambda self, v: setattr(limits, "MAX_GRID", v))


sys.modules[__name__].__class__ = _BudgetsModule
