"""Each touched chunk of a plan as a Reductionist v2 request (active storage).

Reductionist takes one stored chunk per request: ``url``, ``offset``,
``size``, ``dtype`` (int32/64, uint32/64, float32/64), ``byte_order``,
``shape``, ``order``, ``selection`` (``[start, end, stride]`` per dim),
``compression`` (gzip/zlib), ``filters`` (shuffle), one ``missing`` rule and
``axis``. A chunk it cannot express (codecs, dtype, a missing or inlined chunk,
an irregular index, a path it cannot reach) gets a one-line reason instead.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import VZError
from ..urls import redact, strip_credentials
from .entry import PlanEntry
from .missing import attr_values
from .reduce import check_op, result_axes

if TYPE_CHECKING:  # the plan module imports this one
    from ..plan import ReadPlan

_RD_DTYPES = {("i", 4): "int32", ("i", 8): "int64", ("u", 4): "uint32", ("u", 8): "uint64",
              ("f", 4): "float32", ("f", 8): "float64"}


def _rd_slice(w: np.ndarray) -> list[int] | None:
    """[start, end, stride] selecting the same set of indices (order is
    irrelevant to a reduction); None when not regular."""
    w = np.asarray(w)
    if len(w) == 1:
        return [int(w[0]), int(w[0]) + 1, 1]
    d = np.diff(w)
    if d[0] != 0 and np.all(d == d[0]):
        if d[0] < 0:
            w = w[::-1]
        step = abs(int(d[0]))
        return [int(w[0]), int(w[-1]) + 1, step]
    return None


def _rd_codecs(codecs) -> tuple[dict | None, list, str | None]:
    compression, filters = None, []
    for c in codecs:
        cid = c.get("id")
        if cid == "shuffle":
            if compression is not None:
                return None, [], "a shuffle after compression is not expressible"
            filters.append({"id": "shuffle", "element_size": int(c.get("elementsize", 4))})
        elif cid in ("zlib", "gzip"):
            if compression is not None:
                return None, [], "more than one compressor"
            compression = {"id": cid}
        else:
            return None, [], f"codec {cid!r} is not supported by Reductionist (only shuffle + zlib/gzip)"
    return compression, filters, None


def _rd_missing(attrs, dtype) -> tuple[dict | None, str | None]:
    fv = attr_values(attrs, "_FillValue")
    mv = attr_values(attrs, "missing_value")
    vr = attr_values(attrs, "valid_range")
    vmin = attr_values(attrs, "valid_min")
    vmax = attr_values(attrs, "valid_max")
    values = []
    for v in fv + mv:
        if v not in values:
            values.append(v)
    if any(isinstance(v, float) and np.isnan(v) for v in values):
        return None, "a NaN missing value cannot be sent to Reductionist"
    ranges = bool(vr or vmin or vmax)
    if values and ranges:
        return None, "several missing-data rules (fill/missing values and a valid range); Reductionist takes one"
    cast = (lambda x: int(x)) if dtype.kind in "iu" else float
    if len(values) == 1:
        return {"missing_value": cast(values[0])}, None
    if values:
        return {"missing_values": [cast(v) for v in values]}, None
    if vr and len(vr) == 2 and not (vmin or vmax):
        return {"valid_range": [cast(vr[0]), cast(vr[1])]}, None
    if vmin and vmax:
        return {"valid_range": [cast(vmin[0]), cast(vmax[0])]}, None
    if vmin:
        return {"valid_min": cast(vmin[0])}, None
    if vmax:
        return {"valid_max": cast(vmax[0])}, None
    return None, None


def _common(plan: ReadPlan, axes: tuple[int, ...]) -> tuple[dict[str, Any], str | None]:
    """The request fields every chunk of the plan shares, and the reason no chunk can be sent (or None)."""
    var = plan.var
    dtype = var.dtype
    reason = None
    dt = _RD_DTYPES.get((dtype.kind, dtype.itemsize))
    if dt is None:
        reason = f"dtype {dtype.name} is not supported by Reductionist (int32/64, uint32/64, float32/64 only)"
    compression, filters, why = _rd_codecs(var.codecs)
    reason = reason or why
    missing, why = _rd_missing(var.attrs, dtype)
    reason = reason or why
    big = dtype.byteorder == ">" or (dtype.byteorder == "=" and np.little_endian is False)
    kept_dims = [d for d, s in enumerate(plan.selection) if not s.dropped]
    var_axes = [kept_dims[a] for a in axes]
    extra: dict[str, Any] = {}
    if compression:
        extra["compression"] = compression
    if filters:
        extra["filters"] = filters
    if missing:
        extra["missing"] = missing
    if var_axes and len(var_axes) < var.ndim:
        extra["axis"] = var_axes
    return {"dtype": dt, "byte_order": "big" if big else "little", "extra": extra}, reason


def _chunk_url(e: PlanEntry, url_for: Callable[[str], str] | None) -> tuple[str | None, str | None]:
    """(URL Reductionist reads the chunk from, None) or (None, why it cannot)."""
    if e.kind == "missing":
        return None, "missing chunk: every value is the fill value, nothing to request"
    if e.kind == "inline":
        return None, "chunk is inlined in the references: there is no stored object to ask for"
    url = url_for(e.path) if url_for else e.path
    if not isinstance(url, str) or url.split("://", 1)[0] not in ("s3", "http", "https"):
        return None, (f"{redact(e.path)} is not an s3:// or http(s):// URL; pass url_for= to map files to URLs "
                      f"Reductionist can read")
    # credentials go to Reductionist separately, never inside the request body
    return strip_credentials(url), None


def _request(e: PlanEntry, url: str, common: dict[str, Any]) -> tuple[dict | None, str | None]:
    """The request body for one stored chunk, or (None, why not)."""
    sel = [_rd_slice(w) for w in e.within]
    if any(s is None for s in sel):
        return None, "irregular integer-array index inside the chunk (needs start:stop:step)"
    body = {
        "interface_type": "s3" if url.startswith("s3://") else "https",
        "url": url,
        "offset": int(e.offset),
        "size": int(e.length),
        "dtype": common["dtype"],
        "byte_order": common["byte_order"],
        "shape": list(e.chunk_shape),
        "order": "C",
        "selection": sel,
    }
    body.update(common["extra"])
    return body, None


def to_reductionist(plan: ReadPlan, op: str = "sum", *, axis=None, url_for=None, strict: bool = False) -> list[dict]:
    """One item per touched chunk, in plan order.

    Representable chunks give ``{"chunk": [...], "operation": op, "endpoint":
    "/v2/sum/", "request": body}`` where ``body`` is a Reductionist v2 request
    (POST it as JSON to the server's ``endpoint``; a ``mean`` is sent as ``sum``,
    the response carries the per-chunk counts to combine); the others give
    ``{"chunk": [...], "operation": op, "endpoint": ..., "reason": "..."}``. ``url_for(path) -> url`` maps local paths to the S3/HTTPS
    URLs the server can read. ``strict=True`` raises :class:`VZError` on the
    first chunk that cannot be expressed.
    """
    check_op(op)
    # Reductionist has count/min/max/sum/select; a mean is per-chunk sums and counts combined
    endpoint = "/v2/" + ("sum" if op == "mean" else op) + "/"
    common, common_reason = _common(plan, result_axes(plan, axis))
    out = []
    for e in plan.entries:
        item: dict[str, Any] = {"chunk": list(e.chunk_index), "operation": op, "endpoint": endpoint}
        body, reason = None, common_reason
        if reason is None:
            url, reason = _chunk_url(e, url_for)
        if reason is None:
            body, reason = _request(e, url, common)
        if body is not None:
            item["request"] = body
        else:
            if strict:
                raise VZError(f"{plan.var.name} chunk {tuple(e.chunk_index)}: {reason}")
            item["reason"] = reason
        out.append(item)
    return out
