"""Chunk maps: where every chunk of a :class:`~vz_jupyter.core.model.VArray` lives.

Two public functions (pure, no I/O, deterministic):

``chunk_map_data(var, *, max_cells=100, axes=None, highlight=None, legend_max=20) -> dict``
    The aggregated 2-D view as JSON-able data (for the anywidget canvas and for
    :func:`chunk_map_svg`)::

        {"name", "dims", "grid",            # the variable's chunk grid
         "row_axis", "col_axis", "agg_axes",  # grid axes shown as rows/columns/aggregated (None = none)
         "view_shape": [R, C],               # chunks along the shown rows/columns
         "block": [br, bc],                  # chunks per drawn cell along rows/columns
         "shape": [nR, nC],                  # drawn cells
         "aggregated": bool,                 # a cell stands for more than one chunk
         "cells": [...],                     # nR*nC ints, C order: path-table index of the
                                             #   (majority) source; -1 missing, -2 inlined
         "mixed": [...],                     # nR*nC 0/1: the cell holds several sources/kinds
         "has_missing": [...], "has_inline": [...],   # nR*nC 0/1
         "offset": [...], "length": [...],   # nR*nC byte ranges, only when not aggregated
         "highlight": [...] | None,          # nR*nC 0/1 (any touched chunk), when given
         "n_highlight": int,                 # touched chunks (exact)
         "legend": [{"id", "path", "name", "files", "chunks", "bytes", "colour"}, ...],  # <= legend_max
                                             #   rows: one per file, or per run of files (name
                                             #   "first … last") when there are more files
         "legend_more": {"files", "chunks", "bytes"[, "runs"]} | None,
         "colours": {"<id>": "#rrggbb", ...},  # every source id that appears in "cells"
         "n_chunks", "n_missing", "n_inline", "inline_bytes", "referenced_bytes",
         "caption": [sentences]}           # the caps in words

``chunk_map_svg(var, *, highlight=None, max_cells=100, axes=None, legend_max=20,
                title=None, max_bytes=MAX_SVG_BYTES) -> str``
    A self-contained ``<svg>``: runs of chunks coloured by source file (palette by
    path-table index; past ``legend_max`` files, by runs of file names with every
    other file lighter, see :func:`source_colours`), missing chunks hatched, inlined chunks dotted, aggregated
    cells with several sources cross-hatched, a legend (basename; full path in
    ``<title>``) capped at ``legend_max`` rows with "+N more files", captions stating
    any aggregation. ``highlight`` is an optional boolean array shaped like
    ``var.grid`` (e.g. the chunks a read plan touches): untouched cells are dimmed
    and touched cells outlined. This signature is stable; other displays call it.

View rule: grid axes with one chunk are ignored; of the others, none -> one cell,
one -> a strip, two or more -> rows = first such axis, columns = last such axis and
the axes between are aggregated (colour of the majority source per cell); pass
``axes=(row_axis, col_axis)`` to choose. Views larger than ``max_cells`` along a side
are drawn as blocks of chunks; a map whose SVG would exceed ``max_bytes`` (150 KB:
many sources scattered over many cells) is drawn with fewer, larger blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.model import INLINE, MAX_PATH_ID, MISSING, VArray
from .chunkgrid import (  # the layout side; its public names are public here too
    PALETTE,
    _aggregate,
    _captions,
    _legend,
    chunk_map_data,
    column_sources,
    source_colour,
    source_colours,
)
from .common import escape, format_bytes, format_int, manifest_stats, more_text, new_id, plural, shorten

__all__ = ["MAX_SVG_BYTES", "chunk_map_data", "chunk_map_svg", "column_sources", "source_colour", "source_colours", "PALETTE"]


# --------------------------------------------------------------------------- SVG
def _rects(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cover a 2-D boolean mask with rectangles (row, col, height, width): runs in
    each row, merged with identical runs in the rows below."""
    if not mask.any():
        return []
    nR, nC = mask.shape
    pad = np.zeros((nR, nC + 2), dtype=np.int8)
    pad[:, 1:-1] = mask
    d = np.diff(pad, axis=1)
    rs, cs = np.nonzero(d == 1)
    re_, ce = np.nonzero(d == -1)
    # both are in row-major order, one end per start
    open_: dict[tuple[int, int], list[int]] = {}
    out: list[tuple[int, int, int, int]] = []
    prev_row = -1
    for row, c0, c1 in zip(rs.tolist(), cs.tolist(), ce.tolist()):
        if row != prev_row:
            # close rectangles that did not continue into this row
            for key in [k for k, v in open_.items() if v[0] + v[1] < row]:
                v = open_.pop(key)
                out.append((v[0], key[0], v[1], key[1] - key[0]))
            prev_row = row
        key = (c0, c1)
        v = open_.get(key)
        if v is not None and v[0] + v[1] == row:
            v[1] += 1
        else:
            if v is not None:
                out.append((v[0], key[0], v[1], key[1] - key[0]))
            open_[key] = [row, 1]
    for key, v in open_.items():
        out.append((v[0], key[0], v[1], key[1] - key[0]))
    out.sort()
    return out


def _path_d(rects, sx: int, sy: int, x0: int, y0: int) -> str:
    return "".join(f"M{x0 + c * sx} {y0 + r * sy}h{w * sx}v{h * sy}h{-w * sx}z" for r, c, h, w in rects)


_FONT = "font-family:var(--jp-ui-font-family,-apple-system,'Segoe UI',Roboto,sans-serif);font-size:11px"
_BG = "var(--jp-layout-color0,#fff)"


@dataclass(frozen=True)
class _Layout:
    """Where things go: cell size, the grid's corner and size, caption baselines."""

    pad: int
    sx: int  # cell width
    sy: int  # cell height
    x0: int
    y0: int
    map_w: int
    map_h: int
    text_y: tuple[int, ...]  # one baseline per caption line


def _layout(shape: tuple[int, int], n_lines: int, max_width: int, max_height: int, pad: int = 6) -> _Layout:
    """Cells at most 24 px and at least 2 px a side, at most 4:1, the grid under the caption lines."""
    nR, nC = shape
    if nR and nC:
        sx = max(2, min(24, (max_width - 2 * pad) // nC))
        sy = max(2, min(24, max_height // nR))
        sx, sy = min(sx, 4 * sy), min(sy, 4 * sx)  # cells at most 4:1
    else:
        sx = sy = 0
    text_y = tuple(pad + 15 * i + 11 for i in range(n_lines))
    y0 = pad + 15 * n_lines + 2 if n_lines else pad
    return _Layout(pad, sx, sy, pad, y0, nC * sx, nR * sy, text_y)


def _caption_lines(var: VArray, a, st, title: str | None) -> list[str]:
    lines: list[str] = [title] if title else []
    lines.extend(_captions(a))
    if a.highlight is not None:
        lines.append(f"highlighted: {format_int(a.n_highlight)} of {plural(st.n_chunks, 'chunk')} touched")
    return lines


def _grid_body(a, man, colours: dict, uid: str, L: _Layout) -> list[str]:
    """The grid: one path per source colour, patterns for missing, inlined and
    mixed cells, separators when cells are large enough, the highlight overlay."""
    nR, nC = a.shape
    if not (nR and nC):
        return []

    def d(mask_or_rects) -> str:
        rects = _rects(mask_or_rects) if isinstance(mask_or_rects, np.ndarray) else mask_or_rects
        return _path_d(rects, L.sx, L.sy, L.x0, L.y0)

    body = [f"<rect x=\"{L.x0}\" y=\"{L.y0}\" width=\"{L.map_w}\" height=\"{L.map_h}\" fill=\"none\" "
            f"stroke=\"currentColor\" stroke-opacity=\"0.35\"/>"]
    cells = a.cells
    for sid in np.unique(cells[cells <= MAX_PATH_ID]).tolist():
        p = man.paths[sid] if sid < len(man.paths) else f"#{sid}"
        body.append(f"<path fill=\"{colours.get(sid, source_colour(sid))}\" d=\"{d(cells == sid)}\">"
                    f"<title>{escape(p)}</title></path>")
    miss, inl = cells == MISSING, cells == INLINE
    if miss.any():
        body.append(f"<path fill=\"url(#{uid}-miss)\" stroke=\"currentColor\" stroke-opacity=\"0.35\" "
                    f"stroke-width=\"0.5\" d=\"{d(miss)}\"><title>missing chunks (read as the fill value)</title></path>")
    if inl.any():
        body.append(f"<path fill=\"url(#{uid}-inl)\" d=\"{d(inl)}\">"
                    f"<title>inlined chunks (bytes stored in the references)</title></path>")
    if a.mixed.any():
        body.append(f"<path fill=\"url(#{uid}-mix)\" d=\"{d(a.mixed)}\">"
                    f"<title>cells holding chunks of several sources (majority colour)</title></path>")
    body.extend(_separators(nR, nC, L))
    body.extend(_highlight(a.highlight, d))
    return body


def _separators(nR: int, nC: int, L: _Layout) -> list[str]:
    """Cell separators, when cells are large enough to see them."""
    if not (min(L.sx, L.sy) >= 6 and nR * nC <= 20000):
        return []
    seps = "".join(f"M{L.x0 + c * L.sx} {L.y0}v{L.map_h}" for c in range(1, nC)) + \
        "".join(f"M{L.x0} {L.y0 + r * L.sy}h{L.map_w}" for r in range(1, nR))
    return [f"<path d=\"{seps}\" fill=\"none\" style=\"stroke:{_BG}\" stroke-width=\"1\"/>"] if seps else []


def _highlight(highlight, d) -> list[str]:
    """A read plan's touched cells: the others dimmed, the touched ones outlined."""
    if highlight is None:
        return []
    out = []
    off = ~highlight
    if off.any():
        out.append(f"<path d=\"{d(off)}\" style=\"fill:{_BG}\" fill-opacity=\"0.7\"/>")
    on = _rects(highlight)
    if on:
        out.append(f"<path class=\"vz-highlight\" d=\"{d(on)}\" fill=\"none\" "
                   f"stroke=\"currentColor\" stroke-width=\"1.5\"><title>touched chunks</title></path>")
    return out


class _Legend:
    """Legend rows stacked downwards from ``y``; remembers the longest label."""

    row_h = 16

    def __init__(self, pad: int, y: int):
        self.pad, self.y, self.max_label, self.parts = pad, y, 0, []

    def swatch(self, fill: str, label: str, tip: str) -> None:
        self.parts.append(
            f"<g><title>{escape(tip)}</title><rect x=\"{self.pad}\" y=\"{self.y}\" width=\"12\" height=\"12\" "
            f"fill=\"{fill}\" stroke=\"currentColor\" stroke-opacity=\"0.35\"/>"
            f"<text x=\"{self.pad + 18}\" y=\"{self.y + 10}\">{escape(label)}</text></g>"
        )
        self.max_label = max(self.max_label, len(label))
        self.y += self.row_h

    def text(self, label: str, x: int, extra: str = "", measure: bool = False) -> None:
        self.parts.append(f"<text x=\"{x}\" y=\"{self.y + 10}\"{extra}>{escape(label)}</text>")
        if measure:
            self.max_label = max(self.max_label, len(label))
        self.y += self.row_h


def _legend_svg(leg: _Legend, legend: list, more, st, a, uid: str, empty: bool) -> None:
    """Sources (capped, then "+N more"), missing, inlined and mixed swatches."""
    for row in legend:
        files = f"{plural(row['files'], 'file')}, " if row["files"] > 1 else ""
        label = f"{shorten(row['name'], 48 if row['files'] == 1 else 80)} — {files}{plural(row['chunks'], 'chunk')}, " \
                f"{format_bytes(row['bytes'])}"
        tip = row["path"] if row["files"] == 1 else f"{row['name']}: {row['files']} files in name order"
        leg.swatch(row["colour"], label, tip)
    if more:
        runs = f" in {plural(more['runs'], 'more run')}" if more.get("runs") else ""
        label = (f"{more_text(more['files'], 'files')}{runs} — {plural(more['chunks'], 'chunk')}, "
                 f"{format_bytes(more['bytes'])}")
        leg.text(label, leg.pad + 18, " fill-opacity=\"0.7\"", measure=True)
    if st.n_missing:
        leg.swatch(f"url(#{uid}-miss)", f"missing — {plural(st.n_missing, 'chunk')} (fill value)",
                   "chunks never written: they read as the fill value")
    if st.n_inline:
        leg.swatch(f"url(#{uid}-inl)", f"inlined — {plural(st.n_inline, 'chunk')}, "
                   f"{format_bytes(st.inline_bytes)}", "chunk bytes stored in the references")
    if a.mixed.any():
        leg.swatch(f"url(#{uid}-mix)", "mixed — cell holds several sources (majority colour)",
                   "an aggregated cell whose chunks come from more than one source")
    if empty:
        leg.text("no chunks (empty variable)", leg.pad)


def _defs(uid: str) -> str:
    """Fill patterns: hatched missing cells, dotted inlined cells, cross-hatched mixed cells."""
    return (
        f"<defs><pattern id=\"{uid}-miss\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\">"
        f"<path d=\"M0 6L6 0M-1 1L1 -1M5 7L7 5\" stroke=\"currentColor\" stroke-opacity=\"0.5\" "
        f"stroke-width=\"1\"/></pattern>"
        f"<pattern id=\"{uid}-inl\" patternUnits=\"userSpaceOnUse\" width=\"4\" height=\"4\">"
        f"<rect width=\"4\" height=\"4\" fill=\"#8a8a8a\" fill-opacity=\"0.35\"/>"
        f"<circle cx=\"2\" cy=\"2\" r=\"1\" fill=\"currentColor\" fill-opacity=\"0.8\"/></pattern>"
        f"<pattern id=\"{uid}-mix\" patternUnits=\"userSpaceOnUse\" width=\"4\" height=\"4\">"
        f"<path d=\"M0 4L4 0M0 0L4 4\" stroke=\"currentColor\" stroke-opacity=\"0.35\" stroke-width=\"0.7\"/>"
        f"</pattern></defs>"
    )


#: most bytes of one chunk map's SVG: a map over this is redrawn with half as many
#: cells a side (a million chunks of 10,000 files, one per cell, would take ~190 KB)
MAX_SVG_BYTES = 150_000


def chunk_map_svg(var: VArray, *, highlight=None, max_cells: int | tuple[int, int] = 100, axes=None,
                  legend_max: int = 20, title: str | None = None, max_width: int = 640,
                  max_height: int = 400, max_bytes: int = MAX_SVG_BYTES) -> str:
    """Draw the chunk grid of ``var`` as a self-contained SVG string.

    ``highlight``: optional boolean array shaped like ``var.grid`` (touched chunks
    of a read plan) drawn as an overlay. ``max_cells``: most drawn cells along a
    side (an int, or (rows, columns)). ``axes``: grid axes shown as (rows, columns).
    ``max_bytes``: the size budget; a map over it (many sources scattered over
    many cells) is aggregated further, halving the cells a side until it fits
    or is one cell (the captions state the blocks drawn).
    Layout (:func:`_layout`) and drawing (grid, legend, patterns) are separate steps.
    """
    legend_info = _legend(var, legend_max)
    cells = tuple(max_cells) if isinstance(max_cells, (tuple, list)) else (max_cells, max_cells)
    while True:
        a = _aggregate(var, max_cells=cells, axes=axes, highlight=highlight, groups=legend_info[3])
        svg = _draw(var, a, legend_info, title, max_width, max_height)
        if len(svg) <= max_bytes or a.shape[0] * a.shape[1] <= 1:
            return svg
        # no more than half the cells drawn now, along each side
        cells = (max(1, min(int(cells[0]), a.shape[0]) // 2), max(1, min(int(cells[1]), a.shape[1]) // 2))


def _draw(var: VArray, a, legend_info, title: str | None, max_width: int, max_height: int) -> str:
    """The SVG of an aggregated view ``a`` with its legend."""
    legend, more, colours, _groups = legend_info
    st = manifest_stats(var.manifest)
    uid = new_id("vzmap", f"{var.name}\x00{var.grid}")
    lines = _caption_lines(var, a, st, title)
    L = _layout(a.shape, len(lines), max_width, max_height)
    body = _grid_body(a, var.manifest, colours, uid, L)
    leg = _Legend(L.pad, L.y0 + L.map_h + (12 if L.map_h else 4))
    _legend_svg(leg, legend, more, st, a, uid, empty=not (a.shape[0] and a.shape[1]))
    width = max(L.map_w + 2 * L.pad, int(leg.max_label * 6.3) + L.pad + 24,
                max((int(len(line) * 6.1) for line in lines), default=0) + 2 * L.pad, 120)
    height = leg.y + L.pad
    caption = "".join(
        f"<text x=\"{L.pad}\" y=\"{ty}\" fill-opacity=\"0.75\">{escape(line)}</text>" for ty, line in zip(L.text_y, lines)
    )
    label = f"chunk map of {var.name}"
    return (
        f"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"vz-chunkmap\" width=\"{width}\" height=\"{height}\" "
        f"viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{escape(label)}\" "
        f"style=\"{_FONT}\" fill=\"currentColor\">{_defs(uid)}{caption}{''.join(body)}{''.join(leg.parts)}</svg>"
    )
