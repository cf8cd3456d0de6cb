"""Rules on the coordinate along the combine dimension: each file's values
strictly monotonic, no file repeating another's values, files in order,
neither overlapping nor leaving gaps. Values are CF-decoded to seconds (time
units may differ per file) and read only when cheap (``Context.values_of``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..cf import decode_to_seconds, format_duration, format_seconds
from ..errors import VZError
from .context import Context
from .groups import base, in_files, name_files
from .limits import TIME_FIX_MAX_BYTES


@dataclass(frozen=True)
class Span:
    """One file's coordinate values: seconds since 1970 for CF times (else
    plain floats) and the calendar (None when not a time)."""

    i: int
    sec: np.ndarray
    cal: str | None


def check_coordinate(cx: Context) -> None:
    """Order, duplicates, overlaps and gaps along ``cx.dim``."""
    dim, D = cx.dim, cx.dsets
    have = [i for i, ds in enumerate(D) if dim in ds.variables and ds.variables[dim].dims[:1] == (dim,)]
    if not have:
        if any(dim in ds.dims for ds in D):
            cx.add("info", "no-coordinate",
                   f"no coordinate variable {dim!r}: order, gaps and overlaps along it cannot be checked", dim, [])
        return
    spans = read_spans(cx, have)
    if not spans or len({s.cal for s in spans}) > 1:
        return  # different calendars: reported as a calendar error
    steps = check_monotonic(cx, spans)
    nonempty = [s for s in spans if len(s.sec)]
    if len(nonempty) < 2:
        return
    all_d = np.concatenate(steps) if steps else np.array([])
    sign = -1.0 if all_d.size and np.median(all_d) < 0 else 1.0
    if all_d.size:
        step = float(np.median(np.abs(all_d)))
    else:
        step = float(np.median(np.diff(np.sort([s.sec[0] * sign for s in nonempty]))))
    repeated = check_repeated_values(cx, nonempty)
    check_neighbours(cx, [s for s in nonempty if s.i not in repeated], sign, step, spans[0].cal)


def read_spans(cx: Context, have: list[int]) -> list[Span]:
    """The decoded values of each file that has the coordinate; files whose
    values cannot be had cheaply are named in one info, units that cannot be
    decoded are errors."""
    dim, L = cx.dim, cx.labels
    spans, unread = [], []
    for i in have:
        var = cx.dsets[i].variables[dim]
        vals = cx.values_of(var, TIME_FIX_MAX_BYTES, i)
        if vals is None:
            unread.append(L[i])
            continue
        try:
            sec, cal = decode_to_seconds(vals.reshape(var.shape[0], -1)[:, 0], var.attrs)
        except VZError as e:
            cx.add("error", "time-units", f"{base(L[i])}: {e}", dim, [L[i]])
            continue
        if sec.dtype.kind in "fiu":
            spans.append(Span(i, np.asarray(sec, dtype=np.float64), cal))
    if unread:
        cx.add("info", "not-compared", f"values of {dim!r} not read {in_files(len(unread), unread)}; "
               "order, gaps and overlaps not checked there", dim, unread)
    return spans


def check_monotonic(cx: Context, spans: list[Span]) -> list[np.ndarray]:
    """Each file strictly increasing or decreasing; returns each file's steps."""
    steps, nonmono = [], []
    for s in spans:
        if len(s.sec) > 1:
            d = np.diff(s.sec)
            if not (np.all(d > 0) or np.all(d < 0)):
                nonmono.append(cx.labels[s.i])
            steps.append(d)
    if nonmono:
        cx.add("error", "order", f"{cx.dim!r} is not strictly monotonic inside {name_files(nonmono)}",
               cx.dim, nonmono, fix="such files cannot be indexed along the combined dimension; exclude them")
    return steps


def check_repeated_values(cx: Context, spans: list[Span]) -> set[int]:
    """Files whose values repeat another's exactly (the same times twice);
    returns their positions, left out of the order checks. A file given twice
    by path is reported once, as such."""
    seen: dict[bytes, int] = {}
    pairs = []
    for s in spans:
        key = np.ascontiguousarray(s.sec).tobytes()
        if key in seen:
            pairs.append((seen[key], s.i))
        else:
            seen[key] = s.i
    repeated = {b for _, b in pairs}
    pairs = [(a, b) for a, b in pairs if b not in cx.twice]
    if pairs:
        L = cx.labels
        files = [L[b] for _, b in pairs]
        ex = "; ".join(f"{base(L[b])} repeats {base(L[a])}" for a, b in pairs[:3])
        cx.add("error", "duplicate",
               f"{len(pairs)} file{'s' if len(pairs) != 1 else ''} repeat{'s' if len(pairs) == 1 else ''} "
               f"the {cx.dim!r} values of another ({ex})",
               cx.dim, files, fix=f"exclude {name_files(files)} (the same times twice)")
    return repeated


def check_neighbours(cx: Context, spans: list[Span], sign: float, step: float, cal: str | None) -> None:
    """Consecutive files (values in direction ``sign``): one starting before
    the previous one began is out of order, one starting before it ended
    overlaps, one starting more than 1.5 usual steps after it ended leaves a
    gap."""
    order_bad, overlaps, gaps = [], [], []
    for a, b in zip(spans, spans[1:]):
        a0, a1, b0, b1 = a.sec[0] * sign, a.sec[-1] * sign, b.sec[0] * sign, b.sec[-1] * sign
        if b0 > a1:
            if step > 0 and b0 - a1 > 1.5 * step:
                gaps.append((a, b, b0 - a1))
        elif b0 < a0 and b1 < a0:
            order_bad.append((a, b))
        else:
            overlaps.append((a, b))
    _report_order(cx, order_bad)
    _report_overlaps(cx, overlaps, (lambda s: format_seconds(s, cal)) if cal else (lambda s: f"{s:g}"))
    _report_gaps(cx, gaps, step, format_duration if cal else (lambda x: f"{x:g}"))


def _report_order(cx: Context, pairs: list[tuple[Span, Span]]) -> None:
    if pairs:
        L = cx.labels
        ex = "; ".join(f"{base(L[b.i])} comes before {base(L[a.i])}" for a, b in pairs[:3])
        cx.add("error", "order", f"files are out of order along {cx.dim!r} ({ex})", cx.dim, [L[b.i] for _, b in pairs],
               fix=f"sort them first: vz.sort(dsets, by={cx.dim!r})")


def _report_overlaps(cx: Context, pairs: list[tuple[Span, Span]], show: Callable[[float], str]) -> None:
    if pairs:
        L = cx.labels
        ex = "; ".join(f"{base(L[a.i])} ({show(a.sec[0])} to {show(a.sec[-1])}) and "
                       f"{base(L[b.i])} ({show(b.sec[0])} to {show(b.sec[-1])})" for a, b in pairs[:3])
        cx.add("error", "overlap", f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} of files overlap along {cx.dim!r}: {ex}",
               cx.dim, [L[b.i] for _, b in pairs], fix="exclude the overlapping files (a virtual dataset cannot drop part "
                                                       "of a file), or sort first if the order is wrong")


def _report_gaps(cx: Context, gaps: list[tuple[Span, Span, float]], step: float, unit: Callable[[float], str]) -> None:
    if gaps:
        L = cx.labels
        ex = "; ".join(f"a jump of {unit(g)} (~{max(1, round(g / step) - 1)} missing step{'s' if round(g / step) - 1 != 1 else ''}) "
                       f"between {base(L[a.i])} and {base(L[b.i])}" for a, b, g in gaps[:3])
        cx.add("warning", "gap",
               f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''} along {cx.dim!r} (usual step {unit(step)}): {ex}",
               cx.dim, [L[b.i] for _, b, _ in gaps],
               fix="missing files? if intended, nothing to do: the combined coordinate keeps the real times")
