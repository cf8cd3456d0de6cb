"""The staging folder an output is built in (``.vz-<pid>-<token>.tmp``, its
``owner.json`` and ``out``; see :mod:`vz_jupyter.core.serialize.atomic`), and
who is alive: the facts the sweep of stale staging folders relies on."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import stat

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STAGING_RE = re.compile(r"\.vz-([0-9]+)-([0-9a-f]{16})\.tmp\Z")
OWNER = "owner.json"
MAGIC = "vz_jupyter write in progress"


def remove(path: str) -> None:
    """Delete a file, link or folder tree (links are removed, never followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


# -- who is alive ----------------------------------------------------------------
def _host() -> str:
    return socket.gethostname()


def _start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data.rpartition(b")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start) -> bool:
    if os.name == "nt" or pid <= 0:  # pragma: no cover - never guess there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return True
    if start is not None:
        now = _start_time(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
    return True


# -- staging -----------------------------------------------------------------------
class Staging:
    """The private sibling folder an output is built in (see the module doc)."""

    def __init__(self, target: str, fmt: str, kind: str):
        if kind not in ("file", "dir"):
            raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
        self.target = target
        self.parent = os.path.dirname(target)
        self.fmt = fmt
        self.kind = kind
        self.token = secrets.token_hex(8)
        self.dir = os.path.join(self.parent, f".vz-{os.getpid()}-{self.token}.tmp")
        self.out = os.path.join(self.dir, "out")
        self.old = os.path.join(self.dir, "old")
        self.keep = False  # True: something not ours sits here; never delete it
        self._fd: int | None = None
        self._made = False

    def create(self) -> Staging:
        os.mkdir(self.dir, 0o700)
        self._made = True
        fd = os.open(os.path.join(self.dir, OWNER), os.O_CREAT | os.O_EXCL | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o600)
        self._fd = fd
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # no locks on this file system: the pid check still guards it
                pass
        if self.kind == "file":
            os.close(os.open(self.out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        else:
            os.mkdir(self.out, 0o777)
        st = os.lstat(self.out)
        info = {
            "magic": MAGIC, "pid": os.getpid(), "start": _start_time(os.getpid()), "host": _host(),
            "token": self.token, "target": os.path.basename(self.target), "format": self.fmt,
            "kind": self.kind, "out": [st.st_dev, st.st_ino],
        }
        os.write(fd, json.dumps(info).encode())
        return self

    def discard(self) -> None:
        """Remove the staging folder and what it holds (unless ``keep``)."""
        if not self._made:
            return
        try:
            if not self.keep:
                remove(self.out)
                remove(self.old)
                os.unlink(os.path.join(self.dir, OWNER))
                os.rmdir(self.dir)
        finally:
            if self._fd is not None:
                os.close(self._fd)  # releases the lock
                self._fd = None
            self._made = False
