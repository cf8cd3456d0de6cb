"""The combine widget's Write (or, in append mode, Append) button: when it is
enabled and why not, and what it does."""
from __future__ import annotations

import os

from ....core import serialize  # serialize.write looked up when called (tests replace it)
from ....core.append import append
from ....core.errors import TargetExists, WriteError
from .common import status_html


class Writing:
    """Mixin of :class:`~.widget.CombineWidget`: writing and appending."""

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
            self.w_write_status.value = status_html(f"Write disabled: {reason}", "warn")
        elif not reason and self.append_to is not None:
            self.w_write_status.value = status_html(
                f"ready to append {len(self.files) - 1:,} files to", code=self.append_to)
        elif not reason:
            self.w_write_status.value = status_html(
                f"ready to write {len(self.files):,} files as {self.w_format.value} to", code=self.target)

    def write(self) -> str:
        """Write the combined references (same rules as the button); returns the path.

        Raises :class:`WriteError` when writing is disabled (check errors, missing
        path, existing target without overwrite) or refused: overwrite replaces
        only an earlier output of the same format, never a source file or a
        folder holding sources, nor anything else (see ``vz.write``)."""
        if self.append_to is not None:
            return self._append()
        with self._lock:
            reason = self.write_disabled_reason
            if reason is not None:
                raise WriteError(f"not written: {reason}")
            target = self.target
            fmt = self.w_format.value
            try:  # the core refuses (one line) anything but an earlier output of this format
                serialize.write(self.combined, target, format=fmt, overwrite=bool(self.w_overwrite.value))
            except TargetExists as e:
                raise e.with_hint("tick overwrite to replace it") from None
            self.written = os.path.abspath(target)
            self.error = None
            self.notice = (f"wrote {target}", "ok")
            self.w_write_status.value = status_html(
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
            self.w_write_status.value = status_html(
                f"{text} · open it with vz.open({self.append_to!r}) · full path:", "ok", code=self.written)
            self._show_status_from_state()
            return self.written
