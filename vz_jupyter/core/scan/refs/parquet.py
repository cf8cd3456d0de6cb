"""Kerchunk parquet references (``.zmetadata`` + ``var/refs.N.parq``) ->
manifests, record file by record file, within the budget of
:data:`~vz_jupyter.core.limits.MAX_PARQUET_BYTES` their footers declare.

pyarrow is imported inside the functions that read record files: it costs
~130 ms to import and only parquet references need it."""
from __future__ import annotations

import math

import numpy as np

from ... import limits
from ...errors import ScanError
from ...model import INLINE, Manifest, VDataset
from .build import _build
from .columns import _Columns, _PathTable
from .jsondoc import _inline_bytes, _one_line, _parse_doc, loads_json
from .targets import _file_size, _normalize_paths


def _from_parquet(root: str, fs, storage_options) -> VDataset:
    try:
        raw = fs.cat_file(f"{root.rstrip('/')}/.zmetadata")
    except FileNotFoundError:
        raise ScanError(root, "a directory without .zmetadata is not a kerchunk parquet reference set") from None
    zm = loads_json(raw, root, ".zmetadata is not valid JSON")
    if not isinstance(zm, dict) or "metadata" not in zm or type(zm.get("record_size")) is not int:
        raise ScanError(root, ".zmetadata needs 'metadata' and an integer 'record_size'")
    meta, record_size = zm["metadata"], zm["record_size"]
    if record_size < 1:
        raise ScanError(root, f".zmetadata record_size {record_size} must be positive")
    if not isinstance(meta, dict):
        raise ScanError(root, ".zmetadata 'metadata' is not an object")
    docs = {k: _parse_doc(k, v, root) for k, v in meta.items()}
    budget = [limits.MAX_PARQUET_BYTES]
    return _build(docs, root, lambda name, var_meta: _parquet_manifest(root, fs, name, var_meta, record_size,
                                                                         storage_options, budget))


def _read_record_file(fs, fn: str, root: str, where: str, cnt: int, record_size: int, budget: list,
                      raw_limit: int):
    """One record file as a pyarrow table, after checking what its footer
    declares (rows, uncompressed bytes) against the budgets; None if absent."""
    import pyarrow.parquet as pq  # heavy (~130 ms to import): only parquet references need it

    try:
        with fs.open(fn, "rb") as f:
            pf = pq.ParquetFile(f)
            md = pf.metadata
            if md.num_rows > record_size:
                raise ScanError(root, f"{where} declares {md.num_rows:,} rows, more than record_size {record_size:,}")
            if md.num_rows < cnt:
                raise ScanError(root, f"{where} has {md.num_rows} rows, expected {cnt} (record_size {record_size})")
            declared = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
            names = [md.schema.column(j).name for j in range(md.num_columns)]
            if "raw" in names:
                j = names.index("raw")
                raw_bytes = sum(md.row_group(i).column(j).total_uncompressed_size for i in range(md.num_row_groups))
                if raw_bytes > md.num_rows * (raw_limit + 64) + (1 << 16):
                    raise ScanError(root, f"{where}: its 'raw' column declares {raw_bytes:,} bytes, more than "
                                          f"{md.num_rows} chunk(s) of this variable can hold")
            budget[0] -= declared
            if budget[0] < 0:
                raise ScanError(root, f"{where}: the record files declare more than {limits.MAX_PARQUET_BYTES:,} bytes "
                                      f"of references (budget vz_jupyter.core.limits.MAX_PARQUET_BYTES)")
            return pf.read()
    except FileNotFoundError:
        return None  # fsspec reads a missing record file as missing chunks
    except ScanError:
        raise
    except Exception as e:  # noqa: BLE001  (pyarrow raises ArrowInvalid, OSError, ...)
        raise ScanError(root, f"{where} is not a readable parquet file ({_one_line(e)})") from None


def _int_column(t, col: str, cnt: int, has_path: np.ndarray, root: str, where: str) -> np.ndarray:
    """Column ``offset`` or ``size`` of a record file as int64, checked where rows have a path."""
    import pyarrow as pa  # heavy (~130 ms to import): only parquet references need it

    if col not in t.column_names:
        if has_path.any():
            raise ScanError(root, f"{where} has paths but no {col!r} column")
        return np.zeros(cnt, dtype=np.int64)
    c = t.column(col).combine_chunks()
    if pa.types.is_null(c.type):
        c_valid = np.zeros(cnt, dtype=bool)
        vals = np.zeros(cnt, dtype=np.int64)
    elif pa.types.is_integer(c.type):
        c_valid = c.is_valid().to_numpy(zero_copy_only=False)
        vals = c.fill_null(0).to_numpy(zero_copy_only=False)
        if c.type.bit_width == 64 and pa.types.is_unsigned_integer(c.type) and (vals > (1 << 62)).any():
            raise ScanError(root, f"{where}: {col} values are out of range")
        vals = vals.astype(np.int64)
    else:
        raise ScanError(root, f"{where}: column {col!r} is {c.type}, not integers")
    if (has_path & ~c_valid).any():
        raise ScanError(root, f"{where}: a row with a path has a null {col}")
    if (vals[has_path] < 0).any():
        raise ScanError(root, f"{where} has a negative offset or size")
    if (vals[has_path] > (1 << 62)).any():
        raise ScanError(root, f"{where}: {col} values are out of range")
    return vals


def _parquet_manifest(root, fs, name, var_meta, record_size, storage_options, budget=None) -> Manifest:
    """The manifest of ``name`` from its record files ``name/refs.N.parq`` (a
    missing one holds missing chunks, as fsspec reads it). ``budget``, a
    one-item list of bytes left, is shared by the variables of one reference set."""
    budget = [limits.MAX_PARQUET_BYTES] if budget is None else budget
    grid = var_meta["grid"]
    n = math.prod(grid) if grid else 1
    cols = _Columns(n)
    table = _PathTable()
    whole: list[int] = []
    for r in range(max(math.ceil(n / record_size), 1)):
        where = f"{name}/refs.{r}.parq"
        start = r * record_size
        cnt = min(record_size, n - start)
        t = _read_record_file(fs, f"{root.rstrip('/')}/{where}", root, where, cnt, record_size, budget,
                              var_meta.get("limit", limits.MAX_CHUNK_BYTES))
        if t is not None:
            whole.extend(_place_record(t.slice(0, cnt), start, cnt, root, where, cols, table))
    for k in whole:
        if cols.pid[k] != INLINE:
            cols.ln[k] = _file_size(table.paths[cols.pid[k]], root, storage_options)
    return cols.manifest(table.paths, grid)


def _place_record(t, start: int, cnt: int, root: str, where: str, cols: _Columns, table: _PathTable) -> list[int]:
    """The ``cnt`` rows of one record file into ``cols`` from chunk ``start`` on;
    returns the chunks that reference a whole file (offset and size 0)."""
    names = set(t.column_names)
    if "raw" not in names and "path" not in names:
        raise ScanError(root, f"{where} has neither a 'path' nor a 'raw' column")
    has_path = np.zeros(cnt, dtype=bool)
    if "path" in names:
        has_path = _place_paths(t, start, cnt, root, where, cols, table)
    o = _int_column(t, "offset", cnt, has_path, root, where)
    s = _int_column(t, "size", cnt, has_path, root, where)
    cols.off[start:start + cnt][has_path] = o[has_path]
    cols.ln[start:start + cnt][has_path] = s[has_path]
    whole = (start + np.flatnonzero(has_path & (o == 0) & (s == 0))).tolist()
    if "raw" in names:
        _place_raw(t, start, root, where, cols)
    return whole


def _place_paths(t, start: int, cnt: int, root: str, where: str, cols: _Columns, table: _PathTable) -> np.ndarray:
    """The ``path`` column into ``cols.pid`` (paths resolved, confined and added
    to ``table``); returns which rows have a path."""
    col, dictionary, ids = _path_dictionary(t.column("path").combine_chunks(), root, where)
    has_path = col.is_valid().to_numpy(zero_copy_only=False)
    if dictionary:
        norm, local = _normalize_paths([str(d) for d in dictionary], root)
        remap = table.add(norm)
        gids = remap[local[ids]] if len(ids) else np.zeros(0, dtype=np.uint32)
        cols.pid[start:start + cnt][has_path] = gids[has_path]
    return has_path


def _path_dictionary(col, root: str, where: str) -> tuple:
    """``(column, distinct paths, row -> path index)`` of a ``path`` column
    (dictionary-encoded or plain strings)."""
    import pyarrow as pa  # heavy (~130 ms to import): only parquet references need it

    if pa.types.is_dictionary(col.type):
        if not (pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type)):
            raise ScanError(root, f"{where}: column 'path' is {col.type}, not strings")
        return col, col.dictionary.to_pylist(), col.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
        col = col.cast(pa.string())
        enc = col.dictionary_encode()
        return col, enc.dictionary.to_pylist(), enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    raise ScanError(root, f"{where}: column 'path' is {col.type}, not strings")


def _place_raw(t, start: int, root: str, where: str, cols: _Columns) -> None:
    """The ``raw`` column's non-null rows into ``cols`` as inline chunks."""
    import pyarrow as pa  # heavy (~130 ms to import): only parquet references need it

    rawc = t.column("raw").combine_chunks()
    if not (pa.types.is_binary(rawc.type) or pa.types.is_large_binary(rawc.type) or pa.types.is_null(rawc.type)
            or pa.types.is_string(rawc.type) or pa.types.is_large_string(rawc.type)):
        raise ScanError(root, f"{where}: column 'raw' is {rawc.type}, not bytes")
    valid = np.flatnonzero(rawc.is_valid().to_numpy(zero_copy_only=False))
    for i in valid.tolist():
        cols.set_inline(start + i, _inline_bytes(rawc[i].as_py(), root, f"{where} row {i}: raw"))
