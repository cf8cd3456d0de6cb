"""The entry point, :func:`scan_refs`: read a reference file (local or remote)
or take an in-memory dict, confine the paths the references name, and hand over
to the JSON or the parquet reader."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

import fsspec

from ...access import Confinement, active, confined, read_local, recorded_roots
from ...errors import ScanError, reading
from ...model import VDataset
from ...urls import is_url
from ..files import normalize_path, remote_fs
from .json_refs import _from_refs_dict
from .jsondoc import loads_json
from .parquet import _from_parquet


def scan_refs(path: str | os.PathLike | Mapping, storage_options: dict | None = None, *, allowed_roots=None,
              trust_recorded_roots: bool = True) -> VDataset:
    """A :class:`VDataset` from kerchunk references: a JSON file, a parquet
    directory, or an in-memory kerchunk dict.

    The paths the references name are confined (see
    :mod:`vz_jupyter.core.access`): resolved against the reference file's
    folder and refused outside it, its recorded roots and ``allowed_roots``
    (in-memory dicts are confined only when ``allowed_roots`` is given). No
    referenced file is opened and no server contacted."""

    def confinement(location, recorded):
        if allowed_roots is None and active() is not None:
            return active()  # an enclosing reader (vz.open) already decided
        if location is None and allowed_roots is None:
            return None
        return Confinement.for_references(location, recorded, allowed_roots,
                                          trust_recorded_roots=trust_recorded_roots)

    if isinstance(path, Mapping):
        refs = dict(path)
        with confined(confinement(None, _recorded(refs))):
            return _from_refs_dict(refs, "<references>", storage_options)
    path = normalize_path(path)
    fs = remote_fs(path, storage_options) if is_url(path) else fsspec.filesystem("file")
    with reading(path):
        if fs.isdir(path) if not is_url(path) else path.rstrip("/").endswith((".parquet", ".parq")):
            with confined(confinement(path, _parquet_recorded(fs, path))):
                return _from_parquet(path, fs, storage_options)
        raw = _read_whole(fs, path)
    refs = loads_json(raw, path)
    if not isinstance(refs, dict):
        raise ScanError(path, f"not a kerchunk reference set (top level is a {type(refs).__name__}, not an object)")
    with confined(confinement(path, _recorded(refs))):
        return _from_refs_dict(refs, path, storage_options)


def _read_whole(fs, path: str) -> bytes:
    """The reference file's bytes (a FIFO or device is refused, not waited on)."""
    if not is_url(path):
        return read_local(path)
    return fs.cat_file(path)


def _recorded(refs: dict) -> list[str]:
    """Roots recorded at the top level of version-1 (or wrapped) references."""
    return recorded_roots(refs) if refs.get("version") is not None or isinstance(refs.get("refs"), dict) else []


def _parquet_recorded(fs, root: str) -> list[str]:
    """Roots recorded in a parquet reference set's ``.zmetadata``."""
    try:
        return recorded_roots(json.loads(fs.cat_file(f"{root.rstrip('/')}/.zmetadata")))
    except Exception:  # noqa: BLE001  (an unreadable .zmetadata is reported by _from_parquet)
        return []

