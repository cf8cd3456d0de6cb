"""Selections: parse ``"air[0:10, 5:20, 3]"`` and normalise index objects.

A selection is *orthogonal* (like ``xarray.Dataset.isel`` or zarr's ``oindex``):
each dimension is indexed independently by an int, a slice (any step, negative
bounds), ``Ellipsis`` (fills the dims not named), a 1-D integer array or a 1-D
boolean array. Integer indices drop their dimension; arrays keep it.

Strings accepted by :func:`parse_selection`::

    air                      whole variable
    air[0:10, 5:20, 3]       positional
    air[..., -1]             Ellipsis
    air[::-2, [1, 5, 2], :]  steps and integer lists
    air[time=0:10, lat=3]    by dimension name (others are taken whole)

Everything is parsed with :mod:`ast` from literals only; nothing is evaluated.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SelectionError


@dataclass(frozen=True)
class DimSel:
    """One dimension of a normalised selection.

    ``kind`` is ``"int"`` (dimension dropped), ``"slice"`` (``start``, ``step``,
    ``n`` elements; ``start`` is a valid index when ``n > 0``) or ``"array"``
    (``indices``, non-negative, in output order, duplicates allowed).
    """

    kind: str
    size: int
    start: int = 0
    step: int = 1
    n: int = 0
    indices: np.ndarray | None = None

    @property
    def dropped(self) -> bool:
        return self.kind == "int"

    @property
    def out_len(self) -> int:
        if self.kind == "int":
            return 1
        if self.kind == "slice":
            return self.n
        return int(len(self.indices))

    def as_indices(self) -> np.ndarray:
        """All selected indices along this dim, in output order (int64)."""
        if self.kind == "int":
            return np.array([self.start], dtype=np.int64)
        if self.kind == "slice":
            return self.start + self.step * np.arange(self.n, dtype=np.int64)
        return self.indices

    def to_key(self):
        """A numpy index equivalent to this selection along one axis."""
        if self.kind == "int":
            return self.start
        if self.kind == "slice":
            if self.n == 0:
                return slice(0, 0)
            stop = self.start + self.step * self.n
            if stop < 0:
                stop = None
            return slice(self.start, stop, self.step)
        return self.indices

    def is_full(self) -> bool:
        return self.kind == "slice" and self.step == 1 and self.start == 0 and self.n == self.size

    def describe(self) -> str:
        if self.kind == "int":
            return str(self.start)
        if self.kind == "slice":
            if self.is_full():
                return ":"
            if self.n == 0:
                return f"{self.start}:{self.start}"
            stop = self.start + self.step * self.n
            s = f"{self.start}:{stop if stop >= 0 else ''}"
            if self.step != 1:
                s += f":{self.step}"
            return s
        idx = self.indices
        if len(idx) <= 6:
            return "[" + ", ".join(str(int(i)) for i in idx) + "]"
        return f"[{', '.join(str(int(i)) for i in idx[:3])}, … {len(idx)} indices]"


def normalize_dim(key: Any, size: int, dim: str = "") -> DimSel:
    """Normalise one per-dimension key against a dimension of length ``size``."""
    label = f"dimension {dim!r}" if dim else "a dimension"
    if isinstance(key, (bool, np.bool_)):
        raise SelectionError(f"a single boolean is not an index for {label}; use a boolean array")
    if isinstance(key, (int, np.integer)):
        i = int(key)
        if i < -size or i >= size:
            raise SelectionError(f"index {i} is out of range for {label} of length {size}")
        return DimSel("int", size, start=i % size if size else 0)
    if isinstance(key, slice):
        for part in (key.start, key.stop, key.step):
            if part is not None and not isinstance(part, (int, np.integer)):
                raise SelectionError(f"slice bounds must be integers, got {key!r} for {label}")
        if key.step == 0:
            raise SelectionError(f"slice step cannot be zero ({label})")
        start, stop, step = key.indices(size)
        n = len(range(start, stop, step))
        return DimSel("slice", size, start=start if n else 0, step=step, n=n)
    if key is None:
        raise SelectionError(f"None (newaxis) is not supported in a read plan ({label})")
    arr = np.asarray(key)
    if arr.ndim != 1:
        raise SelectionError(f"array indices must be 1-D, got {arr.ndim}-D for {label}")
    if arr.dtype == bool:
        if len(arr) != size:
            raise SelectionError(f"boolean index of length {len(arr)} does not match {label} of length {size}")
        return DimSel("array", size, indices=np.flatnonzero(arr).astype(np.int64))
    if arr.size == 0:
        return DimSel("array", size, indices=np.zeros(0, dtype=np.int64))
    if arr.dtype.kind not in "iu":
        raise SelectionError(f"array indices must be integers or booleans, got dtype {arr.dtype} for {label}")
    idx = arr.astype(np.int64)
    bad = (idx < -size) | (idx >= size)
    if bad.any():
        raise SelectionError(f"index {int(idx[bad][0])} is out of range for {label} of length {size}")
    idx = np.where(idx < 0, idx + size, idx)
    return DimSel("array", size, indices=idx)


def normalize_selection(key: Any, shape: Sequence[int], dims: Sequence[str] = ()) -> tuple[DimSel, ...]:
    """Expand ``key`` (tuple/int/slice/array/Ellipsis/dict of dim name -> key)
    to one :class:`DimSel` per dimension."""
    shape = tuple(int(s) for s in shape)
    dims = tuple(dims) or tuple(f"dim_{i}" for i in range(len(shape)))
    if isinstance(key, dict):
        unknown = [k for k in key if k not in dims]
        if unknown:
            raise SelectionError(f"unknown dimension {unknown[0]!r}; dimensions are: {', '.join(dims) or '(none)'}")
        key = tuple(key.get(d, slice(None)) for d in dims)
    if not isinstance(key, tuple):
        key = (key,)
    n_ell = sum(1 for k in key if k is Ellipsis)
    if n_ell > 1:
        raise SelectionError("only one Ellipsis (...) is allowed in a selection")
    if n_ell:
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        fill = len(shape) - (len(key) - 1)
        if fill < 0:
            raise SelectionError(f"too many indices ({len(key) - 1}) for {len(shape)} dimensions")
        key = key[:i] + (slice(None),) * fill + key[i + 1:]
    if len(key) > len(shape):
        raise SelectionError(f"too many indices ({len(key)}) for {len(shape)} dimension(s) {tuple(dims)}")
    key = key + (slice(None),) * (len(shape) - len(key))
    return tuple(normalize_dim(k, s, d) for k, s, d in zip(key, shape, dims))


# ---------------------------------------------------------------------------
# string parsing

#: characters of one index in a selection string (a list of indices included)
MAX_SELECTION_TEXT = 1 << 20


def _short(v, n: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= n else r[: n - 1] + "…"


_NAME_KEY = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*=(?!=)\s*(.*)$", re.S)


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                raise SelectionError(f"unbalanced brackets in selection {_short(text)}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise SelectionError(f"unbalanced brackets in selection {_short(text)}")
    parts.append("".join(cur))
    return parts


def _literal(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            return Ellipsis
        if node.value is None:
            return None
        if isinstance(node.value, bool):
            return node.value
        if isinstance(node.value, int):
            return node.value
        raise SelectionError(f"{_short(node.value)} is not an index in selection {_short(text)}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, text)
        if not isinstance(v, int) or isinstance(v, bool):
            raise SelectionError(f"bad index in selection {_short(text)}")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Slice):
        parts = [None if p is None else _literal(p, text) for p in (node.lower, node.upper, node.step)]
        for p in parts:
            if p is not None and (not isinstance(p, int) or isinstance(p, bool)):
                raise SelectionError(f"slice bounds must be integers in selection {_short(text)}")
        return slice(*parts)
    if isinstance(node, (ast.List, ast.Tuple)):
        vals = [_literal(e, text) for e in node.elts]
        if any(isinstance(v, (slice, list, np.ndarray)) or v is Ellipsis or v is None for v in vals):
            raise SelectionError(f"a list index may hold only integers or booleans in selection {_short(text)}")
        if vals and all(isinstance(v, bool) for v in vals):
            return np.array(vals, dtype=bool)
        if any(isinstance(v, bool) for v in vals):
            raise SelectionError(f"a list index mixes booleans and integers in selection {_short(text)}")
        big = next((v for v in vals if not -(1 << 63) <= v < (1 << 63)), None)
        if big is not None:
            raise SelectionError(f"index {_short(big)} is out of range in selection {_short(text)}")
        return np.array(vals, dtype=np.int64)
    raise SelectionError(f"cannot understand {_short(ast.unparse(node))} in selection {_short(text)} (use ints, slices, ..., lists)")


def _parse_item(item: str, text: str) -> Any:
    item = item.strip()
    if not item:
        raise SelectionError(f"empty index in selection {_short(text)}")
    if len(item) > MAX_SELECTION_TEXT:
        raise SelectionError(f"index of {len(item):,} characters is too long (at most {MAX_SELECTION_TEXT:,})")
    try:
        tree = ast.parse(f"_[{item}]", mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SelectionError(f"cannot parse {_short(item)} in selection {_short(text)}") from None
    sub = tree.body
    if not isinstance(sub, ast.Subscript) or isinstance(sub.value, ast.Subscript) or not (
            isinstance(sub.value, ast.Name) and sub.value.id == "_"):
        raise SelectionError(f"cannot parse {_short(item)} in selection {_short(text)}")
    try:
        return _literal(sub.slice, text)
    except RecursionError:
        raise SelectionError(f"index {_short(item)} is nested too deeply") from None


def parse_selection(text: str) -> tuple[str, Any]:
    """``"air[0:10, 5:20, 3]"`` -> ``("air", (slice(0, 10), slice(5, 20), 3))``.

    Named form ``"air[time=0:10]"`` returns a dict ``{"time": slice(0, 10)}``;
    a bare name returns ``(name, ())`` (the whole variable).
    """
    s = str(text).strip()
    if not s:
        raise SelectionError("empty selection; write e.g. air[0:10, :, 5]")
    if "[" not in s:
        if "]" in s:
            raise SelectionError(f"unbalanced brackets in selection {_short(text)}")
        return s, ()
    i = s.index("[")
    name = s[:i].strip()
    if not s.endswith("]"):
        raise SelectionError(f"selection {_short(text)} must end with ']'")
    if not name:
        raise SelectionError(f"selection {_short(text)} names no variable; write e.g. air[0:10]")
    inner = s[i + 1:-1]
    if not inner.strip():
        return name, ()
    parts = _split_top(inner)
    named = [_NAME_KEY.match(p) for p in parts]
    if any(named):
        if not all(named):
            raise SelectionError(f"selection {_short(text)} mixes positional and name=value indices")
        out = {}
        for m in named:
            dim, item = m.group(1), m.group(2)
            if dim in out:
                raise SelectionError(f"dimension {dim!r} given twice in selection {_short(text)}")
            out[dim] = _parse_item(item, text)
        return name, out
    return name, tuple(_parse_item(p, text) for p in parts)


def format_selection(name: str, sel: Sequence[DimSel]) -> str:
    """A canonical string for a normalised selection (``air[0:10, 5, :]``)."""
    if not sel:
        return name
    return f"{name}[{', '.join(d.describe() for d in sel)}]"
