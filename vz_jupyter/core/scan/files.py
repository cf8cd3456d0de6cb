"""The files a scanner reads: their paths, what kind of file they are, and the
:class:`~vz_jupyter.core.model.Source` record of each.

Shared by every scanner and by the dispatch in :mod:`vz_jupyter.core.scan`;
importing nothing of the scanners, so they can import it without a cycle.
"""
from __future__ import annotations

import os
import stat as _stat

from ..errors import ScanError, reading
from ..model import Source
from ..urls import is_url


def remote_fs(path: str, storage_options: dict | None = None):
    """The filesystem scanners read a URL through: timeouts and checked byte
    ranges (see :mod:`vz_jupyter.core.remote`)."""
    from ..remote import filesystem  # heavy: fsspec's HTTP filesystem loads aiohttp; local scans never need it

    return filesystem(path, storage_options)


def normalize_path(path: str | os.PathLike) -> str:
    """Absolute POSIX path for local files; URLs are kept as they are."""
    p = os.fspath(path)
    if p.startswith("file://"):
        p = p[len("file://"):]
    if is_url(p):
        return p
    return os.path.abspath(os.path.expanduser(p))


_NOT_REGULAR = (
    (_stat.S_ISFIFO, "a named pipe (FIFO)"),
    (_stat.S_ISSOCK, "a socket"),
    (_stat.S_ISCHR, "a character device"),
    (_stat.S_ISBLK, "a block device"),
)


def check_regular_file(path: str) -> os.stat_result:
    """``os.stat`` of a local data file, refusing anything but a regular file
    before it is opened: reading a FIFO or a terminal blocks forever, a device
    never ends."""
    with reading(path):
        st = os.stat(path)
    if _stat.S_ISREG(st.st_mode):
        return st
    if _stat.S_ISDIR(st.st_mode):
        raise ScanError(path, "is a directory, not a file")
    kind = next((what for test, what in _NOT_REGULAR if test(st.st_mode)), "not a regular file")
    raise ScanError(path, f"is {kind}, not a regular file; only regular files can be scanned")


def file_source(path: str, fs=None, format: str = "") -> Source:
    """Size and modification time (or etag) of a file, for staleness checks."""
    if fs is None or not is_url(path):
        st = os.stat(path)
        return Source(path, st.st_size, st.st_mtime, None, format)
    info = fs.info(path)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    try:
        mtime = float(mtime) if mtime is not None else None
    except (TypeError, ValueError):
        mtime = None
    etag = info.get("ETag") or info.get("etag")
    return Source(path, info.get("size"), mtime, str(etag) if etag else None, format)
