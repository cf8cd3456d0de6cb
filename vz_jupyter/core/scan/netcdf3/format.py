"""The NetCDF3 format as published (Unidata's "NetCDF Classic Format
Specification"): type codes, netCDF-C's default fills, and the parsed header
(:class:`Header`, :class:`NC3Var`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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

