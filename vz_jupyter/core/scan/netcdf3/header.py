"""The NetCDF3 header parser, from the published format::

    header    = magic numrecs dim_list gatt_list var_list
    magic     = 'C' 'D' 'F' VERSION            (VERSION 1, 2 or 5)
    numrecs   = NON_NEG | STREAMING            (4 bytes; 8 in CDF-5)
    dim_list  = ABSENT | NC_DIMENSION nelems [name dim_length ...]
    att_list  = ABSENT | NC_ATTRIBUTE nelems [name nc_type nelems values ...]
    var_list  = ABSENT | NC_VARIABLE  nelems [name nelems [dimid ...] vatt_list
                                              nc_type vsize begin ...]

The header is read on demand in growing blocks; counts are checked against the
room left in the file before anything is allocated for them."""
from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ScanError
from .format import (
    _CDF5_ONLY,
    _NC_ATTRIBUTE,
    _NC_DIMENSION,
    _NC_VARIABLE,
    _PADDED_TYPES,
    FORMAT_NAMES,
    NC_TYPES,
    Header,
    NC3Var,
)

#: first read of the header; it grows by 4x until the header fits
_FIRST_READ_LOCAL = 16 * 1024
_FIRST_READ_REMOTE = 64 * 1024


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
        variables.append(NC3Var(name=vname, dimids=ids, attrs=attrs, nc_type=t, vsize=vsize, begin=begin,
                                is_record=is_rec, data_len=data_len, padded_len=padded))
    recvars = [v for v in variables if v.is_record]
    recsize = sum(v.padded_len for v in recvars)
    if recvars and recsize == recvars[0].padded_len:
        # netCDF-C (NC_computeshapes): a lone record variable is not padded
        recsize = recvars[0].data_len
    begin_rec = min((v.begin for v in recvars), default=None)
    return Header(version=version, numrecs=numrecs, dims=tuple(dims), attrs=gattrs, variables=tuple(variables),
                  header_size=header_size, recsize=recsize, begin_rec=begin_rec)


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
