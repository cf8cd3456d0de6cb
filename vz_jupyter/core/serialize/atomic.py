"""Putting an output in place: private staging, exclusive create, atomic
exchange, clean-up on signals and a sweep of stale temporaries.

Every write builds its output inside a private sibling of the target::

    .vz-<pid>-<16 hex>.tmp/     mode 0700, made by this writer
        owner.json              pid, process start time, host, token, target,
                                format and the identity of ``out``; flock()ed
                                for as long as the writer lives
        out                     the output being built (a file or a folder)
        old                     (only without rename-exchange) the earlier output
                                being replaced, moved aside

and then moves ``out`` into place in one step:

* a new target: ``renameat2(RENAME_NOREPLACE)`` on Linux
  (``renamex_np(RENAME_EXCL)`` on macOS), else ``link()`` for a file and
  ``rename()`` for a folder (which fails on an existing file or non-empty
  folder): of concurrent writers exactly one wins, the others get a one-line
  refusal;
* replacing an earlier output (``overwrite``): ``renameat2(RENAME_EXCHANGE)``
  swaps the two atomically; the displaced one is checked again (still an
  earlier output of the format, not a source) and deleted, or swapped back
  when it is not. Without exchange: ``rename()`` over the file, or the folder
  moved aside to ``old`` and deleted once the new one is in place.

While a write runs in the main thread, SIGTERM, SIGINT and SIGHUP stop it
cleanly: the staging folder is removed, the previous handlers are restored
and the signal is delivered again (so the process ends, or raises
KeyboardInterrupt, as it would have). SIGKILL cannot be caught: the next write
into the same folder sweeps staging folders that are provably ours and stale
(name, owner.json, same host and user, writer's lock free, its pid gone or
reused; or, killed before
owner.json was written, holding only an empty owner file and an empty ``out``) --
and nothing else. A folder is listed again when it changed since
our last write there, still held a staging folder then, or a minute has passed.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ..errors import WriteError
from .outputs import SourceGuard, check_target, fingerprint, is_output, resolve_target
from .signals import SignalGuard
from .staging import MAGIC, OWNER, STAGING_RE, Staging, _alive, _host, remove

NOREPLACE, EXCHANGE = 1, 2
_AT_FDCWD = -100
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}
#: False makes every placement take the portable path (tests exercise both)
USE_RENAME2 = True
_rename2_fn: tuple | None = None


# -- rename with flags ---------------------------------------------------------
def _resolve_rename2():
    global _rename2_fn
    if _rename2_fn is None:
        fn = style = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if sys.platform.startswith("linux"):
                fn, style = libc.renameat2, "linux"
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            elif sys.platform == "darwin":  # pragma: no cover - not run in CI
                fn, style = libc.renamex_np, "darwin"
                fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
            if fn is not None:
                fn.restype = ctypes.c_int
        except (OSError, AttributeError):
            fn = style = None
        _rename2_fn = (fn, style)
    return _rename2_fn


def rename2(src: str, dst: str, flag: int) -> bool:
    """``rename(src, dst)`` with ``NOREPLACE`` or ``EXCHANGE``. Returns False
    when this OS or file system cannot do it; raises OSError (e.g.
    FileExistsError) when it can but the rename fails."""
    if not USE_RENAME2:
        return False
    fn, style = _resolve_rename2()
    if fn is None:
        return False
    a, b = os.fsencode(src), os.fsencode(dst)
    if style == "linux":
        r = fn(_AT_FDCWD, a, _AT_FDCWD, b, flag)
    else:  # pragma: no cover - macOS: RENAME_EXCL = 4, RENAME_SWAP = 2
        r = fn(a, b, {NOREPLACE: 4, EXCHANGE: 2}[flag])
    if r == 0:
        return True
    e = ctypes.get_errno()
    if e in _UNSUPPORTED:
        return False
    raise OSError(e, os.strerror(e), dst)


def _exists_error(path: str) -> FileExistsError:
    return FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)


def place_new(src: str, dst: str, *, is_dir: bool) -> None:
    """Move ``src`` to ``dst`` only if nothing is at ``dst`` (atomically: of
    several callers exactly one succeeds); FileExistsError otherwise."""
    if rename2(src, dst, NOREPLACE):
        return
    if os.path.lexists(dst):
        raise _exists_error(dst)
    if not is_dir:
        try:
            os.link(src, dst)
        except FileExistsError:
            raise
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
            # no hard links here: claim the name exclusively, then fill it atomically
            os.close(os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            os.replace(src, dst)
        else:
            os.unlink(src)
        return
    try:
        # rename() onto a file or a non-empty folder fails, and our folder is
        # never empty; only an empty folder appearing just now would be replaced
        os.rename(src, dst)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise _exists_error(dst) from None
        raise


def sweep(parent: str) -> int:
    """Remove the stale staging folders of killed writers from ``parent``;
    returns how many. Only folders provably ours and stale are touched."""
    return _sweep(parent)[0]


def _sweep(parent: str) -> tuple[int, int]:
    """(removed, still there) staging folders in ``parent``."""
    try:
        with os.scandir(parent) as it:
            names = [e.name for e in it if e.name.startswith(".vz-")]
    except OSError:
        return 0, 0
    removed = kept = 0
    for name in names:
        m = STAGING_RE.match(name)
        if not m:
            continue
        try:
            ok = _sweep_one(os.path.join(parent, name), int(m[1]), m[2])
        except OSError:
            ok = False
        removed += ok
        kept += not ok
    return removed, kept


#: per folder: (its mtime after our last write there, when it was last listed),
#: kept only when that listing left no staging folder behind -- an unchanged
#: folder is not listed again for a while, so writing many outputs into one big
#: folder stays linear
_CLEAN: dict[str, tuple[int, float]] = {}
#: list a folder again after this many seconds even if its mtime looks unchanged
#: (coarse file-system clocks can hide a change made in the same tick)
RELIST_AFTER = 60.0


def _sweep_if_changed(parent: str) -> None:
    try:
        mtime = os.stat(parent).st_mtime_ns
    except OSError:
        return
    rec = _CLEAN.pop(parent, None)
    now = time.monotonic()
    if rec is not None and rec[0] == mtime and now - rec[1] < RELIST_AFTER:
        _CLEAN[parent] = rec
        return
    if _sweep(parent)[1] == 0:
        _CLEAN[parent] = (-1, now)  # its mtime is recorded after our write


def _note_clean(parent: str) -> None:
    rec = _CLEAN.get(parent)
    if rec is not None:
        try:
            _CLEAN[parent] = (os.stat(parent).st_mtime_ns, rec[1])
        except OSError:
            _CLEAN.pop(parent, None)


def _sweep_one(path: str, pid: int, token: str) -> bool:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
        return False
    owner = os.path.join(path, OWNER)
    try:
        fd = os.open(owner, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return _sweep_unborn(path, pid, None)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_size > 65536:
            return False
        if fst.st_size == 0:
            return _sweep_unborn(path, pid, fd)
        try:
            info = json.loads(os.read(fd, 65536))
        except ValueError:
            return False
        if not (isinstance(info, dict) and info.get("magic") == MAGIC and info.get("pid") == pid
                and info.get("token") == token and info.get("host") == _host()):
            return False
        if _alive(pid, info.get("start")):
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # its writer still holds it
        fmt = info.get("format")
        name = info.get("target")
        old = os.path.join(path, "old")
        if os.path.lexists(old):
            if not is_output(old, fmt):
                return False
            plain = isinstance(name, str) and "/" not in name and name not in ("", ".", "..")
            target = os.path.join(os.path.dirname(path), name) if plain else None
            restored = False
            if target is not None and not os.path.lexists(target):
                try:  # killed between moving the earlier output aside and putting the new one in
                    place_new(old, target, is_dir=True)
                    restored = True
                except OSError:
                    pass
            if not restored:
                remove(old)
        out = os.path.join(path, "out")
        try:
            ost = os.lstat(out)
        except FileNotFoundError:
            pass
        else:
            if [ost.st_dev, ost.st_ino] != info.get("out") and not is_output(out, fmt):
                return False
            remove(out)
        os.unlink(owner)
        os.rmdir(path)
        return True
    finally:
        os.close(fd)


def _sweep_unborn(path: str, pid: int, fd: int | None) -> bool:
    """A staging folder whose writer was killed while creating it (between the
    ``mkdir`` and writing ``owner.json``): removed only when its pid is gone,
    its lock (if the owner file exists) is free and it holds nothing but an
    empty owner file and an empty ``out`` -- nothing of anyone's is in it.
    Everything is removed without recursion, so anything that appears
    meanwhile keeps the folder."""
    if _alive(pid, None):
        return False
    if fd is not None and fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
    names = set(os.listdir(path))
    if not names <= {OWNER, "out"}:
        return False
    out = os.path.join(path, "out")
    if "out" in names:
        st = os.lstat(out)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(out)  # fails unless empty
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(out)
        else:
            return False
    if OWNER in names:
        os.unlink(os.path.join(path, OWNER))
    os.rmdir(path)
    return True


# -- the whole write -----------------------------------------------------------------
def os_error_text(e: BaseException) -> str:
    """One line for an OS-level failure: the OS's words for its errno when the
    message carries one (``[errno 28]``, ``(os error 28)``), else its first line."""
    n = getattr(e, "errno", None) if isinstance(e, OSError) else None
    if not isinstance(n, int):
        m = re.search(r"(?:os error|errno)\s*(\d+)", str(e), re.IGNORECASE)
        n = int(m.group(1)) if m else None
    if n:
        try:
            return os.strerror(n)
        except ValueError:  # pragma: no cover
            pass
    for line in str(e).splitlines():
        line = re.sub(r"\Ax\s+", "", line.strip())  # Icechunk's report starts "  x ..."
        if line:
            return line
    return type(e).__name__


def _os_error(shown: str, e: OSError) -> WriteError:
    return WriteError(f"{shown}: cannot write ({os_error_text(e)})")


def _still_replaceable(path: str, fp, fmt: str, sources: SourceGuard | None) -> bool:
    """Is the thing now at ``path`` (displaced from the target) the earlier
    output that was checked, or at least an earlier output of ``fmt``?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if fingerprint(st) == fp and not stat.S_ISDIR(st.st_mode):
        return True
    return is_output(path, fmt) and (sources is None or sources.conflict(path) is None)


def _changed(shown: str, kept: str | None = None) -> WriteError:
    if kept:
        return WriteError(f"{shown}: changed by someone else while writing; not replaced (what was there is kept at {kept})")
    return WriteError(f"{shown}: changed by someone else while writing; not replaced")


def _put_back(st: Staging, shown: str) -> None:
    """The output moved aside is not the one we may replace: put it back and
    refuse; if something took its place meanwhile, keep it aside and say where."""
    try:
        place_new(st.old, st.target, is_dir=True)
    except OSError:
        st.keep = True
        raise _changed(shown, st.old) from None
    raise _changed(shown)


def _place_expected(st: Staging, shown: str, expect) -> None:
    """Replace the target only if it is still the object fingerprinted as
    ``expect`` (the version an append read): a compare-and-swap."""
    def now():
        try:
            return fingerprint(os.lstat(st.target))
        except FileNotFoundError:
            raise WriteError(f"{shown}: removed by someone else while appending; nothing written") from None

    if now() != expect:
        raise _changed(shown)
    if rename2(st.out, st.target, EXCHANGE):
        try:
            displaced = fingerprint(os.lstat(st.out))
        except OSError:  # pragma: no cover
            displaced = None
        if displaced == expect:
            remove(st.out)
            return
        if rename2(st.out, st.target, EXCHANGE):
            raise _changed(shown)
        st.keep = True  # pragma: no cover - a third party changed it twice
        raise _changed(shown, st.out)  # pragma: no cover
    if st.kind == "file":
        os.replace(st.out, st.target)  # pragma: no cover - only without renameat2
        return
    os.rename(st.target, st.old)
    try:
        displaced = fingerprint(os.lstat(st.old))
    except OSError:  # pragma: no cover
        displaced = None
    if displaced != expect:
        _put_back(st, shown)
    try:
        place_new(st.out, st.target, is_dir=True)
    except OSError:  # something appeared there meanwhile: keep what was ours aside, say where
        st.keep = True
        raise _changed(shown, st.old) from None
    remove(st.old)


def _place(st: Staging, shown: str, overwrite: bool, sources: SourceGuard | None, expect=None) -> None:
    if expect is not None:
        return _place_expected(st, shown, expect)
    is_dir = st.kind == "dir"
    for _ in range(8):
        try:
            place_new(st.out, st.target, is_dir=is_dir)
            return
        except FileExistsError:
            pass
        # something is there now: the same rules as before the write
        fp = check_target(shown, st.fmt, overwrite=overwrite, sources=sources)
        if fp is None:
            continue  # gone again
        if rename2(st.out, st.target, EXCHANGE):
            if _still_replaceable(st.out, fp, st.fmt, sources):
                remove(st.out)
                return
            if rename2(st.out, st.target, EXCHANGE):
                raise _changed(shown)
            st.keep = True  # pragma: no cover - a third party changed it twice
            raise _changed(shown, st.out)  # pragma: no cover
        if not is_dir:
            try:
                now = fingerprint(os.lstat(st.target))
            except FileNotFoundError:
                continue
            if now != fp:
                continue
            os.replace(st.out, st.target)
            return
        # a folder and no exchange: move the earlier output aside, ours in, then delete it
        try:
            os.rename(st.target, st.old)
        except FileNotFoundError:
            continue
        if not _still_replaceable(st.old, fp, st.fmt, sources):
            _put_back(st, shown)
        try:
            place_new(st.out, st.target, is_dir=True)
        except FileExistsError:
            remove(st.old)  # a concurrent writer put its output in: replace that one
            continue
        remove(st.old)
        return
    raise WriteError(f"{shown}: other writers keep replacing it; not written")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` into the existing file ``path`` and flush it to disk."""
    with open(path, "wb") as f:
        view = memoryview(data)
        for i in range(0, len(view), 1 << 24):
            f.write(view[i:i + (1 << 24)])
        f.flush()
        os.fsync(f.fileno())


def write_output(
    target: str | os.PathLike,
    fmt: str,
    fill: Callable[[str], object],
    *,
    kind: str,
    overwrite: bool = False,
    sources: SourceGuard | None = None,
    precheck: bool = True,
    expect=None,
) -> str:
    """Build an output of format ``fmt`` with ``fill(path)`` (``kind`` "file":
    the file at ``path`` exists, empty; "dir": the folder exists, empty) and
    put it at ``target`` -- exclusively, or replacing an earlier output of the
    same format when ``overwrite`` (never a source in ``sources``). Returns
    ``target``. Nothing is left behind when anything fails or a signal stops
    it; OS errors become one-line WriteErrors. ``precheck=False`` when the
    caller has just called :func:`check_target` itself (the rules are applied
    again, race-free, when the output is moved into place). ``expect`` (a
    :class:`~.outputs.Fingerprint`): replace only that object -- the version
    an append read; anything else there, or nothing, is refused."""
    shown = os.fspath(target)
    path = resolve_target(shown)
    if precheck:
        check_target(shown, fmt, overwrite=overwrite, sources=sources)
    with SignalGuard(shown) as guard:
        st = Staging(path, fmt, kind)
        try:
            with guard.critical():
                _sweep_if_changed(st.parent)
                try:
                    st.create()
                except OSError as e:
                    raise WriteError(f"{shown}: cannot write in {st.parent} ({e.strerror or e})") from None
            try:
                fill(st.out)
            except OSError as e:
                raise _os_error(shown, e) from None
            except WriteError as e:
                if str(e).startswith(f"{shown}: "):
                    raise
                raise WriteError(f"{shown}: {e}") from None
            with guard.critical():
                try:
                    _place(st, shown, overwrite, sources, expect)
                except OSError as e:
                    raise _os_error(shown, e) from None
                guard.done = True
                _fsync_dir(st.parent)
        finally:
            with guard.critical():
                st.discard()
                _note_clean(st.parent)
    return shown
