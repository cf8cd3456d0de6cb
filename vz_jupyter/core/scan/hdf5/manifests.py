"""Where a dataset's bytes are: chunked (``chunk_iter``, one callback per
written chunk), contiguous (one chunk) or compact (inlined), within the file's
chunk budget (:data:`vz_jupyter.core.limits.MAX_CHUNKS`)."""
from __future__ import annotations

import math
import os

import numpy as np
from h5py import h5d, h5s

from ... import limits
from ...errors import ScanError
from ...model import INLINE, MISSING, Manifest
from .filters import reencode_chunk
from .problems import Skip

#: ``DatasetID.chunk_iter`` (h5py >= 3.8 on HDF5 >= 1.12.3) visits the chunk index once
_HAS_CHUNK_ITER = hasattr(h5d.DatasetID, "chunk_iter")


class ByteReader:
    """Raw bytes of the file, for inlining: through the file object h5py reads
    (its cache helps), the fsspec filesystem of a URL, or ``pread``."""

    def __init__(self, path: str, fs=None, fobj=None):
        self.path, self.fs, self.fobj = path, fs, fobj
        self._fd = None

    def read(self, offset: int, size: int) -> bytes:
        if size == 0:
            return b""
        if self.fobj is not None:  # the file object h5py reads through: its cache helps
            self.fobj.seek(offset)
            data = self.fobj.read(size)
            if len(data) != size:
                raise ScanError(self.path, f"chunk at byte {offset} runs past the end of the file (truncated file?)")
            return data
        if self.fs is not None:
            return self.fs.cat_file(self.path, start=offset, end=offset + size)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise ScanError(self.path, f"chunk at byte {offset} runs past the end of the file (truncated file?)")
        return data

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Written:
    """The written chunks of one dataset, as ``chunk_iter`` reports them."""

    def __init__(self):
        self.coords: list = []
        self.offs: list = []
        self.sizes: list = []
        self.masks: list = []

    def add(self, info) -> None:
        self.coords.append(info.chunk_offset)
        self.offs.append(info.byte_offset)
        self.sizes.append(info.size)
        self.masks.append(info.filter_mask)


class Manifests:
    """Builds the manifests of one file's datasets: the file's budget of chunk
    references (what is left of :data:`~vz_jupyter.core.limits.MAX_CHUNKS`), the
    inline threshold, and a count of re-encoded chunks."""

    def __init__(self, path: str, reader: ByteReader, inline_threshold: int):
        self.path = path
        self.reader = reader
        self.inline_threshold = inline_threshold
        #: chunk references this file's manifests may still hold
        self.budget = int(limits.MAX_CHUNKS)
        self.max_grid = int(limits.MAX_GRID)
        self.n_reencoded = 0

    def chunked(self, dsid, shape, chunks, codecs) -> Manifest:
        grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
        n = math.prod(grid)  # Python ints: a hostile shape must not overflow
        if n == 0:
            return Manifest.empty(grid)
        if n > self.max_grid:
            raise Skip(f"its chunk grid {grid} has {n:,} chunks, more than the {self.max_grid:,} a variable may "
                       f"have (vz_jupyter.core.limits.MAX_GRID)", final=True)
        found = self._written(dsid, n)
        if not found.coords:  # nothing written: all missing, at no cost however large the grid
            return Manifest.empty(grid)
        if n > self.budget:
            raise self._over_budget(n, len(found.coords))
        self.budget -= n
        return self._dense(grid, chunks, found, codecs)

    def _over_budget(self, n: int, written: int | None) -> Skip:
        what = f"{written:,} written" if written is not None else f"more than {self.budget:,} written"
        return Skip(
            f"its chunk grid has {n:,} chunks ({what}), more than the {self.budget:,} chunk references "
            f"left in this file's budget (vz_jupyter.core.limits.MAX_CHUNKS)", final=True)

    def _written(self, dsid, n: int) -> _Written:
        """The written chunks, refused past the budget while they are listed."""
        found = _Written()
        if _HAS_CHUNK_ITER:

            def cb(info):
                if len(found.coords) >= self.budget:
                    raise self._over_budget(n, None)
                found.add(info)

            dsid.chunk_iter(cb)
        else:  # h5py < 3.8 / HDF5 < 1.12.3: one index walk per chunk (slow)
            if dsid.get_num_chunks() > self.budget:
                raise self._over_budget(n, None)
            for i in range(dsid.get_num_chunks()):
                found.add(dsid.get_chunk_info(i))
        return found

    def _dense(self, grid: tuple, chunks: tuple, found: _Written, codecs) -> Manifest:
        """The manifest's columns from the written chunks; small variables, and
        chunks that skipped filters (re-encoded), inlined."""
        n = math.prod(grid)
        pid = np.full(n, MISSING, dtype=np.uint32)
        off = np.zeros(n, dtype=np.uint64)
        ln = np.zeros(n, dtype=np.uint64)
        inline: dict[int, bytes] = {}
        idx = (np.asarray(found.coords, dtype=np.int64).reshape(len(found.coords), len(chunks))
               // np.asarray(chunks, dtype=np.int64))
        keep = np.all(idx < np.asarray(grid, dtype=np.int64), axis=1)
        offs_a = np.asarray(found.offs, dtype=np.uint64)
        sizes_a = np.asarray(found.sizes, dtype=np.uint64)
        masks_a = np.asarray(found.masks, dtype=np.uint32)
        if not keep.all():
            idx, offs_a, sizes_a, masks_a = idx[keep], offs_a[keep], sizes_a[keep], masks_a[keep]
        flat = np.ravel_multi_index(tuple(idx.T), grid)
        pid[flat] = 0
        off[flat] = offs_a
        ln[flat] = sizes_a
        small = int(sizes_a.sum()) <= self.inline_threshold
        bad = np.flatnonzero(masks_a)
        if small or bad.size:
            todo = range(len(flat)) if small else bad.tolist()
            for j in todo:
                raw = self.reader.read(int(offs_a[j]), int(sizes_a[j]))
                m = int(masks_a[j])
                if m:
                    raw = reencode_chunk(raw, m, codecs)
                    self.n_reencoded += 1
                k = int(flat[j])
                inline[k] = raw
                pid[k] = INLINE
                off[k] = 0
                ln[k] = len(raw)
        return Manifest((self.path,), pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inline)

    def contiguous(self, dsid, shape) -> Manifest:
        grid = tuple(1 if s else 0 for s in shape)
        if 0 in grid:
            return Manifest.empty(grid)
        offset = dsid.get_offset()
        size = dsid.get_storage_size()
        if offset is None or size == 0:
            return Manifest.empty(grid)
        if size <= self.inline_threshold:
            m = Manifest.single(self.path, offset, size, len(shape))
            return m.with_inline({0: self.reader.read(offset, size)})
        return Manifest.single(self.path, offset, size, len(shape))

    def compact(self, dsid, tid, dtype, shape) -> Manifest:
        grid = tuple(1 if s else 0 for s in shape)
        if 0 in grid:
            return Manifest.empty(grid)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > 65535:  # compact data lives in the object header: at most 64 KiB
            raise ScanError(self.path, f"corrupt dataset: compact layout claims {nbytes:,} bytes (at most 65,535)")
        arr = np.empty(shape, dtype=dtype)
        dsid.read(h5s.ALL, h5s.ALL, arr, mtype=tid)
        return Manifest.empty(grid).with_inline({0: arr.tobytes()})
