"""File access for the NetCDF3 scanner: a local file or an fsspec URL read by
byte ranges (a server that ignores ranges is caught), and the small ranges of
inlined variables fetched from the header's prefix or in merged blocks."""
from __future__ import annotations

from ...errors import ScanError

#: ranges to inline closer than this are fetched in one read
_MERGE_GAP = 64 * 1024


class _Reader:
    """Byte ranges of one file: local (one open file) or remote (fsspec's
    ``cat_file`` / ``cat_ranges``); ``size`` is set by the scan once known."""

    def __init__(self, path: str, fs):
        self.path = path
        self.fs = fs
        self.size: int | None = None
        self._f = None
        if fs is None:
            self._f = open(path, "rb")

    def _check(self, data: bytes, start: int, end: int) -> bytes:
        """Servers that ignore a Range request send the whole file: cut it (when
        the size tells us it is the whole file) or refuse."""
        if len(data) <= end - start:
            return data
        if self.size is not None and len(data) == self.size:
            return data[start:end]
        raise ScanError(self.path, f"the server ignored a byte-range request (asked for {end - start} bytes, got {len(data)})")

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if self._f is not None:
            self._f.seek(offset)
            return self._f.read(length)
        return self._check(self.fs.cat_file(self.path, start=offset, end=offset + length), offset, offset + length)

    def read_ranges(self, starts: list[int], ends: list[int]) -> list[bytes]:
        if self._f is not None:
            return [self.read(s, e - s) for s, e in zip(starts, ends)]
        datas = self.fs.cat_ranges([self.path] * len(starts), starts, ends)
        return [self._check(d, s, e) for d, s, e in zip(datas, starts, ends)]

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None


def _fetch(reader: _Reader, prefix: bytes, starts: list[int], ends: list[int]) -> list[bytes]:
    """Bytes of many small ranges: served from the already-read prefix when it
    covers them, otherwise read in merged blocks."""
    out: list[bytes | None] = [None] * len(starts)
    todo = []
    for i, (s, e) in enumerate(zip(starts, ends)):
        if e <= len(prefix):
            out[i] = prefix[s:e]
        else:
            todo.append(i)
    if todo:
        order = sorted(todo, key=lambda i: starts[i])
        blocks: list[list[int]] = []  # [start, end, member...]
        for i in order:
            if blocks and starts[i] - blocks[-1][1] <= _MERGE_GAP:
                blocks[-1][1] = max(blocks[-1][1], ends[i])
                blocks[-1].append(i)
            else:
                blocks.append([starts[i], ends[i], i])
        datas = reader.read_ranges([bl[0] for bl in blocks], [bl[1] for bl in blocks])
        for bl, data in zip(blocks, datas):
            for i in bl[2:]:
                out[i] = data[starts[i] - bl[0] : ends[i] - bl[0]]
    return out  # type: ignore[return-value]
