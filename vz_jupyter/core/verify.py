"""Are the sources of written references unchanged? ``vz.verify(target)``.

References point at byte ranges of their source files; a source rewritten,
grown, shrunk or deleted after the scan makes them read wrong bytes or fail.
Writers record each source's size, modification time and ETag at scan time
(:mod:`vz_jupyter.core.sources`); :func:`verify` compares them with what the
sources are now -- a ``stat`` for local files, one HEAD (``info``) per URL,
many at once -- and says per source:

``ok``        same size, and the same ETag (or, without one, the same mtime)
``grown``     larger than recorded: records appended (the references still read
              what they read, without the new data) or the file rewritten --
              scan it again to be sure
``changed``   another size, ETag or modification time: the bytes referenced
              may not be there any more -- scan again
``missing``   the file or object is gone
``unknown``   nothing was recorded for it (references written before sources
              were recorded, or by another tool): only its existence is checked
``error``     it could not be asked (timeout, permission): the one-line reason

JSON, parquet and Icechunk outputs are understood; ``vz verify TARGET`` in the
CLI exits 1 when anything is not ``ok``.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from fsspec.asyn import sync

from . import formatting
from .errors import VZError
from .model import Source
from .scan import file_source, remote_fs
from .serialize.outputs import output_format
from .sources import SOURCES_KEY, read_records
from .urls import is_url, protocol, redact

#: URLs asked at once
CONCURRENCY = 32
STATUSES = ("ok", "grown", "changed", "missing", "unknown", "error")


@dataclass(frozen=True)
class SourceCheck:
    """One source: what was recorded, what it is now, and the verdict."""

    path: str
    status: str
    detail: str = ""
    recorded: Source | None = None
    now: Source | None = None


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found for every recorded source of ``target``."""

    target: str
    format: str
    checks: tuple[SourceCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.status == "ok" for c in self.checks)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for c in self.checks:
            out[c.status] += 1
        return {k: v for k, v in out.items() if v}

    def problems(self) -> tuple[SourceCheck, ...]:
        return tuple(c for c in self.checks if c.status != "ok")

    def summary_line(self) -> str:
        n = len(self.checks)
        if self.ok:
            return f"{redact(self.target)}: all {n:,} source{'s' * (n != 1)} unchanged"
        parts = ", ".join(f"{v:,} {k}" for k, v in self.counts().items() if k != "ok")
        return f"{redact(self.target)}: {parts} of {n:,} source{'s' * (n != 1)}"

    def __repr__(self) -> str:
        return formatting.as_text(self)

    def _repr_html_(self) -> str:
        return formatting.as_html(self)


# ---------------------------------------------------------------------------
# comparing


def compare(recorded: Source | None, now: Source | None, path: str) -> SourceCheck:
    """The verdict for one source (``now`` None: it is gone)."""
    if now is None:
        return SourceCheck(path, "missing", "no such file" if not is_url(path) else "no such object", recorded, None)
    if recorded is None or (recorded.size is None and recorded.mtime is None and not recorded.etag):
        return SourceCheck(path, "unknown", "exists; nothing recorded at scan time to compare with", recorded, now)
    if recorded.size is not None and now.size is not None and now.size != recorded.size:
        how = "grown" if now.size > recorded.size else "changed"
        return SourceCheck(path, how, f"size {recorded.size:,} → {now.size:,} bytes", recorded, now)
    if recorded.etag and now.etag:
        if recorded.etag != now.etag:
            return SourceCheck(path, "changed", f"ETag {recorded.etag} → {now.etag}", recorded, now)
        return SourceCheck(path, "ok", "", recorded, now)
    if recorded.mtime is not None and now.mtime is not None and not math.isclose(recorded.mtime, now.mtime,
                                                                                  rel_tol=0, abs_tol=1e-6):
        return SourceCheck(path, "changed", f"modified {_when(recorded.mtime)} → {_when(now.mtime)}", recorded, now)
    return SourceCheck(path, "ok", "", recorded, now)


def _when(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local_now(path: str) -> Source | None:
    p = path[len("file://"):] if path.startswith("file://") else path
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return None
    return Source(path, st.st_size, st.st_mtime, None)


def _remote_now(paths: Sequence[str], storage_options: dict | None) -> dict[str, Source | None | BaseException]:
    """``info`` of every URL, many at once (asynchronous filesystems) or one by one."""
    out: dict[str, Source | None | BaseException] = {}
    by_proto: dict[str, list[str]] = {}
    for p in paths:
        by_proto.setdefault(protocol(p), []).append(p)
    for urls in by_proto.values():
        try:
            fs = remote_fs(urls[0], storage_options)
        except (VZError, ValueError, ImportError) as e:
            out.update((u, e) for u in urls)
            continue
        if hasattr(fs, "invalidate_cache"):
            fs.invalidate_cache()  # listings cached by an earlier glob would hide changes
        if getattr(fs, "async_impl", False) and getattr(fs, "loop", None) is not None:
            out.update(_infos_async(fs, urls))
            continue
        for u in urls:
            try:
                out[u] = file_source(u, fs)
            except FileNotFoundError:
                out[u] = None
            except Exception as e:  # noqa: BLE001  (worded below)
                out[u] = e
    return out


def _infos_async(fs, urls: list[str]) -> dict[str, Source | None | BaseException]:
    class _Info:  # file_source reads ``info`` through this
        def __init__(self, info):
            self._info = info

        def info(self, path):
            return self._info

    async def one(sem, u):
        async with sem:
            try:
                return u, file_source(u, _Info(await fs._info(u)))
            except FileNotFoundError:
                return u, None
            except Exception as e:  # noqa: BLE001
                return u, e

    async def all_():
        sem = asyncio.Semaphore(CONCURRENCY)
        return await asyncio.gather(*(one(sem, u) for u in urls))

    return dict(sync(fs.loop, all_))


# ---------------------------------------------------------------------------
# reading what was recorded


def recorded_sources(target: str | os.PathLike, branch: str = "main") -> tuple[str, list[Source], bool]:
    """``(format, sources, recorded)`` of a reference output; ``recorded`` is
    False when the output names its sources without recording their state."""
    path = os.fspath(target)
    if not os.path.exists(path):
        raise VZError(f"{path}: no such file or folder")
    fmt = output_format(path)
    if fmt == "kerchunk-json":
        with open(path, "rb") as f:
            obj = json.loads(f.read())
        return fmt, *_from_doc(obj, lambda: _json_paths(obj))
    if fmt == "kerchunk-parquet":
        with open(os.path.join(path, ".zmetadata"), "rb") as f:
            zmeta = json.loads(f.read())
        return fmt, *_from_doc(zmeta, lambda: _parquet_paths(path, zmeta))
    if fmt == "icechunk":
        return fmt, *_icechunk_sources(path, branch)
    raise VZError(f"{path}: not a kerchunk JSON file, kerchunk parquet folder or Icechunk repository")


def _from_doc(doc, paths) -> tuple[list[Source], bool]:
    recs = read_records(doc.get(SOURCES_KEY)) if isinstance(doc, dict) else None
    if recs is not None:
        return recs, True
    return [Source(p) for p in paths()], False


def _json_paths(obj) -> list[str]:
    refs = obj.get("refs", obj) if isinstance(obj, dict) else {}
    tmpl = obj.get("templates", {}) if isinstance(obj, dict) else {}
    seen: dict[str, None] = {}
    for v in refs.values() if isinstance(refs, dict) else ():
        if isinstance(v, list) and v and isinstance(v[0], str) and len(v) in (1, 3):
            u = v[0]
            if "{{" in u and isinstance(tmpl, dict):
                for k, t in tmpl.items():
                    if isinstance(t, str):
                        u = u.replace("{{" + k + "}}", t)
            if not u.startswith(("data:", "base64:")):
                seen.setdefault(u)
    return list(seen)


def _parquet_paths(folder: str, zmeta) -> list[str]:
    import pyarrow.parquet as pq  # optional: pyarrow, only for parquet outputs

    seen: dict[str, None] = {}
    for root, _dirs, files in os.walk(folder):
        for f in sorted(files):
            if f.startswith("refs.") and f.endswith(".parq"):
                col = pq.read_table(os.path.join(root, f), columns=["path"]).column("path")
                for u in col.unique().to_pylist():
                    if u:
                        seen.setdefault(u)
    return list(seen)


def _icechunk_sources(path: str, branch: str) -> tuple[list[Source], bool]:
    from .serialize.icechunk import _import_icechunk  # optional: icechunk, only for Icechunk outputs

    ic = _import_icechunk()
    try:
        repo = ic.Repository.open(ic.local_filesystem_storage(os.path.abspath(path)))
        history = list(repo.ancestry(branch=branch))
    except Exception as e:  # noqa: BLE001
        raise VZError(f"{path}: cannot read the Icechunk repository ({str(e).strip().splitlines()[0]})") from None
    found: dict[str, Source] = {}
    recorded = False
    for snap in history:  # newest first: the newest record of a path wins
        recs = read_records((snap.metadata or {}).get(SOURCES_KEY))
        if recs is None:
            continue
        recorded = True
        for s in recs:
            found.setdefault(s.path, s)
    return list(found.values()), recorded


# ---------------------------------------------------------------------------
# the verb


def verify(target: str | os.PathLike, *, storage_options: dict | None = None, branch: str = "main") -> VerifyReport:
    """Compare the sources recorded in the references ``target`` (kerchunk JSON,
    parquet folder or Icechunk repository) with what they are now; see the
    module doc for the verdicts. Remote sources are asked with
    ``storage_options`` (one ``info`` request each, many at once)."""
    fmt, sources, recorded = recorded_sources(target, branch=branch)
    remote = [s.path for s in sources if is_url(s.path)]
    now_remote = _remote_now(remote, storage_options) if remote else {}
    checks = []
    for s in sources:
        rec = s if recorded else None
        if is_url(s.path):
            now = now_remote.get(s.path)
            if isinstance(now, BaseException):
                from .remote import describe  # optional: aiohttp (fsspec's http), only for remote sources

                why = describe(now, s.path).problem if not isinstance(now, VZError) else str(now)
                checks.append(SourceCheck(s.path, "error", why.split(": ", 1)[-1] if ": " in why else why, rec))
                continue
        else:
            try:
                now = _local_now(s.path)
            except OSError as e:
                checks.append(SourceCheck(s.path, "error", e.strerror or str(e), rec))
                continue
        checks.append(compare(rec, now, s.path))
    return VerifyReport(os.fspath(target), fmt, tuple(checks))
