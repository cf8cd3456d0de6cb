"""Put files in order before combining them.

``sort(dsets, by="time")`` orders by the first value of a coordinate, decoded
with CF conventions so files whose time ``units`` differ (``hours since <file
start>``) still sort right; ``pattern=`` by regex groups of the file name,
``attr=`` by a global attribute, ``order=`` explicitly. Duplicates and overlaps
are not fixed here: :func:`vz_jupyter.core.check.check` reports them. Equal sort
keys keep the order given and raise a :class:`TiedSortKeysWarning` (or an error
with ``strict=True``). :func:`name_number_pattern` builds the regex that picks
the number which varies between file names (``t2m_d1.nc`` ... ``t2m_d10.nc``:
the day, not the "2" of "t2m").
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .cf import decode_to_seconds
from .errors import TiedSortKeysWarning, VZError
from .model import VDataset, VDatasetList
from .values import CoordinateReader


def dataset_label(ds: VDataset) -> str:
    """The file a dataset stands for (its first source), or a short description."""
    if ds.sources:
        if len(ds.sources) == 1:
            return ds.sources[0].path
        return f"{ds.sources[0].path} (+{len(ds.sources) - 1} files)"
    return "(in-memory dataset)"


def _path_of(ds: VDataset) -> str:
    return ds.sources[0].path if ds.sources else ""


def coordinate_seconds(ds: VDataset, name: str, reader: CoordinateReader):
    """Decoded values of coordinate ``name`` of one dataset as float seconds since
    1970 (CF time) or plain floats, plus the calendar (None when not a time);
    the stored values come from ``reader``."""
    if name not in ds.variables:
        raise VZError(f"{dataset_label(ds)}: no variable {name!r} to sort by")
    var = ds.variables[name]
    vals = reader.read(var).ravel()
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


_DIGITS = re.compile(r"(\d+)")


def name_number_pattern(names: Sequence[str]) -> str | None:
    """A regex whose groups are the numbers that vary between these file names.

    Names split into text and digit runs; when they all share one template (the
    same text between the numbers), the digit runs whose values differ become the
    groups: ``["t2m_d1.nc", "t2m_d10.nc"]`` -> ``^t\\d+m_d(\\d+)\\.nc$``. Otherwise
    the last number of each name is used. None when no number varies (nothing to
    sort by)."""
    base = [os.path.basename(str(n).rstrip("/")) or str(n) for n in names]
    if len(base) < 2:
        return None
    parts = [_DIGITS.split(b) for b in base]
    shapes = {tuple(p[0::2]) for p in parts}
    if len(shapes) == 1 and len(parts[0]) > 1:
        template = parts[0]
        varying = {i for i in range(1, len(template), 2) if len({int(p[i]) for p in parts}) > 1}
        if varying:
            out = [re.escape(t) if i % 2 == 0 else ("(\\d+)" if i in varying else "\\d+")
                   for i, t in enumerate(template)]
            return "^" + "".join(out) + "$"
        return None
    last = [_DIGITS.findall(b) for b in base]
    if all(last) and len({int(x[-1]) for x in last}) > 1:
        return r"(\d+)(?=\D*$)"
    return None


def _describe_key(key: Any) -> str:
    if isinstance(key, tuple) and key and all(isinstance(k, tuple) and len(k) == 3 for k in key):
        return ", ".join(k[2] if k[2] else (f"{k[1]:g}" if k[0] == 0 else "none") for k in key)
    if isinstance(key, tuple) and len(key) == 2 and key[0] in (0, 1):
        return "no values" if key[0] else (f"{key[1]:g}" if isinstance(key[1], float) else str(key[1]))
    return str(key)


def _ties(dsets, keys, idx, how: str, strict: bool) -> None:
    """Warn (or raise with ``strict``) about files whose sort keys are equal."""
    groups: list[list[int]] = []
    for a, b in zip(idx, idx[1:]):
        if keys[a] == keys[b]:
            if groups and groups[-1][-1] == a:
                groups[-1].append(b)
            else:
                groups.append([a, b])
    if not groups:
        return
    if strict:
        a, b = groups[0][:2]
        raise VZError(
            f"{dataset_label(dsets[a])} and {dataset_label(dsets[b])} have the same sort key; duplicate files?"
        )
    n = sum(len(g) for g in groups)
    first = groups[0]
    names = ", ".join(os.path.basename(_path_of(dsets[i])) or dataset_label(dsets[i]) for i in first[:3])
    more = f" (+{len(first) - 3} more)" if len(first) > 3 else ""
    if n == len(dsets) and len(groups) == 1:
        head = f"all {n} files have the same sort key ({_describe_key(keys[first[0]])}) {how}"
    else:
        head = (f"{n} of {len(dsets)} files share a sort key {how}: {names}{more} all have "
                f"{_describe_key(keys[first[0]])}" + (f"; +{len(groups) - 1} more groups" if len(groups) > 1 else ""))
    warnings.warn(f"{head}; their order is left as given", TiedSortKeysWarning, stacklevel=3)


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
    reader: CoordinateReader | None = None,
) -> VDatasetList:
    """Return the datasets in order.

    - ``by="time"`` (or ``dim="time"``): by the first value of that coordinate,
      CF-decoded (units and reference dates may differ per file; calendars must
      agree). ``by="path"`` sorts by file path.
    - ``pattern=r"_(\\d{8})\\.nc"``: by the regex groups matched in each file name
      (numbers compare as numbers).
    - ``attr="start_date"``: by a global attribute.
    - ``order=[2, 0, 1]`` (positions) or a list of paths / file names.

    The sort is stable. Equal keys (e.g. two files starting at the same time, or a
    pattern matching the same number in every name) keep the order given and
    raise a :class:`TiedSortKeysWarning` naming the files; with ``strict=True``
    they raise :class:`VZError`.

    ``reader``: how coordinate values are read (a
    :class:`~vz_jupyter.core.values.CoordinateReader`; default: a new one for
    this call, reading through the read-plan executor).
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
        keys = _attr_keys(dsets, attr)
    elif by in ("path", "name", "filename"):
        keys = [_path_of(ds) for ds in dsets]
    else:
        keys = _coordinate_keys(dsets, by, reader if reader is not None else CoordinateReader())
    idx = sorted(range(len(dsets)), key=lambda i: keys[i], reverse=reverse)
    how = (f"(pattern {pattern!r})" if pattern is not None else f"(attribute {attr!r})" if attr is not None
           else "(path)" if by in ("path", "name", "filename") else f"(first {by!r} value)")
    _ties(dsets, keys, idx, how, strict)
    return VDatasetList(dsets[i] for i in idx)


def _attr_keys(dsets: list[VDataset], attr: str) -> list[Any]:
    """Sort keys from a global attribute (numbers in it compare as numbers)."""
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
    return keys


def _coordinate_keys(dsets: list[VDataset], by: str, reader: CoordinateReader) -> list[Any]:
    """Sort keys from the first CF-decoded value of coordinate ``by`` (empty
    ones last); the files' calendars must agree."""
    keys: list[Any] = []
    calendars = set()
    for ds in dsets:
        vals, cal = coordinate_seconds(ds, by, reader)
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
    return keys


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
