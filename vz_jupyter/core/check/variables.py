"""Rules on variables and attributes: the same file given twice, variables
missing from some files, attribute drift, and the values of variables taken
once from the first file (``lat``, ``lon``, static fields), compared between
files when they can be had cheaply."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..cf import convert_time, time_encoding
from ..model import VArray
from .context import Context
from .groups import Groups, all_alike, attrs_sig, base, in_files, name_files

Items = list[tuple[int, VArray]]


def same_file_twice(cx: Context) -> None:
    """One file given more than once (remembered in ``cx.twice``: the
    coordinate rules do not report it again as repeated values)."""
    if cx.kind == "merge":
        return
    seen: dict[str, int] = {}
    twice = []
    for i, ds in enumerate(cx.dsets):
        if len(ds.sources) != 1:
            continue
        p = ds.sources[0].path
        if p in seen:
            twice.append(i)
        else:
            seen[p] = i
    cx.twice.update(twice)
    if twice:
        files = [cx.labels[i] for i in twice]
        cx.add("error", "duplicate",
               f"the same file is given more than once: {name_files(files)}",
               None, files, fix=f"remove the repeated entr{'y' if len(files) == 1 else 'ies'}")


def presence(cx: Context, name: str, along: bool) -> list[int]:
    """Positions of the datasets that have ``name``; the others are named (an
    error for a variable along the combine dim, else a warning)."""
    D = cx.dsets
    have = [i for i, ds in enumerate(D) if name in ds.variables]
    if len(have) < len(D):
        missing = [cx.labels[i] for i in range(len(D)) if name not in D[i].variables]
        consequence = ("a variable along the combine dimension must be in every file"
                       if along else "it is taken from the files that have it")
        cx.add(
            "error" if along else "warning", "missing-variable",
            f"variable {name!r} is missing {in_files(len(missing), missing)} "
            f"(present in {len(have)} of {len(D)}); {consequence}",
            name, missing,
            fix=f"exclude {name_files(missing)} or leave the variable out: drop_variables=[{name!r}]",
        )
    return have


def compare_attrs(cx: Context, name: str | None, items: list[tuple[int, Mapping]], skip: set[str]) -> None:
    """Attributes (of a variable, or global with ``name`` None) that differ
    between files, ``skip`` aside: an info, the first file's are kept."""
    if all_alike([attrs_sig(a) for _, a in items]):
        return
    keys: dict[str, None] = {}
    for _, a in items:
        for k in a:
            if k not in skip:
                keys.setdefault(k, None)
    drift = []
    files: dict[str, None] = {}
    for k in keys:
        g = Groups([(i, a.get(k, "(absent)")) for i, a in items], cx.labels)
        if g.differ:
            drift.append(k)
            for f in g.odd_files():
                files.setdefault(f, None)
    if drift:
        where = f"attributes of {name!r}" if name else "global attributes"
        shown = ", ".join(repr(k) for k in drift[:6]) + (f" and {len(drift) - 6} more" if len(drift) > 6 else "")
        cx.add("info", "attrs",
               f"{where} differ between files ({shown}); the first file's values are kept",
               name, list(files))


def _manifest_fingerprint(var: VArray) -> Any:
    """Equal fingerprints mean equal stored values (inlined-only manifests with
    the same bytes and codecs); None when the chunks are referenced."""
    m = var.manifest
    if m.n_inline + m.n_missing != m.n_chunks:
        return None
    return (var.dtype.str, var.shape, repr(var.codecs), m.path_id.tobytes(), tuple(m.inline.items()))


def _value_key(var: VArray, vals: np.ndarray, enc0: tuple[str, str] | None) -> tuple:
    """What equal values share: shape and bytes, floats NaN-normalised; times
    re-expressed in ``enc0``'s units first when given (same calendar)."""
    if enc0:
        enc = time_encoding(var.attrs)
        if enc and enc[1] == enc0[1]:
            vals = np.round(convert_time(vals, enc[0], enc[1], enc0[0]), 6)
    vals = np.asarray(vals)
    if vals.dtype.kind in "fc":
        vals = np.where(np.isnan(vals), np.nan, vals + 0).astype(np.complex128 if vals.dtype.kind == "c" else np.float64)
    return (vals.shape, np.ascontiguousarray(vals).tobytes())


def _keyed(cx: Context, items: Items, ref: np.ndarray, enc0, fps: list, memo: bool) -> list[tuple[int, tuple]]:
    """``(position, value key)`` of every file whose values could be had; with
    ``memo``, files with the same inlined manifest as one already keyed are not
    decoded again."""
    first_i, first = items[0]
    keyed = [(first_i, _value_key(first, ref, enc0))]
    by_fp = {} if fps[0] is None or not memo else {fps[0]: keyed[0][1]}
    for (i, v), fp in zip(items[1:], fps[1:]):
        if fp is not None and fp in by_fp:
            keyed.append((i, by_fp[fp]))
            continue
        vals = cx.values_of(v, cx.compare_bytes, i)
        if vals is None:
            continue
        keyed.append((i, _value_key(v, vals, enc0)))
        if fp is not None and memo:
            by_fp[fp] = keyed[-1][1]
    return keyed


def compare_values(cx: Context, name: str, items: Items, *, coord: bool, decoded_time: bool = False) -> None:
    """Values of a variable that is taken once (not along the combine dim):
    an error for a coordinate that differs, a warning for other variables.
    ``decoded_time``: compare times decoded (their units differ)."""
    L = cx.labels
    first_i, first = items[0]
    fps = [_manifest_fingerprint(v) for _, v in items]
    if not decoded_time and fps[0] is not None and all_alike(fps):
        return
    if not decoded_time and fps[0] is None and all(
            v.manifest.equals(first.manifest) and v.codecs == first.codecs for _, v in items[1:]):
        return
    ref = cx.values_of(first, cx.compare_bytes, first_i)
    if ref is None:
        cx.add("info", "not-compared",
               f"values of {name!r} were not compared between files ({first.nbytes} bytes, not inlined); "
               "the first file's are used", name, [])
        return
    enc0 = time_encoding(first.attrs) if decoded_time else None
    g = Groups(_keyed(cx, items, ref, enc0, fps, memo=not decoded_time), L)
    odd = g.odd_files() if g.differ else []
    if not odd:
        return
    ref_label = L[g.groups[g.ref][0]]
    what = "coordinate" if coord else "variable"
    along = f" (not along {cx.dim!r})" if cx.dim and cx.kind == "concat" else ""
    cx.add("error" if coord else "warning", "coord-values" if coord else "values-differ",
           f"{what} {name!r}{along} has different values {in_files(len(odd), odd)} than in {base(ref_label)}"
           + ("" if coord else "; the first file's values are kept"),
           name, odd,
           fix="files on different grids cannot be combined: exclude them or regrid" if coord
           else f"check whether {name!r} should be combined along {cx.dim!r}, or exclude the odd files")
