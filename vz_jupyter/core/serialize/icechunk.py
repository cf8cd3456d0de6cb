"""Icechunk output: a local repository whose arrays point at the original files
through virtual chunk references.

``write_icechunk(vds, repo_dir)`` creates the repository with one virtual chunk
container per source location (``file:///common/dir/`` for local files,
``scheme://host-or-bucket/`` for URLs), writes zarr v3 metadata for every
variable (codecs translated from the numcodecs configs, attributes, dimension
names), stores inlined chunks as real chunk bytes, sets the virtual references
in batches and commits. ``open_icechunk_store(path)`` opens it read-only with
the declared containers authorized, ready for ``xarray.open_zarr``.

The v2 -> v3 codec translation: a variable's pipeline (numcodecs configs in
encode order) becomes ``filters`` (array -> array numcodecs such as delta or
fixedscaleoffset, allowed only at the start), a ``bytes`` serializer with the
dtype's byte order, and ``compressors`` (every bytes -> bytes codec, in order)
using zarr's ``numcodecs.*`` wrappers. Codecs zarr has no wrapper for (vz's own
HDF5 codecs, plugin codecs) get a generic bytes -> bytes wrapper registered
under ``numcodecs.<id>``, so any numcodecs codec is readable through zarr.

Loaded on demand (by ``vz.write`` and ``vz.open`` of a repository): it needs
zarr, which ``import vz_jupyter`` does not load; icechunk itself is optional and
imported by :func:`_import_icechunk` when a repository is made or opened.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import numcodecs
import numpy as np
import zarr
from numcodecs.registry import codec_registry
from zarr import registry
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec
from zarr.codecs import BytesCodec, VLenBytesCodec, VLenUTF8Codec
from zarr.codecs.numcodecs._codecs import _NumcodecsBytesBytesCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.dtype import VariableLengthBytes, VariableLengthUTF8

from .. import codecs as _vz_codecs  # noqa: F401  (registers vz codecs with numcodecs)
from ..access import for_writing
from ..errors import FillValueWarning, VZError, WriteError
from ..model import MAX_PATH_ID, Manifest, VArray, VDataset
from ..sources import SOURCES_KEY, source_records
from ..urls import has_scheme, is_url, strip_file_scheme
from .atomic import os_error_text
from .zarr_meta import declared_fill, json_value, zattrs

#: virtual references handed to Icechunk per call
BATCH = 100_000

_ARRAY_TO_ARRAY_HINT = {"delta", "fixedscaleoffset", "quantize", "astype", "bitround", "packbits", "categorize"}
#: numcodecs codecs never wrapped as bytes -> bytes codecs: object codecs, and
#: pickle (reading a repository must not unpickle what it says)
_NOT_BYTES_CODECS = {"pickle", "json2", "msgpack2", "vlen-utf8", "vlen-bytes", "vlen-array", "categorize"}


def _import_icechunk():
    try:
        import icechunk  # optional: the icechunk extra
    except ImportError:  # pragma: no cover - icechunk is an optional extra
        raise VZError("Icechunk output needs the icechunk package: pip install 'vz_jupyter[icechunk]'") from None
    global _LOGS_SET
    if not _LOGS_SET and "ICECHUNK_LOG" not in os.environ:
        # local repositories are what we make: silence only the per-open warning
        # that local storage is unsafe for concurrent commits
        icechunk.set_logs_filter("icechunk::storage::object_store=error,warn")
        _LOGS_SET = True
    return icechunk


_LOGS_SET = False


# -- codecs -----------------------------------------------------------------
def _zarr_codec_class(codec_id: str):
    """The zarr v3 class wrapping numcodecs codec ``codec_id`` (registering a
    generic bytes -> bytes wrapper when zarr has none)."""
    name = f"numcodecs.{codec_id}"
    try:
        return registry.get_codec_class(name)
    except KeyError:
        pass
    cls = type(f"VZNumcodecs_{codec_id.replace('.', '_')}", (_NumcodecsBytesBytesCodec,), {}, codec_name=codec_id)
    registry.register_codec(name, cls)
    return cls


def register_numcodecs_wrappers() -> None:
    """Make every numcodecs codec known to numcodecs readable by zarr v3 (as
    ``numcodecs.<id>``). Called before opening a repository."""
    for cid in list(codec_registry):
        if cid in _ARRAY_TO_ARRAY_HINT or cid in _NOT_BYTES_CODECS:
            continue
        try:
            _zarr_codec_class(cid)
        except Exception:  # noqa: BLE001 - a codec zarr refuses is simply not registered
            pass


def v3_codecs(var: VArray) -> dict[str, Any]:
    """``filters``, ``serializer`` and ``compressors`` for ``zarr.create_array``."""
    filters, compressors = [], []
    serializer, codecs = _vlen_serializer(var)
    for cfg in codecs:
        cid, codec = _v3_codec(var, cfg)
        if isinstance(codec, ArrayArrayCodec):
            if compressors or serializer is not None:
                raise WriteError(
                    f"variable {var.name!r}: array codec {cid!r} follows a bytes codec; zarr v3 cannot express this pipeline"
                )
            filters.append(codec)
        elif isinstance(codec, ArrayBytesCodec):
            if serializer is not None or compressors:
                raise WriteError(f"variable {var.name!r}: codec {cid!r} cannot follow other bytes codecs in zarr v3")
            serializer = codec
        elif isinstance(codec, BytesBytesCodec):
            compressors.append(codec)
        else:  # pragma: no cover
            raise WriteError(f"variable {var.name!r}: codec {cid!r} has an unknown kind")
    if serializer is None:
        dt = var.dtype
        endian = None
        if dt.itemsize > 1 and dt.kind not in "SUV":
            endian = "big" if dt.byteorder == ">" or (dt.byteorder == "=" and np.little_endian is False) else "little"
        serializer = BytesCodec(endian=endian) if endian else BytesCodec()
    return {"filters": filters, "serializer": serializer, "compressors": compressors}


def _vlen_serializer(var: VArray) -> tuple[Any, list]:
    """For object dtypes (variable-length strings/bytes) zarr v3's own vlen
    codec (numcodecs' format) and the codecs after it; else ``(None, codecs)``."""
    codecs = list(var.codecs)
    if var.dtype.kind != "O":
        return None, codecs
    ids = [str(c.get("id")) for c in codecs]
    if ids[:1] == ["vlen-utf8"]:
        return VLenUTF8Codec(), codecs[1:]
    if ids[:1] == ["vlen-bytes"]:
        return VLenBytesCodec(), codecs[1:]
    raise WriteError(f"variable {var.name!r}: object dtype needs a vlen-utf8 or vlen-bytes codec first, got {ids}")


def _v3_codec(var: VArray, cfg: dict) -> tuple[str, Any]:
    """``(id, zarr v3 codec)`` of one numcodecs configuration of ``var``."""
    cfg = dict(cfg)
    cid = str(cfg.pop("id", ""))
    if not cid:
        raise WriteError(f"variable {var.name!r}: codec without an id: {cfg}")
    if cid in _NOT_BYTES_CODECS:
        raise WriteError(f"variable {var.name!r}: codec {cid!r} cannot be written to an Icechunk (zarr v3) array here")
    try:
        numcodecs.get_codec({"id": cid, **cfg})  # known to numcodecs, valid config
    except Exception as e:  # noqa: BLE001
        raise WriteError(f"variable {var.name!r}: codec {cid!r} is not available to numcodecs ({e})") from None
    try:
        cls = _zarr_codec_class(cid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cid, cls(**cfg)
    except Exception as e:  # noqa: BLE001
        raise WriteError(f"variable {var.name!r}: codec {cid!r} cannot be written to zarr v3 ({e})") from None


def _zarr_dtype(var: VArray):
    if var.dtype.kind == "O":
        first = str(var.codecs[0].get("id")) if var.codecs else ""
        return VariableLengthBytes() if first == "vlen-bytes" else VariableLengthUTF8()
    return var.dtype


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


# -- containers -------------------------------------------------------------
def _file_url(path: str) -> str:
    """``file://`` URL of a local path, percent-encoded (spaces, ``#``, ``%``,
    ``?`` and non-ASCII names are otherwise mangled by Icechunk's URL parsing)."""
    return "file://" + quote(path, safe="/")


def _location(path: str) -> str:
    """Icechunk location of a manifest path: ``file://`` URL for local paths."""
    if has_scheme(path):
        return path
    return _file_url(os.path.abspath(path))


def container_prefixes(paths: Sequence[str]) -> list[str]:
    """URL prefixes to declare as virtual chunk containers: the common folder of
    local files, and ``scheme://netloc/`` of every URL."""
    local = [os.path.abspath(strip_file_scheme(p)) for p in paths if not is_url(p)]
    out: list[str] = []
    if local:
        # Icechunk matches prefixes against decoded locations: a prefix must not
        # need percent-encoding, and file:/// alone is refused (needs a path)
        common = os.path.commonpath([os.path.dirname(p) for p in local])
        while common != "/" and quote(common, safe="/") != common:
            common = os.path.dirname(common)
        if common != "/":
            out.append("file://" + common.rstrip("/") + "/")
        else:
            for p in local:
                if p.count("/") < 2:
                    raise WriteError(f"{p}: Icechunk cannot reference files directly in / (a container needs a folder)")
            for top in sorted({p.split("/")[1] for p in local}):
                if quote(top) != top:
                    raise WriteError(
                        f"/{top}: Icechunk cannot declare a virtual chunk container for this folder name; "
                        f"write kerchunk JSON or parquet references instead"
                    )
                out.append(f"file:///{top}/")
    for p in paths:
        if is_url(p):
            scheme, rest = p.split("://", 1)
            prefix = f"{scheme}://{rest.split('/', 1)[0]}/"
            if prefix not in out:
                out.append(prefix)
    return out


def _has_port(url: str) -> bool:
    try:
        return is_url(url) and urlsplit(url).port is not None
    except ValueError:
        return False


def _container(ic, prefix: str):
    scheme = prefix.split("://", 1)[0]
    if scheme == "file":
        return ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(unquote(prefix[len("file://"):])))
    if scheme == "http":
        return ic.VirtualChunkContainer(prefix, ic.http_store({"allow_http": "true"}))
    if scheme == "https":
        return ic.VirtualChunkContainer(prefix, ic.http_store())
    if scheme in ("s3", "s3a"):
        return ic.VirtualChunkContainer(prefix, ic.s3_store())
    if scheme in ("gs", "gcs"):
        return ic.VirtualChunkContainer(prefix, ic.gcs_store())
    raise WriteError(f"{prefix}: Icechunk has no virtual chunk container for {scheme}:// locations")


# -- writing ----------------------------------------------------------------
def source_checksums(sources) -> dict[str, dict]:
    """Per path of ``sources``: Icechunk checksum keyword (mtime rounded up to the
    second, or etag) so it refuses to serve chunks of a file changed after the scan."""
    out: dict[str, dict] = {}
    for s in sources:
        if s.etag:
            out[s.path] = {"etag_checksum": s.etag}
        elif s.mtime is not None:
            out[s.path] = {
                "last_updated_at_checksum": _dt.datetime.fromtimestamp(math.ceil(s.mtime), _dt.UTC)
            }
    return out


def _attrs(var: VArray) -> dict:
    """Attributes of a zarr v3 array. The fill value unwritten chunks read as is
    the array's ``fill_value`` (xarray keeps it apart from ``_FillValue`` for
    zarr v3). A ``_FillValue`` that does not conform to the variable's type
    (1.5 or NaN for integers) is left out: xarray's zarr v3 reader would
    truncate it (masking real data) or fail to open the dataset."""
    a = _no_nan(zattrs(var))
    a.pop("_ARRAY_DIMENSIONS", None)
    if "_FillValue" in var.attrs and ("_FillValue" not in a or not declared_fill(var)[0]):
        why = "does not fit its type" if not declared_fill(var)[0] else "is of a type xarray's zarr v3 reader cannot decode"
        warnings.warn(
            f"variable {var.name!r}: its _FillValue {var.attrs['_FillValue']!r} {why} {var.dtype}; left out of the "
            f"Icechunk attributes (xarray would truncate it or fail there); kerchunk JSON/parquet keep it",
            FillValueWarning,
            stacklevel=5,
        )
        a.pop("_FillValue", None)
    return a


def _no_nan(v: Any) -> Any:
    """Icechunk refuses the NaN/Infinity literals zarr writes into JSON: such
    attribute values are stored as zarr's strings ("NaN", "Infinity")."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    return v


def write_icechunk(vds: VDataset, repo_dir: str | os.PathLike, **options) -> str:
    """Create an Icechunk repository in ``repo_dir`` (missing or empty) holding
    ``vds`` as virtual references; returns the snapshot id of the commit.
    Options: ``branch`` ("main"), ``message``, ``checksums`` (True).

    Any storage failure (full disk, permissions, an Icechunk error) is a
    one-line :class:`WriteError`; the caller removes the half-made repository
    (``vz.write`` builds it in a private staging folder)."""
    ic = _import_icechunk()
    try:
        return _write_repo(ic, vds, repo_dir, **options)
    except (WriteError, VZError):
        raise
    except (OSError, ic.IcechunkError) as e:
        raise WriteError(f"cannot write the Icechunk repository ({os_error_text(e)})") from None


def _write_repo(
    ic,
    vds: VDataset,
    repo_dir: str | os.PathLike,
    *,
    branch: str = "main",
    message: str | None = None,
    checksums: bool = True,
) -> str:
    vds = for_writing(vds)  # no credentials in written locations
    all_paths = sorted({p for v in vds.variables.values() for p in v.manifest.paths})
    prefixes = container_prefixes(all_paths)
    repo = _create_repo(ic, os.fspath(repo_dir), prefixes)
    if branch != "main":
        repo.create_branch(branch, repo.lookup_branch("main"))
    session = repo.writable_session(branch)
    store = session.store
    sums = source_checksums(vds.sources) if checksums else {}
    attrs = {name: _attrs(var) for name, var in vds.variables.items()}  # may warn: outside the filter below

    def refused(name: str, failed, locs: list[str]) -> WriteError:
        ported = [u for u in locs if _has_port(u)]
        if ported:
            return WriteError(
                f"variable {name!r}: Icechunk {getattr(ic, '__version__', '')} ignores the port of "
                f"URLs such as {ported[0]} (fixed upstream in earth-mover/icechunk#2224); "
                f"write kerchunk JSON or parquet references for these sources"
            )
        return WriteError(
            f"variable {name!r}: {len(failed)} references lie outside the declared containers ({', '.join(prefixes)})"
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "numcodecs codecs are not in the zarr v3 spec"
        root = zarr.create_group(store=store, zarr_format=3, attributes={str(k): _no_nan(json_value(v)) for k, v in vds.attrs.items()})
        for name, var in vds.variables.items():
            arr = _create_array(root, name, var, attrs[name])
            set_chunks(ic, store, name, arr, var.manifest, sums, refused=refused)
    return session.commit(message or f"vz_jupyter: {len(vds.variables)} variables over {len(all_paths)} files",
                          metadata={SOURCES_KEY: source_records(vds.sources)})


def _create_repo(ic, repo_dir: str, prefixes: list[str]):
    """A new repository at ``repo_dir`` with ``prefixes`` declared (and authorized) as virtual chunk containers."""
    config = ic.RepositoryConfig.default()
    for prefix in prefixes:
        config.set_virtual_chunk_container(_container(ic, prefix))
    return ic.Repository.create(
        ic.local_filesystem_storage(os.path.abspath(repo_dir)),
        config=config,
        authorize_virtual_chunk_access=ic.containers_credentials({p: None for p in prefixes}) if prefixes else None,
    )


def _create_array(root, name: str, var: VArray, attributes: dict):
    """The zarr v3 array of ``var`` in group ``root`` (a one-line error when zarr refuses it)."""
    try:
        return root.create_array(
            name,
            shape=var.shape,
            chunks=var.chunks if var.shape else (),
            dtype=_zarr_dtype(var),
            fill_value=var.fill_value,
            dimension_names=list(var.dims) if var.dims else None,
            attributes=attributes,
            **v3_codecs(var),
        )
    except WriteError:
        raise
    except Exception as e:  # noqa: BLE001
        raise WriteError(f"variable {name!r} cannot be written as a zarr v3 array ({_one_line(e)})") from None


def set_chunks(ic, store, name: str, arr, m: Manifest, sums: dict, *, axis: int | None = None, row0: int = 0,
               refused) -> None:
    """Set the chunks of ``m`` in ``arr``, shifted by ``row0`` chunk rows along
    ``axis``: inlined chunks as real chunk bytes in the repository, references
    as virtual chunks in batches (checksums from ``sums`` by path). When
    Icechunk refuses some, ``refused(name, failed, locations)`` is raised."""
    grid = m.grid
    pid = m.path_id.ravel()

    def index(flat: np.ndarray) -> list:
        if not grid:
            return [[] for _ in range(flat.size)]
        idx = np.stack(np.unravel_index(flat, grid), axis=1)
        if axis is not None:
            idx[:, axis] += row0
        return idx.tolist()

    proto = default_buffer_prototype()
    keys = np.fromiter(m.inline.keys(), dtype=np.int64, count=len(m.inline))
    for k, idx in zip(keys.tolist(), index(keys)):
        key = f"{name}/{arr.metadata.encode_chunk_key(tuple(idx))}"
        sync(store.set(key, proto.buffer.from_bytes(bytes(m.inline[k]))))
    refs = np.flatnonzero(pid <= MAX_PATH_ID)
    if not refs.size:
        return
    locs = [_location(p) for p in m.paths]
    kw = [sums.get(p, {}) for p in m.paths]
    off, ln = m.offset.ravel(), m.length.ravel()
    for start in range(0, refs.size, BATCH):
        sel = refs[start:start + BATCH]
        specs = [ic.VirtualChunkSpec(i, locs[p], o, n, **kw[p])
                 for i, p, o, n in zip(index(sel), pid[sel].tolist(), off[sel].tolist(), ln[sel].tolist())]
        failed = store.set_virtual_refs(name, specs, validate_containers=True)
        if failed:
            raise refused(name, failed, locs)


def open_icechunk_store(path: str | os.PathLike, branch: str = "main", authorize: bool = True, allowed=None):
    """A read-only store on ``branch`` of the Icechunk repository at ``path``,
    with its virtual chunk containers authorized (``authorize=False`` to leave
    them locked); ``allowed(prefixes)`` may refuse them first (vz.open's
    confinement)."""
    ic = _import_icechunk()
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise VZError(f"{path}: no such Icechunk repository")
    register_numcodecs_wrappers()
    storage = ic.local_filesystem_storage(os.path.abspath(path))
    try:
        if not ic.Repository.exists(storage):
            raise VZError(f"{path}: not an Icechunk repository (nor a kerchunk parquet directory: no .zmetadata)")
        repo = ic.Repository.open(storage)
        creds = None
        if authorize:
            containers = repo.config.virtual_chunk_containers or {}
            prefixes = [c.url_prefix for c in containers.values()]
            if allowed is not None:
                allowed(prefixes)
            if prefixes:
                creds = ic.containers_credentials({p: None for p in prefixes})
                repo = ic.Repository.open(storage, authorize_virtual_chunk_access=creds)
        return repo.readonly_session(branch=branch).store
    except VZError:
        raise
    except Exception as e:  # noqa: BLE001
        raise VZError(f"{path}: cannot open the Icechunk repository ({str(e).strip().splitlines()[0]})") from None
