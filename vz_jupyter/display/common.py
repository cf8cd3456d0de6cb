"""Shared building blocks for every vz_jupyter display (pure functions -> strings).

Displays never do I/O and never trust a string: everything that came from a file
(variable names, attributes, paths) goes through :func:`escape`. Use these helpers
from ``display/plan.py``, ``display/report.py`` and friends:

``escape(x)``
    ``html.escape(str(x), quote=True)``; a :class:`Safe` string (HTML you built
    yourself from escaped parts) passes through unchanged.
``Safe``
    ``str`` subclass marking trusted HTML, e.g. ``Safe(f"<b>{escape(name)}</b>")``.
``format_bytes(n)`` / ``format_int(n)`` / ``plural(n, "file")`` / ``shorten(s, n)``
    ``"1.5 MiB"``, ``"1,234"``, ``"3 files"``, ``"abc…"``.
``more_text(n, "variables")``
    The cap sentence used everywhere: ``"+12 more variables"``.
``new_id(prefix, key)`` / ``reset_ids()``
    Element ids: a short hash of ``key`` and a module counter, unique within a page
    and identical between runs once a test calls :func:`reset_ids`.
``style_block()``
    The ``<style>`` element (theme via ``--jp-*`` variables with fallbacks). Put it in
    each top-level output; :func:`wrap_repr` does that for you.
``wrap_repr(text, body_html, *, title)``
    A complete ``_repr_html_`` string: style + a ``<pre>`` plain-text fallback (shown
    when CSS is stripped, e.g. untrusted notebooks or GitHub) + the rich body.
``collapsible(title, body_html, *, open=False, summary="", key="", cls="")``
    A checkbox-driven collapsible section (no JavaScript).
``table(headers, rows, *, max_rows=None, what="rows", cls="", numeric=())``
    An HTML table; cells are escaped unless :class:`Safe`; rows beyond ``max_rows``
    become one "+N more ..." row.
``attrs_html(mapping, *, max_items=50, max_chars=500)``
    A ``<dl>`` of attributes with caps stated in words.
``badge(text, kind)``
    A small coloured label (``kind`` in ``"ok" | "warn" | "error" | "info"``).
``manifest_stats(manifest)``
    Chunk counts and bytes of a :class:`Manifest` (missing, inline, referenced,
    per source id) computed once per manifest object and cached weakly.
"""
from __future__ import annotations

import hashlib
import html as _html
import itertools
import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.model import INLINE, MAX_PATH_ID, MISSING
from ..core.urls import redact

__all__ = [
    "Safe",
    "escape",
    "format_bytes",
    "format_int",
    "dtype_text",
    "plural",
    "shorten",
    "printable",
    "cut",
    "more_text",
    "new_id",
    "reset_ids",
    "CSS",
    "style_block",
    "wrap_repr",
    "collapsible",
    "table",
    "attrs_html",
    "format_value",
    "badge",
    "ManifestStats",
    "manifest_stats",
]


class Safe(str):
    """A string of HTML that is already safe (built from escaped parts)."""

    __slots__ = ()

    def __add__(self, other):  # keep Safe only when both sides are safe
        if isinstance(other, Safe):
            return Safe(str.__add__(self, other))
        return str.__add__(self, other)


#: characters shown as visible escapes (``\x1b``, ``\u202e``) rather than
#: passed through: C0/C1 controls and DEL (ANSI sequences start with ESC), and
#: the Unicode direction marks/overrides/isolates that reorder text on screen
_INVISIBLE = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_INVISIBLE.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_INVISIBLE.update({c: f"\\u{c:04x}" for c in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                                   *range(0x2066, 0x206A), 0x2028, 0x2029]})
_INVISIBLE_KEEP_LINES = {k: v for k, v in _INVISIBLE.items() if k not in (0x09, 0x0A)}
#: the longest string :func:`escape` passes on (longer ones are cut and say so)
MAX_ESCAPED = 2_000


def printable(s: Any, *, keep_lines: bool = False) -> str:
    """``s`` with control characters, ANSI escape sequences and Unicode
    direction overrides made visible (``\x1b[31m``, ``\u202e``): safe to
    print on a terminal. ``keep_lines`` keeps newlines and tabs."""
    s = str(s)
    if s.isprintable():
        return s
    return s.translate(_INVISIBLE_KEEP_LINES if keep_lines else _INVISIBLE)


def cut(s: str, n: int | None) -> str:
    """``s`` cut at ``n`` characters, saying so: ``"abc… [1,048,576 characters, cut at 10,000]"``."""
    if n is None or len(s) <= n:
        return s
    return f"{s[:n]}… [{len(s):,} characters, cut at {n:,}]"


def escape(x: Any, *, cap: int | None = MAX_ESCAPED) -> str:
    """Escape anything for HTML text or a quoted attribute value: cut at
    ``cap`` characters (stated), URL credentials redacted, invisible and
    direction-changing characters made visible (newlines and tabs kept)."""
    if isinstance(x, Safe):
        return x
    s = cut(str(x), cap)
    return _html.escape(printable(redact(s), keep_lines=True), quote=True)


# --------------------------------------------------------------------------- numbers
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int | float | None) -> str:
    """``1536 -> "1.5 KiB"``; ``None -> "?"``."""
    if n is None:
        return "?"
    n = float(n)
    if n < 1024:
        return f"{int(n)} B"
    i = min(int(math.log(n, 1024)), len(_UNITS) - 1)
    v = n / 1024**i
    if v >= 999.95 and i < len(_UNITS) - 1:
        i += 1
        v = n / 1024**i
    return f"{v:.1f} {_UNITS[i]}"


def dtype_text(dtype) -> str:
    """``<f4`` / ``>i2`` as numpy spells them, but ``str`` for variable-length
    strings (numpy's object dtype, ``|O``, says nothing to a reader)."""
    dt = np.dtype(dtype)
    if dt.kind == "O":
        return "str"
    return dt.str


def format_int(n: int | None) -> str:
    return "?" if n is None else f"{int(n):,}"


def plural(n: int, singular: str, plural_: str | None = None) -> str:
    """``plural(1, "file") -> "1 file"``, ``plural(3, "file") -> "3 files"``."""
    word = singular if int(n) == 1 else (plural_ or singular + "s")
    return f"{format_int(n)} {word}"


def shorten(s: Any, n: int = 80) -> str:
    """Cut a string to at most ``n`` characters, ending with an ellipsis; URL
    credentials redacted and invisible characters made visible first (so a
    name cannot move the cursor, recolour a terminal or fake a line)."""
    s = str(s)
    if len(s) > 4 * n + 256:  # bound the work on megabyte strings
        s = s[: 4 * n + 256]
    s = printable(redact(s))
    return s if len(s) <= n else s[: max(n - 1, 0)] + "…"


def more_text(n: int, what: str) -> str:
    """The cap sentence: ``"+12 more variables"``."""
    return f"+{format_int(n)} more {what}"


def format_value(v: Any, max_chars: int = 500) -> str:
    """Short plain-text form of an attribute value (numpy arrays and bytes too)."""
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            return shorten(repr(v), max_chars)
    if isinstance(v, np.ndarray):
        if v.size > 20:
            body = np.array2string(v.ravel()[:20], separator=", ", threshold=20)
            return shorten(f"{body[:-1]}, … ] ({v.size} values)", max_chars)
        return shorten(np.array2string(v, separator=", "), max_chars)
    if isinstance(v, (list, tuple)) and len(v) > 20:
        return shorten(f"{list(v[:20])}… ({len(v)} values)", max_chars)
    if isinstance(v, np.generic):
        v = v.item()
    return shorten(v, max_chars)


# --------------------------------------------------------------------------- ids
_counter = itertools.count()


def reset_ids() -> None:
    """Restart the id counter (tests call this to get byte-identical output)."""
    global _counter
    _counter = itertools.count()


def new_id(prefix: str = "vz", key: Any = "") -> str:
    """A page-unique, run-deterministic element id: ``prefix-<hash(key, counter)>``."""
    n = next(_counter)
    h = hashlib.blake2s(f"{key}\x00{n}".encode("utf-8", "replace"), digest_size=5).hexdigest()
    return f"{prefix}-{h}"


# --------------------------------------------------------------------------- style
CSS = """
.vz-root {
  --vz-fg: var(--jp-content-font-color0, rgba(0,0,0,1));
  --vz-fg2: var(--jp-content-font-color2, rgba(0,0,0,0.54));
  --vz-fg3: var(--jp-content-font-color3, rgba(0,0,0,0.38));
  --vz-border: var(--jp-border-color2, #e0e0e0);
  --vz-bg: var(--jp-layout-color0, #ffffff);
  --vz-bg-alt: var(--jp-layout-color2, #eeeeee);
  --vz-warn-fg: var(--jp-warn-color1, #e65100);
  --vz-warn-bg: rgba(245, 124, 0, 0.13);
  --vz-error-fg: var(--jp-error-color1, #d32f2f);
  --vz-error-bg: rgba(211, 47, 47, 0.13);
  --vz-ok-fg: var(--jp-success-color0, #2e7d32);
  --vz-info-fg: var(--jp-info-color0, #1565c0);
  color: var(--vz-fg);
  font-family: var(--jp-ui-font-family, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  line-height: 1.4;
}
html[theme=dark] .vz-root, body.vscode-dark .vz-root {
  --vz-fg: rgba(255,255,255,1); --vz-fg2: rgba(255,255,255,0.6); --vz-fg3: rgba(255,255,255,0.4);
  --vz-border: #3a3a3a; --vz-bg: #111111; --vz-bg-alt: #2a2a2a;
  --vz-warn-fg: #ffb74d; --vz-error-fg: #ff8a80;
}
.vz-text-repr-fallback { display: none; }
.vz-wrap { display: block !important; min-width: 300px; max-width: 100%; overflow-x: auto; }
.vz-header { padding: 4px 0 6px; margin-bottom: 4px; border-bottom: solid 1px var(--vz-border); }
.vz-obj-type { color: var(--vz-fg2); margin-right: 8px; font-weight: 600; white-space: nowrap; }
.vz-header-stats { color: var(--vz-fg); }
.vz-header-stats span { margin-right: 12px; white-space: nowrap; }
.vz-muted { color: var(--vz-fg2); }
.vz-mono { font-family: var(--jp-code-font-family, Menlo, Consolas, monospace); font-size: 0.92em; }
.vz-section { margin: 2px 0; }
.vz-section > input { display: none; }
.vz-section > label { cursor: pointer; color: var(--vz-fg2); font-weight: 600; display: inline-block; padding: 3px 0; user-select: none; }
.vz-section > label:hover { color: var(--vz-fg); }
.vz-section > label:before { content: '\\25BA'; display: inline-block; font-size: 10px; width: 15px; text-align: center; }
.vz-section > input:checked + label:before { content: '\\25BC'; }
.vz-section > label .vz-summary { font-weight: normal; margin-left: 6px; color: var(--vz-fg3); }
.vz-section > .vz-details { display: none; padding: 2px 0 6px 15px; }
.vz-section > input:checked ~ .vz-details { display: block; }
.vz-section.vz-warn > label { color: var(--vz-warn-fg); }
.vz-root table.vz-table { border-collapse: collapse; margin: 2px 0; font-size: inherit; }
.vz-root table.vz-table th { text-align: left; font-weight: 600; color: var(--vz-fg2); border-bottom: solid 1px var(--vz-border); padding: 2px 10px 2px 4px; white-space: nowrap; }
.vz-root table.vz-table td { padding: 1px 10px 1px 4px; vertical-align: top; text-align: left; white-space: nowrap; max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
.vz-root table.vz-table td.vz-num, .vz-root table.vz-table th.vz-num { text-align: right; }
.vz-root table.vz-table tbody tr:nth-child(odd) { background: var(--vz-bg-alt); }
.vz-root table.vz-table tr.vz-more td { color: var(--vz-fg2); font-style: italic; background: transparent; }
.vz-root dl.vz-attrs { display: grid; width: auto; overflow: visible; grid-template-columns: 160px auto; margin: 0; padding: 0; column-gap: 12px; }
.vz-root dl.vz-attrs dt { float: none; width: auto; padding: 0; font-weight: normal; grid-column: 1; color: var(--vz-fg2); margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 260px; }
.vz-root dl.vz-attrs dd { float: none; width: auto; padding: 0; grid-column: 2; margin: 0; white-space: pre-wrap; word-break: break-all; }
.vz-badge { display: inline-block; padding: 0 5px; border-radius: 3px; font-size: 0.85em; font-weight: 600; border: solid 1px currentColor; margin-left: 4px; }
.vz-badge.vz-ok { color: var(--vz-ok-fg); }
.vz-badge.vz-warn { color: var(--vz-warn-fg); }
.vz-badge.vz-error { color: var(--vz-error-fg); }
.vz-badge.vz-info { color: var(--vz-info-fg); }
.vz-alert { border-left: solid 4px var(--vz-warn-fg); background: var(--vz-warn-bg); padding: 4px 8px; margin: 4px 0; }
.vz-alert.vz-error { border-left-color: var(--vz-error-fg); background: var(--vz-error-bg); }
.vz-alert-title { color: var(--vz-warn-fg); font-weight: 600; }
.vz-alert.vz-error .vz-alert-title { color: var(--vz-error-fg); }
.vz-vars { display: inline-grid; max-width: 100%; overflow-x: auto; grid-template-columns: max-content minmax(min-content, max-content) max-content max-content max-content minmax(min-content, max-content) max-content max-content max-content; margin: 2px 0; }
.vz-var { display: contents; }
.vz-var > div, .vz-var > label { padding: 1px 8px 1px 3px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 260px; }
.vz-var > div.vz-wrap-ok { white-space: normal; overflow-wrap: normal; }
.vz-var > div.vz-wrap-ok > span { white-space: nowrap; }
.vz-var.vz-head > div { overflow: visible; }
.vz-var.vz-odd > div, .vz-var.vz-odd > label { background: var(--vz-bg-alt); }
.vz-var.vz-head > div { white-space: normal; font-weight: 600; color: var(--vz-fg2); border-bottom: solid 1px var(--vz-border); background: transparent; }
.vz-var > div.vz-num { text-align: right; }
.vz-var > input { display: none; }
.vz-var > label { cursor: pointer; color: var(--vz-fg2); }
.vz-var > label:hover { color: var(--vz-fg); }
.vz-var > label.vz-disabled { cursor: default; color: var(--vz-fg3); }
.vz-var > .vz-var-attrs { display: none; contain: inline-size; grid-column: 1 / -1; padding: 2px 4px 6px 24px; max-width: none; white-space: normal; background: var(--vz-bg) !important; }
.vz-var > input:checked ~ .vz-var-attrs { display: block; }
.vz-coord-name { font-weight: 700; }
.vz-coord-mark { color: var(--vz-fg2); margin-right: 3px; }
.vz-map { margin: 2px 0 8px; overflow-x: auto; }
.vz-map svg { display: block; }
.vz-small-vars { margin: 2px 0 4px; }
"""


def style_block() -> str:
    """The ``<style>`` element shared by every vz_jupyter display."""
    return f"<style>{CSS}</style>"


#: the plain-text fallback embedded in HTML reprs is cut here (stated)
MAX_FALLBACK = 200_000


def wrap_repr(text: str, body_html: str, *, title: str = "") -> str:
    """Assemble a complete ``_repr_html_``: the style, a ``<pre>`` text fallback
    (visible only when the style is stripped) and the rich body (hidden unless the
    style applies)."""
    t = f' title="{escape(title)}"' if title else ""
    return (
        f"<div class=\"vz-root\"{t}>{style_block()}"
        f"<pre class=\"vz-text-repr-fallback\">{escape(text, cap=MAX_FALLBACK)}</pre>"
        f"<div class=\"vz-wrap\" style=\"display:none\">{body_html}</div></div>"
    )


def collapsible(
    title: str,
    body_html: str,
    *,
    open: bool = False,  # noqa: A002 - mirrors <details open>
    summary: str = "",
    key: Any = "",
    cls: str = "",
) -> str:
    """A checkbox-driven collapsible section; ``title``/``summary`` are escaped,
    ``body_html`` must already be HTML."""
    sid = new_id("vz-sec", f"{title}\x00{key}")
    checked = " checked" if open else ""
    summ = f"<span class=\"vz-summary\">{escape(summary)}</span>" if summary else ""
    extra = f" {escape(cls)}" if cls else ""
    return (
        f"<div class=\"vz-section{extra}\"><input id=\"{sid}\" type=\"checkbox\"{checked}>"
        f"<label for=\"{sid}\">{escape(title)}{summ}</label>"
        f"<div class=\"vz-details\">{body_html}</div></div>"
    )


_NUM = ' class="vz-num"'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    max_rows: int | None = None,
    total_rows: int | None = None,
    what: str = "rows",
    cls: str = "",
    numeric: Sequence[int] = (),
) -> str:
    """An HTML table. Cells are escaped unless they are :class:`Safe`. When
    ``max_rows`` is given only that many rows are drawn and a final row says
    "+N more <what>" (``total_rows`` lets a caller pass a lazily-cut iterator)."""
    num = set(numeric)
    head = "".join(
        f"<th{_NUM if i in num else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    out = [f"<table class=\"vz-table{(' ' + escape(cls)) if cls else ''}\"><thead><tr>{head}</tr></thead><tbody>"]
    n = 0
    for row in rows:
        if max_rows is not None and n >= max_rows:
            n += 1
            if total_rows is not None:
                break
            continue
        cells = "".join(
            f"<td{_NUM if i in num else ''}>{escape(c)}</td>" for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
        n += 1
    total = total_rows if total_rows is not None else n
    if max_rows is not None and total > max_rows:
        out.append(
            f"<tr class=\"vz-more\"><td colspan=\"{len(headers)}\">{escape(more_text(total - max_rows, what))}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def attrs_html(attrs: Mapping[str, Any], *, max_items: int = 50, max_chars: int = 500) -> str:
    """Attributes as a ``<dl>``; at most ``max_items`` entries, values cut to
    ``max_chars`` characters, the cap said in words."""
    if not attrs:
        return "<span class=\"vz-muted\">(no attributes)</span>"
    items = list(attrs.items())
    parts = ["<dl class=\"vz-attrs\">"]
    for k, v in items[:max_items]:
        parts.append(f"<dt title=\"{escape(shorten(k, 200))}\">{escape(shorten(k, 60))}</dt>"
                     f"<dd>{escape(format_value(v, max_chars))}</dd>")
    parts.append("</dl>")
    if len(items) > max_items:
        parts.append(f"<div class=\"vz-muted\">{escape(more_text(len(items) - max_items, 'attributes'))}</div>")
    return "".join(parts)


def badge(text: str, kind: str = "info") -> str:
    kind = kind if kind in ("ok", "warn", "error", "info") else "info"
    return f"<span class=\"vz-badge vz-{kind}\">{escape(text)}</span>"


# --------------------------------------------------------------------------- stats
@dataclass(frozen=True)
class ManifestStats:
    n_chunks: int
    n_missing: int
    n_inline: int
    n_referenced: int
    referenced_bytes: int
    inline_bytes: int
    #: chunks and stored bytes per path-table index (numpy int64 arrays, len(paths))
    counts: np.ndarray
    sizes: np.ndarray

    @property
    def n_files(self) -> int:
        """Source files that hold at least one referenced chunk."""
        return int(np.count_nonzero(self.counts))


_stats_cache: weakref.WeakKeyDictionary[Any, ManifestStats] = weakref.WeakKeyDictionary()


def manifest_stats(m) -> ManifestStats:
    """Counts and bytes of a manifest in one vectorised pass (cached per object;
    manifests are immutable)."""
    try:
        return _stats_cache[m]
    except (KeyError, TypeError):
        pass
    if m.path_id.size > 1 and not any(m.path_id.strides) and m.path_id.flat[0] == MISSING:
        # a broadcast all-missing grid (any size): no per-chunk pass, no copy
        z = np.zeros(len(m.paths), dtype=np.int64)
        st = ManifestStats(int(m.path_id.size), int(m.path_id.size), 0, 0, 0, 0, z, z.copy())
        _stats_cache[m] = st
        return st
    pid = m.path_id.ravel()
    ln = m.length.ravel()
    n_paths = len(m.paths)
    n_missing = int(np.count_nonzero(pid == MISSING))
    n_inline_cells = int(np.count_nonzero(pid == INLINE))
    n_ref = pid.size - n_missing - n_inline_cells
    if n_ref == pid.size and n_paths:
        ids, lens = pid, ln
    elif n_ref:
        mask = pid <= MAX_PATH_ID
        ids, lens = pid[mask], ln[mask]
    else:
        ids = lens = None
    if ids is not None and n_paths:
        counts = np.bincount(ids, minlength=n_paths).astype(np.int64)
        sizes = np.bincount(ids, weights=lens, minlength=n_paths).astype(np.int64)
        ref_bytes = int(lens.sum(dtype=np.uint64))
    else:
        counts = np.zeros(n_paths, dtype=np.int64)
        sizes = np.zeros(n_paths, dtype=np.int64)
        ref_bytes = 0
    st = ManifestStats(int(pid.size), n_missing, len(m.inline), int(n_ref), ref_bytes,
                       sum(len(v) for v in m.inline.values()), counts, sizes)
    try:
        _stats_cache[m] = st
    except TypeError:
        pass
    return st


def dataset_totals(ds) -> tuple[int, int]:
    """(chunks, stored bytes) of a dataset, from the cached manifest stats."""
    n = b = 0
    for v in ds.variables.values():
        st = manifest_stats(v.manifest)
        n += st.n_chunks
        b += st.referenced_bytes + st.inline_bytes
    return n, b
