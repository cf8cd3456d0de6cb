"""What each drawn cell of a chunk map stands for: the layout side of
:mod:`vz_jupyter.display.chunkmap` (which draws it) and of the anywidget canvas.

Source colours (palette by path-table index; runs of file names past the legend
cap), the aggregated 2-D view of a chunk grid (:func:`_aggregate`, the view rule
in :mod:`~vz_jupyter.display.chunkmap`), the legend rows, the captions that put the
caps in words, and :func:`chunk_map_data` (the same view as JSON-able data). Pure,
no I/O, deterministic.
"""
from __future__ import annotations

import colorsys
import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.model import INLINE, MAX_PATH_ID, MISSING, VArray
from .common import format_int, manifest_stats, plural
from .files import file_runs, run_label

__all__ = ["chunk_map_data", "column_sources", "source_colour", "source_colours", "PALETTE", "RUN_PALETTE"]

#: first colours of the source palette (mid-tones, readable on light and dark)
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
    "#ff9da7", "#9c755f", "#499894", "#d37295", "#86bcb6", "#f1ce63", "#a0cbe8",
    "#8cd17d", "#ffbe7d", "#b6992d", "#d4a6c8", "#79706e", "#fabfd2",
)


#: colours of runs of files (no reds, oranges or yellows: those mark findings)
RUN_PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f", "#a0cbe8", "#8cd17d", "#79706e",
               "#499894", "#d4a6c8", "#86bcb6", "#bab0ac")


def source_colour(i: int) -> str:
    """Colour of path-table index ``i``: a fixed palette, then golden-angle hues."""
    i = int(i)
    if 0 <= i < len(PALETTE):
        return PALETTE[i]
    h = (i * 0.618033988749895 + 0.11) % 1.0
    light = (0.50, 0.60, 0.42)[i % 3]
    sat = (0.62, 0.50, 0.70)[(i // 3) % 3]
    r, g, b = colorsys.hls_to_rgb(h, light, sat)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


# --------------------------------------------------------------------------- aggregation
@dataclass
class _Agg:
    var: VArray
    row_axis: int | None
    col_axis: int | None
    agg_axes: tuple[int, ...]
    view_shape: tuple[int, int]
    block: tuple[int, int]
    cells: np.ndarray  # (nR, nC) uint32 majority path id (MISSING/INLINE sentinels)
    mixed: np.ndarray  # (nR, nC) bool
    has_missing: np.ndarray
    has_inline: np.ndarray
    highlight: np.ndarray | None
    n_highlight: int
    offset: np.ndarray | None
    length: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.cells.shape)  # type: ignore[return-value]

    @property
    def aggregated(self) -> bool:
        return self.block != (1, 1) or bool(self.agg_axes)


def _choose_axes(grid: Sequence[int], axes) -> tuple[int | None, int | None, tuple[int, ...]]:
    nd = len(grid)
    if axes is not None:
        axes = tuple(int(a) % nd for a in axes) if nd else ()
        if len(axes) == 1:
            r, c = None, axes[0]
        elif len(axes) == 2:
            r, c = axes
            if r == c:
                raise ValueError(f"axes must differ, got {axes}")
        else:
            raise ValueError(f"axes must name one or two grid axes, got {axes}")
    else:
        big = [a for a in range(nd) if grid[a] > 1]
        if not big:
            r, c = None, (nd - 1 if nd else None)
        elif len(big) == 1:
            r, c = None, big[0]
        else:
            r, c = big[0], big[-1]
    shown = {a for a in (r, c) if a is not None}
    agg = tuple(a for a in range(nd) if a not in shown and grid[a] > 1)
    return r, c, agg


def _to_view(a: np.ndarray, r: int | None, c: int | None) -> np.ndarray:
    """Rearrange a grid-shaped array to (R, C, M)."""
    nd = a.ndim
    if nd == 0:
        return a.reshape(1, 1, 1)
    order = [x for x in (r, c) if x is not None] + [x for x in range(nd) if x not in (r, c)]
    t = np.transpose(a, order)
    R = a.shape[r] if r is not None else 1
    C = a.shape[c] if c is not None else 1
    M = math.prod(a.shape[x] for x in range(nd) if x not in (r, c))
    return t.reshape(R, C, M)


def _blocks(v: np.ndarray, br: int, bc: int) -> np.ndarray:
    """(R, C, M) -> (nR, nC, br*bc*M), padding the edges by repetition."""
    R, C, M = v.shape
    nR, nC = -(-R // br), -(-C // bc)
    if v.size and not any(v.strides):  # one value everywhere (a broadcast all-missing grid): no copy
        return np.broadcast_to(v.reshape(-1)[:1], (nR, nC, br * bc * M))
    if nR * br != R or nC * bc != C:
        v = np.pad(v, ((0, nR * br - R), (0, nC * bc - C), (0, 0)), mode="edge")
    return v.reshape(nR, br, nC, bc, M).transpose(0, 2, 1, 3, 4).reshape(nR, nC, br * bc * M)


def _row_mode(rows: np.ndarray) -> np.ndarray:
    """Most frequent value of each row of a 2-D array (ties -> smallest value)."""
    m, k = rows.shape
    s = np.sort(rows, axis=1).ravel()
    n = s.size
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    brk[1:] = s[1:] != s[:-1]
    brk[::k] = True
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, n))
    run_row = starts // k
    order = np.lexsort((-lengths, run_row))
    first = np.ones(order.size, dtype=bool)
    first[1:] = run_row[order][1:] != run_row[order][:-1]
    return s[starts[order[first]]]


def _aggregate(var: VArray, *, max_cells, axes=None, highlight=None, groups=None) -> _Agg:
    """Aggregate the chunk grid to at most ``max_cells`` drawn cells a side.
    ``groups`` (path id -> run number) makes a cell "mixed" only when its
    sources belong to different runs."""
    man = var.manifest
    grid = man.grid
    if isinstance(max_cells, (tuple, list)):
        max_r, max_c = (max(1, int(x)) for x in max_cells)
    else:
        max_r = max_c = max(1, int(max_cells))
    r, c, agg = _choose_axes(grid, axes)
    pid = _to_view(man.path_id, r, c)
    R, C, M = pid.shape
    hl = None
    n_hl = 0
    if highlight is not None:
        h = np.asarray(highlight, dtype=bool)
        if h.shape != grid:
            raise ValueError(f"highlight has shape {h.shape}, the chunk grid of {var.name!r} is {grid}")
        n_hl = int(np.count_nonzero(h))
        hl = _to_view(h, r, c)
    if R == 0 or C == 0 or M == 0:
        empty = np.zeros((0, 0), dtype=bool)
        return _Agg(var, r, c, agg, (R, C), (1, 1), np.zeros((0, 0), dtype=np.uint32), empty, empty,
                    empty, empty if hl is not None else None, n_hl, None, None)
    br, bc = -(-R // max_r), -(-C // max_c)
    b = _blocks(pid, br, bc)
    nR, nC, K = b.shape
    if K == 1:
        cells = b[:, :, 0].copy()
        mixed = np.zeros((nR, nC), dtype=bool)
        has_missing = cells == MISSING
        has_inline = cells == INLINE
    else:
        if not any(b.strides):  # the same value in every chunk: look at one per cell
            b = b[:, :, :1]
        mn = b.min(axis=2)
        mx = b.max(axis=2)
        if groups is not None:
            ref = b <= MAX_PATH_ID
            g = np.where(ref, groups[np.where(ref, b, 0)], b.astype(np.int64) + len(groups))
            mixed = g.min(axis=2) != g.max(axis=2)
        else:
            mixed = mn != mx
        cells = mn.copy()
        if mixed.any():
            cells[mixed] = _row_mode(b[mixed])
        has_missing = (b == MISSING).any(axis=2)
        has_inline = (b == INLINE).any(axis=2)
    hcells = _blocks(hl, br, bc).any(axis=2) if hl is not None else None
    offset = length = None
    if K == 1:
        offset = _to_view(man.offset, r, c)[:, :, 0]
        length = _to_view(man.length, r, c)[:, :, 0]
    return _Agg(var, r, c, agg, (R, C), (br, bc), cells, mixed, has_missing, has_inline,
                hcells, n_hl, offset, length)


def column_sources(var: VArray, axis: int) -> np.ndarray:
    """For each chunk index along grid ``axis``: the path id of the first
    referenced chunk in that slice (-1 all missing, -2 inlined). Along a concat
    dimension this says which file each position comes from."""
    man = var.manifest
    pid = _to_view(man.path_id, None, axis)[0]  # (C, M)
    if pid.size == 0:
        return np.zeros(pid.shape[0], dtype=np.int64)
    ref = pid <= MAX_PATH_ID
    first = np.argmax(ref, axis=1)
    out = pid[np.arange(pid.shape[0]), first].astype(np.int64)
    none = ~ref.any(axis=1)
    out[none] = np.where((pid[none] == INLINE).any(axis=1), -2, -1)
    return out


def source_colours(paths: Sequence[str], ids: Sequence[int], legend_max: int = 20):
    """Colours of the path-table indices ``ids`` (in order) and the runs they form.

    Up to ``legend_max`` sources: one palette colour each (:func:`source_colour`),
    runs None. More: consecutive files whose names form a run
    (:func:`vz_jupyter.display.files.file_runs`) share a palette colour, so
    1,000 daily files read as one band (file boundaries are drawn as lines where
    cells are wide enough) instead of 1,000 unrelated hues. Returns
    ``({id: "#rrggbb"}, [Run, ...] | None)``; run positions index ``ids``.
    """
    ids = [int(i) for i in ids]
    if len(ids) <= legend_max:
        return {i: source_colour(i) for i in ids}, None
    runs = file_runs([paths[i] if i < len(paths) else f"#{i}" for i in ids])
    out = {}
    for k, run in enumerate(runs):
        for j in range(run.start, run.stop):
            out[ids[j]] = RUN_PALETTE[k % len(RUN_PALETTE)]
    return out, runs


def _legend(var: VArray, legend_max: int):
    """(rows, more, colours, groups): one row per file, or per run of files when
    there are more files than ``legend_max`` (see :func:`source_colours`);
    ``groups`` maps path id -> run number (None without runs)."""
    man = var.manifest
    st = manifest_stats(man)
    rows = []
    more = None
    used = np.flatnonzero(st.counts)
    colours, runs = source_colours(man.paths, used.tolist(), legend_max)
    if runs is None:
        for i in used[:legend_max].tolist():
            p = man.paths[i]
            rows.append({
                "id": int(i),
                "path": p,
                "name": posixpath.basename(p.rstrip("/")) or p,
                "files": 1,
                "chunks": int(st.counts[i]),
                "bytes": int(st.sizes[i]),
                "colour": colours[i],
            })
        if used.size > legend_max:
            rest = used[legend_max:]
            more = {"files": int(rest.size), "chunks": int(st.counts[rest].sum()), "bytes": int(st.sizes[rest].sum())}
        return rows, more, colours, None
    groups = np.zeros(len(man.paths), dtype=np.int64)
    for k, run in enumerate(runs):
        groups[used[run.start:run.stop]] = k
    for run in runs[:legend_max]:
        sel = used[run.start:run.stop]
        first = int(sel[0])
        rows.append({
            "id": first,
            "path": man.paths[first],
            "name": run_label(run),
            "files": run.count,
            "chunks": int(st.counts[sel].sum()),
            "bytes": int(st.sizes[sel].sum()),
            "colour": colours[first],
        })
    if len(runs) > legend_max:
        rest = used[runs[legend_max].start:]
        more = {"files": int(rest.size), "chunks": int(st.counts[rest].sum()), "bytes": int(st.sizes[rest].sum()),
                "runs": len(runs) - legend_max}
    return rows, more, colours, groups


def _dim_name(var: VArray, axis: int | None) -> str:
    if axis is None:
        return ""
    return str(var.dims[axis]) if axis < len(var.dims) and var.dims[axis] else f"axis {axis}"


def _captions(a: _Agg) -> list[str]:
    var = a.var
    grid = var.grid
    out: list[str] = []
    R, C = a.view_shape
    if not grid:
        out.append("0-D variable: a single chunk")
    elif all(g == 1 for g in grid):
        out.append(f"a single chunk (grid {' × '.join('1' for _ in grid)})")
        return out
    if a.row_axis is not None:
        out.append(
            f"rows: {_dim_name(var, a.row_axis)} ({plural(grid[a.row_axis], 'chunk')}) · "
            f"columns: {_dim_name(var, a.col_axis)} ({plural(grid[a.col_axis], 'chunk')})"
        )
    elif a.col_axis is not None and grid:
        out.append(f"strip along {_dim_name(var, a.col_axis)} ({plural(grid[a.col_axis], 'chunk')})")
    if a.agg_axes:
        names = ", ".join(f"{_dim_name(var, x)} ({format_int(grid[x])})" for x in a.agg_axes)
        shown = " × ".join(_dim_name(var, x) for x in (a.row_axis, a.col_axis) if x is not None)
        out.append(f"showing {shown}; {names} aggregated (each cell coloured by its majority source)")
    if a.block != (1, 1):
        nR, nC = a.shape
        br, bc = a.block
        if a.row_axis is None:
            out.append(f"{format_int(C)} chunks shown as {format_int(nC)} blocks of {format_int(bc)}")
        else:
            out.append(
                f"{format_int(R)} × {format_int(C)} chunks shown as {format_int(nR)} × {format_int(nC)} "
                f"blocks of {format_int(br)} × {format_int(bc)}"
            )
    return out


def chunk_map_data(var: VArray, *, max_cells: int | tuple[int, int] = 100, axes=None,
                   highlight=None, legend_max: int = 20) -> dict[str, Any]:
    """The chunk map of ``var`` as JSON-able data (see the module docstring)."""
    legend = _legend(var, legend_max)
    a = _aggregate(var, max_cells=max_cells, axes=axes, highlight=highlight, groups=legend[3])
    return _data_from_agg(a, legend)


def _data_from_agg(a: _Agg, legend_info) -> dict[str, Any]:
    var, man = a.var, a.var.manifest
    st = manifest_stats(man)
    cells = a.cells.astype(np.int64)
    cells[a.cells == MISSING] = -1
    cells[a.cells == INLINE] = -2
    legend, more, colours, _groups = legend_info
    ids = np.unique(cells[cells >= 0]).tolist()
    return {
        "name": var.name,
        "dims": list(var.dims),
        "grid": list(var.grid),
        "row_axis": a.row_axis,
        "col_axis": a.col_axis,
        "agg_axes": list(a.agg_axes),
        "view_shape": list(a.view_shape),
        "block": list(a.block),
        "shape": list(a.shape),
        "aggregated": a.aggregated,
        "cells": cells.ravel().tolist(),
        "mixed": a.mixed.ravel().astype(np.uint8).tolist(),
        "has_missing": a.has_missing.ravel().astype(np.uint8).tolist(),
        "has_inline": a.has_inline.ravel().astype(np.uint8).tolist(),
        "offset": a.offset.ravel().tolist() if a.offset is not None else None,
        "length": a.length.ravel().tolist() if a.length is not None else None,
        "highlight": a.highlight.ravel().astype(np.uint8).tolist() if a.highlight is not None else None,
        "n_highlight": a.n_highlight,
        "legend": legend,
        "legend_more": more,
        "colours": {str(i): colours.get(i, source_colour(i)) for i in ids},
        "n_chunks": st.n_chunks,
        "n_missing": st.n_missing,
        "n_inline": st.n_inline,
        "inline_bytes": st.inline_bytes,
        "referenced_bytes": st.referenced_bytes,
        "caption": _captions(a),
    }
