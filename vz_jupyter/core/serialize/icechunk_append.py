"""Appending to an Icechunk repository (see :mod:`vz_jupyter.core.append`).

Reading (:func:`open_icechunk_archive`): the zarr v3 metadata of every array
becomes :class:`~vz_jupyter.core.model.VArray` fields (codecs translated back
to numcodecs configurations: the inverse of :func:`.icechunk.v3_codecs`); the
chunks a check may look at are classified with ``Session.chunk_type`` --
chunks stored in the repository (inline or native) are read from it, virtual
chunks are never fetched. Paths come from ``all_virtual_chunk_locations``.

Writing (:func:`write_icechunk_append`): in the session opened with the
archive, grown arrays are resized and the new chunks set (virtual references
with the new files' modification times as checksums, inlined chunks as
repository chunks); arrays rewritten whole are recreated; then ONE commit
whose message names the files. Earlier snapshots stay readable. A commit that
finds the branch moved (another writer) is refused, nothing committed. Folders
of new files outside the repository's virtual chunk containers are declared
for the session and saved to the repository's configuration after the commit.

Loaded on demand (by :func:`~vz_jupyter.core.archive.open_archive` and the
append writer): it needs zarr (and icechunk, imported when a repository is opened).
"""
from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from urllib.parse import unquote

import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ..archive_view import Archive, grid_of, norm_path, not_archive, view_of
from ..errors import VZError, WriteError
from ..model import INLINE, MISSING, Manifest, VArray
from ..scan.refs import decode_fill_attr
from ..sources import SOURCES_KEY, source_records
from ..urls import has_scheme, strip_file_scheme
from .atomic import os_error_text
from .icechunk import (
    _attrs,
    _container,
    _import_icechunk,
    _zarr_dtype,
    container_prefixes,
    register_numcodecs_wrappers,
    set_chunks,
    source_checksums,
    v3_codecs,
)

_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


# -- metadata back to the model ------------------------------------------------------------
def numcodecs_configs(codecs, dtype: np.dtype) -> tuple[tuple[dict, ...], np.dtype]:
    """numcodecs configurations (encode order) and the dtype with its byte
    order for a zarr v3 codec pipeline."""
    out: list[dict] = []
    dt = np.dtype(dtype)
    for c in codecs:
        if isinstance(c, BytesCodec):
            endian = getattr(c.endian, "value", c.endian)
            if endian and dt.itemsize > 1 and dt.kind not in "SUV":
                dt = dt.newbyteorder("<" if endian == "little" else ">")
            continue
        name = getattr(c, "codec_name", None)
        cfg = getattr(c, "codec_config", None)
        if isinstance(name, str) and name.startswith("numcodecs.") and isinstance(cfg, dict):
            out.append({"id": name[len("numcodecs."):], **{k: v for k, v in cfg.items() if k != "id"}})
            continue
        d = c.to_dict()
        n, conf = d.get("name"), dict(d.get("configuration") or {})
        if n == "gzip":
            out.append({"id": "gzip", "level": conf.get("level", 5)})
        elif n == "zstd":
            out.append({"id": "zstd", "level": conf.get("level", 0), "checksum": bool(conf.get("checksum", False))})
        elif n == "blosc":
            shuffle = conf.get("shuffle", "noshuffle")
            out.append({"id": "blosc", "cname": conf.get("cname", "lz4"), "clevel": conf.get("clevel", 5),
                        "shuffle": _BLOSC_SHUFFLE.get(getattr(shuffle, "value", shuffle), 0),
                        "blocksize": conf.get("blocksize", 0)})
        elif n in ("crc32c", "vlen-utf8", "vlen-bytes"):
            out.append({"id": n})
        else:  # no numcodecs equivalent: kept by name, so it compares unequal to any file's codecs
            out.append({"id": f"zarr.{n}", **conf})
    return tuple(out), dt


def _chunk_bytes(store, key: str) -> bytes | None:
    buf = sync(store.get(key, prototype=default_buffer_prototype()))
    return None if buf is None else buf.to_bytes()


def _manifest(ic, session, name: str, arr, coords, grid: tuple, placeholder: str) -> Manifest:
    """A manifest of ``grid`` for the chunks ``coords`` of ``arr`` (in C order
    of ``grid``): repository chunks
    read and inlined, virtual ones as a placeholder reference (never read),
    uninitialised ones missing."""
    n = int(np.prod(grid, dtype=np.int64)) if grid else 1
    pid = np.full(n, MISSING, dtype=np.uint32)
    inline: dict[int, bytes] = {}
    for k, c in enumerate(coords):
        t = session.chunk_type("/" + name, list(c))
        if t == ic.ChunkType.VIRTUAL:
            pid[k] = 0
        elif t in (ic.ChunkType.INLINE, ic.ChunkType.NATIVE):
            data = _chunk_bytes(session.store, f"{name}/{arr.metadata.encode_chunk_key(tuple(c))}")
            if data is not None:
                pid[k] = INLINE
                inline[k] = data
    shape = grid if grid else ()
    return Manifest((placeholder,), pid.reshape(shape), np.zeros(shape, np.uint64), np.zeros(shape, np.uint64), inline)


def _var(ic, session, name: str, arr, dim: str, placeholder: str, full_limit: int) -> tuple[VArray, bool]:
    """The view variable of array ``name`` and whether it is a tail."""
    meta = arr.metadata
    shape = tuple(int(s) for s in meta.shape)
    chunks = tuple(int(c) for c in meta.chunks) if shape else ()
    dims = tuple(meta.dimension_names) if meta.dimension_names else tuple(f"{name}_dim_{i}" for i in range(len(shape)))
    codecs, dtype = numcodecs_configs(meta.codecs, np.dtype(arr.dtype))
    attrs = dict(meta.attributes)
    if "_FillValue" in attrs:
        attrs["_FillValue"] = decode_fill_attr(attrs["_FillValue"], dtype)
    fill = meta.fill_value
    if isinstance(fill, np.generic) and dtype.kind not in "SUVO":
        fill = np.asarray(fill).astype(dtype)[()]
    grid = grid_of(shape, chunks)
    n = int(np.prod(grid, dtype=np.int64)) if grid else 1
    is_tail = False
    if not grid:
        coords, g = [()], ()
    elif dim in dims and n > full_limit:
        axis = dims.index(dim)
        ranges = [range(grid[k] - 1, grid[k]) if k == axis else range(grid[k]) for k in range(len(grid))]
        coords = [tuple(c) for c in itertools.product(*ranges)]
        g = tuple(1 if k == axis else x for k, x in enumerate(grid))
        shape = tuple(shape[k] - (grid[k] - 1) * chunks[k] if k == axis else shape[k] for k in range(len(shape)))
        is_tail = True
    elif n > full_limit:  # a big variable not along the dim: described, not classified chunk by chunk
        m = Manifest((placeholder,), np.zeros(grid, np.uint32), np.zeros(grid, np.uint64), np.zeros(grid, np.uint64))
        return VArray(name, dims, shape, dtype, chunks, codecs, fill, attrs, m), False
    else:
        coords = [tuple(c) for c in itertools.product(*(range(x) for x in grid))]
        g = grid
    m = _manifest(ic, session, name, arr, coords, g, placeholder)
    return VArray(name, dims, shape, dtype, chunks, codecs, fill, attrs, m), is_tail


# -- containers --------------------------------------------------------------------------
def _covered(path: str, prefixes: Sequence[str]) -> bool:
    for pre in prefixes:
        if pre.startswith("file://"):
            if not has_scheme(path) and path.startswith(unquote(strip_file_scheme(pre))):
                return True
        elif path.startswith(pre):
            return True
    return False


def _repository(ic, path: str, new_paths: Sequence[str]):
    """The repository with every container authorized (and, for ``new_paths``
    outside them, new containers declared for this session): ``(repo,
    added_prefixes)``."""
    storage = ic.local_filesystem_storage(os.path.abspath(path))
    repo = ic.Repository.open(storage)
    config = repo.config
    prefixes = [c.url_prefix for c in (config.virtual_chunk_containers or {}).values()]
    outside = [p for p in new_paths if not _covered(p, prefixes)]
    added = [p for p in container_prefixes(outside) if p not in prefixes] if outside else []
    for pre in added:
        config.set_virtual_chunk_container(_container(ic, pre))
    every = prefixes + added
    creds = ic.containers_credentials({p: None for p in every}) if every else None
    repo = ic.Repository.open(storage, config=config if added else None, authorize_virtual_chunk_access=creds)
    return repo, added


def open_icechunk_archive(path: str, shown: str, dim: str, *, branch: str = "main", writable: bool = False,
                          new_paths: Sequence[str] = (), full_limit: int):
    """The :class:`~vz_jupyter.core.archive.Archive` of an Icechunk repository
    (a writable session on ``branch`` when ``writable``)."""
    ic = _import_icechunk()
    register_numcodecs_wrappers()
    try:
        if not ic.Repository.exists(ic.local_filesystem_storage(os.path.abspath(path))):
            raise not_archive(shown, path, "icechunk")
        repo, added = _repository(ic, path, [p for p in new_paths] if writable else [])
        try:
            session = repo.writable_session(branch) if writable else repo.readonly_session(branch=branch)
        except ic.IcechunkError as e:
            raise WriteError(f"{shown}: no branch {branch!r} to append to ({os_error_text(e)})") from None
        placeholder = f"{path}#virtual"
        variables: dict[str, VArray] = {}
        tails: set[str] = set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = zarr.open_group(session.store, mode="r", zarr_format=3)
            attrs = dict(root.attrs)
            for name, arr in sorted(root.arrays(), key=lambda kv: kv[0]):
                v, is_tail = _var(ic, session, name, arr, dim, placeholder, full_limit)
                variables[name] = v
                if is_tail:
                    tails.add(name)
            shapes = {name: tuple(int(s) for s in arr.metadata.shape) for name, arr in root.arrays()}
    except (VZError, WriteError):
        raise
    except Exception as e:  # noqa: BLE001  (Icechunk and zarr errors: one line)
        raise WriteError(f"{shown}: cannot read the Icechunk repository ({os_error_text(e)})") from None
    coords = [n for n, v in variables.items() if v.dims == (n,)]
    view, whole, tails_ = view_of(variables, dim, attrs=attrs, coords=coords, label=shown, fmt="icechunk",
                                  tails_given=frozenset(tails))
    def paths():  # one entry per virtual chunk: listed only when the times cannot tell (see append._already)
        try:
            locations = set(session.all_virtual_chunk_locations())
        except Exception as e:  # noqa: BLE001
            raise WriteError(f"{shown}: cannot list the Icechunk repository's chunks ({os_error_text(e)})") from None
        return {norm_path(unquote(u)) if u.startswith("file://") else u for u in locations}

    return Archive(shown, path, "icechunk", dim, view, shapes, whole, tails_, variables, paths,
                   payload={"repo": repo, "session": session, "added": added, "branch": branch})


# -- writing ----------------------------------------------------------------------------
def _outside(name: str, failed, locs) -> WriteError:
    return WriteError(f"variable {name!r}: {len(failed)} references lie outside the repository's "
                      f"virtual chunk containers")


def commit_message(files: Sequence[str], dim: str, limit: int = 20) -> str:
    names = [os.path.basename(f.rstrip("/")) or f for f in files]
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f"vz append: {len(names)} file{'s' if len(names) != 1 else ''} along {dim!r}: {shown}"


def write_icechunk_append(arc, changes, sources, files: Sequence[str], message: str | None = None) -> str:
    """Apply ``changes`` in the archive's session and commit once; returns
    the new snapshot id."""
    ic = _import_icechunk()
    session = arc.payload["session"]
    store = session.store
    sums = source_checksums(sources)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = zarr.open_group(store, mode="r+", zarr_format=3)
            for c in changes:
                if c.kind == "rows":
                    arr = root[c.name]
                    arr.resize(c.shape)
                    set_chunks(ic, store, c.name, arr, c.var.manifest, sums, axis=c.axis, row0=c.row0, refused=_outside)
                    continue
                v = c.var
                arr = root.create_array(
                    c.name, shape=v.shape, chunks=v.chunks if v.shape else (), dtype=_zarr_dtype(v),
                    fill_value=v.fill_value, dimension_names=list(v.dims) if v.dims else None,
                    attributes=_attrs(v), overwrite=True, **v3_codecs(v))
                set_chunks(ic, store, c.name, arr, v.manifest, sums, refused=_outside)
        meta = {"vz_append": {"dim": arc.dim, "files": [str(f) for f in files]}, SOURCES_KEY: source_records(sources)}
        try:
            sid = session.commit(message or commit_message(files, arc.dim), metadata=meta)
        except ic.ConflictError:
            raise WriteError(f"{arc.target}: another writer committed to branch {arc.payload['branch']!r} while "
                             f"appending; nothing written") from None
        if arc.payload.get("added"):
            arc.payload["repo"].save_config()
        return sid
    except (WriteError, VZError):
        raise
    except Exception as e:  # noqa: BLE001
        raise WriteError(f"{arc.target}: cannot append to the Icechunk repository ({os_error_text(e)})") from None


__all__ = ["open_icechunk_archive", "write_icechunk_append", "numcodecs_configs", "commit_message"]
