"""kerchunk JSON references (version 1, zarr v2 metadata). Pure: VDataset -> dict."""
from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np

from ..access import RECORD_KEY, for_writing, source_roots
from ..model import MAX_PATH_ID, MISSING, VDataset
from ..sources import SOURCES_KEY, source_records
from .zarr_meta import data_url, fill_plans, metadata

#: an inlined chunk repeated this often (and at least this long) is written once,
#: as a ``data:`` URL in ``templates``, and referenced
_SHARE_MIN_COUNT = 2
_SHARE_MIN_BYTES = 48


def encode_inline(data: bytes) -> str:
    """kerchunk's inline form: plain text when it is ASCII-safe, else base64."""
    try:
        text = data.decode("ascii")
        if text.isprintable() and not text.startswith("base64:"):
            return text
    except UnicodeDecodeError:
        pass
    return "base64:" + base64.b64encode(data).decode("ascii")


def chunk_keys(name: str, grid: tuple[int, ...]) -> list[str]:
    """All chunk keys ``name/i.j.k`` of a grid in C order (``name/0`` for scalars)."""
    if not grid:
        return [f"{name}/0"]
    parts = [[str(i) for i in range(g)] for g in grid]
    prefix = name + "/"
    return [prefix + ".".join(t) for t in itertools.product(*parts)]


def keys_for(name: str, grid: tuple[int, ...], flats: np.ndarray) -> list[str]:
    """Chunk keys of the C-order chunk numbers ``flats`` only (a grid of many
    unwritten chunks costs nothing here)."""
    flats = np.asarray(flats, dtype=np.int64)
    if not grid:
        return [f"{name}/0"] * len(flats)
    if len(flats) * 2 >= int(np.prod(grid, dtype=np.int64)):
        keys = chunk_keys(name, grid)
        return [keys[i] for i in flats.tolist()]
    prefix = name + "/"
    cols = [a.tolist() for a in np.unravel_index(flats, grid)]
    if len(cols) == 1:
        return [prefix + str(i) for i in cols[0]]
    return [prefix + ".".join(map(str, t)) for t in zip(*cols)]


class _Templates:
    """kerchunk ``templates``: source paths as ``{{uN}}`` (with ``templates``)
    and shared inlined blobs as ``data:`` URLs ``{{fN}}``, each made once."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.entries: dict[str, str] = {}
        self._paths: dict[str, str] = {}
        self._blobs: dict[bytes, str] = {}

    def path(self, p: str) -> str:
        """How a reference names source ``p``."""
        if not self.enabled:
            return p
        t = self._paths.get(p)
        if t is None:
            t = self._paths[p] = f"u{len(self._paths)}"
            self.entries[t] = p
        return "{{" + t + "}}"

    def share(self, blob: bytes) -> str:
        """The template name of a data: URL holding ``blob`` (made once)."""
        t = self._blobs.get(blob)
        if t is None:
            t = self._blobs[blob] = f"f{len(self._blobs)}"
            self.entries[t] = data_url(blob)
        return "{{" + t + "}}"


def _chunk_refs(refs: dict[str, Any], name: str, var, tmpl: _Templates, fill: bytes | None) -> None:
    """Add the references of every chunk of ``var`` to ``refs``: referenced
    chunks as ``[url, offset, length]``, inlined ones as text/base64 (or a shared
    template when repeated), unwritten ones as the fill chunk when ``fill``."""
    m = var.manifest
    names = [tmpl.path(p) for p in m.paths]
    pid = m.path_id.ravel()
    sel = np.flatnonzero(pid <= MAX_PATH_ID)
    if len(sel):
        urls = np.array(names, dtype=object)[pid[sel]].tolist()
        offs = m.offset.ravel()[sel].tolist()
        lens = m.length.ravel()[sel].tolist()
        refs.update(zip(keys_for(name, m.grid, sel), map(list, zip(urls, offs, lens))))
    counts: dict[bytes, int] = {}
    for data in m.inline.values():
        if len(data) >= _SHARE_MIN_BYTES:
            counts[data] = counts.get(data, 0) + 1
    flats = list(m.inline)
    for key, flat in zip(keys_for(name, m.grid, np.asarray(flats, dtype=np.int64)), flats):
        data = m.inline[flat]
        if tmpl.enabled and counts.get(data, 0) >= _SHARE_MIN_COUNT:
            refs[key] = [tmpl.share(data)]
        else:
            refs[key] = encode_inline(data)
    if fill is not None:  # unwritten chunks read as the original's fill
        # fsspec sets up the data: protocol from templates, not from every reference
        ref = [tmpl.share(fill)] if tmpl.enabled else encode_inline(fill)
        refs.update((k, ref) for k in keys_for(name, m.grid, np.flatnonzero(pid == MISSING)))


def to_kerchunk_json(ds: VDataset, *, templates: bool = True) -> dict[str, Any]:
    """References in kerchunk's JSON version 1 layout.

    With ``templates`` the source paths are written once in ``templates`` and
    referenced as ``{{uN}}``, which keeps files of many chunks small. Paths are
    written without credentials, and the folders they live in are recorded
    under ``"vz_source_roots"`` (see :mod:`vz_jupyter.core.access`), the
    sources' size, mtime and ETag under ``"vz_sources"`` (see
    :mod:`vz_jupyter.core.sources`).
    """
    ds = for_writing(ds)
    refs: dict[str, Any] = {}
    plans = fill_plans(ds)
    for key, doc in metadata(ds, plans).items():
        # NaN attributes stay numbers (zarr reads the NaN literal); the outer file stays strict JSON
        refs[key] = json.dumps(doc, allow_nan=True)
    tmpl = _Templates(templates)
    for name, var in ds.variables.items():
        _chunk_refs(refs, name, var, tmpl, plans[name].blob)
    out: dict[str, Any] = {"version": 1}
    if tmpl.entries:
        out["templates"] = tmpl.entries
    out["refs"] = refs
    out[RECORD_KEY] = source_roots(p for v in ds.variables.values() for p in v.manifest.paths)
    out[SOURCES_KEY] = source_records(ds.sources)  # for vz.verify: size, mtime, ETag at scan time
    return out


def dumps(refs: dict[str, Any]) -> bytes:
    return json.dumps(refs, separators=(",", ":"), allow_nan=False).encode("utf-8")
