"""The chunk-map canvas: one anywidget drawing a chunk grid coloured by source file.

The front end is hand-written ESM (``static/chunkmap.js``) shipped in the package:
no CDN, no build step. Python sends one JSON-able dict (``ChunkMapCanvas.data``)
built by :func:`canvas_payload` from :func:`vz_jupyter.display.chunkmap.chunk_map_data`;
the browser draws it on a ``<canvas>``, shows a tooltip (file, chunk index, byte
range) on hover and redraws when JupyterLab's light/dark theme changes. Strings in
the payload are plain text: the front end only assigns them with ``textContent``.

Without JavaScript (static notebook renderers) the ``text/html`` fallback is the
SVG chunk map (:func:`vz_jupyter.display.chunkmap.chunk_map_svg`).
"""
from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets

from ...core.model import VArray
from ...core.urls import has_scheme
from ...display.chunkmap import chunk_map_data, column_sources

STATIC = pathlib.Path(__file__).resolve().parent / "static"

#: payload schema name (the JS draws nothing else)
SCHEMA = "vz-chunkmap/1"
#: most drawn cells along the rows / columns (larger grids are drawn in blocks)
MAX_ROWS = 60
MAX_COLS = 240
#: legend rows sent to the browser (the rest are summarised as "+N more files")
MAX_LEGEND = 20
#: longest string sent (file names, variable names)
MAX_STR = 300


def _s(x: Any, n: int = MAX_STR) -> str:
    """A plain, bounded string (control characters replaced) for the payload."""
    s = str(x)
    s = "".join(ch if (ch >= " " and ch != "\x7f") or ch == "\t" else "\N{REPLACEMENT CHARACTER}" for ch in s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _labels(paths: Sequence[str]) -> list[str]:
    """Short unique display names: base names, or paths relative to the common
    folder when base names collide."""
    base = [p.rstrip("/").rsplit("/", 1)[-1] or p for p in paths]
    if len(set(base)) == len(base):
        return base
    local = [p for p in paths if not has_scheme(p)]
    try:
        common = os.path.commonpath(local) if len(local) == len(paths) and local else ""
    except ValueError:
        common = ""
    if common:
        return [os.path.relpath(p, common) for p in paths]
    return list(paths)


_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _colour(c: Any) -> str:
    c = str(c)
    return c if _COLOUR.match(c) else "#888888"


def _ints(xs) -> list[int] | None:
    if xs is None:
        return None
    return [int(x) for x in xs]


def _axes_for(var: VArray, col_dim: str | None):
    """Columns along the concat dimension, rows along the first other dimension
    with more than one chunk (the chunk map's own rule when ``col_dim`` is absent)."""
    if not col_dim or col_dim not in var.dims:
        return None
    c = var.dims.index(col_dim)
    others = [a for a, g in enumerate(var.grid) if a != c and g > 1]
    return (others[0], c) if others else (c,)


#: longest file name sent per path id (for naming the hovered file)
MAX_NAME = 160
_LEVEL = {"warning": 1, "error": 2}


def _file_info(var: VArray, d: dict, col_axis: int | None, flags: dict | None) -> dict:
    """Names of every source, which file each column position comes from, and the
    findings strip: enough for the browser to name the file under the cursor at
    any scale and to mark the files the check report names."""
    man = var.manifest
    labels = _labels(list(man.paths)) if len(man.paths) else []
    out: dict[str, Any] = {"names": [_s(n, MAX_NAME) for n in labels], "col_sources": None,
                           "flags": {}, "strip": None}
    by_path = {p: i for i, p in enumerate(man.paths)}
    level_of: dict[int, int] = {}
    for path, (level, text) in (flags or {}).items():
        i = by_path.get(path)
        if i is not None and level in _LEVEL:
            out["flags"][str(i)] = [level, _s(text, 300)]
            level_of[i] = _LEVEL[level]
    if col_axis is None:
        return out
    src = column_sources(var, col_axis)
    if src.size:
        change = np.flatnonzero(np.diff(src)) + 1
        starts = np.concatenate([[0], change])
        out["col_sources"] = [[int(a), int(src[a])] for a in starts]
    if level_of and src.size:
        lv = np.zeros(src.size, dtype=np.int64)
        for i, v in level_of.items():
            lv[src == i] = v
        bc = int(d["block"][1])
        n_c = int(d["shape"][1])
        pad = np.zeros(n_c * bc, dtype=np.int64)
        pad[: lv.size] = lv[: n_c * bc]
        out["strip"] = pad.reshape(n_c, bc).max(axis=1).tolist()
    return out


def _axis(a) -> int | None:
    return None if a is None else int(a)


def _legend_payload(d: dict) -> dict:
    """The legend rows (file label, path, counts, validated colour) and the "+N more" row."""
    labels = _labels([str(item["path"]) for item in d["legend"]])
    legend = [
        {"id": int(item["id"]), "file": _s(lab if item.get("files", 1) == 1 else item["name"]),
         "path": _s(item["path"], 2 * MAX_STR), "files": int(item.get("files", 1)),
         "chunks": int(item["chunks"]), "bytes": int(item["bytes"]), "colour": _colour(item["colour"])}
        for item, lab in zip(d["legend"], labels)
    ]
    more = d.get("legend_more")
    return {
        "legend": legend,
        "legend_more": (
            {"files": int(more["files"]), "chunks": int(more["chunks"]), "bytes": int(more["bytes"]),
             "runs": int(more.get("runs", 0))} if more else None
        ),
    }


def canvas_payload(var: VArray | None, *, col_dim: str | None = None, title: str = "",
                   max_cells: tuple[int, int] = (MAX_ROWS, MAX_COLS), flags: dict | None = None) -> dict:
    """The JSON sent to the browser for one variable's chunk grid.

    Built on :func:`vz_jupyter.display.chunkmap.chunk_map_data` (so the canvas and
    the SVG fallback agree), with columns along ``col_dim`` (the concat
    dimension). ``flags`` maps a source path to ``(level, text)`` (files a check
    finding names, level ``"error"`` or ``"warning"``): they are drawn on a strip
    above the grid and named on hover. Every value is re-typed to plain
    ``int``/``str``/``bool``/lists, strings are bounded and stripped of control
    characters, colours are validated as ``#rrggbb``: the front end can trust the
    shape and still treats strings as text.
    """
    if var is None:
        return {"schema": SCHEMA, "empty": True, "message": _s(title or "nothing to draw")}
    d = chunk_map_data(var, max_cells=max_cells, axes=_axes_for(var, col_dim), legend_max=MAX_LEGEND)
    n_r, n_c = (int(x) for x in d["shape"])
    if n_r * n_c == 0:
        return {"schema": SCHEMA, "empty": True, "message": _s(f"{var.name}: no chunks to draw (empty array)")}
    return {
        "schema": SCHEMA,
        "empty": False,
        "title": _s(title or var.name),
        "variable": _s(var.name),
        "dims": [_s(x) for x in var.dims],
        "shape_array": [int(x) for x in var.shape],
        "chunks": [int(x) for x in var.chunks],
        "grid": [int(x) for x in d["grid"]],
        "row_axis": _axis(d["row_axis"]),
        "col_axis": _axis(d["col_axis"]),
        "agg_axes": [int(a) for a in d["agg_axes"]],
        "view_shape": [int(x) for x in d["view_shape"]],
        "block": [int(x) for x in d["block"]],
        "rows": n_r,
        "cols": n_c,
        "aggregated": bool(d["aggregated"]),
        "cells": _ints(d["cells"]),
        "mixed": _ints(d["mixed"]),
        "has_missing": _ints(d["has_missing"]),
        "has_inline": _ints(d["has_inline"]),
        "offset": _ints(d["offset"]),
        "length": _ints(d["length"]),
        "colours": {str(int(k)): _colour(v) for k, v in d["colours"].items()},
        **_legend_payload(d),
        "n_chunks": int(d["n_chunks"]),
        "n_missing": int(d["n_missing"]),
        "n_inline": int(d["n_inline"]),
        "caption": [_s(c) for c in d["caption"]],
        **_file_info(var, d, _axis(d["col_axis"]), flags),
    }


class ChunkMapCanvas(anywidget.AnyWidget):
    """A chunk map drawn on a ``<canvas>`` (hover: file, chunk index, byte range)."""

    _esm = STATIC / "chunkmap.js"
    _css = STATIC / "chunkmap.css"

    #: the payload from :func:`canvas_payload`
    data = traitlets.Dict().tag(sync=True)
    #: plain-HTML fallback (SVG chunk map) used when JavaScript is unavailable
    fallback_html = traitlets.Unicode("")

    def show(self, var: VArray | None, *, col_dim: str | None = None, title: str = "",
             fallback_html: str = "", flags: dict | None = None) -> None:
        self.data = canvas_payload(var, col_dim=col_dim, title=title, flags=flags)
        self.fallback_html = fallback_html

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.fallback_html and isinstance(bundle, tuple):
            bundle[0]["text/html"] = self.fallback_html
        elif self.fallback_html and isinstance(bundle, dict):
            bundle["text/html"] = self.fallback_html
        return bundle
