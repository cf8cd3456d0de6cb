"""Wanted byte ranges -> requests: union, then merges across small gaps under a waste budget.

A read plan wants byte ranges per file (whole encoded chunks; only the needed
spans of uncompressed chunks). :func:`merge_ranges` joins overlapping and
touching ranges, then reads through gaps as :class:`~vz_jupyter.core.read.options.ReadOptions`
allow; :func:`entry_requests` does it for the entries of a plan, per file, as
the file's cost model says (:mod:`vz_jupyter.core.read.cost`: span-exact for
local files, coalesced for object stores).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cost import merge_rule
from .entry import PlanEntry
from .options import DEFAULT_MAX_BLOCK, DEFAULT_MAX_GAP, DEFAULT_MAX_WASTE, ReadOptions


def merge_ranges(
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    max_gap: int = DEFAULT_MAX_GAP,
    max_block: int | None = DEFAULT_MAX_BLOCK,
    max_waste: float | None = DEFAULT_MAX_WASTE,
) -> tuple[np.ndarray, np.ndarray]:
    """Union of byte ranges, then merges across gaps.

    Overlapping and touching ranges are always joined. A gap is read through
    when it is at most ``max_gap`` bytes, the merged request stays within
    ``max_block`` bytes, and the total of read-through gap bytes stays within
    ``max_waste`` × the wanted bytes (smallest gaps first; ``None`` = no budget).
    Returns sorted ``(starts, ends)``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    # union of overlapping / touching ranges
    run_end = np.maximum.accumulate(ends)
    new = np.concatenate(([True], starts[1:] > run_end[:-1]))
    gi = np.cumsum(new) - 1
    u_starts = starts[new]
    u_ends = np.zeros(len(u_starts), dtype=np.int64)
    np.maximum.at(u_ends, gi, ends)
    if len(u_starts) == 1 or max_gap <= 0:
        return u_starts, u_ends
    wanted = int((u_ends - u_starts).sum())
    gaps = u_starts[1:] - u_ends[:-1]
    ok = gaps <= max_gap
    if max_waste is not None:
        budget = max_waste * wanted
        cand = np.flatnonzero(ok)
        order = cand[np.argsort(gaps[cand], kind="stable")]
        csum = np.cumsum(gaps[order])
        ok = np.zeros(len(gaps), dtype=bool)
        ok[order[csum <= budget]] = True
    if not ok.any():
        return u_starts, u_ends
    if max_block is None:
        brk = ~ok
        first = np.concatenate(([0], np.flatnonzero(brk) + 1))
        last = np.concatenate((np.flatnonzero(brk), [len(u_starts) - 1]))
        return u_starts[first], u_ends[last]
    out_s, out_e = [int(u_starts[0])], [int(u_ends[0])]
    us, ue, okl = u_starts.tolist(), u_ends.tolist(), ok.tolist()
    for i in range(1, len(us)):
        if okl[i - 1] and ue[i] - out_s[-1] <= max_block:
            out_e[-1] = ue[i]
        else:
            out_s.append(us[i])
            out_e.append(ue[i])
    return np.array(out_s, dtype=np.int64), np.array(out_e, dtype=np.int64)


def entry_requests(entries: Sequence[PlanEntry], options: ReadOptions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Merged byte ranges per file for some plan entries: ``{path: (starts, ends)}``,
    each file merged as its cost model says (``options.model_for(path)``)."""
    by_path: dict[str, tuple[list, list]] = {}
    for e in entries:
        if e.kind != "ref":
            continue
        s, t = e.wanted_ranges()
        a = by_path.setdefault(e.path, ([], []))
        a[0].append(s)
        a[1].append(t)
    return {p: merge_ranges(np.concatenate(s), np.concatenate(t), **merge_rule(options, options.model_for(p)))
            for p, (s, t) in by_path.items()}
