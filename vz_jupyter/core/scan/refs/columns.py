"""The columns of a :class:`Manifest` being filled from references (path ids,
offsets, lengths, inline chunks), shared by the JSON and parquet readers."""
from __future__ import annotations

import numpy as np

from ...model import INLINE, MISSING, Manifest


class _Columns:
    """Flat (C-order) columns for ``size`` chunks: every chunk MISSING until set."""

    def __init__(self, size: int):
        self.pid = np.full(size, MISSING, dtype=np.uint32)
        self.off = np.zeros(size, dtype=np.uint64)
        self.ln = np.zeros(size, dtype=np.uint64)
        self.inline: dict[int, bytes] = {}

    def set_inline(self, k: int, data: bytes) -> None:
        """Chunk ``k`` is ``data``, held in the manifest."""
        self.pid[k] = INLINE
        self.off[k] = 0
        self.ln[k] = len(data)
        self.inline[k] = data

    def manifest(self, paths, grid: tuple) -> Manifest:
        shape = grid if grid else ()
        return Manifest(tuple(paths), self.pid.reshape(shape), self.off.reshape(shape), self.ln.reshape(shape),
                        self.inline)


class _PathTable:
    """Paths numbered in order of first appearance (a manifest's path table)."""

    def __init__(self):
        self.paths: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, paths: list[str]) -> np.ndarray:
        """The table positions of ``paths``, new ones appended."""
        remap = np.empty(len(paths), dtype=np.uint32)
        for i, p in enumerate(paths):
            j = self._index.get(p)
            if j is None:
                j = self._index[p] = len(self.paths)
                self.paths.append(p)
            remap[i] = j
        return remap
