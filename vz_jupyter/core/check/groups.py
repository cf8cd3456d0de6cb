"""Values grouped by file, and the words findings use for them.

A rule collects one value per file (a dtype, a codec pipeline, ``_FillValue``)
and asks :class:`Groups` whether they differ, which files are the odd ones and
how to say it ("float32 in 3 files (a.nc, b.nc and 1 more); float64 in c.nc").
The signatures (:func:`var_sig`, :func:`attrs_sig`) spot files that are all
alike cheaply, so the detailed rules run only where something differs.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ..model import VArray


def base(p: str) -> str:
    return os.path.basename(p.rstrip("/")) or p


_SIMPLE = (str, int, bool, type(None))


def hkey(v: Any) -> Any:
    """A hashable, NaN-aware key for comparing attribute values."""
    t = type(v)
    if t in _SIMPLE:
        return v
    if t is float or isinstance(v, np.floating):
        v = float(v)
        if v != v:
            return ("nan",)
        if v == int(v) and abs(v) < 2**53:
            return int(v)  # 1.0 == 1 across dtypes
        return v
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return hkey(v[()])
        if v.dtype.kind in "fc":
            return ("arr", tuple(hkey(x) for x in v.ravel().tolist()))
        return ("arr", tuple(v.ravel().tolist()))
    if t is tuple or t is list:
        return ("seq", tuple(hkey(x) for x in v))
    if t is dict or t is MappingProxyType or isinstance(v, Mapping):
        return ("map", tuple(sorted((str(k), hkey(x)) for k, x in v.items())))
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return hkey(v.item())
    if isinstance(v, tuple):
        return ("seq", tuple(hkey(x) for x in v))
    return v


def stand_in(x: Any) -> Any:
    """A cheap hashable stand-in for a value, used only to spot files that are
    all alike (a false "different" just takes the detailed path)."""
    t = type(x)
    if t in _SIMPLE or t is float:
        return x
    if isinstance(x, np.generic):
        return (x.dtype.str, x.tobytes())
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    return repr(x)


def attrs_sig(attrs: Mapping) -> tuple:
    return tuple((k, stand_in(x)) for k, x in attrs.items())


def var_sig(v: VArray, axis: int | None) -> tuple:
    if axis is None:
        chunks, shape = v.chunks, v.shape
    else:
        chunks, shape = v.chunks[:axis] + v.chunks[axis + 1:], v.shape[:axis] + v.shape[axis + 1:]
    return (
        v.dims, v.dtype.str, tuple(tuple(c.items()) for c in v.codecs),
        chunks, shape, stand_in(v.fill_value), attrs_sig(v.attrs),
    )


def all_alike(sigs: Sequence[Any]) -> bool:
    try:
        return len(set(sigs)) <= 1
    except TypeError:  # something unhashable: check in detail
        return False


def fmt(v: Any, n: int = 60) -> str:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bytes, np.bytes_)):
        v = bytes(v).decode("utf-8", "replace")
    s = repr(v) if isinstance(v, str) else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def name_files(paths: Sequence[str], limit: int = 3) -> str:
    names = [base(p) for p in paths]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def in_files(count: int, paths: Sequence[str]) -> str:
    if count == 1:
        return f"in {base(paths[0])}"
    return f"in {count} files ({name_files(paths, 2)})"


class Groups:
    """Values grouped by file; the most common value (ties: the first seen) is
    the reference, the others are the odd files."""

    def __init__(self, items: Sequence[tuple[int, Any]], labels: Sequence[str]):
        self.groups: dict[Any, list[int]] = {}
        self.shown: dict[Any, Any] = {}
        for i, v in items:
            k = hkey(v)
            self.groups.setdefault(k, []).append(i)
            self.shown.setdefault(k, v)
        self.labels = labels
        counts = Counter({k: len(v) for k, v in self.groups.items()})
        top = max(counts.values()) if counts else 0
        self.ref = next((k for k in self.groups if counts[k] == top), None)

    @property
    def differ(self) -> bool:
        return len(self.groups) > 1

    def odd_files(self) -> list[str]:
        return [self.labels[i] for k, idx in self.groups.items() if k != self.ref for i in idx]

    def describe(self, show=fmt) -> str:
        """Each value (``show`` formats it) and the files holding it, the reference first."""
        parts = []
        for k, idx in sorted(self.groups.items(), key=lambda kv: (kv[0] != self.ref, -len(kv[1]))):
            parts.append(f"{show(self.shown[k])} {in_files(len(idx), [self.labels[i] for i in idx])}")
            if len(parts) == 4 and len(self.groups) > 4:
                parts.append(f"{len(self.groups) - 4} other values")
                break
        return "; ".join(parts)
