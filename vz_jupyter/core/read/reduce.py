"""Chunk-wise reductions of a read plan, like active storage.

``min``, ``max``, ``sum``, ``mean`` (= sum / count) and ``count`` are computed
per chunk on the selected values with CF missing data masked
(:mod:`vz_jupyter.core.read.missing`), then combined: sums and counts add,
minima and maxima take the extreme. With ``decode=True`` (the default) CF
``scale_factor``/``add_offset`` are applied *after* the reduction, which is
exact because they are linear: ``min/max -> s*x + o`` (swapped when ``s < 0``),
``sum -> s*sum + o*count``, ``mean -> s*mean + o``; ``count`` is unchanged.
Results where no valid value exists are masked (``numpy.ma``), like numpy's
masked-array reductions. Chunks are fetched in batches of about
``ReadOptions.batch_bytes``, so memory stays bounded whatever the selection.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SelectionError, VZError
from ..execute import iter_blocks
from .blocks import fill_value, out_index
from .missing import missing_rules, scale_offset, valid_mask
from .options import ReadOptions, resolve
from .stats import ExecStats

if TYPE_CHECKING:  # the plan module imports this one
    from ..plan import ReadPlan

OPS = ("min", "max", "sum", "mean", "count")


def check_op(op: str) -> None:
    if op not in OPS:
        raise SelectionError(f"unknown reduction {op!r}; choose one of {', '.join(OPS)}")


def result_axes(plan: ReadPlan, axis) -> tuple[int, ...]:
    """``axis`` (None, an int or dim name, or several) as sorted axes of the plan's result."""
    nd = len(plan.shape)
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, (str, int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        if isinstance(a, str):
            if a not in plan.dims:
                raise SelectionError(f"{a!r} is not a dimension of the result; dimensions are: {', '.join(plan.dims) or '(none)'}")
            a = plan.dims.index(a)
        a = int(a)
        if a < -nd or a >= nd:
            raise SelectionError(f"axis {a} is out of range for a result with {nd} dimension(s)")
        out.append(a % nd)
    if len(set(out)) != len(out):
        raise SelectionError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _identities(plan: ReadPlan) -> tuple[Any, Any, type]:
    """(lowest value, highest value, dtype to sum in) for the variable's dtype."""
    dtype = plan.var.dtype
    if dtype.kind in "iu":
        big = np.iinfo(dtype)
        return big.min, big.max, (np.uint64 if dtype.kind == "u" else np.int64)
    if dtype.kind == "b":
        return False, True, np.int64
    if dtype.kind == "f":
        return -np.inf, np.inf, np.float64
    raise VZError(f"{plan.var.name}: cannot reduce values of dtype {dtype}")


class _Partials:
    """Running results per output cell: counts of valid values and the
    accumulator of ``op`` (sums in a wide dtype, extremes in the native one)."""

    def __init__(self, op: str, plan: ReadPlan, axes: tuple[int, ...]):
        self.op, self.axes = op, axes
        self.kept = tuple(i for i in range(len(plan.shape)) if i not in axes)
        rshape = tuple(plan.shape[i] for i in self.kept)
        self.lo, self.hi, self.sum_dtype = _identities(plan)
        self.count = np.zeros(rshape, dtype=np.int64)
        self.acc = None
        if op in ("sum", "mean"):
            self.acc = np.zeros(rshape, dtype=self.sum_dtype)
        elif op == "min":
            self.acc = np.full(rshape, self.hi, dtype=plan.dtype)
        elif op == "max":
            self.acc = np.full(rshape, self.lo, dtype=plan.dtype)

    def add(self, out_sel, block: np.ndarray, valid: np.ndarray | None) -> None:
        """Fold one chunk's block (its output selection ``out_sel``) in."""
        axes, kept = self.axes, self.kept
        idx = out_index(tuple(out_sel[i] for i in kept))
        if valid is None:
            n = int(np.prod([block.shape[i] for i in axes], dtype=np.int64))
            c = np.full(tuple(block.shape[i] for i in kept), n, dtype=np.int64)
        else:
            c = valid.sum(axis=axes, dtype=np.int64)
        self.count[idx] += c
        where = valid if valid is not None else True
        if self.op in ("sum", "mean"):
            self.acc[idx] += np.sum(block, axis=axes, where=where, dtype=self.sum_dtype)
        elif self.op == "min":
            self.acc[idx] = np.minimum(self.acc[idx], np.min(block, axis=axes, where=where, initial=self.hi))
        elif self.op == "max":
            self.acc[idx] = np.maximum(self.acc[idx], np.max(block, axis=axes, where=where, initial=self.lo))

    def result(self, s: float | None, o: float | None):
        """The combined result, unpacked by scale ``s`` and offset ``o``; masked where nothing was valid."""
        count = self.count
        if self.op == "count":
            return count[()] if count.ndim == 0 else count
        empty = count == 0
        if self.op == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                res = self.acc / np.where(empty, 1, count)
        else:
            res = self.acc
            if s is not None or o is not None:
                res = res.astype(np.float64)
        if s is not None:
            res = res * s
        if o is not None:
            res = res + (o * count if self.op == "sum" else o)
        if res.ndim == 0:
            return np.ma.masked if bool(empty) else res[()]
        return np.ma.MaskedArray(res, mask=empty)


def reduce(plan: ReadPlan, op: str, *, axis=None, decode: bool = True, options: ReadOptions | None = None,
           storage_options: dict | None = None, fs=None, **overrides):
    """Chunk-wise reduction of the plan's selection (see the module docstring).

    ``options`` (the plan's when None) with ``overrides`` (single ReadOptions
    fields, e.g. ``batch_bytes=``) say how ranges merge and how much is read
    at a time. Returns a numpy scalar / array; ``min``, ``max``, ``sum`` and
    ``mean`` are masked (``numpy.ma``) where no valid value exists.
    ``plan.last_stats`` gets the I/O counts.
    """
    check_op(op)
    opts = resolve(plan.options, options, overrides)
    t0 = time.perf_counter()
    s, o = scale_offset(plan.var.attrs) if decode else (None, None)
    if op in ("min", "max") and s is not None and s < 0:
        # s*x + o is decreasing: the minimum of the scaled values is at the raw maximum
        op = "max" if op == "min" else "min"
    partials = _Partials(op, plan, result_axes(plan, axis))
    rules = missing_rules(plan.var.attrs)
    native = plan.dtype
    stats = ExecStats()
    for e, block in iter_blocks(plan, opts, storage_options=storage_options, fs=fs, batch_bytes=opts.batch_bytes,
                                stats=stats):
        if block is None:
            block = np.broadcast_to(np.asarray(fill_value(plan.var, native), dtype=native), e.out_shape)
        partials.add(e.out_sel, block, valid_mask(block, rules))
    stats.seconds = time.perf_counter() - t0
    plan.last_stats = stats
    return partials.result(s, o)
