"""HDF5 datatypes as numpy dtypes, the fill values of datasets, and why decoded
values of a type have no Zarr representation."""
from __future__ import annotations

import h5py
import numpy as np
from h5py import h5t

from .problems import Skip


def dtype_of(tid) -> tuple[np.dtype, str]:
    """The numpy dtype of an HDF5 type and how its data is stored: ``raw``,
    ``vlen-str`` (read and inlined) or ``compound`` (one variable per field).
    Types Zarr cannot represent raise :class:`Skip`."""
    cls = tid.get_class()
    if cls == h5t.STRING:
        if tid.is_variable_str():
            return np.dtype(object), "vlen-str"
        return np.dtype(f"S{tid.get_size()}"), "raw"
    if cls in (h5t.INTEGER, h5t.FLOAT):
        return tid.dtype, "raw"
    if cls == h5t.ENUM:
        base = tid.get_super()
        return base.dtype, "raw"
    if cls == h5t.REFERENCE:
        raise Skip("holds HDF5 object/region references, which Zarr cannot represent", final=True)
    if cls == h5t.VLEN:
        try:
            base = tid.get_super().dtype
        except Exception:
            base = "values"
        raise Skip(f"variable-length sequences of {base} (ragged arrays) have no Zarr data type", final=True)
    if cls == h5t.COMPOUND:
        dt = tid.dtype
        if dt.kind == "c":
            return dt, "raw"
        return compound_dtype(tid), "compound"
    if cls == getattr(h5t, "COMPLEX", -999):
        return tid.dtype, "raw"
    if cls == h5t.ARRAY:
        raise Skip("HDF5 array-typed elements are not supported")
    if cls == h5t.OPAQUE:
        raise Skip("opaque (untyped) data is not supported", final=True)
    if cls == h5t.BITFIELD:
        raise Skip("bitfield data is not supported", final=True)
    if cls == h5t.TIME:
        raise Skip("HDF5 time type is not supported", final=True)
    raise Skip(f"HDF5 type class {cls} is not supported", final=True)


def compound_dtype(tid) -> np.dtype:
    """A packed structured dtype of numbers and fixed strings (anything else,
    or padding, raises :class:`Skip`: its values may still be inlined)."""
    n = tid.get_nmembers()
    fields = []
    pos = 0
    for i in range(n):
        mname = tid.get_member_name(i).decode("utf-8", "replace")
        mt = tid.get_member_type(i)
        mcls = mt.get_class()
        if mcls in (h5t.INTEGER, h5t.FLOAT):
            mdt = mt.dtype
        elif mcls == h5t.ENUM:
            mdt = mt.get_super().dtype
        elif mcls == h5t.STRING and not mt.is_variable_str():
            mdt = np.dtype(f"S{mt.get_size()}")
        else:
            raise Skip(f"compound member {mname!r} has a type Zarr cannot represent")
        if tid.get_member_offset(i) != pos:
            raise Skip("compound type with padding between members is not supported")
        pos += mdt.itemsize
        fields.append((mname, mdt))
    if pos != tid.get_size():
        raise Skip("compound type with trailing padding is not supported")
    return np.dtype(fields)


def stored_fill(dcpl, dtype: np.dtype) -> np.ndarray:
    """One element of ``dtype`` holding the dataset's fill value (zeros when it
    has none, or when it cannot be read)."""
    arr = np.zeros((1,), dtype=dtype)
    try:
        if dcpl.fill_value_defined() != 0:  # 0 = H5D_FILL_VALUE_UNDEFINED
            dcpl.get_fill_value(arr)
    except Exception:
        pass
    return arr


def fill_value(dcpl, dtype: np.dtype):
    """The value unwritten chunks read as (None for strings of variable length;
    bytes for opaque and compound types)."""
    if dtype.kind == "O":
        return None
    val = stored_fill(dcpl, dtype)[0]
    if dtype.kind == "V":
        return val.tobytes()
    return val


def unrepresentable(dtype: np.dtype) -> str:
    """Why decoded values of this (h5py) dtype have no Zarr v2 representation
    that plain xarray reads ("" when they have one)."""
    if dtype.names is not None:
        for n in dtype.names:
            why = unrepresentable(dtype.fields[n][0])
            if why:
                return f"compound member {n!r}: {why}"
        return ""
    if dtype.subdtype is not None:
        return unrepresentable(dtype.subdtype[0])
    if dtype.kind in "biufcS":
        return ""
    if dtype.kind == "O":
        if h5py.check_string_dtype(dtype) is not None:
            return ""
        if h5py.check_ref_dtype(dtype) is not None:
            return "object/region references have no Zarr data type"
        base = h5py.check_vlen_dtype(dtype)
        if base is not None:
            return f"variable-length sequences of {base} (ragged arrays) have no Zarr data type"
        return "Python objects have no Zarr data type"
    if dtype.kind == "V":
        return "opaque bytes have no Zarr data type xarray reads"
    return f"numpy type {dtype} has no Zarr data type"
