"""Runs of file names: how a long list of files is told in a few lines.

An archive of 1,000 daily files reads best as ``day_0001.nc … day_1000.nc
(1,000 files, in name order)``. These pure functions find such runs; the combine
widget's file list, its chunk map and the chunk-map SVG legend use them.

``natural_key(name)``
    A sort key that compares the numbers in a name as numbers (``d2 < d10``).
``file_runs(names, *, breaks=(), min_run=1)``
    Consecutive names that share one template (the same text between their
    numbers) and ascend in natural order, as ``Run(start, stop, first, last)``
    (``stop`` exclusive). A position in ``breaks`` (e.g. a file with a finding)
    always stands alone.
``run_label(run)``
    ``"day_0001.nc … day_1000.nc"`` (or the one name).
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Run", "natural_key", "file_runs", "run_label", "basename"]

_DIGITS = re.compile(r"(\d+)")


def basename(path: str) -> str:
    """The last part of a path or URL (the path itself when it ends in ``/``)."""
    p = str(path)
    return posixpath.basename(p.rstrip("/")) or p


def _template(name: str) -> tuple[str, ...]:
    return tuple(_DIGITS.split(name)[0::2])


def natural_key(name: str) -> tuple:
    """``"t2m_d10.nc" -> ("t", 2, "m_d", 10, ".nc")``-like key: numbers compare as numbers."""
    parts = _DIGITS.split(str(name))
    return tuple((0, int(p), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts))


@dataclass(frozen=True)
class Run:
    """Positions ``start`` to ``stop - 1`` of a list of names, one template, ascending."""

    start: int
    stop: int
    first: str
    last: str

    @property
    def count(self) -> int:
        return self.stop - self.start


def file_runs(names: Sequence[str], *, breaks: Iterable[int] = ()) -> list[Run]:
    """Split ``names`` (in their current order) into runs; see the module docstring."""
    names = [basename(n) for n in names]
    alone = set(breaks)
    runs: list[Run] = []
    start = 0
    for i in range(1, len(names) + 1):
        if i < len(names) and i not in alone and (i - 1) not in alone:
            a, b = names[i - 1], names[i]
            if _template(a) == _template(b) and natural_key(b) > natural_key(a):
                continue
        runs.append(Run(start, i, names[start], names[i - 1]))
        start = i
    return runs


def run_label(run: Run) -> str:
    """``"first … last"`` for a run of several files, the name for one."""
    return run.first if run.count == 1 else f"{run.first} … {run.last}"
