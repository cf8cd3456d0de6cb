"""Rich HTML for :class:`VDataset` and :class:`VDatasetList` (``_repr_html_``).

Pure and bounded: renders only what the objects hold (no I/O), escapes every
string, and keeps the output under a size budget by capping lists (saying so in
words) and aggregating chunk maps. Limits live in :class:`Limits`.
"""
from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.model import VArray, VDataset
from ..core.urls import has_scheme
from .chunkmap import chunk_map_svg
from .common import (
    Safe,
    attrs_html,
    badge,
    collapsible,
    dataset_totals,
    dtype_text,
    escape,
    format_bytes,
    format_int,
    format_value,
    manifest_stats,
    more_text,
    new_id,
    plural,
    shorten,
    table,
    wrap_repr,
)
from .files import file_runs, run_label
from .text import dataset_list_text, dataset_text, format_mtime

__all__ = ["Limits", "dataset_html", "dataset_list_html", "variable_table_html", "sources_html",
           "skipped_html"]


@dataclass(frozen=True)
class Limits:
    """Caps that keep a display small (every cap is stated in the output)."""

    max_var_rows: int = 100
    var_rows_budget: int = 60_000  # bytes of HTML for the variables grid
    max_var_attrs: int = 20
    max_attr_chars: int = 240
    max_attrs: int = 40
    max_maps: int = 8
    maps_open: int = 3
    map_cells: int = 48
    map_legend: int = 12
    maps_budget: int = 55_000  # bytes of SVG for all chunk maps
    max_sources: int = 20
    max_skipped: int = 30
    max_dims: int = 50
    text_vars: int = 40


NESTED = Limits(max_var_rows=30, var_rows_budget=20_000, max_var_attrs=15, max_attrs=20, max_maps=2,
                maps_open=1, map_cells=32, map_legend=8, maps_budget=20_000, max_sources=8,
                max_skipped=15, text_vars=10)


# --------------------------------------------------------------------------- pieces
def _header(ds: VDataset) -> str:
    n_chunks = ref = inl = n_inl = n_miss = 0
    for v in ds.variables.values():
        m = manifest_stats(v.manifest)
        n_chunks += m.n_chunks
        ref += m.referenced_bytes
        inl += m.inline_bytes
        n_inl += m.n_inline
        n_miss += m.n_missing
    stats = [
        plural(len(ds.sources), "file"),
        plural(len(ds.variables), "variable"),
        plural(n_chunks, "chunk"),
        f"{format_bytes(ref)} referenced",
        f"{format_bytes(inl)} inlined ({plural(n_inl, 'chunk')})",
    ]
    if n_miss:
        stats.append(plural(n_miss, "missing chunk"))
    html = "".join(f"<span>{escape(s)}</span>" for s in stats)
    flags = ""
    if ds.skipped:
        flags += badge(f"{plural(len(ds.skipped), 'variable')} skipped", "warn")
    if ds.group:
        flags += badge(f"group {shorten(ds.group, 60)}", "info")
    return (f"<div class=\"vz-header\"><span class=\"vz-obj-type\">vz.VDataset</span>"
            f"<span class=\"vz-header-stats\">{html}</span>{flags}</div>")


def _dims_html(ds: VDataset, lim: Limits) -> str:
    dims = list(ds.dims.items())
    coords = set(ds.coords)
    items = []
    for d, s in dims[: lim.max_dims]:
        cls = " class=\"vz-coord-name\"" if d in coords else ""
        items.append(f"<span{cls}>{escape(shorten(d, 60))}</span>: {escape(format_int(s))}")
    more = f", {escape(more_text(len(dims) - lim.max_dims, 'dimensions'))}" if len(dims) > lim.max_dims else ""
    return f"<div class=\"vz-mono\">({', '.join(items)}{more})</div>"


def _tuple(t: Sequence) -> str:
    return "(" + ", ".join(format_int(x) for x in t) + ("," if len(t) == 1 else "") + ")"


def _byteorder(dt) -> str:
    bo = dt.byteorder
    if bo == "|" or dt.itemsize == 1:
        return "byte order not applicable"
    if bo == "=":
        bo = "<" if sys.byteorder == "little" else ">"
    return "little-endian" if bo == "<" else "big-endian"


_VAR_HEAD = ("name", "dims", "dtype", "chunk shape", "chunks", "codecs", "stored / decoded",
             "missing · inline", "attrs")
_VAR_NUM = (4, 6)


def _dims_shape(v: VArray) -> str:
    if not v.dims:
        return "()"
    return "(" + ", ".join(f"{d}: {format_int(n)}" for d, n in zip(v.dims, v.shape)) + ")"


def _dims_cell(v: VArray) -> str:
    """``(time: 10, lat: 73)`` where a line may break between dimensions, never inside one."""
    if not v.dims:
        return "()"
    parts = [f"<span>{escape(shorten(f'{d}: {format_int(n)}', 40))}</span>" for d, n in zip(v.dims, v.shape)]
    return "(" + ", ".join(parts[:8]) + (", …" if len(parts) > 8 else "") + ")"


def _var_row(v: VArray, *, is_coord: bool, odd: bool, lim: Limits) -> str:
    m = manifest_stats(v.manifest)
    name = escape(shorten(v.name, 60))
    full = escape(v.name)
    if is_coord:
        name_html = (f"<span class=\"vz-coord-mark\" title=\"coordinate\">●</span>"
                     f"<span class=\"vz-coord-name\">{name}</span>")
    else:
        name_html = f"<span class=\"vz-coord-mark\"> </span>{name}"
    dims_full = _dims_shape(v)
    codec_json = json.dumps([dict(c) for c in v.codecs], default=str)
    stored = m.referenced_bytes + m.inline_bytes
    if m.n_missing or m.n_inline:
        mi = (f"<span title=\"{escape(plural(m.n_missing, 'missing chunk'))}, "
              f"{escape(plural(m.n_inline, 'inlined chunk'))}\">{escape(format_int(m.n_missing))} · "
              f"{escape(format_int(m.n_inline))}</span>")
    else:
        mi = "<span class=\"vz-muted\">—</span>"
    rid = new_id("vz-var", v.name)
    tip_dtype = ("variable-length strings" if v.dtype.kind == "O" else f"{v.dtype.name}, {_byteorder(v.dtype)}")
    details = [attrs_html(v.attrs, max_items=lim.max_var_attrs, max_chars=lim.max_attr_chars)]
    details.append(
        "<div class=\"vz-muted vz-mono\">"
        f"shape {escape(_tuple(v.shape))} · dtype {escape(tip_dtype)} · "
        f"fill value {escape(format_value(v.fill_value, 80))} · chunk shape {escape(_tuple(v.chunks))} · "
        f"grid {escape(_tuple(v.grid))} · {escape(plural(m.n_chunks, 'chunk'))} "
        f"({escape(format_int(m.n_referenced))} referenced, {escape(format_int(m.n_missing))} missing, "
        f"{escape(format_int(m.n_inline))} inline) · "
        f"codecs (encode order): {escape(shorten(codec_json, lim.max_attr_chars))}</div>"
    )
    cls = "vz-var vz-odd" if odd else "vz-var"
    return (
        f"<div class=\"{cls}\">"
        f"<div title=\"{full}\">{name_html}</div>"
        f"<div class=\"vz-mono vz-wrap-ok\" title=\"{escape(shorten(dims_full, 400))}\">{_dims_cell(v)}</div>"
        f"<div class=\"vz-mono\" title=\"{escape(tip_dtype)}\">{escape(dtype_text(v.dtype))}</div>"
        f"<div class=\"vz-mono\" title=\"chunk shape; grid {escape(_tuple(v.grid))}\">{escape(_tuple(v.chunks))}</div>"
        f"<div class=\"vz-num\" title=\"grid {escape(_tuple(v.grid))}\">{escape(format_int(m.n_chunks))}</div>"
        f"<div class=\"vz-mono\" title=\"{escape(shorten(codec_json, 300))}\">"
        f"{escape(shorten(v.codec_summary() or 'none', 40))}</div>"
        f"<div class=\"vz-num\" title=\"stored (encoded) / decoded bytes\">{escape(format_bytes(stored))}"
        f" <span class=\"vz-muted\">/ {escape(format_bytes(v.nbytes))}</span></div>"
        f"<div class=\"vz-num\">{mi}</div>"
        f"<input id=\"{rid}\" type=\"checkbox\">"
        f"<label for=\"{rid}\" title=\"show attributes and details\">{escape(format_int(len(v.attrs)))} ▾</label>"
        f"<div class=\"vz-var-attrs\">{''.join(details)}</div>"
        "</div>"
    )


def variable_table_html(ds: VDataset, lim: Limits = Limits()) -> str:
    """The variables grid: coordinates first (marked ●), per-variable attributes
    behind a toggle, capped by rows and bytes."""
    names = list(ds.coords) + list(ds.data_vars)
    if not names:
        return "<div class=\"vz-muted\">(no variables)</div>"
    num = ' class="vz-num"'
    head = "".join(f"<div{num if i in _VAR_NUM else ''}>{escape(h)}</div>" for i, h in enumerate(_VAR_HEAD))
    parts = [f"<div class=\"vz-vars\"><div class=\"vz-var vz-head\">{head}</div>"]
    size = 0
    shown = 0
    coords = set(ds.coords)
    for i, n in enumerate(names):
        if shown >= lim.max_var_rows:
            break
        row = _var_row(ds.variables[n], is_coord=n in coords, odd=bool(i % 2), lim=lim)
        if shown and size + len(row) > lim.var_rows_budget:
            break
        size += len(row)
        parts.append(row)
        shown += 1
    parts.append("</div>")
    if shown < len(names):
        why = "row cap" if shown >= lim.max_var_rows else "size cap"
        parts.append(f"<div class=\"vz-muted\">{escape(more_text(len(names) - shown, 'variables'))} "
                     f"not listed (first {escape(format_int(shown))} of {escape(format_int(len(names)))} "
                     f"shown, {why})</div>")
    return "".join(parts)


def skipped_html(skipped: Sequence[tuple[str, str]], lim: Limits = Limits()) -> str:
    """A warning box listing variables that are NOT in the references, with reasons."""
    if not skipped:
        return ""
    items = "".join(
        f"<li><b class=\"vz-mono\">{escape(shorten(n, 80))}</b>: {escape(shorten(r, 200))}</li>"
        for n, r in skipped[: lim.max_skipped]
    )
    more = (f"<li class=\"vz-muted\">{escape(more_text(len(skipped) - lim.max_skipped, 'skipped variables'))}</li>"
            if len(skipped) > lim.max_skipped else "")
    return (f"<div class=\"vz-alert\"><div class=\"vz-alert-title\">⚠ "
            f"{escape(plural(len(skipped), 'variable'))} skipped — not in the references</div>"
            f"<ul style=\"margin:2px 0;padding-left:20px\">{items}{more}</ul></div>")


def sources_html(ds: VDataset, lim: Limits = Limits()) -> str:
    rows = []
    for s in ds.sources[: lim.max_sources]:
        path = Safe(f"<span class=\"vz-mono\" title=\"{escape(s.path)}\">{escape(shorten(s.path, 90))}</span>")
        extra = s.etag and f"etag {shorten(s.etag, 30)}" or ""
        rows.append([path, s.format or "?", format_bytes(s.size), format_mtime(s.mtime) if s.mtime is not None else extra])
    return table(["path", "format", "size", "modified"], rows, max_rows=lim.max_sources,
                 total_rows=len(ds.sources), what="files", numeric=(2,))


def _trivial(v: VArray) -> str | None:
    """Why a variable's chunk map would show nothing (None when it is worth drawing)."""
    m = manifest_stats(v.manifest)
    if m.n_chunks == 0:
        return "no chunks (empty variable)"
    if m.n_chunks == 1:
        return "inlined" if m.n_inline else "missing" if m.n_missing else "1 chunk"
    if m.n_inline == m.n_chunks:
        return f"{format_int(m.n_chunks)} chunks, all inlined"
    if m.n_missing == m.n_chunks:
        return f"{format_int(m.n_chunks)} chunks, all missing"
    return None


def small_vars_line(ds: VDataset, names: Sequence[str], max_names: int = 20) -> str:
    """One line for the variables whose chunk maps would show nothing."""
    if not names:
        return ""
    items = []
    for n in names[:max_names]:
        v = ds.variables[n]
        m = manifest_stats(v.manifest)
        items.append(f"<span class=\"vz-mono\">{escape(shorten(n, 40))}</span> "
                     f"<span class=\"vz-muted\">({escape(_trivial(v))}, "
                     f"{escape(format_bytes(m.referenced_bytes + m.inline_bytes))})</span>")
    more = f", {escape(more_text(len(names) - max_names, 'variables'))}" if len(names) > max_names else ""
    return (f"<div class=\"vz-small-vars\"><span class=\"vz-muted\">no chunk map needed (one chunk or all "
            f"inlined):</span> {', '.join(items)}{more}</div>")


def _maps_html(ds: VDataset, lim: Limits) -> tuple[str, str]:
    """(html, summary) of the chunk-map section: a map per variable with more than
    one chunk to place; the others (one chunk, all inlined) in one line."""
    # data variables before coordinates
    names = list(ds.data_vars) + list(ds.coords)
    small = [n for n in names if _trivial(ds.variables[n]) is not None]
    names = [n for n in names if n not in set(small)]
    parts = []
    size = 0
    drawn = 0
    for n in names:
        if drawn >= lim.max_maps:
            break
        v = ds.variables[n]
        svg = chunk_map_svg(v, max_cells=lim.map_cells, legend_max=lim.map_legend)
        m = manifest_stats(v.manifest)
        n_files = m.n_files
        summ = f"{plural(m.n_chunks, 'chunk')}, {plural(n_files, 'file')}"
        sec = collapsible(shorten(n, 60), f"<div class=\"vz-map\">{svg}</div>", open=drawn < lim.maps_open,
                          summary=summ, key=n)
        if drawn and size + len(sec) > lim.maps_budget:
            break
        size += len(sec)
        parts.append(sec)
        drawn += 1
    if drawn < len(names):
        why = "cap" if drawn >= lim.max_maps else "size cap"
        parts.append(
            f"<div class=\"vz-muted\">chunk maps drawn for {escape(format_int(drawn))} of "
            f"{escape(format_int(len(names)))} variables ({why}); draw any other with "
            f"<code>vz_jupyter.display.chunkmap.chunk_map_svg(ds[name])</code></div>"
        )
    parts.append(small_vars_line(ds, small))
    summary = f"{format_int(drawn)} of {format_int(len(names))} drawn" if names else "none needed"
    if small and names:
        summary += f"; {format_int(len(small))} small variables in one line"
    return "".join(parts), summary


def _dataset_body(ds: VDataset, lim: Limits) -> str:
    parts = [_header(ds)]
    parts.append(skipped_html(ds.skipped, lim))
    parts.append(collapsible("Dimensions", _dims_html(ds, lim), open=True,
                             summary=f"{len(ds.dims)}", key="dims"))
    parts.append(collapsible("Variables", variable_table_html(ds, lim), open=True,
                             summary=f"{len(ds.coords)} coordinates, {len(ds.data_vars)} data variables",
                             key="vars"))
    if ds.variables:
        maps, summ = _maps_html(ds, lim)
        if summ == "none needed":
            parts.append(maps)  # one line: nothing to draw
        else:
            parts.append(collapsible("Chunk maps", maps, open=True, summary=summ, key="maps"))
    parts.append(collapsible("Sources", sources_html(ds, lim), open=len(ds.sources) <= 5,
                             summary=plural(len(ds.sources), "file"), key="sources"))
    if ds.groups:
        g = ", ".join(escape(shorten(x, 60)) for x in ds.groups[:50])
        if len(ds.groups) > 50:
            g += ", " + escape(more_text(len(ds.groups) - 50, "groups"))
        parts.append(collapsible("Groups", f"<div class=\"vz-mono\">{g}</div>",
                                 summary=f"{len(ds.groups)} (open one with group=...)", key="groups"))
    parts.append(collapsible("Attributes", attrs_html(ds.attrs, max_items=lim.max_attrs,
                                                      max_chars=lim.max_attr_chars),
                             summary=f"{len(ds.attrs)}", key="attrs"))
    return "".join(parts)


def dataset_html(ds: VDataset, *, limits: Limits | None = None) -> str:
    """The ``_repr_html_`` of a :class:`VDataset`."""
    lim = limits or Limits()
    return wrap_repr(dataset_text(ds, max_vars=lim.text_vars), _dataset_body(ds, lim),
                     title="vz.VDataset")


# --------------------------------------------------------------------------- lists
def _formats(ds: VDataset) -> str:
    return ", ".join(sorted({s.format for s in ds.sources if s.format})) or "?"


def _common_folder(paths: Sequence[str]) -> str:
    """The folder (ending in ``/``) every path is in, when there is more than one path."""
    if len(paths) < 2 or any(has_scheme(p) or not p.startswith("/") for p in paths):
        return ""
    folder = posixpath.commonpath(paths)
    return "" if folder in ("", "/") or folder in paths else folder.rstrip("/") + "/"


def _list_rows(dsets: Sequence[VDataset], totals, max_rows: int):
    """Table rows: one per dataset for short lists; for long ones, one per run of
    consecutive files whose names ascend and that look alike (format, number of
    variables, skips), e.g. ``day_0001.nc … day_1500.nc (1,500 files)``."""
    def label_of(d):
        return d.sources[0].path if len(d.sources) == 1 else f"{len(d.sources)} files"

    def shape(d):
        return (_formats(d), len(d.variables), len(d.skipped))

    if len(dsets) <= 12:
        rows = []
        folder = _common_folder([label_of(d) for d in dsets])
        for i, d in enumerate(dsets):
            p = label_of(d)
            shown = p[len(folder):] if folder and p.startswith(folder) else p
            label = Safe(f"<span class=\"vz-mono\" title=\"{escape(p)}\">{escape(shorten(shown, 80))}</span>")
            rows.append([i, label, _formats(d), format_int(len(d.variables)), format_int(totals[i][0]),
                         format_bytes(totals[i][1]), format_int(len(d.skipped)) if d.skipped else ""])
        return rows, len(rows)
    breaks = [i for i in range(1, len(dsets)) if shape(dsets[i]) != shape(dsets[i - 1])]
    breaks += [i - 1 for i in breaks]
    runs = file_runs([label_of(d) for d in dsets], breaks=breaks)
    rows = []
    for r in runs[:max_rows]:
        d = dsets[r.start]
        where = f"{r.start}" if r.count == 1 else f"{r.start}–{r.stop - 1}"
        text = run_label(r) + (f" ({format_int(r.count)} files)" if r.count > 1 else "")
        label = Safe(f"<span class=\"vz-mono\" title=\"{escape(label_of(d))}\">{escape(shorten(text, 100))}</span>")
        chunks = sum(t[0] for t in totals[r.start:r.stop])
        stored = sum(t[1] for t in totals[r.start:r.stop])
        skipped = sum(len(x.skipped) for x in dsets[r.start:r.stop])
        rows.append([where, label, _formats(d), format_int(len(d.variables)), format_int(chunks),
                     format_bytes(stored), format_int(skipped) if skipped else ""])
    return rows, len(runs)


def dataset_list_html(dsets: Sequence[VDataset], *, limits: Limits | None = None, max_rows: int = 30,
                      max_full: int = 3) -> str:
    """The ``_repr_html_`` of a :class:`VDatasetList`.

    One dataset: that dataset's display. Several: a summary table (one row per
    dataset up to 12, else one row per run of alike files, at most ``max_rows``)
    and the first ``max_full`` datasets in full, collapsed when the list is long."""
    failed = getattr(dsets, "failed", ())
    text = dataset_list_text(dsets)
    dsets = list(dsets)
    if len(dsets) == 1 and limits is None and not failed:
        body = _dataset_body(dsets[0], Limits()).replace(
            "<span class=\"vz-obj-type\">vz.VDataset</span>",
            "<span class=\"vz-obj-type\">vz.VDatasetList of 1</span>", 1)
        return wrap_repr(dataset_list_text(dsets), body, title="vz.VDatasetList")
    lim = limits or (Limits() if len(dsets) == 1 else NESTED)
    totals = [dataset_totals(d) for d in dsets]
    total_chunks = sum(t[0] for t in totals)
    total_bytes = sum(t[1] for t in totals)
    n_skipped = sum(len(d.skipped) for d in dsets)
    stats = [plural(len(dsets), "dataset"), plural(total_chunks, "chunk"), f"{format_bytes(total_bytes)} stored"]
    flags = badge(f"{plural(n_skipped, 'variable')} skipped", "warn") if n_skipped else ""
    if failed:
        flags += badge(f"{plural(len(failed), 'file')} not read", "error")
    parts = [f"<div class=\"vz-header\"><span class=\"vz-obj-type\">vz.VDatasetList</span>"
             f"<span class=\"vz-header-stats\">{''.join(f'<span>{escape(s)}</span>' for s in stats)}</span>"
             f"{flags}</div>"]
    rows, n_rows = _list_rows(dsets, totals, max_rows)
    what = "datasets" if len(dsets) <= 12 else "runs of files"
    folder = _common_folder([d.sources[0].path if len(d.sources) == 1 else "" for d in dsets])
    if folder:
        parts.append(f"<div class=\"vz-muted\">files in <span class=\"vz-mono\" title=\"{escape(folder)}\">"
                     f"{escape(shorten(folder, 120))}</span></div>")
    parts.append(table(["#", "file", "format", "variables", "chunks", "stored", "skipped"], rows,
                       max_rows=max_rows, total_rows=n_rows, what=what, numeric=(3, 4, 5, 6)))
    full = []
    for i, d in enumerate(dsets[:max_full]):
        name = d.sources[0].path.rsplit("/", 1)[-1] if len(d.sources) == 1 else f"dataset {i}"
        full.append(collapsible(f"[{i}] {shorten(name, 60)}", _dataset_body(d, lim), open=(i == 0),
                                summary=f"{plural(len(d.variables), 'variable')}, {plural(totals[i][0], 'chunk')}",
                                key=f"ds{i}"))
    if len(dsets) > max_full:
        full.append(f"<div class=\"vz-muted\">first {format_int(max_full)} of {format_int(len(dsets))} datasets "
                    f"rendered in full; the others are summarised in the table above (index the list to see one)</div>")
    if failed:
        rows = ([shorten(f.path, 120), f.problem, f.error] for f in failed)
        parts.append(collapsible("Files not read", table(["file", "problem", "error"], rows, max_rows=max_rows,
                                                         total_rows=len(failed), what="files not read"),
                                 open=True, summary=plural(len(failed), "file"), key="failed"))
    if dsets:
        parts.append(collapsible("Datasets", "".join(full), open=len(dsets) <= max_full,
                                 summary=f"{min(max_full, len(dsets))} of {len(dsets)} shown", key="dsets"))
    return wrap_repr(text, "".join(parts), title="vz.VDatasetList")
