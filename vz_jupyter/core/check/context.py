"""What every check rule sees: :class:`Context`.

The rules are plain functions ``rule(cx, ...)`` that read the datasets (in the
order given) from the context and add findings to it. Values are read only
through ``cx.reader`` (the read-plan executor, see
:mod:`vz_jupyter.core.values`) and only when cheap (:meth:`Context.values_of`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import VZError
from ..model import VArray, VDataset
from ..values import CoordinateReader
from .limits import DEFAULT_COMPARE_BYTES
from .report import Finding


@dataclass(frozen=True)
class Context:
    """The datasets being checked, how, and the findings so far.

    ``fix_time``: differing time units along ``dim`` will be re-encoded by
    concat (a warning, not an error). ``read_coords``: small variables that are
    not inlined may be read (one read per file) to compare values.
    ``compare_bytes``: the largest variable (per file) whose values are
    compared. ``unread``: positions of datasets never read (an archive being
    appended to: only its inlined values are compared).
    """

    dsets: tuple[VDataset, ...]
    labels: tuple[str, ...]
    dim: str | None
    kind: str
    reader: CoordinateReader
    fix_time: bool = True
    read_coords: bool = True
    compare_bytes: int = DEFAULT_COMPARE_BYTES
    unread: frozenset[int] = frozenset()
    findings: list[Finding] = field(default_factory=list)
    #: positions of datasets that repeat an earlier one's file (see ``same_file_twice``)
    twice: set[int] = field(default_factory=set)

    def add(self, severity: str, code: str, message: str, variable: str | None = None,
            files: Sequence[str] = (), fix: str | None = None) -> None:
        self.findings.append(Finding(severity, code, message, variable, tuple(files), fix))

    def may_read(self, i: int) -> bool:
        return self.read_coords and i not in self.unread

    def values_of(self, var: VArray, limit: int, i: int) -> np.ndarray | None:
        """Values of dataset ``i``'s variable when cheap: inlined chunks always,
        referenced chunks when it may be read and is at most ``limit`` bytes;
        None otherwise (or when it cannot be read)."""
        m = var.manifest
        all_inline = bool(m.n_chunks) and m.n_inline + m.n_missing == m.n_chunks
        if not all_inline and (not self.may_read(i) or var.nbytes > limit):
            return None
        try:
            return self.reader.read(var, max_bytes=max(limit, var.nbytes) if all_inline else limit)
        except VZError:
            return None

    def var_names(self) -> list[str]:
        """Every variable name, in the order first seen."""
        names: dict[str, None] = {}
        for ds in self.dsets:
            for n in ds.variables:
                names.setdefault(n, None)
        return list(names)


def is_coord(name: str, dss: Sequence[VDataset]) -> bool:
    """A coordinate in the first dataset that has the variable."""
    for ds in dss:
        if name in ds.variables:
            return name in ds.coords or ds.variables[name].dims == (name,)
    return False
