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

import html
import os
import threading
import time
import traceback
import warnings
from typing import Any, Sequence

import ipywidgets as W
import traitlets

from ...core.errors import TargetExists, TiedSortKeysWarning, VZError, WriteError
from ...core.model import VDataset
from .canvas import ChunkMapCanvas, _labels
from .filelist import FileList, file_list_payload

FORMATS = (
    ("kerchunk JSON (.json)", "kerchunk-json"),
    ("kerchunk Parquet (.parquet)", "kerchunk-parquet"),
    ("Icechunk repository (.icechunk)", "icechunk"),
)
EXTENSIONS = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}
SORTS = (
    ("coordinate values (concat dim)", "coord"),
    ("number in the file names (regex)", "pattern"),
    ("file path", "path"),
)
#: names tried, in order, when guessing the concat dimension
_DIM_GUESSES = ("time", "t", "Time", "TIME", "record", "ensemble", "member")
#: warnings that need no action here (concat fixes them): not pinned, not flagged
_HANDLED = {"time-units"}
#: how the widget says each fix (buttons to press, not API calls)
WIDGET_FIXES = {
    "order": "press Sort (coordinate values), or drag the files named into place in the file list",
    "duplicate": "leave out the repeated files (× in the file list)",
    "overlap": "press Sort if the order is wrong; otherwise leave out one file of each overlapping pair (×)",
    "gap": "missing files? If the gap is real there is nothing to do: the combined coordinate keeps the real times",
    "no-dim": "leave out the files without this dimension (×), or choose another Concat dim",
    "calendar": "leave out the files in the other calendar (× in the file list)",
    "no-files": "bring files back into the list (Left out → bring back), or press Rescan",
}
_GENERIC_FIX = "leave out the files named (× in the file list), or fix those files and press Rescan"
_SAVED_NOTE = ("<div class=\"vz-combine-note\"><b>vz combine</b> widget (interactive with a running kernel); "
               "its last state is shown below.</div>")
#: seconds between progress-bar updates while scanning (a message per file is too many at 1,000 files)
_PROGRESS_EVERY = 0.1


def one_line(exc: BaseException) -> str:
    """A one-line message for any exception (our VZErrors already are one line)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, VZError):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return first if len(first) <= 400 else first[:399] + "…"


def widget_fix(finding) -> str | None:
    """The fix of a check finding, worded for the widget's controls."""
    code = finding.code
    if code == "time-units" and finding.severity == "warning":
        return "nothing to do: Write re-encodes the combined time coordinate in one set of units"
    if code in WIDGET_FIXES:
        return WIDGET_FIXES[code]
    if finding.severity == "error":
        return _GENERIC_FIX
    return None


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _status_html(text: str, kind: str = "info", code: str = "") -> str:
    """One status line: wraps instead of being cut; ``code`` (a path) is selectable."""
    colour = {
        "error": "var(--jp-error-color1, #d32f2f)",
        "ok": "var(--jp-success-color1, #388e3c)",
        "warn": "var(--jp-warn-color1, #f57c00)",
    }.get(kind, "var(--jp-ui-font-color2, rgba(0,0,0,0.54))")
    extra = f" <code>{html.escape(code)}</code>" if code else ""
    return (f"<div class=\"vz-combine-status vz-combine-{html.escape(kind)}\" "
            f"style=\"color:{colour};white-space:normal;overflow-wrap:anywhere\">{html.escape(text)}{extra}</div>")


def _row(children, **layout) -> W.HBox:
    box = W.HBox(children, layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%", **layout))
    box.add_class("vz-combine-row")
    return box


class CombineWidget(W.VBox):
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

        # --- controls (stock ipywidgets + two anywidgets) ---
        narrow = {"description_width": "initial"}
        self.w_title = W.HTML(self._title_html("Combine files"))
        self.w_progress = W.IntProgress(value=0, min=0, max=max(1, len(self._given)), description="Scanning",
                                        bar_style="info", style=narrow,
                                        layout=W.Layout(width="360px", max_width="100%"))
        self.w_status = W.HTML(_status_html(""), layout=W.Layout(width="100%"))
        self.w_files = FileList(layout=W.Layout(width="100%"))
        self.w_files.on_action = lambda msg: self._guard(self._on_list_action, msg)
        self.w_name = W.Combobox(value="", options=[], ensure_option=False, continuous_update=False,
                                 placeholder="type a file name + Enter: leave out / bring back",
                                 layout=W.Layout(flex="1 1 260px", min_width="200px", max_width="420px"))
        self.w_sort_by = W.Dropdown(options=SORTS, value="coord", description="Sort by", style=narrow,
                                    layout=W.Layout(width="300px"))
        self.w_pattern = W.Text(value="", placeholder=r"regex, e.g. _(\d{8})\.nc",
                                layout=W.Layout(width="220px"))
        self.w_sort = W.Button(description="Sort", icon="sort", layout=W.Layout(width="80px", flex="0 0 auto"))
        self.w_rescan = W.Button(description="Rescan", icon="refresh", layout=W.Layout(width="96px", flex="0 0 auto"),
                                 tooltip="read the files again (after fixing one)")
        self.w_dim = W.Dropdown(options=[], description="Concat dim", style=narrow, layout=W.Layout(width="220px"))
        self.w_var = W.Dropdown(options=[], description="Preview", style=narrow, layout=W.Layout(width="240px"))
        self.w_report = W.HTML("", layout=W.Layout(width="100%", max_height="340px", overflow="auto"))
        self.canvas = ChunkMapCanvas(layout=W.Layout(width="100%"))
        self.w_format = W.Dropdown(options=FORMATS, value="kerchunk-json", description="Format", style=narrow,
                                   layout=W.Layout(width="290px"))
        self.w_path = W.Text(value=output or "combined.json", description="Path", style=narrow,
                             layout=W.Layout(flex="1 1 240px", min_width="200px", max_width="520px"))
        self.w_overwrite = W.Checkbox(value=False, description="overwrite", indent=False,
                                      layout=W.Layout(width="96px", flex="0 0 auto"))
        self.w_write = W.Button(description="Write", icon="save", button_style="primary", disabled=True,
                                layout=W.Layout(width="110px", min_width="110px", flex="0 0 auto"))
        self.w_write_status = W.HTML(_status_html(""), layout=W.Layout(width="100%"))
        self.w_write.add_class("vz-write-button")
        self.w_name.add_class("vz-name-box")
        self.w_rescan.add_class("vz-combine-rescan")
        self.add_class("vz-combine")
        self.layout.max_width = "100%"

        if self.append_to is not None:
            self._append_controls()

        self.children = [
            self.w_title,
            _row([self.w_progress]),
            self.w_status,
            W.HTML("<b>Files</b> <span style=\"color:var(--jp-ui-font-color2,#666)\">"
                   "(drag a file to move it · × leaves it out · click a run to list its files)</span>"),
            self.w_files,
            _row([self.w_name, self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan]),
            _row([self.w_dim, self.w_var]),
            self.w_report,
            self.canvas,
            _row([self.w_format, self.w_path, self.w_overwrite, self.w_write]),
            self.w_write_status,
        ]

        self.w_dim.observe(self._on_dim, names="value")
        self.w_var.observe(self._on_var, names="value")
        self.w_format.observe(self._on_format, names="value")
        self.w_path.observe(self._on_target, names="value")
        self.w_overwrite.observe(self._on_target, names="value")
        self.w_sort_by.observe(self._on_sort_by, names="value")
        self.w_pattern.observe(self._on_pattern, names="value")
        self.w_name.observe(self._on_name, names="value")
        self.w_sort.on_click(lambda _b: self._guard(self._sort_from_controls))
        self.w_write.on_click(lambda _b: self._guard(self.write))
        self.w_rescan.on_click(lambda _b: self._guard(self._start_scan))
        self._on_sort_by({"new": self.w_sort_by.value})

        if sync is None:
            sync = not _in_kernel()
        self._sync = sync
        self._start_scan()

    def _append_controls(self) -> None:
        """Append mode: the target is the archive, fixed; the button appends."""
        from ...core.archive import detect_format
        from ...core.serialize.outputs import resolve_target

        self.w_title.value = self._title_html(f"Append to {os.path.basename(self.append_to.rstrip('/'))}")
        fmt = {"kerchunk-json": "kerchunk-json", "kerchunk-parquet": "kerchunk-parquet", "icechunk": "icechunk"}
        try:
            self.archive_format = fmt[detect_format(resolve_target(self.append_to), self.append_to)]
            self.w_format.value = self.archive_format
        except VZError as e:
            self.error = one_line(e)
        self.w_path.value = self.append_to
        self.w_path.description = "Archive"
        self.w_overwrite.layout.display = "none"
        self.w_write.description = "Append"
        self.w_write.icon = "plus"

    def _start_scan(self) -> None:
        if self._sync:
            self.scan()
            return
        if self._thread is not None and self._thread.is_alive():
            return  # one scan at a time
        self.busy = True
        self._set_enabled(False)
        self._thread = threading.Thread(target=self._scan_quietly, name="vz-combine-scan", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _title_html(text: str) -> str:
        return f"<div style=\"font-weight:600;font-size:var(--jp-ui-font-size2,15px)\">{html.escape(text)}</div>"

    def _show_status(self, text: str, kind: str = "info") -> None:
        self.w_status.value = _status_html(text, kind)

    def _guard(self, fn, *args):
        """Run a UI action; show any error as one line instead of a traceback."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - every failure becomes one visible line
            self.error = one_line(e)
            self._show_status(self.error, "error")
            if fn == self.write:
                self.w_write_status.value = _status_html(self.error, "error")
            self._publish_saved()
            return None

    def _set_enabled(self, on: bool) -> None:
        for w in (self.w_name, self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan, self.w_dim,
                  self.w_var, self.w_format, self.w_path, self.w_overwrite):
            w.disabled = not on or (self.append_to is not None and w in (self.w_format, self.w_path))
        if not on:
            self.w_write.disabled = True

    def wait(self, timeout: float | None = 60) -> "CombineWidget":
        """Block until a background scan has finished (returns self)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            if t.is_alive():
                raise VZError(f"scanning {len(self._given)} files did not finish within {timeout} s")
        self._publish_saved(force=True)
        return self

    # ------------------------------------------------------------------ scanning
    def _scan_quietly(self) -> None:
        try:
            self.scan()
        except Exception as e:  # noqa: BLE001 - shown in the widget, never raised in the thread
            self.error = one_line(e)
            self._show_status(self.error, "error")
            self.busy = False
            self._set_enabled(True)
            self._publish_saved(force=True)

    def scan(self) -> None:
        """Scan the given paths file by file, updating the progress bar. A file that
        cannot be read is listed as one error line and left out; the others load."""
        from ...core.scan import expand_paths, scan_file

        with self._lock:
            self.busy = True
            self._set_enabled(False)
            self.w_progress.layout.display = None
            self.w_progress.bar_style = "info"
            try:
                files = expand_paths(self._given)
            except Exception as e:  # noqa: BLE001
                self.error = one_line(e)
                self._show_status(self.error, "error")
                self.w_progress.bar_style = "danger"
                self.busy = False
                self._set_enabled(True)
                self._update_write_state()
                self._publish_saved(force=True)
                return
            total = len(files)
            self.w_progress.max = max(1, total)
            self.w_progress.value = 0
            self.w_progress.description = f"Scanning {total:,} files"
            datasets: dict[str, VDataset] = {}
            errors: list[str] = []
            if self.append_to is not None:
                self._show_status(f"reading the archive {self.append_to}")
                try:
                    datasets[self.append_to] = self._read_archive()
                except Exception as e:  # noqa: BLE001
                    errors.append(one_line(e))
            shown = 0.0
            for i, f in enumerate(files):
                now = time.monotonic()
                if now - shown >= _PROGRESS_EVERY or i == 0:
                    shown = now
                    self.w_progress.value = i
                    self._show_status(f"scanning {i + 1:,}/{total:,}: {os.path.basename(f)}")
                is_archive = self.append_to is not None and os.path.abspath(f) == os.path.abspath(self.append_to)
                if f in datasets or is_archive:
                    errors.append(f"{f}: given twice; used once")
                else:
                    try:
                        datasets[f] = scan_file(f)
                    except Exception as e:  # noqa: BLE001
                        errors.append(one_line(e))
            self.w_progress.value = total
            self._after_scan(datasets, errors)

    def _read_archive(self) -> VDataset:
        """The archive as a dataset, from its references only (for the list and
        the preview): kerchunk references whole; an Icechunk repository as the
        light view an append reads (its big variables by their last chunk row)."""
        from ...core.archive import open_archive
        from ...core.scan import scan_file

        if self.archive_format == "icechunk":
            with open_archive(self.append_to, self.dim or self._wanted_dim or "time") as arc:
                self._archive_files = len(arc.paths)
                return arc.view
        ds = scan_file(self.append_to)
        self._archive_files = len({p for v in ds.variables.values() for p in v.manifest.paths})
        return ds

    def _after_scan(self, datasets: dict[str, VDataset], errors: list[str]) -> None:
        from ...core.sort import name_number_pattern

        # a re-scan keeps the user's order (and left-out files) for files seen before
        previous, seen_before = list(self.files), set(self.datasets)
        order = [f for f in previous if f in datasets] + [f for f in datasets if f not in seen_before]
        if self.append_to in datasets:  # append mode: the archive first, always
            order = [self.append_to] + [f for f in order if f != self.append_to]
        self.datasets = datasets
        self.scan_errors = errors
        self._ids = {p: i for i, p in enumerate(datasets)}
        labels = _labels(list(datasets))
        if self.append_to in datasets:
            n = getattr(self, "_archive_files", 0)
            labels[list(datasets).index(self.append_to)] = (
                f"{os.path.basename(self.append_to.rstrip('/'))} (the archive, {n:,} file{'s' if n != 1 else ''}; "
                f"stays first)")
        self.label_of = dict(zip(datasets, labels))
        self._path_of_label = {lab: p for p, lab in self.label_of.items()}
        self.w_progress.bar_style = "danger" if errors else "success"
        self.w_progress.description = f"Scanned {len(datasets):,} files" + (f", {len(errors):,} not read" if errors else "")
        self.w_progress.layout.display = "none" if not errors else None
        self.busy = False
        self._set_enabled(True)
        self._muted += 1
        try:
            self.w_name.options = labels
            if self._pattern_auto:
                self.w_pattern.value = name_number_pattern(labels) or ""
            dims = self._dims_found()
            self.w_dim.options = dims
            dim = self._guess_dim(dims)
            self.w_dim.value = dim
        finally:
            self._muted -= 1
        self.files = order
        self.dim = dim
        n_new = len(datasets) - (self.append_to in datasets)
        self.w_title.value = self._title_html(
            f"Append {n_new:,} file{'s' if n_new != 1 else ''} to {os.path.basename(self.append_to.rstrip('/'))}"
            if self.append_to is not None else f"Combine {len(datasets):,} file{'s' if len(datasets) != 1 else ''}")
        self.refresh()

    def _dims_found(self) -> list[str]:
        seen: dict[str, None] = {}
        for ds in self.datasets.values():
            for name in ds.dims:
                seen.setdefault(name, None)
        return list(seen)

    def _guess_dim(self, dims: list[str]) -> str | None:
        if self.dim and self.dim in dims:  # a re-scan keeps the chosen dimension
            return self.dim
        if self._wanted_dim:
            if self._wanted_dim not in dims:
                self.scan_errors.append(dim_problem(self._wanted_dim, dims))
                return None  # no silent substitute: the user chooses
            return self._wanted_dim
        for g in _DIM_GUESSES:
            if g in dims:
                return g
        # a dimension whose length differs between files is a likely concat dim
        for d in dims:
            sizes = {ds.dims.get(d) for ds in self.datasets.values()}
            if len(sizes) > 1:
                return d
        return dims[0] if dims else None

    # ------------------------------------------------------------------ state API
    @property
    def labels(self) -> list[str]:
        """Display names of the files in the current order."""
        return [self.label_of[p] for p in self.files]

    @property
    def left_out(self) -> list[str]:
        """Scanned files not in the combine (scan order)."""
        chosen = set(self.files)
        return [p for p in self.datasets if p not in chosen]

    def _resolve(self, item: Any) -> str:
        if isinstance(item, int):
            return list(self.datasets)[item]
        s = os.fspath(item)
        if s in self.datasets:
            return s
        if s in self._path_of_label:
            return self._path_of_label[s]
        a = os.path.abspath(s)
        if a in self.datasets:
            return a
        raise VZError(f"{s}: not one of the scanned files")

    def set_order(self, items: Sequence[Any], *, notice: tuple[str, str] | None = None) -> None:
        """Use these files in this order: paths, display names or indices into the
        scanned files. Files left out are not combined. ``notice`` (text, kind) is
        said first in the status line."""
        paths = [self._resolve(i) for i in items]
        if len(set(paths)) != len(paths):
            raise VZError("a file is named twice in the order")
        a = self.append_to
        if a in self.datasets and paths[:1] != [a]:
            paths = [a] + [p for p in paths if p != a]  # the archive stays first
            if notice is None:
                name = self.label_of[a].split(" (")[0]
                notice = (f"{name} is the archive: it stays first, the files follow it", "info")
        self.files = paths
        self.refresh(notice=notice)

    def remove(self, item: Any) -> None:
        """Leave one file out of the combine."""
        p = self._resolve(item)
        if p == self.append_to:
            raise VZError(f"{self.append_to} is the archive the files are appended to: it cannot be left out")
        self.set_order([f for f in self.files if f != p],
                       notice=(f"left out {self.label_of[p]} (bring it back from the Left out list)", "info"))

    def include(self, item: Any, position: int | None = None) -> None:
        """Bring a scanned file (back) into the combine, at the end by default."""
        p = self._resolve(item)
        order = [f for f in self.files if f != p]
        order.insert(len(order) if position is None else position, p)
        self.set_order(order, notice=(f"brought back {self.label_of[p]}", "info"))

    def move(self, item: Any, before: Any = None) -> None:
        """Move a file in the combine to just before another (to the end when None)."""
        p = self._resolve(item)
        order = [f for f in self.files if f != p]
        at = len(order) if before is None else order.index(self._resolve(before))
        order.insert(at, p)
        self.set_order(order)

    def set_dim(self, dim: str) -> None:
        """Concatenate along ``dim``."""
        if dim not in self.w_dim.options:
            raise VZError(dim_problem(dim, list(self.w_dim.options)))
        self._muted += 1
        try:
            self.w_dim.value = dim
        finally:
            self._muted -= 1
        self.dim = dim
        self.refresh()

    def sort(self, by: str | None = None, *, pattern: str | None = None) -> None:
        """Order the current files with :func:`vz_jupyter.core.sort.sort`:
        ``by="time"`` (CF-decoded coordinate), ``by="path"`` or ``pattern=REGEX``.
        Files with equal keys keep their order and the status says so."""
        from ...core.sort import sort as core_sort

        if by is None and pattern is None:
            by = self.dim
        first = [self.append_to] if self.append_to in self.files else []  # the archive stays first
        dsets = [self.datasets[p] for p in self.files if p not in first]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TiedSortKeysWarning)
            ordered = core_sort(dsets, by=by) if pattern is None else core_sort(dsets, pattern=pattern)
        path_of = {id(ds): p for p, ds in self.datasets.items()}
        ties = [str(w.message) for w in caught if issubclass(w.category, TiedSortKeysWarning)]
        how = f"pattern {pattern}" if pattern is not None else by
        notice = ((f"sorted by {how}, but {ties[0]}", "warn") if ties
                  else (f"sorted {len(ordered):,} files by {how}", "ok"))
        self.set_order(first + [path_of[id(ds)] for ds in ordered], notice=notice)

    def _sort_from_controls(self) -> None:
        how = self.w_sort_by.value
        if how == "pattern":
            pattern = self.w_pattern.value.strip()
            if not pattern:
                raise VZError("no number varies between these file names: sort by coordinate values or path")
            self.sort(pattern=pattern)
        elif how == "path":
            self.sort(by="path")
        else:
            if not self.dim:
                raise VZError("choose a concat dimension first (sorting uses its coordinate values)")
            self.sort(by=self.dim)

    def refresh(self, *, notice: tuple[str, str] | None = None) -> None:
        """Re-run check and the preview for the current order and dim (``notice``:
        what the action that asked for it did, said first in the status line)."""
        with self._lock:
            self.error = None
            self.notice = notice
            self.report = None
            self.combined = None
            self.preview_error = None
            dsets = [self.datasets[p] for p in self.files]
            if not dsets:
                self.w_report.value = ""
                self.preview_error = "no files selected"
            elif not self.dim:
                self.w_report.value = ""
                self.preview_error = "no concat dimension"
            else:
                self._check_and_preview(dsets)
            self._update_list()
            self._update_preview()
            self._update_write_state()
            self._show_status_from_state()

    def _check_and_preview(self, dsets: list[VDataset]) -> None:
        from ...core.check import check
        from ...core.concat import concat
        from ...display.report import report_html

        if self.append_to is not None:
            return self._check_and_preview_append(dsets)
        try:
            self.report = check(dsets, self.dim)
        except Exception as e:  # noqa: BLE001
            self.error = one_line(e)
            self.w_report.value = ""
            return
        self.w_report.value = report_html(self.report, fix=widget_fix)
        try:
            # the preview is drawn even when check found errors (writing stays disabled)
            self.combined = concat(dsets, self.dim, check=False)
        except Exception as e:  # noqa: BLE001
            self.preview_error = one_line(e)

    def _check_and_preview_append(self, dsets: list[VDataset]) -> None:
        """Append mode: the report of ``vz.check(archive, files)`` (the files in
        the list's order), and the archive followed by the files as the preview."""
        from ...core.append import check_append
        from ...core.concat import concat
        from ...display.report import report_html

        new = [self.datasets[p] for p in self.files if p != self.append_to]
        if self.append_to not in self.datasets:
            self.preview_error = "the archive could not be read"
            return
        if not new:
            self.w_report.value = ""
            self.preview_error = "no files to append"
            self.combined = self.datasets[self.append_to]
            return
        try:
            self.report = check_append(self.append_to, new, self.dim, sort=False)
        except Exception as e:  # noqa: BLE001
            self.error = one_line(e)
            self.w_report.value = ""
            return
        self.w_report.value = report_html(self.report, fix=widget_fix)
        try:
            self.combined = concat([self.datasets[self.append_to], *new], self.dim, check=False)
        except Exception as e:  # noqa: BLE001
            self.preview_error = one_line(e)

    def _status_from_state(self) -> tuple[str, str]:
        """The status line for the current state: what is combined and what needs doing."""
        if self.busy:
            return "scanning…", "info"
        if self.error:
            return self.error, "error"
        parts: list[str] = []
        kind = "ok"
        if not self.datasets and not self.scan_errors:
            return "no files", "warn"
        if not self.files:
            parts.append(f"no files selected (all {len(self.datasets):,} left out)")
            kind = "warn"
        elif not self.dim:
            parts.append("choose a concat dimension")
            kind = "error"
        elif self.append_to in self.files:
            n_new = len(self.files) - 1
            parts.append(f"{n_new:,} file{'s' if n_new != 1 else ''} to append to "
                         f"{os.path.basename(self.append_to.rstrip('/'))} along {self.dim!r}")
            n_err = self._n_errors()
            if n_err:
                parts.append(f"{n_err} error{'s' if n_err != 1 else ''} in the check report: {self._next_step()}")
                kind = "error"
        else:
            parts.append(f"{len(self.files):,} of {len(self.datasets):,} files along {self.dim!r}")
            n_err = self._n_errors()
            if n_err:
                parts.append(f"{n_err} error{'s' if n_err != 1 else ''} in the check report: {self._next_step()}")
                kind = "error"
            elif self.combined is None and self.preview_error:
                parts.append(f"cannot combine: {self.preview_error}")
                kind = "error"
        if self.scan_errors:
            parts.append(f"{len(self.scan_errors)} problem(s) reading: " + self.scan_errors[0])
            kind = "error"
        if self.notice:
            text, nk = self.notice
            parts.insert(0, text)
            if kind == "ok" and nk == "warn":
                kind = "warn"
        return " · ".join(parts), kind

    def _show_status_from_state(self) -> None:
        self._show_status(*self._status_from_state())
        self._publish_saved()

    def _n_errors(self) -> int:
        r = self.report
        return 0 if r is None else len(r.errors)

    def _next_step(self) -> str:
        codes = {f.code for f in self.report.errors} if self.report is not None else set()
        if codes == {"order"}:
            return "press Sort"
        if "order" in codes:
            return "press Sort, then leave out (×) or fix the other files marked ✖"
        return "leave out the files marked ✖ (×) or fix them and press Rescan"

    # ------------------------------------------------------------------ file list
    def _findings_for_list(self) -> list[dict]:
        out = []
        if self.report is None:
            return out
        for f in self.report.findings:
            if f.severity not in ("error", "warning") or (f.code in _HANDLED and f.severity == "warning"):
                continue
            ids = [self._ids[p] for p in (self._path_for_label(x) for x in f.files) if p in self._ids]
            var = f"{f.variable}: " if f.variable else ""
            out.append({"level": f.severity, "code": f.code, "text": var + f.message, "fix": widget_fix(f),
                        "ids": ids})
        return out

    def _path_for_label(self, label: str) -> str:
        if label in self.datasets:
            return label
        return self._path_of_label.get(os.path.basename(label), label)

    def _flags(self) -> dict[str, tuple[str, str]]:
        """Source path -> (level, text) for files named by errors and warnings."""
        flags: dict[str, tuple[str, str]] = {}
        paths = list(self.datasets)
        for f in self._findings_for_list():
            for i in f["ids"]:
                p = paths[i]
                if p not in flags or (flags[p][0] == "warning" and f["level"] == "error"):
                    flags[p] = (f["level"], f"{f['code']}: {f['text']}")
        return flags

    def _update_list(self) -> None:
        names = [self.label_of[p] for p in self.datasets]
        self.w_files.data = file_list_payload(
            names, [self._ids[p] for p in self.files], left_out=[self._ids[p] for p in self.left_out],
            findings=self._findings_for_list(), unread=self.scan_errors, busy=self.busy)

    def _on_list_action(self, msg: dict) -> None:
        action = msg.get("action")
        ids = list(self.datasets)

        def path(key):
            v = msg.get(key)
            if v is None:
                return None
            if not isinstance(v, int) or not 0 <= v < len(ids):
                raise VZError(f"the file list sent an unknown file ({v!r}); press Rescan")
            return ids[v]

        if action == "remove":
            self.remove(path("id"))
        elif action == "include":
            self.include(path("id"))
        elif action == "include-all":
            self.set_order(list(self.files) + self.left_out, notice=("brought back every file left out", "info"))
        elif action == "move":
            self.move(path("id"), path("before"))
        else:
            raise VZError(f"the file list sent an unknown action {action!r}")

    # ------------------------------------------------------------------ preview
    def _update_preview(self) -> None:
        vds = self.combined
        if vds is None:
            self.canvas.show(None, title=f"no preview: {self.preview_error or self.error or 'nothing combined'}")
            self._muted += 1
            try:
                self.w_var.options = []
            finally:
                self._muted -= 1
            return
        names = [n for n in vds.data_vars if self.dim in vds[n].dims] or list(vds.data_vars) or list(vds.variables)
        current = self.w_var.value
        self._muted += 1
        try:
            self.w_var.options = names
            self.w_var.value = current if current in names else (names[0] if names else None)
        finally:
            self._muted -= 1
        self._draw_var()

    def _draw_var(self) -> None:
        vds = self.combined
        name = self.w_var.value
        if vds is None or not name or name not in vds.variables:
            self.canvas.show(None, title="no variable to preview")
            return
        var = vds[name]
        self.canvas.show(var, col_dim=self.dim, title=f"combined {name}", fallback_html=self._svg(var),
                         flags=self._flags())

    def _svg(self, var) -> str:
        try:
            from ...display.chunkmap import chunk_map_svg

            return chunk_map_svg(var, title=f"combined {var.name}")
        except Exception as e:  # noqa: BLE001 - the fallback must never break the widget
            return f"<pre>{html.escape(one_line(e))}</pre>"

    # ------------------------------------------------------------------ writing
    @property
    def target(self) -> str:
        """The output path as typed (relative to the kernel's working folder)."""
        return self.w_path.value.strip()

    @property
    def write_disabled_reason(self) -> str | None:
        """Why Write is disabled (None when it is enabled)."""
        if self.busy:
            return "scanning"
        if not self.files:
            return "no files selected"
        if not self.dim:
            return "choose a concat dimension"
        if self.append_to is not None and len(self.files) < 2:
            return "no files to append"
        if self.report is None:
            return self.error or "the files have not been checked"
        if self.report.has_errors:
            n = self._n_errors()
            return f"the check report has {n} error{'s' if n != 1 else ''}: {self._next_step()}"
        if self.append_to is not None:
            if len(self.files) < 2:
                return "no files to append"
            return None
        if self.combined is None:
            return f"the files could not be combined: {self.preview_error}"
        if not self.target:
            return "no output path"
        if os.path.lexists(self.target) and not self.w_overwrite.value:
            return f"{self.target} exists: tick overwrite to replace it (only an earlier output of the same format is replaced)"
        return None

    def _update_write_state(self) -> None:
        reason = self.write_disabled_reason
        self.w_write.disabled = reason is not None
        self.w_write.tooltip = reason or f"write {self.w_format.value} references to {self.target}"
        if self.written and reason and "tick overwrite" in reason \
                and os.path.abspath(self.target) == self.written:
            return  # keep saying what was written (and where) until something else changes
        if reason and reason not in ("scanning",):
            self.w_write_status.value = _status_html(f"Write disabled: {reason}", "warn")
        elif not reason and self.append_to is not None:
            self.w_write_status.value = _status_html(
                f"ready to append {len(self.files) - 1:,} files to", code=self.append_to)
        elif not reason:
            self.w_write_status.value = _status_html(
                f"ready to write {len(self.files):,} files as {self.w_format.value} to", code=self.target)

    def write(self) -> str:
        """Write the combined references (same rules as the button); returns the path.

        Raises :class:`WriteError` when writing is disabled (check errors, missing
        path, existing target without overwrite) or refused: overwrite replaces
        only an earlier output of the same format, never a source file or a
        folder holding sources, nor anything else (see ``vz.write``)."""
        from ...core.serialize import write as core_write

        if self.append_to is not None:
            return self._append()
        with self._lock:
            reason = self.write_disabled_reason
            if reason is not None:
                raise WriteError(f"not written: {reason}")
            target = self.target
            fmt = self.w_format.value
            try:  # the core refuses (one line) anything but an earlier output of this format
                core_write(self.combined, target, format=fmt, overwrite=bool(self.w_overwrite.value))
            except TargetExists as e:
                raise e.with_hint("tick overwrite to replace it") from None
            self.written = os.path.abspath(target)
            self.error = None
            self.notice = (f"wrote {target}", "ok")
            self.w_write_status.value = _status_html(
                f"wrote {len(self.files):,} files as {fmt} · open it with vz.open({target!r}) · full path:",
                "ok", code=self.written)
            self._muted += 1
            try:
                self.w_overwrite.value = False
            finally:
                self._muted -= 1
            reason = self.write_disabled_reason
            self.w_write.disabled = reason is not None
            self.w_write.tooltip = reason or ""
            self._show_status_from_state()
            return self.written

    def _append(self) -> str:
        """Append mode's button: ``vz.append(archive, files)`` in the list's order;
        then the archive is read again and the appended files leave the list."""
        from ...core.append import append

        with self._lock:
            reason = self.write_disabled_reason
            if reason is not None:
                raise WriteError(f"not appended: {reason}")
            new_paths = [p for p in self.files if p != self.append_to]
            report = append(self.append_to, [self.datasets[p] for p in new_paths], self.dim, sort=False)
            self.written = os.path.abspath(self.append_to)
            text = report.summary_line().split(":")[0]
            self.error = None
            datasets = {self.append_to: self._read_archive()}
            datasets.update((p, d) for p, d in self.datasets.items() if p not in new_paths and p != self.append_to)
            self._after_scan(datasets, [])
            self.notice = (text, "ok")
            self.w_write_status.value = _status_html(
                f"{text} · open it with vz.open({self.append_to!r}) · full path:", "ok", code=self.written)
            self._show_status_from_state()
            return self.written

    # ------------------------------------------------------------------ observers
    def _on_dim(self, change) -> None:
        if self._muted or change["new"] is None:
            return
        self.dim = change["new"]
        self._guard(self.refresh)

    def _on_var(self, change) -> None:
        if self._muted:
            return
        self._guard(self._draw_var)

    def _on_format(self, change) -> None:
        old_ext = EXTENSIONS.get(change["old"], "")
        new_ext = EXTENSIONS.get(change["new"], "")
        path = self.w_path.value
        if old_ext and path.endswith(old_ext):
            self.w_path.value = path[: -len(old_ext)] + new_ext  # fires _on_target
        else:
            self._update_write_state()

    def _on_target(self, change) -> None:
        if self._muted:
            return
        self._update_write_state()

    def _on_sort_by(self, change) -> None:
        self.w_pattern.layout.display = None if change["new"] == "pattern" else "none"

    def _on_pattern(self, change) -> None:
        if not self._muted:
            self._pattern_auto = False

    def _on_name(self, change) -> None:
        """A name typed in the box (Enter): leave that file out, or bring it back."""
        name = (change["new"] or "").strip()
        if self._muted or not name:
            return
        try:
            p = self._resolve(name)
        except VZError:
            self.error = f"{name}: no scanned file has this name"
            self._show_status(self.error, "error")
            return
        finally:
            self._muted += 1
            try:
                self.w_name.value = ""
            finally:
                self._muted -= 1
        if p in self.files:
            self._guard(self.remove, p)
        else:
            self._guard(self.include, p)

    # ------------------------------------------------------------------ display
    def static_html(self) -> str:
        """The widget's state as plain HTML (no JavaScript): status, the files (runs
        collapsed), the check report, the chunk map and what was written. Shown by
        notebook viewers; kept up to date in the notebook (see the module docstring)."""
        from ...display.common import escape, style_block
        from ...display.files import file_runs, run_label

        status, kind = self._status_from_state()
        names = [self.label_of.get(p, p) for p in self.files]
        flagged = self._flags()
        breaks = [k for k, p in enumerate(self.files) if p in flagged]
        items = []
        for run in file_runs(names, breaks=breaks)[:200]:
            level = flagged.get(self.files[run.start], ("", ""))[0] if run.count == 1 else ""
            mark = " ✖" if level == "error" else " ▲" if level == "warning" else ""
            what = f" ({run.count:,} files, in name order)" if run.count > 1 else ""
            items.append(f"<li>{escape(run_label(run))}{escape(what)}{mark}</li>")
        left = self.left_out
        left_html = (f"<div>left out ({len(left):,}): {escape(', '.join(self.label_of[p] for p in left[:20]))}"
                     f"{escape(' …' if len(left) > 20 else '')}</div>") if left else ""
        svg = self.canvas.fallback_html or ""
        report = self.w_report.value if self.report is not None else ""
        wrote = (f"<div>written: <code>{escape(self.written)}</code> ({escape(self.w_format.value)})</div>"
                 if self.written else "")
        title = (f"vz combine: {len(self.files):,} of {len(self.datasets):,} files along "
                 f"{self.dim!r}" if self.dim else f"vz combine: {len(self.files):,} files, no concat dimension")
        if self.append_to is not None:
            title = f"vz append to {self.append_to}: {max(len(self.files) - 1, 0):,} new files along {self.dim!r}"
        return (f"<div class=\"vz-combine-static vz-root\">{style_block()}<div><b>{escape(title)}</b></div>"
                f"<div class=\"vz-combine-{escape(kind)}\">{escape(status)}</div>"
                f"<ol>{''.join(items)}</ol>{left_html}{report}{svg}{wrote}</div>")

    def _publish_saved(self, force: bool = False) -> None:
        """Update the saved-state outputs with the current state (skipped when
        nothing changed). Called from the thread that changed the state, so a
        kernel sends the update as part of that cell or that button click."""
        if not self._saved:
            return
        bundle = self._saved_bundle()
        if bundle == self._saved_last and not force:
            return
        self._saved_last = bundle
        for handle in self._saved:
            try:
                handle.update(bundle, raw=True)
            except Exception:  # noqa: BLE001 - a closed frontend must not break the widget
                pass

    def _saved_bundle(self) -> dict:
        try:
            body = self.static_html()
        except Exception:  # noqa: BLE001 - never break the display
            body = f"<pre>{html.escape(traceback.format_exc(limit=1).splitlines()[-1])}</pre>"
        return {"text/html": f"<div class=\"vz-combine-saved\">{body}</div>", "text/plain": repr(self)}

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        try:
            fallback = self.static_html()
        except Exception:  # noqa: BLE001 - never break the display
            fallback = f"<pre>{html.escape(traceback.format_exc(limit=1).splitlines()[-1])}</pre>"
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = fallback
        return bundle

    def _ipython_display_(self, **kwargs):
        """In a notebook: the widget, then its saved state (kept up to date)."""
        from IPython.display import display

        bundle = super()._repr_mimebundle_(**kwargs)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        data["text/html"] = _SAVED_NOTE
        display(data, raw=True)
        self._saved_last = self._saved_bundle()
        handle = display(self._saved_last, raw=True, display_id=True)
        if handle is not None:
            self._saved.append(handle)

    def __repr__(self) -> str:
        return (f"<CombineWidget {len(self.files)}/{len(self.datasets)} files dim={self.dim!r} "
                f"write={'enabled' if self.write_disabled_reason is None else 'disabled'}>")


def dim_problem(dim: str, dims: Sequence[str]) -> str:
    """``dimension 'tiem' is not in these files; did you mean 'time'? (found: ...)``"""
    import difflib

    close = difflib.get_close_matches(dim, list(dims), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    found = ", ".join(dims) or "none"
    return f"dimension {dim!r} is not in these files{hint} (found: {found})"
