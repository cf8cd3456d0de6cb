"""kerchunk JSON references (version 1, zarr v2 metadata). Pure: VDataset -> dict."""
from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from ..model import INLINE, MAX_PATH_ID, VDataset
from .zarr_meta import chunk_key, metadata


def encode_inline(data: bytes) -> str:
    """kerchunk's inline form: plain text when it is ASCII-safe, else base64."""
    try:
        text = data.decode("ascii")
        if text.isprintable() and not text.startswith("base64:"):
            return text
    except UnicodeDecodeError:
        pass
    return "base64:" + base64.b64encode(data).decode("ascii")


def to_kerchunk_json(ds: VDataset, *, templates: bool = True) -> dict[str, Any]:
    """References in kerchunk's JSON version 1 layout.

    With ``templates`` the source paths are written once in ``templates`` and
    referenced as ``{{uN}}``, which keeps files of many chunks small.
    """
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
        off = m.offset.ravel()
        ln = m.length.ravel()
        grid = m.grid
        idx_all = np.indices(grid).reshape(len(grid), -1).T if grid else np.zeros((1, 0), dtype=int)
        for flat in np.flatnonzero(pid <= MAX_PATH_ID).tolist():
            key = chunk_key(name, tuple(idx_all[flat].tolist()))
            refs[key] = [names[pid[flat]], int(off[flat]), int(ln[flat])]
        for flat in np.flatnonzero(pid == INLINE).tolist():
            key = chunk_key(name, tuple(idx_all[flat].tolist()))
            refs[key] = encode_inline(m.inline[flat])
    out: dict[str, Any] = {"version": 1}
    if tmpl:
        out["templates"] = tmpl
    out["refs"] = refs
    return out


def dumps(refs: dict[str, Any]) -> bytes:
    return json.dumps(refs, separators=(",", ":"), allow_nan=False).encode("utf-8")
