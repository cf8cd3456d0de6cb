"""Bounded variable-length reads: the forked scan a watchdog can kill.

Variable-length data (strings, ragged arrays) lives in HDF5's global heap, and
HDF5 (1.x and 2.0) loops forever parsing some damaged heaps (a free-space object
of size 0), in C code that nothing in this process can interrupt. So before the
first such read of a scan, the whole scan runs again in a forked child process
that reports progress after each variable; a child silent for
:data:`VLEN_TIMEOUT` seconds is killed and the file reported as damaged.
"""
from __future__ import annotations

import contextvars
import os
import pickle
import select
import signal
from collections.abc import Callable
from typing import Any

import h5py

from ...errors import ScanError
from .problems import condense_h5_error

#: seconds HDF5 may spend on one variable of a file with variable-length data
#: (strings, ragged arrays) before the scan gives up on the file
VLEN_TIMEOUT = float(os.environ.get("VZ_HDF5_VLEN_TIMEOUT", "60"))

#: the current scan's guard, called before HDF5 first reads variable-length data
_VLEN_GUARD: contextvars.ContextVar = contextvars.ContextVar("vz_hdf5_vlen_guard", default=None)
#: in a guard's child process: called after each variable (a sign of progress)
_HEARTBEAT: contextvars.ContextVar = contextvars.ContextVar("vz_hdf5_heartbeat", default=None)


def before_vlen_read() -> None:
    """Call before HDF5 reads variable-length data: the first such read of a
    guarded scan moves the whole scan into a forked child (see the module doc)."""
    g = _VLEN_GUARD.get()
    if g is not None:
        g()


def heartbeat() -> None:
    """A sign of progress (after each variable), for the parent of a guarded scan."""
    beat = _HEARTBEAT.get()
    if beat is not None:
        beat()


class Done(BaseException):
    """Unwinds a scan whose result (or error) came from the guard's child.
    BaseException: no ``except Exception`` on the way may swallow it."""

    def __init__(self, result=None, error: str | None = None):
        super().__init__(error or "done")
        self.result, self.error = result, error


def set_guard(guard: Callable[[], None] | None) -> contextvars.Token:
    """Make ``guard`` the current scan's guard; returns the token to reset it with."""
    return _VLEN_GUARD.set(guard)


def reset_guard(token: contextvars.Token) -> None:
    _VLEN_GUARD.reset(token)


def drop_guard() -> None:
    """No guard from here on (once per scan: the child does the rest)."""
    _VLEN_GUARD.set(None)


def scan_in_child(work: Callable[[], Any], timeout: float) -> Any:
    """Run ``work`` (an unguarded scan) in a forked child; return its result or
    raise :class:`Done` with an error. The child sends a byte after each
    variable; a child silent for ``timeout`` seconds is killed."""
    r, w = os.pipe()
    with h5py._objects.phil:  # no other thread is inside HDF5 while forking
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        _run_child(work, r, w)
    os.close(w)
    data, status, timed_out = _collect(pid, r, timeout)
    if timed_out:
        raise Done(error=f"HDF5 made no progress for {timeout:g} s reading variable-length data (strings or "
                         f"ragged arrays); a damaged global heap makes it loop forever")
    data = data.lstrip(b".")
    if os.WIFSIGNALED(status) or not data.startswith(b"R"):
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        how = f"was killed by signal {sig}" if sig else f"failed (exit {os.WEXITSTATUS(status)})"
        raise Done(error=f"HDF5 {how} reading variable-length data (damaged global heap?)")
    kind, value = pickle.loads(data[1:])
    if kind == "error":
        raise Done(error=value)
    return value


def _run_child(work: Callable[[], Any], r: int, w: int) -> None:  # pragma: no cover - runs in the child
    """The child's side: run ``work`` with a heartbeat on ``w``, send ``R`` and
    the pickled ``("ok", result)`` or ``("error", problem)``, and exit."""
    code = 0
    try:
        os.close(r)
        _VLEN_GUARD.set(None)
        _HEARTBEAT.set(lambda: os.write(w, b"."))
        try:
            msg = ("ok", work())
        except ScanError as e:
            msg = ("error", e.problem)
        except BaseException as e:  # noqa: BLE001
            msg = ("error", condense_h5_error(e))
        data = b"R" + pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)


def _collect(pid: int, r: int, timeout: float) -> tuple[bytes, int, bool]:
    """The parent's side: everything the child writes to ``r`` (heartbeats
    included), its exit status, and whether it was killed for ``timeout``
    seconds of silence."""
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            ready, _, _ = select.select([r], [], [], timeout)
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            data = os.read(r, 1 << 20)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status, timed_out
