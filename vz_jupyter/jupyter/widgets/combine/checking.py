"""The combine widget's check: the report and the combined preview for the
current order and dim (in append mode, the check of an append), and the status
line that says what is combined and what needs doing."""
from __future__ import annotations

import os

from ....core.append import check_append
from ....core.check import check
from ....core.concat import concat
from ....core.model import VDataset
from ....display.report import report_html
from .common import one_line, widget_fix


class Checking:
    """Mixin of :class:`~.widget.CombineWidget`: check, preview and status."""

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
        if self.append_to is not None:
            return self._check_and_preview_append(dsets)
        self._report_and_preview(lambda: check(dsets, self.dim), dsets)

    def _report_and_preview(self, run_check, preview: list[VDataset]) -> None:
        """The report of ``run_check()`` shown, then ``preview`` combined; a
        failure of either is one line (the preview is drawn even when the check
        found errors: writing stays disabled)."""
        try:
            self.report = run_check()
        except Exception as e:  # noqa: BLE001
            self.error = one_line(e)
            self.w_report.value = ""
            return
        self.w_report.value = report_html(self.report, fix=widget_fix)
        try:
            self.combined = concat(preview, self.dim, check=False)
        except Exception as e:  # noqa: BLE001
            self.preview_error = one_line(e)

    def _check_and_preview_append(self, dsets: list[VDataset]) -> None:
        """Append mode: the report of ``vz.check(archive, files)`` (the files in
        the list's order), and the archive followed by the files as the preview."""
        new = [self.datasets[p] for p in self.files if p != self.append_to]
        if self.append_to not in self.datasets:
            self.preview_error = "the archive could not be read"
            return
        if not new:
            self.w_report.value = ""
            self.preview_error = "no files to append"
            self.combined = self.datasets[self.append_to]
            return
        self._report_and_preview(lambda: check_append(self.append_to, new, self.dim, sort=False),
                                 [self.datasets[self.append_to], *new])

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
