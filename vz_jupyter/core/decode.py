"""Decode stored chunks with bounded memory.

A stored chunk is untrusted: a 4 MB zlib stream can expand to gigabytes, and
several formats carry a size header that a decoder allocates before looking at
the data. The decoded size of a chunk is known from the metadata (chunk shape x
item size), so every decompressor here is limited to that size (plus the size
changes the filters of the pipeline can make) and a longer stream is an error:

* zlib, gzip, bz2, lzma: streaming decompressors with ``max_length``;
* zstd: the frame's declared content size is checked before decoding; a frame
  without one is decoded into a buffer of the budgeted size;
* blosc, lz4 (numcodecs), ``vz.h5lz4``, ``vz.bitshuffle``: the size header is
  checked before decoding; ``vz.lzf`` is given the budget as its output size;
* ``vlen-*``: the item count in the header must be the chunk's element count.

Other codecs (filters that do not grow their input by more than a constant
factor, or third-party codecs) run as they are and their output is checked
afterwards. ``pickle`` is refused: it runs code from the data.
"""
from __future__ import annotations

import bz2
import contextlib
import json
import lzma
import math
import re
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numcodecs
import numpy as np
from numcodecs import zstd
from numcodecs.abc import Codec
from numcodecs.compat import ndarray_copy
from numcodecs.registry import register_codec

from . import limits
from .codecs import H5LZF  # importing vz_jupyter.core.codecs also registers the vz codecs with numcodecs
from .errors import VZError

#: codec ids whose decoding runs code carried by the data
REFUSED_CODECS = frozenset({"pickle"})
#: bytes a filter stage may add to a chunk (checksums, small headers)
_SLACK = 4096

_codec_cache: dict[str, Any] = {}


class DecodeError(VZError):
    """A chunk could not be decoded (corrupt, or larger than it can be)."""


def get_codec(cfg) -> Any:
    """A numcodecs codec for a config (cached); ``pickle`` is refused."""
    cid = cfg.get("id") if hasattr(cfg, "get") else None
    if cid in REFUSED_CODECS:
        raise DecodeError(f"codec {cid!r} runs code from the data when decoding; refused")
    key = json.dumps(dict(cfg), sort_keys=True, default=str)
    c = _codec_cache.get(key)
    if c is None:
        c = _codec_cache[key] = numcodecs.get_codec(dict(cfg))
    return c


def _itemsize_of(v) -> int:
    try:
        if isinstance(v, list):
            return np.dtype([tuple(f) for f in v]).itemsize
        return np.dtype(v).itemsize
    except Exception:  # noqa: BLE001  (numpy raises TypeError, ValueError, SyntaxError, ...)
        return 0


def stage_limit(codecs: Sequence, dtype: np.dtype, n_elem: int) -> int:
    """The most bytes any stage of decoding a chunk of ``n_elem`` items may
    produce: elements x the largest item size the pipeline uses (the variable's,
    a filter's encoded dtype, a compound record's) plus a little slack."""
    item = dtype.itemsize
    for cfg in codecs:
        for k in ("astype", "encode_dtype", "dtype"):
            if k in cfg:
                item = max(item, _itemsize_of(cfg[k]))
    if dtype.kind == "O":
        # variable-length items: no size is known; budget generously but finitely
        return min(limits.MAX_CHUNK_BYTES, max(16 << 20, n_elem * 1024))
    return n_elem * item + _SLACK


# -- bounded decompressors -----------------------------------------------------
def _too_big(limit: int) -> DecodeError:
    return DecodeError(f"decodes to more than the {limit:,} bytes a chunk of this shape can hold "
                       f"(a corrupt or hostile stream)")


def _stream(make, data: bytes, limit: int, name: str, multi: bool) -> bytes:
    """Run ``make()`` decompressors over ``data`` (several members when
    ``multi``), never producing more than ``limit`` bytes."""
    out = bytearray()
    rest = data
    while True:
        d = make()
        try:
            piece = d.decompress(rest, limit + 1 - len(out))
        except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as e:
            raise DecodeError(f"corrupt {name} stream ({e})") from None
        out += piece
        if len(out) > limit or (not d.eof and getattr(d, "unconsumed_tail", b"")):
            raise _too_big(limit)
        if not d.eof:
            if getattr(d, "needs_input", True):
                raise DecodeError(f"truncated {name} stream")
            raise _too_big(limit)
        rest = d.unused_data
        if not multi or not rest:
            return bytes(out)


def _zlib(data, cfg, limit):
    # like zlib.decompress: one stream, trailing bytes ignored
    return _stream(zlib.decompressobj, data, limit, "zlib", multi=False)


def _gzip(data, cfg, limit):
    return _stream(lambda: zlib.decompressobj(wbits=31), data, limit, "gzip", multi=True)


def _bz2(data, cfg, limit):
    return _stream(bz2.BZ2Decompressor, data, limit, "bz2", multi=True)


def _lzma(data, cfg, limit):
    fmt = cfg.get("format", 1)
    filters = cfg.get("filters")

    def make():
        if fmt == lzma.FORMAT_RAW:
            return lzma.LZMADecompressor(format=fmt, filters=filters)
        return lzma.LZMADecompressor(format=fmt)

    try:
        return _stream(make, data, limit, "lzma", multi=fmt in (lzma.FORMAT_XZ, lzma.FORMAT_AUTO))
    except (TypeError, KeyError) as e:
        raise DecodeError(f"bad lzma configuration ({e})") from None


_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_GOT = re.compile(r"expected to decompress \d+, got (\d+)")


def zstd_content_size(data: bytes) -> int | None:
    """The content size a zstd frame header declares (None when absent)."""
    if len(data) < 5 or struct.unpack_from("<I", data, 0)[0] != _ZSTD_MAGIC:
        return None
    fhd = data[4]
    fcs_flag, single = fhd >> 6, (fhd >> 5) & 1
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or len(data) < pos + size:
        return None
    v = int.from_bytes(data[pos:pos + size], "little")
    return v + 256 if size == 2 else v


def _zstd(data, cfg, limit):
    declared = zstd_content_size(data)
    try:
        if declared is not None:
            if declared > limit:
                raise _too_big(limit)
            return zstd.decompress(data)
        dest = bytearray(limit)
        try:
            zstd.decompress(data, dest)
            return bytes(dest)
        except RuntimeError as e:
            m = _ZSTD_GOT.search(str(e))
            if m is None:
                if "too small" in str(e):
                    raise _too_big(limit) from None
                raise
            return bytes(dest[: int(m.group(1))])
    except DecodeError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DecodeError(f"corrupt zstd stream ({e})") from None


def _header_checked(size_of):
    """A decoder that checks a size header (``size_of(data)``) against the
    limit, then runs the codec itself."""

    def run(data, cfg, limit):
        try:
            n = size_of(data)
        except (struct.error, ValueError, TypeError, IndexError) as e:
            raise DecodeError(f"corrupt {cfg.get('id')} chunk header ({e})") from None
        if n > limit:
            raise _too_big(limit)
        return get_codec(cfg).decode(data)

    return run


def _blosc_size(data) -> int:
    # blosc 1 header: version, versionlz, flags, typesize, nbytes, blocksize, cbytes (LE uint32)
    data = memoryview(data).cast("B")
    if len(data) < 16:
        raise ValueError("shorter than the 16-byte blosc header")
    nbytes, _blocksize, cbytes = struct.unpack_from("<III", data, 4)
    if cbytes != len(data):
        raise ValueError(f"header says {cbytes} compressed bytes, the chunk has {len(data)}")
    return nbytes


def _lz4_size(data) -> int:
    return struct.unpack_from("<i", memoryview(data).cast("B"), 0)[0]


def _be64_size(data) -> int:
    return struct.unpack_from(">Q", memoryview(data).cast("B"), 0)[0]


def _bitshuffle(data, cfg, limit):
    if int(cfg.get("compression", 0) or 0):
        return _header_checked(_be64_size)(data, cfg, limit)
    return get_codec(cfg).decode(data)


def _lzf(data, cfg, limit):
    size = int(cfg.get("size", 0) or 0)
    if size > limit:
        raise _too_big(limit)
    return H5LZF(size=size or limit).decode(data)


def _vlen(n_elem):
    def run(data, cfg, limit):
        if len(data) < 4:
            raise DecodeError(f"{cfg.get('id')} chunk shorter than its 4-byte header")
        n = struct.unpack_from("<I", data, 0)[0]
        if n != n_elem:
            raise DecodeError(f"{cfg.get('id')} chunk holds {n} items, the chunk shape has {n_elem}")
        return get_codec(cfg).decode(data)

    return run


_BOUNDED = {
    "zlib": _zlib,
    "gzip": _gzip,
    "bz2": _bz2,
    "lzma": _lzma,
    "zstd": _zstd,
    "blosc": _header_checked(_blosc_size),
    "lz4": _header_checked(_lz4_size),
    "vz.h5lz4": _header_checked(_be64_size),
    "imagecodecs_lz4h5": _header_checked(_be64_size),
    "vz.bitshuffle": _bitshuffle,
    "vz.lzf": _lzf,
}


@contextlib.contextmanager
def _stage_errors(where: str, cid):
    """Any error of one decode stage as a one-line :class:`DecodeError`
    starting with ``where`` and naming the codec."""
    try:
        yield
    except DecodeError as e:
        raise DecodeError(f"{where}: cannot decode chunk with {cid!r}: {e}") from None
    except MemoryError:
        raise DecodeError(f"{where}: cannot decode chunk with {cid!r}: out of memory") from None
    except Exception as e:  # noqa: BLE001  (codec libraries raise anything)
        msg = str(e).strip().splitlines()
        raise DecodeError(f"{where}: cannot decode chunk with {cid!r} ({msg[0] if msg else type(e).__name__})") from None


def _nbytes(buf) -> int:
    if isinstance(buf, np.ndarray):
        return buf.nbytes
    try:
        return memoryview(buf).nbytes
    except TypeError:
        return 0


def decode_chunk(data, codecs: Sequence, dtype: np.dtype, chunk_shape: Sequence[int], where: str = "") -> np.ndarray:
    """Stored bytes -> decoded chunk array (codecs in encode order, run in
    reverse), never allocating more than the chunk can hold (see the module
    docstring). Errors are one-line :class:`VZError`s starting with ``where``."""
    chunk_shape = tuple(int(c) for c in chunk_shape)
    n_elem = math.prod(chunk_shape)
    need = n_elem * dtype.itemsize
    if need > limits.MAX_CHUNK_BYTES:
        raise DecodeError(f"{where}: a chunk of {need:,} bytes is more than the budget of "
                          f"{limits.MAX_CHUNK_BYTES:,} (vz_jupyter.core.limits.MAX_CHUNK_BYTES)")
    limit = stage_limit(codecs, dtype, n_elem)
    buf = data
    for cfg in reversed(list(codecs)):
        cid = cfg.get("id")
        if cid in ("vlen-utf8", "vlen-bytes", "vlen-array"):
            run = _vlen(n_elem)
        else:
            run = _BOUNDED.get(cid)
        with _stage_errors(where, cid):
            if _nbytes(buf) > limit and dtype.kind != "O":
                raise _too_big(limit)
            buf = run(buf, cfg, limit) if run is not None else get_codec(cfg).decode(buf)
        if dtype.kind != "O" and _nbytes(buf) > limit:
            raise DecodeError(f"{where}: cannot decode chunk with {cid!r}: {_too_big(limit)}")
    if dtype.kind == "O":
        arr = np.asarray(buf, dtype=object) if not (isinstance(buf, np.ndarray) and buf.dtype == object) else buf
        if arr.size != n_elem:
            raise DecodeError(f"{where}: decoded chunk has {arr.size} items, expected {n_elem}")
        return arr.reshape(chunk_shape)
    if isinstance(buf, np.ndarray):
        if buf.dtype.kind == "O":
            raise DecodeError(f"{where}: the codecs decode to Python objects, but the dtype is {dtype}")
        arr = np.ascontiguousarray(buf).reshape(-1).view(np.uint8)
    else:
        try:
            arr = np.frombuffer(memoryview(buf).cast("B"), dtype=np.uint8)
        except TypeError:
            raise DecodeError(f"{where}: the codecs decode to a {type(buf).__name__}, not bytes") from None
    if arr.size != need:
        raise DecodeError(f"{where}: decoded chunk has {arr.size} bytes, expected {need} "
                          f"({list(chunk_shape)} x {dtype.itemsize} B)")
    return arr.view(dtype).reshape(chunk_shape)


# -- the same bounds inside zarr (vz.open) ----------------------------------------
_VLEN = ("vlen-utf8", "vlen-bytes", "vlen-array")


def bounded_ids() -> frozenset:
    """Codec ids whose decoding :class:`Bounded` can bound."""
    return frozenset(_BOUNDED) | frozenset(_VLEN)


class Bounded:
    """A numcodecs codec wrapping another one with the bounds of this module,
    for zarr to use when ``vz.open`` reads references. It presents itself as
    the wrapped codec (``get_config``, ``repr``), so anything written from the
    opened dataset names the original codec, never this one."""

    codec_id = "vz.bounded"

    def __init__(self, codec: dict, limit: int, n_elem: int = 0, where: str = "", exact_bytes: int | None = None,
                 exact_items: int | None = None):
        self.codec = dict(codec)
        self.limit = int(limit)
        self.n_elem = int(n_elem)
        self.where = str(where)
        #: the last stage of decoding checks the decoded chunk: exactly this many
        #: bytes (``exact_bytes``), or for object chunks this many items (``exact_items``)
        self.exact_bytes = None if exact_bytes is None else int(exact_bytes)
        self.exact_items = None if exact_items is None else int(exact_items)
        self._inner = get_codec(self.codec)

    def encode(self, buf):
        return self._inner.encode(buf)

    def decode(self, buf, out=None):
        cid = self.codec.get("id")
        run = _vlen(self.n_elem) if cid in _VLEN else _BOUNDED.get(cid)
        with _stage_errors(self.where, cid):
            if cid not in _VLEN and _nbytes(buf) > self.limit:
                raise _too_big(self.limit)
            res = run(buf, self.codec, self.limit) if run is not None else self._inner.decode(buf)
            if self.exact_bytes is not None and not (isinstance(res, np.ndarray) and res.dtype.kind == "O") \
                    and _nbytes(res) != self.exact_bytes:
                raise DecodeError(f"decoded chunk has {_nbytes(res)} bytes, expected {self.exact_bytes}")
            if self.exact_items is not None and np.asarray(res, dtype=object).size != self.exact_items:
                raise DecodeError(f"decoded chunk has {np.asarray(res, dtype=object).size} items, "
                                  f"expected {self.exact_items}")
        if out is not None:
            return ndarray_copy(res, out)
        return res

    def get_config(self):
        return self._inner.get_config()

    def __eq__(self, other):
        return self._inner == (other._inner if isinstance(other, Bounded) else other)

    def __hash__(self):
        return hash(json.dumps(self.get_config(), sort_keys=True, default=str))

    def __repr__(self):
        return repr(self._inner)


def _register_bounded():
    cls = type("Bounded", (Bounded, Codec), {"__module__": __name__})
    register_codec(cls)
    return cls


BoundedCodec = _register_bounded()


def bounded_config(cfg, dtype: np.dtype, chunks: Sequence[int], codecs: Sequence, where: str) -> dict:
    """``cfg`` wrapped in :class:`Bounded` (the first codec of the encode
    order, the last to decode, also checks the decoded chunk's exact size);
    a codec that is not installed is left as it is (zarr will say so)."""
    try:
        get_codec(cfg)
    except Exception:  # noqa: BLE001
        return dict(cfg)
    n = math.prod(int(c) for c in chunks)
    out = {"id": Bounded.codec_id, "codec": dict(cfg), "limit": stage_limit(codecs, dtype, n), "n_elem": n,
           "where": where}
    if codecs and dict(cfg) == dict(codecs[0]):  # the last stage to decode
        out["exact_items" if dtype.kind == "O" else "exact_bytes"] = n if dtype.kind == "O" else n * dtype.itemsize
    return out
