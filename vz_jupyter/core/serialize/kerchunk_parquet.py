"""kerchunk parquet references, laid out exactly as fsspec's ``LazyReferenceMapper``
reads them. Pure: ``to_parquet_tables(vds)`` describes pyarrow tables built from
the manifest columns (no Python object per chunk); ``write_parquet_dir`` writes them.
Streaming: each variable's record files are a :class:`RecordTables` sequence that
builds one table when asked for it, so writing holds one record file in memory
at a time, however many chunks there are.

Layout of the directory::

    .zmetadata          JSON {"metadata": {zarr v2 documents}, "record_size": N}
    var/refs.0.parq     rows 0 .. N-1 of var's C-order ravelled chunk numbers
    var/refs.1.parq     rows N .. 2N-1 (every file padded to N rows)

Columns: ``path`` (dictionary-encoded string, i.e. categorical; null for a
missing or inlined chunk), ``offset`` and ``size`` (int64, 0 when not a
reference), ``raw`` (binary, the stored bytes of an inlined chunk, else null).
"""
from __future__ import annotations

import base64
import html
import json
import math
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..access import RECORD_KEY, for_writing, source_roots
from ..model import MAX_PATH_ID, MISSING, Manifest, VDataset
from ..sources import SOURCES_KEY, source_records
from .zarr_meta import MAX_PARQUET_FILL_BYTES, fill_plans, metadata

DEFAULT_RECORD_SIZE = 100_000


@dataclass(frozen=True, eq=False)
class ParquetRefs:
    """kerchunk parquet references: the zarr metadata documents, the record size,
    and per variable its record files (a :class:`RecordTables` sequence of pyarrow
    tables, each built when it is used)."""

    metadata: Mapping[str, Any]
    record_size: int
    tables: Mapping[str, tuple] = field(default_factory=dict)
    #: the source folders, recorded in .zmetadata (see vz_jupyter.core.access)
    source_roots: tuple = ()
    #: the sources' size, mtime and ETag, recorded in .zmetadata (see vz_jupyter.core.sources)
    sources: tuple = ()

    def zmetadata(self) -> bytes:
        """The ``.zmetadata`` file content."""
        return json.dumps(
            {"metadata": dict(self.metadata), "record_size": self.record_size, RECORD_KEY: list(self.source_roots),
             SOURCES_KEY: list(self.sources)},
            allow_nan=True,  # NaN attributes stay numbers (Python's JSON reads the literal)
            separators=(",", ":"),
        ).encode("utf-8")

    @property
    def n_files(self) -> int:
        return 1 + sum(len(t) for t in self.tables.values())

    def __repr__(self) -> str:
        return (
            f"<ParquetRefs variables={len(self.tables)} record_size={self.record_size} "
            f"files={self.n_files}>"
        )

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


# pandas metadata so both of fsspec's engines read the columns back as kerchunk
# does: fastparquet gives int64 offsets/sizes (not float64), ``None`` for a null
# path or raw (not NaN) and bytes for ``raw`` even when every row is null. The
# path column is still dictionary-encoded in the file (and read as categorical
# by pyarrow).
_PANDAS_META = json.dumps(
    {
        "index_columns": [],
        "column_indexes": [],
        "columns": [
            {"name": "path", "field_name": "path", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
            {"name": "offset", "field_name": "offset", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "size", "field_name": "size", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "raw", "field_name": "raw", "pandas_type": "bytes", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "vz_jupyter", "version": "0.1"},
        "pandas_version": "2.2.0",
    }
).encode()


def _raw_value(data: bytes) -> bytes:
    """fsspec base64-decodes any reference value starting with ``base64:``, raw
    parquet bytes included: such data is stored base64-encoded itself."""
    data = bytes(data)
    if data.startswith(b"base64:"):
        return b"base64:" + base64.b64encode(data)
    return data


def _raw_column(pa, rows: np.ndarray, values: list[bytes], n: int):
    """A binary column of ``n`` rows: ``values`` at the (sorted) ``rows``, null
    elsewhere. Built from buffers (vectorised)."""
    if not len(rows):
        return pa.nulls(n, type=pa.binary())
    lengths = np.zeros(n, dtype=np.int64)
    lengths[rows] = [len(v) for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    valid = np.zeros(n, dtype=bool)
    valid[rows] = True
    data = b"".join(values)
    typ = pa.large_binary() if offsets[-1] >= 2**31 else pa.binary()
    off = offsets if typ == pa.large_binary() else offsets.astype(np.int32)
    bitmap = np.packbits(valid, bitorder="little")
    return pa.Array.from_buffers(
        typ,
        n,
        [pa.py_buffer(bitmap.tobytes()), pa.py_buffer(off.tobytes()), pa.py_buffer(data)],
        null_count=int(n - valid.sum()),
    )


def _flat(a: np.ndarray, start: int, stop: int) -> np.ndarray:
    """C-order elements ``start:stop`` of a column, copying only those (a
    broadcast column, e.g. an all-missing grid, is never expanded whole)."""
    return a.reshape(-1)[start:stop] if a.flags.c_contiguous else a.flat[start:stop]


def _path_column(pa, ids: np.ndarray, ref: np.ndarray, paths: np.ndarray):
    """The dictionary-encoded ``path`` column of one record: its dictionary
    holds only the paths this record uses."""
    used, inverse = np.unique(ids[ref], return_inverse=True)
    indices = np.zeros(ids.size, dtype=np.int32)
    indices[ref] = inverse.astype(np.int32)
    dictionary = pa.array(list(paths[used]) if len(used) else [], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=~ref, type=pa.int32()), dictionary)


class RecordTables(Sequence):
    """The record files of one manifest (C-order chunk numbers, ``record_size``
    rows each, the last padded) as pyarrow tables. A lazy sequence: each table
    is built when it is indexed or iterated, so a writer that takes them one at
    a time holds one record's columns, not the whole manifest's."""

    def __init__(self, manifest: Manifest, record_size: int, fill: bytes | None = None):
        if record_size < 1:
            raise ValueError(f"record_size must be at least 1, got {record_size}")
        self.manifest, self.record_size, self.fill = manifest, int(record_size), fill
        # a zero-sized grid has nothing to reference: it keeps one empty record
        self._n = max(manifest.n_chunks, 1)
        inline = manifest.inline
        self._order = np.sort(np.fromiter(inline, dtype=np.int64, count=len(inline)))
        self._paths = np.array(manifest.paths, dtype=object)

    def __len__(self) -> int:
        return math.ceil(self._n / self.record_size)

    def __getitem__(self, r):
        if isinstance(r, slice):
            return tuple(self[i] for i in range(*r.indices(len(self))))
        r = operator.index(r)
        if r < 0:
            r += len(self)
        if not 0 <= r < len(self):
            raise IndexError(f"record {r} of {len(self)}")
        return self._table(r)

    def __iter__(self) -> Iterator:
        return (self._table(r) for r in range(len(self)))

    def __repr__(self) -> str:
        return f"<RecordTables {len(self)} × {self.record_size} rows of {self.manifest!r}>"

    def _columns(self, start: int, cnt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(path ids, offsets, sizes) of rows ``start:start+cnt``, padded to a
        whole record with missing chunks (offset and size 0 where not referenced)."""
        m, rs = self.manifest, self.record_size
        ids = np.full(rs, MISSING, dtype=np.uint32)
        offset = np.zeros(rs, dtype=np.int64)
        size = np.zeros(rs, dtype=np.int64)
        if m.n_chunks:
            ids[:cnt] = _flat(m.path_id, start, start + cnt)
            offset[:cnt] = _flat(m.offset, start, start + cnt).astype(np.int64)
            size[:cnt] = _flat(m.length, start, start + cnt).astype(np.int64)
        ref = ids <= MAX_PATH_ID
        offset[~ref] = 0
        size[~ref] = 0
        return ids, offset, size

    def _raw(self, pa, ids: np.ndarray, start: int, cnt: int):
        """The ``raw`` column: inlined chunks' bytes, and the fill chunk in
        every unwritten row of the grid (not in the padding) when ``fill`` is set."""
        lo, hi = np.searchsorted(self._order, [start, start + cnt])
        keys = self._order[lo:hi]
        rows = keys - start
        values = [_raw_value(self.manifest.inline[k]) for k in keys.tolist()]
        if self.fill is not None and self.manifest.n_chunks:
            missing = np.flatnonzero(ids[:cnt] == MISSING)
            if len(missing):
                rows = np.concatenate([rows, missing])
                values += [_raw_value(self.fill)] * len(missing)
                order = np.argsort(rows, kind="stable")
                rows = rows[order]
                values = [values[i] for i in order.tolist()]
        return _raw_column(pa, rows, values, self.record_size)

    def _table(self, r: int):
        import pyarrow as pa  # heavy: pyarrow loads only when parquet is written

        start = r * self.record_size
        cnt = min(start + self.record_size, self._n) - start
        ids, offset, size = self._columns(start, cnt)
        path_col = _path_column(pa, ids, ids <= MAX_PATH_ID, self._paths)
        raw = self._raw(pa, ids, start, cnt)
        if pa.types.is_large_binary(raw.type):
            raise ValueError("inlined data of one record file exceeds 2 GiB; lower record_size")
        schema = pa.schema(
            [
                pa.field("path", path_col.type),
                pa.field("offset", pa.int64(), nullable=False),
                pa.field("size", pa.int64(), nullable=False),
                pa.field("raw", raw.type),
            ],
            metadata={b"pandas": _PANDAS_META},
        )
        return pa.Table.from_arrays(
            [path_col, pa.array(offset, type=pa.int64()), pa.array(size, type=pa.int64()), raw], schema=schema
        )


def manifest_tables(manifest: Manifest, record_size: int = DEFAULT_RECORD_SIZE,
                    fill: bytes | None = None) -> RecordTables:
    """The record files of a manifest (C-order chunk numbers) as a lazy sequence
    of pyarrow tables (:class:`RecordTables`: each built when used). ``fill``:
    the stored bytes every unwritten chunk reads as, written in the ``raw``
    column (repeated values: parquet's dictionary encoding stores them once on
    disk); None leaves unwritten chunks out."""
    return RecordTables(manifest, record_size, fill)


def to_parquet_tables(vds: VDataset, record_size: int = DEFAULT_RECORD_SIZE) -> ParquetRefs:
    """kerchunk parquet references for ``vds`` (pure; the record tables are built
    when used, see :class:`RecordTables`)."""
    record_size = int(record_size)
    if record_size < 1:
        raise ValueError(f"record_size must be at least 1, got {record_size}")
    for name in vds.variables:
        if "/" in name or name.startswith("."):
            raise ValueError(f"variable name {name!r} cannot be a parquet reference field")
    vds = for_writing(vds)  # no credentials in written paths
    plans = fill_plans(vds, max_fill_bytes=MAX_PARQUET_FILL_BYTES)
    tables = {name: manifest_tables(var.manifest, record_size, plans[name].blob) for name, var in vds.variables.items()}
    roots = source_roots(p for v in vds.variables.values() for p in v.manifest.paths)
    return ParquetRefs(metadata(vds, plans), record_size, tables, tuple(roots), tuple(source_records(vds.sources)))


def write_parquet_dir(refs: ParquetRefs, dirpath: str | os.PathLike) -> None:
    """Write ``refs`` into the (existing, empty) directory ``dirpath``, one record
    file at a time (each table is built, written and dropped before the next)."""
    import pyarrow.parquet as pq  # heavy: pyarrow loads only when parquet is written

    dirpath = os.fspath(dirpath)
    os.makedirs(dirpath, exist_ok=True)
    for name, tables in refs.tables.items():
        vdir = os.path.join(dirpath, name)
        os.makedirs(vdir, exist_ok=True)
        for k, table in enumerate(tables):
            pq.write_table(
                table,
                os.path.join(vdir, f"refs.{k}.parq"),
                compression="zstd",
                write_statistics=False,
            )
    with open(os.path.join(dirpath, ".zmetadata"), "wb") as f:
        f.write(refs.zmetadata())
