"""zarr v3 (Icechunk) wrappers for the numcodecs codecs vz_jupyter's references
name, declared in the ``zarr.codecs`` entry-point group so that zarr finds
``numcodecs.<id>`` codecs in a process that never imports ``vz_jupyter``.
Each wraps the numcodecs codec of the same id (found through numcodecs'
registry, i.e. the ``numcodecs.codecs`` entry points)."""
from __future__ import annotations

from zarr.codecs.numcodecs._codecs import _NumcodecsBytesBytesCodec


class VZLZF(_NumcodecsBytesBytesCodec, codec_name="vz.lzf"):
    pass


class VZH5LZ4(_NumcodecsBytesBytesCodec, codec_name="vz.h5lz4"):
    pass


class VZBitshuffle(_NumcodecsBytesBytesCodec, codec_name="vz.bitshuffle"):
    pass


class VZField(_NumcodecsBytesBytesCodec, codec_name="vz.field"):
    pass


class ImagecodecsLz4h5(_NumcodecsBytesBytesCodec, codec_name="imagecodecs_lz4h5"):
    pass
