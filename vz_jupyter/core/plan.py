"""Read plans: what a selection will read, down to byte spans, before reading it.

``plan(target, "air[0:10, 5:20, 3]")`` projects an orthogonal selection onto the
chunk grid of one variable and returns a :class:`ReadPlan`: one
:class:`~vz_jupyter.core.read.entry.PlanEntry` per touched chunk (source,
offset, length, codecs, chunk selection, output selection, completeness, and
the C-order byte spans inside the decoded chunk), the merged byte-range
requests per file, and the counts a user wants before reading (bytes to read
vs bytes needed, requests, chunks).

``ReadPlan.execute()`` reads (see :mod:`vz_jupyter.core.execute`): uncompressed
chunks fetch only their spans, merged with a gap tolerance under a waste budget;
compressed (or otherwise encoded) chunks are fetched whole and decoded.
``ReadPlan.reduce(op, axis)`` computes min/max/sum/mean/count chunk by chunk,
like active storage, and ``ReadPlan.to_reductionist()`` exports each chunk as a
Reductionist v2 request where the codecs and dtype allow. How ranges are merged
(by a cost model per store: span-exact for local files, few requests for
object stores; :mod:`vz_jupyter.core.read.cost`) and how much a reduction
reads at a time are the plan's
:class:`~vz_jupyter.core.read.options.ReadOptions` (``plan.options``); every
call that reads takes other options, or single fields as keywords.

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
    while the merged-in gap bytes stay within ``max_waste`` × the wanted bytes
    (local files), or across every gap shorter than the cost model's
    break-even gap (object stores).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import (
    execute as _execute,  # the module, looked up at call time (one entry point to watch)
    formatting,
)
from .errors import SelectionError, VZError
from .model import VArray, VDataset, VDatasetList
from .read.cost import LOCAL, OBJECT_STORE, CostModel  # noqa: F401  (OBJECT_STORE re-exported)
from .read.entry import PlanEntry, plan_entries
from .read.options import DEFAULT_MAX_BLOCK, DEFAULT_MAX_GAP, DEFAULT_MAX_WASTE, DEFAULT_OPTIONS, ReadOptions, resolve  # noqa: F401  (re-exported)
from .read.projection import DimProjection, chunk_spans, project_dim  # noqa: F401  (re-exported)
from .read.ranges import entry_requests, merge_ranges  # noqa: F401  (merge_ranges re-exported)
from .read.reduce import reduce as _reduce
from .read.reductionist import to_reductionist as _to_reductionist
from .scan import scan_file
from .selection import DimSel, format_selection, normalize_selection, parse_selection


@dataclass(frozen=True)
class FileStats:
    path: str
    n_chunks: int
    n_requests: int
    bytes_to_read: int
    bytes_needed: int
    chunk_bytes: int
    #: the cost model the file's ranges were merged by
    model: CostModel = LOCAL


@dataclass(frozen=True, kw_only=True)
class ModelStats:
    """The requests of a plan merged under one cost model, and their estimated time."""

    model: CostModel
    n_files: int
    n_requests: int
    bytes_to_read: int

    @property
    def seconds(self) -> float:
        """Estimated time of these requests one after another (see :meth:`CostModel.seconds`)."""
        return self.model.seconds(self.n_requests, self.bytes_to_read)


class ReadPlan:
    """The plan of one selection of one variable. See the module docstring."""

    def __init__(self, var: VArray, sel: tuple[DimSel, ...], entries: list[PlanEntry], *,
                 options: ReadOptions = DEFAULT_OPTIONS, dataset: VDataset | None = None, **overrides):
        self.var = var
        self.selection = sel
        self.entries = entries
        #: how ranges merge and how much a reduction reads at a time
        self.options = resolve(options, None, overrides)
        self.dataset = dataset
        #: statistics of the last execute()/reduce() (an ExecStats) or None
        self.last_stats = None

    # -- options --------------------------------------------------------------
    @property
    def options(self) -> ReadOptions:
        return self._options

    @options.setter
    def options(self, value: ReadOptions) -> None:
        self._options = resolve(value)
        self.__dict__.pop("_default_requests", None)  # merged with the old options

    @property
    def max_gap(self) -> int:
        return self.options.max_gap

    @max_gap.setter
    def max_gap(self, value: int) -> None:
        self.options = self.options.replace(max_gap=value)

    @property
    def max_block(self) -> int | None:
        return self.options.max_block

    @max_block.setter
    def max_block(self, value: int | None) -> None:
        self.options = self.options.replace(max_block=value)

    @property
    def max_waste(self) -> float | None:
        return self.options.max_waste

    @max_waste.setter
    def max_waste(self, value: float | None) -> None:
        self.options = self.options.replace(max_waste=value)

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

    def requests(self, options: ReadOptions | None = None, **overrides) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Merged byte ranges per file, ``{path: (starts, ends)}``, under
        ``options`` (the plan's when None) with ``overrides`` applied
        (``plan.requests(max_waste=None)``)."""
        return entry_requests(self.entries, resolve(self.options, options, overrides))

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
            out.append(FileStats(p, n, len(s), int((t - s).sum()), need, cb, self.options.model_for(p)))
        return out

    def by_model(self) -> list[ModelStats]:
        """Requests and bytes per cost model the plan's files follow (in order of first use)."""
        acc: dict[CostModel, list[int]] = {}
        for f in self.per_file():
            a = acc.setdefault(f.model, [0, 0, 0])
            a[0] += 1
            a[1] += f.n_requests
            a[2] += f.bytes_to_read
        return [ModelStats(model=m, n_files=a[0], n_requests=a[1], bytes_to_read=a[2]) for m, a in acc.items()]

    @property
    def estimated_seconds(self) -> float:
        """Estimated time of the plan's requests (sum over :meth:`by_model`)."""
        return sum(m.seconds for m in self.by_model())

    @property
    def touched(self) -> np.ndarray:
        """Boolean array shaped like the chunk grid: True where a chunk is touched."""
        grid = np.zeros(self.var.grid, dtype=bool)
        for e in self.entries:
            grid[e.chunk_index] = True
        return grid

    # -- actions ------------------------------------------------------------
    def execute(self, storage_options: dict | None = None, *, options: ReadOptions | None = None, fs=None,
                **overrides) -> np.ndarray:
        """Read the selection: a numpy array equal to numpy/xarray ``isel`` of the
        raw stored values (native byte order). ``options`` (the plan's when
        None) with ``overrides`` (``max_waste=None``, ...) say how ranges merge;
        ``fs`` (an fsspec filesystem) reads every path. Statistics go to
        ``last_stats``."""
        return _execute.execute(self, options=resolve(self.options, options, overrides),
                                storage_options=storage_options, fs=fs)

    def reduce(self, op: str, axis=None, *, decode: bool = True, storage_options: dict | None = None,
               fs=None, options: ReadOptions | None = None, **overrides):
        """Chunk-wise ``min``/``max``/``sum``/``mean``/``count`` over ``axis``
        (ints over the result's dims, or dim names; None = all), with CF missing
        values masked. See :func:`vz_jupyter.core.read.reduce.reduce`."""
        return _reduce(self, op, axis=axis, decode=decode, options=resolve(self.options, options, overrides),
                       storage_options=storage_options, fs=fs)

    def to_reductionist(self, op: str = "sum", axis=None, *, url_for=None, strict: bool = False) -> list[dict]:
        """Each touched chunk as a Reductionist v2 request (see
        :func:`vz_jupyter.core.read.reductionist.to_reductionist`)."""
        return _to_reductionist(self, op, axis=axis, url_for=url_for, strict=strict)

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


def plan(target, selection=(), variable: str | None = None, *, options: ReadOptions = DEFAULT_OPTIONS,
         allowed_roots=None, **overrides) -> ReadPlan:
    """Plan reading a selection.

    ``target``: a VDataset, a VDatasetList of one, a VArray, or a path to
    kerchunk references (JSON file or parquet directory). ``selection``: a
    string such as ``"air[0:10, 5:20, 3]"`` (or ``"air[time=0:10]"``), or with
    ``variable=`` an index tuple / dict of dim name -> index (ints, slices with
    any step, Ellipsis, 1-D int or bool arrays; orthogonal like ``.isel``).
    ``options`` (a :class:`ReadOptions`) with ``overrides`` (single fields:
    ``max_gap=``, ``max_block=``, ``max_waste=``, ``batch_bytes=``, ``cost=``)
    become the plan's. ``allowed_roots`` widens what references read from a path may read
    (see :mod:`vz_jupyter.core.access`).
    """
    opts = resolve(options, None, overrides)
    ds, var, key = _resolve_target(target, selection, variable, allowed_roots)
    sel = normalize_selection(key, var.shape, var.dims)
    return ReadPlan(var, sel, plan_entries(var, sel), options=opts, dataset=ds)
