"""Execute read plans: fetch byte ranges, decode, assemble, reduce.

Fetching
    All wanted ranges of a plan (or of one batch of it) are merged per file
    (:func:`vz_jupyter.core.plan.merge_ranges`) and fetched in one go: local
    files with ``os.pread`` on one open descriptor per file; any other fsspec URL
    with one ``cat_ranges`` call per filesystem (concurrent for async
    filesystems such as HTTP). Uncompressed chunks contribute only their byte
    spans; encoded chunks are fetched whole and decoded with numcodecs (codecs
    are stored in encode order; decoding runs them in reverse).

Reductions (:func:`reduce`)
    ``min``, ``max``, ``sum``, ``mean`` (= sum / count) and ``count`` are
    computed per chunk on the selected values with CF missing data masked, then
    combined: sums and counts add, minima and maxima take the extreme. Masking
    follows the variable's attributes only (as xarray does): ``_FillValue`` and
    ``missing_value`` (scalars or lists; NaN matches NaN) plus ``valid_min``,
    ``valid_max`` and ``valid_range`` (which xarray ignores but the CF
    conventions define). With ``decode=True`` (the default) CF
    ``scale_factor``/``add_offset`` are applied *after* the reduction, which is
    exact because they are linear: ``min/max -> s*x + o`` (swapped when ``s < 0``),
    ``sum -> s*sum + o*count``, ``mean -> s*mean + o``; ``count`` is unchanged.
    Results where no valid value exists are masked (``numpy.ma``), like numpy's
    masked-array reductions.
"""
from __future__ import annotations

import json
import mmap
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from . import codecs as _vz_codecs  # noqa: F401  (registers vz codecs with numcodecs)
from .access import open_regular
from .errors import SelectionError, VZError
from .plan import PlanEntry, ReadPlan, entry_requests
from .urls import redact, strip_credentials

OPS = ("min", "max", "sum", "mean", "count")


@dataclass
class ExecStats:
    """What one execute()/reduce() moved."""

    bytes_read: int = 0
    n_requests: int = 0
    bytes_needed: int = 0
    n_chunks: int = 0
    n_decoded: int = 0
    n_missing: int = 0
    n_inline: int = 0
    seconds: float = 0.0
    #: path -> [requests, bytes read]
    files: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.bytes_read / self.bytes_needed if self.bytes_needed else float("nan")

    def __str__(self) -> str:
        return (f"read {self.bytes_read:,} B in {self.n_requests} request(s) for {self.bytes_needed:,} B needed "
                f"({self.n_chunks} chunk(s), {self.n_decoded} decoded, {self.n_missing} missing, "
                f"{self.n_inline} inline) in {self.seconds * 1000:.1f} ms")


# ---------------------------------------------------------------------------
# fetching


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local_path(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


@dataclass
class _Fetched:
    starts: np.ndarray
    ends: np.ndarray
    base: np.ndarray
    buf: np.ndarray  # uint8, all blocks concatenated


def _pack(starts: np.ndarray, ends: np.ndarray, blocks: Sequence[bytes], path: str) -> _Fetched:
    lens = ends - starts
    for s, b, n in zip(starts.tolist(), blocks, lens.tolist()):
        if isinstance(b, BaseException):
            raise _remote_error(b, path)
        if len(b) < n:
            raise VZError(f"{redact(path)}: short read ({len(b)} of {n} bytes at byte {s}); the file may be "
                          f"truncated or changed")
        if len(b) > n:
            raise VZError(f"{redact(path)}: asked for {n} bytes at byte {s}, got {len(b)}")
    base = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    if len(blocks) == 1:
        buf = np.frombuffer(blocks[0], dtype=np.uint8)
    else:
        buf = np.frombuffer(b"".join(blocks), dtype=np.uint8)
    return _Fetched(starts, ends, base, buf)


#: map local files and copy only the planned ranges out of the page cache (no
#: syscall per range); False reads each merged range with ``os.pread``
LOCAL_MMAP = True


def _read_local(lp: str, starts: np.ndarray, ends: np.ndarray) -> _Fetched:
    # FIFOs, devices and sockets are refused (never opened blocking)
    fd = open_regular(lp, " (referenced by the plan)")
    try:
        size = os.fstat(fd).st_size
        if int(ends.max()) > size:
            raise VZError(f"{lp}: short read (the plan needs bytes up to {int(ends.max())}, the file has {size}); "
                          f"the file may be truncated or changed")
        if LOCAL_MMAP and size:
            try:
                mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                mm = None
            if mm is not None:
                buf = np.frombuffer(mm, dtype=np.uint8)
                return _Fetched(np.array([0], np.int64), np.array([size], np.int64), np.array([0], np.int64), buf)
        blocks = [os.pread(fd, int(e) - int(s), int(s)) for s, e in zip(starts.tolist(), ends.tolist())]
    finally:
        os.close(fd)
    return _pack(starts, ends, blocks, lp)


def fetch_ranges(requests: dict[str, tuple[np.ndarray, np.ndarray]], *, storage_options: dict | None = None,
                 fs=None, stats: ExecStats | None = None) -> dict[str, _Fetched]:
    """Fetch merged ranges ``{path: (starts, ends)}``; one descriptor per local
    file, one ``cat_ranges`` call per fsspec filesystem."""
    out: dict[str, _Fetched] = {}
    remote: dict[Any, tuple[Any, list[tuple[str, str]]]] = {}
    for path, (starts, ends) in requests.items():
        if len(starts) == 0:
            continue
        if stats is not None:
            stats.n_requests += len(starts)
            nb = int((ends - starts).sum())
            stats.bytes_read += nb
            stats.files[path] = [len(starts), nb]
        if fs is None and _is_local(path):
            out[path] = _read_local(_local_path(path), starts, ends)
        else:
            if fs is not None:
                the_fs, p = fs, path
            else:
                from .remote import filesystem

                the_fs, p = filesystem(path, storage_options), path
            key = id(the_fs)
            remote.setdefault(key, (the_fs, []))[1].append((path, p))
    for the_fs, items in remote.values():
        paths, starts, ends, owners = [], [], [], []
        for path, p in items:
            s, e = requests[path]
            paths.extend([p] * len(s))
            starts.extend(s.tolist())
            ends.extend(e.tolist())
            owners.append((path, len(s)))
        try:
            blocks = the_fs.cat_ranges(paths, starts, ends, on_error="return")
        except Exception as e:  # noqa: BLE001  (any filesystem library's error -> one line)
            raise _remote_error(e, items[0][0]) from None
        i = 0
        for path, n in owners:
            s, e = requests[path]
            out[path] = _pack(s, e, blocks[i:i + n], path)
            i += n
    return out


def _remote_error(e: BaseException, path: str) -> VZError:
    if isinstance(e, VZError):
        return e
    if isinstance(e, FileNotFoundError):
        return VZError(f"{redact(e.filename or path)}: no such file (referenced by the plan)")
    from .remote import describe

    return describe(e, path)


# ---------------------------------------------------------------------------
# decoding

# decode_chunk (bounded: see vz_jupyter.core.decode) is re-exported here
from .decode import decode_chunk, get_codec as _codec  # noqa: E402,F401


def oindex(arr: np.ndarray, keys: Sequence[Any]) -> np.ndarray:
    """Orthogonal indexing: ints drop dims, slices/int arrays select per dim."""
    basic = []
    arrays = []
    ax = 0
    for k in keys:
        if isinstance(k, (int, np.integer)):
            basic.append(int(k))
            continue
        k = np.asarray(k) if not isinstance(k, slice) else k
        if isinstance(k, np.ndarray):
            sl = _as_slice(k)
            if sl is not None:
                basic.append(sl)
            else:
                basic.append(slice(None))
                arrays.append((ax, k))
        else:
            basic.append(k)
        ax += 1
    out = arr[tuple(basic)]
    for a, k in arrays:
        out = np.take(out, k, axis=a)
    return out


def _as_slice(k: np.ndarray):
    if len(k) == 0:
        return slice(0, 0)
    if len(k) == 1:
        return slice(int(k[0]), int(k[0]) + 1)
    d = np.diff(k)
    if d[0] > 0 and np.all(d == d[0]):
        return slice(int(k[0]), int(k[-1]) + 1, int(d[0]))
    return None


def _out_index(out_sel: Sequence[Any]):
    """An index for assigning a block into the output at ``out_sel``."""
    n_arr = sum(1 for s in out_sel if not isinstance(s, slice))
    if n_arr <= 1:
        return tuple(out_sel)
    return np.ix_(*[np.arange(s.start, s.stop) if isinstance(s, slice) else s for s in out_sel])


def _gather(f: _Fetched, abs_starts: np.ndarray, lengths: np.ndarray, where: str) -> np.ndarray:
    b = np.searchsorted(f.starts, abs_starts, side="right") - 1
    if (b < 0).any() or (abs_starts + lengths > f.ends[b]).any():
        raise VZError(f"{where}: internal error: a span was not fetched")
    pos = f.base[b] + (abs_starts - f.starts[b])
    n = len(pos)
    if n == 1:
        p, ln = int(pos[0]), int(lengths[0])
        return f.buf[p:p + ln]
    if n <= 256:
        return np.concatenate([f.buf[p:p + ln] for p, ln in zip(pos.tolist(), lengths.tolist())])
    if np.all(lengths == lengths[0]):
        L = int(lengths[0])
        return f.buf[(pos[:, None] + np.arange(L, dtype=np.int64)).ravel()]
    total = int(lengths.sum())
    first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    idx = np.arange(total, dtype=np.int64) + np.repeat(pos - first, lengths)
    return f.buf[idx]


def entry_block(plan: ReadPlan, e: PlanEntry, fetched: dict[str, _Fetched]) -> np.ndarray | None:
    """The values one plan entry contributes, shaped ``e.out_shape`` (stored
    dtype); None for a missing chunk."""
    var = plan.var
    where = (f"{e.path}: variable {var.name!r} chunk {e.chunk_index}" if e.path else
             f"variable {var.name!r} chunk {e.chunk_index} (inline in the references)")
    if e.kind == "missing":
        return None
    if e.kind == "ref" and e.length <= 0:
        raise VZError(f"{where}: the reference has no stored bytes (length 0); the references are wrong")
    if e.kind == "inline" or not e.raw:
        data = e.inline if e.kind == "inline" else None
        if data is None:
            f = fetched[e.path]
            data = _gather(f, np.array([e.offset], np.int64), np.array([e.length], np.int64), where)
        arr = decode_chunk(data, var.codecs, var.dtype, e.chunk_shape, where)
        return oindex(arr, e.chunk_sel)
    # raw chunk: only the spans were fetched
    s, ln = e.span_starts, e.span_lengths
    if len(s) and int(s.max() + ln[np.argmax(s)]) > e.length:
        raise VZError(f"{where}: stored with {e.length} bytes, fewer than the {int((s + ln).max())} the chunk "
                      f"shape {e.chunk_shape} needs; the references may be wrong")
    raw = _gather(fetched[e.path], s + e.offset, ln, where)
    k = e._spans[2]
    lead = tuple(len(w) for w in e._within[:k])
    arr = raw.view(var.dtype).reshape(lead + e.chunk_shape[k:])
    key = tuple(0 if isinstance(cs, (int, np.integer)) else slice(None) for cs in e.chunk_sel)
    return arr[key]


def _batches(entries: Sequence[PlanEntry], batch_bytes: int | None) -> Iterator[list[PlanEntry]]:
    if not batch_bytes:
        yield list(entries)
        return
    cur, size = [], 0
    for e in entries:
        cost = (e.length if (not e.raw or e.kind != "ref") else int(e.span_lengths.sum())) + e.n_selected * e.itemsize
        if cur and size + cost > batch_bytes:
            yield cur
            cur, size = [], 0
        cur.append(e)
        size += cost
    if cur:
        yield cur


_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="vz-decode")
    return _POOL


def iter_blocks(plan: ReadPlan, *, storage_options=None, fs=None, max_gap=None, max_block=-1, max_waste=-1.0,
                batch_bytes: int | None = None, stats: ExecStats | None = None):
    """Yield ``(entry, block)`` for every entry (block None for missing chunks),
    fetching batch by batch (``batch_bytes`` bounds memory; None = all at once).
    Encoded chunks of a batch are decoded on a thread pool (zlib, blosc, zstd
    release the GIL)."""
    mg = plan.max_gap if max_gap is None else max_gap
    mb = plan.max_block if max_block == -1 else max_block
    mw = plan.max_waste if max_waste == -1.0 else max_waste
    for batch in _batches(plan.entries, batch_bytes):
        reqs = entry_requests(batch, max_gap=mg, max_block=mb, max_waste=mw)
        try:
            fetched = fetch_ranges(reqs, storage_options=storage_options, fs=fs, stats=stats)
        except OSError as e:  # anything the fetch did not word itself (a directory, a device...)
            raise VZError(f"{e.filename or next(iter(reqs), '?')}: cannot read ({e.strerror or e})") from None
        encoded = [e for e in batch if e.kind == "inline" or (e.kind == "ref" and not e.raw)]
        decoded = {}
        if len(encoded) > 1 and (os.cpu_count() or 1) > 1:
            blocks = _pool().map(lambda e: entry_block(plan, e, fetched), encoded)
            decoded = {id(e): b for e, b in zip(encoded, blocks)}
        for e in batch:
            if stats is not None:
                stats.n_chunks += 1
                stats.bytes_needed += e.n_unique * e.itemsize
                if e.kind == "missing":
                    stats.n_missing += 1
                elif e.kind == "inline":
                    stats.n_inline += 1
                if e.kind == "inline" or (e.kind == "ref" and not e.raw):
                    stats.n_decoded += 1
            b = decoded.pop(id(e), None)
            yield e, (b if b is not None else entry_block(plan, e, fetched))
        del fetched


def _fill_value(plan: ReadPlan, dtype: np.dtype):
    fv = plan.var.fill_value
    if fv is None:
        return 0
    try:
        a = np.asarray(fv).astype(dtype)
    except (TypeError, ValueError):
        return 0
    if a.ndim != 0:  # e.g. a fill_value [] from hostile references: not one value of the dtype
        raise VZError(f"variable {plan.var.name!r}: fill_value {str(fv)[:60]!r} is not a single {dtype} value")
    return a


def execute(plan: ReadPlan, *, storage_options=None, max_gap=None, max_block=-1, max_waste=-1.0, fs=None) -> np.ndarray:
    """Read a plan into a numpy array (see :meth:`ReadPlan.execute`)."""
    t0 = time.perf_counter()
    stats = ExecStats()
    dtype = plan.dtype
    out = np.empty(plan.shape, dtype=dtype)
    for e, block in iter_blocks(plan, storage_options=storage_options, fs=fs, max_gap=max_gap, max_block=max_block,
                                max_waste=max_waste, stats=stats):
        idx = _out_index(e.out_sel)
        if block is None:
            out[idx] = _fill_value(plan, dtype)
        else:
            out[idx] = block
    stats.seconds = time.perf_counter() - t0
    plan.last_stats = stats
    return out


# ---------------------------------------------------------------------------
# reductions


def _attr_values(attrs, name) -> list:
    if name not in attrs:
        return []
    v = attrs[name]
    if v is None:
        return []
    a = np.asarray(v)
    if a.dtype.kind in "SUO":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            return []
    return a.ravel().tolist()


def missing_rules(attrs) -> dict[str, Any]:
    """The CF missing-data rules in ``attrs``: ``{"values": [...], "valid_min":
    x, "valid_max": y}`` (entries absent when not set)."""
    rules: dict[str, Any] = {}
    vals = _attr_values(attrs, "_FillValue") + _attr_values(attrs, "missing_value")
    if vals:
        rules["values"] = vals
    vr = _attr_values(attrs, "valid_range")
    vmin = _attr_values(attrs, "valid_min")
    vmax = _attr_values(attrs, "valid_max")
    if len(vr) == 2:
        rules["valid_min"], rules["valid_max"] = vr
    if vmin:
        rules["valid_min"] = vmin[0]
    if vmax:
        rules["valid_max"] = vmax[0]
    return rules


def valid_mask(block: np.ndarray, rules: dict) -> np.ndarray | None:
    """True where a value is valid under ``rules`` (None = all valid)."""
    valid = None

    def _and(m):
        nonlocal valid
        valid = m if valid is None else (valid & m)

    for v in rules.get("values", ()):
        if isinstance(v, float) and np.isnan(v):
            if block.dtype.kind in "fc":
                _and(~np.isnan(block))
        else:
            _and(block != np.asarray(v).astype(block.dtype) if _castable(v, block.dtype) else np.ones(block.shape, bool))
    if "valid_min" in rules:
        _and(block >= rules["valid_min"])
    if "valid_max" in rules:
        _and(block <= rules["valid_max"])
    return valid


def _castable(v, dtype) -> bool:
    if dtype.kind in "fc":
        return True
    try:
        fv = float(v)
    except (TypeError, ValueError):
        return False
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return fv == int(fv) and info.min <= int(fv) <= info.max
    return dtype.kind == "b"


def _axes(plan: ReadPlan, axis) -> tuple[int, ...]:
    nd = len(plan.shape)
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, (str, int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        if isinstance(a, str):
            if a not in plan.dims:
                raise SelectionError(f"{a!r} is not a dimension of the result; dimensions are: {', '.join(plan.dims) or '(none)'}")
            a = plan.dims.index(a)
        a = int(a)
        if a < -nd or a >= nd:
            raise SelectionError(f"axis {a} is out of range for a result with {nd} dimension(s)")
        out.append(a % nd)
    if len(set(out)) != len(out):
        raise SelectionError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _scale_offset(attrs) -> tuple[float | None, float | None]:
    s = _attr_values(attrs, "scale_factor")
    o = _attr_values(attrs, "add_offset")
    return (float(s[0]) if s else None), (float(o[0]) if o else None)


def reduce(plan: ReadPlan, op: str, *, axis=None, decode: bool = True, storage_options=None, fs=None,
           batch_bytes: int | None = 256 * 1024 * 1024, max_gap=None, max_block=-1, max_waste=-1.0):
    """Chunk-wise reduction of the plan's selection (see the module docstring).

    Returns a numpy scalar / array; ``min``, ``max``, ``sum`` and ``mean`` are
    masked (``numpy.ma``) where no valid value exists. ``plan.last_stats`` gets
    the I/O counts.
    """
    if op not in OPS:
        raise SelectionError(f"unknown reduction {op!r}; choose one of {', '.join(OPS)}")
    t0 = time.perf_counter()
    s, o = _scale_offset(plan.var.attrs) if decode else (None, None)
    if op in ("min", "max") and s is not None and s < 0:
        # s*x + o is decreasing: the minimum of the scaled values is at the raw maximum
        op = "max" if op == "min" else "min"
    axes = _axes(plan, axis)
    shape = plan.shape
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    rshape = tuple(shape[i] for i in kept)
    dtype = plan.var.dtype
    rules = missing_rules(plan.var.attrs)
    if dtype.kind in "iu":
        big = np.iinfo(dtype)
        lo_init, hi_init = big.min, big.max
        sum_dtype = np.uint64 if dtype.kind == "u" else np.int64
    elif dtype.kind == "b":
        lo_init, hi_init, sum_dtype = False, True, np.int64
    elif dtype.kind == "f":
        lo_init, hi_init, sum_dtype = -np.inf, np.inf, np.float64
    else:
        raise VZError(f"{plan.var.name}: cannot reduce values of dtype {dtype}")
    native = plan.dtype
    count = np.zeros(rshape, dtype=np.int64)
    acc = None
    if op in ("sum", "mean"):
        acc = np.zeros(rshape, dtype=sum_dtype)
    elif op == "min":
        acc = np.full(rshape, hi_init, dtype=native)
    elif op == "max":
        acc = np.full(rshape, lo_init, dtype=native)
    fill_block = None
    stats = ExecStats()
    for e, block in iter_blocks(plan, storage_options=storage_options, fs=fs, batch_bytes=batch_bytes, stats=stats,
                                max_gap=max_gap, max_block=max_block, max_waste=max_waste):
        if block is None:
            fill_block = np.asarray(_fill_value(plan, native), dtype=native)
            block = np.broadcast_to(fill_block, e.out_shape)
        valid = valid_mask(block, rules)
        out_idx = _out_index(tuple(e.out_sel[i] for i in kept))
        if valid is None:
            c = np.full(tuple(block.shape[i] for i in kept), int(np.prod([block.shape[i] for i in axes], dtype=np.int64)),
                        dtype=np.int64)
        else:
            c = valid.sum(axis=axes, dtype=np.int64)
        count[out_idx] += c
        if op in ("sum", "mean"):
            acc[out_idx] += np.sum(block, axis=axes, where=valid if valid is not None else True, dtype=sum_dtype)
        elif op == "min":
            p = np.min(block, axis=axes, where=valid if valid is not None else True, initial=hi_init)
            acc[out_idx] = np.minimum(acc[out_idx], p)
        elif op == "max":
            p = np.max(block, axis=axes, where=valid if valid is not None else True, initial=lo_init)
            acc[out_idx] = np.maximum(acc[out_idx], p)
    stats.seconds = time.perf_counter() - t0
    plan.last_stats = stats
    if op == "count":
        return count[()] if count.ndim == 0 else count
    empty = count == 0
    if op == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            res = acc / np.where(empty, 1, count)
        if s is not None:
            res = res * s
        if o is not None:
            res = res + o
    elif op == "sum":
        res = acc
        if s is not None or o is not None:
            res = res.astype(np.float64)
            if s is not None:
                res = res * s
            if o is not None:
                res = res + o * count
    else:
        res = acc
        if s is not None or o is not None:
            res = res.astype(np.float64)
            if s is not None:
                res = res * s
            if o is not None:
                res = res + o
    if res.ndim == 0:
        return np.ma.masked if bool(empty) else res[()]
    return np.ma.MaskedArray(res, mask=empty)


# ---------------------------------------------------------------------------
# Reductionist export

_RD_DTYPES = {("i", 4): "int32", ("i", 8): "int64", ("u", 4): "uint32", ("u", 8): "uint64",
              ("f", 4): "float32", ("f", 8): "float64"}


def _rd_slice(w: np.ndarray) -> list[int] | None:
    """[start, end, stride] selecting the same set of indices (order is
    irrelevant to a reduction); None when not regular."""
    w = np.asarray(w)
    if len(w) == 1:
        return [int(w[0]), int(w[0]) + 1, 1]
    d = np.diff(w)
    if d[0] != 0 and np.all(d == d[0]):
        if d[0] < 0:
            w = w[::-1]
        step = abs(int(d[0]))
        return [int(w[0]), int(w[-1]) + 1, step]
    return None


def _rd_codecs(codecs) -> tuple[dict | None, list, str | None]:
    compression, filters = None, []
    for i, c in enumerate(codecs):
        cid = c.get("id")
        if cid == "shuffle":
            if compression is not None:
                return None, [], "a shuffle after compression is not expressible"
            filters.append({"id": "shuffle", "element_size": int(c.get("elementsize", 4))})
        elif cid in ("zlib", "gzip"):
            if compression is not None:
                return None, [], "more than one compressor"
            compression = {"id": cid}
        else:
            return None, [], f"codec {cid!r} is not supported by Reductionist (only shuffle + zlib/gzip)"
    return compression, filters, None


def _rd_missing(attrs, dtype) -> tuple[dict | None, str | None]:
    fv = _attr_values(attrs, "_FillValue")
    mv = _attr_values(attrs, "missing_value")
    vr = _attr_values(attrs, "valid_range")
    vmin = _attr_values(attrs, "valid_min")
    vmax = _attr_values(attrs, "valid_max")
    values = []
    for v in fv + mv:
        if v not in values:
            values.append(v)
    if any(isinstance(v, float) and np.isnan(v) for v in values):
        return None, "a NaN missing value cannot be sent to Reductionist"
    ranges = bool(vr or vmin or vmax)
    if values and ranges:
        return None, "several missing-data rules (fill/missing values and a valid range); Reductionist takes one"
    cast = (lambda x: int(x)) if dtype.kind in "iu" else float
    if len(values) == 1:
        return {"missing_value": cast(values[0])}, None
    if values:
        return {"missing_values": [cast(v) for v in values]}, None
    if vr and len(vr) == 2 and not (vmin or vmax):
        return {"valid_range": [cast(vr[0]), cast(vr[1])]}, None
    if vmin and vmax:
        return {"valid_range": [cast(vmin[0]), cast(vmax[0])]}, None
    if vmin:
        return {"valid_min": cast(vmin[0])}, None
    if vmax:
        return {"valid_max": cast(vmax[0])}, None
    return None, None


def to_reductionist(plan: ReadPlan, op: str = "sum", *, axis=None, url_for=None, strict: bool = False) -> list[dict]:
    """One item per touched chunk, in plan order.

    Representable chunks give ``{"chunk": [...], "operation": op, "endpoint":
    "/v2/sum/", "request": body}`` where ``body`` is a Reductionist v2 request
    (POST it as JSON to the server's ``endpoint``; a ``mean`` is sent as ``sum``,
    the response carries the per-chunk counts to combine); the others give
    ``{"chunk": [...], "operation": op, "endpoint": ..., "reason": "..."}``. ``url_for(path) -> url`` maps local paths to the S3/HTTPS
    URLs the server can read. ``strict=True`` raises :class:`VZError` on the
    first chunk that cannot be expressed.
    """
    if op not in OPS:
        raise SelectionError(f"unknown reduction {op!r}; choose one of {', '.join(OPS)}")
    var = plan.var
    # Reductionist has count/min/max/sum/select; a mean is per-chunk sums and counts combined
    endpoint = "/v2/" + ("sum" if op == "mean" else op) + "/"
    axes = _axes(plan, axis)
    kept_dims = [d for d, s in enumerate(plan.selection) if not s.dropped]
    var_axes = [kept_dims[a] for a in axes]
    dtype = var.dtype
    common_reason = None
    dt = _RD_DTYPES.get((dtype.kind, dtype.itemsize))
    if dt is None:
        common_reason = f"dtype {dtype.name} is not supported by Reductionist (int32/64, uint32/64, float32/64 only)"
    compression, filters, why = _rd_codecs(var.codecs)
    common_reason = common_reason or why
    missing, why = _rd_missing(var.attrs, dtype)
    common_reason = common_reason or why
    out = []
    for e in plan.entries:
        item: dict[str, Any] = {"chunk": list(e.chunk_index), "operation": op, "endpoint": endpoint}
        reason = common_reason
        url = None
        if reason is None and e.kind == "missing":
            reason = "missing chunk: every value is the fill value, nothing to request"
        elif reason is None and e.kind == "inline":
            reason = "chunk is inlined in the references: there is no stored object to ask for"
        if reason is None:
            url = url_for(e.path) if url_for else e.path
            if not isinstance(url, str) or not url.split("://", 1)[0] in ("s3", "http", "https"):
                reason = (f"{redact(e.path)} is not an s3:// or http(s):// URL; pass url_for= to map files to URLs "
                          f"Reductionist can read")
            else:  # credentials go to Reductionist separately, never inside the request body
                url = strip_credentials(url)
        sel = None
        if reason is None:
            sel = [_rd_slice(w) for w in e._within]
            if any(s is None for s in sel):
                reason = "irregular integer-array index inside the chunk (needs start:stop:step)"
        if reason is None:
            body = {
                "interface_type": "s3" if url.startswith("s3://") else "https",
                "url": url,
                "offset": int(e.offset),
                "size": int(e.length),
                "dtype": dt,
                "byte_order": "big" if dtype.byteorder == ">" or (dtype.byteorder == "=" and
                                                                    np.little_endian is False) else "little",
                "shape": list(e.chunk_shape),
                "order": "C",
                "selection": sel,
            }
            if compression:
                body["compression"] = compression
            if filters:
                body["filters"] = filters
            if missing:
                body["missing"] = missing
            if var_axes and len(var_axes) < var.ndim:
                body["axis"] = var_axes
            item["request"] = body
        else:
            if strict:
                raise VZError(f"{var.name} chunk {tuple(e.chunk_index)}: {reason}")
            item["reason"] = reason
        out.append(item)
    return out
