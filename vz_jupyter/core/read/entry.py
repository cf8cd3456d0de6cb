"""One touched chunk of a read plan (:class:`PlanEntry`), and building them from a manifest.

:func:`plan_entries` projects a normalised selection onto a variable's chunk
grid and reads the manifest columns of every touched chunk at once: one entry
per chunk with where its bytes are (a file range, bytes inlined in the
references, or nowhere: a missing chunk reads as the fill value), which
indices inside it are selected, and where they go in the output.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..model import INLINE, MISSING, Manifest, VArray
from ..selection import DimSel
from .projection import chunk_spans, project_dim


def _is_raw(codecs: Sequence[Mapping[str, Any]]) -> bool:
    return len(codecs) == 0


@dataclass(frozen=True, eq=False, kw_only=True)
class PlanEntry:
    """One touched chunk."""

    chunk_index: tuple[int, ...]
    #: "ref" (bytes in a file), "inline" (bytes in the references) or "missing"
    kind: str
    path: str | None = None
    offset: int = 0
    length: int = 0
    #: per variable dim: int (dropped dim) or int array of indices inside the chunk
    chunk_sel: tuple[Any, ...]
    #: per output dim: slice or int array of output positions
    out_sel: tuple[Any, ...]
    #: the selection covers every valid element of the chunk (in order)
    is_complete: bool
    #: the chunk is stored without codecs, so spans can be read directly
    raw: bool
    chunk_shape: tuple[int, ...]
    itemsize: int
    inline: bytes | None = None
    #: per variable dim: the indices inside the chunk (int64 arrays, output order)
    within: tuple[np.ndarray, ...] = ()
    #: per variable dim: ``within`` is exactly the whole chunk extent (None: work it out)
    full: tuple[bool, ...] | None = None
    #: distinct selected elements in this chunk
    n_unique: int = 0

    @property
    def missing(self) -> bool:
        return self.kind == "missing"

    @property
    def inlined(self) -> bool:
        return self.kind == "inline"

    @cached_property
    def _spans(self):
        return chunk_spans(self.within, self.chunk_shape, self.itemsize, self.full)

    @property
    def span_starts(self) -> np.ndarray:
        """Byte offsets (inside the decoded chunk) of the C-order runs."""
        return self._spans[0]

    @property
    def span_lengths(self) -> np.ndarray:
        return self._spans[1]

    @property
    def spans(self) -> list[tuple[int, int]]:
        """``[(start, length), ...]`` byte runs inside the decoded chunk."""
        return list(zip(self._spans[0].tolist(), self._spans[1].tolist()))

    @property
    def n_spans(self) -> int:
        return int(len(self._spans[0]))

    @property
    def varying_dims(self) -> int:
        """How many leading dims' selection varies inside the chunk (the dims
        after them are taken whole and are part of every span)."""
        return self._spans[2]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of this chunk's block of the output (dropped dims removed)."""
        return tuple(len(w) for w, s in zip(self.within, self.chunk_sel) if not isinstance(s, (int, np.integer)))

    @property
    def n_selected(self) -> int:
        n = 1
        for w in self.within:
            n *= len(w)
        return n

    @property
    def bytes_needed(self) -> int:
        return self.n_unique * self.itemsize

    def wanted_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Absolute file byte ranges this chunk needs (empty unless kind == 'ref')."""
        if self.kind != "ref":
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if not self.raw:
            return np.array([self.offset], np.int64), np.array([self.offset + self.length], np.int64)
        s = self.span_starts + self.offset
        return s, s + self.span_lengths

    def __repr__(self) -> str:
        where = {"ref": f"{self.path} @{self.offset}+{self.length}", "inline": f"inline {self.length} B",
                 "missing": "missing (fill value)"}[self.kind]
        sel = ", ".join(str(s) if isinstance(s, (int, np.integer)) else _describe_idx(w)
                        for s, w in zip(self.chunk_sel, self.within))
        return (f"<PlanEntry chunk={self.chunk_index} {where} sel=[{sel}] "
                f"{'complete' if self.is_complete else 'partial'} spans={self.n_spans}>")


def _describe_idx(w: np.ndarray) -> str:
    if len(w) == 0:
        return "[]"
    if len(w) == 1:
        return f"{int(w[0])}:{int(w[0]) + 1}"
    d = np.diff(w)
    if np.all(d == d[0]) and d[0] != 0:
        step = int(d[0])
        stop = int(w[-1]) + (1 if step > 0 else -1)
        return f"{int(w[0])}:{stop if stop >= 0 else ''}" + (f":{step}" if step != 1 else "")
    return "[" + ", ".join(str(int(x)) for x in w[:4]) + (", …" if len(w) > 4 else "") + "]"


def _location(m: Manifest, cidx: tuple[int, ...], pid: int, offset, length) -> dict[str, Any]:
    """Where a chunk's bytes are, as PlanEntry fields."""
    if pid == MISSING:
        return {"kind": "missing"}
    if pid == INLINE:
        flat = int(np.ravel_multi_index(cidx, m.grid)) if m.grid else 0
        data = m.inline[flat]
        return {"kind": "inline", "length": len(data), "inline": data}
    return {"kind": "ref", "path": m.paths[pid], "offset": int(offset), "length": int(length)}


def plan_entries(var: VArray, sel: tuple[DimSel, ...]) -> list[PlanEntry]:
    """One :class:`PlanEntry` per chunk the selection touches, in C order of the chunk grid."""
    m = var.manifest
    same = {"raw": _is_raw(var.codecs), "itemsize": var.dtype.itemsize,
            "chunk_shape": tuple(int(c) for c in var.chunks)}
    if var.ndim == 0:
        pid = int(m.path_id[()]) if m.path_id.ndim == 0 else int(m.path_id.ravel()[0])
        where = _location(m, (), pid, m.offset[()], m.length[()])
        return [PlanEntry(chunk_index=(), chunk_sel=(), out_sel=(), is_complete=True, full=(), n_unique=1,
                          **where, **same)]
    projs = [project_dim(d, c) for d, c in zip(sel, var.chunks)]
    if any(len(p.chunk) == 0 for p in projs):
        return []
    # manifest columns for every touched chunk at once
    ix = np.ix_(*[np.asarray(p.chunk, dtype=np.intp) for p in projs])
    pids = m.path_id[ix].ravel().tolist()
    offs = m.offset[ix].ravel().tolist()
    lens = m.length[ix].ravel().tolist()
    dropped = [p.sel.dropped for p in projs]
    out: list[PlanEntry] = []
    for n, combo in enumerate(np.ndindex(*(len(p.chunk) for p in projs))):
        cidx = tuple(int(p.chunk[i]) for p, i in zip(projs, combo))
        within = tuple(p.within[i] for p, i in zip(projs, combo))
        n_unique = 1
        for p, i in zip(projs, combo):
            n_unique *= p.n_unique[i]
        out.append(PlanEntry(
            chunk_index=cidx,
            chunk_sel=tuple(int(w[0]) if dr else w for dr, w in zip(dropped, within)),
            out_sel=tuple(p.out[i] for p, i, dr in zip(projs, combo, dropped) if not dr),
            is_complete=all(p.complete[i] for p, i in zip(projs, combo)),
            within=within,
            full=tuple(p.full[i] for p, i in zip(projs, combo)),
            n_unique=n_unique,
            **_location(m, cidx, pids[n], offs[n], lens[n]),
            **same,
        ))
    return out
