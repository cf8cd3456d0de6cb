"""A selection projected onto the chunk grid, and the byte spans it needs inside one chunk.

:func:`project_dim` says, for one dimension, which chunks a selection touches
and which indices inside each; :func:`chunk_spans` turns the indices of all
dimensions inside one chunk into C-order byte runs of the decoded chunk
(dims after the last partially selected one are whole, so every combination of
indices on the leading dims is one contiguous run).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..selection import DimSel


@dataclass(frozen=True)
class DimProjection:
    """How one dimension's selection falls onto its chunks.

    For each touched chunk ``chunk[i]``: ``within[i]`` are the indices inside
    the chunk in output order, ``out[i]`` the output positions (a slice when
    contiguous, else an int array; ``None`` for a dropped (integer-indexed) dim),
    ``full[i]`` whether ``within[i]`` is exactly ``0..chunk_size-1``,
    ``complete[i]`` whether it is exactly every valid index of that chunk
    (edge chunks are shorter), ``n_unique[i]`` the distinct indices.
    """

    sel: DimSel
    chunk_size: int
    chunk: tuple[int, ...]
    within: tuple[np.ndarray, ...]
    out: tuple[Any, ...]
    full: tuple[bool, ...] = ()
    complete: tuple[bool, ...] = ()
    n_unique: tuple[int, ...] = ()


def _as_out(pos: np.ndarray):
    if len(pos) and pos[-1] - pos[0] == len(pos) - 1 and (len(pos) < 3 or np.all(np.diff(pos) == 1)):
        return slice(int(pos[0]), int(pos[-1]) + 1)
    return pos


def _is_range(w: np.ndarray, n: int) -> bool:
    """``w`` is exactly 0, 1, ..., n-1."""
    return len(w) == n and (n == 0 or (int(w[0]) == 0 and int(w[-1]) == n - 1 and (n < 3 or bool(np.all(np.diff(w) == 1)))))


def project_dim(sel: DimSel, chunk_size: int) -> DimProjection:
    c = max(int(chunk_size), 1)
    if sel.kind == "int":
        i = sel.start
        ci = i // c
        w = np.array([i - ci * c], dtype=np.int64)
        extent = min(c, sel.size - ci * c)
        return DimProjection(sel, c, (ci,), (w,), (None,), (c == 1,), (extent == 1,), (1,))
    idx = sel.as_indices()
    if len(idx) == 0:
        return DimProjection(sel, c, (), (), ())
    cid = idx // c
    monotonic = sel.kind != "array"
    if not monotonic:
        dc = np.diff(cid)
        monotonic = bool(np.all(dc >= 0) or np.all(dc <= 0))
    if monotonic:
        # runs of equal chunk ids are contiguous in the output
        bounds = np.flatnonzero(np.diff(cid)) + 1
        starts = np.concatenate(([0], bounds)).tolist()
        ends = bounds.tolist() + [len(idx)]
        spans = sorted(zip(cid[starts].tolist(), starts, ends))
        groups = [(k, slice(a, b)) for k, a, b in spans]
    else:
        order = np.argsort(cid, kind="stable")
        sc = cid[order]
        bounds = np.flatnonzero(np.diff(sc)) + 1
        groups = [(int(cid[g[0]]), np.sort(g)) for g in np.split(order, bounds)]
    chunks, within, outs, full, complete, nuniq = [], [], [], [], [], []
    distinct = sel.kind != "array"  # slices never repeat an index
    for k, g in groups:
        w = idx[g] - k * c
        chunks.append(k)
        within.append(w)
        outs.append(g if isinstance(g, slice) else _as_out(g))
        extent = min(c, sel.size - k * c)
        is_complete = _is_range(w, extent)
        complete.append(is_complete)
        full.append(is_complete and extent == c)
        nuniq.append(len(w) if (distinct or len(w) < 2) else len(np.unique(w)))
    return DimProjection(sel, c, tuple(chunks), tuple(within), tuple(outs), tuple(full), tuple(complete),
                         tuple(nuniq))


# ---------------------------------------------------------------------------
# byte spans inside one decoded chunk


def chunk_spans(within: Sequence[np.ndarray], chunk_shape: Sequence[int], itemsize: int,
                full: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """C-order byte runs ``(starts, lengths)`` inside a decoded chunk for an
    orthogonal selection, in output order (duplicates and reversals kept, so
    concatenating the runs yields the selected values in C order).

    Also returns ``k``: the number of leading dims whose selection varies
    (dims after them are taken whole, in order, and are part of every run).
    ``full`` (optional) says per dim whether ``within`` is exactly the whole
    chunk extent ``0..chunk-1``.
    """
    chunk_shape = tuple(int(c) for c in chunk_shape)
    nd = len(chunk_shape)
    if full is None:
        full = [_is_range(w, c) for w, c in zip(within, chunk_shape)]
    k = nd
    while k > 0 and full[k - 1]:
        k -= 1
    run = 1
    for c in chunk_shape[k:]:
        run *= c
    strides = [1] * nd
    for d in range(nd - 2, -1, -1):
        strides[d] = strides[d + 1] * chunk_shape[d + 1]
    if all(len(within[d]) == 1 for d in range(k)):
        # one run (points and rows: the common case, kept out of numpy)
        start = sum(int(within[d][0]) * strides[d] for d in range(k))
        return np.array([start * itemsize], np.int64), np.array([run * itemsize], np.int64), k
    starts = np.zeros((1,) * k, dtype=np.int64)
    for d in range(k):
        shape = [1] * k
        shape[d] = -1
        starts = starts + (np.asarray(within[d], dtype=np.int64) * strides[d]).reshape(shape)
    starts = starts.ravel()
    if len(starts) > 1:
        brk = np.flatnonzero(starts[1:] != starts[:-1] + run) + 1
        first = np.concatenate(([0], brk))
        counts = np.diff(np.concatenate((first, [len(starts)])))
        starts = starts[first]
        lengths = counts * run
    else:
        lengths = np.full(len(starts), run, dtype=np.int64)
    return starts * itemsize, lengths * itemsize, k
