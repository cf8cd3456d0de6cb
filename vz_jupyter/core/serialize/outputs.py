"""What may a write replace? Recognising earlier outputs and the dataset's sources.

``overwrite`` replaces only something that is recognisably an earlier output of
the *same* format, and never a source of the dataset being written:

* kerchunk JSON: a regular file that parses as kerchunk references (version 1
  ``{"version": 1, "refs": {...}}``, with ``templates``, ``gen`` and our
  ``vz_source_roots`` and ``vz_sources`` allowed beside them, or version 0, a flat mapping of
  zarr keys); files over :data:`JSON_PARSE_LIMIT` are recognised by their
  head and tail;
* kerchunk parquet: a folder holding ``.zmetadata`` (``metadata`` +
  ``record_size``) and, per variable named in it, ``<var>/refs.<n>.parq``
  parquet files -- nothing else, no links;
* Icechunk: a folder laid out as an Icechunk (1.x) repository: ``refs/``
  (``branch.<name>/ref.json`` naming an existing snapshot, ``tag.<name>/``),
  ``snapshots/``, ``manifests/``, ``transactions/`` (Icechunk files, by their
  magic bytes), ``chunks/`` and ``config.yaml`` -- nothing else, no links.

A symbolic link, an empty folder, a user's folder or file, a NetCDF/HDF5 file
and an output of another format are never replaced. :class:`SourceGuard` says
whether a path is (or holds, or links to) a source file of a dataset, by file
identity (device + inode, so case-insensitive file systems, hard links,
symlinks, ``..`` and relative paths all compare right) with a resolved-path
fallback for sources that no longer exist.

These pieces are reusable (an append writer needs "is this an earlier output of
format F"): :func:`output_format`, :func:`is_output`, :func:`describe`,
:func:`check_target`, :class:`SourceGuard`.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable
from typing import NamedTuple

from ..access import RECORD_KEY
from ..errors import TargetExists, WriteError
from ..sources import SOURCES_KEY
from ..urls import FILE_PREFIX, has_scheme, strip_file_scheme

#: what each format's earlier output is called in messages
LABELS = {
    "kerchunk-json": "kerchunk JSON references",
    "kerchunk-parquet": "a kerchunk parquet reference folder",
    "icechunk": "an Icechunk repository",
}
#: kerchunk JSON files up to this size are parsed in full to recognise them
JSON_PARSE_LIMIT = 64 << 20
_HEAD = 1 << 16
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ICE_MAGIC = "ICE🧊CHUNK".encode()
_PARQ_RE = re.compile(r"refs\.(0|[1-9][0-9]*)\.parq\Z")
_ICE_ID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{20}\Z")  # Crockford base32 object ids
_ICE_REF_RE = re.compile(r"(branch|tag)\.[^/\x00]+\Z")
_ZARR_KEYS = (".zgroup", ".zarray", ".zattrs", "zarr.json")


class Fingerprint(NamedTuple):
    """Identity of what was checked, to tell later whether it is still the same."""

    dev: int
    ino: int
    fmt: int
    size: int
    mtime_ns: int


def fingerprint(st: os.stat_result) -> Fingerprint:
    """``(dev, ino, type, size, mtime)`` for a file, ``(dev, ino, type)`` for a
    folder (renaming a folder may touch its times; its contents are re-verified)."""
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:
        return Fingerprint(st.st_dev, st.st_ino, kind, 0, 0)
    return Fingerprint(st.st_dev, st.st_ino, kind, st.st_size, st.st_mtime_ns)


# -- recognising earlier outputs ---------------------------------------------
def _is_meta_key(k: str) -> bool:
    return k in _ZARR_KEYS or k.endswith(tuple("/" + z for z in _ZARR_KEYS))


def kerchunk_refs_ok(obj) -> bool:
    """True when ``obj`` (parsed JSON) is kerchunk references, version 0 or 1."""
    if not isinstance(obj, dict):
        return False
    if "version" in obj:
        if obj.get("version") != 1 or not set(obj) <= {"version", "refs", "templates", "gen", RECORD_KEY, SOURCES_KEY}:
            return False
        if not isinstance(obj.get(SOURCES_KEY, []), list):
            return False
        roots = obj.get(RECORD_KEY, [])
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            return False
        refs = obj.get("refs", {})
        tmpl = obj.get("templates", {})
        if not isinstance(refs, dict) or not isinstance(tmpl, dict) or not isinstance(obj.get("gen", []), list):
            return False
        if not all(isinstance(v, str) for v in tmpl.values()):
            return False
    else:
        refs = obj
    if not any(isinstance(k, str) and _is_meta_key(k) for k in refs):
        return False
    for v in refs.values():
        if isinstance(v, str):
            continue
        if isinstance(v, list) and 1 <= len(v) <= 3 and isinstance(v[0], str):
            continue
        return False
    return True


_BIG_V1_HEAD = re.compile(rb'\A\s*\{\s*"version"\s*:\s*1\s*,\s*"(refs|templates|gen)"\s*:\s*[\{\[]')
_BIG_V0_HEAD = re.compile(rb'\A\s*\{\s*"([^"\\]*/)?(\.zgroup|\.zattrs|\.zarray)"\s*:\s*"')
_BIG_TAIL = re.compile(rb'[\}\]"]\s*\}\s*\}?\s*\Z')


_RD = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR = _RD | getattr(os, "O_DIRECTORY", 0)


def _is_kerchunk_json(fd: int, size: int) -> bool:
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            head = f.read(_HEAD)
            if not head.lstrip().startswith(b"{"):
                return False
            if size <= JSON_PARSE_LIMIT:
                return kerchunk_refs_ok(json.loads(head + f.read()))
            # too big to parse just to recognise it: kerchunk's head and a JSON tail
            f.seek(max(0, size - 64))
            tail = f.read()
    except (OSError, ValueError, RecursionError):
        return False
    return bool((_BIG_V1_HEAD.match(head) or _BIG_V0_HEAD.match(head)) and _BIG_TAIL.search(tail))


def _head(name: str, n: int, dir_fd: int | None = None) -> bytes:
    fd = os.open(name, _RD, dir_fd=dir_fd)
    try:
        return os.read(fd, n)
    finally:
        os.close(fd)


def _read_json(name: str, dir_fd: int, limit: int):
    fd = os.open(name, _RD, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise ValueError("not a small regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return json.load(f)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _subdir(name: str, dir_fd: int):
    fd = os.open(name, _DIR, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def _entries(dir_fd: int) -> dict:
    """name -> "file" | "dir" | "other" (links and special files are "other")."""
    out = {}
    with os.scandir(dir_fd) as it:
        for e in it:
            if e.is_symlink():
                out[e.name] = "other"
            elif e.is_dir(follow_symlinks=False):
                out[e.name] = "dir"
            elif e.is_file(follow_symlinks=False):
                out[e.name] = "file"
            else:
                out[e.name] = "other"
    return out


def _is_parquet_refs(dfd: int) -> bool:
    """kerchunk parquet layout under the open folder ``dfd``; nothing foreign."""
    try:
        doc = _read_json(".zmetadata", dfd, JSON_PARSE_LIMIT)
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return False
    rs = doc.get("record_size")
    if not isinstance(rs, int) or isinstance(rs, bool) or rs < 1:
        return False
    fields = {k[: -len("/.zarray")] for k in doc["metadata"] if isinstance(k, str) and k.endswith("/.zarray")}
    parents = {f.rsplit("/", i)[0] for f in fields for i in range(1, f.count("/") + 1)}

    def check(fd: int, rel: str) -> bool:
        for name, kind in _entries(fd).items():
            r = f"{rel}/{name}" if rel else name
            if kind == "dir":
                if r not in fields and r not in parents:
                    return False
                with _subdir(name, fd) as sub:
                    if not check(sub, r):
                        return False
            elif kind == "file":
                if r == ".zmetadata":
                    continue
                if rel not in fields or not _PARQ_RE.match(name) or _head(name, 4, fd) != b"PAR1":
                    return False
            else:
                return False
        return True

    try:
        return check(dfd, "")
    except OSError:
        return False


def _is_icechunk_repo(dfd: int) -> bool:
    """Icechunk (1.x) repository layout under the open folder ``dfd``; nothing foreign."""
    allowed = {"config.yaml": "file", "refs": "dir", "snapshots": "dir", "manifests": "dir",
               "transactions": "dir", "chunks": "dir"}
    try:
        top = _entries(dfd)
        if "refs" not in top or "snapshots" not in top:
            return False
        if any(allowed.get(name) != kind for name, kind in top.items()):
            return False
        snapshots = set()
        for sub in ("snapshots", "manifests", "transactions", "chunks"):
            if sub not in top:
                continue
            with _subdir(sub, dfd) as sfd:
                for name, kind in _entries(sfd).items():
                    if kind != "file" or not _ICE_ID_RE.match(name):
                        return False
                    if sub != "chunks" and _head(name, len(_ICE_MAGIC), sfd) != _ICE_MAGIC:
                        return False
                    if sub == "snapshots":
                        snapshots.add(name)
        branches = 0
        with _subdir("refs", dfd) as rfd:
            for name, kind in _entries(rfd).items():
                if kind != "dir" or not _ICE_REF_RE.match(name):
                    return False
                is_tag = name.startswith("tag.")
                ok_names = ("ref.json", "ref.json.deleted") if is_tag else ("ref.json",)
                with _subdir(name, rfd) as bfd:
                    for fname, fkind in _entries(bfd).items():
                        if fkind != "file" or fname not in ok_names:
                            return False
                        if fname == "ref.json":
                            ref = _read_json(fname, bfd, 4096)
                            if not isinstance(ref, dict) or ref.get("snapshot") not in snapshots:
                                return False
                            branches += not is_tag
        return branches > 0
    except (OSError, ValueError, RecursionError):
        return False


def recognise(path: str | os.PathLike, fmt: str) -> tuple[bool, Fingerprint | None]:
    """Whether ``path`` is an output of format ``fmt``, and the fingerprint of
    the object that was examined (one opened file or folder, so a rename at
    ``path`` during the check cannot mix two objects; compare the fingerprint
    with ``path``'s afterwards to know the answer is about what is there)."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except OSError:
        return False, None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return False, fingerprint(st)  # links and special files are never outputs (and a FIFO is never opened)
    try:
        fd = os.open(path, _DIR if stat.S_ISDIR(st.st_mode) else _RD)
    except OSError:
        return False, fingerprint(st)  # unreadable (or replaced: the caller compares)
    try:
        fst = os.fstat(fd)
        fp = fingerprint(fst)
        if fmt == "kerchunk-json":
            ok = stat.S_ISREG(fst.st_mode) and _is_kerchunk_json(fd, fst.st_size)
        elif not stat.S_ISDIR(fst.st_mode):
            ok = False
        elif fmt == "kerchunk-parquet":
            ok = _is_parquet_refs(fd)
        elif fmt == "icechunk":
            ok = _is_icechunk_repo(fd)
        else:
            ok = False
        return ok, fp
    finally:
        os.close(fd)


def is_output(path: str | os.PathLike, fmt: str) -> bool:
    """True when ``path`` (not followed if a link) is recognisably an output of
    format ``fmt``: the only kind of thing ``overwrite`` may replace."""
    return recognise(path, fmt)[0]


def output_format(path: str | os.PathLike) -> str | None:
    """The format of the earlier output at ``path``, or None when it is none of ours."""
    for fmt in LABELS:
        if is_output(path, fmt):
            return fmt
    return None


def describe(path: str | os.PathLike) -> str:
    """A few words saying what is at ``path`` (for refusals)."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "nothing"
    except OSError as e:
        return f"something that cannot be inspected ({e.strerror or e})"
    if stat.S_ISLNK(st.st_mode):
        try:
            dest = os.readlink(path)
        except OSError:
            dest = "?"
        return f"a symbolic link to {dest}" if os.path.exists(path) else f"a dangling symbolic link to {dest}"
    fmt = output_format(path)
    if fmt:
        return LABELS[fmt]
    if stat.S_ISDIR(st.st_mode):
        try:
            with os.scandir(path) as it:
                n = sum(1 for _ in zip(range(1000), it))
        except OSError:
            return "a folder"
        if n == 0:
            return "an empty folder"
        return f"a folder with {n}{'+' if n == 1000 else ''} entr{'y' if n == 1 else 'ies'}"
    if not stat.S_ISREG(st.st_mode):
        kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
                 stat.S_IFBLK: "a block device"}
        return kinds.get(stat.S_IFMT(st.st_mode), "a special file")
    try:
        head = _head(path, 8)
    except OSError:
        head = b""  # pragma: no cover
    if head.startswith(_HDF5_MAGIC):
        return "an HDF5/NetCDF4 file"
    if head[:4] in (b"CDF\x01", b"CDF\x02", b"CDF\x05"):
        return "a NetCDF3 file"
    if head.startswith(b"PAR1"):
        return "a parquet file"
    if head.lstrip().startswith((b"{", b"[")):
        return "a JSON file that is not kerchunk references"
    return f"a file of {st.st_size:,} bytes"


# -- sources of the dataset ---------------------------------------------------
def _local_path(p: str) -> str | None:
    if p.startswith(FILE_PREFIX):
        p = strip_file_scheme(p)
    elif has_scheme(p) or p.startswith("memory:"):
        return None
    return os.path.abspath(os.path.expanduser(p)) if p else None


def _ident(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


class SourceGuard:
    """Answers "is this path a source of the dataset, or does it hold one?"."""

    def __init__(self, paths: Iterable[str]):
        self._paths = list(dict.fromkeys(p for p in (_local_path(str(p)) for p in paths) if p))
        self._files: dict | None = None

    @classmethod
    def of(cls, vds) -> SourceGuard:
        """Every file ``vds`` names: its sources and every path of its manifests."""
        paths = [s.path for s in getattr(vds, "sources", ())]
        for v in getattr(vds, "variables", {}).values():
            paths.extend(v.manifest.paths)
        return cls(paths)

    def _index(self) -> None:
        files: dict = {}
        dirs: dict = {}
        missing: list[str] = []
        seen_dirs: set[str] = set()
        for p in self._paths:
            try:
                files.setdefault(_ident(os.stat(p)), p)
            except OSError:
                missing.append(os.path.normcase(os.path.realpath(p)))
            for q in {p, os.path.realpath(p)}:
                d = os.path.dirname(q)
                while d not in seen_dirs:
                    seen_dirs.add(d)
                    try:
                        dirs.setdefault(_ident(os.stat(d)), p)
                    except OSError:
                        pass
                    parent = os.path.dirname(d)
                    if parent == d:
                        break
                    d = parent
        self._files, self._dirs, self._missing = files, dirs, missing

    def conflict(self, path: str | os.PathLike) -> str | None:
        """Why ``path`` must not be replaced (it is, links to, or holds a source
        file), or None."""
        if not self._paths:
            return None
        path = os.fspath(path)
        try:
            lst = os.lstat(path)
        except OSError:
            return None
        if self._files is None:
            self._index()
        link = stat.S_ISLNK(lst.st_mode)
        ids = [_ident(lst)]
        if link:
            try:
                ids.append(_ident(os.stat(path)))
            except OSError:
                pass
        how = "a symbolic link to " if link else ""
        for i in ids:
            if i in self._files:
                return f"{how}a source file of the dataset being written"
            if i in self._dirs:
                return f"{how}a folder holding source files of the dataset being written (e.g. {self._dirs[i]})"
        real = os.path.normcase(os.path.realpath(path))
        for m in self._missing:
            if m == real:
                return f"{how}a source file of the dataset being written"
            if m.startswith(real.rstrip(os.sep) + os.sep):
                return f"{how}a folder holding source files of the dataset being written (e.g. {m})"
        return None


# -- the rule ------------------------------------------------------------------
def resolve_target(target: str | os.PathLike) -> str:
    """``target`` with its folder resolved the way the OS resolves it (links
    before ``..``) and its last component kept as is (a link there is not
    followed). Raises a one-line WriteError when the folder is missing."""
    target = os.fspath(target)
    folder, name = os.path.split(target)
    if name in ("", ".", ".."):
        raise WriteError(f"{target}: not a file name to write to")
    parent = os.path.realpath(folder or ".")
    if not os.path.isdir(parent):
        if os.path.lexists(parent):
            raise WriteError(f"{target}: {parent} is not a folder")
        raise WriteError(f"{target}: the folder {parent} does not exist")
    return os.path.join(parent, name)


def check_target(
    target: str | os.PathLike,
    fmt: str,
    *,
    overwrite: bool = False,
    sources: SourceGuard | None = None,
) -> Fingerprint | None:
    """May an output of format ``fmt`` be written at ``target``?

    Returns None when nothing is there, the :class:`Fingerprint` of an earlier
    output of the same format that ``overwrite`` allows replacing, and raises a
    one-line :class:`WriteError` otherwise (:class:`TargetExists` when only
    ``overwrite`` is missing). A source of the dataset (or a folder holding
    one, or a link to one) is refused whatever ``overwrite`` says.
    """
    shown = os.fspath(target)
    path = resolve_target(shown)
    for _ in range(20):
        try:
            os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise WriteError(f"{shown}: cannot check what is there ({e.strerror or e})") from None
        reason = sources.conflict(path) if sources is not None else None
        if reason is not None:
            if overwrite:
                raise WriteError(f"{shown}: not replaced: it is {reason}")
            raise WriteError(f"{shown}: already exists ({reason}); choose another path")
        ok, fp = recognise(path, fmt)
        try:
            now = fingerprint(os.lstat(path))
        except FileNotFoundError:
            continue
        if fp is not None and now == fp:
            break  # the answer is about what is there now
        # replaced while it was examined (a concurrent writer): look again
    else:
        raise WriteError(f"{shown}: keeps changing while it is checked; not written")
    if not ok:
        what = describe(path)
        if overwrite:
            raise WriteError(f"{shown}: not replaced: it is {what}; overwrite replaces only {LABELS[fmt]} written earlier")
        raise WriteError(f"{shown}: already exists ({what}); choose another path")
    if not overwrite:
        raise TargetExists(shown, f"{LABELS[fmt]} written earlier")
    return fp
