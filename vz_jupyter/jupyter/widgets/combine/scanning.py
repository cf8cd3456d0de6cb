"""The combine widget's scan: the files (and in append mode the archive) read
one by one with a progress bar, then the list, names and concat dim set up."""
from __future__ import annotations

import os
import threading
import time

from ....core.archive import open_archive
from ....core.model import VDataset
from ....core.scan import expand_paths, scan_file
from ....core.sort import name_number_pattern
from ...wording import dim_problem
from ..canvas import _labels
from .common import DIM_GUESSES, PROGRESS_EVERY, one_line


class Scanning:
    """Mixin of :class:`~.widget.CombineWidget`: scanning (in a thread in a kernel)."""

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
                if now - shown >= PROGRESS_EVERY or i == 0:
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
        if self.archive_format == "icechunk":
            with open_archive(self.append_to, self.dim or self._wanted_dim or "time") as arc:
                self._archive_files = len(arc.paths)
                return arc.view
        ds = scan_file(self.append_to)
        self._archive_files = len({p for v in ds.variables.values() for p in v.manifest.paths})
        return ds

    def _after_scan(self, datasets: dict[str, VDataset], errors: list[str]) -> None:
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
        for g in DIM_GUESSES:
            if g in dims:
                return g
        # a dimension whose length differs between files is a likely concat dim
        for d in dims:
            sizes = {ds.dims.get(d) for ds in self.datasets.values()}
            if len(sizes) > 1:
                return d
        return dims[0] if dims else None
