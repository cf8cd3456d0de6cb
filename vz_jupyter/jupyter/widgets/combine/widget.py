"""The combine widget itself: its state, its parts put together (one mixin per
job: controls, scanning, ordering, checking, showing, writing, saved state)."""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import traitlets

from ....core.errors import VZError
from ....core.model import VDataset
from .checking import Checking
from .common import in_kernel, one_line, status_html
from .controls import Controls
from .ordering import Ordering
from .saved import SavedState
from .scanning import Scanning
from .showing import Showing
from .writing import Writing


class CombineWidget(Controls, Scanning, Ordering, Checking, Showing, Writing, SavedState, W.VBox):
    """Interactive combine: files in order, concat dim, live check report,
    chunk-map preview of the result, and a Write button.

    Parameters
    ----------
    paths : files, globs or URLs (globs expand in sorted order).
    dim : the concat dimension (guessed from the files when None).
    sync : scan before returning (default: only outside a kernel; in a kernel the
        scan runs in a background thread so the progress bar is visible).
    output : initial output path (default ``combined.json`` in the working folder).
    append_to : an existing archive (kerchunk JSON or parquet references, an Icechunk
        repository): append mode, see the module docstring.
    """

    #: paths in the current order (the files that will be combined)
    files = traitlets.List(traitlets.Unicode())
    #: the concat dimension
    dim = traitlets.Unicode(None, allow_none=True)
    #: True while the background scan runs
    busy = traitlets.Bool(False)

    def __init__(self, paths: str | Sequence[str], dim: str | None = None, *, sync: bool | None = None,
                 output: str | None = None, append_to: str | os.PathLike | None = None, **kwargs):
        super().__init__(**kwargs)
        #: the archive the files are appended to (append mode), its path as given
        self.append_to = os.fspath(append_to) if append_to is not None else None
        self.archive_format: str | None = None
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self._given = [os.fspath(p) for p in paths]
        self._wanted_dim = dim
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._muted = 0  # >0 while we set controls ourselves (observers ignore it)
        self.datasets: dict[str, VDataset] = {}
        self.scan_errors: list[str] = []
        self.label_of: dict[str, str] = {}
        self._path_of_label: dict[str, str] = {}
        self._ids: dict[str, int] = {}
        self.report = None
        self.combined: VDataset | None = None
        self.preview_error: str | None = None
        self.error: str | None = None
        self.notice: tuple[str, str] | None = None  # (text, kind) of the last action, shown until the next
        self.written: str | None = None
        self._pattern_auto = True
        self._saved: list[Any] = []  # display handles of the saved-state outputs
        self._saved_last: dict | None = None

        self._build_controls(output)
        if self.append_to is not None:
            self._append_controls()
        self._lay_out()
        self._observe_controls()
        if sync is None:
            sync = not in_kernel()
        self._sync = sync
        self._start_scan()

    def _guard(self, fn, *args):
        """Run a UI action; show any error as one line instead of a traceback."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - every failure becomes one visible line
            self.error = one_line(e)
            self._show_status(self.error, "error")
            if fn == self.write:
                self.w_write_status.value = status_html(self.error, "error")
            self._publish_saved()
            return None

    def wait(self, timeout: float | None = 60) -> CombineWidget:
        """Block until a background scan has finished (returns self)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            if t.is_alive():
                raise VZError(f"scanning {len(self._given)} files did not finish within {timeout} s")
        self._publish_saved(force=True)
        return self

    def __repr__(self) -> str:
        return (f"<CombineWidget {len(self.files)}/{len(self.datasets)} files dim={self.dim!r} "
                f"write={'enabled' if self.write_disabled_reason is None else 'disabled'}>")
