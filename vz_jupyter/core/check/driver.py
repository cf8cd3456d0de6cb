"""The check: which rules run, in which order, for each kind of combine."""
from __future__ import annotations

from collections.abc import Sequence

from ..cf import inherited_time_encoding, time_encoding
from ..errors import VZError
from ..model import VDataset
from ..sort import dataset_label
from ..values import CoordinateReader
from .context import Context, is_coord
from .coordinate import check_coordinate
from .encoding import CF_ENCODING_ATTRS, compare_fill, compare_inherited_units, compare_scale, compare_time_encoding
from .groups import Groups, all_alike, in_files, name_files, var_sig
from .layout import check_partial_chunks, compare_layout
from .limits import DEFAULT_COMPARE_BYTES, concat_inline_reason
from .report import Report
from .variables import compare_attrs, compare_values, presence, same_file_twice

#: attributes compared by their own rules, not reported as drift
_OWN_RULES = frozenset(CF_ENCODING_ATTRS) | {"units", "calendar"}


def check(
    dsets: Sequence[VDataset],
    dim: str | None = None,
    *,
    kind: str = "concat",
    fix_time: bool = True,
    read_coords: bool = True,
    compare_bytes: int = DEFAULT_COMPARE_BYTES,
    unread: Sequence[int] = (),
    reader: CoordinateReader | None = None,
) -> Report:
    """Check that ``dsets`` (in this order) combine into one consistent dataset.

    ``kind="concat"`` along the existing dimension ``dim``; ``"stack"`` along a
    new dimension ``dim``; ``"merge"`` of variables from different file sets.
    ``fix_time`` tells the check that differing time units along ``dim`` will be
    fixed by re-encoding the combined coordinate (a warning); without it they are
    an error. ``read_coords`` allows reading small coordinates that are not
    inlined (one read per file) to compare their values; ``unread`` lists the
    positions of datasets never read that way (an archive being appended to:
    its sources are not touched, only its inlined values are compared).
    ``reader``: how values are read (a :class:`~vz_jupyter.core.values.CoordinateReader`;
    default: a new one for this call, reading through the read-plan executor).
    """
    if kind not in ("concat", "stack", "merge"):
        raise VZError(f"kind must be 'concat', 'stack' or 'merge', not {kind!r}")
    dsets = tuple(dsets)
    labels = tuple(dataset_label(ds) for ds in dsets)
    if kind != "merge" and not dim:
        raise VZError(f"check(kind={kind!r}) needs the dimension to combine along (dim=...)")
    cx = Context(dsets=dsets, labels=labels, dim=dim, kind=kind, fix_time=fix_time, read_coords=read_coords,
                 compare_bytes=compare_bytes, unread=frozenset(unread),
                 reader=reader if reader is not None else CoordinateReader())
    if not dsets:
        cx.add("error", "no-files", "no datasets to combine", fix="scan some files first")
    else:
        same_file_twice(cx)
        {"concat": run_concat, "stack": run_stack, "merge": run_merge}[kind](cx)
    return Report(cx.findings, dim=dim, kind=kind, files=labels)


def run_concat(cx: Context) -> None:
    """Concat along the existing ``cx.dim``: every variable's layout and
    encoding, then per variable along the dim its inherited units and chunk
    lengths, or off the dim its values; global attributes; the coordinate."""
    dim, L, D = cx.dim, cx.labels, cx.dsets
    nodim = [i for i, ds in enumerate(D) if dim not in ds.dims]
    if nodim:
        cx.add("error", "no-dim", f"dimension {dim!r} is missing {in_files(len(nodim), [L[i] for i in nodim])}",
               None, [L[i] for i in nodim],
               fix=f"exclude those files, or stack them along a new dimension (vz.stack(dsets, {dim!r}))")
        if len(nodim) == len(D):
            return
    for name in cx.var_names():
        along = any(name in ds.variables and dim in ds.variables[name].dims for ds in D)
        items = [(i, D[i].variables[name]) for i in presence(cx, name, along)]
        axis = items[0][1].dims.index(dim) if dim in items[0][1].dims else None
        if not all_alike([var_sig(v, axis) for _, v in items]):
            if not compare_layout(cx, name, items, axis):
                continue
            compare_fill(cx, name, items)
            compare_scale(cx, name, items)
            compare_time_encoding(cx, name, items, along=axis is not None)
            compare_attrs(cx, name, [(i, v.attrs) for i, v in items], _OWN_RULES)
        if axis is None:
            compare_values(cx, name, items, coord=is_coord(name, D))
            continue
        coord = is_coord(name, D) and len(items[0][1].dims) == 1
        encs = [inherited_time_encoding(D[i], name) for i, _ in items]
        if any(e is not None for e in encs) and not any(time_encoding(v.attrs) for _, v in items):
            compare_inherited_units(cx, name, items, encs)
        if concat_inline_reason([v for _, v in items], coord=coord, fix_time=cx.fix_time, encs=encs):
            continue  # concat decodes it and writes one inlined chunk: any chunking works
        check_partial_chunks(cx, name, items, axis)
    compare_attrs(cx, None, [(i, ds.attrs) for i, ds in enumerate(D)], set())
    check_coordinate(cx)


def run_stack(cx: Context) -> None:
    """Stack along a new ``cx.dim``: it must not exist; every variable alike;
    coordinates compared by value (times decoded when their units differ)."""
    dim, D, L = cx.dim, cx.dsets, cx.labels
    has = [i for i, ds in enumerate(D) if dim in ds.dims]
    if has:
        cx.add("error", "dim-exists", f"dimension {dim!r} already exists {in_files(len(has), [L[i] for i in has])}",
               None, [L[i] for i in has], fix=f"use vz.concat(dsets, {dim!r}) to join along an existing dimension")
    for name in cx.var_names():
        items = [(i, D[i].variables[name]) for i in presence(cx, name, True)]
        if not compare_layout(cx, name, items, None):
            continue
        compare_fill(cx, name, items)
        compare_scale(cx, name, items)
        compare_attrs(cx, name, [(i, v.attrs) for i, v in items], _OWN_RULES)
        if is_coord(name, D):
            encs = {time_encoding(v.attrs) for _, v in items}
            compare_values(cx, name, items, coord=True, decoded_time=len(encs) > 1)
            continue
        g = Groups([(i, time_encoding(v.attrs)) for i, v in items], L)
        if g.differ:
            cx.add("error", "time-units", f"time units of {name!r} differ: {g.describe()}", name, g.odd_files(),
                   fix="rewrite the files with one set of time units")
    compare_attrs(cx, None, [(i, ds.attrs) for i, ds in enumerate(D)], set())


def run_merge(cx: Context) -> None:
    """Merge of different variables: one length per dimension; a variable in
    several datasets must hold the same data (coordinates compared by value)."""
    D, L = cx.dsets, cx.labels
    sizes: dict[str, list[tuple[int, int]]] = {}
    for i, ds in enumerate(D):
        for d, s in ds.dims.items():
            sizes.setdefault(d, []).append((i, s))
    for d, items in sizes.items():
        g = Groups(items, L)
        if g.differ:
            cx.add("error", "dim-size", f"dimension {d!r} has different lengths: {g.describe()}", None, g.odd_files(),
                   fix="merge needs the same dimension lengths; concat each set first so they cover the same range")
    for name in cx.var_names():
        have = [i for i, ds in enumerate(D) if name in ds.variables]
        if len(have) < 2:
            continue
        items = [(i, D[i].variables[name]) for i in have]
        if not compare_layout(cx, name, items, None):
            continue
        first = items[0][1]
        if is_coord(name, D):
            encs = {time_encoding(v.attrs) for _, v in items}
            compare_values(cx, name, items, coord=True, decoded_time=len(encs) > 1)
        elif not all(v.manifest.equals(first.manifest) for _, v in items[1:]):
            odd = [L[i] for i, v in items[1:] if not v.manifest.equals(first.manifest)]
            cx.add("error", "conflict", f"variable {name!r} is in several datasets with different data "
                   f"({name_files([L[items[0][0]]] + odd)})", name, odd,
                   fix=f"drop {name!r} from all but one dataset before merging")
