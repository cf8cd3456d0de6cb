"""One plan entry's values from fetched bytes.

Encoded chunks (and inlined ones) are decoded whole with the bounded decoders
of :mod:`vz_jupyter.core.decode` and the selection is taken out of them;
uncompressed chunks were fetched as byte spans only, which are gathered and
viewed as the selected values directly (no decode, no copy of the whole
chunk). Several encoded chunks of a batch decode on a small thread pool
(zlib, blosc and zstd release the GIL).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..decode import decode_chunk
from ..errors import VZError
from ..model import VArray
from .entry import PlanEntry
from .fetch import Fetched


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


def out_index(out_sel: Sequence[Any]):
    """An index for assigning a block into the output at ``out_sel``."""
    n_arr = sum(1 for s in out_sel if not isinstance(s, slice))
    if n_arr <= 1:
        return tuple(out_sel)
    return np.ix_(*[np.arange(s.start, s.stop) if isinstance(s, slice) else s for s in out_sel])


def gather(f: Fetched, abs_starts: np.ndarray, lengths: np.ndarray, where: str) -> np.ndarray:
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


def entry_block(var: VArray, e: PlanEntry, fetched: dict[str, Fetched]) -> np.ndarray | None:
    """The values one plan entry of ``var`` contributes, shaped ``e.out_shape``
    (stored dtype); None for a missing chunk."""
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
            data = gather(f, np.array([e.offset], np.int64), np.array([e.length], np.int64), where)
        arr = decode_chunk(data, var.codecs, var.dtype, e.chunk_shape, where)
        return oindex(arr, e.chunk_sel)
    # raw chunk: only the spans were fetched
    s, ln = e.span_starts, e.span_lengths
    if len(s) and int(s.max() + ln[np.argmax(s)]) > e.length:
        raise VZError(f"{where}: stored with {e.length} bytes, fewer than the {int((s + ln).max())} the chunk "
                      f"shape {e.chunk_shape} needs; the references may be wrong")
    raw = gather(fetched[e.path], s + e.offset, ln, where)
    k = e.varying_dims
    lead = tuple(len(w) for w in e.within[:k])
    arr = raw.view(var.dtype).reshape(lead + e.chunk_shape[k:])
    key = tuple(0 if isinstance(cs, (int, np.integer)) else slice(None) for cs in e.chunk_sel)
    return arr[key]


def batches(entries: Sequence[PlanEntry], batch_bytes: int | None) -> Iterator[list[PlanEntry]]:
    """Consecutive groups of entries whose bytes to fetch plus output values
    stay within ``batch_bytes`` (one group when None)."""
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
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="vz-decode")
    return _POOL


def is_decoded(e: PlanEntry) -> bool:
    """The entry's chunk goes through the codecs (inlined, or stored encoded)."""
    return e.kind == "inline" or (e.kind == "ref" and not e.raw)


def decode_many(var: VArray, batch: Sequence[PlanEntry], fetched: dict[str, Fetched]) -> dict[int, np.ndarray]:
    """Blocks of the encoded entries of a batch, decoded on the thread pool
    (``{id(entry): block}``; empty when there is at most one or one CPU)."""
    encoded = [e for e in batch if is_decoded(e)]
    if len(encoded) <= 1 or (os.cpu_count() or 1) <= 1:
        return {}
    blocks = _pool().map(lambda e: entry_block(var, e, fetched), encoded)
    return {id(e): b for e, b in zip(encoded, blocks)}


def fill_value(var: VArray, dtype: np.dtype):
    """The value a missing chunk of ``var`` reads as, in ``dtype`` (0 without one)."""
    fv = var.fill_value
    if fv is None:
        return 0
    try:
        a = np.asarray(fv).astype(dtype)
    except (TypeError, ValueError):
        return 0
    if a.ndim != 0:  # e.g. a fill_value [] from hostile references: not one value of the dtype
        raise VZError(f"variable {var.name!r}: fill_value {str(fv)[:60]!r} is not a single {dtype} value")
    return a
