"""Confinement: which files and hosts a reference set may make vz read.

A reference file names the bytes to read: any local path, any URL. Opened
blindly, a file from a stranger reads ``/etc/passwd`` or a cloud metadata
service and shows it as values. So references read from a file, a parquet
folder or an Icechunk repository are *confined*: every path they name is
resolved (relative paths against the reference file's folder, ``~`` expanded,
``file://`` stripped, symlinks followed) and must lie under a **granted root**:

1. the folder holding the reference file (or parquet folder / repository),
   unless it is ``/``, your home folder or an ancestor of it;
2. the **recorded roots**: the source folders the writer recorded in the
   references (``"vz_source_roots"``: a top-level key of the JSON, which
   fsspec ignores, and a key of parquet's ``.zmetadata``; Icechunk's virtual
   chunk containers). A hostile file can record anything, so a recorded root
   is honoured only when it cannot reach what matters: never ``/``, your home
   folder or its ancestors, system trees (``/etc``, ``/proc``, ``/sys``,
   ``/dev``, ``/boot``, ``/run``, ``/var``, ``/usr``, ``/bin``, ``/sbin``,
   ``/lib*``, ``/snap``; macOS ``/System``, ``/Library``, ``/private/etc``),
   hidden folders (``~/.ssh``, ``~/.aws``, ...); a local root only from a
   local reference file; a remote root only for ``http(s)``, ``s3``, ``gs``/
   ``gcs``, ``az``/``abfs(s)``, with a host that is not ``localhost``, an
   ``.internal``/``.local`` name or a loopback, private, link-local or
   reserved IP address;
3. ``allowed_roots``: folders, files or URL prefixes you name (the CLI's and
   ``%vz``'s ``--allow``); ``"s3://"`` grants a whole protocol, ``"*"``
   turns confinement off.

Under roots 1 and 2, paths with a hidden component (``.git``, ``.ssh``) below
the root are refused too. Remote URLs must match a granted prefix
(``scheme://host[:port]/path/``, credentials ignored), may not contain ``..``
segments, and redirects are checked the same way (see
:mod:`vz_jupyter.core.remote`). A refusal is a one-line :class:`AccessRefused`
naming the path (credentials redacted) and the ``allowed_roots``/``--allow``
value that grants it.

What a recorded root grants, honestly: reading the files under it, as values,
by anyone who opens the references. Open references from strangers with
``trust_recorded_roots=False`` (only the file's own folder and what you name)
when that matters. Objects you built in Python (a ``VDataset``, an in-memory
dict) are yours and are not confined unless you pass ``allowed_roots``.
Not covered: a DNS name that resolves to a private address, and a server
that lies consistently about the bytes it sends.

Non-regular local files (FIFOs, devices, sockets) are never read:
:func:`open_regular` refuses them without blocking.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import posixpath
import socket
import stat
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urljoin

from .errors import ScanError
from .model import Manifest
from .urls import (
    FILE_PREFIX,
    has_dot_segments,
    has_scheme,
    is_url,
    redact,
    split,
    strip_credentials,
    strip_file_scheme,
    strip_for_writing,
    url_root,
)

#: the key under which writers record the source roots (JSON top level, parquet .zmetadata)
RECORD_KEY = "vz_source_roots"
#: protocols a recorded root may grant
REMOTE_PROTOCOLS = frozenset({"http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
#: folders a recorded root may never be in (nor be)
SYSTEM_TREES = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var", "/usr", "/bin", "/sbin", "/lib",
                "/lib32", "/lib64", "/libx32", "/snap", "/System", "/Library", "/private/etc", "/private/var/root",
                "/private/var/db")
#: recorded roots honoured per reference set (writers coarsen beyond this)
MAX_RECORDED_ROOTS = 256


class AccessRefused(ScanError):
    """References named something outside the roots they may read."""


class NotRegularFile(ScanError):
    """A referenced local path is a FIFO, device, socket or directory."""


# ---------------------------------------------------------------------------
# local files


def open_regular(path: str, where: str = "") -> int:
    """A read-only descriptor on a regular file; FIFOs, devices, sockets and
    directories are refused with one line (and never opened blocking)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ScanError(path, f"no such file{where}") from None
    except OSError as e:
        raise ScanError(path, f"cannot open ({e.strerror or e}){where}") from None
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, f"not a regular file ({_kind(st.st_mode)}){where}; vz reads only regular files")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ScanError(path, f"cannot open ({e.strerror or e}){where}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # swapped between stat and open
        os.close(fd)
        raise NotRegularFile(path, f"not a regular file ({_kind(st.st_mode)}){where}; vz reads only regular files")
    return fd


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a file"


def read_local(path: str, start: int | None = None, end: int | None = None) -> bytes:
    """Bytes ``[start, end)`` of a regular local file (all of it for None)."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        s = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        e = size if end is None else (end if end >= 0 else max(size + end, 0))
        e = min(e, size)
        if e <= s:
            return b""
        out = bytearray()
        while len(out) < e - s:
            block = os.pread(fd, e - s - len(out), s + len(out))
            if not block:
                break
            out += block
        return bytes(out)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# roots


def _real(p: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(p)))


def _under(path: str, root: str) -> bool:
    if root == os.sep:
        return True
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hidden_below(path: str, root: str) -> bool:
    rest = path[len(root):] if root != os.sep else path
    return any(part.startswith(".") for part in rest.split(os.sep) if part)


def _home() -> str:
    return _real("~")


def local_root_problem(real: str, *, recorded: bool) -> str | None:
    """Why a folder may not be granted implicitly (None when it may)."""
    if real == os.sep:
        return "the file system root"
    home = _home()
    if real == home:
        return "your home folder"
    if _under(home, real):
        return "an ancestor of your home folder"
    if recorded:
        for t in SYSTEM_TREES:
            if _under(real, t):
                return "a system folder"
        if any(part.startswith(".") for part in real.split(os.sep) if part):
            return "a hidden folder"
    return None


def _ip_problem(hostname: str) -> str | None:
    h = hostname.strip("[]")
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        ip = None
        if h and all(c in "0123456789abcdefx." for c in h):  # 2130706433, 0x7f.1, 127.1
            try:
                ip = ipaddress.ip_address(socket.inet_aton(h))
            except (OSError, ValueError):
                ip = None
    if ip is None:
        return None
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "a loopback, private or link-local address"
    return None


def remote_root_problem(root: str) -> str | None:
    """Why a recorded URL prefix may not be honoured (None when it may)."""
    if "::" in root:
        return "a chained URL"
    scheme, host, path = split(root)
    if scheme not in REMOTE_PROTOCOLS:
        return f"the {scheme}:// protocol"
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not hostname:
        return "a URL without a host"
    name = hostname.lower().rstrip(".")
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return "a local host name"
    ipp = _ip_problem(name)
    if ipp:
        return ipp
    if has_dot_segments(path):
        return "a URL with '..' segments"
    return None


def _remote_key(url: str) -> str:
    scheme, host, path = split(url)
    return f"{scheme}://{host}{path}"


def _norm_remote_root(r: str) -> str:
    r = strip_credentials(r)
    if r.endswith("://"):
        return r.lower()
    return _remote_key(r)


@dataclass(frozen=True)
class Grant:
    root: str  # a real local path or a remote prefix "scheme://host/path"
    how: str  # "allowed" (named by the user), "folder" (the reference's own), "recorded"

    @property
    def remote(self) -> bool:
        return has_scheme(self.root)


def recorded_roots(obj) -> list[str]:
    """The roots recorded in a reference document (JSON dict or parquet
    .zmetadata dict); malformed entries are ignored."""
    if not isinstance(obj, dict):
        return []
    roots = obj.get(RECORD_KEY)
    if not isinstance(roots, list):
        return []
    return [r for r in roots[:MAX_RECORDED_ROOTS] if isinstance(r, str) and r]


# ---------------------------------------------------------------------------
# the policy


class Confinement:
    """The roots one reference set may read, and the folder its relative
    paths resolve against. Build with :meth:`for_references`."""

    def __init__(self, origin: str, base: str | None, grants: Sequence[Grant], notes: Sequence[str] = (),
                 everything: bool = False):
        self.origin = origin
        self.base = base
        self.grants = tuple(grants)
        self.notes = tuple(notes)
        self.everything = everything
        self._local = [g for g in self.grants if not g.remote]
        self._remote = [g for g in self.grants if g.remote]

    @classmethod
    def for_references(cls, location: str | None, recorded: Iterable[str] = (), allowed_roots=None, *,
                       trust_recorded_roots: bool = True) -> Confinement:
        """The confinement of references stored at ``location`` (a file, a
        parquet folder, a repository; a URL; None for in-memory references)."""
        grants: list[Grant] = []
        notes: list[str] = []
        everything = False
        for r in _as_list(allowed_roots):
            if r == "*":
                everything = True
            elif has_scheme(r):
                grants.append(Grant(_norm_remote_root(r), "allowed"))
            else:
                grants.append(Grant(_real(r), "allowed"))
        base = None
        remote_ref = False
        if location is not None:
            loc = strip_file_scheme(location)
            if is_url(loc):
                remote_ref = True
                base = url_root(loc)
                grants.append(Grant(_remote_key(base), "folder"))
            else:
                base = os.path.dirname(os.path.abspath(loc.rstrip(os.sep) or os.sep))
                real = _real(base)
                why = local_root_problem(real, recorded=False)
                if why:
                    notes.append(f"the reference's own folder {real} is {why}, which is never granted implicitly")
                else:
                    grants.append(Grant(real, "folder"))
        for r in recorded if trust_recorded_roots else ():
            r = str(r)
            if is_url(r):
                why = remote_root_problem(r)
                if why:
                    notes.append(f"recorded root {redact(r)} is {why}")
                else:
                    grants.append(Grant(_norm_remote_root(r), "recorded"))
                continue
            r = strip_file_scheme(r)
            if remote_ref:
                notes.append(f"recorded root {r} is local, which a remote reference file cannot grant")
            elif not os.path.isabs(r) or r.startswith("~"):
                notes.append(f"recorded root {r} is not an absolute path")
            else:
                real = _real(r)
                why = local_root_problem(real, recorded=True)
                if why:
                    notes.append(f"recorded root {r} is {why}")
                else:
                    grants.append(Grant(real, "recorded"))
        conf = cls(str(location) if location is not None else "<references>", base, grants, notes, everything)
        conf._made = (location, tuple(recorded), allowed_roots, trust_recorded_roots)
        return conf

    def with_recorded(self, recorded: Iterable[str]) -> Confinement:
        """The same confinement with the roots recorded in the references added
        (for readers that learn them only after reading the file)."""
        location, before, allowed_roots, trust = getattr(self, "_made", (self.origin, (), None, True))
        return Confinement.for_references(location, list(before) + list(recorded), allowed_roots,
                                          trust_recorded_roots=trust)

    # -- checks ---------------------------------------------------------------
    def resolve(self, url: str) -> str:
        """The path or URL that reading ``url`` will touch, if it is granted;
        else a one-line :class:`AccessRefused`."""
        u = str(url)
        if u.startswith("data:"):  # the bytes are in the URL (a shared fill chunk): nothing else is read
            return u
        if u.startswith(FILE_PREFIX):
            rest = strip_file_scheme(u)
            if rest.startswith("localhost/"):
                rest = rest[len("localhost"):]
            if not rest.startswith("/"):
                raise self._refuse(u, "a file:// URL naming another host")
            u = rest
        elif has_scheme(u) or "::" in u:
            self.check_url(u)
            return u
        if u.startswith("~"):
            p = os.path.expanduser(u)
        elif os.path.isabs(u):
            p = u
        elif self.base is not None and has_scheme(self.base):
            joined = urljoin(self.base, u)
            self.check_url(joined)
            return joined
        elif self.base is not None:
            p = os.path.join(self.base, u)
        else:
            p = os.path.abspath(u)
            if not self.everything:
                raise self._refuse(u, "a relative path in references that have no folder to resolve it against")
        p = os.path.normpath(p)
        if self.everything:
            return p
        real = os.path.realpath(p)
        hidden = False
        for g in self._local:
            if _under(real, g.root):
                if g.how != "allowed" and _hidden_below(real, g.root):
                    hidden = True
                    continue
                return p
        why = "a hidden file or folder below the granted roots" if hidden else None
        if real != p and not hidden:
            why = f"a link to {real}, outside the roots it may read"
        raise self._refuse(p, why, suggest=os.path.dirname(real) if not hidden else real)

    def check_url(self, url: str) -> None:
        """Refuse a remote URL outside the granted prefixes (also used for
        redirects)."""
        if self.everything:
            return
        u = str(url)
        if "::" in u:
            if any(g.how == "allowed" and strip_credentials(u).startswith(g.root) for g in self._remote):
                return
            raise self._refuse(u, "a chained URL (grant it with allowed_roots)")
        scheme, host, path = split(u)
        if has_dot_segments(path):
            raise self._refuse(u, "a URL with '..' segments cannot be checked against roots", suggest="*")
        key = f"{scheme}://{host}{path}"
        for g in self._remote:
            r = g.root
            if r.endswith("://"):
                if r == f"{scheme}://":
                    return
            elif key == r or key.startswith(r if r.endswith("/") else r + "/"):
                return
        raise self._refuse(u, None, suggest=url_root(u))

    def _refuse(self, path: str, why: str | None, suggest: str | None = None) -> AccessRefused:
        shown = redact(path)
        reason = f" ({why})" if why else ""
        s = redact(suggest or path)
        fix = (f"to read it pass allowed_roots=[{s!r}] (CLI and %vz: --allow {s})" if s != "*" else
               "fix the reference, or pass allowed_roots='*' to turn confinement off")
        return AccessRefused(self.origin, f"references {shown}{reason}, outside the roots it may read "
                                          f"({self.describe()}); {fix}")

    def describe(self) -> str:
        """The granted roots in a few words."""
        parts = []
        for how, label in (("folder", "the reference folder"), ("recorded", "recorded root"), ("allowed", "allowed root")):
            gs = [g.root for g in self.grants if g.how == how]
            if len(gs) == 1 or (gs and how == "folder"):
                parts.append(f"{label} {redact(gs[0])}")
            elif gs:
                parts.append(f"{len(gs)} {label}s such as {redact(gs[0])}")
        text = ", ".join(parts) or "no roots"
        if self.notes:
            more = f" (+{len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
            text += f"; not granted: {self.notes[0]}{more}"
        return text

    def __repr__(self) -> str:
        return f"<Confinement of {redact(self.origin)}: {self.describe()}>"


def _as_list(allowed_roots) -> list[str]:
    if allowed_roots is None:
        return []
    if isinstance(allowed_roots, (str, os.PathLike)):
        allowed_roots = [allowed_roots]
    return [os.fspath(r) for r in allowed_roots]


# ---------------------------------------------------------------------------
# what writers record


def source_roots(paths: Iterable[str], limit: int = MAX_RECORDED_ROOTS) -> list[str]:
    """The roots to record for references to ``paths``: the folders of local
    files and the ``scheme://host/folder/`` of URLs (credentials dropped),
    minimal (no root under another), coarsened to at most ``limit``."""
    local, remote = set(), set()
    for p in paths:
        p = strip_file_scheme(p)
        if has_scheme(p):
            if "::" not in p:
                remote.add(url_root(p))
        else:
            local.add(os.path.dirname(os.path.abspath(p)))
    loc = _minimal(local, os.sep)
    rem = _minimal(remote, "/")
    while len(loc) + len(rem) > limit and len(loc) > 1:
        loc = _minimal({os.path.dirname(r) for r in loc}, os.sep)
    while len(loc) + len(rem) > limit and len(rem) > 1:
        rem = _minimal({_url_parent(r) for r in rem}, "/")
    return sorted(loc) + sorted(rem)


def _url_parent(r: str) -> str:
    scheme, rest = r.split("://", 1)
    host, _, path = rest.partition("/")
    parent = posixpath.dirname(path.rstrip("/"))
    return f"{scheme}://{host}/" + (parent + "/" if parent else "")


def _minimal(roots: set, sep: str) -> list[str]:
    out: list[str] = []
    for r in sorted(roots, key=len):
        rr = r if r.endswith(sep) else r + sep
        if not any(rr.startswith(o if o.endswith(sep) else o + sep) for o in out):
            out.append(r)
    return out


def for_writing(vds):
    """``vds`` with credentials stripped from every path (one warning when any
    were), ready to be written into references."""
    all_paths = {p for v in vds.variables.values() for p in v.manifest.paths}
    if not any(has_scheme(p) for p in all_paths):
        return vds
    table = dict(zip(sorted(all_paths), strip_for_writing(sorted(all_paths))))
    if all(k == v for k, v in table.items()):
        return vds
    variables = {}
    for name, v in vds.variables.items():
        m = v.manifest
        variables[name] = v.replace(manifest=Manifest(tuple(table[p] for p in m.paths), m.path_id, m.offset,
                                                      m.length, m.inline))
    sources = tuple(dataclasses.replace(s, path=strip_credentials(s.path)) for s in vds.sources)
    return vds.replace(variables=variables, sources=sources)



# ---------------------------------------------------------------------------
# the confinement in force while references are being read

_ACTIVE: ContextVar[Confinement | None] = ContextVar("vz_confinement", default=None)


@contextmanager
def confined(conf: Confinement | None):
    """Make ``conf`` the confinement of the references read inside the block
    (the reference readers resolve every path through :func:`resolve_path`)."""
    token = _ACTIVE.set(conf)
    try:
        yield conf
    finally:
        _ACTIVE.reset(token)


def active() -> Confinement | None:
    return _ACTIVE.get()


def resolve_path(url: str) -> str:
    """A path named by references as the model keeps it: resolved and checked
    by the confinement in force, or (none in force: objects built in Python)
    made absolute as before."""
    conf = _ACTIVE.get()
    if conf is None:
        # load order: importing the scan package loads its refs module, which imports this one
        from .scan.files import normalize_path

        return normalize_path(url)
    return conf.resolve(url)
