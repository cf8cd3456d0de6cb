"""The codecs vz_jupyter's references name, seen from the package.

The implementations live in the light top-level module :mod:`vz_jupyter_codecs`
(numpy + numcodecs only) so that readers load them through the
``numcodecs.codecs`` / ``zarr.codecs`` entry points without importing
``vz_jupyter``. Importing this module also registers them in this process.

:func:`hdf5_filter_codec` maps HDF5 filters whose bytes a well-kept library's
codec decodes as stored to that library's codec id (imagecodecs); the rest stay
ours (see the table in :mod:`vz_jupyter_codecs`).
"""
from __future__ import annotations

from vz_jupyter_codecs import (  # noqa: F401  (re-exported)
    CODECS,
    H5LZ4,
    H5LZF,
    H5Bitshuffle,
    StructField,
    bshuf_default_block_size,
    lzf_decompress_py,
    lzf_literal_stream,
    register,
)

register()

def lz4_codec(blocksize: int) -> dict:
    """HDF5 LZ4 filter (32004): imagecodecs decodes its framing as stored."""
    cfg: dict = {"id": "imagecodecs_lz4h5"}
    if blocksize:
        cfg["blocksize"] = int(blocksize)
    return cfg


def bitshuffle_codec(elementsize: int, blocksize: int, compression: int, level: int) -> dict:
    """HDF5 bitshuffle filter (32008): ours. imagecodecs' ``imagecodecs_bitshuffle``
    decodes the plain bit shuffle's bytes, but takes the element size from the
    input array's dtype when given an array, and zarr hands codecs uint8 arrays:
    it returns garbage for elements wider than one byte. Its C kernel is used
    inside ours instead."""
    return {
        "id": "vz.bitshuffle",
        "elementsize": int(elementsize),
        "blocksize": int(blocksize),
        "compression": int(compression),
        "level": int(level),
    }
