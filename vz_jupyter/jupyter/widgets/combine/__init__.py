"""The combine widget: scan files, order them, check, preview and write references.

``vz.CombineWidget(paths, dim=None)`` (also ``%vz combine PATHS...``) is built
from stock ipywidgets 8 controls plus two anywidgets (the file list and the
chunk-map canvas). All the work is done by core calls (``scan_file``, ``sort``,
``check``, ``concat``, ``write``); this module only keeps state and shows it.

It is made for archives of a few to a few thousand files: the file list is a
fixed-height box with runs of files collapsed and the problems pinned on top,
the chunk map names the file under the cursor at any scale, and the controls
wrap in a narrow window.

The state logic is usable without a kernel or a browser, so tests drive it
directly::

    w = CombineWidget(paths, sync=True)     # scan now (a kernel scans in a thread)
    w.set_order([...]); w.set_dim("time"); w.sort(by="time"); w.remove(path)
    w.report; w.combined; w.write_disabled_reason; w.write()

Append mode (``CombineWidget(new_files, append_to="archive.parquet")``, or
``%vz combine new/*.nc --append-to archive.parquet``): the archive's references
are loaded (nothing of its sources is read) as the first entry of the list,
locked there; the report is :func:`vz.check(archive, files) <vz_jupyter.check>`
and the button appends the other files with :func:`vz.append`.

Errors never surface as tracebacks in the widget: they are shown as one line in
the status bar (and :meth:`write` raises the same one-line :class:`VZError` when
called from code).

Saved notebooks: displayed in a notebook, the widget adds a second output holding
its state as plain HTML (files, report, chunk map, what was written). It is kept
up to date as the state changes, hidden where the widget runs, and is what
notebook viewers (GitHub, nbviewer) show.
"""
from __future__ import annotations

from ...wording import dim_problem
from .common import EXTENSIONS, FORMATS, SORTS, WIDGET_FIXES, one_line, widget_fix
from .widget import CombineWidget

__all__ = ["CombineWidget", "one_line", "widget_fix", "dim_problem", "FORMATS", "EXTENSIONS", "SORTS", "WIDGET_FIXES"]
