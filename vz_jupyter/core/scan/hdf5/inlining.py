"""Variables whose values are inlined as HDF5 decodes them: variable-length
strings, and variables that cannot be referenced (an unsupported filter or
type) when Zarr can hold their decoded values and they are small enough.
Otherwise such a variable is skipped with its reason."""
from __future__ import annotations

import logging
import math

import h5py
import numpy as np
from numcodecs import VLenUTF8

from ... import limits
from ...errors import ScanError
from ...model import Manifest, VArray
from .attributes import read_attrs
from .dims import Var
from .dtypes import unrepresentable
from .problems import Skip, condense_h5_error, nbytes_text
from .watchdog import before_vlen_read

log = logging.getLogger(__name__)


def vlen_str_var(v: Var, dims, attrs) -> VArray:
    """A variable-length string variable, read and inlined as one vlen-utf8 chunk."""
    shape = v.shape
    size = math.prod(shape)  # Python ints: a hostile shape must not overflow
    if size > limits.MAX_VLEN_VALUES:
        raise Skip(
            f"variable-length strings: {size:,} values are too many to inline (limit {limits.MAX_VLEN_VALUES:,})",
            final=True,
        )
    chunks = tuple(max(int(s), 1) for s in shape)
    grid = tuple(1 if s else 0 for s in shape)
    if size == 0:
        manifest = Manifest.empty(grid)
    else:
        before_vlen_read()
        ds = h5py.Dataset(v.dsid)
        vals = ds.asstr(errors="replace")[()]
        vals = np.asarray(vals, dtype=object).reshape(shape)
        data = bytes(VLenUTF8().encode(vals))
        manifest = Manifest.empty(grid).with_inline({0: data})
    return VArray(
        name=v.name,
        dims=dims,
        shape=shape,
        dtype=np.dtype(object),
        chunks=chunks,
        codecs=({"id": "vlen-utf8"},),
        fill_value=None,
        attrs=attrs,
        manifest=manifest,
    )


def inline_decoded(v: Var, reason: str, inline_threshold: int, skipped: list, path: str) -> VArray | list[VArray] | None:
    """A variable that cannot be referenced (``reason``) as its values decoded
    by HDF5 and inlined, when Zarr can represent them and their decoded size
    is within the inline threshold; otherwise it goes to ``skipped`` with the
    reason (and None is returned)."""
    try:
        dtype = v.dsid.dtype
    except Exception:  # a type h5py cannot map (bitfield, time, ...)
        skipped.append((v.name, reason))
        return None
    why_not = unrepresentable(dtype)
    if why_not:
        skipped.append((v.name, reason if why_not in reason else f"{reason}; {why_not}"))
        return None
    n = math.prod(v.shape)  # Python ints: a hostile shape must not overflow
    nbytes = n * dtype.itemsize
    if nbytes > inline_threshold or (dtype.hasobject and n > limits.MAX_VLEN_VALUES):
        skipped.append((
            v.name,
            f"{reason}; {nbytes_text(nbytes)} decoded, more than the inline threshold "
            f"({nbytes_text(inline_threshold)}) for inlining its values",
        ))
        return None
    try:
        arr = read_values(v)
    except ScanError:
        raise
    except Exception as e:
        skipped.append((v.name, f"{reason}; its values cannot be decoded here either ({condense_h5_error(e)})"))
        return None
    attrs = read_attrs(v.dsid, v.attr_names)
    out = []
    compound = dtype.names is not None
    for name, leaf in _leaves(v.name, arr):
        extra = tuple(f"{name}_dim{k}" for k in range(leaf.ndim - len(v.dims)))
        out.append(_inline_array(name, tuple(v.dims) + extra, leaf,
                                 {**attrs, "compound_variable": v.name} if compound else attrs))
    log.info("%s: variable %r inlined as decoded values (%s)", path, v.name, reason)
    return out if compound else out[0]


def read_values(v: Var) -> np.ndarray:
    """All values of a (small) dataset, decoded by HDF5."""
    if v.dsid.dtype.hasobject:
        before_vlen_read()
    return np.asarray(h5py.Dataset(v.dsid)[()])


def _leaves(name: str, arr: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, values) of every non-compound leaf of ``arr``: compound members
    become ``name.member`` (nested: ``name.member.sub``)."""
    if arr.dtype.names is None:
        return [(name, arr)]
    out = []
    for n in arr.dtype.names:
        out.extend(_leaves(f"{name}.{n}", np.asarray(arr[n])))
    return out


def _inline_array(name: str, dims: tuple, values: np.ndarray, attrs) -> VArray:
    """One chunk holding ``values`` (decoded), inlined. No chunk is missing, so
    there is no fill value to record (and none for a reader to mask with)."""
    shape = values.shape
    chunks = tuple(max(int(s), 1) for s in shape)
    grid = tuple(1 if s else 0 for s in shape)
    if values.dtype.kind == "O":
        strs = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else ("" if x is None else str(x))
                         for x in values.ravel()], dtype=object).reshape(shape)
        data = bytes(VLenUTF8().encode(strs)) if values.size else b""
        codecs: tuple = ({"id": "vlen-utf8"},)
        dtype = np.dtype(object)
    else:
        values = np.ascontiguousarray(values)
        data = values.tobytes()
        codecs = ()
        dtype = values.dtype
    manifest = Manifest.empty(grid)
    if values.size:
        manifest = manifest.with_inline({0: data})
    return VArray(name=name, dims=dims, shape=shape, dtype=dtype, chunks=chunks, codecs=codecs,
                  fill_value=None, attrs=attrs, manifest=manifest)
