"""Zarr v2 metadata for virtual arrays (shared by every reference writer)."""
from __future__ import annotations

import base64
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numcodecs
import numpy as np
from zarr.core.dtype import get_data_type_from_native_dtype
from zarr.core.metadata.v2 import ArrayV2Metadata

from .. import codecs as _vz_codecs  # noqa: F401  (registers our codecs)
from ..cf import conforming_fill
from ..errors import FillValueWarning
from ..model import VArray, VDataset


def json_value(v: Any) -> Any:
    """Make an attribute value JSON-safe, keeping its meaning (numpy scalars and
    arrays to Python, bytes to text). NaN and infinities stay floats: documents
    are dumped with ``allow_nan=True`` (Python's and zarr's JSON read them back
    as floats), so a NaN ``missing_value`` is still a number for xarray."""
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
        return float(v)
    if isinstance(v, np.complexfloating):
        return [json_value(v.real), json_value(v.imag)]
    if isinstance(v, np.str_):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def declared_fill(var: VArray) -> tuple[bool, Any]:
    """The variable's own ``_FillValue`` attribute as a value of its dtype, when
    it conforms (see :func:`conforming_fill`)."""
    if "_FillValue" not in var.attrs:
        return False, None
    return conforming_fill(var.attrs["_FillValue"], var.dtype)


def _fill_bytes(value: Any, dtype: np.dtype) -> bytes | None:
    try:
        return np.asarray(value if value is not None else 0, dtype=dtype).tobytes()
    except (TypeError, ValueError, OverflowError):
        return None


def same_fill(a: Any, b: Any, dtype: np.dtype) -> bool:
    """Do two fill values read the same (NaN equals NaN; None reads as zeros)?"""
    dtype = np.dtype(dtype)
    if dtype.kind == "O":
        return True
    if dtype.kind in "fc" and a is not None and b is not None:
        try:
            x, y = np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)
            return bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))
        except (TypeError, ValueError):
            return False
    return _fill_bytes(a, dtype) == _fill_bytes(b, dtype)


def zarray(var: VArray, fill_value: Any = None, codecs=None) -> dict:
    """The ``.zarray`` document of one variable, as zarr's own ``ArrayV2Metadata``
    writes it (dtype and fill value in zarr v2's JSON encoding). Codecs go into
    ``filters`` in encode order with no compressor, so a zarr v2 reader decodes them
    in reverse, exactly as HDF5 does; they are written as configured (numcodecs
    objects would add their defaults). ``fill_value`` is a value of the variable's
    dtype that readers take for ``_FillValue`` (see :func:`fill_plan`).
    ``dimension_separator`` is left out: "." is what every reader assumes."""
    codecs = [dict(c) for c in (var.codecs if codecs is None else codecs)]
    shape, chunks = tuple(var.shape), tuple(var.chunks) if var.shape else ()
    if var.dtype.kind == "O":
        # zarr's object types know only vlen-utf8/vlen-bytes and cast any fill to text (0 -> "0")
        doc = {"dtype": "|O", "fill_value": fill_value if isinstance(fill_value, str) else None}
    else:
        doc = ArrayV2Metadata(
            shape=shape,
            chunks=chunks,
            dtype=get_data_type_from_native_dtype(var.dtype),
            fill_value=fill_value,
            order="C",
        ).to_dict()
    return {
        "chunks": list(chunks),
        "compressor": None,
        "dtype": doc["dtype"],
        "fill_value": json_value(doc["fill_value"]),  # a complex fill comes as a tuple
        "filters": codecs or None,
        "order": "C",
        "shape": list(shape),
        "zarr_format": 2,
    }


def zattr_fill_value(value: Any, dtype: np.dtype) -> Any:
    """A conforming ``_FillValue`` attribute in the encoding xarray's zarr backend
    decodes when ``use_zarr_fill_value_as_mask=False`` (``FillValueCoder``):
    floats as base64 of a little-endian double, integers as ints. Returns None
    when xarray cannot decode one for ``dtype`` (byte strings), so the attribute
    is left out (the ``.zarray`` fill value carries it)."""
    dtype = np.dtype(dtype)
    v = np.asarray(value).reshape(-1)[0]
    if dtype.kind == "f":
        return base64.standard_b64encode(struct.pack("<d", float(v))).decode()
    if dtype.kind == "c":
        c = complex(v)
        return [base64.standard_b64encode(struct.pack("<d", x)).decode() for x in (c.real, c.imag)]
    if dtype.kind in "iu":
        return int(v)
    if dtype.kind == "b":
        return bool(v)
    return None


def zattrs(var: VArray) -> dict:
    """The ``.zattrs`` document: attributes as found. A conforming ``_FillValue``
    is written in xarray's ``FillValueCoder`` encoding (the ``.zarray`` fill value
    carries it for readers with xarray's defaults); one that does not conform to
    the variable's type is written as it is, never coerced."""
    attrs = {str(k): json_value(v) for k, v in var.attrs.items()}
    ok, fv = declared_fill(var)
    if ok:
        enc = zattr_fill_value(fv, var.dtype)
        if enc is None:
            del attrs["_FillValue"]
        else:
            attrs["_FillValue"] = enc
    attrs["_ARRAY_DIMENSIONS"] = list(var.dims)
    return attrs


# -- fill values and unwritten chunks ------------------------------------------
#: materialise the unwritten chunks of one variable up to this many
MAX_FILL_CHUNKS = 1_000_000
#: ... when one encoded fill chunk is at most this large
MAX_FILL_BLOB = 8 * 2**20
#: ... and building it allocates at most this much (the decoded chunk)
MAX_FILL_CHUNK_NBYTES = 256 * 2**20
#: parquet repeats the fill chunk in every unwritten row (dictionary-encoded on
#: disk, but whole in memory while writing and reading a record): at most this much
MAX_PARQUET_FILL_BYTES = 64 * 2**20


@dataclass(frozen=True)
class FillPlan:
    """How a variable's fill is written in zarr v2 references.

    ``fill_value``: the ``.zarray`` fill value, which xarray's zarr backend reads
    as ``_FillValue`` (a mask): the variable's own conforming ``_FillValue``, or
    None. ``blob``: the encoded bytes of one chunk full of the storage fill, to
    reference for every unwritten chunk when zarr's fill would read differently
    (None: unwritten chunks are left out). ``codecs``: the pipeline to write (the
    variable's, or zlib for a variable with no written chunk, so the blob is small).
    ``warning``: why the storage fill could not be materialised (then
    ``fill_value`` is the storage fill: raw values right, decoded ones masked).
    """

    fill_value: Any
    blob: bytes | None = None
    codecs: tuple = ()
    warning: str | None = None


def _encode_fill_chunk(var: VArray, codecs) -> bytes:
    codecs = [dict(c) for c in codecs]
    shape = tuple(var.chunks) if var.shape else ()
    if codecs and codecs[0].get("id") == "vz.field":  # records with this field filled
        rec = np.zeros(shape, dtype=[(str(n), str(t)) for n, t in codecs[0]["dtype"]])
        rec[codecs[0]["field"]] = var.fill_value
        data: Any = rec
        codecs = codecs[1:]
    else:
        data = np.full(shape, var.fill_value, dtype=var.dtype)
    data = np.ascontiguousarray(data)
    for c in codecs:
        data = numcodecs.get_codec(c).encode(data)
    return bytes(np.ascontiguousarray(data).view("u1").tobytes()) if isinstance(data, np.ndarray) else bytes(data)


def fill_plan(var: VArray, max_fill_bytes: int | None = None) -> FillPlan:
    """Decide the zarr v2 fill of ``var`` (see :class:`FillPlan`);
    ``max_fill_bytes`` bounds the fill chunks repeated in total (parquet)."""
    ok, declared = declared_fill(var)
    reader_fill = declared if ok else None
    codecs = tuple(dict(c) for c in var.codecs)
    m = var.manifest
    n_missing = m.n_missing if var.dtype.kind != "O" else 0
    if not n_missing or var.fill_value is None or same_fill(var.fill_value, reader_fill, var.dtype):
        return FillPlan(reader_fill, None, codecs)
    chunk_nbytes = int(np.prod(var.chunks, dtype=np.int64)) * var.dtype.itemsize
    if n_missing == m.n_chunks:  # nothing written: any pipeline will do
        codecs = ({"id": "zlib", "level": 9},)
    why = None
    if n_missing > MAX_FILL_CHUNKS:
        why = f"{n_missing:,} unwritten chunks (more than {MAX_FILL_CHUNKS:,})"
    elif chunk_nbytes > MAX_FILL_CHUNK_NBYTES:
        why = f"its {chunk_nbytes:,}-byte chunks are too large to build a fill chunk"
    else:
        try:
            blob = _encode_fill_chunk(var, codecs)
        except Exception as e:  # noqa: BLE001 - a codec that cannot encode
            why = f"its codecs cannot encode a fill chunk ({type(e).__name__}: {str(e)[:80]})"
        else:
            if len(blob) > MAX_FILL_BLOB:
                why = f"one encoded fill chunk is {len(blob):,} bytes"
            elif max_fill_bytes is not None and len(blob) * n_missing > max_fill_bytes:
                why = f"{n_missing:,} unwritten chunks of {len(blob):,} bytes each; kerchunk JSON shares one"
            else:
                return FillPlan(reader_fill, blob, codecs)
    storage = var.fill_value
    warning = (
        f"variable {var.name!r}: unwritten chunks read as {storage!r}, which zarr v2 references can only say "
        f"as a fill value that xarray also masks ({why}); raw values are right, decoded ones show NaN there"
    )
    return FillPlan(storage, None, tuple(dict(c) for c in var.codecs), warning)


def data_url(blob: bytes) -> str:
    """A ``data:`` URL holding ``blob``: fsspec reads it like any file, so one
    fill chunk serves every unwritten chunk that references it."""
    return "data:application/octet-stream;base64," + base64.standard_b64encode(blob).decode("ascii")


def fill_plans(ds: VDataset, max_fill_bytes: int | None = None) -> dict[str, FillPlan]:
    """:func:`fill_plan` of every variable; warns (once per variable) when a
    storage fill cannot be materialised."""
    plans = {name: fill_plan(v, max_fill_bytes) for name, v in ds.variables.items()}
    for p in plans.values():
        if p.warning:
            warnings.warn(p.warning, FillValueWarning, stacklevel=3)
    return plans


def metadata(ds: VDataset, plans: Mapping[str, FillPlan] | None = None) -> dict[str, Any]:
    """All zarr v2 metadata documents of a dataset (keys ``.zgroup``, ``.zattrs``,
    ``var/.zarray``, ``var/.zattrs``) as Python objects."""
    if plans is None:
        plans = fill_plans(ds)
    out: dict[str, Any] = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {str(k): json_value(v) for k, v in ds.attrs.items()},
    }
    for name, var in ds.variables.items():
        p = plans[name]
        out[f"{name}/.zarray"] = zarray(var, p.fill_value, p.codecs)
        out[f"{name}/.zattrs"] = zattrs(var)
    return out
