"""One HDF5 dataset as a :class:`~vz_jupyter.core.model.VArray`: its type, fill
value, codecs and manifest; a compound dataset as one variable per field."""
from __future__ import annotations

import math

import numpy as np
from h5py import h5d, h5s

from ...model import VArray
from .attributes import read_attrs
from .dims import Var
from .dtypes import dtype_of, fill_value, stored_fill
from .filters import filter_codecs
from .inlining import vlen_str_var
from .manifests import Manifests
from .problems import Skip


def make_var(v: Var, dim_sizes: dict[str, int], mk: Manifests) -> VArray | list[VArray]:
    """``v`` as a variable (a compound one as one per field). Raises
    :class:`~.problems.Skip` or :class:`~.problems.BadFilter` when its chunks
    cannot be referenced."""
    dsid = v.dsid
    tid = dsid.get_type()
    dtype, how = dtype_of(tid)
    dcpl = dsid.get_create_plist()
    attrs = read_attrs(dsid, v.attr_names)
    dims = tuple(v.dims)
    if how == "vlen-str":
        return vlen_str_var(v, dims, attrs)
    layout = dcpl.get_layout()
    fill = fill_value(dcpl, dtype)
    shape, chunks, codecs, manifest = _stored(v, dims, dim_sizes, layout, dcpl, tid, dtype, mk)
    if how == "compound":
        return _fields(v.name, dims, shape, chunks, tuple(codecs), manifest, stored_fill(dcpl, dtype)[0], attrs)
    return VArray(
        name=v.name,
        dims=dims,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        codecs=tuple(codecs),
        fill_value=fill,
        attrs=attrs,
        manifest=manifest,
    )


def _stored(v: Var, dims: tuple, dim_sizes: dict[str, int], layout, dcpl, tid, dtype, mk: Manifests):
    """``(shape, chunks, codecs, manifest)`` of the dataset's storage layout."""
    dsid = v.dsid
    shape = v.shape
    if layout == h5d.VIRTUAL:
        raise Skip("virtual dataset (VDS) mapping other datasets is not supported", final=True)
    if layout == h5d.CHUNKED:
        chunks = tuple(int(c) for c in dcpl.get_chunk())
        if dims and dim_sizes:
            shape = _grown_to_dims(dsid, dims, shape, dim_sizes)
        nbytes = math.prod(chunks) * dtype.itemsize
        codecs = filter_codecs(dcpl, dtype, nbytes)
        return shape, chunks, codecs, mk.chunked(dsid, shape, chunks, codecs)
    chunks = tuple(max(int(s), 1) for s in shape)
    if layout == h5d.COMPACT:
        return shape, chunks, [], mk.compact(dsid, tid, dtype, shape)
    if dcpl.get_external_count() > 0:
        raise Skip("data stored in external raw files (H5Pset_external) is not supported", final=True)
    return shape, chunks, [], mk.contiguous(dsid, shape)


def _grown_to_dims(dsid, dims: tuple, shape: tuple, dim_sizes: dict[str, int]) -> tuple:
    """netCDF4 unlimited dims: variables shorter than the dim read as fill, so
    the shape grows to the dimension's length where the dataset may grow."""
    new = tuple(max(s, dim_sizes.get(d, s)) for d, s in zip(dims, shape))
    if new != shape:
        maxshape = dsid.get_space().get_simple_extent_dims(True)
        if all(n == s or m == h5s.UNLIMITED or m >= n for n, s, m in zip(new, shape, maxshape)):
            return new
    return shape


def _fields(name: str, dims, shape, chunks, codecs: tuple, manifest, full: np.void, attrs) -> list[VArray]:
    """A compound dataset: xarray cannot read structured zarr arrays, so one
    variable per field, all sharing the chunks, each extracting its field after
    decoding (``vz.field``)."""
    dtype = full.dtype
    descr = [[n, dtype.fields[n][0].str] for n in dtype.names]
    return [
        VArray(
            name=f"{name}.{n}",
            dims=dims,
            shape=shape,
            dtype=dtype.fields[n][0],
            chunks=chunks,
            codecs=({"id": "vz.field", "dtype": descr, "field": n}, *codecs),
            fill_value=full[n],
            attrs={**attrs, "compound_variable": name},
            manifest=manifest,
        )
        for n in dtype.names
    ]
