"""Scan one HDF5 / NetCDF4 file: open it (a local path, or a URL through fsspec
with small cached blocks), scan the group asked for, and turn anything h5py or
numpy raises on a damaged file into a one-line :class:`ScanError`."""
from __future__ import annotations

import os

import h5py

from ...errors import ScanError, UnsupportedFeature
from ...model import VDataset
from ..files import check_regular_file
from . import watchdog
from .problems import condense_h5_error
from .scanner import Scanner

#: block size for remote reads: HDF5 metadata is small and scattered, so small
#: cached blocks beat fsspec's default multi-megabyte read-ahead by far
REMOTE_BLOCK_SIZE = 1 << 16


def _open_remote(fs, path: str):
    try:
        return fs.open(path, "rb", block_size=REMOTE_BLOCK_SIZE, cache_type="blockcache")
    except TypeError:  # filesystems without buffered-file options
        return fs.open(path, "rb")


def _open_local(path: str) -> h5py.File:
    """Open read-only without file locking (read-only shares need that); when the
    same process already holds the file open with another locking setting, HDF5
    insists on the same setting, so try the others."""
    err: OSError | None = None
    for locking in (False, None, True):
        try:
            if locking is None:
                return h5py.File(path, "r")
            return h5py.File(path, "r", locking=locking)
        except OSError as e:
            if "locking" not in str(e):
                raise
            err = e
    raise err  # type: ignore[misc]


def _open(path: str, fs, fobj):
    """``(h5py.File, the file object it reads through or None)``; a file that
    cannot be opened is a one-line ScanError."""
    try:
        if fobj is not None:
            f = h5py.File(fobj, "r")
        elif fs is not None:
            fobj = _open_remote(fs, path)
            f = h5py.File(fobj, "r")
        else:
            f = _open_local(path)
    except FileNotFoundError:
        if fobj is not None:
            fobj.close()
        raise ScanError(path, "no such file") from None
    except IsADirectoryError:
        raise ScanError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ScanError(path, "permission denied") from None
    except (OSError, ValueError) as e:
        if fobj is not None:
            fobj.close()
        if fs is None and os.path.isdir(path):
            raise ScanError(path, "is a directory, not a file") from None
        if fs is None and not os.path.exists(path):
            raise ScanError(path, "no such file") from None
        raise ScanError(path, f"cannot open as HDF5: {condense_h5_error(e)}") from None
    return f, fobj


def scan_hdf5(path: str, *, group: str | None = None, inline_threshold: int = 500, fs=None, fobj=None,
              _guard: bool = True) -> VDataset:
    """Scan one HDF5 / NetCDF4 file (local path, or URL with an fsspec ``fs``;
    ``fobj``: a file object to read the URL's bytes through instead, such as a
    fetched :class:`~vz_jupyter.core.scan.fetch.ImageFile`).

    Local files whose scan reads variable-length data are scanned in a forked
    child process with a watchdog (see :mod:`.watchdog`); remote files
    and platforms without ``fork`` read it directly, unguarded."""
    path = str(path)
    if fs is None and fobj is None:
        check_regular_file(path)  # HDF5 would block forever opening a FIFO
    f, fobj = _open(path, fs, fobj)
    sc = Scanner(path, f, fs, inline_threshold, fobj=fobj)
    guard = None
    if _guard and fs is None and fobj is None and hasattr(os, "fork") and watchdog.VLEN_TIMEOUT > 0:
        def guard():
            watchdog.drop_guard()  # once per scan: the child does the rest
            work = lambda: scan_hdf5(path, group=group, inline_threshold=inline_threshold, _guard=False)  # noqa: E731
            raise watchdog.Done(watchdog.scan_in_child(work, watchdog.VLEN_TIMEOUT))
    token = watchdog.set_guard(guard)
    try:
        return sc.scan(group)
    except watchdog.Done as d:
        if d.error is not None:
            raise ScanError(path, d.error) from None
        return d.result
    except (ScanError, UnsupportedFeature):
        raise
    except Exception as e:  # corrupt files: any h5py/numpy error becomes a one-line ScanError
        raise ScanError(path, condense_h5_error(e)) from None
    finally:
        watchdog.reset_guard(token)
        sc.close()
        try:
            f.close()
        finally:
            if fobj is not None:
                fobj.close()
