"""What the combine widget shows of the check: the file list's payload (files,
left out, findings pinned on top, flags) and the chunk-map preview."""
from __future__ import annotations

import html
import os

from ....display.chunkmap import chunk_map_svg
from ..filelist import file_list_payload
from .common import HANDLED, one_line, widget_fix


class Showing:
    """Mixin of :class:`~.widget.CombineWidget`: the file list and the chunk map."""

    def _findings_for_list(self) -> list[dict]:
        out = []
        if self.report is None:
            return out
        for f in self.report.findings:
            if f.severity not in ("error", "warning") or (f.code in HANDLED and f.severity == "warning"):
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
            return chunk_map_svg(var, title=f"combined {var.name}")
        except Exception as e:  # noqa: BLE001 - the fallback must never break the widget
            return f"<pre>{html.escape(one_line(e))}</pre>"
