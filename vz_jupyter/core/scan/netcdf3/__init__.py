"""Scan NetCDF3 files (classic CDF-1, 64-bit offset CDF-2, 64-bit data CDF-5).

The header is parsed here from the published format (Unidata's "NetCDF Classic
Format Specification"; its grammar heads ``header``); no netCDF library is involved.

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

One job per module:

==========  =====================================================================
``driver``  :func:`scan_netcdf3`: open the file, parse the header, build
``format``  type codes, default fills; :class:`Header` and :class:`NC3Var`
``header``  the header parser (bytes read on demand, counts checked first)
``reader``  byte ranges of a local file or a URL; small ranges fetched merged
``build``   header -> ``VArray`` s (shapes, manifests, inlined small variables)
==========  =====================================================================
"""
from __future__ import annotations

from .build import _build as _build  # the fuzz target builds from a header it parsed
from .driver import scan_netcdf3
from .format import DEFAULT_FILL, FORMAT_NAMES, NC_TYPES, Header, NC3Var
from .header import parse_header

__all__ = ["scan_netcdf3", "parse_header", "Header", "NC3Var", "NC_TYPES", "DEFAULT_FILL", "FORMAT_NAMES"]
