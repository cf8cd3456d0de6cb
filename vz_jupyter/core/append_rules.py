"""What only an append can get wrong: the rules :func:`~vz_jupyter.core.append.prepare`
adds to :func:`~vz_jupyter.core.check.check` (see :mod:`vz_jupyter.core.append`).

Files already in the archive (by path, or by every ``dim`` value), an archive
whose last chunk along ``dim`` is partial, chunk rows that must fit the
archive's regular grid, time units of variables kept as chunk rows, and the
check's own findings worded for an append (what the archive's view did not read,
units the append re-encodes, a mask the rewrite keeps harmlessly).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .archive_view import Archive, VarChange, norm_path
from .cf import decode_to_seconds, time_encoding
from .check import COORD_INLINE_MAX_BYTES, Finding, Report, concat_inline_reason, fully_inline
from .errors import VZError
from .model import VDataset
from .urls import has_scheme
from .values import CoordinateReader, read_values


def base_name(p: str) -> str:
    return os.path.basename(str(p).rstrip("/")) or str(p)


def names(paths: Sequence[str], limit: int = 3) -> str:
    names = [base_name(p) for p in paths]
    return ", ".join(names) if len(names) <= limit else f"{', '.join(names[:limit])} and {len(names) - limit} more"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _in_archive(path: str, paths: frozenset) -> bool:
    p = norm_path(path)
    if p in paths:
        return True
    if not has_scheme(p):
        try:
            return os.path.realpath(p) in paths
        except OSError:  # pragma: no cover
            return False
    return False


class Prepared:
    def __init__(self, arc: Archive, dim: str):
        self.arc = arc
        self.dim = dim
        self.findings: list[Finding] = []
        self.new: list[VDataset] = []
        self.left_out: list[str] = []
        self.changes: list[VarChange] = []
        self.files: list[str] = []

    def add(self, severity, code, message, variable=None, files=(), fix=None):
        self.findings.append(Finding(severity, code, message, variable, tuple(files), fix))


def _seconds(var, reader: CoordinateReader) -> np.ndarray | None:
    """Values of a coordinate as rounded seconds (CF time) or floats; None
    when they cannot be had cheaply (not inlined, too big, not numbers)."""
    if var.dtype.kind not in "iuf" or var.nbytes > COORD_INLINE_MAX_BYTES:
        return None
    try:
        sec, _ = decode_to_seconds(reader.read(var, max_bytes=COORD_INLINE_MAX_BYTES).ravel(), var.attrs)
    except VZError:
        return None
    sec = np.asarray(sec, dtype=np.float64)
    return np.round(sec, 3)


def already_in_archive(prep: Prepared, new: list[VDataset], errors, reader: CoordinateReader) -> list[VDataset]:
    """Leave out (``errors="skip"``) or refuse new files the archive holds
    already: the same path, or every value of the ``dim`` coordinate already
    in the archive's (the same file under another name, or a file whose
    chunks were all inlined so no path names it)."""
    arc, dim = prep.arc, prep.dim
    a = arc.view.variables.get(dim)
    have = _seconds(a, reader) if a is not None and a.dims[:1] == (dim,) and not a.manifest.n_referenced else None
    keep, by_path, by_value = [], [], []
    # An Icechunk repository lists its files one entry per chunk: only asked when the times cannot tell
    # (a file that is in the archive has all its times in the archive's coordinate)
    ask_paths = arc.format != "icechunk" or have is None
    for ds in new:
        h = [s.path for s in ds.sources if _in_archive(s.path, arc.paths)] if ask_paths else []
        if h:
            by_path.extend(h)
            continue
        v = ds.variables.get(dim)
        mine = _seconds(v, reader) if have is not None and v is not None and v.dims[:1] == (dim,) else None
        if mine is not None and mine.size and np.isin(mine, have).all():
            by_value.extend(s.path for s in ds.sources[:1])
            continue
        keep.append(ds)
    name = base_name(arc.target)
    for hits, what in ((by_path, f"already in {name}"),
                       (by_value, f"already in {name}: every {dim!r} value of "
                                  f"{'it' if len(by_value) == 1 else 'each'} is there (the same data, another name?)")):
        if not hits:
            continue
        if errors == "skip":
            prep.left_out.extend(hits)
            prep.add("info", "already-appended", f"{plural(len(hits), 'file')} {what} left out: {names(hits)}",
                     None, hits)
        else:
            prep.add("error", "already-appended", f"{names(hits)} {'is' if len(hits) == 1 else 'are'} {what}",
                     None, hits, fix="leave them out, or pass errors='skip' (CLI: --errors skip) to leave out "
                                     "files that are already in the archive")
    return keep


def _mask_kept_harmlessly(arc: Archive, name: str, new: list[VDataset]) -> str | None:
    """For a variable rewritten whole (values in hand): when the new files mark
    no fill of their own and none of their values equals the archive's
    ``_FillValue`` (kerchunk's int64 time carries one), keeping the archive's
    mask masks nothing appended. Returns the fill value shown, or None."""
    a = arc.view.variables[name]
    fv = a.attrs.get("_FillValue")
    if fv is None:
        return None
    for ds in new:
        v = ds.variables.get(name)
        if v is None or "_FillValue" in v.attrs or "missing_value" in v.attrs or not fully_inline(v):
            return None
        try:
            vals = read_values(v, max_bytes=v.nbytes)  # inlined only: decoded without I/O
        except VZError:
            return None
        with np.errstate(all="ignore"):
            if np.any(vals == np.asarray(fv).astype(vals.dtype, casting="unsafe")):
                return None
    return repr(fv.item() if isinstance(fv, np.generic) else fv)


def core_findings(prep: Prepared, rep: Report, read_archive: bool, new: list[VDataset]) -> None:
    """The check's findings, with the archive's own problems worded for an append."""
    arc, label = prep.arc, prep.arc.label
    unread = set() if read_archive else {n for n, v in arc.view.variables.items() if v.manifest.n_referenced}
    rows_partial = {n for n in arc.tails if _archive_partial(arc, n) is not None}
    for f in rep.findings:
        if f.code == "partial-chunk" and label in f.files and f.variable in rows_partial:
            continue  # said below with the archive's real length
        if (f.code == "fill-value" and f.severity == "error" and f.variable in arc.whole
                and f.message.startswith("_FillValue")):
            kept = _mask_kept_harmlessly(arc, f.variable, new)
            if kept is not None:
                prep.add("info", "fill-value", f"{f.variable!r} keeps the archive's _FillValue {kept}, which no "
                         f"appended value equals (the new files mark no fill of their own)", f.variable, [])
                continue
        if f.code == "time-units" and f.severity == "warning" and f.variable in arc.whole:
            enc = time_encoding(arc.view.variables[f.variable].attrs)
            units = repr(enc[0]) if enc else "the archive's units"
            prep.findings.append(Finding(
                "warning", f.code, f.message, f.variable, f.files,
                f"nothing to do: the append rewrites {f.variable!r} with the new values re-encoded into the "
                f"archive's units ({units})"))
            continue
        if f.code == "not-compared" and f.variable in unread:
            v = arc.view.variables[f.variable]
            if prep.dim in v.dims:
                prep.add("warning", "archive-not-read",
                         f"{f.variable!r} of {base_name(arc.target)} is stored in its source files, which an append does "
                         f"not read: order, gaps and overlaps of the new files with the archive were not checked",
                         f.variable, [label], fix="pass read_archive=True to read its last chunk")
            else:
                prep.add("warning", "archive-not-read",
                         f"{f.variable!r} of {base_name(arc.target)} is stored in its source files, which an append does "
                         f"not read: the new files' {f.variable!r} was not compared with the archive's",
                         f.variable, [label], fix=f"pass read_archive=True to compare them (reads {v.nbytes:,} bytes "
                                                  f"of the archive's first file)")
            continue
        prep.findings.append(f)


def _archive_partial(arc: Archive, name: str) -> tuple[int, int] | None:
    v = arc.view.variables[name]
    axis = v.dims.index(arc.dim)
    length, c = arc.shapes[name][axis], v.chunks[axis]
    return (length, c) if c and length % c else None


def rows_rules(prep: Prepared, new: list[VDataset], fix_time: bool) -> None:
    """What only chunk rows appended after the archive's last one must obey."""
    arc, dim = prep.arc, prep.dim
    for name in sorted(arc.tails):
        a = arc.view.variables[name]
        axis = a.dims.index(dim)
        part = _archive_partial(arc, name)
        if part is not None:
            length, c = part
            prep.add("error", "partial-chunk",
                     f"{name!r} of {base_name(arc.target)} is chunked by {c} along {dim!r} but the archive's length is "
                     f"{length:,}: its last chunk is partial, and a regular chunk grid cannot continue after a partial "
                     f"chunk", name, [arc.label],
                     fix=f"start a new archive from the next file, or rebuild this one from files chunked by a divisor "
                         f"of their length along {dim!r} (e.g. nccopy -c {dim}/1)")
        items = [ds.variables[name] for ds in new if name in ds.variables]
        if len(items) != len(new) or not items:
            continue  # a missing variable: the check reports it
        if any(v.dims != a.dims for v in items):
            continue  # reported as different dimensions
        c = a.chunks[axis]
        coord = a.dims == (name,) or name in arc.view.coords
        if concat_inline_reason([a, *items], coord=coord, fix_time=fix_time):
            # the check assumed these would be decoded and inlined; as chunk rows they must fit the grid
            bad = [(ds, v) for ds, v in zip(new[:-1], items[:-1]) if v.chunks[axis] == c and v.shape[axis] % c]
            if bad:
                files = [ds.sources[0].path for ds, _ in bad if ds.sources]
                prep.add("error", "partial-chunk",
                         f"{name!r} is chunked by {c} along {dim!r} but {names(files)} "
                         f"{'has' if len(files) == 1 else 'have'} a length that is not a multiple of {c}: a regular "
                         f"chunk grid cannot hold a partial chunk before the last file", name, files,
                         fix="put the short file last, or append it on its own after the others")
            odd = [ds.sources[0].path for ds, v in zip(new, items) if v.chunks[axis] != c and ds.sources]
            if odd and not any(f.code == "chunks" and f.variable == name for f in prep.findings):
                prep.add("error", "chunks", f"chunk length of {name!r} along {dim!r} differs from the archive's ({c}) "
                         f"in {names(odd)}", name, odd,
                         fix="a regular chunk grid needs one chunk length: rewrite those files with the archive's "
                             "chunking")
        enc = time_encoding(a.attrs)
        if enc:
            odd = [ds.sources[0].path for ds, v in zip(new, items)
                   if time_encoding(v.attrs) and time_encoding(v.attrs)[0] != enc[0] and ds.sources]
            if odd:
                prep.findings = [f for f in prep.findings if not (f.code == "time-units" and f.variable == name
                                                                  and f.severity == "warning")]
                prep.add("error", "time-units",
                         f"time units of {name!r} in {names(odd)} differ from the archive's ({enc[0]!r}); the "
                         f"archive keeps {name!r} as chunk rows in its source files, so new values cannot be "
                         f"re-encoded into its units", name, odd,
                         fix=f"rewrite those files with units {enc[0]!r}")
        last = items[-1]
        if last.chunks[axis] == c and c and (last.shape[axis] % c) and part is None:
            prep.add("warning", "ends-partial",
                     f"after this append {name!r} ends in a partial chunk along {dim!r} (the last file has length "
                     f"{last.shape[axis]}, chunk length {c}): later appends to this archive will be refused",
                     name, [new[-1].sources[0].path] if new[-1].sources else [],
                     fix="if more files will follow, append files whose length is a multiple of the chunk length")
