"""Appending to kerchunk JSON references (see :mod:`vz_jupyter.core.append`).

:func:`appended_refs` is pure: the parsed references and the changes in, the
grown references out, everything the changes do not touch kept as it was
(keys, templates, foreign metadata, the version). A grown variable has only
the ``shape`` of its ``.zarray`` changed and its new chunk keys added; a
variable rewritten whole loses its old chunk keys first. New paths go into
``templates`` when the references use them. :func:`write_json_append` puts
the result in place with the writer's compare-and-swap (:mod:`.atomic`).
"""
from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..access import MAX_RECORDED_ROOTS, RECORD_KEY, source_roots
from ..model import INLINE, MAX_PATH_ID, MISSING, VArray
from ..scan.refs import _parse_doc
from ..sources import SOURCES_KEY, merged_records
from ..urls import has_scheme
from .atomic import write_file, write_output
from .kerchunk_json import dumps, encode_inline
from .zarr_meta import fill_plan, zarray, zattrs


def merged_roots(old, new_paths: Sequence[str]) -> list[str]:
    """Recorded source roots with the folders of ``new_paths`` added (those
    not already under a recorded root); at most ``MAX_RECORDED_ROOTS``."""
    roots = [r for r in (old or []) if isinstance(r, str) and r]
    for r in source_roots(new_paths):
        rr = r.rstrip("/") + "/"
        if not any(rr.startswith(o.rstrip("/") + "/") for o in roots):
            roots.append(r)
    if len(roots) > MAX_RECORDED_ROOTS:
        roots = source_roots([os.path.join(r, "x") if not has_scheme(r) else r.rstrip("/") + "/x" for r in roots])
    return roots


def _doc(value) -> dict:
    return dict(_parse_doc("", value, "<references>"))


def _keys(name: str, grid_rows: tuple, axis: int | None, row0: int, sep: str, flat: np.ndarray) -> list[str]:
    """Chunk keys ``name/i.j.k`` of the chunks numbered ``flat`` (C order) in a
    grid ``grid_rows``, shifted by ``row0`` chunk rows along ``axis``."""
    if not grid_rows:
        return [f"{name}/0"] * len(flat)
    idx = np.array(np.unravel_index(flat, grid_rows))
    if axis is not None:
        idx[axis] += row0
    cols = [c.astype(str) for c in idx]
    out = cols[0]
    for c in cols[1:]:
        out = np.char.add(np.char.add(out, sep), c)
    return [f"{name}/{k}" for k in out.tolist()]


def _var_entries(name: str, var: VArray, axis: int | None, row0: int, sep: str, url_of) -> dict[str, Any]:
    m = var.manifest
    pid = m.path_id.ravel()
    out: dict[str, Any] = {}
    sel = np.flatnonzero(pid <= MAX_PATH_ID)
    if sel.size:
        keys = _keys(name, m.grid, axis, row0, sep, sel)
        urls = [url_of(m.paths[p]) for p in range(len(m.paths))]
        offs = m.offset.ravel()[sel].tolist()
        lens = m.length.ravel()[sel].tolist()
        out.update(zip(keys, ([urls[p], o, n] for p, o, n in zip(pid[sel].tolist(), offs, lens))))
    inl = np.flatnonzero(pid == INLINE)
    if inl.size:
        for key, k in zip(_keys(name, m.grid, axis, row0, sep, inl), inl.tolist()):
            out[key] = encode_inline(m.inline[k])
    return out


def _with_fill(var: VArray, blob: bytes | None) -> VArray:
    """``var`` with its unwritten chunks holding ``blob`` (the storage fill zarr
    would not produce; see :func:`.zarr_meta.fill_plan`)."""
    m = var.manifest
    if blob is None or not m.n_missing:
        return var
    missing = np.flatnonzero(m.path_id.ravel() == MISSING)
    return var.replace(manifest=m.with_inline({int(k): blob for k in missing}))


def _old_keys(refs: dict, name: str) -> list[str]:
    """The keys of variable ``name`` (its metadata and chunks), found from its
    ``.zarray`` (no scan of every key); every key under ``name/`` when that
    document cannot say."""
    try:
        za = _doc(refs[f"{name}/.zarray"])
        shape = [int(x) for x in za["shape"]]
        chunks = [int(x) for x in za["chunks"]] if shape else []
        sep = za.get("dimension_separator") or "."
        grid = [math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks)]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        prefix = name + "/"
        return [k for k in refs if k.startswith(prefix)]
    keys = [f"{name}/.zarray", f"{name}/.zattrs"]
    keys += [f"{name}/{sep.join(map(str, idx))}" for idx in itertools.product(*(range(g) for g in grid))] \
        if grid else [f"{name}/0"]
    return [k for k in keys if k in refs]


def appended_refs(obj: dict, changes, new_paths: Sequence[str], records: Sequence[dict] = ()) -> dict:
    """The references ``obj`` grown by ``changes`` (see the module doc);
    ``records``: the new sources' records for ``vz_sources`` (:mod:`..sources`)."""
    v1 = "version" in obj
    refs = dict(obj["refs"] if v1 else obj)
    out = dict(obj) if v1 else refs
    templates = dict(obj.get("templates") or {}) if v1 else None
    use_templates = bool(templates)
    by_url = {u: k for k, u in (templates or {}).items()}

    def url_of(p: str) -> str:
        if not use_templates:
            return p
        k = by_url.get(p)
        if k is None:
            n = len(templates)
            while f"u{n}" in templates:
                n += 1
            k = by_url[p] = f"u{n}"
            templates[k] = p
        return "{{" + k + "}}"

    for c in changes:
        zk = f"{c.name}/.zarray"
        if c.kind == "rows":
            za = _doc(refs[zk])
            za["shape"] = list(c.shape)
            refs[zk] = json.dumps(za)  # the rest as it was (a NaN literal included)
            sep = za.get("dimension_separator") or "."
            refs.update(_var_entries(c.name, c.var, c.axis, c.row0, sep, url_of))
            continue
        for k in _old_keys(refs, c.name):
            del refs[k]
        plan = fill_plan(c.var)
        refs[zk] = json.dumps(zarray(c.var, plan.fill_value, plan.codecs), allow_nan=True)
        refs[f"{c.name}/.zattrs"] = json.dumps(zattrs(c.var), allow_nan=True)
        refs.update(_var_entries(c.name, _with_fill(c.var, plan.blob), None, 0, ".", url_of))
    if not v1:
        return refs
    out["refs"] = refs
    if use_templates:
        out["templates"] = templates
    out[RECORD_KEY] = merged_roots(obj.get(RECORD_KEY), new_paths)
    if records or SOURCES_KEY in obj:
        out[SOURCES_KEY] = merged_records(obj.get(SOURCES_KEY), records)
    return out


def _dumps(refs: dict) -> bytes:
    """Compact JSON (ujson when installed: several times faster on big
    reference sets; the same text but for number formatting)."""
    try:
        import ujson  # optional: ujson (faster), the standard library without it
    except ImportError:  # pragma: no cover
        ujson = None
    if ujson is not None:
        try:
            return ujson.dumps(refs, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")
        except (OverflowError, TypeError, ValueError):
            pass  # NaN or an odd value: the standard library says it its way
    return dumps(refs)


def write_json_append(arc, changes, new_paths: Sequence[str], sources=None, records: Sequence[dict] = ()) -> None:
    """Serialize the grown references and put them in place of ``arc``."""
    data = _dumps(appended_refs(arc.payload["refs"], changes, new_paths, records))
    write_output(arc.target, "kerchunk-json", lambda out: write_file(out, data), kind="file", overwrite=True,
                 sources=sources, precheck=False, expect=arc.fingerprint)


__all__ = ["appended_refs", "write_json_append", "merged_roots"]
