"""The data model: columnar chunk manifests, virtual arrays and datasets.

Everything here is immutable. A :class:`Manifest` stores where every chunk of one
array lives as three numpy arrays shaped like the chunk grid (``path_id`` uint32,
``offset`` uint64, ``length`` uint64: 20 bytes per chunk) plus a small map of
inlined chunk bytes keyed by the C-order (ravelled) chunk number. Transforms return
new objects; the arrays are marked read-only.

Codec pipelines are tuples of numcodecs configuration dicts in *encode* order (the
order HDF5 applies its filters on write and the order of a zarr v2 ``filters``
list); decoding applies them in reverse. Keeping HDF5's own order avoids a
reversal at every boundary (scan, serialize, plan) where an off-by-one reversal
would silently corrupt data.
"""
from __future__ import annotations

import math
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from . import formatting
from .errors import VZError

#: the read planner (``vz_jupyter.core.plan.plan``), registered by the package
#: ``__init__`` so that the model needs no import of it (plan imports the model: no cycle)
_PLANNER = None


def register_planner(planner) -> None:
    """``VDataset.plan`` uses ``planner`` (the package ``__init__`` registers core.plan's)."""
    global _PLANNER
    _PLANNER = planner

#: ``path_id`` value of a chunk that was never written (reads as the fill value)
MISSING = np.uint32(0xFFFFFFFF)
#: ``path_id`` value of a chunk whose bytes live in ``Manifest.inline``
INLINE = np.uint32(0xFFFFFFFE)
#: largest usable path id
MAX_PATH_ID = 0xFFFFFFFD


def _frozen(a: np.ndarray) -> np.ndarray:
    # a broadcast column (a zero stride: one value repeated, e.g. every chunk
    # missing) is kept as it is: copying it would allocate the whole grid
    a = np.asarray(a)
    if 0 not in a.strides:
        # not np.ascontiguousarray: it turns 0-d arrays (scalar variables) into 1-d
        a = np.asarray(a, order="C")
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _held(a: np.ndarray) -> int:
    """Bytes an array's own values take (a zero stride repeats one value)."""
    return a.itemsize * math.prod(n for n, st in zip(a.shape, a.strides) if st)


#: chunks per step of a blockwise count or sum over a manifest column: the
#: temporaries (masks, selections) stay this small however large the grid
_BLOCK = 1 << 20


def _blocks(a: np.ndarray) -> Iterator[np.ndarray]:
    """C-order pieces of at most ``_BLOCK`` elements of a column (a broadcast
    column is read piece by piece, never expanded whole)."""
    flat = a.reshape(-1) if a.flags.c_contiguous else None
    for i in range(0, a.size, _BLOCK):
        yield flat[i:i + _BLOCK] if flat is not None else a.flat[i:i + _BLOCK]


def freeze_mapping(m: Mapping | None) -> Mapping:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True, eq=False)
class Manifest:
    """Where every chunk of one array lives.

    ``paths`` is a de-duplicated table of file paths/URLs; ``path_id`` indexes it,
    with the reserved values :data:`MISSING` and :data:`INLINE`.
    """

    paths: tuple[str, ...]
    path_id: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    inline: Mapping[int, bytes] = field(default_factory=dict)

    def __post_init__(self):
        pid = np.asarray(self.path_id, dtype=np.uint32)
        off = np.asarray(self.offset, dtype=np.uint64)
        ln = np.asarray(self.length, dtype=np.uint64)
        if not (pid.shape == off.shape == ln.shape):
            raise ValueError(
                f"manifest arrays disagree in shape: {pid.shape}, {off.shape}, {ln.shape}"
            )
        object.__setattr__(self, "paths", tuple(self.paths))
        object.__setattr__(self, "path_id", _frozen(pid))
        object.__setattr__(self, "offset", _frozen(off))
        object.__setattr__(self, "length", _frozen(ln))
        object.__setattr__(self, "inline", freeze_mapping(self.inline))

    # -- constructors -------------------------------------------------------
    @classmethod
    def empty(cls, grid: Sequence[int]) -> Manifest:
        """A manifest in which every chunk is missing. Its columns are broadcast
        (read-only, one value each), so it costs nothing however large the grid."""
        grid = tuple(int(g) for g in grid)
        return cls(
            (),
            np.broadcast_to(np.array(MISSING, dtype=np.uint32), grid),
            np.broadcast_to(np.array(0, dtype=np.uint64), grid),
            np.broadcast_to(np.array(0, dtype=np.uint64), grid),
        )

    @classmethod
    def single(cls, path: str, offset: int, length: int, ndim: int) -> Manifest:
        """One chunk covering the whole array (contiguous layout)."""
        shape = (1,) * ndim
        return cls(
            (path,),
            np.zeros(shape, dtype=np.uint32),
            np.full(shape, offset, dtype=np.uint64),
            np.full(shape, length, dtype=np.uint64),
        )

    # -- properties ----------------------------------------------------------
    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.path_id.shape)

    @property
    def n_chunks(self) -> int:
        return int(self.path_id.size)

    @property
    def n_missing(self) -> int:
        return sum(int(np.count_nonzero(b == MISSING)) for b in _blocks(self.path_id))

    @property
    def n_inline(self) -> int:
        return len(self.inline)

    @property
    def n_referenced(self) -> int:
        return sum(int(np.count_nonzero(b <= MAX_PATH_ID)) for b in _blocks(self.path_id))

    @property
    def referenced_bytes(self) -> int:
        """Bytes stored in referenced (not inlined, not missing) chunks."""
        return sum(int(ln[pid <= MAX_PATH_ID].sum(dtype=np.uint64))
                   for pid, ln in zip(_blocks(self.path_id), _blocks(self.length)))

    @property
    def inline_bytes(self) -> int:
        return sum(len(v) for v in self.inline.values())

    @property
    def nbytes(self) -> int:
        """Memory held by the manifest's columns (not counting the paths table);
        a broadcast column holds one value per axis it varies along."""
        return sum(_held(a) for a in (self.path_id, self.offset, self.length)) + self.inline_bytes

    def bytes_per_source(self) -> dict[str, tuple[int, int]]:
        """``{path: (n_chunks, stored_bytes)}`` for referenced chunks."""
        pid = self.path_id.ravel()
        mask = pid <= MAX_PATH_ID
        if not mask.any():
            return {}
        ids = pid[mask]
        counts = np.bincount(ids, minlength=len(self.paths))
        sizes = np.bincount(ids, weights=self.length.ravel()[mask].astype(np.float64), minlength=len(self.paths))
        return {
            self.paths[i]: (int(counts[i]), int(sizes[i]))
            for i in range(len(self.paths))
            if counts[i]
        }

    def chunk(self, index: Sequence[int] | int) -> tuple[str | None, int, int, bytes | None]:
        """``(path, offset, length, inline_bytes)`` of one chunk; path None when
        the chunk is missing or inlined."""
        if isinstance(index, (int, np.integer)):
            flat = int(index)
            index = np.unravel_index(flat, self.grid) if self.grid else ()
        else:
            index = tuple(int(i) for i in index)
            flat = int(np.ravel_multi_index(index, self.grid)) if self.grid else 0
        pid = int(self.path_id[tuple(index)])
        if pid == INLINE:
            data = self.inline[flat]
            return None, 0, len(data), data
        if pid == MISSING:
            return None, 0, 0, None
        return self.paths[pid], int(self.offset[tuple(index)]), int(self.length[tuple(index)]), None

    def iter_chunks(self) -> Iterator[tuple[tuple[int, ...], str | None, int, int, bytes | None]]:
        """Yield ``(index, path, offset, length, inline)`` in C order (for small
        manifests and serializers; vectorised code should use the columns)."""
        for flat in range(self.n_chunks):
            idx = tuple(int(i) for i in np.unravel_index(flat, self.grid)) if self.grid else ()
            yield (idx, *self.chunk(flat))

    # -- transforms ----------------------------------------------------------
    def with_inline(self, inline: Mapping[int, bytes]) -> Manifest:
        """Return a copy with the given chunks (flat numbers) inlined."""
        if not inline:
            return self
        pid = self.path_id.copy().ravel()
        off = self.offset.copy().ravel()
        ln = self.length.copy().ravel()
        merged = dict(self.inline)
        for k, v in inline.items():
            k = int(k)
            pid[k] = INLINE
            off[k] = 0
            ln[k] = len(v)
            merged[k] = bytes(v)
        return Manifest(self.paths, pid.reshape(self.grid), off.reshape(self.grid), ln.reshape(self.grid), merged)

    def compact_paths(self) -> Manifest:
        """Drop unused entries of the paths table."""
        used = np.unique(self.path_id[self.path_id <= MAX_PATH_ID])
        if len(used) == len(self.paths):
            return self
        remap = np.full(len(self.paths) + 1, MISSING, dtype=np.uint32)
        remap[used] = np.arange(len(used), dtype=np.uint32)
        pid = self.path_id.copy()
        mask = pid <= MAX_PATH_ID
        pid[mask] = remap[pid[mask]]
        return Manifest(tuple(self.paths[i] for i in used), pid, self.offset, self.length, self.inline)

    def equals(self, other: Manifest) -> bool:
        """Same chunks in the same places (path tables may be ordered differently)."""
        if self.grid != other.grid:
            return False
        a_pid, b_pid = self.path_id.ravel(), other.path_id.ravel()
        if not np.array_equal(a_pid > MAX_PATH_ID, b_pid > MAX_PATH_ID):
            return False
        if not np.array_equal(a_pid == INLINE, b_pid == INLINE):
            return False
        ref = a_pid <= MAX_PATH_ID
        a_paths = np.array(self.paths + ("",), dtype=object)[np.where(ref, a_pid, len(self.paths))]
        b_paths = np.array(other.paths + ("",), dtype=object)[np.where(ref, b_pid, len(other.paths))]
        if not (a_paths == b_paths).all():
            return False
        if not (np.array_equal(self.offset.ravel()[ref], other.offset.ravel()[ref])
                and np.array_equal(self.length.ravel()[ref], other.length.ravel()[ref])):
            return False
        return dict(self.inline) == dict(other.inline)

    def __repr__(self) -> str:
        return (
            f"<Manifest grid={self.grid} chunks={self.n_chunks} files={len(self.paths)} "
            f"missing={self.n_missing} inline={self.n_inline}>"
        )


def concat_manifests(manifests: Sequence[Manifest], axis: int) -> Manifest:
    """Join manifests along a chunk-grid axis: path tables merged, ids remapped,
    grids concatenated. O(chunks), no per-chunk Python loop."""
    if not manifests:
        raise ValueError("nothing to concatenate")
    paths: list[str] = []
    index: dict[str, int] = {}
    pids, offs, lens = [], [], []
    inline: dict[int, bytes] = {}
    for m in manifests:
        remap = np.empty(len(m.paths), dtype=np.uint32)
        for i, p in enumerate(m.paths):
            j = index.get(p)
            if j is None:
                j = index[p] = len(paths)
                paths.append(p)
            remap[i] = j
        pid = m.path_id.copy()
        mask = pid <= MAX_PATH_ID
        if len(m.paths):
            pid[mask] = remap[pid[mask]]
        pids.append(pid)
        offs.append(m.offset)
        lens.append(m.length)
    if len(paths) > MAX_PATH_ID:
        raise ValueError(f"too many source files ({len(paths)}) for one manifest")
    pid = np.concatenate(pids, axis=axis)
    off = np.concatenate(offs, axis=axis)
    ln = np.concatenate(lens, axis=axis)
    if any(m.inline for m in manifests):
        # remap flat chunk numbers of inlined chunks into the joined grid
        start = 0
        for m in manifests:
            if m.inline:
                keys = np.fromiter(m.inline.keys(), dtype=np.int64)
                idx = np.array(np.unravel_index(keys, m.grid))
                idx[axis] += start
                new = np.ravel_multi_index(tuple(idx), pid.shape)
                for k, n in zip(keys.tolist(), new.tolist()):
                    inline[n] = m.inline[k]
            start += m.grid[axis]
    return Manifest(tuple(paths), pid, off, ln, inline)


@dataclass(frozen=True)
class Source:
    """A file a dataset references, with what is needed to detect staleness."""

    path: str
    size: int | None = None
    mtime: float | None = None  # seconds since the epoch (or None for URLs with an etag)
    etag: str | None = None
    format: str = ""  # "HDF5", "NetCDF4", "NetCDF3 classic", "kerchunk", ...


@dataclass(frozen=True, eq=False)
class VArray:
    """One virtual array: metadata plus its chunk manifest."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]
    codecs: tuple[Mapping[str, Any], ...]
    fill_value: Any
    attrs: Mapping[str, Any]
    manifest: Manifest

    def __post_init__(self):
        object.__setattr__(self, "dims", tuple(self.dims))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "chunks", tuple(int(c) for c in self.chunks))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "codecs", tuple(freeze_mapping(c) for c in self.codecs))
        object.__setattr__(self, "attrs", freeze_mapping(self.attrs))
        if not (len(self.dims) == len(self.shape) == len(self.chunks)):
            raise ValueError(
                f"variable {self.name!r}: dims {self.dims}, shape {self.shape} and chunks "
                f"{self.chunks} must have the same length"
            )
        expected = tuple(math.ceil(s / c) if c else 0 for s, c in zip(self.shape, self.chunks))
        if self.manifest.grid != expected:
            raise ValueError(
                f"variable {self.name!r}: manifest grid {self.manifest.grid} does not match "
                f"shape {self.shape} / chunks {self.chunks} (expected {expected})"
            )

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Decoded size of the whole array."""
        return self.size * self.dtype.itemsize

    @property
    def grid(self) -> tuple[int, ...]:
        return self.manifest.grid

    @property
    def stored_bytes(self) -> int:
        return self.manifest.referenced_bytes + self.manifest.inline_bytes

    def replace(self, **changes) -> VArray:
        return replace(self, **changes)

    def codec_summary(self) -> str:
        return codec_summary(self.codecs)

    def __repr__(self) -> str:
        short = reprlib.Repr()  # names from files can be a megabyte long
        short.maxstring = 60
        dims = ", ".join(f"{short.repr(d)[1:-1]}: {s}" for d, s in zip(self.dims, self.shape))
        return (
            f"<VArray {short.repr(self.name)} ({dims}) {self.dtype.str} chunks={self.chunks} "
            f"codecs={self.codec_summary() or 'none'} {self.manifest!r}>"
        )


def codec_summary(codecs: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for c in codecs:
        cid = str(c.get("id", "?"))
        level = c.get("level", c.get("clevel"))
        cname = c.get("cname")
        bits = cid
        if cname:
            bits += f":{cname}"
        if level is not None:
            bits += f"({level})"
        parts.append(bits)
    return " → ".join(parts)


@dataclass(frozen=True, eq=False)
class VDataset:
    """An ordered collection of virtual arrays with attributes and sources."""

    variables: Mapping[str, VArray]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    coords: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    #: variables found but not represented, as (name, reason) pairs
    skipped: tuple[tuple[str, str], ...] = ()
    #: sub-groups present in the file (for ``group=``)
    groups: tuple[str, ...] = ()
    #: the group this dataset was read from ("" = root)
    group: str = ""

    def __post_init__(self):
        object.__setattr__(self, "variables", freeze_mapping(self.variables))
        object.__setattr__(self, "attrs", freeze_mapping(self.attrs))
        object.__setattr__(self, "coords", tuple(c for c in self.coords if c in self.variables))
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "skipped", tuple(tuple(s) for s in self.skipped))
        object.__setattr__(self, "groups", tuple(self.groups))

    # mapping-ish access
    def __getitem__(self, name: str) -> VArray:
        try:
            return self.variables[name]
        except KeyError:
            raise KeyError(
                f"no variable {name!r}; variables are: {', '.join(self.variables) or '(none)'}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def __iter__(self):
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    @property
    def dims(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.variables.values():
            for d, s in zip(v.dims, v.shape):
                out.setdefault(d, s)
        return out

    @property
    def data_vars(self) -> tuple[str, ...]:
        return tuple(n for n in self.variables if n not in self.coords)

    @property
    def n_chunks(self) -> int:
        return sum(v.manifest.n_chunks for v in self.variables.values())

    @property
    def stored_bytes(self) -> int:
        return sum(v.stored_bytes for v in self.variables.values())

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.sources)

    def replace(self, **changes) -> VDataset:
        return replace(self, **changes)

    def with_variable(self, var: VArray) -> VDataset:
        vs = dict(self.variables)
        vs[var.name] = var
        return self.replace(variables=vs)

    def plan(self, selection, variable: str | None = None):
        """Plan a read: ``ds.plan("air[0:10, :, 5]")`` -> :class:`ReadPlan`
        (the planner, :func:`vz_jupyter.core.plan.plan`, is registered with
        :func:`register_planner` when the package is imported)."""
        if _PLANNER is None:
            raise VZError("no read planner registered: import vz_jupyter (or vz_jupyter.core.plan) first")
        return _PLANNER(self, selection, variable=variable)

    def __repr__(self) -> str:
        return formatting.as_text(self)

    def _repr_html_(self) -> str:
        return formatting.as_html(self)


@dataclass(frozen=True)
class FileFailure:
    """A file a scan left out: its path, the one-line problem, and the kind of
    error (``"ScanError"``, ``"RemoteTimeout"``, ``"UnsupportedFeature"``, ...)."""

    path: str
    problem: str
    error: str = "ScanError"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class VDatasetList(tuple):
    """The result of scanning several files: a tuple of :class:`VDataset` with a
    rich display. ``failed`` lists the files left out (``errors="warn"`` or
    ``"skip"``), as :class:`FileFailure` records in input order."""

    failed: tuple = ()

    def __new__(cls, items=(), failed=()):
        self = super().__new__(cls, items)
        if failed:
            self.failed = tuple(failed)
        return self

    def __reduce__(self):
        return (type(self), (tuple(self), self.failed))

    def __repr__(self) -> str:
        return formatting.as_text(self)

    def _repr_html_(self) -> str:
        return formatting.as_html(self)


# -- pickling ---------------------------------------------------------------------
# Process pools and dask executors send scan results between processes; the
# read-only mapping proxies inside these frozen objects cannot be pickled, so
# each object is rebuilt from plain-dict copies of its fields (and re-frozen by
# __post_init__).
class _Broadcast:
    """Pickles a broadcast column as its one value and shape (not the grid)."""

    def __init__(self, a: np.ndarray):
        self.value, self.shape = np.array(a.flat[0], dtype=a.dtype), a.shape

    def __reduce__(self):
        return (np.broadcast_to, (self.value, self.shape))


def _thaw(v: Any) -> Any:
    if isinstance(v, MappingProxyType):
        return {k: _thaw(x) for k, x in v.items()}
    if type(v) is tuple:
        return tuple(_thaw(x) for x in v)
    if isinstance(v, np.ndarray) and v.ndim and v.size > 1 and not any(v.strides):
        return _Broadcast(v)
    return v


def _reduce_frozen(self):
    return (type(self), tuple(_thaw(getattr(self, f.name)) for f in fields(self)))


for _cls in (Manifest, VArray, VDataset):
    _cls.__reduce__ = _reduce_frozen
