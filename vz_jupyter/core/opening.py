"""Open references as an ``xarray.Dataset`` through zarr + fsspec's reference
filesystem (or Icechunk): the same path every kerchunk user has."""
from __future__ import annotations

import json
import os
from typing import Any

from ..core import codecs as _codecs  # noqa: F401  (registers vz codecs with numcodecs)
from .errors import VZError
from .model import VDataset


def reference_mapper(target: str | dict | VDataset, storage_options: dict | None = None, remote_options: dict | None = None):
    """An fsspec mapper over references: a JSON file, a parquet directory, an
    in-memory kerchunk dict, or a VDataset (serialized on the fly)."""
    import fsspec

    if isinstance(target, VDataset):
        from .serialize.kerchunk_json import to_kerchunk_json

        target = to_kerchunk_json(target)
    fo: Any = target
    if isinstance(target, (str, os.PathLike)):
        fo = os.fspath(target)
        if "://" not in fo and not os.path.exists(fo):
            raise VZError(f"{fo}: no such file or directory")
    fs = fsspec.filesystem(
        "reference",
        fo=fo,
        remote_options=remote_options or {},
        target_options=storage_options or {},
        **({"engine": "pyarrow"} if isinstance(fo, str) and os.path.isdir(fo) else {}),
    )
    return fs.get_mapper("")


def open(target, *, decode: bool = True, chunks=None, storage_options: dict | None = None, **kwargs):
    """Open references (JSON file, parquet directory, Icechunk repository, dict
    or VDataset) as an ``xarray.Dataset``.

    ``decode=False`` returns raw stored values (no CF masking/scaling/time
    decoding), like ``xarray.open_dataset(original, decode_cf=False)``. zarr's
    fill value is not used as a mask: ``_FillValue`` attributes are honoured
    exactly as in the original file.
    """
    import xarray as xr

    if isinstance(target, (str, os.PathLike)) and os.path.isdir(os.fspath(target)) and not os.path.exists(
        os.path.join(os.fspath(target), ".zmetadata")
    ):
        from .serialize.icechunk import open_icechunk_store

        store = open_icechunk_store(os.fspath(target))
        return xr.open_zarr(
            store, consolidated=False, zarr_format=3, decode_cf=decode, chunks=chunks,
            use_zarr_fill_value_as_mask=False, **kwargs,
        )
    mapper = reference_mapper(target, storage_options=storage_options)
    try:
        return xr.open_dataset(
            mapper,
            engine="zarr",
            consolidated=False,
            zarr_format=2,
            decode_cf=decode,
            mask_and_scale=decode,
            decode_times=decode,
            chunks=chunks,
            backend_kwargs={"use_zarr_fill_value_as_mask": False},
            **kwargs,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VZError(f"{target}: not a kerchunk reference file ({e})") from None
