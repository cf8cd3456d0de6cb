"""``phony_dim_N``: names for axes no dimension scale names, allocated and
numbered exactly as netCDF-C does (across the whole file, child groups before a
group's own datasets)."""
from __future__ import annotations

from h5py import h5a, h5o

from .attributes import is_dimension_scale
from .groups import addr, members, open_group


def alloc_phony(dims: list[list], shapes: list[tuple], start: int) -> list[list[str]]:
    """Name the unnamed axes as netCDF-C does within one group: reuse a phony dim of
    the same length unless this variable already uses it, else make
    ``phony_dim_{start + k}``."""
    phony: list[tuple[str, int]] = []
    out = []
    for names, shape in zip(dims, shapes):
        names = list(names)
        used = {d for d in names if d is not None}
        for i, s in enumerate(shape):
            if names[i] is not None:
                continue
            match = next((n for n, ln in phony if ln == s and n not in used), None)
            if match is None:
                match = f"phony_dim_{start + len(phony)}"
                phony.append((match, s))
            names[i] = match
            used.add(match)
        out.append(names)
    return out


def _group_phony_count(path: str, fid, gp: str) -> int:
    """How many phony dims netCDF-C creates for group ``gp``'s own datasets."""
    g = open_group(fid, gp)
    dims, shapes = [], []
    for name, kind in members(path, g):
        if kind != "dataset":
            continue
        try:
            ds = h5o.open(g, name.encode())
            shape = ds.shape
            if shape is None or not shape:
                continue
            if h5a.exists(ds, b"DIMENSION_LIST"):
                continue
            if is_dimension_scale(ds):
                continue
        except Exception:
            continue
        dims.append([None] * len(shape))
        shapes.append(tuple(shape))
    if not shapes:
        return 0
    return len({n for names in alloc_phony(dims, shapes, 0) for n in names})


def _subtree_phony_count(path: str, fid, gp: str, seen: set | None = None) -> int:
    g = open_group(fid, gp)
    seen = set() if seen is None else seen
    if addr(g) in seen:  # link cycle
        return 0
    seen.add(addr(g))
    total = 0
    for name, kind in members(path, g):
        if kind == "group":
            total += _subtree_phony_count(path, fid, f"{gp}/{name}" if gp else name, seen)
    return total + _group_phony_count(path, fid, gp)


def phony_offset(path: str, fid, gpath: str) -> int:
    """netCDF-C numbers phony dims across the whole file, visiting child groups
    (in link order) before a group's own datasets. The first number of this
    group is the count made in every group visited before it: its own
    sub-groups, and the earlier siblings' sub-trees of it and of each ancestor."""
    off = 0
    g = open_group(fid, gpath)
    for name, kind in members(path, g):
        if kind == "group":
            off += _subtree_phony_count(path, fid, f"{gpath}/{name}" if gpath else name)
    parts = gpath.split("/") if gpath else []
    for k in range(len(parts), 0, -1):
        parent = "/".join(parts[: k - 1])
        pg = open_group(fid, parent)
        for name, kind in members(path, pg):
            if name == parts[k - 1]:
                break
            if kind == "group":
                off += _subtree_phony_count(path, fid, f"{parent}/{name}" if parent else name)
    return off
