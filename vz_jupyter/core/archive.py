"""An existing reference set opened for appending (see :mod:`vz_jupyter.core.append`).

``open_archive(target, dim)`` recognises the format of ``target`` (kerchunk
JSON, a kerchunk parquet folder, an Icechunk repository), optionally locks it
against other appenders, and reads it as a *view*: a :class:`VDataset` holding
what :func:`~vz_jupyter.core.check.check` needs and nothing that grows with the
archive (the JSON format excepted: one file is read whole by nature):

- variables not along ``dim``: whole (their size does not grow with the archive);
- variables along ``dim`` stored inlined (coordinates, small): whole, decoded to
  raw values -- an append rewrites them whole, re-encoded into the archive's
  units when the new files count time differently;
- other variables along ``dim``: their last chunk row only (the *tail*); an
  append adds chunk rows after it.

No source file of the archive is opened: values are only taken from inlined
chunks (and an Icechunk repository's own chunks). The paths the archive
references come from its path tables, for "already in the archive".

Locking: ``lock=True`` takes an exclusive ``flock`` on the target (the JSON
file, the parquet folder, the repository folder) without waiting -- a second
appender is refused at once -- and remembers the identity of what it locked,
so the write can refuse to replace anything else (compare-and-swap).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import stat
from typing import Any

from .access import RECORD_KEY, Confinement, confined, recorded_roots
from .archive_view import (  # noqa: F401  (VarChange, raw_inline, ... re-exported: the archive's public names)
    FORMAT_LABELS,
    WHOLE_MAX_BYTES,
    Archive,
    VarChange,
    can_rewrite_whole,
    grid_of,
    leading_layout,
    new_flat_numbers,
    norm_path,
    not_archive,
    raw_inline,
    tail,
    view_of,
)
from .errors import WriteError
from .model import INLINE, MAX_PATH_ID, MISSING  # noqa: F401  (re-exported, as before)
from .scan.refs import _from_refs_dict, _loads
from .serialize.outputs import describe, fingerprint, resolve_target
from .sources import SOURCES_KEY
from .urls import has_scheme

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: variables along the dim with at most this many chunks are read whole
FULL_READ_CHUNKS = 4096


# -- locking and recognising -------------------------------------------------------------
_RD = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _lock(path: str, shown: str, is_dir: bool, lock: bool) -> tuple[int, Any]:
    """An open descriptor on ``path`` (flocked when ``lock``) and the
    fingerprint of what it opened, which is what is at ``path`` now."""
    flags = _RD | (getattr(os, "O_DIRECTORY", 0) if is_dir else 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise WriteError(f"{shown}: cannot open it ({e.strerror or e})") from None
    try:
        if lock and fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WriteError(f"{shown}: another append to it is in progress; nothing written") from None
            except OSError:  # pragma: no cover - no locks on this file system: the compare-and-swap still guards
                pass
        fp = fingerprint(os.fstat(fd))
        try:
            now = fingerprint(os.lstat(path))
        except OSError:
            now = None
        if now != fp:
            raise WriteError(f"{shown}: replaced by someone else while it was opened; nothing written")
        return fd, fp
    except BaseException:
        os.close(fd)
        raise


def detect_format(path: str, shown: str) -> str:
    """The format of the archive at ``path`` (its content decides; the name only
    breaks no tie), or a one-line refusal saying what is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise WriteError(f"{shown}: no archive there to append to; create it first "
                         f"(vz.write(vz.concat(...), target), or: vz combine FILES --dim D -o TARGET)") from None
    except OSError as e:
        raise WriteError(f"{shown}: cannot look at it ({e.strerror or e})") from None
    if stat.S_ISREG(st.st_mode):
        return "kerchunk-json"
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(os.path.join(path, ".zmetadata")):
            return "kerchunk-parquet"
        if os.path.isdir(os.path.join(path, "refs")) and os.path.isdir(os.path.join(path, "snapshots")):
            return "icechunk"
    raise WriteError(f"{shown}: not an archive to append to: it is {describe(path)}; "
                     f"append extends kerchunk JSON or parquet references or an Icechunk repository")


# -- opening --------------------------------------------------------------------------
def open_archive(target: str | os.PathLike, dim: str, *, lock: bool = False, allowed_roots=None,
                 branch: str = "main", new_paths=()) -> Archive:
    """Open the archive at ``target`` for checking (``lock=False``) or for an
    append (``lock=True``: see the module doc). ``new_paths``: the files about
    to be appended (an Icechunk repository declares their folders as virtual
    chunk containers for the session). Close it (or use ``with``)."""
    shown = os.fspath(target)
    if has_scheme(shown):
        raise WriteError(f"{shown}: append writes local reference sets only (a remote archive cannot be locked)")
    path = resolve_target(shown)
    fmt = detect_format(path, shown)
    fd, fp = _lock(path, shown, fmt != "kerchunk-json", lock)
    try:
        if fmt == "kerchunk-json":
            arc = _open_json(fd, path, shown, dim, allowed_roots, FULL_READ_CHUNKS)
        elif fmt == "kerchunk-parquet":
            from .serialize.kerchunk_parquet_append import open_parquet_archive  # heavy: pyarrow, zarr

            arc = open_parquet_archive(path, shown, dim, allowed_roots, full_limit=FULL_READ_CHUNKS)
        else:
            from .serialize.icechunk_append import open_icechunk_archive  # optional: icechunk; heavy: zarr

            arc = open_icechunk_archive(path, shown, dim, branch=branch, writable=lock, new_paths=new_paths,
                                        full_limit=FULL_READ_CHUNKS)
    except BaseException:
        os.close(fd)
        raise
    arc.fingerprint = fp
    arc._fd = fd
    return arc


_META_LEAVES = ("/.zarray", "/.zattrs", "/.zgroup")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _json_selection(obj: dict, dim: str, full_limit: int) -> tuple[dict, set[str]]:
    """The part of parsed kerchunk references a view needs: every metadata
    document, every chunk of the variables read whole, and only the last chunk
    row of big variables along ``dim`` (looked up by key, not by scanning the
    references); returns ``(references, those big variables)``."""
    v1 = "version" in obj
    refs = obj["refs"] if v1 else obj
    keep = {k: refs[k] for k in [k for k in refs if k.endswith(_META_LEAVES)]}
    keep.update((k, refs[k]) for k in (".zgroup", ".zattrs") if k in refs)
    tails: set[str] = set()
    for k in [k for k in keep if k.endswith("/.zarray")]:
        name = k[: -len("/.zarray")]
        if "/" in name:
            continue  # a sub-group's array: left to the reader (it says so)
        za = keep[k]
        za = json.loads(za) if isinstance(za, str) else za
        at = keep.get(f"{name}/.zattrs", "{}")
        at = json.loads(at) if isinstance(at, str) else at
        shape = [int(x) for x in za["shape"]]
        chunks = [int(x) for x in za["chunks"]] if shape else []
        grid = grid_of(shape, chunks)
        sep = za.get("dimension_separator") or "."
        dims = at.get("_ARRAY_DIMENSIONS") if isinstance(at, dict) else None
        n = math.prod(grid)
        if isinstance(dims, list) and dim in dims and len(dims) == len(grid) and n > full_limit:
            axis = dims.index(dim)
            tails.add(name)
            ranges = [range(g - 1, g) if i == axis else range(g) for i, g in enumerate(grid)]
        else:
            ranges = [range(g) for g in grid]
        for idx in itertools.product(*ranges) if grid else [(0,)]:
            key = f"{name}/{sep.join(map(str, idx))}"
            if key in refs:
                keep[key] = refs[key]
    return ({**obj, "refs": keep} if v1 else keep), tails


def _json_paths(obj: dict, base: str) -> frozenset:
    """Every source path the references name (urls rendered with their
    templates; ``data:`` fill chunks are not files)."""
    refs = obj["refs"] if "version" in obj else obj
    templates = obj.get("templates") or {} if "version" in obj else {}
    if templates:
        # references written with templates (vz_jupyter's) name every file in them: no scan of every chunk.
        # A url written out in full beside them is still caught by its times (see append._already).
        urls = set(templates.values())
    else:
        urls = {v[0] for v in refs.values() if type(v) is list and v and isinstance(v[0], str)}
    out = set()
    for u in urls:
        if "{{" in u:
            u = _TEMPLATE.sub(lambda m: str(templates.get(m.group(1), m.group(0))), u)
        if not u.startswith("data:"):
            out.add(norm_path(u, base))
    return frozenset(out)


def _open_json(fd: int, path: str, shown: str, dim: str, allowed_roots, full_limit: int) -> Archive:
    """The archive of a kerchunk JSON file: read and parsed once (by nature of
    the format), then only what the view needs is turned into manifests."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # pragma: no cover - detect_format saw a regular file
        raise not_archive(shown, path, "kerchunk-json")
    chunks = []
    pos = 0
    while pos < st.st_size:
        block = os.pread(fd, min(1 << 26, st.st_size - pos), pos)
        if not block:
            break
        chunks.append(block)
        pos += len(block)
    raw = b"".join(chunks)
    try:
        obj = _loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise not_archive(shown, path, "kerchunk-json") from None
    if not _looks_like_refs(obj):
        raise not_archive(shown, path, "kerchunk-json")
    if obj.get("gen"):
        raise WriteError(f"{shown}: references with 'gen' entries are not appended to (their keys are generated "
                         f"when read); write them out as plain references first")
    try:
        selected, big = _json_selection(obj, dim, full_limit)
    except (KeyError, TypeError, ValueError, AttributeError):
        selected, big = obj, set()  # malformed metadata: the full reader says what is wrong, in one line
    conf = Confinement.for_references(path, recorded_roots(obj), allowed_roots)
    with confined(conf):
        ds = _from_refs_dict(selected, path, None)
    variables = dict(ds.variables)
    for name in big & set(variables):
        variables[name] = tail(variables[name], variables[name].dims.index(dim))
    view, whole, tails = view_of(variables, dim, attrs=ds.attrs, coords=ds.coords, label=shown,
                                 fmt="kerchunk-json", skipped=ds.skipped, tails_given=frozenset(big))
    paths = _json_paths(obj, os.path.dirname(path))
    return Archive(shown, path, "kerchunk-json", dim, view, {n: v.shape for n, v in ds.variables.items()},
                   whole, tails, variables, paths, payload={"refs": obj})


def _looks_like_refs(obj) -> bool:
    """kerchunk references at a glance (the reader checks every entry)."""
    if not isinstance(obj, dict):
        return False
    if "version" in obj:
        if obj.get("version") != 1 or not set(obj) <= {"version", "refs", "templates", "gen", RECORD_KEY,
                                                             SOURCES_KEY}:
            return False
        if not isinstance(obj.get("refs"), dict) or not isinstance(obj.get("templates", {}), dict):
            return False
        refs = obj["refs"]
    else:
        refs = obj
    return ".zgroup" in refs or any(isinstance(k, str) and k.endswith("/.zarray") for k in refs)


__all__ = ["Archive", "VarChange", "open_archive", "detect_format", "view_of", "tail", "raw_inline",
           "norm_path", "leading_layout", "new_flat_numbers", "grid_of", "FULL_READ_CHUNKS", "WHOLE_MAX_BYTES",
           "MISSING", "INLINE", "MAX_PATH_ID"]
