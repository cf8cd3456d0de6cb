"""zarr v2 metadata in references -> VArray fields: ``.zarray`` validated
(shape, chunks, dtype, codecs in encode order, separator, chunk grid within
:data:`~vz_jupyter.core.limits.MAX_CHUNKS`), ``fill_value`` and ``_FillValue``
decoded, and stored sizes of chunks without codecs checked."""
from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import limits
from ...cf import conforming_fill
from ...errors import ScanError, UnsupportedFeature
from ...model import MISSING, Manifest
from .jsondoc import _short

_SPECIAL_FLOATS = {"NaN": math.nan, "nan": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
                   "inf": math.inf, "-inf": -math.inf}


def decode_fill_value(v: Any, dtype: np.dtype, path: str, name: str) -> Any:
    """A zarr v2 ``fill_value`` as a value of ``dtype``."""
    if v is None:
        return None
    try:
        if dtype.kind in "SV":
            data = base64.standard_b64decode(v) if isinstance(v, str) else bytes(v)
            if dtype.kind == "V":
                return data
            return np.array(data, dtype=dtype)[()]
        if dtype.kind == "f":
            if isinstance(v, str):
                v = _SPECIAL_FLOATS[v]
            return dtype.type(v)
        if dtype.kind == "c":
            re_, im = (_SPECIAL_FLOATS.get(x, x) if isinstance(x, str) else x for x in v)
            return dtype.type(complex(re_, im))
        if dtype.kind in "iub":
            return dtype.type(v)
        if dtype.kind in "mM":
            return np.array(int(v), dtype="i8").view(dtype)[()]
        return v
    except (KeyError, TypeError, ValueError, OverflowError, base64.binascii.Error):
        raise ScanError(path, f"variable {name!r}: fill_value {v!r} does not fit dtype {dtype}") from None


def decode_fill_attr(v: Any, dtype: np.dtype) -> Any:
    """A ``_FillValue`` attribute as found in references (xarray's base64 double,
    "NaN"-style strings, or plain numbers) as a value of ``dtype`` when it is one
    exactly; anything else (1.5 or NaN for an integer variable) is kept as it is,
    never coerced."""
    try:
        if dtype.kind == "f" and isinstance(v, str):
            if v in _SPECIAL_FLOATS:
                return dtype.type(_SPECIAL_FLOATS[v])
            b = base64.standard_b64decode(v)
            if len(b) == 8:
                v = struct.unpack("<d", b)[0]
            else:
                return v
        if dtype.kind == "c" and isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v):
            re_, im = (struct.unpack("<d", base64.standard_b64decode(x))[0] for x in v)
            v = complex(re_, im)
    except (ValueError, TypeError, OverflowError, base64.binascii.Error, struct.error):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
        return v
    ok, value = conforming_fill(v, dtype)
    return value if ok else v


def parse_dtype(d: Any, path: str, name: str) -> np.dtype:
    """A zarr v2 ``dtype`` (a typestr or a structured list). ``null`` is refused
    (numpy would take it for float64), as are zero-sized items."""
    if d is None:
        raise ScanError(path, f"variable {name!r}: dtype is null; a zarr v2 dtype such as '<f8' is required")
    if not isinstance(d, (str, list)):
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is not a valid zarr v2 dtype")
    try:
        if isinstance(d, list):
            dt = np.dtype([(f[0], parse_dtype(f[1], path, name)) if len(f) == 2
                           else (f[0], parse_dtype(f[1], path, name), tuple(f[2])) for f in d])
        else:
            dt = np.dtype(d)
    except ScanError:
        raise
    except Exception:  # noqa: BLE001  (numpy's parser raises TypeError, ValueError, SyntaxError, ...)
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is not a valid zarr v2 dtype") from None
    if dt.itemsize == 0:
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} has zero-sized items")
    if dt.subdtype is not None and not isinstance(d, list):
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is a subarray type, not a zarr v2 dtype")
    if dt.fields is not None and dt.hasobject:
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} has object fields")
    return dt


#: codecs that turn stored bytes into Python objects (what an object dtype needs)
_OBJECT_CODECS = {"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "msgpack2"}
#: codecs that run code from the data when decoding: never from references
_REFUSED_CODECS = {"pickle"}
_MAX_DIM = 1 << 53


def _int_tuple(v: Any) -> tuple[int, ...] | None:
    if not isinstance(v, list) or not all(type(x) is int for x in v):
        return None
    return tuple(v)


@dataclass(frozen=True)
class _ArrayMeta:
    """What a validated ``.zarray`` says about its variable."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    codecs: tuple[dict, ...]  # in encode order: filters, then the compressor
    sep: str  # the chunk keys' dimension separator
    grid: tuple[int, ...]  # chunks along each dimension


def _array_meta(name: str, za: Any, path: str) -> _ArrayMeta:
    """The validated metadata of ``name/.zarray``.

    Hand-written rather than zarr's ``ArrayV2Metadata.from_dict``, which accepts what
    this refuses (chunks of 0, order "F") and refuses what references may carry (codec
    ids not installed where they are scanned), with messages that do not name the file;
    the writer uses zarr's own encoding (zarr_meta).
    """
    if not isinstance(za, dict):
        raise ScanError(path, f"{name}/.zarray is not a JSON object")
    if "shape" not in za or "chunks" not in za:
        raise ScanError(path, f"{name}/.zarray needs integer 'shape' and 'chunks' lists")
    shape, chunks = _int_tuple(za["shape"]), _int_tuple(za["chunks"])
    if shape is None or chunks is None:
        raise ScanError(path, f"{name}/.zarray needs integer 'shape' and 'chunks' lists "
                              f"(got {_short(za['shape'])} and {_short(za['chunks'])})")
    if not shape:
        chunks = ()  # a scalar is one chunk, whatever 'chunks' says
    if len(chunks) != len(shape) or any(c <= 0 for c in chunks) or any(s < 0 for s in shape):
        raise ScanError(path, f"{name}/.zarray: chunks {list(chunks)} do not match shape {list(shape)}")
    if any(x > _MAX_DIM for x in shape + chunks) or math.prod(shape) > _MAX_DIM:
        raise ScanError(path, f"{name}/.zarray: shape {list(shape)} / chunks {list(chunks)} are too large")
    if za.get("zarr_format", 2) != 2:
        raise UnsupportedFeature(path, f"{name}: zarr_format {_short(za.get('zarr_format'))} is not zarr v2")
    if za.get("order", "C") != "C":
        order = "Fortran ('F')" if za.get("order") == "F" else _short(za.get("order"))
        raise UnsupportedFeature(path, f"variable {name!r} uses {order} chunk order; only C order is supported")
    if "dtype" not in za:
        raise ScanError(path, f"{name}/.zarray has no dtype")
    dtype = parse_dtype(za["dtype"], path, name)
    filters = za.get("filters") or []
    compressor = za.get("compressor")
    if not isinstance(filters, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in filters):
        raise ScanError(path, f"{name}/.zarray: filters must be a list of codec configs with an 'id'")
    if compressor is not None and not (isinstance(compressor, dict) and isinstance(compressor.get("id"), str)):
        raise ScanError(path, f"{name}/.zarray: compressor must be a codec config with an 'id'")
    codecs = tuple(filters) + ((compressor,) if compressor else ())
    ids = [c["id"] for c in codecs]
    refused = next((i for i in ids if i in _REFUSED_CODECS), None)
    if refused:
        raise UnsupportedFeature(path, f"variable {name!r}: codec {refused!r} runs code from the data when decoding; refused")
    if dtype.kind == "O" and not any(i in _OBJECT_CODECS for i in ids):
        raise ScanError(path, f"variable {name!r}: object dtype needs an object codec ({', '.join(sorted(_OBJECT_CODECS))})")
    sep = za.get("dimension_separator", ".")
    sep = "." if sep is None else sep
    if sep not in (".", "/"):
        raise ScanError(path, f"{name}/.zarray: dimension_separator {_short(sep)} must be '.' or '/'")
    grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
    if math.prod(grid) > limits.MAX_CHUNKS:
        raise ScanError(path, f"variable {name!r}: a chunk grid of {math.prod(grid):,} chunks is more than the budget "
                              f"of {limits.MAX_CHUNKS:,} (vz_jupyter.core.limits.MAX_CHUNKS)")
    return _ArrayMeta(shape=shape, chunks=chunks, dtype=dtype, codecs=codecs, sep=sep, grid=grid)


def _check_raw_lengths(name: str, m: Manifest, chunks: tuple, dtype: np.dtype, codecs: tuple, path: str) -> None:
    """Chunks stored without codecs hold exactly chunk-shape x itemsize bytes
    (zarr refuses anything else; reading a prefix would hide a wrong reference)."""
    if codecs or dtype.kind == "O":
        return
    need = math.prod(chunks) * dtype.itemsize
    present = m.path_id != MISSING
    bad = present & (m.length != need)
    if bad.any():
        i = tuple(int(x) for x in np.argwhere(bad)[0]) if bad.ndim else ()
        got = int(m.length[i]) if bad.ndim else int(m.length)
        raise ScanError(path, f"variable {name!r}: chunk {'.'.join(map(str, i)) or '0'} is stored with {got} bytes "
                              f"but has no codecs, so it must hold {need} (chunks {list(chunks)} x {dtype.itemsize} B)")

