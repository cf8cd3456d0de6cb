"""kerchunk parquet references, laid out exactly as fsspec's ``LazyReferenceMapper``
reads them. Pure: ``to_parquet_tables(vds)`` builds pyarrow tables from the
manifest columns (no Python object per chunk); ``write_parquet_dir`` writes them.

Layout of the directory::

    .zmetadata          JSON {"metadata": {zarr v2 documents}, "record_size": N}
    var/refs.0.parq     rows 0 .. N-1 of var's C-order ravelled chunk numbers
    var/refs.1.parq     rows N .. 2N-1 (every file padded to N rows)

Columns: ``path`` (dictionary-encoded string, i.e. categorical; null for a
missing or inlined chunk), ``offset`` and ``size`` (int64, 0 when not a
reference), ``raw`` (binary, the stored bytes of an inlined chunk, else null).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..model import MAX_PATH_ID, MISSING, Manifest, VDataset
from .zarr_meta import MAX_PARQUET_FILL_BYTES, fill_plans, metadata

DEFAULT_RECORD_SIZE = 100_000


@dataclass(frozen=True, eq=False)
class ParquetRefs:
    """kerchunk parquet references in memory: the zarr metadata documents, the
    record size, and per variable one pyarrow table per record file."""

    metadata: Mapping[str, Any]
    record_size: int
    tables: Mapping[str, tuple] = field(default_factory=dict)
    #: the source folders, recorded in .zmetadata (see vz_jupyter.core.access)
    source_roots: tuple = ()

    def zmetadata(self) -> bytes:
        """The ``.zmetadata`` file content."""
        from ..access import RECORD_KEY

        return json.dumps(
            {"metadata": dict(self.metadata), "record_size": self.record_size, RECORD_KEY: list(self.source_roots)},
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
        import html

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
        import base64

        return b"base64:" + base64.b64encode(data)
    return data


def _raw_column(pa, inline: Mapping[int, bytes], start: int, n: int, order: np.ndarray | None = None):
    """A binary column of ``n`` rows, null except for inlined chunks whose flat
    number falls in ``[start, start + n)`` (``order``: all their numbers,
    sorted). Built from buffers (vectorised)."""
    if order is None:
        order = np.sort(np.fromiter(inline, dtype=np.int64, count=len(inline)))
    lo, hi = np.searchsorted(order, [start, start + n])
    keys = order[lo:hi].tolist()
    if not keys:
        return pa.nulls(n, type=pa.binary())
    rows = np.asarray(keys, dtype=np.int64) - start
    values = [_raw_value(inline[k]) for k in keys]
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
    arr = pa.Array.from_buffers(
        typ,
        n,
        [pa.py_buffer(bitmap.tobytes()), pa.py_buffer(off.tobytes()), pa.py_buffer(data)],
        null_count=int(n - valid.sum()),
    )
    return arr


def manifest_tables(manifest: Manifest, record_size: int = DEFAULT_RECORD_SIZE, fill: bytes | None = None) -> tuple:
    """One pyarrow table per record file for a manifest (C-order chunk numbers).
    ``fill``: the stored bytes every unwritten chunk reads as, written in the
    ``raw`` column (repeated values: parquet's dictionary encoding stores them
    once on disk); None leaves unwritten chunks out."""
    import pyarrow as pa

    if record_size < 1:
        raise ValueError(f"record_size must be at least 1, got {record_size}")
    pid = manifest.path_id.ravel()
    off = manifest.offset.ravel()
    ln = manifest.length.ravel()
    n = max(int(pid.size), 1)
    if pid.size == 0:  # zero-sized grid: nothing to reference, keep one empty record
        pid = np.full(1, 0xFFFFFFFF, dtype=np.uint32)
        off = ln = np.zeros(1, dtype=np.uint64)
    paths = np.array(manifest.paths, dtype=object)
    inline = manifest.inline
    if fill is not None and manifest.n_missing:
        inline = dict(inline)
        inline.update(dict.fromkeys(np.flatnonzero(pid == MISSING).tolist(), fill))
    order = np.sort(np.fromiter(inline, dtype=np.int64, count=len(inline)))
    nrec = math.ceil(n / record_size)
    tables = []
    for r in range(nrec):
        start = r * record_size
        stop = min(start + record_size, n)
        cnt = stop - start
        ids = np.full(record_size, 0xFFFFFFFF, dtype=np.uint32)
        ids[:cnt] = pid[start:stop]
        ref = ids <= MAX_PATH_ID
        used, inverse = np.unique(ids[ref], return_inverse=True)
        indices = np.zeros(record_size, dtype=np.int32)
        indices[ref] = inverse.astype(np.int32)
        dictionary = pa.array(list(paths[used]) if len(used) else [], type=pa.string())
        path_col = pa.DictionaryArray.from_arrays(
            pa.array(indices, mask=~ref, type=pa.int32()), dictionary
        )
        offset = np.zeros(record_size, dtype=np.int64)
        size = np.zeros(record_size, dtype=np.int64)
        offset[:cnt] = off[start:stop].astype(np.int64)
        size[:cnt] = ln[start:stop].astype(np.int64)
        offset[~ref] = 0
        size[~ref] = 0
        raw = _raw_column(pa, inline, start, record_size, order)
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
        tables.append(
            pa.Table.from_arrays(
                [path_col, pa.array(offset, type=pa.int64()), pa.array(size, type=pa.int64()), raw],
                schema=schema,
            )
        )
    return tuple(tables)


def to_parquet_tables(vds: VDataset, record_size: int = DEFAULT_RECORD_SIZE) -> ParquetRefs:
    """kerchunk parquet references for ``vds`` in memory (pure)."""
    record_size = int(record_size)
    if record_size < 1:
        raise ValueError(f"record_size must be at least 1, got {record_size}")
    for name in vds.variables:
        if "/" in name or name.startswith("."):
            raise ValueError(f"variable name {name!r} cannot be a parquet reference field")
    from ..access import for_writing, source_roots

    vds = for_writing(vds)  # no credentials in written paths
    plans = fill_plans(vds, max_fill_bytes=MAX_PARQUET_FILL_BYTES)
    tables = {name: manifest_tables(var.manifest, record_size, plans[name].blob) for name, var in vds.variables.items()}
    roots = source_roots(p for v in vds.variables.values() for p in v.manifest.paths)
    return ParquetRefs(metadata(vds, plans), record_size, tables, tuple(roots))


def write_parquet_dir(refs: ParquetRefs, dirpath: str | os.PathLike) -> None:
    """Write ``refs`` into the (existing, empty) directory ``dirpath``."""
    import pyarrow.parquet as pq

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
