"""The entry point, :func:`scan_netcdf3`: open the file (local or an fsspec
URL), parse its header, build the dataset."""
from __future__ import annotations

import dataclasses
import os

from ...errors import ScanError, reading
from ...model import VDataset
from ..files import check_regular_file, file_source
from .build import _build
from .header import _FIRST_READ_LOCAL, _FIRST_READ_REMOTE, parse_header
from .reader import _Reader


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
