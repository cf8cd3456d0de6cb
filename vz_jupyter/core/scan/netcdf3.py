"""Scan NetCDF3 files (classic CDF-1, 64-bit offset CDF-2, 64-bit data CDF-5).

The header is parsed here from the published format (Unidata's "NetCDF Classic
Format Specification"); no netCDF library is involved::

    header    = magic numrecs dim_list gatt_list var_list
    magic     = 'C' 'D' 'F' VERSION            (VERSION 1, 2 or 5)
    numrecs   = NON_NEG | STREAMING            (4 bytes; 8 in CDF-5)
    dim_list  = ABSENT | NC_DIMENSION nelems [name dim_length ...]
    att_list  = ABSENT | NC_ATTRIBUTE nelems [name nc_type nelems values ...]
    var_list  = ABSENT | NC_VARIABLE  nelems [name nelems [dimid ...] vatt_list
                                              nc_type vsize begin ...]

Everything is big-endian and padded to 4 bytes. Counts (``nelems``, name lengths,
dim lengths, dimids, ``vsize``) are 4 bytes in CDF-1/2 and 8 in CDF-5; ``begin``
is 4 bytes in CDF-1 and 8 in CDF-2/5.

Fixed-size variables become one chunk covering the whole variable. Record
variables become one chunk per record, ``begin + r * recsize`` long the
variable's unpadded record size, where ``recsize`` is the sum of the record
variables' padded sizes (one record variable alone is not padded), exactly as the
netCDF-C library computes it.

Only the header is read (in growing blocks); the data section is touched only to
inline variables no larger than ``inline_threshold`` bytes.
"""
from __future__ import annotations

import math
import os
import struct
import warnings
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import limits
from ..cf import conforming_fill
from ..errors import ScanError, reading
from ..model import Manifest, VArray, VDataset
from .files import check_regular_file, file_source

__all__ = ["scan_netcdf3", "parse_header", "Header", "NC3Var", "NC_TYPES", "DEFAULT_FILL", "FORMAT_NAMES"]

FORMAT_NAMES = {1: "NetCDF3 classic", 2: "NetCDF3 64-bit offset", 5: "NetCDF3 CDF5"}

#: nc_type -> (name, big-endian numpy dtype)
NC_TYPES: dict[int, tuple[str, np.dtype]] = {
    1: ("byte", np.dtype("i1")),
    2: ("char", np.dtype("S1")),
    3: ("short", np.dtype(">i2")),
    4: ("int", np.dtype(">i4")),
    5: ("float", np.dtype(">f4")),
    6: ("double", np.dtype(">f8")),
    7: ("ubyte", np.dtype("u1")),
    8: ("ushort", np.dtype(">u2")),
    9: ("uint", np.dtype(">u4")),
    10: ("int64", np.dtype(">i8")),
    11: ("uint64", np.dtype(">u8")),
}
_CDF5_ONLY = {7, 8, 9, 10, 11}
#: types whose per-record size the library pads to 4 bytes (others are multiples of 4)
_PADDED_TYPES = {1, 2, 3, 7, 8}

#: netCDF-C's NC_FILL_* defaults (netcdf.h), used when ``_FillValue`` is absent
DEFAULT_FILL: dict[int, Any] = {
    1: np.int8(-127),
    2: b"\x00",
    3: np.int16(-32767),
    4: np.int32(-2147483647),
    5: np.float32(9.9692099683868690e36),
    6: np.float64(9.9692099683868690e36),
    7: np.uint8(255),
    8: np.uint16(65535),
    9: np.uint32(4294967295),
    10: np.int64(-9223372036854775806),
    11: np.uint64(18446744073709551614),
}

_NC_DIMENSION = 10
_NC_VARIABLE = 11
_NC_ATTRIBUTE = 12

#: first read of the header; it grows by 4x until the header fits
_FIRST_READ_LOCAL = 16 * 1024
_FIRST_READ_REMOTE = 64 * 1024
#: ranges to inline closer than this are fetched in one read
_MERGE_GAP = 64 * 1024


@dataclass(frozen=True)
class NC3Var:
    """One variable as found in the header (plus what the library derives)."""

    name: str
    dimids: tuple[int, ...]
    attrs: dict
    nc_type: int
    vsize: int  # as written in the header (informational; may be clipped in CDF-1/2)
    begin: int
    is_record: bool
    #: bytes of one record (record variables) or of the whole variable, unpadded
    data_len: int
    #: the library's ``len``: ``data_len`` padded to 4 bytes for byte/char/short types
    padded_len: int

    @property
    def dtype(self) -> np.dtype:
        return NC_TYPES[self.nc_type][1]


@dataclass(frozen=True)
class Header:
    """A parsed NetCDF3 header."""

    version: int
    numrecs: int | None  # None = STREAMING
    dims: tuple[tuple[str, int], ...]  # (name, length); length 0 = the unlimited dim
    attrs: dict
    variables: tuple[NC3Var, ...]
    header_size: int  # bytes the header occupies
    recsize: int  # bytes of one record across all record variables
    begin_rec: int | None  # offset of the first record (None: no record variables)

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES[self.version]

    @property
    def unlimited_dim(self) -> str | None:
        for name, length in self.dims:
            if length == 0:
                return name
        return None

    def records_in(self, file_size: int) -> int:
        """Whole records the file holds (used when ``numrecs`` is STREAMING)."""
        recvars = [v for v in self.variables if v.is_record]
        if not recvars or self.recsize <= 0 or self.begin_rec is None:
            return 0
        # the last record may end without the padding of its last variable
        max_end = max(v.begin - self.begin_rec + v.data_len for v in recvars)
        room = file_size - self.begin_rec
        if room < max_end:
            return 0
        return (room - max_end) // self.recsize + 1


class _Truncated(Exception):
    pass


class _Buffer:
    """Header bytes read on demand: ``need(n)`` grows the buffer (by 4x blocks)
    until ``n`` bytes past the cursor are present."""

    def __init__(self, read: Callable[[int, int], bytes], size: int | None, first: int):
        self._read = read
        self.size = size
        n = first if size is None else min(first, size)
        self.data = read(0, n) if n else b""
        self.eof = size is not None and len(self.data) >= size or len(self.data) < n
        self.pos = 0

    def need(self, n: int) -> None:
        want = self.pos + n
        while len(self.data) < want:
            if self.eof:
                raise _Truncated()
            new = max(len(self.data) * 4, want)
            if self.size is not None:
                new = min(new, self.size)
            more = self._read(len(self.data), new - len(self.data))
            if len(more) < new - len(self.data) or (self.size is not None and new >= self.size):
                self.eof = True
            self.data += more
            if not more:
                self.eof = True

    def remaining_file(self) -> int | None:
        return None if self.size is None else self.size - self.pos


class _Parser:
    def __init__(self, path: str, buf: _Buffer):
        self.path = path
        self.b = buf
        self.version = 0

    # -- errors -------------------------------------------------------------
    def fail(self, problem: str):
        raise ScanError(self.path, problem)

    # -- primitives ----------------------------------------------------------
    def _unpack(self, fmt: str, n: int) -> int:
        b = self.b
        b.need(n)
        (v,) = struct.unpack_from(fmt, b.data, b.pos)
        b.pos += n
        return v

    def u32(self) -> int:
        return self._unpack(">I", 4)

    def count(self) -> int:
        """NON_NEG: 4 bytes (CDF-1/2) or 8 (CDF-5)."""
        if self.version == 5:
            return self._unpack(">Q", 8)
        return self._unpack(">I", 4)

    def offset(self) -> int:
        if self.version == 1:
            return self._unpack(">I", 4)
        return self._unpack(">Q", 8)

    def check_room(self, n: int, each: int, what: str) -> None:
        """Refuse counts that cannot fit in the rest of the file (corrupt header)."""
        rem = self.b.remaining_file()
        limit = rem if rem is not None else 1 << 40
        if n * each > limit:
            self.fail(
                f"corrupt header: {n} {what} claimed at byte {self.b.pos}, more than the "
                f"{'file' if rem is not None else 'header'} can hold"
            )

    def raw(self, n: int) -> bytes:
        """``n`` bytes and their padding to 4."""
        b = self.b
        padded = n + (-n % 4)
        b.need(padded)
        out = b.data[b.pos : b.pos + n]
        b.pos += padded
        return out

    def name(self, what: str) -> str:
        at = self.b.pos
        n = self.count()
        self.check_room(n, 1, f"bytes of a {what} name")
        # old netCDF-C wrote some names NUL-padded; netCDF-C reads names as C
        # strings, so trailing NULs are not part of the name
        data = self.raw(n).rstrip(b"\x00")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"corrupt header: {what} name at byte {at} is not UTF-8")

    def nc_type(self, what: str) -> int:
        at = self.b.pos
        t = self.u32()
        if t not in NC_TYPES:
            self.fail(f"corrupt header: {what} has unknown nc_type {t} at byte {at}")
        if t in _CDF5_ONLY and self.version != 5:
            self.fail(
                f"corrupt header: {what} has type {NC_TYPES[t][0]} (nc_type {t}), which only CDF-5 "
                f"files may use, in a {FORMAT_NAMES[self.version]} file"
            )
        return t

    def list_header(self, tag: int, what: str) -> int:
        at = self.b.pos
        t = self.u32()
        n = self.count()
        if n == 0:
            if t not in (0, tag):
                self.fail(f"corrupt header: bad {what} list tag {t} at byte {at}")
            return 0
        if t != tag:
            self.fail(f"corrupt header: expected the {what} list tag {tag} at byte {at}, found {t}")
        return n

    # -- structure -----------------------------------------------------------
    def attributes(self, owner: str) -> dict:
        n = self.list_header(_NC_ATTRIBUTE, "attribute")
        self.check_room(n, 12, f"attributes of {owner}")
        out: dict[str, Any] = {}
        for _ in range(n):
            name = self.name("attribute")
            t = self.nc_type(f"attribute {owner}:{name!r}")
            nel = self.count()
            dt = NC_TYPES[t][1]
            self.check_room(nel, dt.itemsize, f"values of attribute {owner}:{name!r}")
            data = self.raw(nel * dt.itemsize)
            if t == 2 and name == "_FillValue":
                out[name] = data  # netCDF4-python keeps a char _FillValue as bytes
            else:
                out[name] = _decode_attr(t, data, nel)
        return out

    def parse(self) -> Header:
        b = self.b
        b.need(4)
        magic = b.data[:4]
        if magic[:3] != b"CDF":
            self.fail("not a NetCDF3 file (no CDF magic)")
        if magic[3] not in FORMAT_NAMES:
            self.fail(f"unknown NetCDF3 version byte {magic[3]} (expected 1, 2 or 5)")
        self.version = magic[3]
        b.pos = 4
        nr = self.count()
        numrecs = None if nr == (0xFFFFFFFFFFFFFFFF if self.version == 5 else 0xFFFFFFFF) else nr

        ndims = self.list_header(_NC_DIMENSION, "dimension")
        self.check_room(ndims, 8, "dimensions")
        dims: list[tuple[str, int]] = []
        for _ in range(ndims):
            dname = self.name("dimension")
            dims.append((dname, self.count()))
        n_unlim = sum(1 for _, ln in dims if ln == 0)
        if n_unlim > 1:
            self.fail(f"corrupt header: {n_unlim} unlimited dimensions (at most one is allowed)")

        gattrs = self.attributes("global")

        nvars = self.list_header(_NC_VARIABLE, "variable")
        self.check_room(nvars, 24, "variables")
        raw_vars = []
        id_size = 8 if self.version == 5 else 4
        for _ in range(nvars):
            vname = self.name("variable")
            nd = self.count()
            self.check_room(nd, id_size, f"dimension ids of variable {vname!r}")
            dimids = self.raw(nd * id_size)
            ids = np.frombuffer(dimids, dtype=">u8" if id_size == 8 else ">u4").tolist()
            for d in ids:
                if d >= len(dims):
                    self.fail(f"corrupt header: variable {vname!r} names dimension id {d} but there are {len(dims)}")
            attrs = self.attributes(repr(vname))
            t = self.nc_type(f"variable {vname!r}")
            vsize = self.count()
            begin = self.offset()
            raw_vars.append((vname, tuple(ids), attrs, t, vsize, begin))
        header_size = b.pos
        return _finish(self.path, self.version, numrecs, dims, gattrs, raw_vars, header_size)


def _decode_attr(t: int, data: bytes, n: int):
    """Attribute values as netCDF4-python gives them: char -> str (NULs removed),
    one number -> numpy scalar, several -> numpy array (native byte order)."""
    if t == 2:
        try:
            s = data.decode("utf-8")
        except UnicodeDecodeError:
            s = data.decode("utf-8", "replace")
        return s.replace("\x00", "")
    dt = NC_TYPES[t][1]
    arr = np.frombuffer(data, dtype=dt, count=n).astype(dt.newbyteorder("="))
    if n == 1:
        return arr[0]
    return arr


def _finish(path, version, numrecs, dims, gattrs, raw_vars, header_size) -> Header:
    variables = []
    seen: set[str] = set()
    for vname, ids, attrs, t, vsize, begin in raw_vars:
        if vname in seen:
            raise ScanError(path, f"corrupt header: variable {vname!r} is defined twice")
        seen.add(vname)
        is_rec = bool(ids) and dims[ids[0]][1] == 0
        for k, d in enumerate(ids[1:], 1):
            if dims[d][1] == 0:
                raise ScanError(
                    path,
                    f"corrupt header: variable {vname!r} uses the unlimited dimension {dims[d][0]!r} "
                    f"in position {k} (only the first dimension may be unlimited)",
                )
        product = 1
        for d in ids[1:] if is_rec else ids:
            product *= dims[d][1]
        data_len = product * NC_TYPES[t][1].itemsize
        padded = data_len + (-data_len % 4) if t in _PADDED_TYPES else data_len
        variables.append(NC3Var(vname, ids, attrs, t, vsize, begin, is_rec, data_len, padded))
    recvars = [v for v in variables if v.is_record]
    recsize = sum(v.padded_len for v in recvars)
    if recvars and recsize == recvars[0].padded_len:
        # netCDF-C (NC_computeshapes): a lone record variable is not padded
        recsize = recvars[0].data_len
    begin_rec = min((v.begin for v in recvars), default=None)
    return Header(
        version,
        numrecs,
        tuple(dims),
        gattrs,
        tuple(variables),
        header_size,
        recsize,
        begin_rec,
    )


def parse_header(path: str, read: Callable[[int, int], bytes], size: int | None, first_read: int = _FIRST_READ_LOCAL) -> tuple[Header, bytes]:
    """Parse a NetCDF3 header with ``read(offset, length) -> bytes``.

    Returns the header and the bytes read so far (a prefix of the file). Raises a
    one-line :class:`ScanError` for truncated or corrupt headers.
    """
    buf = _Buffer(read, size, first_read)
    parser = _Parser(path, buf)
    try:
        header = parser.parse()
    except _Truncated:
        have = len(buf.data)
        raise ScanError(
            path, f"truncated NetCDF3 header: the file ends at byte {have} inside the header"
        ) from None
    return header, buf.data


# --------------------------------------------------------------------------------
# file access


class _Reader:
    def __init__(self, path: str, fs):
        self.path = path
        self.fs = fs
        self.size: int | None = None
        self._f = None
        if fs is None:
            self._f = open(path, "rb")

    def _check(self, data: bytes, start: int, end: int) -> bytes:
        """Servers that ignore a Range request send the whole file: cut it (when
        the size tells us it is the whole file) or refuse."""
        if len(data) <= end - start:
            return data
        if self.size is not None and len(data) == self.size:
            return data[start:end]
        raise ScanError(self.path, f"the server ignored a byte-range request (asked for {end - start} bytes, got {len(data)})")

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if self._f is not None:
            self._f.seek(offset)
            return self._f.read(length)
        return self._check(self.fs.cat_file(self.path, start=offset, end=offset + length), offset, offset + length)

    def read_ranges(self, starts: list[int], ends: list[int]) -> list[bytes]:
        if self._f is not None:
            return [self.read(s, e - s) for s, e in zip(starts, ends)]
        datas = self.fs.cat_ranges([self.path] * len(starts), starts, ends)
        return [self._check(d, s, e) for d, s, e in zip(datas, starts, ends)]

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None


def _fetch(reader: _Reader, prefix: bytes, starts: list[int], ends: list[int]) -> list[bytes]:
    """Bytes of many small ranges: served from the already-read prefix when it
    covers them, otherwise read in merged blocks."""
    out: list[bytes | None] = [None] * len(starts)
    todo = []
    for i, (s, e) in enumerate(zip(starts, ends)):
        if e <= len(prefix):
            out[i] = prefix[s:e]
        else:
            todo.append(i)
    if todo:
        order = sorted(todo, key=lambda i: starts[i])
        blocks: list[list[int]] = []  # [start, end, member...]
        for i in order:
            if blocks and starts[i] - blocks[-1][1] <= _MERGE_GAP:
                blocks[-1][1] = max(blocks[-1][1], ends[i])
                blocks[-1].append(i)
            else:
                blocks.append([starts[i], ends[i], i])
        datas = reader.read_ranges([bl[0] for bl in blocks], [bl[1] for bl in blocks])
        for bl, data in zip(blocks, datas):
            for i in bl[2:]:
                out[i] = data[starts[i] - bl[0] : ends[i] - bl[0]]
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------
# header -> VDataset


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


def scan_netcdf3(path: str, *, inline_threshold: int = 500, fs=None) -> VDataset:
    """Scan a NetCDF3 file (classic, 64-bit offset or CDF-5) into a
    :class:`VDataset` by parsing its header.

    ``fs`` is an fsspec filesystem for URLs (None for local paths). Variables of
    at most ``inline_threshold`` bytes are read and inlined.
    """
    path = str(path)
    if fs is None:
        path = os.path.abspath(os.path.expanduser(path))
        check_regular_file(path)  # a FIFO would block the first read forever
    with reading(path):
        reader = _Reader(path, fs)
    try:
        try:
            source = file_source(path, fs, format="NetCDF3")
            size = reader.size = source.size
            header, prefix = parse_header(
                path, reader.read, size, _FIRST_READ_LOCAL if fs is None else _FIRST_READ_REMOTE
            )
        except OSError as e:
            raise ScanError(path, f"cannot read: {e.strerror or e}") from None
        source = dataclasses.replace(source, format=header.format_name)
        return _build(path, header, prefix, reader, size, source, inline_threshold)
    finally:
        reader.close()


def _build(path, header: Header, prefix: bytes, reader: _Reader, size, source, inline_threshold) -> VDataset:
    numrecs = header.numrecs
    if numrecs is None:
        if size is None:
            raise ScanError(path, "numrecs is STREAMING and the file size is unknown, so the records cannot be counted")
        numrecs = header.records_in(size)
        warnings.warn(
            f"{path}: numrecs in the header is STREAMING (0xFFFFFFFF); counted {numrecs} records from the file size",
            stacklevel=3,
        )

    dims = header.dims
    variables: dict[str, VArray] = {}
    coords: list[str] = []
    specs = []
    for v in header.variables:
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
            if v.begin % 4:
                raise ScanError(
                    path,
                    f"corrupt header: variable {v.name!r} begins at byte {v.begin}, not a multiple of 4",
                )
            if v.begin < header.header_size:
                raise ScanError(
                    path,
                    f"corrupt header: variable {v.name!r} begins at byte {v.begin}, inside the "
                    f"{header.header_size}-byte header",
                )
            end = v.begin + (numrecs - 1) * header.recsize + v.data_len if v.is_record else v.begin + v.data_len
            if size is None and end > 1 << 48:
                raise ScanError(path, f"corrupt header: variable {v.name!r} claims data up to byte {end}")
            if size is not None and end > size:
                what = f"{numrecs} records of variable {v.name!r} need" if v.is_record else f"variable {v.name!r} needs"
                raise ScanError(
                    path,
                    f"{what} bytes up to {end} but the file has only {size} "
                    f"(truncated file or corrupt header)",
                )
        specs.append((v, dnames, shape, chunks, nbytes))

    # inline small variables (the only data reads)
    inline_data: dict[str, list[bytes]] = {}
    starts: list[int] = []
    ends: list[int] = []
    owners: list[str] = []
    if inline_threshold and inline_threshold > 0:
        for v, dnames, shape, chunks, nbytes in specs:
            if 0 < nbytes <= inline_threshold:
                if v.is_record:
                    for r in range(numrecs):
                        s = v.begin + r * header.recsize
                        starts.append(s)
                        ends.append(s + v.data_len)
                        owners.append(v.name)
                else:
                    starts.append(v.begin)
                    ends.append(v.begin + nbytes)
                    owners.append(v.name)
        if starts:
            try:
                datas = _fetch(reader, prefix, starts, ends)
            except OSError as e:
                raise ScanError(path, f"cannot read: {e.strerror or e}") from None
            for name, s, e, d in zip(owners, starts, ends, datas):
                if len(d) != e - s:
                    raise ScanError(path, f"variable {name!r}: short read at byte {s} (file truncated?)")
                inline_data.setdefault(name, []).append(d)

    budget = int(limits.MAX_CHUNKS)  # chunk references this file's manifests may hold
    skipped: list[tuple[str, str]] = []
    for v, dnames, shape, chunks, nbytes in specs:
        ndim = len(shape)
        if v.is_record:
            grid = (numrecs,) + (1,) * (ndim - 1)
            if numrecs == 0:
                m = Manifest.empty(grid)
            elif numrecs > budget and v.name not in inline_data:
                # a sparse file can claim billions of records in a few kB
                skipped.append((v.name, f"{numrecs:,} records (a chunk reference each) are more than the {budget:,} "
                                        f"chunk references left in this file's budget (vz_jupyter.core.limits.MAX_CHUNKS)"))
                continue
            else:
                budget -= numrecs
                # one chunk per record: only the offsets differ (8 bytes a record);
                # the file and length columns are one broadcast value each
                off = (np.arange(numrecs, dtype=np.uint64) * np.uint64(header.recsize) + np.uint64(v.begin)).reshape(grid)
                m = Manifest(
                    (path,),
                    np.broadcast_to(np.array(0, dtype=np.uint32), grid),
                    off,
                    np.broadcast_to(np.array(v.data_len, dtype=np.uint64), grid),
                )
        else:
            m = Manifest.single(path, v.begin, nbytes, ndim)
        if v.name in inline_data:
            pieces = inline_data[v.name]
            m = m.with_inline(dict(enumerate(pieces))).compact_paths()
        variables[v.name] = VArray(
            name=v.name,
            dims=dnames,
            shape=shape,
            dtype=v.dtype,
            chunks=chunks,
            codecs=(),
            fill_value=_fill_value(v),
            attrs=v.attrs,
            manifest=m,
        )
        if ndim == 1 and dnames[0] == v.name:
            coords.append(v.name)
    return VDataset(variables=variables, attrs=header.attrs, coords=tuple(coords), sources=(source,),
                    skipped=tuple(skipped))
