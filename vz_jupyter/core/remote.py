"""Remote I/O that is checked and bounded.

Every URL the package reads (scanning, executing plans, opening references)
goes through :func:`filesystem`, which gives an fsspec filesystem with

* **timeouts**: connecting (default 10 s) and each wait for the server's next
  bytes (default 30 s). Set them per call with ``storage_options={"timeout":
  5}`` (both) or ``{"timeout": {"connect": 5, "read": 60}}``, for a whole
  process with the environment variable ``VZ_TIMEOUT`` (``"60"`` or
  ``"5,60"``: connect, read), or by changing :data:`DEFAULT_TIMEOUTS`. A
  stalled server ends in a one-line :class:`RemoteTimeout` ("timed out"),
  never in a hang or a misleading "no such file".
* **checked byte ranges** (HTTP/HTTPS): every ranged answer is compared with
  what was asked -- status 206 with a ``Content-Range`` naming exactly the
  requested first byte and no byte past the requested last one, a body as long
  as that range. A server that ignores ``Range`` (200 with the whole body) is
  handled when the requested range ends within :data:`FULL_BODY_LIMIT` bytes
  (only the bytes up to the range's end are read, then the connection is
  dropped); beyond that it is a one-line :class:`RangeMismatch`. Anything else
  is a one-line :class:`RemoteError` naming the URL (credentials redacted).
* **redirects checked** against an optional ``url_check(url)`` (the
  confinement policy of :mod:`vz_jupyter.core.access`): a server may not send
  the reader somewhere the references were not allowed to go.

S3 (``s3fs``) gets the same timeouts through botocore's ``connect_timeout`` /
``read_timeout``; other protocols use their library's own.
"""
from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import fsspec
from fsspec.asyn import sync
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.http import HTTPFileSystem as _HTTPFileSystem
from fsspec.spec import AbstractBufferedFile as _BufferedFile

from .errors import ScanError, VZError
from .urls import protocol as _protocol, redact

#: seconds: ``connect`` = TCP connection; ``read`` = each wait for the server's next bytes
DEFAULT_TIMEOUTS = {"connect": 10.0, "read": 30.0}
#: a server that ignores Range requests is read from its start only while the
#: wanted range ends within this many bytes
FULL_BODY_LIMIT = 16 * 1024 * 1024
#: redirects followed (each one checked) before giving up
MAX_REDIRECTS = 10


class RemoteError(ScanError):
    """A remote read failed: ``RemoteError(url, problem)``; the message names
    the URL (credentials redacted) and why."""


class RemoteTimeout(RemoteError):
    """A remote server did not answer in time."""


class RangeMismatch(RemoteError):
    """A server answered a byte-range request with other bytes than asked."""


# ---------------------------------------------------------------------------
# timeouts


def _env_timeouts() -> dict[str, float]:
    raw = os.environ.get("VZ_TIMEOUT", "").strip()
    if not raw:
        return {}
    try:
        parts = [float(x) for x in re.split(r"[,\s]+", raw) if x]
    except ValueError:
        raise VZError(f"VZ_TIMEOUT={raw!r}: give seconds, e.g. '60' or '5,60' (connect, read)") from None
    if len(parts) == 1:
        return {"connect": parts[0], "read": parts[0]}
    if len(parts) == 2:
        return {"connect": parts[0], "read": parts[1]}
    raise VZError(f"VZ_TIMEOUT={raw!r}: give one or two numbers (connect, read)")


def split_timeouts(options: dict | None) -> tuple[dict, float, float]:
    """``(options without "timeout", connect seconds, read seconds)``."""
    opts = dict(options or {})
    t = dict(DEFAULT_TIMEOUTS)
    t.update(_env_timeouts())
    given = opts.pop("timeout", None)
    if isinstance(given, dict):
        unknown = set(given) - {"connect", "read"}
        if unknown:
            raise VZError(f"storage_options 'timeout': unknown key(s) {sorted(unknown)}; use 'connect' and 'read'")
        t.update({k: float(v) for k, v in given.items()})
    elif given is not None:
        try:
            t["connect"] = t["read"] = float(given)
        except (TypeError, ValueError):
            raise VZError(f"storage_options 'timeout' must be seconds or {{'connect': s, 'read': s}}, not {given!r}") from None
    for k, v in t.items():
        if not v > 0:
            raise VZError(f"timeout {k!r} must be a positive number of seconds, not {v!r}")
    return opts, t["connect"], t["read"]


# ---------------------------------------------------------------------------
# error wording


def describe(exc: BaseException, url: str, *, connect: float | None = None, read: float | None = None) -> RemoteError:
    """A one-line :class:`RemoteError` for an exception raised reading ``url``."""
    import aiohttp  # heavy: aiohttp, only for HTTP(S)

    u = redact(url)
    if isinstance(exc, RemoteError):
        return exc
    hint = "set storage_options={'timeout': ...} or VZ_TIMEOUT to wait longer"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        after = f"after {connect:g} s; " if connect else ""
        return RemoteTimeout(u, f"timed out connecting to the server ({after}{hint})")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        after = f"no bytes for {read:g} s; " if read else ""
        return RemoteTimeout(u, f"timed out waiting for the server ({after}{hint})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        why = getattr(exc, "os_error", None)
        why = getattr(why, "strerror", None) or str(why or exc)
        return RemoteError(u, f"cannot connect to the server ({why})")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return RemoteError(u, "the server closed the connection before sending the whole answer")
    if isinstance(exc, aiohttp.ClientResponseError):
        return RemoteError(u, f"HTTP {exc.status} {exc.message}".rstrip())
    text = " ".join(str(exc).split()) or type(exc).__name__
    return RemoteError(u, f"{redact(text)}")


# ---------------------------------------------------------------------------
# filesystems


def filesystem(url: str, storage_options: dict | None = None, *, asynchronous: bool = False,
               url_check: Callable[[str], None] | None = None):
    """An fsspec filesystem for ``url``'s protocol with timeouts (and, for
    HTTP/HTTPS, checked byte ranges and redirects)."""
    proto = _protocol(url)
    opts, connect, read = split_timeouts(storage_options)
    if proto in ("http", "https"):
        return CheckedHTTPFileSystem(asynchronous=asynchronous, connect_timeout=connect, read_timeout=read,
                                     url_check=url_check, **opts)
    if proto in ("s3", "s3a"):
        cfg = dict(opts.pop("config_kwargs", None) or {})
        cfg.setdefault("connect_timeout", connect)
        cfg.setdefault("read_timeout", read)
        opts["config_kwargs"] = cfg
    if asynchronous:
        cls = fsspec.get_filesystem_class(proto.split("::")[0])
        if cls.async_impl:
            return fsspec.filesystem(proto, asynchronous=True, **opts)
        return AsyncFileSystemWrapper(fsspec.filesystem(proto, **opts), asynchronous=True)
    return fsspec.filesystem(proto, **opts)


def _parse_content_range(value: str | None):
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), None if m.group(3) == "*" else int(m.group(3))


def _http_date(value: str | None) -> float | None:
    if not value:
        return None

    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _validators(headers) -> dict:
    """ETag / Last-Modified of an HTTP answer (``mtime`` in seconds too)."""
    out: dict[str, Any] = {}
    for k in ("ETag", "Last-Modified"):
        if headers.get(k):
            out[k] = headers[k]
    mtime = _http_date(headers.get("Last-Modified"))
    if mtime is not None:
        out["mtime"] = mtime
    return out


class CheckedHTTPFileSystem(_HTTPFileSystem):
    """fsspec's HTTP filesystem with timeouts, checked ranged answers and
    checked redirects (see the module docstring)."""

    def __init__(self, *, connect_timeout: float = DEFAULT_TIMEOUTS["connect"],
                 read_timeout: float = DEFAULT_TIMEOUTS["read"], url_check=None, **kwargs):
        import aiohttp  # heavy: aiohttp, only for HTTP(S)

        client_kwargs = dict(kwargs.pop("client_kwargs", None) or {})
        client_kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout,
                                                                  sock_read=read_timeout))
        super().__init__(client_kwargs=client_kwargs, **kwargs)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.url_check = url_check

    # -- one request, redirects followed by hand (each target checked) -------
    async def _get(self, method: str, url: str, headers: dict | None = None):
        session = await self.set_session()
        kw = dict(self.kwargs)
        kw.pop("allow_redirects", None)
        hdrs = dict(kw.pop("headers", None) or {})
        hdrs.update(headers or {})
        for _ in range(MAX_REDIRECTS + 1):
            if self.url_check is not None:
                self.url_check(url)
            r = await session.request(method, self.encode_url(url), headers=hdrs, allow_redirects=False, **kw)
            if r.status in (301, 302, 303, 307, 308) and r.headers.get("Location"):
                nxt = urljoin(url, r.headers["Location"])
                r.release()
                url = nxt
                continue
            return r, url
        raise RemoteError(redact(url), f"more than {MAX_REDIRECTS} redirects")

    def _fail(self, e: BaseException, url: str) -> RemoteError:
        return describe(e, url, connect=self.connect_timeout, read=self.read_timeout)

    async def _cat_file(self, url, start=None, end=None, **kwargs):
        if start is not None and start < 0 or end is not None and end < 0:
            return await super()._cat_file(url, start=start, end=end, **kwargs)
        try:
            if start in (None, 0) and end is None:
                return await self._whole(url)
            start = start or 0
            if end is not None and end <= start:
                return b""
            return await self._range(url, start, end)
        except (FileNotFoundError, RemoteError, VZError):
            raise
        except Exception as e:  # noqa: BLE001  (aiohttp / OS errors -> one line)
            raise self._fail(e, url) from None

    async def _whole(self, url):
        r, where = await self._get("GET", url)
        async with r:
            self._status(r, url)
            return await r.read()

    def _status(self, r, url):
        if r.status == 404:
            raise FileNotFoundError(url)
        if r.status >= 400:
            raise RemoteError(redact(url), f"HTTP {r.status} {r.reason or ''}".rstrip())

    async def _range(self, url: str, start: int, end: int | None) -> bytes:
        body, _ = await self._ranged(url, start, end)
        return body

    async def _ranged(self, url: str, start: int, end: int | None) -> tuple[bytes, dict]:
        """``bytes start..end-1`` of ``url``, every answer checked (see the module
        doc), and what the answer tells of the whole file: ``{"size", "ETag",
        "Last-Modified", "mtime"}`` (those it gives). A file shorter than ``end``
        gives its bytes up to its end."""
        last = "" if end is None else str(end - 1)
        asked = f"bytes {start}-{last}" if last else f"bytes {start}-"
        r, where = await self._get("GET", url, {"Range": f"bytes={start}-{last}"})
        u = redact(url)
        async with r:
            if r.status == 416:
                raise RangeMismatch(u, f"the server has no {asked} (HTTP 416: the file is shorter than expected)")
            self._status(r, url)
            meta = _validators(r.headers)
            if r.status == 206:
                cr = _parse_content_range(r.headers.get("Content-Range"))
                if cr is None:
                    raise RangeMismatch(u, f"asked for {asked}, the server answered 206 without a valid "
                                        f"Content-Range ({r.headers.get('Content-Range')!r})")
                a, b, total = cr
                if a != start or b < a or (end is not None and b > end - 1):
                    raise RangeMismatch(u, f"asked for {asked}, the server sent bytes {a}-{b}")
                if end is not None and b < end - 1 and (total is None or b != total - 1):
                    raise RangeMismatch(u, f"asked for {asked}, the server sent bytes {a}-{b} "
                                        f"without reaching the end of the file")
                body = await r.read()
                if len(body) != b - a + 1:
                    raise RangeMismatch(u, f"the server announced bytes {a}-{b} and sent {len(body)} bytes")
                if total is not None:
                    meta["size"] = total
                return body, meta
            if r.status == 200:
                cl = r.headers.get("Content-Length", "")
                if cl.isdigit() and r.headers.get("Content-Encoding", "identity") in ("identity", ""):
                    meta["size"] = int(cl)
                return await self._from_full_body(r, u, start, end, asked), meta
            raise RemoteError(u, f"asked for {asked}, the server answered HTTP {r.status} {r.reason or ''}".rstrip())

    async def _cat_block(self, url: str, start: int, end: int) -> tuple[bytes, dict]:
        """Like ``_cat_file(url, start, end)`` (the same checks, one-line errors)
        and also what the answer tells of the whole file (see :meth:`_ranged`):
        one request gives a file's first bytes, size and validators."""
        try:
            if end <= start:
                return b"", {}
            return await self._ranged(url, start, end)
        except (FileNotFoundError, RemoteError, VZError):
            raise
        except Exception as e:  # noqa: BLE001  (aiohttp / OS errors -> one line)
            raise self._fail(e, url) from None

    async def _from_full_body(self, r, u, start, end, asked) -> bytes:
        """A 200 answer to a range request: the body is the file from byte 0."""
        cl = r.headers.get("Content-Length")
        need = end if end is not None else (int(cl) if cl and cl.isdigit() else None)
        if need is None or need > FULL_BODY_LIMIT:
            size = f" of {int(cl):,} bytes" if cl and cl.isdigit() else ""
            raise RangeMismatch(u, f"the server ignored the byte-range request for {asked} (HTTP 200 with the "
                                f"whole file{size}); vz reads such servers only for ranges within the first "
                                f"{FULL_BODY_LIMIT:,} bytes")
        parts, have = [], 0
        while have < need:
            block = await r.content.read(min(need - have, 1 << 20))
            if not block:
                break
            parts.append(block)
            have += len(block)
        r.close()  # drop the rest of the body
        return b"".join(parts)[start:need]

    async def _info(self, url, **kwargs):
        try:
            r, where = await self._get("HEAD", url)
            async with r:
                if r.status == 404:
                    raise FileNotFoundError(url)
                h = r.headers
                size = None
                if r.status < 400 and h.get("Content-Length", "").isdigit() and h.get("Content-Encoding", "identity") in ("identity", ""):
                    size = int(h["Content-Length"])
            if size is None:  # HEAD refused or silent: ask for one byte
                r, where = await self._get("GET", url, {"Range": "bytes=0-0", "Accept-Encoding": "identity"})
                async with r:
                    self._status(r, url)
                    h = r.headers
                    cr = _parse_content_range(h.get("Content-Range"))
                    if r.status == 206 and cr and cr[2] is not None:
                        size = cr[2]
                    elif r.status == 200 and h.get("Content-Length", "").isdigit():
                        size = int(h["Content-Length"])
                    r.close()
        except (FileNotFoundError, RemoteError, VZError):
            raise
        except Exception as e:  # noqa: BLE001
            raise self._fail(e, url) from None
        info: dict[str, Any] = {"name": url, "size": size, "type": "file", "url": where}
        for k in ("ETag", "Last-Modified", "Content-MD5"):
            if h.get(k):
                info[k] = h[k]
        mtime = _http_date(h.get("Last-Modified"))
        if mtime is not None:
            info["mtime"] = mtime
        if h.get("Accept-Ranges") == "none":
            info["partial"] = False
        return info

    def _open(self, path, mode="rb", block_size=None, autocommit=None, cache_type=None, cache_options=None,
              size=None, **kwargs):
        if mode != "rb":
            raise NotImplementedError("read-only")
        if size is None:
            size = self.info(path)["size"]
        if size is None:
            raise RemoteError(redact(path), "the server does not tell the file's size, so it cannot be read "
                              "in parts")
        return CheckedHTTPFile(self, path, mode=mode, block_size=block_size or self.block_size,
                               cache_type=cache_type or self.cache_type, cache_options=cache_options or self.cache_options,
                               size=size)


class CheckedHTTPFile(_BufferedFile):
    """A read-only buffered HTTP file whose blocks come from the checked
    :meth:`CheckedHTTPFileSystem._cat_file`."""

    def __init__(self, fs, path, *, size, **kwargs):
        self.details = {"name": path, "size": size, "type": "file"}
        super().__init__(fs, path, size=size, **kwargs)

    def _fetch_range(self, start, end):
        if end <= start:
            return b""
        return sync(self.fs.loop, self.fs._cat_file, self.path, start, end)
