"""kerchunk JSON references (version 1, zarr v2 metadata). Pure: VDataset -> dict."""
from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np

from ..access import RECORD_KEY, for_writing, source_roots
from ..model import MAX_PATH_ID, VDataset
from .zarr_meta import metadata


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


def to_kerchunk_json(ds: VDataset, *, templates: bool = True) -> dict[str, Any]:
    """References in kerchunk's JSON version 1 layout.

    With ``templates`` the source paths are written once in ``templates`` and
    referenced as ``{{uN}}``, which keeps files of many chunks small. Paths are
    written without credentials, and the folders they live in are recorded
    under ``"vz_source_roots"`` (see :mod:`vz_jupyter.core.access`).
    """
    ds = for_writing(ds)
    refs: dict[str, Any] = {}
    for key, doc in metadata(ds).items():
        refs[key] = json.dumps(doc, allow_nan=False)
    path_names: dict[str, str] = {}
    tmpl: dict[str, str] = {}
    for name, var in ds.variables.items():
        m = var.manifest
        if templates:
            names = []
            for p in m.paths:
                if p not in path_names:
                    path_names[p] = f"u{len(path_names)}"
                    tmpl[path_names[p]] = p
                names.append("{{" + path_names[p] + "}}")
        else:
            names = list(m.paths)
        pid = m.path_id.ravel()
        keys = chunk_keys(name, m.grid)
        sel = np.flatnonzero(pid <= MAX_PATH_ID)
        if len(sel):
            urls = np.array(names, dtype=object)[pid[sel]].tolist()
            offs = m.offset.ravel()[sel].tolist()
            lens = m.length.ravel()[sel].tolist()
            refs.update(zip([keys[i] for i in sel.tolist()], map(list, zip(urls, offs, lens))))
        for flat, data in m.inline.items():
            refs[keys[flat]] = encode_inline(data)
    out: dict[str, Any] = {"version": 1}
    if tmpl:
        out["templates"] = tmpl
    out["refs"] = refs
    out[RECORD_KEY] = source_roots(p for v in ds.variables.values() for p in v.manifest.paths)
    return out


def dumps(refs: dict[str, Any]) -> bytes:
    return json.dumps(refs, separators=(",", ":"), allow_nan=False).encode("utf-8")
