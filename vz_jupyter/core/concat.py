"""Combine virtual datasets: ``concat`` along an existing dimension, ``stack``
along a new one, ``merge`` variables from different file sets, and
``combine_nested`` for an n-d grid of files (e.g. time × ensemble member).

All joins work on the columnar manifests (:func:`model.concat_manifests`):
O(chunks), no Python loop per chunk. By default each verb first runs
:func:`check` and refuses with :class:`CheckFailed` (carrying the report) when
it finds errors, so nothing wrong is ever written.

Small coordinates along the combine dimension are decoded and written as one
inlined chunk (as kerchunk does); when their CF time units differ between files
they are re-encoded to the first file's units on the way (``fix_time``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .cf import convert_time, inherited_time_encoding, inline_values_var, time_encoding
from .check import TIME_FIX_MAX_BYTES, check as _check, concat_inline_reason, is_coord
from .errors import CheckFailed, VZError
from .model import MAX_PATH_ID, Manifest, VArray, VDataset, concat_manifests
from .sort import dataset_label, pattern_values, sort as _sort
from .values import CoordinateReader


def _as_list(dsets) -> list[VDataset]:
    if isinstance(dsets, VDataset):
        return [dsets]
    out = list(dsets)
    for d in out:
        if not isinstance(d, VDataset):
            raise VZError(f"expected VDataset objects (from vz.scan), got {type(d).__name__}")
    return out


def _drop(dsets: list[VDataset], names: Sequence[str]) -> list[VDataset]:
    if not names:
        return dsets
    names = set(names)
    return [ds.replace(variables={k: v for k, v in ds.variables.items() if k not in names}) for ds in dsets]


def _union_sources(dsets: Sequence[VDataset]):
    seen: dict[str, Any] = {}
    for ds in dsets:
        for s in ds.sources:
            seen.setdefault(s.path, s)
    return tuple(seen.values())


def _union(seqs) -> tuple:
    out: dict[Any, None] = {}
    for s in seqs:
        for x in s:
            out.setdefault(x, None)
    return tuple(out)


def _var_names(dsets: Sequence[VDataset]) -> list[str]:
    return list(_union(ds.variables for ds in dsets))


def join_manifests(manifests: Sequence[Manifest], axis: int) -> Manifest:
    """:func:`model.concat_manifests` with the path-id remapping done in one
    vectorised step for all files (no numpy call per chunk, and none per file:
    10,000 single-file manifests join in a few tens of milliseconds)."""
    if any(m.inline for m in manifests) or len(manifests) < 8:
        return concat_manifests(manifests, axis)
    index: dict[str, int] = {}
    remap_parts = []
    bases = np.empty(len(manifests), dtype=np.int64)
    base = 0
    for k, m in enumerate(manifests):
        remap_parts.append([index.setdefault(p, len(index)) for p in m.paths])
        bases[k] = base
        base += len(m.paths)
    if len(index) > MAX_PATH_ID:
        raise VZError(f"too many source files ({len(index)}) for one manifest")
    remap = np.fromiter((j for part in remap_parts for j in part), dtype=np.uint32, count=base)
    pid = np.concatenate([m.path_id for m in manifests], axis=axis)
    mask = pid <= MAX_PATH_ID
    if mask.any():
        # manifest k fills its own slab along ``axis``: its path-table base,
        # repeated over the slab's length and broadcast across the other axes
        along = np.repeat(bases, [m.path_id.shape[axis] for m in manifests])
        shape = [1] * pid.ndim
        shape[axis] = along.size
        b = np.broadcast_to(along.reshape(shape), pid.shape)
        pid[mask] = remap[pid[mask].astype(np.int64) + b[mask]]
    off = np.concatenate([m.offset for m in manifests], axis=axis)
    ln = np.concatenate([m.length for m in manifests], axis=axis)
    return Manifest(tuple(index), pid, off, ln)


def _combined(dsets: Sequence[VDataset], variables: dict[str, VArray], coords: tuple,
              attrs: Mapping[str, Any]) -> VDataset:
    """The joined dataset: sources and skipped variables of every input, the
    first input's groups."""
    first_ds = dsets[0]
    return VDataset(
        variables,
        attrs=attrs,
        coords=coords,
        sources=_union_sources(dsets),
        skipped=_union(ds.skipped for ds in dsets),
        groups=first_ds.groups,
        group=first_ds.group,
    )


def _refuse_if(report, do_check: bool):
    if do_check and report.has_errors:
        raise CheckFailed(report)


def _concat_inline(name: str, items: list[VArray], reason: str, axis: int, reader: CoordinateReader,
                   encs=None) -> VArray:
    """Decode a small variable along the dim from every file, re-encode CF times
    to the first file's units when they differ (``encs``: each file's units and
    calendar, inherited ones for bounds), and inline it as one chunk."""
    first = items[0]
    parts = [reader.read(v, max_bytes=TIME_FIX_MAX_BYTES) for v in items]
    encs = encs if encs is not None else [time_encoding(v.attrs) for v in items]
    enc0 = encs[0]
    attrs = dict(first.attrs)
    if reason == "time-units" and enc0:
        conv = []
        fills = [first.attrs.get(k) for k in ("_FillValue", "missing_value") if first.attrs.get(k) is not None]
        for v, raw, enc in zip(items, parts, encs):
            out = convert_time(raw, enc[0], enc[1], enc0[0])
            masks = [raw == np.asarray(v.attrs[k]).astype(raw.dtype)
                     for k in ("_FillValue", "missing_value") if v.attrs.get(k) is not None]
            if masks and fills:
                out = np.where(np.logical_or.reduce(masks), float(np.asarray(fills[0]).ravel()[0]), out)
            conv.append(out)
        values = np.concatenate(conv, axis=axis)
        # undo float round-off of the unit conversion (23.999999999997 -> 24)
        rounded = np.round(values)
        close = np.abs(values - rounded) <= 1e-9 * np.maximum(1.0, np.abs(values))
        values = np.where(close, rounded, values)
        if first.dtype.kind in "iu":
            rounded = np.round(values)
            if np.all(np.abs(values - rounded) < 1e-6) and np.all(np.abs(rounded) < np.iinfo(first.dtype).max):
                values = rounded.astype(first.dtype)
            else:
                values = values.astype(np.float64)
        else:
            values = values.astype(first.dtype)
        if "units" in first.attrs:  # bounds without units keep inheriting (their parent is re-encoded too)
            attrs["units"] = enc0[0]
    else:
        values = np.concatenate(parts, axis=axis).astype(first.dtype, copy=False)
    return inline_values_var(first, values, attrs=attrs)


def concat(
    dsets: Sequence[VDataset],
    dim: str,
    *,
    check: bool = True,
    fix_time: bool = True,
    drop_variables: Sequence[str] = (),
    report=None,
    reader: CoordinateReader | None = None,
) -> VDataset:
    """Concatenate datasets (in the given order) along the existing dimension
    ``dim``.

    Variables along ``dim`` have their chunk manifests joined; variables not
    along it (``lat``, ``lon``, ...) are taken once from the first file after
    :func:`check` confirmed they agree. Small coordinates along ``dim`` are
    decoded and inlined; with ``fix_time`` (default) CF time variables whose
    units differ between files are re-encoded to the first file's units.

    Refuses with :class:`CheckFailed` when ``check`` finds errors (pass
    ``check=False`` to skip checking: structural impossibilities still raise).
    ``reader``: how the check and the inlining read values (a
    :class:`~vz_jupyter.core.values.CoordinateReader`; default: a new one for
    this call, so each small coordinate is read once).
    """
    dsets = _drop(_as_list(dsets), drop_variables)
    if not dsets:
        raise VZError("nothing to concatenate")
    reader = reader if reader is not None else CoordinateReader()
    if check:
        rep = report if report is not None else _check(dsets, dim, kind="concat", fix_time=fix_time, reader=reader)
        _refuse_if(rep, True)
    if not any(dim in ds.dims for ds in dsets):
        raise VZError(f"no dataset has a dimension {dim!r}; use vz.stack(dsets, {dim!r}) for a new dimension")
    coords = _union(ds.coords for ds in dsets)
    out_vars: dict[str, VArray] = {}
    for name in _var_names(dsets):
        items = [ds.variables[name] for ds in dsets if name in ds.variables]
        out_vars[name] = _concat_var(name, items, dsets, dim, coords=coords, fix_time=fix_time, reader=reader)
    return _combined(dsets, out_vars, coords, dict(dsets[0].attrs))


def _concat_var(name: str, items: list[VArray], dsets: list[VDataset], dim: str, *, coords: tuple,
                fix_time: bool, reader: CoordinateReader) -> VArray:
    """One variable of :func:`concat`: the first file's when it is not along
    ``dim``, else inlined (small coordinates) or its manifests joined."""
    first = items[0]
    if dim not in first.dims:
        return first
    if len(items) != len(dsets):
        raise VZError(f"variable {name!r} along {dim!r} is missing from some files; "
                      f"pass drop_variables=[{name!r}] or exclude those files")
    axis = first.dims.index(dim)
    for v in items[1:]:
        if v.dims != first.dims:
            raise VZError(f"variable {name!r} has dims {v.dims} in one file and {first.dims} in another")
    coord = (name in coords or is_coord(name, dsets)) and first.ndim == 1
    encs = [inherited_time_encoding(ds, name) for ds in dsets]
    reason = concat_inline_reason(items, coord=coord, fix_time=fix_time, encs=encs)
    if reason:
        return _concat_inline(name, items, reason, axis, reader, encs)
    c = first.chunks[axis]
    for k, v in enumerate(items):
        if v.chunks != first.chunks or v.dtype != first.dtype:
            raise VZError(f"variable {name!r}: chunks/dtype differ in {dataset_label(dsets[k])}; run vz.check")
        if k < len(items) - 1 and v.shape[axis] % c:
            raise VZError(f"variable {name!r}: {dataset_label(dsets[k])} ends in a partial chunk along {dim!r}; run vz.check")
    man = join_manifests([v.manifest for v in items], axis)
    shape = list(first.shape)
    shape[axis] = sum(v.shape[axis] for v in items)
    return first.replace(shape=tuple(shape), manifest=man)


def _values_var(dim: str, values: Sequence[Any]) -> VArray:
    vals = np.asarray(list(values))
    attrs: dict[str, Any] = {}
    if vals.dtype.kind == "M":
        vals = vals.astype("datetime64[s]").astype(np.int64)
        attrs = {"units": "seconds since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian"}
    elif vals.dtype.kind == "O":
        vals = vals.astype(str)
    if vals.dtype.kind not in "iufbU":
        raise VZError(f"cannot make a coordinate for {dim!r} from values of type {vals.dtype}")
    if vals.dtype.kind == "U":
        vals = vals.astype(f"<U{max(1, vals.dtype.itemsize // 4)}")
    proto = VArray(dim, (dim,), vals.shape, vals.dtype, vals.shape, (), None, attrs, Manifest.empty((1,)))
    return inline_values_var(proto, vals, attrs=attrs)


def _values_from_pattern(dsets, pattern: str) -> list[Any]:
    groups = pattern_values(dsets, pattern)
    raw = [g[0] if len(g) == 1 else "".join(x or "" for x in g) for g in groups]
    for cast in (int, float):
        try:
            return [cast(x) for x in raw]
        except (TypeError, ValueError):
            continue
    return raw


def _stack_values(dsets: list[VDataset], values: Sequence[Any] | None, pattern: str | None):
    """The new coordinate's values for :func:`stack` (one per dataset), or None."""
    if values is not None and pattern is not None:
        raise VZError("give values= or pattern=, not both")
    if pattern is not None:
        values = _values_from_pattern(dsets, pattern)
    if values is not None and len(values) != len(dsets):
        raise VZError(f"{len(values)} values for {len(dsets)} datasets")
    return values


def _stack_var(name: str, items: list[VArray], n_dsets: int, dim: str) -> VArray:
    """One data variable of :func:`stack`: its manifests joined along a new
    leading chunk axis of length 1 per file."""
    if len(items) != n_dsets:
        raise VZError(f"variable {name!r} is missing from some files; pass drop_variables=[{name!r}]")
    mans = []
    for v in items:
        m = v.manifest
        mans.append(Manifest(m.paths, m.path_id[None], m.offset[None], m.length[None], m.inline))
    first = items[0]
    return first.replace(dims=(dim,) + first.dims, shape=(len(items),) + first.shape,
                         chunks=(1,) + first.chunks, manifest=join_manifests(mans, 0))


def stack(
    dsets: Sequence[VDataset],
    dim: str,
    values: Sequence[Any] | None = None,
    *,
    pattern: str | None = None,
    check: bool = True,
    drop_variables: Sequence[str] = (),
    report=None,
    reader: CoordinateReader | None = None,
) -> VDataset:
    """Stack datasets along a new leading dimension ``dim`` (one position per
    file, chunk length 1). Data variables gain the dimension; coordinates must
    agree and are taken once.

    The new coordinate's values come from ``values`` (one per file) or from the
    first regex group of ``pattern`` matched in each file name (numbers when they
    parse); without either, ``dim`` has no coordinate variable (as in xarray).
    ``reader``: how the check reads values to compare (see :func:`concat`).
    """
    dsets = _drop(_as_list(dsets), drop_variables)
    if not dsets:
        raise VZError("nothing to stack")
    values = _stack_values(dsets, values, pattern)
    if check:
        rep = report if report is not None else _check(dsets, dim, kind="stack", reader=reader)
        _refuse_if(rep, True)
    if any(dim in ds.dims for ds in dsets):
        raise VZError(f"dimension {dim!r} already exists; use vz.concat(dsets, {dim!r})")
    coords = _union(ds.coords for ds in dsets)
    out_vars: dict[str, VArray] = {}
    if values is not None:
        out_vars[dim] = _values_var(dim, values)
    for name in _var_names(dsets):
        items = [ds.variables[name] for ds in dsets if name in ds.variables]
        if name in coords or is_coord(name, dsets):
            out_vars[name] = items[0]
        else:
            out_vars[name] = _stack_var(name, items, len(dsets), dim)
    return _combined(dsets, out_vars, ((dim,) if values is not None else ()) + coords, dict(dsets[0].attrs))


def merge(dsets: Sequence[VDataset], *, check: bool = True, report=None,
          reader: CoordinateReader | None = None) -> VDataset:
    """Merge datasets holding different variables over the same dimensions (e.g.
    one file set per variable). Shared coordinates must agree and are taken once;
    global attributes are the first dataset's, completed by the others'.
    ``reader``: how the check reads values to compare (see :func:`concat`)."""
    dsets = _as_list(dsets)
    if not dsets:
        raise VZError("nothing to merge")
    if check:
        rep = report if report is not None else _check(dsets, None, kind="merge", reader=reader)
        _refuse_if(rep, True)
    out_vars: dict[str, VArray] = {}
    attrs: dict[str, Any] = {}
    for ds in dsets:
        for name, v in ds.variables.items():
            out_vars.setdefault(name, v)
        for k, a in ds.attrs.items():
            attrs.setdefault(k, a)
    return _combined(dsets, out_vars, _union(ds.coords for ds in dsets), attrs)


def combine_nested(
    grid: Sequence[Any],
    dims: Sequence[str] | str,
    *,
    values: Mapping[str, Sequence[Any]] | None = None,
    check: bool = True,
    fix_time: bool = True,
    reader: CoordinateReader | None = None,
) -> VDataset:
    """Combine an n-d grid of datasets (nested lists) as ``xarray.combine_nested``
    does: ``dims[0]`` runs along the outer list. Each dim that exists in the
    datasets is concatenated along; a new one is stacked (values from
    ``values[dim]`` when given). E.g. ``combine_nested([[m0_t0, m0_t1], [m1_t0,
    m1_t1]], ["member", "time"])``."""
    if isinstance(dims, str):
        dims = [dims]
    dims = list(dims)
    if not dims:
        raise VZError("combine_nested needs at least one dimension")
    values = dict(values or {})
    reader = reader if reader is not None else CoordinateReader()

    def depth_ok(g, d):
        if d == 0:
            if not isinstance(g, VDataset):
                raise VZError(f"grid is nested deeper than the {len(dims)} dims given")
            return
        if isinstance(g, VDataset) or not isinstance(g, (list, tuple)):
            raise VZError(f"grid is nested less deeply than the {len(dims)} dims given")
        for x in g:
            depth_ok(x, d - 1)

    depth_ok(grid, len(dims))

    def rec(g, ds_dims):
        d = ds_dims[0]
        parts = [x for x in g] if len(ds_dims) == 1 else [rec(x, ds_dims[1:]) for x in g]
        if any(d in p.dims for p in parts):
            return concat(parts, d, check=check, fix_time=fix_time, reader=reader)
        return stack(parts, d, values.get(d), check=check, reader=reader)

    return rec(grid, dims)


def combine(
    dsets: Sequence[VDataset],
    dim: str,
    *,
    by: str | None = None,
    pattern: str | None = None,
    check: bool = True,
    fix_time: bool = True,
    reader: CoordinateReader | None = None,
) -> VDataset:
    """Sort (by a coordinate or filename pattern), then concatenate along an
    existing ``dim`` or stack along a new one: what ``vz combine`` does.
    ``reader``: how sort and check read values (one for the whole call by default)."""
    dsets = _as_list(dsets)
    reader = reader if reader is not None else CoordinateReader()
    if by is not None or pattern is not None:
        dsets = list(_sort(dsets, by, pattern=pattern, reader=reader))
    if any(dim in ds.dims for ds in dsets):
        return concat(dsets, dim, check=check, fix_time=fix_time, reader=reader)
    return stack(dsets, dim, pattern=pattern, check=check, reader=reader)


__all__ = ["concat", "stack", "merge", "combine_nested", "combine", "join_manifests"]
