"""One group of an open HDF5 file as a :class:`~vz_jupyter.core.model.VDataset`:
its datasets found, their axes named, each made a variable (or inlined, or
skipped with a reason), coordinates picked, attributes read."""
from __future__ import annotations

import logging

import h5py
import numpy as np
from h5py import h5a, h5o

from ...errors import ScanError, UnsupportedFeature
from ...model import VArray, VDataset
from ..files import file_source
from .attributes import attr_names, read_attr, read_attrs
from .dims import Var, assign_dims, strip_non_coord_prefix
from .groups import all_groups, members
from .inlining import inline_decoded
from .manifests import ByteReader, Manifests
from .problems import BadFilter, Skip, condense_h5_error
from .variables import make_var
from .watchdog import heartbeat

log = logging.getLogger(__name__)


class Scanner:
    """The scan of one open file: where its bytes are read from, its manifests'
    budget, and the variables skipped with their reasons."""

    def __init__(self, path: str, f: h5py.File, fs, inline_threshold: int, fobj=None):
        self.path = path
        self.fid = f.id
        self.fs = fs
        self.inline_threshold = int(inline_threshold or 0)
        self.skipped: list[tuple[str, str]] = []
        self.reader = ByteReader(path, fs, fobj)
        self.manifests = Manifests(path, self.reader, self.inline_threshold)

    def close(self):
        self.reader.close()

    def scan(self, group: str | None) -> VDataset:
        gpath = (group or "").strip("/")
        root_gid = h5o.open(self.fid, b"/")
        gid = self._open_group(gpath, root_gid) if gpath else root_gid
        root_attr_names = attr_names(root_gid)
        is_netcdf = bool({b"_NCProperties", b"_nc3_strict"} & set(root_attr_names))

        links = members(self.path, gid)
        subgroups = all_groups(self.path, gid, gpath, links=links)
        vars_, has_nc_scales = self._datasets(gid, links)
        is_netcdf = is_netcdf or has_nc_scales
        assign_dims(self.path, self.fid, gpath, vars_, is_netcdf)
        strip_non_coord_prefix(vars_)
        variables, coords = self._variables(vars_)

        attrs = read_attrs(gid, root_attr_names if not gpath else None)
        if self.manifests.n_reencoded:
            log.info("%s: %d chunk(s) had skipped filters (filter_mask); re-encoded and inlined", self.path,
                     self.manifests.n_reencoded)
        fmt = "NetCDF4" if is_netcdf else "HDF5"
        return VDataset(
            variables=variables,
            attrs=attrs,
            coords=tuple(coords),
            sources=(file_source(self.path, self.fs, format=fmt),),
            skipped=tuple(self.skipped),
            groups=tuple(subgroups),
            group=gpath,
        )

    def _open_group(self, gpath: str, root_gid):
        """The group ``gpath``; a one-line error listing the groups there are if
        it does not exist."""
        try:
            gid = h5o.open(self.fid, gpath.encode())
            ok = isinstance(gid, h5py.h5g.GroupID)
        except Exception:
            ok = False
        if ok:
            return gid
        groups = all_groups(self.path, root_gid, "")
        listing = ", ".join(groups[:30]) + (f" (+{len(groups) - 30} more)" if len(groups) > 30 else "")
        raise ScanError(
            self.path,
            f"no group {gpath!r} in this file; groups are: {listing}" if groups
            else f"no group {gpath!r} in this file (it has no groups)",
        )

    def _datasets(self, gid, links) -> tuple[list[Var], bool]:
        """The group's datasets in link order (links that are no dataset noted on
        ``skipped``), and whether a scale carries a netCDF-C dimension id."""
        vars_: list[Var] = []
        has_nc_scales = False
        for name, kind in links:
            if kind == "external":
                self.skipped.append((name, "external link to another file (not followed)"))
            elif kind == "dangling":
                self.skipped.append((name, "link to an object that does not exist"))
            elif kind == "dataset":
                try:
                    dsid = h5o.open(gid, name.encode())
                    shape = dsid.shape
                    names = attr_names(dsid)
                except Exception as e:
                    raise ScanError(self.path, f"variable {name!r}: {condense_h5_error(e)}") from None
                if shape is None:
                    self.skipped.append((name, "has a null dataspace (no data)"))
                    continue
                v = Var(name, dsid, tuple(shape), names)
                if b"CLASS" in names and _mark_scale(v) and v.nc_dimid:
                    has_nc_scales = True
                vars_.append(v)
            # groups are scanned on their own; named datatypes and others are not variables
        return vars_, has_nc_scales

    def _variables(self, vars_: list[Var]) -> tuple[dict[str, VArray], list[str]]:
        """Every dataset as a variable (or inlined, or skipped), and the
        coordinates: scales naming their own axis, then those the CF
        ``coordinates`` attributes name."""
        variables: dict[str, VArray] = {}
        coords: list[str] = []
        dim_sizes: dict[str, int] = {}
        for v in vars_:
            for d, s in zip(v.dims, v.shape):
                dim_sizes[d] = max(dim_sizes.get(d, 0), s)
        cf_coords: set[str] = set()
        for v in vars_:
            heartbeat()
            if v.only_a_dimension:
                continue
            va = self._variable(v, dim_sizes)
            if va is None:  # named on self.skipped with its reason
                continue
            if isinstance(va, list):  # compound: one variable per field
                for fv in va:
                    variables[fv.name] = fv
                continue
            variables[v.name] = va
            if v.is_scale and va.ndim >= 1 and va.dims[0] == v.name:
                coords.append(v.name)
            c = va.attrs.get("coordinates")
            if isinstance(c, str):
                cf_coords.update(c.split())
        for c in cf_coords:
            if c in variables and c not in coords:
                coords.append(c)
        return variables, coords

    def _variable(self, v: Var, dim_sizes: dict[str, int]) -> VArray | list[VArray] | None:
        """One dataset as a variable; one that cannot be referenced inlined as
        decoded values or skipped (None); a damaged one a one-line ScanError."""
        try:
            try:
                return make_var(v, dim_sizes, self.manifests)
            except Skip as s:
                if s.final:
                    self.skipped.append((v.name, str(s)))
                    return None
                return self._inline(v, str(s))
            except BadFilter as b:
                return self._inline(v, f"{b.name} filter (id {b.fid}) cannot be referenced: {b.why}")
        except (ScanError, UnsupportedFeature):
            raise
        except Exception as e:  # corrupt files raise all sorts (OSError, zlib.error, OverflowError, ...)
            raise ScanError(self.path, f"variable {v.name!r}: {condense_h5_error(e)}") from None

    def _inline(self, v: Var, reason: str) -> VArray | list[VArray] | None:
        return inline_decoded(v, reason, self.inline_threshold, self.skipped, self.path)


def _mark_scale(v: Var) -> bool:
    """Mark ``v`` as a dimension scale (with its ``NAME``) when its ``CLASS``
    says so; returns whether it is one."""
    try:
        cls = read_attr(v.dsid, b"CLASS")
    except Exception:
        cls = None
    if cls != "DIMENSION_SCALE":
        return False
    v.is_scale = True
    if b"NAME" in v.attr_names:
        try:
            nm = h5a.open(v.dsid, b"NAME")
            buf = np.zeros((), dtype=nm.dtype)
            nm.read(buf)
            raw = buf[()]
            v.scale_name = raw if isinstance(raw, bytes) else str(raw).encode()
        except Exception:
            pass
    return True
