"""Progress bars that fit where they are shown.

* in a notebook (an IPython kernel): ``tqdm.auto``'s notebook bar;
* on a terminal (stderr is a TTY): tqdm's text bar on stderr;
* elsewhere (scripts writing to files, pipes, tests): nothing, unless forced.

Bars appear only when the work lasts longer than :data:`DELAY` seconds and
redraw at most every :data:`EVERY` seconds, so quick scans stay quiet and
thousands of files do not flood the output. ``import vz_jupyter`` registers
:func:`default_bar` with :mod:`vz_jupyter.core.progress`, so
``vz.scan(..., progress=None)`` gets one of these; the CLI and ``%vz`` use
:func:`bar` directly. tqdm is imported only when a bar is made.
"""
from __future__ import annotations

import os
import sys

#: seconds before a bar appears
DELAY = 0.5
#: seconds between redraws
EVERY = 0.2


def where() -> str | None:
    """``"notebook"``, ``"terminal"`` or None (nobody watching)."""
    ip = sys.modules.get("IPython")
    if ip is not None:
        try:
            shell = ip.get_ipython()
        except Exception:  # noqa: BLE001
            shell = None
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            return "notebook"
    try:
        return "terminal" if sys.stderr is not None and sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None


class Bar:
    """A ``progress(done, total, path)`` callback drawing a tqdm bar; ``close(ok)``
    ends it (a notebook bar turns red when the work failed)."""

    def __init__(self, total: int, unit: str = "files", place: str | None = "terminal", desc: str = "scanning",
                 file=None):
        if place == "notebook":
            from tqdm.auto import tqdm  # heavy: tqdm.auto loads ipywidgets' notebook bar; only when a bar is shown
        else:
            from tqdm import tqdm  # only when a bar is shown (kept beside its notebook twin above)
        kw = {} if place == "notebook" else {"file": file or sys.stderr, "dynamic_ncols": True}
        self.tqdm = tqdm(total=total, unit=unit.rstrip("s") or unit, desc=desc, delay=DELAY, mininterval=EVERY,
                         leave=True, **kw)

    def __call__(self, done: int, total: int, path: str) -> None:
        t = self.tqdm
        if total != t.total:
            t.total = total
        t.set_postfix_str(os.path.basename(str(path).rstrip("/")), refresh=False)
        t.update(done - t.n)

    def close(self, ok: bool = True) -> None:
        t = self.tqdm
        if not ok and hasattr(t, "disp"):  # the notebook bar: red
            try:
                t.disp(bar_style="danger", check_delay=False)
            except Exception:  # noqa: BLE001 - a bar never breaks the work
                pass
        t.close()


def bar(total: int, unit: str = "files", force: bool = False, desc: str = "scanning", file=None) -> Bar | None:
    """A bar for ``total`` items where someone watches (or anyway, ``force``)."""
    place = where()
    if place is None and not force:
        return None
    return Bar(total, unit, place or "terminal", desc=desc, file=file)


def default_bar(total: int, unit: str, force: bool) -> Bar | None:
    """The factory registered with :mod:`vz_jupyter.core.progress`."""
    return bar(total, unit, force)
