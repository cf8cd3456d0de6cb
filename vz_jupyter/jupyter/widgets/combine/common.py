"""What the combine widget's parts share: choices, the wording of fixes and
errors, the status line and a wrapping row of controls."""
from __future__ import annotations

import html

import ipywidgets as W
from IPython import get_ipython

from ....core.errors import VZError

FORMATS = (
    ("kerchunk JSON (.json)", "kerchunk-json"),
    ("kerchunk Parquet (.parquet)", "kerchunk-parquet"),
    ("Icechunk repository (.icechunk)", "icechunk"),
)
EXTENSIONS = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}
SORTS = (
    ("coordinate values (concat dim)", "coord"),
    ("number in the file names (regex)", "pattern"),
    ("file path", "path"),
)
#: names tried, in order, when guessing the concat dimension
DIM_GUESSES = ("time", "t", "Time", "TIME", "record", "ensemble", "member")
#: warnings that need no action here (concat fixes them): not pinned, not flagged
HANDLED = {"time-units"}
#: how the widget says each fix (buttons to press, not API calls)
WIDGET_FIXES = {
    "order": "press Sort (coordinate values), or drag the files named into place in the file list",
    "duplicate": "leave out the repeated files (× in the file list)",
    "overlap": "press Sort if the order is wrong; otherwise leave out one file of each overlapping pair (×)",
    "gap": "missing files? If the gap is real there is nothing to do: the combined coordinate keeps the real times",
    "no-dim": "leave out the files without this dimension (×), or choose another Concat dim",
    "calendar": "leave out the files in the other calendar (× in the file list)",
    "no-files": "bring files back into the list (Left out → bring back), or press Rescan",
}
_GENERIC_FIX = "leave out the files named (× in the file list), or fix those files and press Rescan"
SAVED_NOTE = ("<div class=\"vz-combine-note\"><b>vz combine</b> widget (interactive with a running kernel); "
               "its last state is shown below.</div>")
#: seconds between progress-bar updates while scanning (a message per file is too many at 1,000 files)
PROGRESS_EVERY = 0.1


def one_line(exc: BaseException) -> str:
    """A one-line message for any exception (our VZErrors already are one line)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, VZError):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return first if len(first) <= 400 else first[:399] + "…"


def widget_fix(finding) -> str | None:
    """The fix of a check finding, worded for the widget's controls."""
    code = finding.code
    if code == "time-units" and finding.severity == "warning":
        return "nothing to do: Write re-encodes the combined time coordinate in one set of units"
    if code in WIDGET_FIXES:
        return WIDGET_FIXES[code]
    if finding.severity == "error":
        return _GENERIC_FIX
    return None


def in_kernel() -> bool:
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def status_html(text: str, kind: str = "info", code: str = "") -> str:
    """One status line: wraps instead of being cut; ``code`` (a path) is selectable."""
    colour = {
        "error": "var(--jp-error-color1, #d32f2f)",
        "ok": "var(--jp-success-color1, #388e3c)",
        "warn": "var(--jp-warn-color1, #f57c00)",
    }.get(kind, "var(--jp-ui-font-color2, rgba(0,0,0,0.54))")
    extra = f" <code>{html.escape(code)}</code>" if code else ""
    return (f"<div class=\"vz-combine-status vz-combine-{html.escape(kind)}\" "
            f"style=\"color:{colour};white-space:normal;overflow-wrap:anywhere\">{html.escape(text)}{extra}</div>")


def row(children, **layout) -> W.HBox:
    box = W.HBox(children, layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%", **layout))
    box.add_class("vz-combine-row")
    return box

