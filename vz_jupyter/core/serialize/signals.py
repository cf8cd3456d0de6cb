"""Signals during a write: stop it cleanly, then end as the signal says.

While a write runs in the main thread, SIGTERM, SIGINT and SIGHUP raise an
internal exception (so the write's clean-up runs), except inside a
``critical()`` part (moving the output into place, removing the staging
folder), where a signal is only noted and acted on when the part ends. On exit
the previous handlers are restored and a received signal is delivered again:
the process ends (default action), raises KeyboardInterrupt (Python's SIGINT
handler), or runs the user's own handler -- after which the write reports
that it was stopped. Handlers set to ignore the signal (``nohup``) or set
outside Python are left alone; other threads install nothing.
"""
from __future__ import annotations

import contextlib
import signal
import threading

from ..errors import WriteError


class _Interrupted(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class SignalGuard:
    """Stops a write cleanly on SIGTERM/SIGINT/SIGHUP (main thread only).

    Inside ``critical()`` a signal is only noted, and acted on when the
    critical part ends; on exit the previous handlers come back and a
    received signal is delivered again."""

    NAMES = ("SIGTERM", "SIGINT", "SIGHUP")

    def __init__(self, shown: str):
        self.shown = shown
        self.signum: int | None = None
        self.done = False
        self._depth = 0
        self._raised = False
        self._prev: dict = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.NAMES:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN or prev is None:
                continue  # ignored (nohup) or set outside Python: leave it
            try:
                signal.signal(sig, self._handle)
            except (ValueError, OSError, RuntimeError):  # pragma: no cover
                continue
            self._prev[sig] = prev
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if self._depth == 0 and not self.done:
                self._raised = True
                raise _Interrupted(signum)

    @contextlib.contextmanager
    def critical(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.signum is not None and not self._raised and not self.done:
            self._raised = True
            raise _Interrupted(self.signum)

    def __exit__(self, et, ev, tb):
        for sig, prev in self._prev.items():
            signal.signal(sig, prev)
        self._prev.clear()
        if self.signum is None:
            return False
        signal.raise_signal(self.signum)  # the previous handler, or the default action
        if self.done:
            return False
        name = signal.Signals(self.signum).name
        raise WriteError(f"{self.shown}: write stopped by {name}; nothing written") from None
