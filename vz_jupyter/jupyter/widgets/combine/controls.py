"""The combine widget's controls: built, laid out, enabled, and what each does when changed."""
from __future__ import annotations

import html
import os

import ipywidgets as W

from ....core.archive import detect_format
from ....core.errors import VZError
from ....core.serialize.outputs import resolve_target
from ..canvas import ChunkMapCanvas
from ..filelist import FileList
from .common import EXTENSIONS, FORMATS, SORTS, one_line, row, status_html


class Controls:
    """Mixin of :class:`~.widget.CombineWidget`: its ipywidgets controls (plus the
    file list and chunk-map anywidgets) and their observers."""

    def _build_controls(self, output: str | None) -> None:
        """Every control, in its initial state."""
        narrow = {"description_width": "initial"}
        self.w_title = W.HTML(self._title_html("Combine files"))
        self.w_progress = W.IntProgress(value=0, min=0, max=max(1, len(self._given)), description="Scanning",
                                        bar_style="info", style=narrow,
                                        layout=W.Layout(width="360px", max_width="100%"))
        self.w_status = W.HTML(status_html(""), layout=W.Layout(width="100%"))
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
        self.w_write_status = W.HTML(status_html(""), layout=W.Layout(width="100%"))
        self.w_write.add_class("vz-write-button")
        self.w_name.add_class("vz-name-box")
        self.w_rescan.add_class("vz-combine-rescan")
        self.add_class("vz-combine")
        self.layout.max_width = "100%"

    def _lay_out(self) -> None:
        """The controls in the widget, top to bottom."""
        self.children = [
            self.w_title,
            row([self.w_progress]),
            self.w_status,
            W.HTML("<b>Files</b> <span style=\"color:var(--jp-ui-font-color2,#666)\">"
                   "(drag a file to move it · × leaves it out · click a run to list its files)</span>"),
            self.w_files,
            row([self.w_name, self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan]),
            row([self.w_dim, self.w_var]),
            self.w_report,
            self.canvas,
            row([self.w_format, self.w_path, self.w_overwrite, self.w_write]),
            self.w_write_status,
        ]

    def _observe_controls(self) -> None:
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

    def _append_controls(self) -> None:
        """Append mode: the target is the archive, fixed; the button appends."""
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

    def _set_enabled(self, on: bool) -> None:
        for w in (self.w_name, self.w_sort_by, self.w_pattern, self.w_sort, self.w_rescan, self.w_dim,
                  self.w_var, self.w_format, self.w_path, self.w_overwrite):
            w.disabled = not on or (self.append_to is not None and w in (self.w_format, self.w_path))
        if not on:
            self.w_write.disabled = True

    def _show_status(self, text: str, kind: str = "info") -> None:
        self.w_status.value = status_html(text, kind)

    @staticmethod
    def _title_html(text: str) -> str:
        return f"<div style=\"font-weight:600;font-size:var(--jp-ui-font-size2,15px)\">{html.escape(text)}</div>"

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
