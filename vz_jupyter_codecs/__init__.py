"""numcodecs codecs for HDF5 filters whose chunks no codec of a well-kept library
decodes as they are stored. Deliberately light: numpy and numcodecs only (plus
imagecodecs / lz4 when a codec runs), never ``vz_jupyter``, h5py or IPython, so a
reader that loads them through the ``numcodecs.codecs`` entry points this
distribution declares (see ``pyproject.toml``) opens references without ever
importing ``vz_jupyter``.

References written today use, per HDF5 filter:

===========  ================================  =========================================
HDF5 filter  codec id                          why
===========  ================================  =========================================
32004 lz4    ``imagecodecs_lz4h5``             imagecodecs decodes HDF5's LZ4 framing as is
32008        ``vz.bitshuffle``                 imagecodecs has no bitshuffle+LZ4/Zstd codec,
                                               and ``imagecodecs_bitshuffle`` takes the
                                               element size from the dtype of the array
                                               zarr passes (uint8): wrong for wider
                                               types; imagecodecs' C kernel runs inside
32000 lzf    ``vz.lzf`` (``size``)             HDF5 stores a raw LZF stream without its
                                               size; ``imagecodecs_lzf(header=False)``
                                               guesses the output size and fails on chunks
                                               that compress more than ~10x (measured), so
                                               the decoded size travels in the config; the
                                               decoding itself is imagecodecs' C code
compound     ``vz.field``                      one field out of packed records
===========  ================================  =========================================

``vz.h5lz4`` is still read: references written before the switch name it.

Stored layouts:

=================  =====  ===========================================================
codec id           HDF5   stored layout
=================  =====  ===========================================================
``vz.lzf``         32000  one raw LZF stream (h5py's lzf filter)
``vz.h5lz4``       32004  8-byte BE original size, 4-byte BE block size, then per block
                          a 4-byte BE compressed size and an LZ4 block (a block whose
                          compressed size equals its plain size is stored raw)
``vz.bitshuffle``  32008  without compression: the bit-shuffled buffer (no header);
                          with LZ4 (2) or Zstd (3): 8-byte BE size, 4-byte BE block
                          size in bytes, then per block a 4-byte BE compressed size
                          and the compressed bit-shuffled block
=================  =====  ===========================================================

Bit shuffling follows the bitshuffle library exactly: the buffer is cut in blocks
of ``blocksize`` elements (0 = its default: 8192 bytes' worth, a multiple of 8,
at least 128); the last partial block is shuffled over its largest multiple of 8
elements and the remaining (fewer than 8) elements are copied as they are.
"""
from __future__ import annotations

import struct

import numpy as np
from numcodecs import Zstd
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ensure_contiguous_ndarray
from numcodecs.registry import register_codec


class _Imagecodecs:
    """imagecodecs (a dependency: liblzf and bitshuffle in C), imported on first
    use so that importing these codecs loads no compiled library."""

    _mod = False

    def __getattr__(self, name):
        if _Imagecodecs._mod is False:
            try:
                import imagecodecs  # heavy: compiled libraries, loaded on first use (see the class doc)

                _Imagecodecs._mod = imagecodecs
            except ImportError:  # pragma: no cover - depends on the environment
                _Imagecodecs._mod = None
        if _Imagecodecs._mod is None:
            raise AttributeError(name)
        return getattr(_Imagecodecs._mod, name)

    def __bool__(self) -> bool:
        try:
            return bool(self.LZF.available)
        except AttributeError:  # pragma: no cover
            return False


_ic = _Imagecodecs()
try:  # python-lzf (C), used when imagecodecs is missing
    import lzf as _lzf
except ImportError:  # pragma: no cover - depends on the environment
    _lzf = None


def _as_bytes(buf) -> bytes:
    if isinstance(buf, bytes):
        return buf
    return ensure_bytes(ensure_contiguous_ndarray(buf).view("u1"))


def _finish(data: bytes, out):
    if out is None:
        return data
    o = ensure_contiguous_ndarray(out).view("u1")
    o[: len(data)] = np.frombuffer(data, dtype="u1")
    return out


# --------------------------------------------------------------------------- LZF
def lzf_decompress_py(data: bytes, size: int | None = None) -> bytes:
    """Pure-Python LZF decompression (liblzf's format)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            ln = ctrl + 1
            if i + ln > n:
                raise ValueError("corrupt LZF stream (literal run past the end)")
            out += data[i : i + ln]
            i += ln
        else:  # back reference
            ln = ctrl >> 5
            if ln == 7:
                if i >= n:
                    raise ValueError("corrupt LZF stream")
                ln += data[i]
                i += 1
            if i >= n:
                raise ValueError("corrupt LZF stream")
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0:
                raise ValueError("corrupt LZF stream (reference before the start)")
            ln += 2
            if ref + ln <= len(out):
                out += out[ref : ref + ln]
            else:  # overlapping copy, byte by byte
                for k in range(ln):
                    out.append(out[ref + k])
    if size is not None and len(out) != size:
        raise ValueError(f"LZF stream decoded to {len(out)} bytes, expected {size}")
    return bytes(out)


def lzf_literal_stream(data: bytes) -> bytes:
    """A valid (uncompressed) LZF stream: literal runs of at most 32 bytes."""
    out = bytearray()
    for i in range(0, len(data), 32):
        piece = data[i : i + 32]
        out.append(len(piece) - 1)
        out += piece
    return bytes(out)


class H5LZF(Codec):
    """h5py's LZF filter (HDF5 filter 32000). ``size`` is the decoded chunk size in
    bytes (liblzf needs it; without it the output buffer is grown until it fits)."""

    codec_id = "vz.lzf"

    def __init__(self, size: int = 0):
        self.size = int(size or 0)

    def encode(self, buf):
        data = _as_bytes(buf)
        if not data:
            return b""
        if _ic:
            enc = bytes(_ic.lzf_encode(data, header=False))
            if enc:
                return enc
        if _lzf is not None:
            # allow expansion so incompressible data still yields a valid stream
            enc = _lzf.compress(data, len(data) + len(data) // 16 + 64)
            if enc is not None:
                return enc
        return lzf_literal_stream(data)

    def decode(self, buf, out=None):
        data = _as_bytes(buf)
        if not data:
            return _finish(b"", out)
        size = self.size or (ensure_contiguous_ndarray(out).nbytes if out is not None else 0)
        if _ic and size:
            try:
                dec = bytes(_ic.lzf_decode(data, header=False, out=size))
            except _ic.LzfError:
                raise ValueError("corrupt LZF stream (does not decode to the chunk size)") from None
            if len(dec) != size:
                raise ValueError(f"LZF stream decoded to {len(dec)} bytes, expected {size}")
        elif _lzf is not None:
            guess = size or max(4 * len(data), 1024)
            while True:
                dec = _lzf.decompress(data, guess)
                if dec is not None or size:
                    break
                guess *= 4
                if guess > (1 << 34):
                    dec = None
                    break
            if dec is None:
                raise ValueError("corrupt LZF stream (does not decode to the chunk size)")
        else:  # pragma: no cover - exercised only without python-lzf
            dec = lzf_decompress_py(data, size or None)
        return _finish(dec, out)


# --------------------------------------------------------------------------- LZ4
_BE64 = struct.Struct(">Q")
_BE32 = struct.Struct(">I")
_H5LZ4_DEFAULT_BLOCK = 1 << 30


class H5LZ4(Codec):
    """The HDF5 LZ4 filter (32004) byte layout."""

    codec_id = "vz.h5lz4"

    def __init__(self, blocksize: int = 0):
        self.blocksize = int(blocksize or 0)

    def encode(self, buf):
        import lz4.block  # heavy: compiled, loaded on first use (importing the codecs loads no library)

        data = _as_bytes(buf)
        n = len(data)
        bs = self.blocksize or _H5LZ4_DEFAULT_BLOCK
        bs = min(bs, n) if n else bs
        parts = [_BE64.pack(n), _BE32.pack(bs)]
        for i in range(0, n, bs):
            block = data[i : i + bs]
            comp = lz4.block.compress(block, store_size=False)
            if len(comp) >= len(block):
                parts += [_BE32.pack(len(block)), block]
            else:
                parts += [_BE32.pack(len(comp)), comp]
        return b"".join(parts)

    def decode(self, buf, out=None):
        import lz4.block  # heavy: compiled, loaded on first use (importing the codecs loads no library)

        data = _as_bytes(buf)
        if len(data) < 12:
            raise ValueError("HDF5 LZ4 chunk shorter than its 12-byte header")
        total = _BE64.unpack_from(data, 0)[0]
        bs = _BE32.unpack_from(data, 8)[0]
        if bs == 0 and total:
            raise ValueError("HDF5 LZ4 chunk has block size 0")
        bs = min(bs, total) if total else bs
        pos, done, parts = 12, 0, []
        while done < total:
            this = min(bs, total - done)
            csize = _BE32.unpack_from(data, pos)[0]
            pos += 4
            block = data[pos : pos + csize]
            if len(block) != csize:
                raise ValueError("HDF5 LZ4 chunk is truncated")
            pos += csize
            if csize == this:
                parts.append(block)
            else:
                parts.append(lz4.block.decompress(block, uncompressed_size=this))
            done += this
        return _finish(b"".join(parts), out)


# --------------------------------------------------------------------------- bitshuffle
def bshuf_default_block_size(elementsize: int) -> int:
    """bitshuffle's default block size in elements (must never change)."""
    bs = 8192 // elementsize
    bs = (bs // 8) * 8
    return max(bs, 128)


def _bitshuffle_block(block: np.ndarray, n: int, es: int) -> bytes:
    # block: uint8, n elements of es bytes, n a multiple of 8
    bits = np.unpackbits(block.reshape(n, es), axis=1, bitorder="little").reshape(n, es, 8)
    return np.packbits(bits.transpose(1, 2, 0), axis=-1, bitorder="little").tobytes()


def _bitunshuffle_block(block: np.ndarray, n: int, es: int) -> bytes:
    bits = np.unpackbits(block.reshape(es, 8, n // 8), axis=-1, bitorder="little")  # (es, 8, n)
    return np.packbits(bits.transpose(2, 0, 1), axis=-1, bitorder="little").tobytes()


def _unshuffle(blk: bytes, n: int, es: int) -> bytes:
    if _ic and _ic.BITSHUFFLE.available:
        return bytes(_ic.bitshuffle_decode(blk, itemsize=es, blocksize=n))
    return _bitunshuffle_block(np.frombuffer(blk, dtype="u1"), n, es)


def _blocks(size: int, blocksize: int):
    """(start element, n elements, shuffled?) for bitshuffle's blocked layout."""
    out = []
    start = 0
    nfull = size // blocksize
    for _ in range(nfull):
        out.append((start, blocksize, True))
        start += blocksize
    last = size % blocksize
    last -= last % 8
    if last:
        out.append((start, last, True))
        start += last
    if start < size:
        out.append((start, size - start, False))
    return out


class H5Bitshuffle(Codec):
    """The bitshuffle HDF5 filter (32008): bit shuffling, optionally followed
    (per block) by LZ4 (``compression=2``) or Zstd (``compression=3``)."""

    codec_id = "vz.bitshuffle"

    def __init__(self, elementsize: int = 1, blocksize: int = 0, compression: int = 0, level: int = 0):
        self.elementsize = int(elementsize)
        self.blocksize = int(blocksize or 0)
        self.compression = int(compression or 0)
        self.level = int(level or 0)
        if self.compression not in (0, 2, 3):
            raise ValueError(f"unknown bitshuffle compression {self.compression}")

    def _bs(self) -> int:
        return self.blocksize or bshuf_default_block_size(self.elementsize)

    # per-block compressors
    def _compress(self, raw: bytes) -> bytes:
        if self.compression == 2:
            import lz4.block  # heavy: compiled, loaded on first use (importing the codecs loads no library)

            return lz4.block.compress(raw, store_size=False)
        return bytes(Zstd(level=self.level or 3).encode(raw))

    def _decompress(self, comp: bytes, nbytes: int) -> bytes:
        if self.compression == 2:
            import lz4.block  # heavy: compiled, loaded on first use (importing the codecs loads no library)

            return lz4.block.decompress(comp, uncompressed_size=nbytes)
        return bytes(Zstd().decode(comp))

    def encode(self, buf):
        data = np.frombuffer(_as_bytes(buf), dtype="u1")
        es = self.elementsize
        if data.size % es:
            raise ValueError("bitshuffle buffer is not a whole number of elements")
        size = data.size // es
        bs = self._bs()
        pieces = []
        for start, n, shuf in _blocks(size, bs):
            raw = data[start * es : (start + n) * es]
            blk = _bitshuffle_block(raw, n, es) if shuf else raw.tobytes()
            if self.compression and shuf:
                comp = self._compress(blk)
                pieces += [_BE32.pack(len(comp)), comp]
            else:
                pieces.append(blk)
        body = b"".join(pieces)
        if self.compression:
            return _BE64.pack(data.size) + _BE32.pack(bs * es) + body
        return body

    def decode(self, buf, out=None):
        data = _as_bytes(buf)
        es = self.elementsize
        if not self.compression and _ic and _ic.BITSHUFFLE.available and len(data) % es == 0:
            return _finish(bytes(_ic.bitshuffle_decode(data, itemsize=es, blocksize=self._bs())), out)
        if self.compression:
            total = _BE64.unpack_from(data, 0)[0]
            bs = _BE32.unpack_from(data, 8)[0] // es
            pos = 12
        else:
            total = len(data)
            bs = self._bs()
            pos = 0
        if total % es:
            raise ValueError("bitshuffle chunk is not a whole number of elements")
        size = total // es
        pieces = []
        for _start, n, shuf in _blocks(size, bs):
            nbytes = n * es
            if not shuf:
                pieces.append(data[pos : pos + nbytes])
                pos += nbytes
                continue
            if self.compression:
                csize = _BE32.unpack_from(data, pos)[0]
                pos += 4
                blk = self._decompress(data[pos : pos + csize], nbytes)
                pos += csize
            else:
                blk = data[pos : pos + nbytes]
                pos += nbytes
            if len(blk) != nbytes:
                raise ValueError("bitshuffle chunk is truncated")
            pieces.append(_unshuffle(blk, n, es))
        return _finish(b"".join(pieces), out)


# --------------------------------------------------------------------------- compound fields
class StructField(Codec):
    """Decode-only: take one field out of a chunk of packed structured records
    (HDF5 compound type), so each field can be its own zarr array. First in the
    encode-order pipeline, hence last to run when decoding."""

    codec_id = "vz.field"

    def __init__(self, dtype, field: str):
        self.dtype = [[str(n), str(t)] for n, t in dtype]
        self.field = str(field)
        self._dt = np.dtype([(n, t) for n, t in self.dtype])
        if self.field not in self._dt.names:
            raise ValueError(f"no field {self.field!r} in {self._dt}")

    def encode(self, buf):
        raise NotImplementedError("one field of a compound chunk cannot be encoded back into the chunk")

    def decode(self, buf, out=None):
        data = _as_bytes(buf)
        rec = np.frombuffer(data, dtype=self._dt)
        return _finish(np.ascontiguousarray(rec[self.field]).tobytes(), out)


#: our codec classes by id (what the ``numcodecs.codecs`` entry points name)
CODECS = {c.codec_id: c for c in (H5LZF, H5LZ4, H5Bitshuffle, StructField)}


def register() -> None:
    """Register the codecs with numcodecs in this process (the entry points do
    it on first use in any process; this covers running from a source tree)."""
    for cls in CODECS.values():
        register_codec(cls)


register()
