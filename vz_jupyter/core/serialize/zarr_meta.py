"""Zarr v2 metadata for virtual arrays (shared by every reference writer)."""
from __future__ import annotations

import base64
import math
import struct
from typing import Any, Mapping

import numpy as np

from ..model import VArray, VDataset


def json_value(v: Any) -> Any:
    """Make an attribute value JSON-safe, keeping its meaning (numpy scalars and
    arrays to Python, NaN/inf to zarr's strings, bytes to text)."""
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return json_value(v[()])
        return [json_value(x) for x in v.tolist()] if v.dtype.kind not in "SUO" else [json_value(x) for x in v]
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, (bytes, np.bytes_)):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(v).decode("latin-1")
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if isinstance(v, np.complexfloating):
        return [json_value(v.real), json_value(v.imag)]
    if isinstance(v, np.str_):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def encode_fill_value(fill: Any, dtype: np.dtype) -> Any:
    """A fill value in zarr v2's JSON encoding for ``dtype``."""
    if fill is None:
        return None
    dtype = np.dtype(dtype)
    if dtype.kind in "SV":
        b = fill if isinstance(fill, (bytes, np.bytes_, np.void)) else np.asarray(fill, dtype=dtype).tobytes()
        return base64.standard_b64encode(bytes(b)).decode("ascii")
    if dtype.kind in "UO":
        return fill if isinstance(fill, str) else None
    if dtype.kind == "b":
        return bool(fill)
    if dtype.kind in "iu":
        return int(np.asarray(fill).astype(dtype))
    if dtype.kind == "f":
        return json_value(float(np.asarray(fill).astype(dtype)))
    if dtype.kind == "c":
        c = complex(np.asarray(fill).astype(dtype))
        return [json_value(c.real), json_value(c.imag)]
    if dtype.kind in "mM":
        return int(np.asarray(fill).view("i8"))
    return json_value(fill)


def zarray(var: VArray) -> dict:
    """The ``.zarray`` document of one variable. Codecs go into ``filters`` in
    encode order with no compressor, so a zarr v2 reader decodes them in reverse,
    exactly as HDF5 does."""
    dtype = var.dtype
    if dtype.kind == "O":
        dtype_str = "|O"
    elif dtype.fields is not None:
        dtype_str = [[n, dtype.fields[n][0].str] for n in dtype.names]
    else:
        dtype_str = dtype.str
    return {
        "chunks": list(var.chunks) if var.shape else [],
        "compressor": None,
        "dtype": dtype_str,
        "fill_value": encode_fill_value(var.fill_value, var.dtype),
        "filters": [dict(c) for c in var.codecs] or None,
        "order": "C",
        "shape": list(var.shape),
        "zarr_format": 2,
    }


def zattr_fill_value(value: Any, dtype: np.dtype) -> Any:
    """A ``_FillValue`` attribute in the encoding xarray's zarr backend decodes
    when ``use_zarr_fill_value_as_mask=False`` (``FillValueCoder``): floats as
    base64 of a little-endian double, integers as ints. Returns None when xarray
    cannot decode one for ``dtype`` (byte strings), so the attribute is left out."""
    dtype = np.dtype(dtype)
    arr = np.asarray(value)
    if arr.size != 1:
        return json_value(value)
    v = arr.ravel()[0]
    if dtype.kind == "f":
        return base64.standard_b64encode(struct.pack("<d", float(v))).decode()
    if dtype.kind == "c":
        c = complex(v)
        return [base64.standard_b64encode(struct.pack("<d", x)).decode() for x in (c.real, c.imag)]
    if dtype.kind in "iu":
        return int(v)
    if dtype.kind == "b":
        return bool(v)
    if dtype.kind in "SV":
        return None
    return json_value(value)


def zattrs(var: VArray) -> dict:
    attrs = {str(k): json_value(v) for k, v in var.attrs.items()}
    if "_FillValue" in var.attrs:
        fv = zattr_fill_value(var.attrs["_FillValue"], var.dtype)
        if fv is None:
            del attrs["_FillValue"]
        else:
            attrs["_FillValue"] = fv
    attrs["_ARRAY_DIMENSIONS"] = list(var.dims)
    return attrs


def metadata(ds: VDataset) -> dict[str, Any]:
    """All zarr v2 metadata documents of a dataset (keys ``.zgroup``, ``.zattrs``,
    ``var/.zarray``, ``var/.zattrs``) as Python objects."""
    out: dict[str, Any] = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {str(k): json_value(v) for k, v in ds.attrs.items()},
    }
    for name, var in ds.variables.items():
        out[f"{name}/.zarray"] = zarray(var)
        out[f"{name}/.zattrs"] = zattrs(var)
    return out


def chunk_key(name: str, index: tuple[int, ...]) -> str:
    """``var/i.j.k`` (``var/0`` for a scalar)."""
    return f"{name}/" + (".".join(str(i) for i in index) if index else "0")
