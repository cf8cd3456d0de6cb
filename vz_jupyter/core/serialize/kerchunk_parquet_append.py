"""Appending to a kerchunk parquet reference folder (see :mod:`vz_jupyter.core.append`).

Reading (:func:`open_parquet_archive`): ``.zmetadata`` for every variable's
metadata; the record files of variables not along the dim and of small ones;
for big variables along the dim only the record files holding their last chunk
row, and the ``path`` column of the others (for "already in the archive").

Writing (:func:`write_parquet_append`): the new folder is built beside the old
one and swapped in atomically (the writer's staging and compare-and-swap, see
:mod:`.atomic`). Untouched record files are not rewritten: they are hard links
to the same files (copied only where the file system has no links). For a
variable growing along its leading chunk axis (every axis before it has one
chunk) the C-order chunk numbers of existing chunks do not change, so only the
last, partly filled record file is rewritten and new ones are added; other
layouts renumber every chunk and the variable is rewritten.

Loaded on demand (by :func:`~vz_jupyter.core.archive.open_archive` and the
append writer): it needs pyarrow and zarr, which ``import vz_jupyter`` does not load.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Sequence

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..access import RECORD_KEY, Confinement, confined, recorded_roots
from ..archive_view import (
    Archive,
    grid_of,
    leading_layout,
    new_flat_numbers,
    norm_path,
    not_archive,
    tail,
    view_of,
)
from ..errors import ScanError, WriteError
from ..model import INLINE, MAX_PATH_ID, MISSING, Manifest, VArray
from ..scan.refs import _build, _inline_bytes, _normalize_paths, _one_line, _parquet_manifest, _parse_doc
from ..sources import SOURCES_KEY, merged_records
from .atomic import write_output
from .kerchunk_json_append import merged_roots
from .kerchunk_parquet import manifest_tables
from .outputs import recognise
from .zarr_meta import MAX_PARQUET_FILL_BYTES, fill_plan, zarray, zattrs


def _rec(root: str, name: str, k: int) -> str:
    return os.path.join(root, name, f"refs.{k}.parq")


# -- reading ----------------------------------------------------------------------------
def read_records(root: str, name: str, start: int, stop: int, record_size: int):
    """Chunk numbers ``[start, stop)`` of variable ``name`` as raw columns:
    ``(paths, pid, offset, length, inline)`` with paths as stored (not
    resolved), ``pid`` indexing them (MISSING / INLINE reserved) and
    ``inline`` keyed by position in the range."""
    n = max(stop - start, 0)
    pid = np.full(n, MISSING, dtype=np.uint32)
    off = np.zeros(n, dtype=np.uint64)
    ln = np.zeros(n, dtype=np.uint64)
    inline: dict[int, bytes] = {}
    paths = _PathTable()
    if n == 0:
        return paths.table, pid, off, ln, inline
    for k in range(start // record_size, (stop - 1) // record_size + 1):
        lo = max(start, k * record_size)
        hi = min(stop, (k + 1) * record_size)
        t = _record_rows(root, name, k, lo - k * record_size, hi - lo, record_size)
        if t is None:
            continue  # fsspec reads a missing record file as missing chunks
        dst = slice(lo - start, hi - start)
        cols = set(t.column_names)
        has = paths.take(t.column("path"), pid[dst]) if "path" in cols else np.zeros(hi - lo, dtype=bool)
        o = t.column("offset").to_numpy().astype(np.int64) if "offset" in cols else np.zeros(hi - lo, np.int64)
        s = t.column("size").to_numpy().astype(np.int64) if "size" in cols else np.zeros(hi - lo, np.int64)
        if ((o < 0) | (s < 0)).any():
            raise ScanError(root, f"{name}/refs.{k}.parq has a negative offset or size")
        off[dst][has] = o[has]
        ln[dst][has] = s[has]
        if "raw" in cols:
            rawc = t.column("raw").combine_chunks()
            for i in np.flatnonzero(rawc.is_valid().to_numpy(zero_copy_only=False)).tolist():
                data = _inline_bytes(rawc[i].as_py())
                pos = lo - start + i
                pid[pos], off[pos], ln[pos] = INLINE, 0, len(data)
                inline[pos] = data
    return paths.table, pid, off, ln, inline


def _record_rows(root: str, name: str, k: int, first: int, count: int, record_size: int):
    """Rows ``[first, first + count)`` of record file ``k`` of ``name`` (None when the file is missing)."""
    fn = _rec(root, name, k)
    if not os.path.exists(fn):
        return None
    try:
        t = pq.read_table(fn)
    except Exception as e:  # noqa: BLE001
        raise ScanError(root, f"{name}/refs.{k}.parq is not a readable parquet file ({_one_line(e)})") from None
    if t.num_rows < first + count:
        raise ScanError(root, f"{name}/refs.{k}.parq has {t.num_rows} rows, expected at least "
                              f"{first + count} (record_size {record_size})")
    return t.slice(first, count)


class _PathTable:
    """The paths record files name, numbered in order of first use."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self.index: dict[str, int] = {}

    def take(self, column, pid_out: np.ndarray) -> np.ndarray:
        """Number the paths of a ``path`` column into ``pid_out``; returns
        which rows have a path."""
        col = column.combine_chunks()
        if not pa.types.is_dictionary(col.type):
            col = col.cast(pa.string()).dictionary_encode()
        has = col.is_valid().to_numpy(zero_copy_only=False)
        ids = col.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        used = np.unique(ids[has])  # only the paths these rows name (a record file names many more)
        words = col.dictionary.take(used).to_pylist() if used.size else []
        remap = np.zeros(len(col.dictionary), dtype=np.uint32)
        for u, w in zip(used.tolist(), words):
            j = self.index.get(w)
            if j is None:
                j = self.index[w] = len(self.table)
                self.table.append(w)
            remap[u] = j
        if used.size:
            pid_out[has] = remap[ids[has]]
        return has


def record_paths(root: str, name: str) -> set[str]:
    """Every path the record files of ``name`` reference (their ``path``
    column only; the dictionary when it is one)."""
    out: set[str] = set()
    folder = os.path.join(root, name)
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for fn in names:
        if not (fn.startswith("refs.") and fn.endswith(".parq")):
            continue
        try:
            col = pq.read_table(os.path.join(folder, fn), columns=["path"]).column("path")
        except Exception:  # noqa: BLE001  (no path column: nothing referenced)
            continue
        for chunk in col.chunks:
            values = chunk.dictionary if hasattr(chunk, "dictionary") else chunk.unique()
            out.update(v for v in values.to_pylist() if v)
    return out


def _tail_var(root: str, var: VArray, axis: int, record_size: int) -> VArray:
    """The last chunk row of ``var`` read from its record files (only the ones
    holding it when the layout is leading); paths resolved by the confinement
    in force."""
    g = var.manifest.grid
    n = int(np.prod(g, dtype=np.int64)) if g else 1
    if g[axis] == 0:
        return var
    if leading_layout(g, axis):
        start = (g[axis] - 1) * int(np.prod(g[axis + 1:], dtype=np.int64))
        tg = tuple(1 if k == axis else x for k, x in enumerate(g))
        shape = list(var.shape)
        shape[axis] = var.shape[axis] - (g[axis] - 1) * var.chunks[axis]
    else:
        start, tg, shape = 0, g, list(var.shape)
    table, pid, off, ln, inline = read_records(root, var.name, start, n, record_size)
    paths, remap = _normalize_paths(table) if table else ([], np.zeros(0, np.uint32))
    ref = pid <= MAX_PATH_ID
    if ref.any():
        pid[ref] = remap[pid[ref]]
    m = Manifest(tuple(paths), pid.reshape(tg), off.reshape(tg), ln.reshape(tg), inline)
    out = var.replace(shape=tuple(shape), manifest=m)
    return out if tg != g else tail(out, axis)


def open_parquet_archive(path: str, shown: str, dim: str, allowed_roots, *, full_limit: int):
    """The :class:`~vz_jupyter.core.archive.Archive` of a parquet folder."""
    if not recognise(path, "kerchunk-parquet")[0]:
        raise not_archive(shown, path, "kerchunk-parquet")
    try:
        with open(os.path.join(path, ".zmetadata"), "rb") as f:
            zmeta = json.load(f)
        meta = zmeta["metadata"]
        record_size = int(zmeta["record_size"])
    except (OSError, ValueError, KeyError, TypeError):
        raise not_archive(shown, path, "kerchunk-parquet") from None
    docs = {k: _parse_doc(k, v, path) for k, v in meta.items()}

    def dims_of(name: str) -> list:
        za = docs.get(f"{name}/.zattrs")
        d = za.get("_ARRAY_DIMENSIONS") if isinstance(za, dict) else None
        return d if isinstance(d, list) else []

    fs = fsspec.filesystem("file")
    deferred: set[str] = set()

    def manifest_for(name, vm):
        n = int(np.prod(vm["grid"], dtype=np.int64)) if vm["grid"] else 1
        if dim in dims_of(name) and n > full_limit:
            deferred.add(name)
            return Manifest.empty(vm["grid"])
        return _parquet_manifest(path, fs, name, vm, record_size, None)

    conf = Confinement.for_references(path, recorded_roots(zmeta), allowed_roots)
    with confined(conf):
        ds = _build(docs, path, manifest_for)
        variables = dict(ds.variables)
        for name in deferred:
            v = variables[name]
            variables[name] = _tail_var(path, v, v.dims.index(dim), record_size)
    shapes = {n: v.shape for n, v in ds.variables.items()}
    view, whole, tails = view_of(variables, dim, attrs=ds.attrs, coords=ds.coords, label=shown,
                                 fmt="kerchunk-parquet", skipped=ds.skipped, tails_given=frozenset(deferred))
    base = os.path.dirname(path)
    paths = {norm_path(p) for n, v in variables.items() if n not in deferred for p in v.manifest.paths}
    raw: set[str] = set()
    for name in deferred:
        raw |= record_paths(path, name)
    paths.update(norm_path(p, base) for p in raw)
    return Archive(shown, path, "kerchunk-parquet", dim, view, shapes, whole, tails, variables, frozenset(paths),
                   payload={"zmetadata": zmeta, "record_size": record_size})


# -- writing ----------------------------------------------------------------------------
def _link(src: str, dst: str) -> None:
    """``dst`` as a hard link to ``src`` (a copy where links are not possible)."""
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        shutil.copyfile(src, dst)


def _link_tree(src: str, dst: str, skip: set[str]) -> None:
    for entry in os.scandir(src):
        if entry.name in skip:
            continue
        s, d = os.path.join(src, entry.name), os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(d)
            _link_tree(s, d, set())
        elif entry.is_file(follow_symlinks=False):
            _link(s, d)
        else:  # pragma: no cover - recognise() refuses folders holding anything else
            raise WriteError(f"{s}: not a regular file or folder; not copied")


def _write_tables(folder: str, tables: Sequence, first: int) -> None:
    for j, t in enumerate(tables):
        pq.write_table(t, os.path.join(folder, f"refs.{first + j}.parq"), compression="zstd", write_statistics=False)


def _joined(parts: Sequence[tuple]) -> Manifest:
    """One flat manifest from ``(paths, pid, offset, length, inline)`` parts in order."""
    table: list[str] = []
    index: dict[str, int] = {}
    pids, offs, lens = [], [], []
    inline: dict[int, bytes] = {}
    base = 0
    for paths, pid, off, ln, inl in parts:
        remap = np.array([index.setdefault(p, len(index)) for p in paths], dtype=np.uint32)
        for p in paths:
            if index[p] == len(table):
                table.append(p)
        pid = np.array(pid, dtype=np.uint32).ravel()
        ref = pid <= MAX_PATH_ID
        if ref.any():
            pid[ref] = remap[pid[ref]]
        pids.append(pid)
        offs.append(np.asarray(off, dtype=np.uint64).ravel())
        lens.append(np.asarray(ln, dtype=np.uint64).ravel())
        inline.update({base + int(k): v for k, v in inl.items()})
        base += pid.size
    n = base
    return Manifest(tuple(table), np.concatenate(pids) if pids else np.zeros(0, np.uint32),
                    np.concatenate(offs) if offs else np.zeros(0, np.uint64),
                    np.concatenate(lens) if lens else np.zeros(0, np.uint64), inline) if n else Manifest.empty((0,))


def _as_parts(m: Manifest) -> tuple:
    return (m.paths, m.path_id.ravel(), m.offset.ravel(), m.length.ravel(), dict(m.inline))


def _write_rows(root: str, out: str, change, old_shape: tuple, record_size: int) -> None:
    name, axis, var = change.name, change.axis, change.var
    old_grid = grid_of(old_shape, var.chunks)
    new_grid = grid_of(change.shape, var.chunks)
    old_n = int(np.prod(old_grid, dtype=np.int64)) if old_grid else 1
    folder = os.path.join(out, name)
    os.mkdir(folder)
    rows = var.manifest
    if leading_layout(old_grid, axis):
        k0 = old_n // record_size
        for k in range(k0):
            if os.path.exists(_rec(root, name, k)):
                _link(_rec(root, name, k), _rec(out, name, k))
        old_part = read_records(root, name, k0 * record_size, old_n, record_size)
        seg = _joined([old_part, _as_parts(rows)])
        _write_tables(folder, manifest_tables(seg, record_size), k0)
        return
    # the chunk numbers of existing chunks change: rewrite the variable
    paths, pid, off, ln, inline = read_records(root, name, 0, old_n, record_size)
    new_n = int(np.prod(new_grid, dtype=np.int64))
    old_pos = (np.ravel_multi_index(np.unravel_index(np.arange(old_n), old_grid), new_grid) if old_n
               else np.zeros(0, np.int64))
    new_pos = new_flat_numbers(rows, new_grid, axis, change.row0)
    full = _joined([(paths, pid, off, ln, inline), _as_parts(rows)])
    order = np.concatenate([old_pos, new_pos]).astype(np.int64)
    pid_all = np.full(new_n, MISSING, dtype=np.uint32)
    off_all = np.zeros(new_n, dtype=np.uint64)
    len_all = np.zeros(new_n, dtype=np.uint64)
    pid_all[order], off_all[order], len_all[order] = full.path_id, full.offset, full.length
    inl = {int(order[k]): v for k, v in full.inline.items()}
    m = Manifest(full.paths, pid_all.reshape(new_grid), off_all.reshape(new_grid), len_all.reshape(new_grid), inl)
    _write_tables(folder, manifest_tables(m, record_size), 0)


def _doc_like(old, new: dict):
    """``new`` in the form the old metadata value had (a JSON string or an object)."""
    if isinstance(old, str):
        return json.dumps(new, allow_nan=True)
    return new


def updated_zmetadata(zmeta: dict, changes, new_paths: Sequence[str], records: Sequence[dict] = ()) -> bytes:
    """The new ``.zmetadata``: the changed variables' documents replaced (a
    grown variable only has its shape changed), the new files' folders added
    to the recorded roots; everything else as it was."""
    meta = dict(zmeta["metadata"])
    for c in changes:
        zk, ak = f"{c.name}/.zarray", f"{c.name}/.zattrs"
        if c.kind == "rows":
            za = dict(_parse_doc(zk, meta[zk], "<.zmetadata>"))
            za["shape"] = list(c.shape)
            meta[zk] = _doc_like(meta[zk], za)
        else:
            plan = fill_plan(c.var, max_fill_bytes=MAX_PARQUET_FILL_BYTES)
            meta[zk] = _doc_like(meta.get(zk), zarray(c.var, plan.fill_value, plan.codecs))
            meta[ak] = _doc_like(meta.get(ak), zattrs(c.var))
    out = dict(zmeta)
    out["metadata"] = meta
    out[RECORD_KEY] = merged_roots(zmeta.get(RECORD_KEY), new_paths)
    if records or SOURCES_KEY in zmeta:
        out[SOURCES_KEY] = merged_records(zmeta.get(SOURCES_KEY), records)
    return json.dumps(out, separators=(",", ":")).encode("utf-8")


def write_parquet_append(arc, changes, new_paths: Sequence[str], sources=None, records: Sequence[dict] = ()) -> None:
    """Put the grown parquet folder in place of ``arc`` (see the module doc)."""
    root = arc.path
    record_size = arc.payload["record_size"]
    zmeta_bytes = updated_zmetadata(arc.payload["zmetadata"], changes, new_paths, records)

    def fill(out: str) -> None:
        touched = {c.name for c in changes}
        _link_tree(root, out, touched | {".zmetadata"})
        for c in changes:
            if c.kind == "rows":
                _write_rows(root, out, c, arc.shapes[c.name], record_size)
            else:
                folder = os.path.join(out, c.name)
                os.mkdir(folder)
                blob = fill_plan(c.var, max_fill_bytes=MAX_PARQUET_FILL_BYTES).blob
                _write_tables(folder, manifest_tables(c.var.manifest, record_size, blob), 0)
        with open(os.path.join(out, ".zmetadata"), "wb") as f:
            f.write(zmeta_bytes)
            f.flush()
            os.fsync(f.fileno())

    write_output(arc.target, "kerchunk-parquet", fill, kind="dir", overwrite=True, sources=sources,
                 precheck=False, expect=arc.fingerprint)


__all__ = ["open_parquet_archive", "write_parquet_append", "read_records", "record_paths", "updated_zmetadata"]
