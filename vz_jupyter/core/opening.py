"""Open references as an ``xarray.Dataset`` through zarr + fsspec's reference
filesystem (or Icechunk): the same path every kerchunk user has."""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

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
    )
    return fs.get_mapper("")


def _parquet_engine() -> str:
    from importlib.util import find_spec

    # pyarrow first: pandas deprecates its fastparquet engine (and warns on every read)
    return "pyarrow" if find_spec("pyarrow") is not None else "fastparquet"


def _lazy_mapper_class():
    from fsspec.implementations.reference import LazyReferenceMapper

    class _Mapper(LazyReferenceMapper):
        """fsspec's parquet reference reader, made robust to pandas >= 3 reading
        a null ``path`` as NaN (which fsspec would take for a URL)."""

        def setup(self):
            super().setup()
            inner = self.open_refs

            def open_refs(field, record):
                refs = inner(field, record)
                if refs is not None and "path" in refs:
                    p = refs["path"]
                    if p.dtype == object:
                        import pandas as pd

                        bad = np.asarray(pd.isna(p), dtype=bool)
                        if bad.any():
                            p = p.copy()
                            p[bad] = None
                            refs["path"] = p
                return refs

            self.open_refs = open_refs

    return _Mapper


def _parquet_protocols(root: str) -> set:
    """Protocols of the urls referenced from a parquet reference directory
    (read from the path dictionaries of the first record file of each field)."""
    import pyarrow.parquet as pq

    protocols = set()
    for name in sorted(os.listdir(root)):
        first = os.path.join(root, name, "refs.0.parq")
        if not os.path.isfile(first):
            continue
        try:
            col = pq.read_table(first, columns=["path"]).column("path")
        except Exception:
            continue
        for chunk in col.chunks:
            values = chunk.dictionary if hasattr(chunk, "dictionary") else chunk.unique()
            for v in values.to_pylist():
                if v:
                    protocols.add(v.split("://", 1)[0] if "://" in v else "file")
    return protocols or {"file"}


def _async_filesystems(protocols, remote_options: dict | None = None) -> dict:
    """fsspec filesystems for the protocols referenced, usable from zarr's event
    loop: async filesystems (http, s3, ...) made asynchronous, others wrapped.
    (Left to itself, ReferenceFileSystem makes them synchronous and zarr then
    fails with 'target filesystem must have same value of asynchronous'.)"""
    import fsspec
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

    def make(protocol):
        cls = fsspec.get_filesystem_class(protocol)
        if cls.async_impl:
            return fsspec.filesystem(protocol, asynchronous=True, **(remote_options or {}))
        return AsyncFileSystemWrapper(fsspec.filesystem(protocol, **(remote_options or {})), asynchronous=True)

    fss = {p: make(p) for p in set(protocols) | {"file"}}
    fss[None] = fss["file"]
    return fss


def _protocol(url) -> str | None:
    if not isinstance(url, str) or url.startswith("{{"):
        return None
    return url.split("://", 1)[0] if "://" in url else "file"


def parquet_store(root: str, remote_options: dict | None = None, engine: str | None = None):
    """A read-only zarr store over a kerchunk parquet reference directory, read
    with pyarrow (or fastparquet when pyarrow is missing): fsspec's two engines."""
    import fsspec
    from fsspec.implementations.reference import ReferenceFileSystem
    from zarr.storage import FsspecStore

    mapper = _lazy_mapper_class()(root, fs=fsspec.filesystem("file"), engine=engine or _parquet_engine())
    fss = _async_filesystems(_parquet_protocols(root), remote_options)
    fs = ReferenceFileSystem(fo=mapper, fs=fss, asynchronous=True)
    return FsspecStore(fs, read_only=True, path="")


def json_store(target, storage_options: dict | None = None, remote_options: dict | None = None):
    """A read-only zarr store over kerchunk JSON references (a file or URL, an
    in-memory dict, or a VDataset serialized on the fly)."""
    import fsspec
    from fsspec.implementations.reference import ReferenceFileSystem
    from zarr.storage import FsspecStore

    if isinstance(target, VDataset):
        from .serialize.kerchunk_json import to_kerchunk_json

        refs = to_kerchunk_json(target)
    elif isinstance(target, dict):
        refs = target
    else:
        path = os.fspath(target)
        if "://" not in path and not os.path.exists(path):
            raise VZError(f"{path}: no such file or directory")
        try:
            with fsspec.open(path, "rb", **(storage_options or {})) as f:
                refs = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise VZError(f"{path}: not a kerchunk reference file ({e})") from None
        if not isinstance(refs, dict):
            raise VZError(f"{path}: not a kerchunk reference file (top level is not an object)")
    protocols = {_protocol(u) for u in (refs.get("templates") or {}).values()}
    entries = refs.get("refs", refs) if refs.get("version") == 1 else refs
    if isinstance(entries, dict):
        for v in entries.values():
            if type(v) is list and v:
                protocols.add(_protocol(v[0]))
    protocols.discard(None)
    fs = ReferenceFileSystem(fo=refs, fs=_async_filesystems(protocols, remote_options), asynchronous=True)
    return FsspecStore(fs, read_only=True, path="")


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

        import warnings

        store = open_icechunk_store(os.fspath(target))
        with warnings.catch_warnings():
            # codecs outside the zarr v3 spec (numcodecs.*) are what HDF5 files use
            warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
            return xr.open_zarr(
                store, consolidated=False, zarr_format=3, decode_cf=decode, chunks=chunks,
                use_zarr_fill_value_as_mask=False, **kwargs,
            )
    remote_options = kwargs.pop("remote_options", None)
    if isinstance(target, (str, os.PathLike)) and os.path.isdir(os.fspath(target)):
        mapper = parquet_store(os.fspath(target), remote_options=remote_options)
    else:
        mapper = json_store(target, storage_options=storage_options, remote_options=remote_options)
    try:
        from xarray.backends.zarr import ZarrStore

        # xarray's zarr entrypoint drops a use_zarr_fill_value_as_mask argument (it
        # opens the store with None = True for zarr v2, turning every zarr
        # fill_value into a _FillValue mask); open the store ourselves instead.
        store = ZarrStore.open_group(
            mapper, mode="r", consolidated=False, zarr_format=2, use_zarr_fill_value_as_mask=False
        )
        return xr.open_dataset(
            mapper,
            engine="zarr",
            decode_cf=decode,
            mask_and_scale=decode,
            decode_times=decode,
            chunks=chunks,
            backend_kwargs={"store": store},
            **kwargs,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VZError(f"{target}: not a kerchunk reference file ({e})") from None
