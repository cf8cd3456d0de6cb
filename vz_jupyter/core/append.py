"""Keep an archive current: append new files to existing references, checked
first, written atomically.

    report = vz.append("archive.parquet", "incoming/2026-12-*.nc", dim="time")
    report = vz.check("archive.parquet", "incoming/*.nc", dim="time")   # the same, nothing written

The archive (kerchunk JSON, a kerchunk parquet folder or an Icechunk
repository) is read as a light view without touching any of its source files
(:mod:`vz_jupyter.core.archive`); the new files are scanned, sorted along
``dim`` and checked against it with :func:`~vz_jupyter.core.check.check`
(dtype, codecs, chunk shapes, fill values, CF packing, time units, order,
overlaps and gaps with the archive's coordinate, variables missing on either
side), plus what only an append can get wrong:

* a file already in the archive (an error naming it, or left out with
  ``errors="skip"``);
* an archive whose last chunk along ``dim`` is partial: a regular chunk grid
  cannot continue after it (refused, with the reason);
* time units: variables stored inlined (coordinates) are rewritten whole with
  the new values re-encoded into the archive's units; a time variable stored as
  chunk rows in the source files cannot be re-encoded, so other units there
  are refused;
* values of the archive not stored inline (its ``lat`` in the first source
  file, say) are not read: the report says what could not be compared
  (``read_archive=True`` reads them).

An error in the report means nothing is written: :func:`append` raises
:class:`~vz_jupyter.core.errors.CheckFailed` carrying the report and the target
is left byte for byte as it was. Otherwise the archive grows in one atomic step
(a swapped-in JSON file or parquet folder, one Icechunk commit naming the
files), under a lock that refuses a concurrent append to the same target.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from .access import for_writing
from .append_rules import Prepared, already_in_archive, base_name, core_findings, plural, rows_rules
from .archive import open_archive
from .archive_view import Archive, VarChange, can_rewrite_whole, grid_of, raw_inline
from .cf import inline_values_var
from .check import COORD_INLINE_MAX_BYTES, Report, check as _check
from .concat import concat, join_manifests
from .errors import CheckFailed, VZError
from .model import MISSING, Source, VDataset
from .scan import scan
from .serialize.outputs import SourceGuard
from .sort import sort as sort_datasets
from .sources import source_records
from .values import CoordinateReader


class AppendReport(Report):
    """The report of :func:`append` (or of :func:`check` on an archive): every
    finding of the check, plus what was appended (``appended``), left out
    (``left_out``: files already in the archive with ``errors="skip"``),
    whether anything was ``written``, the extent along ``dim`` before and
    after, and for Icechunk the new ``snapshot`` id."""

    def __init__(self, findings, *, dim: str, files, target: str, format: str, appended=(), left_out=(),
                 before: int | None = None, after: int | None = None):
        super().__init__(findings, dim=dim, kind="concat", files=files)
        self.target = target
        self.format = format
        self.appended: tuple[str, ...] = tuple(appended)
        self.left_out: tuple[str, ...] = tuple(left_out)
        self.before = before
        self.after = after
        self.written = False
        self.snapshot: str | None = None

    def what(self) -> str:
        return f"append of {plural(len(self.appended), 'file')} to {base_name(self.target)} along {self.dim!r}"

    def _extent(self) -> str:
        if self.before is None or self.after is None:
            return ""
        return f" ({self.dim} {self.before:,} → {self.after:,})"

    def summary_line(self) -> str:
        nw = len(self.warnings)
        codes = ", ".join(dict.fromkeys(f.code for f in self.warnings))
        warn = plural(nw, "warning") + (f" ({codes})" if nw else "")
        if self.written:
            return (f"appended {plural(len(self.appended), 'file')} to {self.target} along {self.dim!r}"
                    f"{self._extent()}: 0 errors, {warn}")
        if not self.has_errors and not self.appended:
            why = f" ({plural(len(self.left_out), 'file')} already in it)" if self.left_out else ""
            return f"nothing to append to {self.target}{why}"
        if not self.has_errors:
            return (f"check passed for {self.what()}{self._extent()}: 0 errors, {warn}, "
                    f"{plural(len(self.infos), 'note')}; nothing written yet")
        return super().summary_line()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(kind="append", target=self.target, format=self.format, appended=list(self.appended),
                 left_out=list(self.left_out), written=self.written, snapshot=self.snapshot,
                 before=self.before, after=self.after)
        return d


# -- inputs ---------------------------------------------------------------------------
def _new_datasets(files, *, errors, allowed_roots, storage_options, executor) -> list[VDataset]:
    if isinstance(files, VDataset):
        return [files]
    if isinstance(files, (list, tuple)) and files and all(isinstance(f, VDataset) for f in files):
        return list(files)
    kw: dict[str, Any] = {"errors": errors, "allowed_roots": allowed_roots, "storage_options": storage_options}
    if executor is not None:
        kw["executor"] = executor
    return list(scan(files, **kw))


def _whole_input(ds: VDataset, arc: Archive, dim: str, add, reader: CoordinateReader) -> VDataset:
    """``ds`` with the variables the archive keeps whole decoded to one raw
    inlined chunk each, as the archive's view holds them (so the check
    compares like with like, and concat rewrites them whole)."""
    changed = {}
    for name in arc.whole:
        v = ds.variables.get(name)
        if v is None or dim not in v.dims:
            continue
        if v.nbytes > COORD_INLINE_MAX_BYTES or v.dtype.kind in "OUSV" or v.dtype.fields is not None:
            continue  # left as it is: the check reports what does not fit
        try:
            changed[name] = _as_archive_dtype(raw_inline(v, reader), arc.view.variables[name], reader)
        except VZError as e:
            add("error", "unreadable", f"{name!r} of {base_name(ds.sources[0].path) if ds.sources else '?'} cannot be "
                "read to append it to the archive's inlined values: " + str(e), name,
                [s.path for s in ds.sources[:1]])
    if not changed:
        return ds
    vs = dict(ds.variables)
    vs.update(changed)
    return ds.replace(variables=vs)


def _as_archive_dtype(v, a, reader: CoordinateReader):
    """A raw inlined ``v`` in the dtype of the archive's ``a`` when every value
    converts exactly (e.g. float64 hours into kerchunk's int64 time), so the
    whole rewrite keeps the archive's dtype; else ``v`` as it is (the check
    then reports the dtype)."""
    if v.dtype == a.dtype or v.dtype.kind not in "iuf" or a.dtype.kind not in "iuf":
        return v
    vals = reader.read(v, max_bytes=v.nbytes)  # v is one raw inlined chunk: decoded without I/O
    with np.errstate(all="ignore"):
        conv = vals.astype(a.dtype)
        exact = np.array_equal(conv.astype(v.dtype), vals) if np.isfinite(vals).all() else False
    return inline_values_var(v.replace(fill_value=a.fill_value), conv) if exact else v


def _storage_fill_of_new_files(arc: Archive, new: list[VDataset]) -> VDataset:
    """The check's view of a kerchunk (zarr v2) archive with the storage fill
    values of the new files.

    A v2 archive states one fill value, the one readers take for
    ``_FillValue`` (the mask); its own unwritten chunks read as it and keep
    doing so. The appended chunk rows that were never written are stored
    holding the new files' storage fill whenever that differs
    (:func:`_hole_fill`), so comparing the archive's reader fill with the new
    files' storage fill would report a difference that cannot matter; the new
    files are still compared with one another."""
    if arc.format == "icechunk":  # zarr v3: fill_value is the storage fill, compared as it is
        return arc.view
    changed = {}
    for name, a in arc.view.variables.items():
        first = next((ds.variables[name] for ds in new if name in ds.variables), None)
        if first is not None and first.dtype == a.dtype:
            changed[name] = a.replace(fill_value=first.fill_value)
    return arc.view.replace(variables={**dict(arc.view.variables), **changed}) if changed else arc.view


def _hole_fill(arc: Archive, a, rows, items) -> tuple[object, str | None]:
    """The new chunk rows of a kerchunk (v2) archive with their unwritten chunks
    stored holding the new files' storage fill, where the archive's fill value
    (what zarr fills them with) would read differently; ``(rows, problem)``."""
    from .serialize.zarr_meta import _encode_fill_chunk, same_fill  # heavy: zarr, only when holes need a fill

    if arc.format == "icechunk" or not rows.n_missing:
        return rows, None
    storage = items[0].fill_value
    if storage is None or same_fill(storage, a.fill_value, a.dtype):
        return rows, None
    try:
        blob = _encode_fill_chunk(a.replace(fill_value=storage), a.codecs)
    except Exception as e:  # noqa: BLE001 - a codec that cannot encode
        return rows, (f"the unwritten chunks of the new files read as {storage!r}, which the archive's codecs cannot "
                      f"store ({type(e).__name__}: {str(e)[:80]})")
    missing = np.flatnonzero(rows.path_id.ravel() == MISSING)
    return rows.with_inline({int(k): blob for k in missing}), None


# -- the check ------------------------------------------------------------------------


def _sorted(new: list[VDataset], dim: str, reader: CoordinateReader) -> list[VDataset]:
    if len(new) < 2 or not all(dim in ds.variables for ds in new):
        return new
    try:
        return list(sort_datasets(new, by=dim, reader=reader))
    except VZError:
        return new  # the check names what is wrong (calendars, unreadable times)


def _plan(prep: Prepared, new: list[VDataset], fix_time: bool, reader: CoordinateReader) -> None:
    """The changes to make: chunk rows, whole rewrites, new variables."""
    arc, dim = prep.arc, prep.dim
    names = list(arc.view.variables) + [n for ds in new for n in ds.variables if n not in arc.view.variables]
    seen: set[str] = set()
    whole: list[str] = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        a = arc.view.variables.get(name)
        if a is None:
            first = next(ds.variables[name] for ds in new if name in ds.variables)
            if dim not in first.dims:
                prep.changes.append(VarChange(name, "add", first, first.shape))
            continue
        if dim not in a.dims:
            continue
        if name in arc.whole:
            whole.append(name)
            continue
        axis = a.dims.index(dim)
        items = [ds.variables[name] for ds in new]
        added = sum(v.shape[axis] for v in items)
        shape = list(arc.shapes[name])
        shape[axis] += added
        rows_shape = list(a.shape)
        rows_shape[axis] = added
        rows, problem = _hole_fill(arc, a, join_manifests([v.manifest for v in items], axis), items)
        if problem:
            prep.add("error", "fill-value", f"{name!r}: {problem}", name, [])
            continue
        var = a.replace(shape=tuple(rows_shape), manifest=rows)
        row0 = grid_of(arc.shapes[name], a.chunks)[axis]
        prep.changes.append(VarChange(name, "rows", var, tuple(shape), axis, row0))
    if not whole:
        return
    sub = [VDataset({n: arc.view.variables[n] for n in whole}, sources=arc.view.sources)]
    sub += [VDataset({n: ds.variables[n] for n in whole}, sources=ds.sources) for ds in new]
    try:
        piece = concat(sub, dim, check=False, fix_time=fix_time, reader=reader)
    except VZError as e:
        prep.add("error", "whole-rewrite", f"the archive's inlined variables cannot be extended: {e}", None, [])
        return
    for n in whole:
        v = piece.variables[n]
        if not (v.manifest.n_chunks == 1 and v.manifest.n_inline == 1 and can_rewrite_whole(v)):
            prep.add("error", "whole-rewrite",
                     f"{n!r} is stored inlined in {base_name(arc.target)}; appended it would be {v.nbytes:,} bytes, "
                     f"more than an append rewrites inline ({COORD_INLINE_MAX_BYTES:,})", n, [arc.label],
                     fix="rebuild the archive with vz.concat (large coordinates are then referenced, not inlined)")
            continue
        prep.changes.append(VarChange(n, "whole", v, v.shape))


def prepare(arc: Archive, new: list[VDataset], *, errors=None, sort: bool = True, fix_time: bool = True,
            read_archive: bool = False) -> tuple[AppendReport, list[VarChange], list[VDataset]]:
    """Check ``new`` against the archive ``arc``; returns the report, the
    changes to write (empty when the report has errors) and the new datasets
    in the order they are appended."""
    dim = arc.dim
    prep = Prepared(arc, dim)
    reader = CoordinateReader()  # each new file's coordinate read once for all the steps below
    new = already_in_archive(prep, list(new), errors, reader)
    new = _sorted(new, dim, reader)
    checked = [_whole_input(ds, arc, dim, prep.add, reader) for ds in new]
    if checked:
        view = _storage_fill_of_new_files(arc, checked)
        rep = _check([view, *checked], dim, kind="concat", fix_time=fix_time,
                     unread=() if read_archive else (0,), reader=reader)
        core_findings(prep, rep, read_archive, checked)
        rows_rules(prep, checked, fix_time)
    appended = [s.path for ds in new for s in ds.sources]
    before = arc.length
    added = 0
    for ds in checked:
        v = next((v for v in ds.variables.values() if dim in v.dims), None)
        added += v.shape[v.dims.index(dim)] if v is not None else 0
    if checked and not any(f.severity == "error" for f in prep.findings):
        _plan(prep, checked, fix_time, reader)
    report = AppendReport(prep.findings, dim=dim, files=[arc.label, *appended], target=arc.target, format=arc.format,
                          appended=appended, left_out=prep.left_out, before=before,
                          after=None if before is None else before + added)
    return report, ([] if report.has_errors else prep.changes), checked


# -- public ------------------------------------------------------------------------------
def _for_writing(changes: list[VarChange], sources) -> list[VarChange]:
    if not changes:
        return changes
    clean = for_writing(VDataset({c.name: c.var for c in changes}, sources=tuple(sources)))
    return [replace(c, var=clean.variables[c.name]) for c in changes]


def append(target: str | os.PathLike, files, dim: str, *, errors: str | None = None, sort: bool = True,
           fix_time: bool = True, read_archive: bool = False, allowed_roots=None, storage_options: dict | None = None,
           executor=None, branch: str = "main", message: str | None = None) -> AppendReport:
    """Append ``files`` (paths, globs or URLs; or scanned datasets) to the
    archive ``target`` along ``dim``; returns the :class:`AppendReport`.

    The new files are scanned, sorted along ``dim`` (``sort=False`` keeps the
    order given) and checked against the archive (see the module doc). When
    the report has an error, nothing is written: :class:`CheckFailed` is raised
    with it, and the target is left as it was. Otherwise the archive grows in
    one atomic step: a kerchunk JSON file rewritten and swapped in; a parquet
    folder rebuilt beside it (untouched record files hard-linked, not
    rewritten) and swapped in; an Icechunk repository gets one commit on
    ``branch`` whose message (or ``message``) names the files.

    ``errors``: as for :func:`vz.scan` for the new files; ``"skip"`` also
    leaves out files already in the archive (otherwise an error). Only one
    append to a target runs at a time: a second one is refused at once, and
    one that finds the target changed under it writes nothing.
    ``read_archive=True`` also reads the archive's values that are not
    inlined (from its source files) to compare them with the new files'.
    """
    new = _new_datasets(files, errors=errors, allowed_roots=allowed_roots, storage_options=storage_options,
                        executor=executor)
    new_paths = [s.path for ds in new for s in ds.sources]
    with open_archive(target, dim, lock=True, allowed_roots=allowed_roots, branch=branch, new_paths=new_paths) as arc:
        report, changes, ordered = prepare(arc, new, errors=errors, sort=sort, fix_time=fix_time,
                                           read_archive=read_archive)
        if report.has_errors:
            raise CheckFailed(report, f"{os.fspath(target)}: nothing appended: {report.summary_line()}")
        if not report.appended:
            return report
        sources = [s for ds in ordered for s in ds.sources]
        changes = _for_writing(changes, sources)
        _write(arc, changes, sources, report, message)
    return report


def _write(arc: Archive, changes: list[VarChange], sources: list[Source], report: AppendReport, message) -> None:
    paths = [s.path for s in sources]
    guard = SourceGuard(paths)
    records = source_records(sources)  # for vz.verify
    if arc.format == "kerchunk-json":
        from .serialize.kerchunk_json_append import write_json_append  # heavy: zarr, loaded for a write only

        write_json_append(arc, changes, paths, sources=guard, records=records)
    elif arc.format == "kerchunk-parquet":
        from .serialize.kerchunk_parquet_append import write_parquet_append  # heavy: pyarrow, zarr

        write_parquet_append(arc, changes, paths, sources=guard, records=records)
    else:
        from .serialize.icechunk_append import write_icechunk_append  # heavy: zarr; optional: icechunk

        report.snapshot = write_icechunk_append(arc, changes, sources, paths, message)
    report.written = True


def check_append(target: str | os.PathLike, files, dim: str | None = None, *, errors: str | None = None,
                 sort: bool = True, fix_time: bool = True, read_archive: bool = False, allowed_roots=None,
                 storage_options: dict | None = None, executor=None, branch: str = "main") -> AppendReport:
    """What :func:`append` would report, without writing (no lock taken)."""
    if not dim:
        raise VZError("checking files against an archive needs the dimension to append along (dim=...)")
    new = _new_datasets(files, errors=errors, allowed_roots=allowed_roots, storage_options=storage_options,
                        executor=executor)
    with open_archive(target, dim, lock=False, allowed_roots=allowed_roots, branch=branch) as arc:
        report, _, _ = prepare(arc, new, errors=errors, sort=sort, fix_time=fix_time, read_archive=read_archive)
    return report


def check(dsets, *args, **kwargs) -> Report:
    """Check before combining or appending.

    - ``check(dsets, dim="time")``: can these datasets (in this order) be
      combined? See :func:`vz_jupyter.core.check.check`.
    - ``check("archive.parquet", "incoming/*.nc", dim="time")``: can these files
      be appended to that archive? The report :func:`append` would give,
      nothing written (see :func:`check_append`).
    """
    if isinstance(dsets, (str, os.PathLike)):
        return check_append(dsets, *args, **kwargs)
    return _check(dsets, *args, **kwargs)


__all__ = ["append", "check", "check_append", "prepare", "AppendReport"]
