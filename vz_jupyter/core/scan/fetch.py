"""Remote files fetched ahead of parsing: few requests, none of them under the HDF5 lock.

An object store charges tens of milliseconds per request and almost nothing per
byte, and h5py holds one global lock (its "phil") for as long as HDF5 reads --
network waits included when HDF5 reads through a Python file object. So a
remote file is not parsed while it is read: its bytes are fetched first,
concurrently with other files', into an :class:`Image` (pieces of the file, its
size, ETag and modification time), and then parsed from memory through
:class:`ImageFile` (for h5py) or :class:`ImageFS` (for the NetCDF3 scanner and
:func:`~vz_jupyter.core.scan.file_source`).

* The first request is a ranged GET of the file's first :data:`FIRST_READ`
  bytes: its ``Content-Range`` tells the size, its headers the ETag and
  ``Last-Modified``; no HEAD request. A file that small is whole after it.
* A parse that reads bytes the image does not hold does not wait for them: the
  read fails, the missing ranges are recorded (:attr:`Image.misses`), and the
  caller fetches them (widened by :data:`READ_AHEAD`, merged when the gap is
  under :data:`MERGE_GAP`) and parses again. Metadata scattered through a file
  (netCDF-C writes each variable's chunk index where its first chunk went)
  costs a round per region on the first file; the regions found are then
  fetched speculatively, together with the first request, for the files after
  it (see :mod:`vz_jupyter.core.scan.remote_batch`).

Every request goes through the checked filesystems of
:mod:`vz_jupyter.core.remote`: HTTP answers are checked against the asked
range, timeouts apply, errors are one line with credentials redacted. S3 uses
s3fs' own ``get_object`` call (its retries and credentials), with the same
range checks.
"""
from __future__ import annotations

import asyncio
import bisect
import io
import os
from collections.abc import Iterable
from typing import Any

from ..errors import ScanError, VZError
from ..urls import redact

#: bytes asked for in a file's first request (its size comes with the answer)
FIRST_READ = 1 << 20
#: a missed read is fetched with this many bytes after it (metadata clusters)
READ_AHEAD = 256 << 10
#: ranges closer than this are fetched in one request. Requests in flight
#: together cost one round trip, so an extra request costs little time while
#: the bytes of a gap cost bandwidth shared by all files in flight (32 files
#: x 2 MiB of gap saturate a 1 Gbit/s link for half a second): merge only
#: small gaps
MERGE_GAP = 256 << 10
#: fetched ranges are aligned to this
ALIGN = 1 << 16


class ImageMiss(ScanError):
    """A parse read bytes the image does not hold yet (the caller fetches them
    and parses again; never shown when that works)."""


class Image:
    """What is known of one remote file: pieces of its bytes (sorted, merged),
    its size and validators, the reads that missed, and the requests made."""

    def __init__(self, url: str):
        self.url = url
        self.size: int | None = None
        self.etag: str | None = None
        self.mtime: float | None = None
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self.misses: list[tuple[int, int]] = []
        self.requests = 0
        self.fetched = 0
        #: ``fetch_now(start, end)`` adds those bytes, waiting (a last resort), or None: misses raise
        self.fetch_now = None
        #: an error of a blocking fetch (it is the file's error, whatever the parse says)
        self.error: BaseException | None = None

    # -- pieces ------------------------------------------------------------------
    def add(self, start: int, data: bytes) -> None:
        """Keep ``data`` as the file's bytes from ``start`` (merged with the
        pieces it overlaps or touches)."""
        if not data:
            return
        end = start + len(data)
        starts, pieces = self._starts, self._pieces
        i = bisect.bisect_right(starts, start) - 1
        lo = i if i >= 0 and starts[i] + len(pieces[i]) >= start else i + 1
        hi = bisect.bisect_right(starts, end)
        if lo == hi:
            starts.insert(lo, start)
            pieces.insert(lo, bytes(data))
            return
        s0 = min(start, starts[lo])
        e0 = max(end, starts[hi - 1] + len(pieces[hi - 1]))
        buf = bytearray(e0 - s0)
        for k in range(lo, hi):
            buf[starts[k] - s0:starts[k] - s0 + len(pieces[k])] = pieces[k]
        buf[start - s0:end - s0] = data
        starts[lo:hi] = [s0]
        pieces[lo:hi] = [bytes(buf)]

    def covered(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._starts[i] + len(self._pieces[i]) >= end

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` the image does not hold."""
        out, pos = [], start
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while pos < end and i < len(self._starts):
            s, e = self._starts[i], self._starts[i] + len(self._pieces[i])
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start..end-1`` (cut at the file's end), or :class:`ImageMiss`
        after recording the miss."""
        if self.size is not None:
            end = min(end, self.size)
        if end <= start:
            return b""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._starts[i] + len(self._pieces[i]) >= end:
            s = self._starts[i]
            return self._pieces[i][start - s:end - s]
        if self.fetch_now is not None:
            self.fetch_now(start, end)
            i = bisect.bisect_right(self._starts, start) - 1
            if i >= 0 and self._starts[i] + len(self._pieces[i]) >= end:
                s = self._starts[i]
                return self._pieces[i][start - s:end - s]
        self.misses.append((start, end))
        raise ImageMiss(self.url, f"bytes {start}-{end - 1} not fetched yet")

    @property
    def held(self) -> int:
        return sum(len(p) for p in self._pieces)

    # -- what to fetch next --------------------------------------------------------
    def windows_for(self, ranges: Iterable[tuple[int, int]], ahead: int | None = None) -> list[tuple[int, int]]:
        """Aligned, merged windows covering ``ranges`` (each widened by
        ``ahead``, :data:`READ_AHEAD` by default) minus what the image holds."""
        ahead = READ_AHEAD if ahead is None else ahead
        want = []
        for s, e in ranges:
            a = s // ALIGN * ALIGN
            b = -(-(e + ahead) // ALIGN) * ALIGN
            if self.size is not None:
                b = min(b, self.size)
            want.extend(self.gaps(a, b))
        return merge_windows(want)


def merge_windows(ranges: Iterable[tuple[int, int]], gap: int | None = None) -> list[tuple[int, int]]:
    """Sorted ``(start, end)`` ranges with those closer than ``gap`` (default
    :data:`MERGE_GAP`) merged."""
    gap = MERGE_GAP if gap is None else gap
    out: list[list[int]] = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s - out[-1][1] < gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


class ImageFile(io.RawIOBase):
    """A read-only file object over an :class:`Image`, for ``h5py.File``."""

    def __init__(self, image: Image):
        super().__init__()
        self.image = image
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self.pos = offset
        elif whence == os.SEEK_CUR:
            self.pos += offset
        else:
            self.pos = (self.image.size or 0) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        end = self.image.size if size is None or size < 0 else self.pos + size
        data = self.image.read(self.pos, end if end is not None else self.pos)
        self.pos += len(data)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class ImageFS:
    """The few filesystem calls the scanners make (``cat_file``, ``cat_ranges``,
    ``info``, ``size``), answered from an :class:`Image`."""

    def __init__(self, image: Image):
        self.image = image

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        return self.image.read(start or 0, end if end is not None else (self.image.size or 0))

    def cat_ranges(self, paths, starts, ends, **kwargs) -> list[bytes]:
        return [self.cat_file(p, s, e) for p, s, e in zip(paths, starts, ends)]

    def info(self, path, **kwargs) -> dict[str, Any]:
        im = self.image
        out: dict[str, Any] = {"name": im.url, "size": im.size, "type": "file"}
        if im.mtime is not None:
            out["mtime"] = im.mtime
        if im.etag:
            out["ETag"] = im.etag
        return out

    def size(self, path) -> int | None:
        return self.image.size


# ---------------------------------------------------------------------------
# fetching (coroutines run on the filesystem's event loop)


async def fetch_first(fs, image: Image, n: int) -> None:
    """The first ``n`` bytes of ``image.url`` with its size and validators, in one
    request where the protocol allows."""
    url = image.url
    try:
        data, meta = await _block(fs, url, 0, n)
    except _Empty:
        data, meta = b"", {"size": 0}
    image.requests += 1
    image.fetched += len(data)
    image.add(0, data)
    image.size = meta.get("size")
    if image.size is None and len(data) < n:
        image.size = len(data)
    image.etag = meta.get("ETag") or None
    image.mtime = meta.get("mtime")
    if image.size is None:  # the server does not tell: ask once
        info = await _info(fs, url)
        image.size = info.get("size")


async def fetch_windows(fs, image: Image, windows: list[tuple[int, int]], *, speculative: bool = False) -> None:
    """Fetch ``windows`` of ``image`` concurrently. ``speculative`` windows are
    guesses (from files scanned before): one that fails is dropped quietly, the
    parse will ask for what it really needs."""
    async def one(s: int, e: int):
        try:
            data, _ = await _block(fs, image.url, s, e)
        except (_Empty, VZError, FileNotFoundError, OSError):
            if speculative:
                return
            raise
        image.requests += 1
        image.fetched += len(data)
        image.add(s, data)

    await asyncio.gather(*(one(s, e) for s, e in windows))


class _Empty(Exception):
    """The file has no bytes (a ranged read of an empty object is refused)."""


async def _block(fs, url: str, start: int, end: int) -> tuple[bytes, dict]:
    from ..remote import CheckedHTTPFileSystem, RangeMismatch  # optional: aiohttp (fsspec's http), for URLs only

    if isinstance(fs, CheckedHTTPFileSystem):
        try:
            return await fs._cat_block(url, start, end)
        except RangeMismatch as e:
            if start == 0 and "HTTP 416" in str(e):
                info = await fs._info(url)
                if info.get("size") == 0:
                    raise _Empty() from None
            raise
    if hasattr(fs, "_call_s3") and hasattr(fs, "split_path"):
        return await _s3_block(fs, url, start, end)
    return await _generic_block(fs, url, start, end)


async def _s3_block(fs, url: str, start: int, end: int) -> tuple[bytes, dict]:
    """One ranged ``get_object`` through s3fs (its credentials and retries),
    the answer checked like an HTTP one."""
    from s3fs.core import _error_wrapper, version_id_kw  # optional: s3fs (the s3 extra)

    from ..remote import RangeMismatch, _parse_content_range, describe  # optional: aiohttp (fsspec's http)

    bucket, key, vers = fs.split_path(url)

    async def call():
        resp = await fs._call_s3("get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}",
                                 **version_id_kw(vers))
        try:
            body = await resp["Body"].read()
        finally:
            resp["Body"].close()
        return body, resp

    try:
        body, resp = await _error_wrapper(call, retries=fs.retries)
    except FileNotFoundError:
        raise
    except (PermissionError, VZError):
        raise
    except Exception as e:  # noqa: BLE001  (botocore / aiohttp errors -> one line)
        if "InvalidRange" in str(e) and start == 0:
            raise _Empty() from None
        raise describe(e, url) from None
    u = redact(url)
    meta: dict[str, Any] = {}
    cr = _parse_content_range(resp.get("ContentRange"))
    if cr is not None:
        a, b, total = cr
        if a != start or b > end - 1 or len(body) != b - a + 1:
            raise RangeMismatch(u, f"asked for bytes {start}-{end - 1}, the store sent bytes {a}-{b} "
                                f"({len(body)} bytes)")
        meta["size"] = total
    elif start == 0 and len(body) <= end:  # the whole (small) object
        meta["size"] = len(body)
    else:
        raise RangeMismatch(u, f"asked for bytes {start}-{end - 1}, the store answered without a Content-Range")
    if resp.get("ETag"):
        meta["ETag"] = resp["ETag"]
    lm = resp.get("LastModified")
    if hasattr(lm, "timestamp"):
        meta["mtime"] = lm.timestamp()
    return body, meta


async def _generic_block(fs, url: str, start: int, end: int) -> tuple[bytes, dict]:
    """Other protocols: their ``info`` (size, validators) and ``cat_file``."""
    info = await _info(fs, url)
    size = info.get("size")
    if size is not None:
        end = min(end, size)
    data = b"" if end <= start else await _call(fs, "cat_file", url, start=start, end=end)
    meta: dict[str, Any] = {"size": size}
    etag = info.get("ETag") or info.get("etag")
    if etag:
        meta["ETag"] = str(etag)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    try:
        meta["mtime"] = float(mtime) if mtime is not None else None
    except (TypeError, ValueError):
        pass
    return data, meta


async def _info(fs, url: str) -> dict:
    return await _call(fs, "info", url)


async def _call(fs, name: str, *args, **kwargs):
    if getattr(fs, "async_impl", False):
        return await getattr(fs, "_" + name)(*args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, lambda: getattr(fs, name)(*args, **kwargs))
