"""Displays of a :class:`~vz_jupyter.core.plan.ReadPlan` (pure: plan -> strings).

``plan_text(plan)``: the multi-line summary printed by ``vz plan`` and used as
``repr``. ``plan_html(plan)``: the chunk map with the touched chunks highlighted,
the counts (chunks, requests, bytes to read vs bytes needed and their ratio) and
a per-file table, with the text summary embedded as the fallback.
"""
from __future__ import annotations

import posixpath

from ..core.model import codec_summary
from .chunkmap import chunk_map_svg
from .common import Safe, escape, format_bytes, format_int, plural, shorten, table, wrap_repr

#: files listed in text/HTML before "+N more files"
MAX_FILES = 20
#: selections, names and paths are cut at these many characters
MAX_SELECTION = 200
MAX_NAME = 60
MAX_PATH = 200


def _sel(plan) -> str:
    return shorten(plan.selection_text, MAX_SELECTION)


def _dims(t) -> str:
    return "(" + ", ".join(shorten(d, 40) for d in t) + ")"


def _ratio(a: int, b: int) -> str:
    if not b:
        return "n/a"
    r = a / b
    if r >= 100:
        return f"{r:,.0f}×"
    return f"{r:.2f}×"


def _shape(t) -> str:
    return " × ".join(f"{int(x):,}" for x in t) or "scalar"


def _codecs(plan) -> str:
    return codec_summary(plan.var.codecs) or "none (uncompressed)"


def _rule(plan, model) -> str:
    """How ``model`` merges the plan's ranges."""
    if model.coalesce:
        return f"gaps < {format_bytes(model.break_even_gap)} read through, cheaper than one more request"
    waste = "no" if plan.max_waste is None else f"{plan.max_waste:.0%}"
    return f"gaps ≤ {format_bytes(plan.max_gap)} merged within {waste} waste budget"


def _rules(plan, models) -> str:
    """The merge rule(s) of the plan's files: one phrase, named by model when any coalesces."""
    if not any(m.model.coalesce for m in models):
        return _rule(plan, models[0].model if models else plan.options.model_for(""))
    return "; ".join(f"{m.model.name}: {_rule(plan, m.model)}" for m in models)


def _seconds(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t < 1 else f"{t:,.3g} s"


def _model_line(m) -> str:
    """``object store: 30 ms/request, 100 MB/s: 1 file, 1 request, 14 MiB, est. 180 ms``."""
    return (f"{m.model.describe()}: {plural(m.n_files, 'file')}, {plural(m.n_requests, 'request')}, "
            f"{format_bytes(m.bytes_to_read)}, est. {_seconds(m.seconds)}")


def plan_text(plan) -> str:
    """Plain-text summary of a plan (the CLI prints this)."""
    var = plan.var
    shape = "×".join(str(s) for s in plan.shape) or "scalar"
    models = plan.by_model()
    lines = [
        f"Read plan: {_sel(plan)}  → {shape} {plan.dtype.name}",
        f"  variable: {shorten(var.name, MAX_NAME)} {_dims(var.dims)} shape {_shape(var.shape)} "
        f"chunks {_shape(var.chunks)}, codecs: {shorten(_codecs(plan), 120)}",
        (f"  chunks touched: {format_int(plan.n_chunks)} of {format_int(var.manifest.n_chunks)} "
         f"({plan.n_complete} complete, {plan.n_missing} missing, {plan.n_inline} inline)"),
        f"  requests: {format_int(plan.n_requests)} ({_rules(plan, models)})",
        (f"  bytes to read: {format_bytes(plan.bytes_to_read)}   bytes needed: {format_bytes(plan.bytes_needed)}   "
         f"ratio {_ratio(plan.bytes_to_read, plan.bytes_needed)}"),
        f"  whole touched chunks (a chunk-at-a-time reader): {format_bytes(plan.chunk_bytes)}",
    ]
    lines.extend(f"  cost model {_model_line(m)}" for m in models)
    rows = plan.per_file()
    if rows:
        lines.append(f"  {'chunks':>8} {'requests':>9} {'to read':>10} {'needed':>10}  file")
        for r in rows[:MAX_FILES]:
            lines.append(f"  {r.n_chunks:>8,} {r.n_requests:>9,} {format_bytes(r.bytes_to_read):>10} "
                         f"{format_bytes(r.bytes_needed):>10}  {shorten(r.path, MAX_PATH)}")
        if len(rows) > MAX_FILES:
            lines.append(f"  +{len(rows) - MAX_FILES} more files")
    stats = plan.last_stats
    if stats is not None:
        lines.append(f"  last run: {stats}")
    return "\n".join(lines)


def _map_svg(plan) -> str:
    return chunk_map_svg(plan.var, highlight=plan.touched, title=f"{shorten(plan.var.name, MAX_NAME)}: touched chunks")


_PLAN_CSS = (
    "<style>.vz-plan-bar{display:flex;align-items:center;gap:.5em;margin:1px 0}"
    ".vz-plan-bar-label{width:7em}"
    ".vz-plan-bar-track{flex:0 0 240px;height:.8em;background:var(--jp-layout-color2,#eee);display:inline-block}"
    ".vz-plan-bar-fill{display:block;height:100%}"
    ".vz-plan-need{background:var(--jp-success-color1,#59a14f)}"
    ".vz-plan-read{background:var(--jp-brand-color1,#4e79a7)}"
    ".vz-plan-whole{background:var(--jp-warn-color1,#f28e2b)}</style>"
)


def _bars(need: int, read: int, whole: int) -> str:
    """Bars comparing bytes needed / to read / whole chunks."""
    top = max(need, read, whole, 1)

    def bar(label: str, n: int, cls: str) -> str:
        w = 0 if n <= 0 else max(1.0, 100.0 * n / top)
        return (f"<div class=\"vz-plan-bar\"><span class=\"vz-plan-bar-label\">{escape(label)}</span>"
                f"<span class=\"vz-plan-bar-track\"><span class=\"vz-plan-bar-fill {cls}\" "
                f"style=\"width:{w:.1f}%\"></span></span>"
                f"<span class=\"vz-num\">{escape(format_bytes(n))}</span></div>")

    return (
        "<div class=\"vz-plan-bars\">"
        + bar("needed", need, "vz-plan-need")
        + bar("to read", read, "vz-plan-read")
        + bar("whole chunks", whole, "vz-plan-whole")
        + "</div>"
    )


def _files_table(plan) -> str:
    """One row per file the plan reads (capped)."""
    rows = plan.per_file()
    if not rows:
        return ""
    return table(
        ["file", "chunks", "requests", "bytes to read", "bytes needed", "ratio"],
        (
            [Safe(f"<span title=\"{escape(shorten(r.path, 4 * MAX_PATH))}\">"
                  f"{escape(shorten(posixpath.basename(r.path.rstrip('/')) or r.path, MAX_NAME))}</span>"),
             format_int(r.n_chunks), format_int(r.n_requests), format_bytes(r.bytes_to_read),
             format_bytes(r.bytes_needed), _ratio(r.bytes_to_read, r.bytes_needed)]
            for r in rows
        ),
        max_rows=MAX_FILES,
        what="files",
        numeric=(1, 2, 3, 4, 5),
    )


def plan_html(plan) -> str:
    """Rich display of a plan for Jupyter (escaped, theme-aware, with text fallback)."""
    need, read = plan.bytes_needed, plan.bytes_to_read
    head = (
        f"<div class=\"vz-title\"><b>Read plan</b> <code>{escape(_sel(plan))}</code> "
        f"→ {escape('×'.join(str(s) for s in plan.shape) or 'scalar')} {escape(plan.dtype.name)}</div>"
        f"<div class=\"vz-sub\">{escape(plural(plan.n_chunks, 'chunk'))} of "
        f"{escape(format_int(plan.var.manifest.n_chunks))} touched · {escape(plural(plan.n_requests, 'request'))} · "
        f"codecs: {escape(shorten(_codecs(plan), 120))} · read/needed <b>{escape(_ratio(read, need))}</b></div>"
    )
    extra = []
    if plan.n_missing:
        extra.append(f"{plural(plan.n_missing, 'missing chunk')} read as the fill value (no I/O)")
    if plan.n_inline:
        extra.append(f"{plural(plan.n_inline, 'inlined chunk')} come from the references (no I/O)")
    extra.extend(f"cost model {_model_line(m)} ({_rule(plan, m.model)})" for m in plan.by_model())
    note = "".join(f"<div class=\"vz-sub\">{escape(x)}</div>" for x in extra)
    body = _PLAN_CSS + head + _bars(need, read, plan.chunk_bytes) + note + _map_svg(plan) + _files_table(plan)
    return wrap_repr(plan_text(plan), body, title=f"read plan {_sel(plan)}")
