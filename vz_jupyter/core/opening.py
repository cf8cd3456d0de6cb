"""Open references as an ``xarray.Dataset`` through zarr + fsspec's reference
filesystem (or Icechunk): the same path every kerchunk user has."""
from __future__ import annotations

import json
import os
import stat
import warnings
from builtins import open as builtins_open
from importlib.util import find_spec
from typing import Any
from urllib.parse import unquote

import fsspec
import numpy as np

from ..core import codecs as _codecs  # noqa: F401  (registers vz codecs with numcodecs)
from .access import Confinement, confined, read_local, recorded_roots
from .decode import DecodeError, bounded_config, decode_chunk, get_codec
from .errors import VZError
from .model import VDataset
from .scan import HDF5_MAGIC, NC3_MAGICS
from .scan.refs import _from_parquet, _from_refs_dict, _parse_doc, expand_refs, loads_json
from .urls import is_url


def validate_references(target, where: str | None = None, storage_options: dict | None = None,
                        conf=None) -> tuple[Any, VDataset]:
    """Read and check references before fsspec/zarr see them, so that
    ``vz.open`` and ``ReadPlan.execute`` read exactly the same chunks.

    ``target``: a kerchunk dict, a JSON file or URL, or a parquet directory;
    ``conf``: the confinement the paths are resolved and checked under.
    Returns ``(refs, vds)``: for JSON, a version-1 dict with ``gen`` expanded
    (within the budgets) and codecs bounded (:func:`bounded_metadata`) to hand
    to fsspec; for parquet, the directory. Raises a one-line
    :class:`~vz_jupyter.core.errors.VZError` on anything malformed
    (non-canonical or duplicate chunk keys, bad sizes, types, base64, budgets),
    on references past the end of a local file and on inline chunks that
    decode past their size.
    """
    with confined(conf):
        if isinstance(target, dict):
            where = where or "<references>"
            refs = target
        elif os.path.isdir(os.fspath(target)):
            root = os.fspath(target)
            vds = _from_parquet(root, fsspec.filesystem("file"), storage_options)
            check_inline_chunks(vds, root)
            check_local_extents(vds, root)
            return root, vds
        else:
            path = os.fspath(target)
            where = where or path
            if "://" not in path and not os.path.exists(path):
                raise VZError(f"{path}: no such file or directory")
            refs = loads_json(_read_reference_file(path, storage_options), path, "not a kerchunk reference file")
            if not isinstance(refs, dict):
                raise VZError(f"{path}: not a kerchunk reference file (top level is not an object)")
        entries, templates = expand_refs(refs, where)
        vds = _from_refs_dict(refs, where, storage_options)
    check_inline_chunks(vds, where)
    check_local_extents(vds, where)
    entries = dict(entries)
    docs = {k: _parse_doc(k, v, where) for k, v in entries.items() if k.endswith("/.zarray")}
    for key, doc in bounded_metadata(vds, docs, where).items():
        entries[key] = json.dumps(doc)
    flat: dict[str, Any] = {k: v for k, v in refs.items() if k not in ("refs", "gen", "templates", "version")} \
        if refs.get("version") == 1 else {}
    flat.update({"version": 1, "refs": entries})
    if templates:
        flat["templates"] = templates
    return flat, vds


def check_inline_chunks(vds: VDataset, where: str) -> None:
    """Decode every inline chunk once, bounded by its size (a zlib bomb kept in
    the references is refused before zarr would expand it)."""
    for name, var in vds.variables.items():
        m = var.manifest
        if not m.inline:
            continue
        try:
            for cfg in var.codecs:
                get_codec(cfg)
        except Exception:  # noqa: BLE001  (a codec not installed: zarr will say so when reading)
            continue
        for flat, data in m.inline.items():
            idx = tuple(int(i) for i in np.unravel_index(flat, m.grid)) if m.grid else ()
            try:
                decode_chunk(data, var.codecs, var.dtype, var.chunks, f"variable {name!r} inline chunk {idx}")
            except DecodeError as e:
                raise VZError(f"{where}: {e}") from None


def bounded_metadata(vds: VDataset, docs: dict, where: str) -> dict[str, dict]:
    """``name/.zarray`` documents (from ``docs``, parsed) whose codecs decode
    within the chunk's size inside zarr too (see
    :class:`vz_jupyter.core.decode.Bounded`)."""
    out = {}
    for name, var in vds.variables.items():
        doc = docs.get(f"{name}/.zarray")
        if not var.codecs or not isinstance(doc, dict) or var.dtype.kind == "O":
            # zarr finds an object dtype's codec by its id in the metadata: left as is
            # (inline object chunks are checked by check_inline_chunks)
            continue
        wrapped = [bounded_config(c, var.dtype, var.chunks, var.codecs, f"{where}: variable {name!r}") for c in var.codecs]
        doc = dict(doc)
        nf = len(doc.get("filters") or [])
        doc["filters"] = wrapped[:nf] or None
        doc["compressor"] = wrapped[nf] if len(wrapped) > nf else None
        out[f"{name}/.zarray"] = doc
    return out


def check_local_extents(vds: VDataset, where: str) -> None:
    """Every reference into a local file lies inside it (checked with one
    ``stat`` per file, before zarr reads anything)."""
    ends: dict[str, int] = {}
    for var in vds.variables.values():
        m = var.manifest
        ok = m.path_id < len(m.paths)
        if not ok.any():
            continue
        pid = m.path_id[ok].astype(np.int64)
        end = (m.offset[ok] + m.length[ok]).astype(np.int64)
        for i in np.unique(pid).tolist():
            ends[m.paths[i]] = max(ends.get(m.paths[i], 0), int(end[pid == i].max()))
    for p, end in ends.items():
        if "://" in p and not p.startswith("file://"):
            continue
        lp = p[len("file://"):] if p.startswith("file://") else p
        try:
            st = os.stat(lp)
        except OSError:
            continue  # not there (yet): reading those chunks will say so
        if not stat.S_ISREG(st.st_mode):
            continue  # a FIFO, device...: the guarded reader refuses it without blocking
        size = st.st_size
        if end > size:
            raise VZError(f"{where}: references need bytes up to {end:,} of {lp}, which has {size:,}")


def _checked_fs_class():
    """fsspec's ReferenceFileSystem whose unreachable references are one-line
    :class:`VZError`s naming the target (not a chained traceback from zarr)."""
    # heavy: fsspec's reference filesystem (~0.5 s to import), only when references are opened
    from fsspec.implementations.reference import ReferenceFileSystem, ReferenceNotReachable

    class _CheckedReferenceFileSystem(ReferenceFileSystem):
        async def _cat_file(self, path, start=None, end=None, **kwargs):
            try:
                return await super()._cat_file(path, start=start, end=end, **kwargs)
            except ReferenceNotReachable as e:
                cause = e.__cause__
                if isinstance(cause, VZError):  # already one line (a new object: no cycle in the chain)
                    raise VZError(str(cause)) from None
                why = (getattr(cause, "strerror", None) or str(cause).strip().splitlines()[0]) if cause else "unreachable"
                raise VZError(f"{e.target}: cannot read the bytes of reference {e.reference!r} ({why})") from None

    return _CheckedReferenceFileSystem


def reference_mapper(target: str | dict | VDataset, storage_options: dict | None = None,
                     remote_options: dict | None = None, *, allowed_roots=None, trust_recorded_roots: bool = True):
    """An fsspec mapper over references: a JSON file, a parquet directory, an
    in-memory kerchunk dict, or a VDataset (serialized on the fly); confined
    like :func:`open` (see :mod:`vz_jupyter.core.access`)."""
    from fsspec.implementations.reference import ReferenceFileSystem  # heavy: ~0.5 s, only to open references

    if isinstance(target, VDataset):
        from .serialize.kerchunk_json import to_kerchunk_json  # heavy: zarr, only for in-memory references

        target = to_kerchunk_json(target)
    fo: Any = target
    conf = _confinement(target, allowed_roots, trust_recorded_roots)
    if isinstance(target, (str, os.PathLike)):
        fo = os.fspath(target)
        if "://" not in fo and not os.path.exists(fo):
            raise VZError(f"{fo}: no such file or directory")
        if os.path.isdir(fo):
            docs = _bounded_parquet_docs(fo, conf)  # validated first: malformed urls are refused there
            urls = _parquet_urls(fo)
            _check_urls(urls, conf)
            fo = _lazy_mapper_class(docs)(fo, fs=fsspec.filesystem("file"), engine=_parquet_engine())
            protocols = {_protocol(u) for u in urls}
        else:
            path = fo
            raw, conf = _load_json_references(path, storage_options, conf)
            fo, _ = validate_references(raw, path, storage_options, conf=conf)
    elif isinstance(fo, dict):
        fo, _ = validate_references(fo, conf=conf)
    if isinstance(fo, dict):
        protocols = {_protocol(u) for u in (fo.get("templates") or {}).values()}
        entries = fo.get("refs", fo) if fo.get("version") == 1 else fo
        protocols |= {_protocol(v[0]) for v in entries.values() if type(v) is list and v}
    fss = _async_filesystems_sync(protocols - {None}, remote_options, conf)
    fs = ReferenceFileSystem(fo=fo, fs=fss)
    if conf is not None and isinstance(fo, dict):
        _check_urls({v[0] for v in fs.references.values() if type(v) is list and v}, conf)
    return fs.get_mapper("")


def _async_filesystems_sync(protocols, remote_options, conf) -> dict:
    from .guarded_fs import guarded_filesystems  # heavy: aiohttp (through core.remote), only when references are opened

    return guarded_filesystems(protocols, conf, remote_options, asynchronous=False)


def _parquet_engine() -> str:
    # pyarrow first: pandas deprecates its fastparquet engine (and warns on every read)
    return "pyarrow" if find_spec("pyarrow") is not None else "fastparquet"


def _lazy_mapper_class(docs: dict | None = None):
    from fsspec.implementations.reference import LazyReferenceMapper  # heavy: ~0.5 s, only for parquet

    class _Mapper(LazyReferenceMapper):
        """fsspec's parquet reference reader, made robust to pandas >= 3 reading
        a null ``path`` as NaN (which fsspec would take for a URL), with the
        validated (and bounded) metadata ``docs``."""

        def setup(self):
            super().setup()
            if docs is not None:
                self.zmetadata = dict(docs)
            inner = self.open_refs

            def open_refs(field, record):
                refs = inner(field, record)
                if refs is not None and "path" in refs:
                    p = refs["path"]
                    if p.dtype == object:
                        import pandas as pd  # heavy: pandas, only for parquet references

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
    import pyarrow.parquet as pq  # heavy: pyarrow, only for parquet references

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
                    protocols.add(_protocol(v))
    return protocols or {"file"}


def _async_filesystems(protocols, remote_options: dict | None = None, conf=None) -> dict:
    """fsspec filesystems for the protocols referenced, usable from zarr's event
    loop (left to itself, ReferenceFileSystem makes them synchronous and zarr
    then fails with 'target filesystem must have same value of asynchronous').
    Every read is resolved and checked by ``conf`` (a
    :class:`~vz_jupyter.core.access.Confinement`, or None for objects built in
    Python), local files are read as regular files only, URLs with timeouts
    and checked byte ranges."""
    from .guarded_fs import guarded_filesystems  # heavy: aiohttp (through core.remote), only when references are opened

    return guarded_filesystems(protocols, conf, remote_options)


def _check_urls(urls, conf) -> None:
    """Refuse, before anything is read, a reference outside ``conf``'s roots."""
    if conf is None:
        return
    for u in urls:
        if isinstance(u, str) and u:
            conf.resolve(u)


def _parquet_urls(root: str) -> set:
    """Every url referenced from a parquet reference directory (the path
    dictionaries of all record files)."""
    import pyarrow.parquet as pq  # heavy: pyarrow, only for parquet references

    urls: set = set()
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for fn in sorted(os.listdir(folder)):
            if not (fn.startswith("refs.") and fn.endswith(".parq")):
                continue
            try:
                col = pq.read_table(os.path.join(folder, fn), columns=["path"]).column("path")
            except Exception:  # noqa: BLE001  (no path column, or unreadable: the reader reports it)
                continue
            for chunk in col.chunks:
                values = chunk.dictionary if hasattr(chunk, "dictionary") else chunk.unique()
                urls.update(v for v in values.to_pylist() if v)
    return urls


def _confinement(target, allowed_roots, trust_recorded_roots: bool):
    """The confinement of references stored at ``target`` (None for objects
    built in Python, unless ``allowed_roots`` is given)."""
    if isinstance(target, VDataset):
        return None
    if isinstance(target, dict):
        if allowed_roots is None:
            return None
        return Confinement.for_references(None, recorded_roots(target), allowed_roots,
                                          trust_recorded_roots=trust_recorded_roots)
    path = os.fspath(target)
    recorded: list = []
    if os.path.isdir(path):
        try:
            with builtins_open(os.path.join(path, ".zmetadata"), "rb") as f:
                recorded = recorded_roots(json.load(f))
        except (OSError, ValueError, RecursionError):  # malformed .zmetadata: the reader reports it
            recorded = []
    return Confinement.for_references(path, recorded, allowed_roots, trust_recorded_roots=trust_recorded_roots)


def _protocol(url) -> str | None:
    if not isinstance(url, str) or url.startswith("{{"):
        return None
    if url.startswith("data:"):  # one fill chunk shared by unwritten chunks
        return "data"
    return url.split("://", 1)[0] if "://" in url else "file"


def _bounded_parquet_docs(root: str, conf) -> dict:
    """The validated metadata of a parquet reference directory, codecs bounded."""
    _, vds = validate_references(root, conf=conf)
    meta = loads_json(_read_reference_file(os.path.join(root, ".zmetadata"), None), root)["metadata"]
    docs = {k: _parse_doc(k, v, root) for k, v in meta.items()}
    docs.update(bounded_metadata(vds, docs, root))
    return docs


def parquet_store(root: str, remote_options: dict | None = None, engine: str | None = None, conf=None):
    """A read-only zarr store over a kerchunk parquet reference directory, read
    with pyarrow (or fastparquet when pyarrow is missing): fsspec's two engines."""
    from zarr.storage import FsspecStore  # heavy: zarr, only when references are opened

    docs = _bounded_parquet_docs(root, conf)  # validated first: malformed urls are refused there
    urls = _parquet_urls(root)
    _check_urls(urls, conf)
    mapper = _lazy_mapper_class(docs)(root, fs=fsspec.filesystem("file"), engine=engine or _parquet_engine())
    fss = _async_filesystems({_protocol(u) for u in urls} - {None}, remote_options, conf)
    fs = _checked_fs_class()(fo=mapper, fs=fss, asynchronous=True)
    return FsspecStore(fs, read_only=True, path="")


def json_store(target, storage_options: dict | None = None, remote_options: dict | None = None, conf=None,
               where: str | None = None):
    """A read-only zarr store over kerchunk JSON references (a file or URL, an
    in-memory dict, or a VDataset serialized on the fly)."""
    from zarr.storage import FsspecStore  # heavy: zarr, only when references are opened

    if isinstance(target, VDataset):
        from .serialize.kerchunk_json import to_kerchunk_json  # heavy: zarr, only for in-memory references

        refs = to_kerchunk_json(target)
    elif isinstance(target, dict):
        refs, _ = validate_references(target, where, conf=conf)
    else:
        path = os.fspath(target)
        raw, conf = _load_json_references(path, storage_options, conf)
        refs, _ = validate_references(raw, path, storage_options, conf=conf)
    protocols = {_protocol(u) for u in (refs.get("templates") or {}).values()}
    entries = refs.get("refs", refs) if refs.get("version") == 1 else refs
    if isinstance(entries, dict):
        for v in entries.values():
            if type(v) is list and v:
                protocols.add(_protocol(v[0]))
    protocols.discard(None)
    fs = _checked_fs_class()(fo=refs, fs=_async_filesystems(protocols, remote_options, conf), asynchronous=True)
    if conf is not None:  # templates and gen are expanded by now: check every url once
        _check_urls({v[0] for v in fs.references.values() if type(v) is list and v}, conf)
    return FsspecStore(fs, read_only=True, path="")


def _load_json_references(path: str, storage_options: dict | None, conf):
    """``(references dict, confinement with their recorded roots)`` of a JSON
    reference file or URL."""
    if "://" not in path and not os.path.exists(path):
        raise VZError(f"{path}: no such file or directory")
    # strict: duplicate keys, deep nesting and bad bytes are one-line errors
    refs = loads_json(_read_reference_file(path, storage_options), path, "not a kerchunk reference file")
    if not isinstance(refs, dict):
        raise VZError(f"{path}: not a kerchunk reference file (top level is not an object)")
    return refs, (conf.with_recorded(recorded_roots(refs)) if conf is not None else None)


def _read_reference_file(path: str, storage_options: dict | None) -> bytes:
    """A reference file's bytes: a local regular file (a FIFO is refused, not
    waited on) or a URL read with timeouts."""
    if is_url(path):
        from .remote import filesystem  # heavy: aiohttp, only for remote reference files

        data = filesystem(path, storage_options).cat_file(path)
    else:
        data = read_local(path[len("file://"):] if path.startswith("file://") else path)
    _refuse_data_file(path, data[:8])
    return data


def _refuse_data_file(path: str, head: bytes) -> None:
    """A data file given where references are expected: say so, and what to do."""
    kind = "an HDF5/NetCDF4" if head.startswith(HDF5_MAGIC) else "a " + NC3_MAGICS[head[:4]] if head[:4] in NC3_MAGICS \
        else None
    if kind:
        raise VZError(f"{path}: this is {kind} data file, not references; scan it first "
                      "(vz.scan, %vz scan, or vz scan FILE -o refs.json), then open what that writes")


def open(target, *, decode: bool = True, chunks=None, storage_options: dict | None = None, allowed_roots=None,
         trust_recorded_roots: bool = True, **kwargs):
    """Open references (JSON file, parquet directory, Icechunk repository, dict
    or VDataset) as an ``xarray.Dataset``.

    References from a file, folder or repository read only under the roots they
    may read (see :mod:`vz_jupyter.core.access`): their own folder, the source
    roots recorded in them and ``allowed_roots`` (folders, files or URL
    prefixes; ``"*"`` turns the check off); anything else is refused before a
    byte is read. Remote reads time out (``remote_options={"timeout": s}``, see
    :mod:`vz_jupyter.core.remote`).

    ``decode=False`` returns raw stored values (no CF masking/scaling/time
    decoding), like ``xarray.open_dataset(original, decode_cf=False)``. No
    special reading options: the references carry fill values so that xarray's
    defaults show what ``xarray.open_dataset(original)`` shows.
    """
    import xarray as xr  # heavy: xarray (~1 s), only when a dataset is opened

    if isinstance(target, (str, os.PathLike)) and os.path.isdir(os.fspath(target)) and not os.path.exists(
        os.path.join(os.fspath(target), ".zmetadata")
    ):
        return _open_icechunk(os.fspath(target), decode, chunks, allowed_roots, trust_recorded_roots, kwargs)
    remote_options = kwargs.pop("remote_options", None)
    conf = _confinement(target, allowed_roots, trust_recorded_roots)
    where = None
    if isinstance(target, (str, os.PathLike)) and not os.path.isdir(os.fspath(target)):
        # read the JSON once, so that its recorded roots are part of the
        # confinement before anything (validation included) looks at its paths
        where = os.fspath(target)
        target, conf = _load_json_references(os.fspath(target), storage_options, conf)
    with confined(conf):  # every reader below resolves paths through this confinement
        if isinstance(target, (str, os.PathLike)):
            mapper = parquet_store(os.fspath(target), remote_options=remote_options, conf=conf)
        else:
            mapper = json_store(target, storage_options=storage_options, remote_options=remote_options, conf=conf,
                                where=where)
    try:
        # xarray's defaults, as a colleague opens the references: the .zarray
        # fill_value is the variable's own _FillValue (or null), so it masks
        # exactly what the original masks
        return xr.open_dataset(mapper, engine="zarr", consolidated=False, zarr_format=2, decode_cf=decode,
                               mask_and_scale=decode, decode_times=decode, chunks=chunks, **kwargs)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VZError(f"{target}: not a kerchunk reference file ({e})") from None
    except VZError:
        raise
    except Exception as e:  # noqa: BLE001  (what zarr/xarray refuse after our checks passed)
        msg = str(e).strip().splitlines()
        where = where or (os.fspath(target) if isinstance(target, (str, os.PathLike)) else "<references>")
        raise VZError(f"{where}: zarr/xarray cannot open these references ({type(e).__name__}: "
                      f"{msg[0][:300] if msg else ''})") from None


def _open_icechunk(path: str, decode: bool, chunks, allowed_roots, trust_recorded_roots: bool, kwargs: dict):
    """``vz.open`` of an Icechunk repository (zarr v3, its virtual chunk containers
    checked against the confinement)."""
    import xarray as xr  # heavy: xarray (~1 s), only when a dataset is opened

    from .serialize.icechunk import open_icechunk_store  # optional: icechunk

    store = open_icechunk_store(path, allowed=_container_check(path, allowed_roots, trust_recorded_roots))
    with warnings.catch_warnings():
        # codecs outside the zarr v3 spec (numcodecs.*) are what HDF5 files use
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
        return xr.open_zarr(store, consolidated=False, zarr_format=3, decode_cf=decode, chunks=chunks, **kwargs)


def _container_check(repo: str, allowed_roots, trust_recorded_roots: bool):
    """For an Icechunk repository: a check of its virtual chunk container
    prefixes (the repository's recorded roots) against the confinement; a
    container outside it is refused before anything is read."""
    def check(prefixes):
        conf = Confinement.for_references(repo, list(prefixes), allowed_roots,
                                          trust_recorded_roots=trust_recorded_roots)
        for p in prefixes:
            if p.startswith("file://"):
                conf.resolve(unquote(p[len("file://"):]))
            else:
                conf.check_url(p)
    return check
