"""Fetch merged byte ranges: local files through one descriptor, URLs through fsspec.

Local paths (and ``file://`` URLs) are opened with
:func:`vz_jupyter.core.access.open_regular` (FIFOs, devices and sockets are
refused, never opened blocking), checked against the file's size, then mapped
(``mmap``: the planned ranges are copied out of the page cache, no syscall per
range) or read with ``os.pread``. Any other URL goes through the checked
filesystems of :mod:`vz_jupyter.core.remote` (timeouts, checked Range answers),
one ``cat_ranges`` call per filesystem (concurrent on async filesystems such as
HTTP). A short, long or failed read is a one-line :class:`VZError`.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..access import open_regular
from ..errors import VZError
from ..urls import is_url, redact, strip_file_scheme
from .stats import ExecStats

#: map local files and copy only the planned ranges out of the page cache (no
#: syscall per range); False reads each merged range with ``os.pread``
LOCAL_MMAP = True

Requests = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class Fetched:
    """The fetched ranges of one file: ``buf[base[i]:...]`` holds ``starts[i]:ends[i]``."""

    starts: np.ndarray
    ends: np.ndarray
    base: np.ndarray
    buf: np.ndarray  # uint8, all blocks concatenated


def _pack(starts: np.ndarray, ends: np.ndarray, blocks: Sequence[bytes], path: str) -> Fetched:
    lens = ends - starts
    for s, b, n in zip(starts.tolist(), blocks, lens.tolist()):
        if isinstance(b, BaseException):
            raise remote_error(b, path)
        if len(b) < n:
            raise VZError(f"{redact(path)}: short read ({len(b)} of {n} bytes at byte {s}); the file may be "
                          f"truncated or changed")
        if len(b) > n:
            raise VZError(f"{redact(path)}: asked for {n} bytes at byte {s}, got {len(b)}")
    base = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    if len(blocks) == 1:
        buf = np.frombuffer(blocks[0], dtype=np.uint8)
    else:
        buf = np.frombuffer(b"".join(blocks), dtype=np.uint8)
    return Fetched(starts, ends, base, buf)


def _read_local(lp: str, starts: np.ndarray, ends: np.ndarray) -> Fetched:
    # FIFOs, devices and sockets are refused (never opened blocking)
    fd = open_regular(lp, " (referenced by the plan)")
    try:
        size = os.fstat(fd).st_size
        if int(ends.max()) > size:
            raise VZError(f"{lp}: short read (the plan needs bytes up to {int(ends.max())}, the file has {size}); "
                          f"the file may be truncated or changed")
        if LOCAL_MMAP and size:
            try:
                mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                mm = None
            if mm is not None:
                buf = np.frombuffer(mm, dtype=np.uint8)
                return Fetched(np.array([0], np.int64), np.array([size], np.int64), np.array([0], np.int64), buf)
        blocks = [os.pread(fd, int(e) - int(s), int(s)) for s, e in zip(starts.tolist(), ends.tolist())]
    finally:
        os.close(fd)
    return _pack(starts, ends, blocks, lp)


def _fetch_remote(requests: Requests, items: list[str], the_fs) -> dict[str, Fetched]:
    """All ranges of ``items`` (paths of one filesystem) in one ``cat_ranges`` call."""
    paths, starts, ends = [], [], []
    for path in items:
        s, e = requests[path]
        paths.extend([path] * len(s))
        starts.extend(s.tolist())
        ends.extend(e.tolist())
    try:
        blocks = the_fs.cat_ranges(paths, starts, ends, on_error="return")
    except Exception as e:  # noqa: BLE001  (any filesystem library's error -> one line)
        raise remote_error(e, items[0]) from None
    out, i = {}, 0
    for path in items:
        s, e = requests[path]
        out[path] = _pack(s, e, blocks[i:i + len(s)], path)
        i += len(s)
    return out


def _filesystem(path: str, storage_options: dict | None):
    """The checked fsspec filesystem for a URL (timeouts, checked Range answers)."""
    from ..remote import filesystem  # optional: aiohttp (core.remote loads fsspec's HTTP filesystem)

    return filesystem(path, storage_options)


def fetch_ranges(requests: Requests, *, storage_options: dict | None = None, fs=None,
                 stats: ExecStats | None = None) -> dict[str, Fetched]:
    """Fetch merged ranges ``{path: (starts, ends)}``; one descriptor per local
    file, one ``cat_ranges`` call per fsspec filesystem (``fs``, when given,
    reads every path)."""
    out: dict[str, Fetched] = {}
    remote: dict[int, tuple[Any, list[str]]] = {}
    for path, (starts, ends) in requests.items():
        if len(starts) == 0:
            continue
        if stats is not None:
            stats.n_requests += len(starts)
            nb = int((ends - starts).sum())
            stats.bytes_read += nb
            stats.files[path] = [len(starts), nb]
        if fs is None and not is_url(path):
            out[path] = _read_local(strip_file_scheme(path), starts, ends)
        else:
            the_fs = fs if fs is not None else _filesystem(path, storage_options)
            remote.setdefault(id(the_fs), (the_fs, []))[1].append(path)
    for the_fs, items in remote.values():
        out.update(_fetch_remote(requests, items, the_fs))
    return out


def remote_error(e: BaseException, path: str) -> VZError:
    """A one-line error for an exception raised reading ``path``."""
    if isinstance(e, VZError):
        return e
    if isinstance(e, FileNotFoundError):
        return VZError(f"{redact(e.filename or path)}: no such file (referenced by the plan)")
    from ..remote import describe  # optional: aiohttp (core.remote loads fsspec's HTTP filesystem)

    return describe(e, path)
