"""Rules on CF encoding: fill values (attributes and the storage fill), packing
(``scale_factor``/``add_offset``) and time units and calendars, including the
units a ``bounds``/``climatology`` variable inherits from its parent. A
combined array has one of each, so a file that differs would be decoded
wrongly (peers such as kerchunk silently take the first file's)."""
from __future__ import annotations

from ..cf import time_encoding
from ..model import VArray
from .context import Context
from .groups import Groups, name_files
from .limits import TIME_FIX_MAX_BYTES

Items = list[tuple[int, VArray]]

#: attributes checked one by one (not reported as drift)
CF_ENCODING_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset")


def compare_fill(cx: Context, name: str, items: Items) -> None:
    """``_FillValue`` and ``missing_value`` (errors), and the storage fill value
    (an error only where a file has unwritten chunks that would read wrong)."""
    L = cx.labels
    for attr in ("_FillValue", "missing_value"):
        g = Groups([(i, v.attrs.get(attr, "(none)")) for i, v in items], L)
        if g.differ:
            cx.add("error", "fill-value",
                   f"{attr} of {name!r} differs: {g.describe()}; one value is kept for the combined array, "
                   f"so the other files would be masked wrongly",
                   name, g.odd_files(),
                   fix=f"rewrite the odd files with the common {attr}, or exclude them")
    g = Groups([(i, v.fill_value) for i, v in items], L)
    if g.differ:
        odd = set(g.odd_files())
        holes = [L[i] for i, v in items if L[i] in odd and v.manifest.n_missing]
        sev = "error" if holes else "warning"
        cx.add(sev, "fill-value",
               f"storage fill value of {name!r} differs: {g.describe()}"
               + (f"; {name_files(holes)} {'has' if len(holes) == 1 else 'have'} unwritten chunks that would read as the wrong fill"
                  if holes else "; only unwritten chunks use it and none are unwritten"),
               name, sorted(odd), fix="rewrite the odd files with the common fill value, or exclude them" if holes else None)


def compare_scale(cx: Context, name: str, items: Items) -> None:
    for attr in ("scale_factor", "add_offset"):
        g = Groups([(i, v.attrs.get(attr, "(none)")) for i, v in items], cx.labels)
        if g.differ:
            odd = g.odd_files()
            them = "it" if len(odd) == 1 else "them"
            cx.add("error", "scale-offset",
                   f"{attr} of {name!r} differs: {g.describe()}; a combined array has one {attr}, so values "
                   f"from {name_files(odd)} would be decoded wrongly (kerchunk silently uses the first file's)",
                   name, odd,
                   fix=f"exclude {name_files(odd)}, or rewrite {them} unpacked or with the common {attr}, "
                       f"or combine {them} as a separate dataset")


def _units_differ(cx: Context, name: str, g: Groups, *, fixable: bool, units0: str, warning: str, error: str,
                  error_fix: str) -> None:
    """Differing time units: a warning when concat will re-encode them
    (``fixable`` and ``fix_time``), an error otherwise."""
    if fixable and cx.fix_time:
        cx.add("warning", "time-units", warning, name, g.odd_files(),
               fix=f"concat decodes {name!r} and writes it re-encoded to {units0!r}, inlined (fix_time=True, the default)")
    else:
        cx.add("error", "time-units", error, name, g.odd_files(), fix=error_fix)


def compare_time_encoding(cx: Context, name: str, items: Items, along: bool) -> None:
    """One calendar; along the combine dim, one set of time units (or units
    concat can re-encode). Off the dim, values are compared decoded instead
    (see :func:`~.variables.compare_values`)."""
    encs = [(i, time_encoding(v.attrs)) for i, v in items]
    if not any(e for _, e in encs):
        return
    g = Groups([(i, e[1] if e else "(not a time)") for i, e in encs], cx.labels)
    if g.differ:
        cx.add("error", "calendar", f"calendar of {name!r} differs: {g.describe()}",
               name, g.odd_files(), fix="times in different calendars cannot share one axis; exclude the odd files")
        return
    g = Groups([(i, e[0] if e else "(not a time)") for i, e in encs], cx.labels)
    if not g.differ or not along:
        return
    total = sum(v.nbytes for _, v in items)
    all_times = all(e for _, e in encs)
    fixable = all_times and total <= TIME_FIX_MAX_BYTES
    why = "" if fixable else f" ({total} bytes is too large to re-encode inline)" if all_times else ""
    _units_differ(cx, name, g, fixable=fixable, units0=next(e[0] for _, e in encs if e),
                  warning=f"time units of {name!r} differ between files: {g.describe()}; kerchunk would keep the first "
                          f"file's units and shift the others' times",
                  error=f"time units of {name!r} differ between files: {g.describe()}{why}",
                  error_fix="concat(..., fix_time=True) re-encodes the combined time coordinate to one set of units"
                  if fixable else "rewrite the files with one set of time units")


def compare_inherited_units(cx: Context, name: str, items: Items, encs: list) -> None:
    """A bounds/climatology variable without units of its own (``time_bnds``)
    holds offsets in its parent's units: when those differ per file, each
    file's raw values mean different times."""
    g = Groups([(i, e[0] if e else "(no time units)") for (i, _), e in zip(items, encs)], cx.labels)
    if not g.differ:
        return
    total = sum(v.nbytes for _, v in items)
    fixable = all(encs) and len({e[1] for e in encs}) == 1 and total <= TIME_FIX_MAX_BYTES
    _units_differ(cx, name, g, fixable=fixable, units0=next(e[0] for e in encs if e),
                  warning=f"{name!r} has no units of its own and inherits its parent's time units, which differ between "
                          f"files: {g.describe()}; kerchunk would keep each file's raw offsets",
                  error=f"{name!r} inherits its parent's time units, which differ between files: {g.describe()}",
                  error_fix="concat(..., fix_time=True) re-encodes it" if fixable
                  else "rewrite the files with one set of time units")
