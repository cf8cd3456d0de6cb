"""The sources recorded in written references, for :func:`vz_jupyter.verify`.

Writers record every source file of the dataset as it was when scanned -- path
(credentials stripped), size, modification time, ETag, format -- under
:data:`SOURCES_KEY` (``"vz_sources"``):

* kerchunk JSON: a top-level key beside ``refs`` (fsspec ignores it, as it
  ignores ``vz_source_roots``);
* kerchunk parquet: a key of ``.zmetadata`` beside ``metadata`` and
  ``record_size``;
* Icechunk: the metadata of each commit (an append commits its new files'
  records; the sources of a branch are those of its commits, newest first).

A record is ``{"path": ..., "size": ..., "mtime": ..., "etag": ..., "format":
...}`` with the unknown fields left out. Reading is tolerant: references from
strangers may hold anything there, and a malformed record is ignored, never
trusted.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .model import Source
from .urls import strip_credentials

#: the key under which writers record the sources (JSON top level, parquet .zmetadata, Icechunk commits)
SOURCES_KEY = "vz_sources"
#: records read from one reference set at most (a hostile file cannot make verify run forever)
MAX_RECORDS = 10_000_000


def source_records(sources: Iterable[Source]) -> list[dict[str, Any]]:
    """JSON-able records of ``sources`` (one per path, credentials stripped)."""
    out: dict[str, dict[str, Any]] = {}
    for s in sources:
        rec: dict[str, Any] = {"path": strip_credentials(s.path)}
        if s.size is not None:
            rec["size"] = int(s.size)
        if s.mtime is not None and math.isfinite(s.mtime):
            rec["mtime"] = float(s.mtime)
        if s.etag:
            rec["etag"] = str(s.etag)
        if s.format:
            rec["format"] = str(s.format)
        out[rec["path"]] = rec
    return list(out.values())


def merged_records(old, new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` records (as read, possibly malformed) with ``new`` ones added;
    a path recorded again takes its new record."""
    out = {s.path: rec for s, rec in ((_source(r), r) for r in (old if isinstance(old, list) else [])) if s}
    for rec in new:
        out[rec["path"]] = rec
    return list(out.values())


def _source(rec) -> Source | None:
    if not isinstance(rec, dict) or not isinstance(rec.get("path"), str) or not rec["path"]:
        return None
    size, mtime, etag, fmt = rec.get("size"), rec.get("mtime"), rec.get("etag"), rec.get("format", "")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        size = None
    if mtime is not None and (not isinstance(mtime, (int, float)) or isinstance(mtime, bool)
                              or not math.isfinite(mtime)):
        mtime = None
    if etag is not None and not isinstance(etag, str):
        etag = None
    return Source(rec["path"], size, float(mtime) if mtime is not None else None, etag or None,
                  fmt if isinstance(fmt, str) else "")


def read_records(value) -> list[Source] | None:
    """The sources a ``vz_sources`` value records (None when it is absent or
    not a list; malformed records left out)."""
    if not isinstance(value, list):
        return None
    out = []
    for rec in value[:MAX_RECORDS]:
        s = _source(rec)
        if s is not None:
            out.append(s)
    return out
