"""The shared pieces of an archive opened for appending (see :mod:`.archive`).

The :class:`Archive` record and :class:`VarChange`, the check *view* of an
archive's variables (:func:`view_of`: variables along the dim whole when they
are inlined and small, else their last chunk row, :func:`tail`), referenced
paths made comparable (:func:`norm_path`) and the chunk-grid arithmetic the
writers share. :mod:`.archive` (which recognises and opens an archive) and the
format readers and writers in :mod:`.serialize` all import this module, and it
imports none of them: no import cycle.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cf import inline_values_var
from .check.limits import fully_inline
from .errors import VZError, WriteError
from .model import Manifest, Source, VArray, VDataset
from .serialize.outputs import describe
from .urls import has_scheme, strip_file_scheme
from .values import CoordinateReader

#: inlined variables along the dim up to this size are rewritten whole by an append
WHOLE_MAX_BYTES = 64 * 2**20

FORMAT_LABELS = {
    "kerchunk-json": "kerchunk JSON references",
    "kerchunk-parquet": "kerchunk parquet references",
    "icechunk": "an Icechunk repository",
}


@dataclass(frozen=True, eq=False)
class VarChange:
    """What an append does to one variable.

    ``kind``: ``"rows"`` adds chunk rows along ``axis`` starting at chunk row
    ``row0`` (``var`` is the added part only: its shape is the added extent,
    its manifest the new chunk rows); ``"whole"`` rewrites the variable
    (``var`` is complete); ``"add"`` adds a variable the archive lacks.
    ``shape`` is the variable's full shape afterwards.
    """

    name: str
    kind: str
    var: VArray
    shape: tuple[int, ...]
    axis: int | None = None
    row0: int = 0


@dataclass(eq=False)
class Archive:
    """An archive opened for checking or appending (see the module doc)."""

    target: str  # as the user gave it
    path: str  # resolved
    format: str
    dim: str
    view: VDataset
    #: full shapes of the archive's variables (the view holds tails of some)
    shapes: dict[str, tuple[int, ...]]
    #: along-dim variables given whole (inlined, rewritten whole by an append)
    whole: frozenset[str]
    #: along-dim variables given as their last chunk row
    tails: frozenset[str]
    #: the archive's full variables where they were read whole (JSON), else the view's
    full: Mapping[str, VArray]
    #: source paths the archive references (normalised, not resolved through links);
    #: a callable returning them when they are costly to list (read on first use)
    paths_of: Any
    #: identity of the locked version (None without a lock)
    fingerprint: Any = None
    #: format-specific state for the writer (parsed JSON, .zmetadata, Icechunk session, ...)
    payload: dict = field(default_factory=dict)
    _fd: int | None = None

    @property
    def paths(self) -> frozenset:
        """Source paths the archive references (listed on first use)."""
        if callable(self.paths_of):
            self.paths_of = frozenset(self.paths_of())
        return self.paths_of

    @property
    def label(self) -> str:
        return self.view.sources[0].path

    @property
    def length(self) -> int | None:
        """The archive's extent along ``dim`` (None when no variable has it)."""
        for name, shape in self.shapes.items():
            v = self.view.variables[name]
            if self.dim in v.dims:
                return shape[v.dims.index(self.dim)]
        return None

    def close(self) -> None:
        """Release the lock (and any Icechunk session)."""
        self.payload.pop("session", None)
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def not_archive(shown: str, path: str, fmt: str) -> WriteError:
    """The one-line refusal of something at ``path`` that is not an archive of ``fmt``."""
    return WriteError(f"{shown}: not an archive to append to: it is {describe(path)}, not {FORMAT_LABELS[fmt]}")




# -- views ----------------------------------------------------------------------------
def can_rewrite_whole(var: VArray) -> bool:
    """An inlined variable along the dim that an append decodes and rewrites whole."""
    return (fully_inline(var) and var.dtype.kind not in "OUSV" and var.dtype.fields is None
            and var.nbytes <= WHOLE_MAX_BYTES)


def raw_inline(var: VArray, reader: CoordinateReader | None = None) -> VArray:
    """``var`` decoded and held as one raw inlined chunk in native byte order
    (its stored values, CF attributes kept). Reads only what is inlined unless
    the variable has references; ``reader`` (default: a new one) reads them."""
    reader = reader if reader is not None else CoordinateReader()
    values = reader.read(var, max_bytes=max(WHOLE_MAX_BYTES, var.nbytes))
    if values.dtype.byteorder not in "=|":
        values = values.astype(values.dtype.newbyteorder("="))
    return inline_values_var(var, values)


def tail(var: VArray, axis: int) -> VArray:
    """The last chunk row of ``var`` along ``axis`` (shape: what that row holds)."""
    m = var.manifest
    g = m.grid
    if g[axis] == 0:
        return var
    r = g[axis] - 1
    sl = tuple(slice(r, r + 1) if k == axis else slice(None) for k in range(len(g)))
    pid, off, ln = (np.array(a[sl]) for a in (m.path_id, m.offset, m.length))
    inline: dict[int, bytes] = {}
    if m.inline:
        keys = np.fromiter(m.inline.keys(), dtype=np.int64)
        idx = np.array(np.unravel_index(keys, g))
        keep = idx[axis] == r
        if keep.any():
            idx = idx[:, keep]
            idx[axis] = 0
            tg = tuple(1 if k == axis else n for k, n in enumerate(g))
            for k, new in zip(keys[keep].tolist(), np.ravel_multi_index(tuple(idx), tg).tolist()):
                inline[new] = m.inline[k]
    shape = list(var.shape)
    shape[axis] = var.shape[axis] - r * var.chunks[axis]
    return var.replace(shape=tuple(shape), manifest=Manifest(m.paths, pid, off, ln, inline).compact_paths())


def view_of(variables: Mapping[str, VArray], dim: str, *, attrs, coords, label: str, fmt: str,
            skipped=(), tails_given: frozenset = frozenset()) -> tuple[VDataset, frozenset, frozenset]:
    """The check view of an archive's variables (see the module doc); returns
    ``(view, whole, tails)``. ``tails_given``: variables already given as tails."""
    out: dict[str, VArray] = {}
    whole, tails = set(), set()
    for name, v in variables.items():
        if dim not in v.dims:
            out[name] = v
            continue
        axis = v.dims.index(dim)
        if name not in tails_given and can_rewrite_whole(v):
            try:
                out[name] = raw_inline(v)
                whole.add(name)
                continue
            except VZError:
                pass  # not decodable here: appended by chunk rows like the rest
        out[name] = v if name in tails_given else tail(v, axis)
        tails.add(name)
    view = VDataset(out, attrs=dict(attrs), coords=tuple(coords),
                    sources=(Source(label, format=FORMAT_LABELS[fmt]),), skipped=tuple(skipped))
    return view, frozenset(whole), frozenset(tails)


def norm_path(p: str, base: str | None = None) -> str:
    """A referenced path as a comparable local path (``file://`` stripped,
    relative paths joined to ``base``, normalised; links not resolved)."""
    p = str(p)
    if p[:1] == "/" and "/." not in p and "//" not in p and p[-1:] != "/":
        return p  # already absolute and normal (what vz writes): the common case, kept fast
    p = strip_file_scheme(p)
    if has_scheme(p):
        return p
    p = os.path.expanduser(p)
    if not os.path.isabs(p) and base is not None:
        p = os.path.join(base, p)
    return os.path.normpath(os.path.abspath(p))


# -- small shared helpers for the writers --------------------------------------------------
def leading_layout(grid: tuple[int, ...], axis: int) -> bool:
    """True when adding chunk rows along ``axis`` keeps the C-order numbers of
    the existing chunks (every axis before it has one chunk)."""
    return all(g == 1 for g in grid[:axis])


def new_flat_numbers(rows: Manifest, grid_after: tuple[int, ...], axis: int, row0: int) -> np.ndarray:
    """C-order chunk numbers, in the grown grid, of the chunks of ``rows``
    (the added chunk rows, starting at chunk row ``row0``)."""
    g = rows.grid
    n = int(np.prod(g, dtype=np.int64)) if g else 1
    idx = np.array(np.unravel_index(np.arange(n, dtype=np.int64), g)) if g else np.zeros((0, 1), np.int64)
    if g:
        idx[axis] += row0
        return np.ravel_multi_index(tuple(idx), grid_after).astype(np.int64)
    return np.zeros(1, dtype=np.int64)


def grid_of(shape, chunks) -> tuple[int, ...]:
    return tuple(math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks))


__all__ = ["Archive", "VarChange", "view_of", "tail", "raw_inline", "can_rewrite_whole", "norm_path",
           "leading_layout", "new_flat_numbers", "grid_of", "WHOLE_MAX_BYTES", "FORMAT_LABELS",
           "not_archive"]
