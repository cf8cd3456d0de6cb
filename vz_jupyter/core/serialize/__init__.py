"""Serialize virtual datasets to references (pure) and write them (atomic I/O).

``serialize(vds, format=...)`` returns references in memory; ``write(vds, target)``
serializes and writes them atomically: to a temporary sibling first, renamed into
place only when complete, and never over an existing target unless
``overwrite=True``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ..errors import VZError, WriteError
from ..model import VDataset, VDatasetList

FORMATS = ("kerchunk-json", "kerchunk-parquet", "icechunk")


def infer_format(target: str) -> str:
    t = str(target).rstrip("/")
    if t.endswith(".json"):
        return "kerchunk-json"
    if t.endswith(".parq") or t.endswith(".parquet"):
        return "kerchunk-parquet"
    if t.endswith(".icechunk") or t.endswith(".ic"):
        return "icechunk"
    raise WriteError(
        f"{target}: cannot tell the output format from the name; use a .json, .parquet or "
        f".icechunk name, or pass format= one of {', '.join(FORMATS)}"
    )


def _one(vds) -> VDataset:
    if isinstance(vds, VDatasetList):
        if len(vds) != 1:
            raise VZError(
                f"{len(vds)} datasets given; write one (e.g. ds[0]) or combine them first with vz.concat"
            )
        return vds[0]
    if not isinstance(vds, VDataset):
        raise VZError(f"expected a VDataset, got {type(vds).__name__}")
    return vds


def serialize(vds: VDataset, format: str = "kerchunk-json", **options) -> Any:
    """References for ``vds`` in memory: a kerchunk JSON dict, or for parquet a
    ``ParquetRefs`` object (metadata + per-variable tables)."""
    vds = _one(vds)
    if format == "kerchunk-json":
        from .kerchunk_json import to_kerchunk_json

        return to_kerchunk_json(vds, **options)
    if format == "kerchunk-parquet":
        from .kerchunk_parquet import to_parquet_tables

        return to_parquet_tables(vds, **options)
    if format == "icechunk":
        raise VZError("icechunk references are written straight into a repository: use vz.write(ds, 'path.icechunk')")
    raise VZError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")


def _check_target(target: str, overwrite: bool) -> None:
    if os.path.lexists(target) and not overwrite:
        raise WriteError(f"{target}: already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    parent = os.path.dirname(os.path.abspath(target)) or "."
    if not os.path.isdir(parent):
        raise WriteError(f"{target}: the folder {parent} does not exist")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_error(target: str, e: OSError) -> WriteError:
    return WriteError(f"{target}: cannot write ({e.strerror or e})")


def _into_place(tmp: str, target: str) -> None:
    """Rename ``tmp`` (file or directory) to ``target``. An existing target (of
    either kind) is moved aside first and restored if the rename fails; it is
    deleted only once the new one is in place."""
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.lexists(target):
        os.replace(tmp, target)
        return
    old = tempfile.mkdtemp(prefix=".vz-old-", dir=parent)
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.unlink(old)


def atomic_write_bytes(target: str, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to a temporary sibling of ``target``, then rename it into
    place (replacing an old target only when ``overwrite``)."""
    _check_target(target, overwrite)
    parent = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vz-", suffix=".tmp", dir=parent)
    except OSError as e:
        raise _os_error(target, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
        _into_place(tmp, target)
    except BaseException as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _os_error(target, e) from None
        raise


def atomic_write_dir(target: str, fill, overwrite: bool = False) -> None:
    """Build a directory with ``fill(tmpdir)`` next to ``target``, then move it
    into place (replacing an old one only when ``overwrite``)."""
    _check_target(target, overwrite)
    parent = os.path.dirname(os.path.abspath(target))
    try:
        tmp = tempfile.mkdtemp(prefix=".vz-", suffix=".tmp", dir=parent)
    except OSError as e:
        raise _os_error(target, e) from None
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
        _into_place(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise _os_error(target, e) from None
        raise


def write(vds: VDataset, target: str | os.PathLike, format: str | None = None, *, overwrite: bool = False, **options) -> str:
    """Serialize ``vds`` and write it to ``target`` atomically; returns the path.

    Nothing is written when serialization fails, and an existing target is kept
    unless ``overwrite=True``.
    """
    vds = _one(vds)
    target = os.fspath(target)
    fmt = format or infer_format(target)
    if fmt == "kerchunk-json":
        from .kerchunk_json import dumps, to_kerchunk_json

        _check_target(target, overwrite)
        data = dumps(to_kerchunk_json(vds, **options))
        atomic_write_bytes(target, data, overwrite=overwrite)
    elif fmt == "kerchunk-parquet":
        from .kerchunk_parquet import write_parquet_dir, to_parquet_tables

        _check_target(target, overwrite)
        tables = to_parquet_tables(vds, **options)
        atomic_write_dir(target, lambda tmp: write_parquet_dir(tables, tmp), overwrite=overwrite)
    elif fmt == "icechunk":
        from .icechunk import write_icechunk

        _check_target(target, overwrite)
        try:
            atomic_write_dir(target, lambda tmp: write_icechunk(vds, tmp, **options), overwrite=overwrite)
        except WriteError as e:
            if str(e).startswith(f"{target}: "):
                raise
            raise WriteError(f"{target}: {e}") from None
    else:
        raise WriteError(f"{target}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return target
