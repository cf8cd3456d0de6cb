"""Axis names from NetCDF4 / HDF5 dimension scales, in order of preference (and
cost): netCDF-C's dimension ids, the scales' ``REFERENCE_LIST``, the
variables' ``DIMENSION_LIST``, and ``phony_dim_N`` names (:mod:`.phony`)."""
from __future__ import annotations

from typing import Any

import numpy as np
from h5py import h5a, h5o, h5r

from ...errors import ScanError
from .attributes import is_dimension_scale, read_attr
from .groups import addr, members, open_group
from .phony import alloc_phony, phony_offset
from .watchdog import before_vlen_read

#: the ``NAME`` of a scale netCDF-C made for a dimension that is no variable
NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
#: netCDF-C / h5netcdf store a variable named like a dimension it is not the
#: coordinate of under this prefix; netCDF-C shows the name without it
NC4_NON_COORD = "_nc4_non_coord_"


class Var:
    """What the first pass learns about one dataset."""

    __slots__ = ("name", "dsid", "shape", "attr_names", "is_scale", "scale_name", "dimlist", "nc_coords", "nc_dimid", "dims")

    def __init__(self, name, dsid, shape, attr_names):
        self.name = name
        self.dsid = dsid
        self.shape = shape
        self.attr_names = attr_names
        self.is_scale = False
        self.scale_name = b""
        self.dimlist = b"DIMENSION_LIST" in attr_names
        self.nc_coords = b"_Netcdf4Coordinates" in attr_names
        self.nc_dimid = b"_Netcdf4Dimid" in attr_names
        self.dims: list[str | None] = [None] * len(shape)

    @property
    def only_a_dimension(self) -> bool:
        """A scale netCDF-C made for a dimension that is not a variable."""
        return self.is_scale and self.scale_name.startswith(NOT_A_VARIABLE)


class _Scales:
    """The dimension scales visible from a group, ``(name, DatasetID)`` inner
    groups first, and their netCDF-C dimension ids (read once, when first asked)."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        self.pairs = pairs
        self._dimids: dict[int, str] | None = None

    def by_dimid(self) -> dict[int, str]:
        if self._dimids is None:
            self._dimids = {}
            for n, ds in self.pairs:
                try:
                    if h5a.exists(ds, b"_Netcdf4Dimid"):
                        i = int(np.asarray(read_attr(ds, b"_Netcdf4Dimid")).reshape(-1)[0])
                        self._dimids.setdefault(i, n)
                except Exception:
                    continue
        return self._dimids

    def name_from_nc_coords(self, v: Var) -> bool:
        """Name ``v``'s axes from its ``_Netcdf4Coordinates`` (dimension ids);
        False when they do not all match a visible scale."""
        try:
            ids = np.asarray(read_attr(v.dsid, b"_Netcdf4Coordinates")).reshape(-1)
        except Exception:
            return False
        m = self.by_dimid()
        if len(ids) != len(v.shape) or not all(int(i) in m for i in ids):
            return False
        v.dims = [m[int(i)] for i in ids]
        return True


def _scales_in(path: str, fid, gp: str) -> list[tuple[str, Any]]:
    """(name, DatasetID) of the dimension scales in group ``gp``."""
    out = []
    g = open_group(fid, gp)
    for name, kind in members(path, g):
        if kind != "dataset":
            continue
        try:
            ds = h5o.open(g, name.encode())
            if is_dimension_scale(ds):
                out.append((name, ds))
        except Exception:
            continue
    return out


def _visible_scales(path: str, fid, gpath: str, vars_: list[Var]) -> _Scales:
    """This group's scales, then those of its ancestors (NetCDF4 scoping: an
    inner name hides an outer one)."""
    scales: list[tuple[str, Any]] = [(v.name, v.dsid) for v in vars_ if v.is_scale]
    if gpath:
        parts = gpath.split("/")
        seen = {n for n, _ in scales}
        for k in range(len(parts) - 1, -1, -1):
            for n, ds in _scales_in(path, fid, "/".join(parts[:k])):
                if n not in seen:
                    scales.append((n, ds))
                    seen.add(n)
    return _Scales(scales)


def _from_netcdf_ids(vars_: list[Var], scales: _Scales) -> list[Var]:
    """Name scales after themselves and variables by netCDF-C's dimension ids;
    returns the variables left for their ``DIMENSION_LIST``."""
    pending: list[Var] = []
    for v in vars_:
        if v.is_scale:
            if len(v.shape) >= 1:
                v.dims[0] = v.name
            if len(v.shape) > 1 and v.nc_coords:
                scales.name_from_nc_coords(v)
            continue
        if not v.shape or not (v.dimlist or v.nc_coords):
            continue
        if v.nc_coords and scales.pairs and scales.name_from_nc_coords(v):
            continue
        if v.dimlist:
            pending.append(v)
    return pending


def _from_reference_lists(fid, pending: list[Var], scales: list[tuple[str, Any]]) -> None:
    """Name axes of ``pending`` from the scales' ``REFERENCE_LIST`` (fixed-size
    records: one read per scale, no variable-length data). References are
    matched by object address: H5Rget_name searches the file for a path on
    every call, which made wide files quadratic."""
    by_addr: dict[int, Var] = {}
    for x in pending:
        try:
            by_addr[addr(x.dsid)] = x
        except Exception:
            continue
    for sname, sds in scales:
        try:
            if not h5a.exists(sds, b"REFERENCE_LIST"):
                continue
            aid = h5a.open(sds, b"REFERENCE_LIST")
            rl = np.empty(aid.shape, dtype=aid.dtype)
            aid.read(rl)
        except Exception:
            continue
        if rl.dtype.names is None or len(rl.dtype.names) < 2:
            continue
        refs = rl[rl.dtype.names[0]].reshape(-1)
        axes = rl[rl.dtype.names[1]].reshape(-1)
        for ref, axis in zip(refs, axes):
            try:
                v = by_addr.get(addr(h5r.dereference(ref, fid)))
            except Exception:
                continue
            if v is not None and 0 <= int(axis) < len(v.dims) and v.dims[int(axis)] is None:
                v.dims[int(axis)] = sname


def _from_dimension_list(fid, v: Var) -> None:
    """Name the axes of ``v`` still unnamed from its ``DIMENSION_LIST``
    (variable-length references: a corrupt global heap can make HDF5 spin on
    it, so it is read last, under the watchdog)."""
    before_vlen_read()
    try:
        aid = h5a.open(v.dsid, b"DIMENSION_LIST")
        arr = np.empty(aid.shape, dtype=aid.dtype)
        aid.read(arr)
    except Exception:
        return
    for d, refs in enumerate(arr.reshape(-1)[: len(v.shape)]):
        if v.dims[d] is not None or refs is None or len(refs) == 0:
            continue
        try:
            p = h5r.get_name(refs[0], fid)
        except Exception:
            continue
        v.dims[d] = p.rsplit(b"/", 1)[-1].decode("utf-8", "replace")


def assign_dims(path: str, fid, gpath: str, vars_: list[Var], is_netcdf: bool = False) -> None:
    """Name every axis of ``vars_`` (the datasets of group ``gpath``). In order
    of preference (and cost):

    1. netCDF-C's ``_Netcdf4Coordinates`` (dimension ids) against the scales'
       ``_Netcdf4Dimid``: plain integer attributes;
    2. the scales' ``REFERENCE_LIST`` (fixed-size records of object reference +
       axis): one read per scale, no variable-length data;
    3. the variable's ``DIMENSION_LIST`` (variable-length references; a corrupt
       global heap can make HDF5 spin on it, so it is the last resort);
    4. phony dimensions.
    Scales are looked up in this group and its ancestors (NetCDF4 scoping).
    """
    scales = _visible_scales(path, fid, gpath, vars_)
    pending = _from_netcdf_ids(vars_, scales)
    if pending and scales.pairs:
        _from_reference_lists(fid, pending, scales.pairs)
    for v in pending:
        if all(d is not None for d in v.dims):
            continue
        if is_netcdf:  # NetCDF4 scales always live in the ancestry: the file is damaged
            raise ScanError(path, f"variable {v.name!r}: its dimension scales cannot be resolved (damaged file?)")
        _from_dimension_list(fid, v)  # scales outside this group's ancestry (plain HDF5)
    # phony dimensions, named as netCDF-C names them (see phony_offset)
    need = [v for v in vars_ if any(d is None for d in v.dims)]
    if need:
        start = phony_offset(path, fid, gpath)
        for v, names in zip(need, alloc_phony([v.dims for v in need], [v.shape for v in need], start)):
            v.dims = names


def strip_non_coord_prefix(vars_: list[Var]) -> None:
    """``_nc4_non_coord_x`` is shown as ``x``, as netCDF-C does, unless another
    variable of the group is called ``x`` already."""
    taken = {v.name for v in vars_ if not v.only_a_dimension}
    for v in vars_:
        if v.name.startswith(NC4_NON_COORD) and len(v.name) > len(NC4_NON_COORD):
            new = v.name[len(NC4_NON_COORD):]
            if new not in taken:
                taken.add(new)
                v.name = new
