"""The combine widget's order of files: set, leave out, bring back, move, sort;
and the file list's actions, which do the same."""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from ....core.errors import TiedSortKeysWarning, VZError
from ....core.sort import sort as core_sort
from ...wording import dim_problem


class Ordering:
    """Mixin of :class:`~.widget.CombineWidget`: the state API of the order and dim."""

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
