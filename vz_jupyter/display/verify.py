"""Text and HTML of a :class:`~vz_jupyter.core.verify.VerifyReport` (``vz.verify``)."""
from __future__ import annotations

from ..core.verify import VerifyReport
from .common import badge, escape, format_int, more_text, shorten, table, wrap_repr

#: sources listed one by one at most (the problems first)
MAX_ROWS = 30
_KIND = {"ok": "ok", "grown": "warn", "changed": "error", "missing": "error", "unknown": "info", "error": "error"}


def _rows(report: VerifyReport):
    """Problems first (in the order found), then the unchanged sources."""
    return list(report.problems()) + [c for c in report.checks if c.status == "ok"]


def verify_text(report: VerifyReport, max_rows: int = MAX_ROWS) -> str:
    """The summary line, then the sources that are not ``ok`` (the unchanged
    ones only counted)."""
    lines = [f"<vz.VerifyReport> {shorten(report.summary_line(), 200)}"]
    rows = list(report.problems())
    width = max((len(c.status) for c in rows), default=2)
    for c in rows[:max_rows]:
        detail = f"  ({shorten(c.detail, 160)})" if c.detail else ""
        lines.append(f"  {c.status:<{width}}  {shorten(c.path, 120)}{detail}")
    if len(rows) > max_rows:
        lines.append(f"  {more_text(len(rows) - max_rows, 'sources not ok')}")
    n_ok = len(report.checks) - len(rows)
    if rows and n_ok:
        lines.append(f"  ({format_int(n_ok)} other source{'s' * (n_ok != 1)} unchanged)")
    return "\n".join(lines)


def verify_html(report: VerifyReport, max_rows: int = MAX_ROWS) -> str:
    flags = "".join(badge(f"{format_int(n)} {k}", _KIND.get(k, "info")) for k, n in report.counts().items())
    head = (f"<div class=\"vz-header\"><span class=\"vz-obj-type\">vz.VerifyReport</span>"
            f"<span class=\"vz-header-stats\"><span>{escape(shorten(report.target, 120))}</span>"
            f"<span>{escape(report.format)}</span></span>{flags}</div>")
    rows = ([c.status, shorten(c.path, 120), c.detail] for c in _rows(report))
    body = head + table(["status", "source", "detail"], rows, max_rows=max_rows, total_rows=len(report.checks),
                        what="sources")
    return wrap_repr(verify_text(report), body, title="vz.VerifyReport")
