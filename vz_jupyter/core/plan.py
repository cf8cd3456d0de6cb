"""Read plans: what a selection will read, down to byte spans, before reading it.

``plan(target, "air[0:10, 5:20, 3]")`` projects an orthogonal selection onto the
chunk grid of one variable and returns a :class:`ReadPlan`: one
:class:`PlanEntry` per touched chunk (source, offset, length, codecs, chunk
selection, output selection, completeness, and the C-order byte spans inside the
decoded chunk), the merged byte-range requests per file, and the counts a user
wants before reading (bytes to read vs bytes needed, requests, chunks).

``ReadPlan.execute()`` reads (see :mod:`vz_jupyter.core.execute`): uncompressed
chunks fetch only their spans, merged with a gap tolerance under a waste budget;
compressed (or otherwise encoded) chunks are fetched whole and decoded.
``ReadPlan.reduce(op, axis)`` computes min/max/sum/mean/count chunk by chunk,
like active storage, and ``ReadPlan.to_reductionist()`` exports each chunk as a
Reductionist v2 request where the codecs and dtype allow.

Byte accounting
---------------
``bytes_needed``
    the selected values as stored: unique selected elements × item size.
``chunk_bytes``
    the stored size of every touched chunk (what a whole-chunk reader such as
    zarr fetches).
``bytes_to_read``
    what the executor will request after merging: only spans for uncompressed
    chunks, whole chunks otherwise, with gaps of at most ``max_gap`` bytes merged
    while the merged-in gap bytes stay within ``max_waste`` × the wanted bytes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from . import formatting
from .errors import SelectionError, VZError
from .model import INLINE, MISSING, VArray, VDataset, VDatasetList
from .selection import DimSel, format_selection, normalize_selection, parse_selection

#: gaps between wanted byte ranges up to this size may be read through
DEFAULT_MAX_GAP = 64 * 1024
#: a merge across a gap never makes a request larger than this
DEFAULT_MAX_BLOCK = 64 * 1024 * 1024
#: gap bytes read in merges stay within this fraction of the wanted bytes
DEFAULT_MAX_WASTE = 0.1


# ---------------------------------------------------------------------------
# per-dimension projection onto the chunk grid


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


# ---------------------------------------------------------------------------
# range merging


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


# ---------------------------------------------------------------------------
# plan objects


def _is_raw(codecs: Sequence[Mapping[str, Any]]) -> bool:
    return len(codecs) == 0


@dataclass(eq=False)
class PlanEntry:
    """One touched chunk."""

    chunk_index: tuple[int, ...]
    #: "ref" (bytes in a file), "inline" (bytes in the references) or "missing"
    kind: str
    path: str | None
    offset: int
    length: int
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
    _within: tuple[np.ndarray, ...] = field(default=(), repr=False)
    _full: tuple[bool, ...] | None = field(default=None, repr=False)
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
        return chunk_spans(self._within, self.chunk_shape, self.itemsize, self._full)

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
    def out_shape(self) -> tuple[int, ...]:
        """Shape of this chunk's block of the output (dropped dims removed)."""
        return tuple(len(w) for w, s in zip(self._within, self.chunk_sel) if not isinstance(s, (int, np.integer)))

    @property
    def n_selected(self) -> int:
        n = 1
        for w in self._within:
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
                        for s, w in zip(self.chunk_sel, self._within))
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


@dataclass(frozen=True)
class FileStats:
    path: str
    n_chunks: int
    n_requests: int
    bytes_to_read: int
    bytes_needed: int
    chunk_bytes: int


def entry_requests(entries: Sequence[PlanEntry], *, max_gap: int = DEFAULT_MAX_GAP,
                   max_block: int | None = DEFAULT_MAX_BLOCK,
                   max_waste: float | None = DEFAULT_MAX_WASTE) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Merged byte ranges per file for some plan entries: ``{path: (starts, ends)}``."""
    by_path: dict[str, tuple[list, list]] = {}
    for e in entries:
        if e.kind != "ref":
            continue
        s, t = e.wanted_ranges()
        a = by_path.setdefault(e.path, ([], []))
        a[0].append(s)
        a[1].append(t)
    return {p: merge_ranges(np.concatenate(s), np.concatenate(t), max_gap=max_gap, max_block=max_block,
                            max_waste=max_waste)
            for p, (s, t) in by_path.items()}


class ReadPlan:
    """The plan of one selection of one variable. See the module docstring."""

    def __init__(self, var: VArray, sel: tuple[DimSel, ...], entries: list[PlanEntry], *,
                 max_gap: int = DEFAULT_MAX_GAP, max_block: int | None = DEFAULT_MAX_BLOCK,
                 max_waste: float | None = DEFAULT_MAX_WASTE, dataset: VDataset | None = None):
        self.var = var
        self.selection = sel
        self.entries = entries
        self.max_gap = max_gap
        self.max_block = max_block
        self.max_waste = max_waste
        self.dataset = dataset
        #: statistics of the last execute()/reduce() (an ExecStats) or None
        self.last_stats = None

    # -- shape --------------------------------------------------------------
    @property
    def variable(self) -> str:
        return self.var.name

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the result of :meth:`execute`."""
        return tuple(d.out_len for d in self.selection if not d.dropped)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(n for n, d in zip(self.var.dims, self.selection) if not d.dropped)

    @property
    def dtype(self) -> np.dtype:
        """dtype of the executed array (the stored dtype in native byte order)."""
        return self.var.dtype.newbyteorder("=") if self.var.dtype.byteorder not in "|=" else self.var.dtype

    @property
    def selection_text(self) -> str:
        return format_selection(self.var.name, self.selection)

    def key(self) -> tuple:
        """The selection as a numpy index tuple (orthogonal)."""
        return tuple(d.to_key() for d in self.selection)

    # -- counts -------------------------------------------------------------
    @property
    def n_chunks(self) -> int:
        return len(self.entries)

    @property
    def n_missing(self) -> int:
        return sum(1 for e in self.entries if e.kind == "missing")

    @property
    def n_inline(self) -> int:
        return sum(1 for e in self.entries if e.kind == "inline")

    @property
    def n_complete(self) -> int:
        return sum(1 for e in self.entries if e.is_complete)

    @property
    def bytes_needed(self) -> int:
        return sum(e.bytes_needed for e in self.entries)

    @property
    def chunk_bytes(self) -> int:
        """Stored bytes of the touched chunks that live in files (a whole-chunk reader's cost)."""
        return sum(e.length for e in self.entries if e.kind == "ref")

    @property
    def decoded_bytes(self) -> int:
        """Decoded size of the selection (elements in the output × item size)."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.var.dtype.itemsize

    def requests(self, *, max_gap: int | None = None, max_block: int | None = -1,
                 max_waste: float | None = -1.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Merged byte ranges per file: ``{path: (starts, ends)}``."""
        max_gap = self.max_gap if max_gap is None else max_gap
        max_block = self.max_block if max_block == -1 else max_block
        max_waste = self.max_waste if max_waste == -1.0 else max_waste
        return entry_requests(self.entries, max_gap=max_gap, max_block=max_block, max_waste=max_waste)

    @cached_property
    def _default_requests(self):
        return self.requests()

    @property
    def n_requests(self) -> int:
        return sum(len(s) for s, _ in self._default_requests.values())

    @property
    def bytes_to_read(self) -> int:
        return sum(int((t - s).sum()) for s, t in self._default_requests.values())

    @property
    def ratio(self) -> float:
        """bytes_to_read / bytes_needed (nan when nothing is needed)."""
        n = self.bytes_needed
        return self.bytes_to_read / n if n else float("nan")

    def per_file(self) -> list[FileStats]:
        """One row per source file touched (inline/missing chunks are not files)."""
        reqs = self._default_requests
        rows: dict[str, list[int]] = {}
        for e in self.entries:
            if e.kind != "ref":
                continue
            r = rows.setdefault(e.path, [0, 0, 0])
            r[0] += 1
            r[1] += e.bytes_needed
            r[2] += e.length
        out = []
        for p, (n, need, cb) in rows.items():
            s, t = reqs.get(p, (np.zeros(0), np.zeros(0)))
            out.append(FileStats(p, n, len(s), int((t - s).sum()), need, cb))
        return out

    @property
    def touched(self) -> np.ndarray:
        """Boolean array shaped like the chunk grid: True where a chunk is touched."""
        grid = np.zeros(self.var.grid, dtype=bool)
        for e in self.entries:
            grid[e.chunk_index] = True
        return grid

    # -- actions ------------------------------------------------------------
    def execute(self, storage_options: dict | None = None, *, max_gap: int | None = None,
                max_block: int | None = -1, max_waste: float | None = -1.0, fs=None) -> np.ndarray:
        """Read the selection: a numpy array equal to numpy/xarray ``isel`` of the
        raw stored values (native byte order). Statistics go to ``last_stats``."""
        from .execute import execute

        return execute(self, storage_options=storage_options, max_gap=max_gap, max_block=max_block,
                       max_waste=max_waste, fs=fs)

    def reduce(self, op: str, axis=None, *, decode: bool = True, storage_options: dict | None = None,
               fs=None, **read_options):
        """Chunk-wise ``min``/``max``/``sum``/``mean``/``count`` over ``axis``
        (ints over the result's dims, or dim names; None = all), with CF missing
        values masked. See :func:`vz_jupyter.core.execute.reduce`."""
        from .execute import reduce

        return reduce(self, op, axis=axis, decode=decode, storage_options=storage_options, fs=fs, **read_options)

    def to_reductionist(self, op: str = "sum", axis=None, *, url_for=None, strict: bool = False) -> list[dict]:
        """Each touched chunk as a Reductionist v2 request (see
        :func:`vz_jupyter.core.execute.to_reductionist`)."""
        from .execute import to_reductionist

        return to_reductionist(self, op, axis=axis, url_for=url_for, strict=strict)

    # -- text ---------------------------------------------------------------
    def summary(self) -> str:
        return formatting.as_text(self)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return formatting.as_html(self)


# ---------------------------------------------------------------------------
# building plans


def _resolve_target(target, selection, variable, allowed_roots=None) -> tuple[VDataset | None, VArray, Any]:
    ds = target
    if isinstance(target, VDatasetList):
        if len(target) != 1:
            raise VZError(f"{len(target)} datasets given; plan on one (e.g. dsets[0]) or combine them first")
        ds = target[0]
    elif isinstance(target, (str, os.PathLike)):
        from .scan import scan_file

        ds = scan_file(os.fspath(target), allowed_roots=allowed_roots)
    if isinstance(ds, VArray):
        var, ds = ds, None
        if isinstance(selection, str) and ("[" in selection or selection == var.name):
            name, key = parse_selection(selection)
            if name != var.name:
                raise SelectionError(f"selection names {name!r} but the array is {var.name!r}")
            return None, var, key
        return None, var, selection
    if not isinstance(ds, VDataset):
        raise VZError(f"cannot plan a read on a {type(target).__name__}; give a VDataset, a VArray or a references path")
    if variable is None:
        if not isinstance(selection, str):
            raise SelectionError("name the variable: give a string such as 'air[0:10]' or pass variable=")
        name, key = parse_selection(selection)
    else:
        name = variable
        key = selection
        if isinstance(selection, str):
            text = selection.strip()
            if text == variable or text.startswith(variable + "["):
                name, key = parse_selection(text)
            else:
                name, key = parse_selection(f"{variable}[{text[1:-1] if text.startswith('[') and text.endswith(']') else text}]")
    if name not in ds.variables:
        raise SelectionError(f"no variable {name!r}; variables are: {', '.join(ds.variables) or '(none)'}")
    return ds, ds.variables[name], key


def plan(target, selection=(), variable: str | None = None, *, max_gap: int = DEFAULT_MAX_GAP,
         max_block: int | None = DEFAULT_MAX_BLOCK, max_waste: float | None = DEFAULT_MAX_WASTE,
         allowed_roots=None) -> ReadPlan:
    """Plan reading a selection.

    ``target``: a VDataset, a VDatasetList of one, a VArray, or a path to
    kerchunk references (JSON file or parquet directory). ``selection``: a
    string such as ``"air[0:10, 5:20, 3]"`` (or ``"air[time=0:10]"``), or with
    ``variable=`` an index tuple / dict of dim name -> index (ints, slices with
    any step, Ellipsis, 1-D int or bool arrays; orthogonal like ``.isel``).
    ``allowed_roots`` widens what references read from a path may read (see
    :mod:`vz_jupyter.core.access`).
    """
    ds, var, key = _resolve_target(target, selection, variable, allowed_roots)
    sel = normalize_selection(key, var.shape, var.dims)
    entries = _entries(var, sel)
    return ReadPlan(var, sel, entries, max_gap=max_gap, max_block=max_block, max_waste=max_waste, dataset=ds)


def _entries(var: VArray, sel: tuple[DimSel, ...]) -> list[PlanEntry]:
    m = var.manifest
    raw = _is_raw(var.codecs)
    itemsize = var.dtype.itemsize
    chunks = var.chunks
    if var.ndim == 0:
        pid = int(m.path_id[()]) if m.path_id.ndim == 0 else int(m.path_id.ravel()[0])
        return [_entry(m, (), pid, (), (), (), True, raw, (), itemsize, (), 1)]
    projs = [project_dim(d, c) for d, c in zip(sel, chunks)]
    if any(len(p.chunk) == 0 for p in projs):
        return []
    out: list[PlanEntry] = []
    counts = [len(p.chunk) for p in projs]
    # manifest columns for every touched chunk at once
    ix = np.ix_(*[np.asarray(p.chunk, dtype=np.intp) for p in projs])
    pids = m.path_id[ix].ravel().tolist()
    offs = m.offset[ix].ravel().tolist()
    lens = m.length[ix].ravel().tolist()
    dropped = [p.sel.dropped for p in projs]
    for n, combo in enumerate(np.ndindex(*counts)):
        cidx = tuple(p.chunk[i] for p, i in zip(projs, combo))
        within = tuple(p.within[i] for p, i in zip(projs, combo))
        chunk_sel = tuple(int(w[0]) if dr else w for dr, w in zip(dropped, within))
        out_sel = tuple(p.out[i] for p, i, dr in zip(projs, combo, dropped) if not dr)
        complete = all(p.complete[i] for p, i in zip(projs, combo))
        full = tuple(p.full[i] for p, i in zip(projs, combo))
        nu = 1
        for p, i in zip(projs, combo):
            nu *= p.n_unique[i]
        pid = pids[n]
        if pid == MISSING:
            e = PlanEntry(cidx, "missing", None, 0, 0, chunk_sel, out_sel, complete, raw, chunks, itemsize, None,
                          within, full, nu)
        elif pid == INLINE:
            e = _entry(m, cidx, pid, within, chunk_sel, out_sel, complete, raw, chunks, itemsize, full, nu)
        else:
            e = PlanEntry(cidx, "ref", m.paths[pid], int(offs[n]), int(lens[n]), chunk_sel, out_sel, complete, raw,
                          chunks, itemsize, None, within, full, nu)
        out.append(e)
    return out


def _entry(m, cidx, pid, within, chunk_sel, out_sel, complete, raw, chunks, itemsize, full, n_unique) -> PlanEntry:
    if pid == MISSING:
        kind, path, off, ln, data = "missing", None, 0, 0, None
    elif pid == INLINE:
        flat = int(np.ravel_multi_index(cidx, m.grid)) if m.grid else 0
        data = m.inline[flat]
        kind, path, off, ln = "inline", None, 0, len(data)
    else:
        kind, path, data = "ref", m.paths[pid], None
        off, ln = int(m.offset[cidx]), int(m.length[cidx])
    return PlanEntry(tuple(int(c) for c in cidx), kind, path, off, ln, chunk_sel, out_sel, complete, raw,
                     tuple(int(c) for c in chunks), itemsize, data, tuple(np.asarray(w, dtype=np.int64) for w in within),
                     tuple(full), n_unique)
