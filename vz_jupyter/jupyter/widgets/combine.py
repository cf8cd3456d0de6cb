"""The combine widget: scan files, order them, check, preview and write references.

``vz.CombineWidget(paths, dim=None)`` (also ``%vz combine PATHS...``) is built
from stock ipywidgets 8 controls plus one anywidget (the chunk-map canvas). All
the work is done by core calls (``scan_file``, ``sort``, ``check``, ``concat``,
``write``); this module only keeps state and shows it.

The state logic is usable without a kernel or a browser, so tests drive it
directly::

    w = CombineWidget(paths, sync=True)     # scan now (a kernel scans in a thread)
    w.set_order([...]); w.set_dim("time"); w.sort(by="time"); w.remove(path)
    w.report; w.combined; w.write_disabled_reason; w.write()

Errors never surface as tracebacks in the widget: they are shown as one line in
the status bar (and :meth:`write` raises the same one-line :class:`VZError` when
called from code).
"""
from __future__ import annotations

import html
import os
import threading
import traceback
from typing import Any, Sequence

import ipywidgets as W
import traitlets

from ...core.errors import TargetExists, VZError, WriteError
from ...core.model import VDataset
from .canvas import ChunkMapCanvas, _labels

FORMATS = (
    ("kerchunk JSON (.json)", "kerchunk-json"),
    ("kerchunk Parquet (.parquet)", "kerchunk-parquet"),
    ("Icechunk repository (.icechunk)", "icechunk"),
)
EXTENSIONS = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}
SORTS = (
    ("coordinate values (concat dim)", "coord"),
    ("file name pattern (regex)", "pattern"),
    ("file path", "path"),
)
#: names tried, in order, when guessing the concat dimension
_DIM_GUESSES = ("time", "t", "Time", "TIME", "record", "ensemble", "member")


def one_line(exc: BaseException) -> str:
    """A one-line message for any exception (our VZErrors already are one line)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, VZError):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return first if len(first) <= 400 else first[:399] + "…"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _status_html(text: str, kind: str = "info") -> str:
    colour = {
        "error": "var(--jp-error-color1, #d32f2f)",
        "ok": "var(--jp-success-color1, #388e3c)",
        "warn": "var(--jp-warn-color1, #f57c00)",
    }.get(kind, "var(--jp-ui-font-color2, rgba(0,0,0,0.54))")
    return (f"<div class=\"vz-combine-status vz-combine-{html.escape(kind)}\" "
            f"style=\"color:{colour};white-space:nowrap;overflow:hidden;text-overflow:ellipsis\" "
            f"title=\"{html.escape(text)}\">{html.escape(text)}</div>")


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
    """

    #: paths in the current order (the files that will be combined)
    files = traitlets.List(traitlets.Unicode())
    #: the concat dimension
    dim = traitlets.Unicode(None, allow_none=True)
    #: True while the background scan runs
    busy = traitlets.Bool(False)

    def __init__(self, paths: str | Sequence[str], dim: str | None = None, *, sync: bool | None = None,
                 output: str | None = None, **kwargs):
        super().__init__(**kwargs)
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
        self.report = None
        self.combined: VDataset | None = None
        self.preview_error: str | None = None
        self.error: str | None = None
        self.written: str | None = None

        # --- controls (stock ipywidgets) ---
        self.w_title = W.HTML(self._title_html("Combine files"))
        self.w_progress = W.IntProgress(value=0, min=0, max=max(1, len(self._given)), description="Scanning",
                                        bar_style="info", layout=W.Layout(width="420px"))
        self.w_status = W.HTML(_status_html(""))
        self.w_files = W.TagsInput(value=[], allowed_tags=[], allow_duplicates=False,
                                   layout=W.Layout(width="100%"))
        self.w_files.tooltip = "Drag to reorder; × leaves a file out (type its name to bring it back)"
        self.w_sort_by = W.Dropdown(options=SORTS, value="coord", description="Sort by",
                                    layout=W.Layout(width="330px"))
        self.w_pattern = W.Text(value=r"(\d+)", placeholder=r"regex, e.g. _(\d{8})\.nc",
                                layout=W.Layout(width="220px"))
        self.w_sort = W.Button(description="Sort", icon="sort", layout=W.Layout(width="90px"))
        self.w_rescan = W.Button(description="Rescan", icon="refresh", layout=W.Layout(width="100px"),
                                 tooltip="read the files again (after fixing one)")
        self.w_dim = W.Dropdown(options=[], description="Concat dim", layout=W.Layout(width="260px"))
        self.w_var = W.Dropdown(options=[], description="Preview", layout=W.Layout(width="300px"))
        self.w_report = W.HTML("")
        self.canvas = ChunkMapCanvas(layout=W.Layout(width="100%"))
        self.w_format = W.Dropdown(options=FORMATS, value="kerchunk-json", description="Format",
                                   layout=W.Layout(width="330px"))
        self.w_path = W.Text(value=output or "combined.json", description="Path",
                             layout=W.Layout(width="420px"))
        self.w_overwrite = W.Checkbox(value=False, description="overwrite", indent=False,
                                      layout=W.Layout(width="110px"))
        self.w_write = W.Button(description="Write", icon="save", button_style="primary", disabled=True,
                                layout=W.Layout(width="110px"))
        self.w_write_status = W.HTML(_status_html(""))
        self.w_write.add_class("vz-write-button")
        self.add_class("vz-combine")

        self.children = [
            self.w_title,
            W.HBox([self.w_progress, self.w_status]),
            W.HTML("<b>Files</b> <span style=\"color:var(--jp-ui-font-color2,#666)\">"
                   "(drag to reorder · × leaves a file out)</span>"),
            self.w_files,
            W.HBox([self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan]),
            W.HBox([self.w_dim, self.w_var]),
            self.w_report,
            self.canvas,
            W.HBox([self.w_format, self.w_path, self.w_overwrite, self.w_write]),
            self.w_write_status,
        ]

        self.w_files.observe(self._on_tags, names="value")
        self.w_dim.observe(self._on_dim, names="value")
        self.w_var.observe(self._on_var, names="value")
        self.w_format.observe(self._on_format, names="value")
        self.w_path.observe(self._on_target, names="value")
        self.w_overwrite.observe(self._on_target, names="value")
        self.w_sort_by.observe(self._on_sort_by, names="value")
        self.w_sort.on_click(lambda _b: self._guard(self._sort_from_controls))
        self.w_write.on_click(lambda _b: self._guard(self.write))
        self.w_rescan.on_click(lambda _b: self._guard(self._start_scan))
        self._on_sort_by({"new": self.w_sort_by.value})

        if sync is None:
            sync = not _in_kernel()
        self._sync = sync
        self._start_scan()

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
            return None

    def _set_enabled(self, on: bool) -> None:
        for w in (self.w_files, self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan, self.w_dim,
                  self.w_var, self.w_format, self.w_path, self.w_overwrite):
            w.disabled = not on
        if not on:
            self.w_write.disabled = True

    def wait(self, timeout: float | None = 60) -> "CombineWidget":
        """Block until a background scan has finished (returns self)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            if t.is_alive():
                raise VZError(f"scanning {len(self._given)} files did not finish within {timeout} s")
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
                return
            total = len(files)
            self.w_progress.max = max(1, total)
            self.w_progress.value = 0
            datasets: dict[str, VDataset] = {}
            errors: list[str] = []
            for i, f in enumerate(files):
                self._show_status(f"scanning {i + 1}/{total}: {os.path.basename(f)}")
                if f in datasets:
                    errors.append(f"{f}: given twice; used once")
                else:
                    try:
                        datasets[f] = scan_file(f)
                    except Exception as e:  # noqa: BLE001
                        errors.append(one_line(e))
                self.w_progress.value = i + 1
            # a re-scan keeps the user's order (and left-out files) for files seen before
            previous, seen_before = list(self.files), set(self.datasets)
            order = [f for f in previous if f in datasets] + [f for f in datasets if f not in seen_before]
            self.datasets = datasets
            self.scan_errors = errors
            labels = _labels(list(datasets))
            self.label_of = dict(zip(datasets, labels))
            self._path_of_label = {lab: p for p, lab in self.label_of.items()}
            self.w_progress.bar_style = "danger" if errors else "success"
            self.w_progress.layout.display = "none" if not errors else None
            self.busy = False
            self._set_enabled(True)
            self._muted += 1
            try:
                self.w_files.allowed_tags = labels
                self.w_files.value = [self.label_of[f] for f in order]
                dims = self._dims_found()
                self.w_dim.options = dims
                dim = self._guess_dim(dims)
                self.w_dim.value = dim
            finally:
                self._muted -= 1
            self.files = order
            self.dim = dim
            self.w_title.value = self._title_html(
                f"Combine {len(datasets)} file{'s' if len(datasets) != 1 else ''}")
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
                self.scan_errors.append(
                    f"dimension {self._wanted_dim!r} is not in these files (found: {', '.join(dims) or 'none'})")
                return dims[0] if dims else None
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

    def set_order(self, items: Sequence[Any]) -> None:
        """Use these files in this order: paths, display names or indices into the
        scanned files. Files left out are not combined."""
        paths = [self._resolve(i) for i in items]
        if len(set(paths)) != len(paths):
            raise VZError("a file is named twice in the order")
        self.files = paths
        self._muted += 1
        try:
            self.w_files.value = [self.label_of[p] for p in paths]
        finally:
            self._muted -= 1
        self.refresh()

    def remove(self, item: Any) -> None:
        """Leave one file out of the combine."""
        p = self._resolve(item)
        self.set_order([f for f in self.files if f != p])

    def include(self, item: Any, position: int | None = None) -> None:
        """Bring a scanned file (back) into the combine, at the end by default."""
        p = self._resolve(item)
        order = [f for f in self.files if f != p]
        order.insert(len(order) if position is None else position, p)
        self.set_order(order)

    def set_dim(self, dim: str) -> None:
        """Concatenate along ``dim``."""
        if dim not in self.w_dim.options:
            raise VZError(f"dimension {dim!r} is not in these files (found: {', '.join(self.w_dim.options)})")
        self._muted += 1
        try:
            self.w_dim.value = dim
        finally:
            self._muted -= 1
        self.dim = dim
        self.refresh()

    def sort(self, by: str | None = None, *, pattern: str | None = None) -> None:
        """Order the current files with :func:`vz_jupyter.core.sort.sort`:
        ``by="time"`` (CF-decoded coordinate), ``by="path"`` or ``pattern=REGEX``."""
        from ...core.sort import sort as core_sort

        if by is None and pattern is None:
            by = self.dim
        dsets = [self.datasets[p] for p in self.files]
        ordered = core_sort(dsets, by=by, pattern=pattern) if pattern is None else core_sort(dsets, pattern=pattern)
        path_of = {id(ds): p for p, ds in self.datasets.items()}
        self.set_order([path_of[id(ds)] for ds in ordered])

    def _sort_from_controls(self) -> None:
        how = self.w_sort_by.value
        if how == "pattern":
            self.sort(pattern=self.w_pattern.value)
        elif how == "path":
            self.sort(by="path")
        else:
            if not self.dim:
                raise VZError("choose a concat dimension first (sorting uses its coordinate values)")
            self.sort(by=self.dim)
        self._show_status(f"sorted {len(self.files)} files by "
                          f"{'pattern ' + self.w_pattern.value if how == 'pattern' else how if how == 'path' else self.dim}",
                          "ok")

    def refresh(self) -> None:
        """Re-run check and the preview for the current order and dim."""
        with self._lock:
            self.error = None
            self.report = None
            self.combined = None
            self.preview_error = None
            dsets = [self.datasets[p] for p in self.files]
            if not dsets:
                self.w_report.value = ""
                self.preview_error = "no files selected"
                self._show_status("no files selected", "warn")
            elif not self.dim:
                self.preview_error = "no concat dimension"
                self._show_status("no concat dimension: the files have no dimensions", "error")
            else:
                self._check_and_preview(dsets)
            self._update_preview()
            self._update_write_state()

    def _check_and_preview(self, dsets: list[VDataset]) -> None:
        from ...core.check import check
        from ...core.concat import concat

        try:
            self.report = check(dsets, self.dim)
        except Exception as e:  # noqa: BLE001
            self.error = one_line(e)
            self._show_status(self.error, "error")
            self.w_report.value = ""
            return
        self.w_report.value = self.report._repr_html_()
        try:
            # the preview is drawn even when check found errors (writing stays disabled)
            self.combined = concat(dsets, self.dim, check=False)
        except Exception as e:  # noqa: BLE001
            self.preview_error = one_line(e)
        n_err = self._n_errors()
        parts = [f"{len(dsets)} of {len(self.datasets)} files along {self.dim!r}"]
        if n_err:
            parts.append(f"{n_err} error{'s' if n_err != 1 else ''} in the check report")
        if self.scan_errors:
            parts.append(f"{len(self.scan_errors)} file(s) not read: " + self.scan_errors[0])
        kind = "error" if (n_err or self.scan_errors) else "ok"
        self._show_status(" · ".join(parts), kind)

    def _n_errors(self) -> int:
        r = self.report
        if r is None:
            return 0
        if hasattr(r, "errors"):
            errs = r.errors
            return len(errs) if not callable(errs) else len(errs())
        findings = getattr(r, "findings", ())
        n = sum(1 for f in findings if str(getattr(f, "severity", "")).lower().endswith("error"))
        return n or (1 if getattr(r, "has_errors", False) else 0)

    # ------------------------------------------------------------------ preview
    def _update_preview(self) -> None:
        vds = self.combined
        if vds is None:
            self.canvas.show(None, title=f"no preview: {self.preview_error or 'nothing combined'}")
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
        self.canvas.show(var, col_dim=self.dim, title=f"combined {name}", fallback_html=self._svg(var))

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
        if self.report is None:
            return self.error or "the files have not been checked"
        if getattr(self.report, "has_errors", False):
            n = self._n_errors()
            return f"the check report has {n} error{'s' if n != 1 else ''}: fix or leave out the files named"
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
        if reason and reason not in ("scanning",):
            self.w_write_status.value = _status_html(f"Write disabled: {reason}", "warn")
        elif not reason:
            self.w_write_status.value = _status_html(
                f"ready to write {len(self.files)} files as {self.w_format.value} to {self.target}")

    def write(self) -> str:
        """Write the combined references (same rules as the button); returns the path.

        Raises :class:`WriteError` when writing is disabled (check errors, missing
        path, existing target without overwrite) or refused: overwrite replaces
        only an earlier output of the same format, never a source file or a
        folder holding sources, nor anything else (see ``vz.write``)."""
        from ...core.serialize import write as core_write

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
            self.w_write_status.value = _status_html(
                f"wrote {target} ({fmt}, {len(self.files)} files) · open it with vz.open({target!r}) · "
                f"full path: {self.written}", "ok")
            self._muted += 1
            try:
                self.w_overwrite.value = False
            finally:
                self._muted -= 1
            reason = self.write_disabled_reason
            self.w_write.disabled = reason is not None
            self.w_write.tooltip = reason or ""
            return self.written

    # ------------------------------------------------------------------ observers
    def _on_tags(self, change) -> None:
        if self._muted:
            return
        labels = [lab for lab in change["new"] if lab in self._path_of_label]
        self.files = [self._path_of_label[lab] for lab in dict.fromkeys(labels)]
        self._guard(self.refresh)

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

    # ------------------------------------------------------------------ display
    def static_html(self) -> str:
        """The widget as plain HTML (no JavaScript): files, report and the SVG
        chunk map. Used as the ``text/html`` fallback of the mime bundle."""
        from ...display.common import escape

        items = "".join(f"<li>{escape(self.label_of.get(p, p))}</li>" for p in self.files)
        status = f"{len(self.files)} files along {escape(self.dim or '?')}"
        svg = self.canvas.fallback_html or ""
        report = self.w_report.value if self.report is not None else ""
        return (f"<div class=\"vz-combine-static\"><div><b>vz combine</b>: {status}</div>"
                f"<ol>{items}</ol>{report}{svg}</div>")

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

    def __repr__(self) -> str:
        return (f"<CombineWidget {len(self.files)}/{len(self.datasets)} files dim={self.dim!r} "
                f"write={'enabled' if self.write_disabled_reason is None else 'disabled'}>")
