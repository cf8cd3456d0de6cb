"""Put files in order before combining them.

``sort(dsets, by="time")`` orders by the first value of a coordinate, decoded
with CF conventions so files whose time ``units`` differ (``hours since <file
start>``) still sort right; ``pattern=`` by regex groups of the file name,
``attr=`` by a global attribute, ``order=`` explicitly. Duplicates and overlaps
are not fixed here: :func:`vz_jupyter.core.check.check` reports them (or pass
``strict=True`` to refuse equal sort keys).
"""
from __future__ import annotations

import os
import re
from typing import Any, Sequence

import numpy as np

from .errors import VZError
from .model import VDataset, VDatasetList


def dataset_label(ds: VDataset) -> str:
    """The file a dataset stands for (its first source), or a short description."""
    if ds.sources:
        if len(ds.sources) == 1:
            return ds.sources[0].path
        return f"{ds.sources[0].path} (+{len(ds.sources) - 1} files)"
    return "(in-memory dataset)"


def _path_of(ds: VDataset) -> str:
    return ds.sources[0].path if ds.sources else ""


def coordinate_seconds(ds: VDataset, name: str):
    """Decoded values of coordinate ``name`` of one dataset as float seconds since
    1970 (CF time) or plain floats, plus the calendar (None when not a time)."""
    from .cf import decode_to_seconds, read_values

    if name not in ds.variables:
        raise VZError(f"{dataset_label(ds)}: no variable {name!r} to sort by")
    var = ds.variables[name]
    vals = read_values(var).ravel()
    return decode_to_seconds(vals, var.attrs)


def _numeric(groups: tuple) -> tuple:
    out = []
    for g in groups:
        if g is None:
            out.append((1, 0, ""))
            continue
        try:
            out.append((0, float(g), ""))
        except ValueError:
            out.append((0, float("-inf"), g))
    return tuple(out)


def pattern_values(dsets: Sequence[VDataset], pattern: str) -> list[tuple]:
    """The regex groups (or the whole match) of each file's path; searched in the
    file name first, then in the whole path."""
    rx = re.compile(pattern)
    out = []
    for ds in dsets:
        path = _path_of(ds)
        m = rx.search(os.path.basename(path)) or rx.search(path)
        if m is None:
            raise VZError(f"{dataset_label(ds)}: the file name does not match the pattern {pattern!r}")
        out.append(m.groups() or (m.group(0),))
    return out


def sort(
    dsets: Sequence[VDataset],
    by: str | None = None,
    *,
    pattern: str | None = None,
    order: Sequence[Any] | None = None,
    attr: str | None = None,
    dim: str | None = None,
    reverse: bool = False,
    strict: bool = False,
) -> VDatasetList:
    """Return the datasets in order.

    - ``by="time"`` (or ``dim="time"``): by the first value of that coordinate,
      CF-decoded (units and reference dates may differ per file; calendars must
      agree). ``by="path"`` sorts by file path.
    - ``pattern=r"_(\\d{8})\\.nc"``: by the regex groups matched in each file name
      (numbers compare as numbers).
    - ``attr="start_date"``: by a global attribute.
    - ``order=[2, 0, 1]`` (positions) or a list of paths / file names.

    The sort is stable. With ``strict=True`` equal keys (e.g. two files starting at
    the same time) raise :class:`VZError`; otherwise ``check`` reports them.
    """
    dsets = list(dsets)
    chosen = [k for k, v in (("by", by), ("pattern", pattern), ("order", order), ("attr", attr)) if v is not None]
    if len(chosen) > 1:
        raise VZError(f"give one way to sort, not {' and '.join(chosen)}")
    if not chosen:
        if dim is None:
            raise VZError("nothing to sort by: give by=, pattern=, attr=, order= or dim=")
        by = dim
    if not dsets:
        return VDatasetList()

    if order is not None:
        return VDatasetList(_explicit(dsets, order))

    keys: list[Any]
    if pattern is not None:
        keys = [_numeric(g) for g in pattern_values(dsets, pattern)]
    elif attr is not None:
        keys = []
        for ds in dsets:
            if attr not in ds.attrs:
                raise VZError(f"{dataset_label(ds)}: no global attribute {attr!r} to sort by")
            v = ds.attrs[attr]
            if isinstance(v, np.ndarray):
                v = v.ravel()[0] if v.size else ""
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            keys.append(_numeric((str(v),)))
    elif by in ("path", "name", "filename"):
        keys = [_path_of(ds) for ds in dsets]
    else:
        keys = []
        calendars = set()
        for ds in dsets:
            vals, cal = coordinate_seconds(ds, by)
            calendars.add(cal)
            if len(vals) == 0:
                keys.append((1, 0.0))
            else:
                first = vals[0]
                keys.append((0, float(first)) if np.issubdtype(np.asarray(first).dtype, np.number) else (0, first))
        if len(calendars) > 1:
            raise VZError(
                f"files use different calendars for {by!r} ({', '.join(sorted(str(c) for c in calendars))}); "
                "they cannot be ordered on one time axis"
            )
    idx = sorted(range(len(dsets)), key=lambda i: keys[i], reverse=reverse)
    if strict:
        for a, b in zip(idx, idx[1:]):
            if keys[a] == keys[b]:
                raise VZError(
                    f"{dataset_label(dsets[a])} and {dataset_label(dsets[b])} have the same sort key; "
                    "duplicate files?"
                )
    return VDatasetList(dsets[i] for i in idx)


def _explicit(dsets: list[VDataset], order: Sequence[Any]) -> list[VDataset]:
    order = list(order)
    if len(order) != len(dsets):
        raise VZError(f"order has {len(order)} entries for {len(dsets)} datasets")
    if all(isinstance(o, (int, np.integer)) for o in order):
        pos = [int(o) for o in order]
        if sorted(pos) != list(range(len(dsets))):
            raise VZError(f"order must be a permutation of 0..{len(dsets) - 1}")
        return [dsets[i] for i in pos]
    by_path = {}
    for i, ds in enumerate(dsets):
        p = _path_of(ds)
        by_path.setdefault(p, i)
        by_path.setdefault(os.path.basename(p), i)
    out, used = [], set()
    for o in order:
        key = os.fspath(o)
        i = by_path.get(key)
        if i is None:
            i = by_path.get(os.path.abspath(key))
        if i is None:
            raise VZError(f"{key}: not one of the datasets being sorted")
        if i in used:
            raise VZError(f"{key}: named twice in order")
        used.add(i)
        out.append(dsets[i])
    return out
