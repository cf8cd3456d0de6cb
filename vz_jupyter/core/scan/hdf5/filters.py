"""HDF5 filter pipelines as numcodecs configurations (in HDF5's encode order),
and chunks that skipped a filter re-encoded with the full pipeline."""
from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np

from ...codecs import bitshuffle_codec, lz4_codec  # importing it registers the vz.* codecs
from .problems import BadFilter

#: HDF5 filter ids with their usual names (for messages)
FILTER_NAMES = {
    1: "deflate",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    307: "bzip2",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32013: "zfp",
    32015: "zstd",
    32017: "sz",
    32026: "blosc2",
}
_BLOSC_CNAMES = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


def filter_codecs(dcpl, dtype: np.dtype, chunk_nbytes: int) -> list[dict]:
    """numcodecs configs (encode order) for a dataset's HDF5 filter pipeline."""
    out: list[dict] = []
    for i in range(dcpl.get_nfilters()):
        fid, _flags, vals, name = dcpl.get_filter(i)
        out.append(_one_filter(int(fid), tuple(int(v) for v in vals), _fname(fid, name), dtype, chunk_nbytes))
    return out


def _fname(fid, name) -> str:
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return FILTER_NAMES.get(int(fid)) or (name or "").strip() or "unknown"


def _one_filter(fid: int, vals: tuple[int, ...], name: str, dtype: np.dtype, chunk_nbytes: int) -> dict:
    itemsize = dtype.itemsize
    if fid == 1:
        return {"id": "zlib", "level": vals[0] if vals else 4}
    if fid == 2:
        return {"id": "shuffle", "elementsize": vals[0] if vals else itemsize}
    if fid == 3:
        return {"id": "fletcher32"}
    if fid == 32000:
        return {"id": "vz.lzf", "size": chunk_nbytes}
    if fid == 32001:
        clevel = vals[4] if len(vals) > 4 else 5
        shuffle = vals[5] if len(vals) > 5 else 1
        cname = _BLOSC_CNAMES.get(vals[6] if len(vals) > 6 else 0)
        if cname is None:
            raise BadFilter(fid, name, f"an unknown blosc compressor code {vals[6]}")
        return {"id": "blosc", "cname": cname, "clevel": clevel, "shuffle": shuffle, "blocksize": 0}
    if fid == 32004:
        return lz4_codec(vals[0] if vals else 0)
    if fid == 32008:
        es = vals[2] if len(vals) > 2 and vals[2] else itemsize
        comp = vals[4] if len(vals) > 4 else 0
        if comp not in (0, 2, 3):
            raise BadFilter(fid, name, f"an unknown bitshuffle compression mode {comp}")
        return bitshuffle_codec(es, vals[3] if len(vals) > 3 else 0, comp, vals[5] if len(vals) > 5 else 0)
    if fid == 32015:
        return {"id": "zstd", "level": vals[0] if vals else 3}
    if fid == 307:
        return {"id": "bz2", "level": vals[0] if vals and 1 <= vals[0] <= 9 else 9}
    why = {
        4: "no Zarr codec decodes szip-compressed HDF5 chunks",
        5: "the n-bit filter packs values in a way no Zarr codec decodes",
        6: "the scale-offset filter packs values in a way no Zarr codec decodes",
    }.get(fid, "vz_jupyter has no codec for it")
    raise BadFilter(fid, name, why)


def reencode_chunk(raw: bytes, filter_mask: int, codecs: list[dict]) -> bytes:
    """Bytes of a chunk that skipped some filters (``filter_mask`` bit i = filter
    i skipped), re-encoded with the full pipeline."""
    objs = [numcodecs.get_codec(dict(c)) for c in codecs]
    data: Any = raw
    for i in reversed(range(len(objs))):
        if not (filter_mask >> i) & 1:
            data = objs[i].decode(data)
    for c in objs:
        data = c.encode(data)
    return data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes()
