"""Displays of a check :class:`~vz_jupyter.core.check.Report`: plain text and
HTML grouped by severity, each finding with its variable, the files named and
the suggested fix. Pure functions; everything escaped."""
from __future__ import annotations

import os

from .common import badge, collapsible, escape, plural, shorten, wrap_repr

_TITLES = {"error": "Errors", "warning": "Warnings", "info": "Notes"}
_BADGE = {"error": "error", "warning": "warn", "info": "info"}
#: findings drawn per severity and files listed per finding before "+N more"
MAX_FINDINGS = 50
MAX_FILES = 12


#: finding messages and fixes are cut at this many characters, names at 60
MAX_MESSAGE = 500


def _base(p: str) -> str:
    return shorten(os.path.basename(str(p).rstrip("/")) or str(p), 80)


def report_text(report, *, max_findings: int = MAX_FINDINGS, max_files: int = MAX_FILES, fix=None) -> str:
    lines = [f"<vz Report: {shorten(report.summary_line(), MAX_MESSAGE)}>"]
    for sev in ("error", "warning", "info"):
        fs = [f for f in report.findings if f.severity == sev]
        if not fs:
            continue
        lines.append(f"{_TITLES[sev]} ({len(fs)}):")
        for f in fs[:max_findings]:
            var = f" {shorten(f.variable, 60)}:" if f.variable else ""
            lines.append(f"  [{f.code}]{var} {shorten(f.message, MAX_MESSAGE)}")
            if f.files:
                names = ", ".join(_base(p) for p in f.files[:max_files])
                more = f" (+{len(f.files) - max_files} more)" if len(f.files) > max_files else ""
                lines.append(f"      files: {names}{more}")
            advice = fix(f) if fix is not None else f.fix
            if advice:
                lines.append(f"      fix: {shorten(advice, MAX_MESSAGE)}")
        if len(fs) > max_findings:
            lines.append(f"  +{len(fs) - max_findings} more {_TITLES[sev].lower()}")
    if not report.findings:
        lines.append("  no problems found")
    return "\n".join(lines)


def _finding_html(f, max_files: int, fix=None) -> str:
    kind = _BADGE[f.severity]
    parts = [f"<div class=\"vz-alert vz-finding{' vz-error' if f.severity == 'error' else ''}\""
             f" data-code=\"{escape(f.code)}\" data-severity=\"{escape(f.severity)}\""
             + (" style=\"border-left-color: var(--vz-info-fg); background: transparent\"" if f.severity == "info" else "")
             + ">"]
    var = f" <span class=\"vz-mono vz-coord-name\">{escape(shorten(f.variable, 60))}</span>" if f.variable else ""
    parts.append(f"<div>{badge(f.code, kind)}{var} {escape(shorten(f.message, MAX_MESSAGE))}</div>")
    if f.files:
        shown = "".join(
            f"<span class=\"vz-mono\" title=\"{escape(shorten(p, 800))}\">{escape(shorten(_base(p), 60))}</span>"
            + (", " if k < min(len(f.files), max_files) - 1 else "")
            for k, p in enumerate(f.files[:max_files]))
        more = (f" <span class=\"vz-muted\">+{len(f.files) - max_files} more files</span>"
                if len(f.files) > max_files else "")
        parts.append(f"<div class=\"vz-muted\">{escape(plural(len(f.files), 'file'))}: {shown}{more}</div>")
    advice = fix(f) if fix is not None else f.fix
    if advice:
        parts.append(f"<div><b>Fix:</b> {escape(shorten(advice, MAX_MESSAGE))}</div>")
    parts.append("</div>")
    return "".join(parts)


def report_html(report, *, max_findings: int = MAX_FINDINGS, max_files: int = MAX_FILES, fix=None) -> str:
    """The report as HTML. ``fix(finding) -> str | None`` replaces the suggested
    fixes (the combine widget words them as buttons to press, not API calls)."""
    ne, nw, ni = len(report.errors), len(report.warnings), len(report.infos)
    status = badge("errors", "error") if ne else badge("warnings", "warn") if nw else badge("ok", "ok")
    head = (
        f"<div class=\"vz-header\"><span class=\"vz-obj-type\">vz.Report</span>{status}"
        f"<div class=\"vz-header-stats\"><span>{escape(shorten(report.what(), MAX_MESSAGE))}</span>"
        f"<span>{escape(plural(ne, 'error'))}</span><span>{escape(plural(nw, 'warning'))}</span>"
        f"<span>{escape(plural(ni, 'note'))}</span></div></div>"
    )
    body = [head]
    if not report.findings:
        body.append(f"<div>{badge('ok', 'ok')} no problems found: the files combine cleanly.</div>")
    for sev in ("error", "warning", "info"):
        fs = [f for f in report.findings if f.severity == sev]
        if not fs:
            continue
        items = "".join(_finding_html(f, max_files, fix) for f in fs[:max_findings])
        if len(fs) > max_findings:
            items += f"<div class=\"vz-muted\">+{len(fs) - max_findings} more {escape(_TITLES[sev].lower())}</div>"
        body.append(collapsible(_TITLES[sev], items, open=sev != "info", summary=str(len(fs)),
                                key=f"report-{sev}", cls="vz-warn" if sev == "error" else ""))
    files_rows = "".join(f"<div class=\"vz-mono\" title=\"{escape(shorten(p, 800))}\">{escape(shorten(p, 120))}</div>"
                         for p in report.files[:200])
    if len(report.files) > 200:
        files_rows += f"<div class=\"vz-muted\">+{len(report.files) - 200} more files</div>"
    body.append(collapsible("Files", files_rows, summary=str(len(report.files)), key="report-files"))
    return wrap_repr(report_text(report, max_findings=max_findings, max_files=max_files, fix=fix), "".join(body),
                     title="vz check report")
