"""HDF5 attributes as netCDF4-python shows them: strings decoded, one value as a
scalar, the attributes of netCDF-C and the dimension-scale API hidden."""
from __future__ import annotations

from typing import Any

import numpy as np
from h5py import h5, h5a, h5s, h5t

from .problems import Skip
from .watchdog import before_vlen_read

#: attributes written by netCDF-C / the HDF5 dimension-scale API, not shown to users
HIDDEN_ATTRS = frozenset(
    {
        "_Netcdf4Dimid",
        "_Netcdf4Coordinates",
        "_nc3_strict",
        "_NCProperties",
        "_SuperblockVersion",
        "_IsNetcdf4",
        "DIMENSION_LIST",
        "REFERENCE_LIST",
        "CLASS",
        "NAME",
    }
)
_HIDDEN_B = frozenset(a.encode() for a in HIDDEN_ATTRS)


def clean_attr(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "S":
            v = np.char.decode(v, "utf-8", "replace") if v.size else v.astype("U")
        elif v.dtype.kind == "O":
            v = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v.flat], dtype=object).reshape(v.shape)
        if v.size == 1:
            return clean_attr(v.reshape(())[()])
        if v.dtype.kind in "UO":
            return [str(x) for x in v.flat] if v.ndim == 1 else v.tolist()
        return v
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.str_):
        return str(v)
    return v


def read_attr(oid, name: bytes) -> Any:
    aid = h5a.open(oid, name)
    space = aid.get_space()
    if space.get_simple_extent_type() == h5s.NULL:  # empty attribute
        return None
    shape = space.shape
    dtype = aid.dtype
    kind = dtype.kind
    if dtype.hasobject:
        before_vlen_read()
    if kind == "O" or dtype.subdtype is not None:
        if h5t.check_ref_dtype(dtype) is not None:
            raise Skip("object references")
        htype = h5t.py_create(dtype)
        if dtype.subdtype is not None:
            sub, subshape = dtype.subdtype
            shape = tuple(shape) + tuple(subshape)
            dtype = sub
        arr = np.zeros(shape, dtype=dtype)
        aid.read(arr, mtype=htype)
    else:
        arr = np.zeros(shape, dtype=dtype)
        aid.read(arr)
    if arr.dtype.kind == "O":
        if h5t.check_string_dtype(arr.dtype) is None:
            raise Skip("variable-length sequence")
        arr = np.array(
            [b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b) for b in arr.flat], dtype=object
        ).reshape(arr.shape)
    if arr.dtype.names is not None:
        raise Skip("compound attribute")
    return clean_attr(arr if arr.ndim else arr[()])


def read_attrs(oid, names: list[bytes] | None = None) -> dict[str, Any]:
    """User-visible attributes of an HDF5 object, in file order."""
    if names is None:
        names = attr_names(oid)
    out: dict[str, Any] = {}
    for n in names:
        if n in _HIDDEN_B:
            continue
        try:
            out[n.decode("utf-8", "replace")] = read_attr(oid, n)
        except Skip:
            continue
        except (OSError, TypeError, ValueError):
            continue
    return out


def attr_names(oid) -> list[bytes]:
    """Attribute names in creation order when the file tracks it (netCDF-C does),
    else in name order."""
    names: list[bytes] = []
    try:
        h5a.iterate(oid, names.append, index_type=h5.INDEX_CRT_ORDER)
    except Exception:
        names.clear()
        h5a.iterate(oid, names.append)
    return names


def is_dimension_scale(oid) -> bool:
    """Whether a dataset says ``CLASS = "DIMENSION_SCALE"``."""
    return h5a.exists(oid, b"CLASS") and read_attr(oid, b"CLASS") == "DIMENSION_SCALE"
