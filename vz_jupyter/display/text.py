"""Plain-text reprs (``__repr__`` and the ``<pre>`` fallback inside the HTML).

``dataset_text(ds)`` and ``dataset_list_text(dsets)`` read only what the objects
hold (no I/O) and cap every list, saying how much was left out, and every
string (names 40 characters, paths 200, attribute values 100), with URL
credentials redacted and control characters shown as escapes.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from ..core.model import Source, VArray, VDataset
from .common import (
    dataset_totals,
    dtype_text,
    format_bytes,
    format_int,
    format_value,
    manifest_stats,
    more_text,
    plural,
    shorten,
)
from .files import file_runs, run_label

__all__ = ["dataset_text", "dataset_list_text", "variable_line", "source_line", "format_mtime",
           "dataset_summary"]

MAX_VARS = 60
MAX_SOURCES = 10
MAX_SKIPPED = 20
MAX_ATTRS = 20
#: paths are cut at this many characters (names at 40, attribute values at 100)
MAX_PATH = 200


def format_mtime(mtime: float | None) -> str:
    """Seconds since the epoch -> ``2026-01-02 03:04:05 UTC`` (pure; ``?`` if absent)."""
    if mtime is None:
        return "?"
    try:
        return _dt.datetime.fromtimestamp(float(mtime), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(mtime)


def dataset_summary(ds: VDataset) -> str:
    """One line: files, variables, chunks, referenced and inlined bytes."""
    n_chunks = ref = inl = n_inl = n_miss = 0
    for v in ds.variables.values():
        m = manifest_stats(v.manifest)
        n_chunks += m.n_chunks
        ref += m.referenced_bytes
        inl += m.inline_bytes
        n_inl += m.n_inline
        n_miss += m.n_missing
    bits = [plural(len(ds.sources), "file"), plural(len(ds.variables), "variable"),
            plural(n_chunks, "chunk"), f"{format_bytes(ref)} referenced",
            f"{format_bytes(inl)} inlined ({plural(n_inl, 'chunk')})"]
    if n_miss:
        bits.append(f"{plural(n_miss, 'missing chunk')}")
    if ds.skipped:
        bits.append(f"{plural(len(ds.skipped), 'variable')} skipped")
    return ", ".join(bits)


def _tuple(t: Sequence) -> str:
    return "(" + ", ".join(shorten(x, 40) for x in t) + ("," if len(t) == 1 else "") + ")"


def _dims(dims: Sequence[str]) -> str:
    return "(" + ", ".join(shorten(d, 40) for d in dims) + ")"


def variable_line(v: VArray, *, is_coord: bool = False, name_width: int = 12) -> str:
    """``* time  (time) <f8 shape=(10,) chunks=(10,) grid=(1,) zlib(4) 80 B stored / 80 B``"""
    mark = "*" if is_coord else " "
    m = manifest_stats(v.manifest)
    extra = []
    if m.n_missing:
        extra.append(f"{format_int(m.n_missing)} missing")
    if m.n_inline:
        extra.append(f"{format_int(m.n_inline)} inline")
    name = shorten(v.name, 40)
    return (
        f"  {mark} {name:<{name_width}} {_dims(v.dims)} {dtype_text(v.dtype)} shape={_tuple(v.shape)} "
        f"chunks={_tuple(v.chunks)} grid={_tuple(v.grid)} codecs={shorten(v.codec_summary() or 'none', 80)} "
        f"{format_bytes(m.referenced_bytes + m.inline_bytes)} stored / {format_bytes(v.nbytes)} decoded"
        + (f" [{', '.join(extra)}]" if extra else "")
    )


def source_line(s: Source) -> str:
    bits = [b for b in (s.format, format_bytes(s.size) if s.size is not None else None) if b]
    if s.mtime is not None:
        bits.append(format_mtime(s.mtime))
    if s.etag:
        bits.append(f"etag {shorten(s.etag, 40)}")
    return f"    {shorten(s.path, MAX_PATH)}  ({', '.join(bits) if bits else 'size and date not recorded'})"


def dataset_text(ds: VDataset, *, max_vars: int = MAX_VARS) -> str:
    lines = [f"<vz.VDataset> {dataset_summary(ds)}"]
    if ds.group:
        lines.append(f"Group: {shorten(ds.group, 80)}")
    dims = ds.dims
    lines.append("Dimensions:  " + (
        "(" + ", ".join(f"{shorten(d, 40)}: {format_int(s)}" for d, s in list(dims.items())[:50])
        + (f", {more_text(len(dims) - 50, 'dimensions')}" if len(dims) > 50 else "") + ")"
        if dims else "()"))
    names = list(ds.coords) + list(ds.data_vars)
    width = min(max((len(shorten(n, 40)) for n in names), default=4), 24)
    shown = 0
    for title, group, is_coord in (("Coordinates:", ds.coords, True), ("Data variables:", ds.data_vars, False)):
        if not group:
            continue
        lines.append(title)
        for n in group:
            if shown >= max_vars:
                break
            lines.append(variable_line(ds.variables[n], is_coord=is_coord, name_width=width))
            shown += 1
    if len(names) > shown:
        lines.append(f"    {more_text(len(names) - shown, 'variables')}")
    if ds.skipped:
        lines.append(f"Skipped variables: ({len(ds.skipped)})")
        for name, reason in ds.skipped[:MAX_SKIPPED]:
            lines.append(f"  ! {shorten(name, 60)}: {shorten(reason, 200)}")
        if len(ds.skipped) > MAX_SKIPPED:
            lines.append(f"    {more_text(len(ds.skipped) - MAX_SKIPPED, 'skipped variables')}")
    if ds.sources:
        lines.append(f"Sources: ({len(ds.sources)})")
        for s in ds.sources[:MAX_SOURCES]:
            lines.append(source_line(s))
        if len(ds.sources) > MAX_SOURCES:
            lines.append(f"    {more_text(len(ds.sources) - MAX_SOURCES, 'files')}")
    if ds.groups:
        lines.append("Groups: " + ", ".join(shorten(g, 40) for g in ds.groups[:20])
                     + (f", {more_text(len(ds.groups) - 20, 'groups')}" if len(ds.groups) > 20 else ""))
    if ds.attrs:
        lines.append("Attributes:")
        for k, v in list(ds.attrs.items())[:MAX_ATTRS]:
            lines.append(f"    {shorten(k, 30)}: {format_value(v, 100)}")
        if len(ds.attrs) > MAX_ATTRS:
            lines.append(f"    {more_text(len(ds.attrs) - MAX_ATTRS, 'attributes')}")
    return "\n".join(lines)


def _first_path(ds: VDataset) -> str:
    if len(ds.sources) == 1:
        return shorten(ds.sources[0].path, MAX_PATH)
    if not ds.sources:
        return "(no source files)"
    return f"{shorten(ds.sources[0].path, MAX_PATH)} (+{len(ds.sources) - 1} files)"


MAX_FAILED_ROWS = 20


def failed_text(failed: Sequence, max_rows: int = MAX_FAILED_ROWS) -> list[str]:
    """Lines naming the files a scan left out (``VDatasetList.failed``)."""
    if not failed:
        return []
    lines = [f"  {plural(len(failed), 'file')} not read:"]
    for f in failed[:max_rows]:
        lines.append(f"    {shorten(f.path, MAX_PATH)}: {shorten(f.problem, 200)}")
    if len(failed) > max_rows:
        lines.append(f"    {more_text(len(failed) - max_rows, 'files not read')}")
    return lines


def dataset_list_text(dsets: Sequence[VDataset], *, max_rows: int = 50) -> str:
    """One line per dataset for short lists; runs of alike files for long ones;
    the files left out (``failed``) last."""
    text = _dataset_list_text(list(dsets), max_rows=max_rows)
    return "\n".join([text] + failed_text(getattr(dsets, "failed", ())))


def _dataset_list_text(dsets: list, *, max_rows: int) -> str:
    totals = [dataset_totals(d) for d in dsets]
    total_chunks = sum(t[0] for t in totals)
    total_bytes = sum(t[1] for t in totals)
    lines = [f"<vz.VDatasetList> {plural(len(dsets), 'dataset')}, {plural(total_chunks, 'chunk')}, "
             f"{format_bytes(total_bytes)} stored"]

    def fmt(d):
        return ", ".join(sorted({s.format for s in d.sources if s.format})) or "?"

    if len(dsets) <= 12:
        for i, d in enumerate(dsets):
            skipped = f", {len(d.skipped)} skipped" if d.skipped else ""
            lines.append(f"  [{i}] {_first_path(d)}  ({fmt(d)}; {plural(len(d.variables), 'variable')}, "
                         f"{plural(totals[i][0], 'chunk')}, {format_bytes(totals[i][1])}{skipped})")
        return "\n".join(lines)
    shape = [(fmt(d), len(d.variables), len(d.skipped)) for d in dsets]
    breaks = [i for i in range(1, len(dsets)) if shape[i] != shape[i - 1]]
    runs = file_runs([_first_path(d) for d in dsets], breaks=breaks + [i - 1 for i in breaks])
    for r in runs[:max_rows]:
        where = f"[{r.start}]" if r.count == 1 else f"[{r.start}–{r.stop - 1}]"
        n = f" ({r.count:,} files)" if r.count > 1 else ""
        f, nv, ns = shape[r.start]
        chunks = sum(t[0] for t in totals[r.start:r.stop])
        stored = sum(t[1] for t in totals[r.start:r.stop])
        skipped = f", {ns} skipped each" if ns else ""
        lines.append(f"  {where} {run_label(r)}{n}  ({f}; {plural(nv, 'variable')}{' each' if r.count > 1 else ''}, "
                     f"{plural(chunks, 'chunk')}, {format_bytes(stored)}{skipped})")
    if len(runs) > max_rows:
        lines.append(f"  {more_text(len(runs) - max_rows, 'runs of files')}")
    return "\n".join(lines)
