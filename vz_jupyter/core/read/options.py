"""How a read plan turns wanted byte ranges into requests, and how much it reads at once.

A :class:`ReadOptions` is frozen and built by keyword; a plan carries one
(``plan.options``) and every call that reads (``execute``, ``reduce``,
``requests``) takes another, or single fields as keywords that override the
plan's (``plan.execute(max_waste=None)``)::

    opts = ReadOptions(max_gap=1 << 20, max_waste=None)
    p = vz.plan(ds, "air[:, 4, 5]", options=opts)
    p.execute(max_block=8 << 20)          # the plan's options with one field changed
    p.requests(cost=OBJECT_STORE)         # as if every file were in an object store
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, fields, replace

from .cost import CostModel, model_for

#: gaps between wanted byte ranges up to this size may be read through
DEFAULT_MAX_GAP = 64 * 1024
#: a merge across a gap never makes a request larger than this
DEFAULT_MAX_BLOCK = 64 * 1024 * 1024
#: gap bytes read in merges stay within this fraction of the wanted bytes
DEFAULT_MAX_WASTE = 0.1
#: a reduction fetches (and holds) at most about this many bytes at a time
DEFAULT_BATCH_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """Merging and batching of a read (see the module docstring).

    ``max_gap``: gaps of at most this many bytes between wanted ranges of one
    file may be read through. ``max_block``: a merge never makes a request
    larger than this (``None``: no cap). ``max_waste``: the gap bytes read
    through stay within this fraction of the wanted bytes, smallest gaps first
    (``None``: no budget). ``batch_bytes``: ``reduce`` fetches about this many
    bytes at a time, so memory stays bounded (``None``: all at once);
    ``execute`` reads everything at once (its output holds it all anyway).
    ``cost``: the :class:`~vz_jupyter.core.read.cost.CostModel` of every
    file (``None``: each file's from its protocol: local files read
    span-exact with ``max_gap``/``max_waste``, object stores coalesce into
    few requests; see :mod:`vz_jupyter.core.read.cost`).
    """

    max_gap: int = DEFAULT_MAX_GAP
    max_block: int | None = DEFAULT_MAX_BLOCK
    max_waste: float | None = DEFAULT_MAX_WASTE
    batch_bytes: int | None = DEFAULT_BATCH_BYTES
    cost: CostModel | None = None

    def __post_init__(self):
        _check(self.max_gap, "max_gap", none_ok=False)
        _check(self.max_block, "max_block")
        _check(self.max_waste, "max_waste", number=float)
        _check(self.batch_bytes, "batch_bytes")
        if self.cost is not None and not isinstance(self.cost, CostModel):
            raise TypeError(f"read option cost must be a CostModel or None, not {type(self.cost).__name__}")

    def model_for(self, path: str) -> CostModel:
        """The cost model reading ``path`` follows."""
        return model_for(path, self.cost)

    def replace(self, **changes) -> ReadOptions:
        """A copy with some fields changed; an unknown name is a ``TypeError``."""
        if not changes:
            return self
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown read option {unknown[0]!r}; read options are: {', '.join(sorted(names))}")
        return replace(self, **changes)


def _check(value, name: str, *, none_ok: bool = True, number=int) -> None:
    """One field's type and sign, or a one-line ``TypeError``/``ValueError``."""
    if value is None and none_ok:
        return
    kinds = (numbers.Real,) if number is float else (numbers.Integral,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        want = "a number" if number is float else "an integer"
        raise TypeError(f"read option {name} must be {want}{' or None' if none_ok else ''}, not {value!r}")
    if value < 0:
        raise ValueError(f"read option {name} must not be negative, got {value!r}")


#: the options of a plan made without any
DEFAULT_OPTIONS = ReadOptions()


def resolve(base: ReadOptions, options: ReadOptions | None = None, overrides: dict | None = None) -> ReadOptions:
    """``options`` (or ``base`` when None) with ``overrides`` applied."""
    opts = base if options is None else options
    if not isinstance(opts, ReadOptions):
        raise TypeError(f"options must be a ReadOptions, not {type(opts).__name__}")
    return opts.replace(**(overrides or {}))
