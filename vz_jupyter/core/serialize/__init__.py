"""Serialize virtual datasets to references (pure) and write them (atomic I/O).

``serialize(vds, format=...)`` returns references in memory; ``write(vds, target)``
serializes and writes them atomically (built in a private sibling, moved into
place in one step: :mod:`.atomic`), never over an existing target unless
``overwrite=True``, and then only over an earlier output of the same format
that is not a source of the dataset (:mod:`.outputs`).
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import TargetExists, VZError, WriteError  # noqa: F401  (TargetExists re-exported)
from ..model import VDataset, VDatasetList
from .atomic import write_file, write_output
from .outputs import SourceGuard, check_target, is_output, output_format  # noqa: F401

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
        from .kerchunk_json import to_kerchunk_json  # heavy: zarr (through zarr_meta), on demand

        return to_kerchunk_json(vds, **options)
    if format == "kerchunk-parquet":
        from .kerchunk_parquet import to_parquet_tables  # heavy: zarr and pyarrow, on demand

        return to_parquet_tables(vds, **options)
    if format == "icechunk":
        raise VZError("icechunk references are written straight into a repository: use vz.write(ds, 'path.icechunk')")
    raise VZError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")


def write(vds: VDataset, target: str | os.PathLike, format: str | None = None, *, overwrite: bool = False, **options) -> str:
    """Serialize ``vds`` and write it to ``target`` atomically; returns the path.

    The output is built in a private sibling folder (``.vz-<pid>-<token>.tmp``)
    and moved into place in one step, so ``target`` is either absent or
    complete; a failure, an OS error (full disk, ...) or SIGTERM/SIGINT leaves
    nothing behind, and temporaries of killed writers are swept by the next
    write into the same folder.

    Existing targets: without ``overwrite`` nothing is ever replaced, and of
    concurrent writers to the same new target exactly one wins. With
    ``overwrite=True`` only an earlier output of the *same* format is replaced
    (a kerchunk JSON file, a kerchunk parquet reference folder, an Icechunk
    repository, recognised by their content and with nothing foreign inside);
    never a source file of ``vds``, a folder holding one or a link to one,
    never a link, an empty folder, a user's file or folder, nor an output of
    another format. Every refusal is a one-line :class:`WriteError` naming the
    path and why (:class:`TargetExists` when only ``overwrite`` is missing).
    """
    vds = _one(vds)
    target = os.fspath(target)
    fmt = format or infer_format(target)
    if fmt not in FORMATS:
        raise WriteError(f"{target}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    sources = SourceGuard.of(vds)
    check_target(target, fmt, overwrite=overwrite, sources=sources)  # refuse before the work
    kw = {"overwrite": overwrite, "sources": sources, "precheck": False}
    if fmt == "kerchunk-json":
        from .kerchunk_json import dumps, to_kerchunk_json  # heavy: zarr (through zarr_meta), on demand

        data = dumps(to_kerchunk_json(vds, **options))
        write_output(target, fmt, lambda out: write_file(out, data), kind="file", **kw)
    elif fmt == "kerchunk-parquet":
        from .kerchunk_parquet import to_parquet_tables, write_parquet_dir  # heavy: zarr and pyarrow

        tables = to_parquet_tables(vds, **options)
        write_output(target, fmt, lambda out: write_parquet_dir(tables, out), kind="dir", **kw)
    else:
        from .icechunk import write_icechunk  # heavy: zarr; optional: icechunk

        write_output(target, fmt, lambda out: write_icechunk(vds, out, **options), kind="dir", **kw)
    return target
