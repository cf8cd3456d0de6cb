"""A parsed NetCDF3 header -> :class:`VDataset`: shapes and chunks (a record
per chunk for record variables, the whole variable otherwise), data ranges
checked against the header and the file, manifests within the chunk budget, and
the only data reads: variables no larger than ``inline_threshold`` bytes, inlined."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ... import limits
from ...cf import conforming_fill
from ...errors import ScanError
from ...model import Manifest, Source, VArray, VDataset
from .format import DEFAULT_FILL, Header, NC3Var
from .reader import _fetch, _Reader


@dataclass(frozen=True)
class _Layout:
    """One variable as the dataset holds it."""

    var: NC3Var
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    nbytes: int


def _build(path: str, header: Header, prefix: bytes, reader: _Reader, size: int | None, source: Source,
           inline_threshold: int) -> VDataset:
    """The VDataset of ``header`` (``prefix``: the file's bytes read so far;
    ``size``: the file's, when known)."""
    numrecs = _numrecs(path, header, size)
    layouts = [_layout(path, header, v, numrecs, size) for v in header.variables]
    inline_data: dict[str, list[bytes]] = {}
    if inline_threshold and inline_threshold > 0:
        inline_data = _read_small(path, header, layouts, numrecs, inline_threshold, reader, prefix)

    budget = int(limits.MAX_CHUNKS)  # chunk references this file's manifests may hold
    variables: dict[str, VArray] = {}
    coords: list[str] = []
    skipped: list[tuple[str, str]] = []
    for lay in layouts:
        v = lay.var
        if v.is_record and numrecs > 0:
            if numrecs > budget and v.name not in inline_data:
                # a sparse file can claim billions of records in a few kB
                skipped.append((v.name, f"{numrecs:,} records (a chunk reference each) are more than the {budget:,} "
                                        f"chunk references left in this file's budget (vz_jupyter.core.limits.MAX_CHUNKS)"))
                continue
            budget -= numrecs
        m = _manifest(path, header, lay, numrecs)
        if v.name in inline_data:
            m = m.with_inline(dict(enumerate(inline_data[v.name]))).compact_paths()
        variables[v.name] = VArray(name=v.name, dims=lay.dims, shape=lay.shape, dtype=v.dtype, chunks=lay.chunks,
                                   codecs=(), fill_value=_fill_value(v), attrs=v.attrs, manifest=m)
        if len(lay.shape) == 1 and lay.dims[0] == v.name:
            coords.append(v.name)
    return VDataset(variables=variables, attrs=header.attrs, coords=tuple(coords), sources=(source,),
                    skipped=tuple(skipped))


def _numrecs(path: str, header: Header, size: int | None) -> int:
    """Records in the file: the header's count, or (STREAMING) counted from the
    file's size, with a warning."""
    if header.numrecs is not None:
        return header.numrecs
    if size is None:
        raise ScanError(path, "numrecs is STREAMING and the file size is unknown, so the records cannot be counted")
    numrecs = header.records_in(size)
    warnings.warn(
        f"{path}: numrecs in the header is STREAMING (0xFFFFFFFF); counted {numrecs} records from the file size",
        stacklevel=4,  # _numrecs <- _build <- scan_netcdf3 <- its caller
    )
    return numrecs


def _layout(path: str, header: Header, v: NC3Var, numrecs: int, size: int | None) -> _Layout:
    """Dims, shape and chunks of ``v``; its data checked to lie after the header
    and inside the file."""
    dims = header.dims
    dnames = tuple(dims[d][0] for d in v.dimids)
    if v.is_record:
        rest = tuple(dims[d][1] for d in v.dimids[1:])
        shape = (numrecs, *rest)
        chunks = (1, *rest)
    else:
        shape = tuple(dims[d][1] for d in v.dimids)
        chunks = shape
    nbytes = math.prod(shape) * v.dtype.itemsize
    if nbytes:
        _check_data_range(path, header, v, numrecs, size)
    return _Layout(var=v, dims=dnames, shape=shape, chunks=chunks, nbytes=nbytes)


def _check_data_range(path: str, header: Header, v: NC3Var, numrecs: int, size: int | None) -> None:
    if v.begin % 4:
        raise ScanError(path, f"corrupt header: variable {v.name!r} begins at byte {v.begin}, not a multiple of 4")
    if v.begin < header.header_size:
        raise ScanError(path, f"corrupt header: variable {v.name!r} begins at byte {v.begin}, inside the "
                              f"{header.header_size}-byte header")
    end = v.begin + (numrecs - 1) * header.recsize + v.data_len if v.is_record else v.begin + v.data_len
    if size is None and end > 1 << 48:
        raise ScanError(path, f"corrupt header: variable {v.name!r} claims data up to byte {end}")
    if size is not None and end > size:
        what = f"{numrecs} records of variable {v.name!r} need" if v.is_record else f"variable {v.name!r} needs"
        raise ScanError(path, f"{what} bytes up to {end} but the file has only {size} (truncated file or corrupt header)")


def _read_small(path: str, header: Header, layouts: list[_Layout], numrecs: int, inline_threshold: int,
                reader: _Reader, prefix: bytes) -> dict[str, list[bytes]]:
    """The bytes of every variable of at most ``inline_threshold`` bytes, a
    piece per chunk (the scan's only data reads)."""
    starts: list[int] = []
    ends: list[int] = []
    owners: list[str] = []
    for lay in layouts:
        v = lay.var
        if not 0 < lay.nbytes <= inline_threshold:
            continue
        if v.is_record:
            for r in range(numrecs):
                s = v.begin + r * header.recsize
                starts.append(s)
                ends.append(s + v.data_len)
                owners.append(v.name)
        else:
            starts.append(v.begin)
            ends.append(v.begin + lay.nbytes)
            owners.append(v.name)
    inline_data: dict[str, list[bytes]] = {}
    if not starts:
        return inline_data
    try:
        datas = _fetch(reader, prefix, starts, ends)
    except OSError as e:
        raise ScanError(path, f"cannot read: {e.strerror or e}") from None
    for name, s, e, d in zip(owners, starts, ends, datas):
        if len(d) != e - s:
            raise ScanError(path, f"variable {name!r}: short read at byte {s} (file truncated?)")
        inline_data.setdefault(name, []).append(d)
    return inline_data


def _manifest(path: str, header: Header, lay: _Layout, numrecs: int) -> Manifest:
    """Where ``lay``'s chunks are: one per record, or the whole variable."""
    v = lay.var
    if not v.is_record:
        return Manifest.single(path, v.begin, lay.nbytes, len(lay.shape))
    grid = (numrecs,) + (1,) * (len(lay.shape) - 1)
    if numrecs == 0:
        return Manifest.empty(grid)
    # one chunk per record: only the offsets differ (8 bytes a record);
    # the file and length columns are one broadcast value each
    off = (np.arange(numrecs, dtype=np.uint64) * np.uint64(header.recsize) + np.uint64(v.begin)).reshape(grid)
    return Manifest(
        (path,),
        np.broadcast_to(np.array(0, dtype=np.uint32), grid),
        off,
        np.broadcast_to(np.array(v.data_len, dtype=np.uint64), grid),
    )


def _fill_value(var: NC3Var):
    """The value unwritten data reads as: ``_FillValue`` or netCDF's default.
    A ``_FillValue`` of another type than the variable (an int16 variable's
    double NaN, as some writers leave) is not converted: the attribute stays as
    found and the default stands (NetCDF3 data are always written anyway)."""
    fv = var.attrs.get("_FillValue")
    if fv is None:
        return DEFAULT_FILL[var.nc_type]
    if var.nc_type == 2:
        if not isinstance(fv, (str, bytes)):  # a number: not a char fill; the default stands
            return DEFAULT_FILL[2]
        b = fv.encode("utf-8") if isinstance(fv, str) else fv
        return b[:1] if b else b"\x00"
    ok, value = conforming_fill(fv, var.dtype.newbyteorder("="))
    return value if ok else DEFAULT_FILL[var.nc_type]

