"""Execute read plans: fetch byte ranges, decode, assemble.

Fetching
    All wanted ranges of a plan (or of one batch of it) are merged per file
    (:func:`vz_jupyter.core.read.ranges.entry_requests`, as the plan's
    :class:`~vz_jupyter.core.read.options.ReadOptions` allow) and fetched in one
    go (:func:`vz_jupyter.core.read.fetch.fetch_ranges`): local files with
    ``mmap``/``os.pread`` on one open descriptor per file; any other fsspec URL
    with one ``cat_ranges`` call per filesystem (concurrent for async
    filesystems such as HTTP). Uncompressed chunks contribute only their byte
    spans; encoded chunks are fetched whole and decoded with numcodecs (codecs
    are stored in encode order; decoding runs them in reverse), bounded by
    :mod:`vz_jupyter.core.decode`.

Assembling
    :func:`iter_blocks` hands out each entry's values; :func:`execute` puts
    them into the output array (missing chunks read as the fill value).
    Reductions (:mod:`vz_jupyter.core.read.reduce`) and the Reductionist
    export (:mod:`vz_jupyter.core.read.reductionist`) are built on the same
    iterator and entries.

This is the one path by which values of a virtual variable are read.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .errors import VZError
from .read.blocks import (
    batches,
    decode_many,
    entry_block,
    fill_value,
    oindex,  # noqa: F401  (re-exported: orthogonal indexing, used by tests and fuzzers)
    out_index,
)
from .read.entry import PlanEntry
from .read.fetch import fetch_ranges
from .read.options import ReadOptions, resolve
from .read.ranges import entry_requests
from .read.stats import ExecStats

if TYPE_CHECKING:  # the plan module imports this one
    from .plan import ReadPlan


def iter_blocks(plan: ReadPlan, options: ReadOptions, *, storage_options: dict | None = None, fs=None,
                batch_bytes: int | None = None, stats: ExecStats | None = None
                ) -> Iterator[tuple[PlanEntry, np.ndarray | None]]:
    """Yield ``(entry, block)`` for every entry (block None for missing chunks),
    fetching batch by batch (``batch_bytes`` bounds memory; None = all at once)
    with ranges merged as ``options`` say. Encoded chunks of a batch are
    decoded on a thread pool (zlib, blosc, zstd release the GIL)."""
    var = plan.var
    for batch in batches(plan.entries, batch_bytes):
        reqs = entry_requests(batch, options)
        try:
            fetched = fetch_ranges(reqs, storage_options=storage_options, fs=fs, stats=stats)
        except OSError as e:  # anything the fetch did not word itself (a directory, a device...)
            raise VZError(f"{e.filename or next(iter(reqs), '?')}: cannot read ({e.strerror or e})") from None
        decoded = decode_many(var, batch, fetched)
        for e in batch:
            if stats is not None:
                stats.add_entry(e)
            b = decoded.pop(id(e), None)
            yield e, (b if b is not None else entry_block(var, e, fetched))
        del fetched


def execute(plan: ReadPlan, *, options: ReadOptions | None = None, storage_options: dict | None = None, fs=None,
            **overrides) -> np.ndarray:
    """Read a plan into a numpy array (see :meth:`ReadPlan.execute`): ``options``
    (the plan's when None) with ``overrides`` (single ReadOptions fields)
    applied. Everything is fetched at once (the output holds it all anyway)."""
    opts = resolve(plan.options, options, overrides)
    t0 = time.perf_counter()
    stats = ExecStats()
    dtype = plan.dtype
    out = np.empty(plan.shape, dtype=dtype)
    for e, block in iter_blocks(plan, opts, storage_options=storage_options, fs=fs, stats=stats):
        idx = out_index(e.out_sel)
        out[idx] = fill_value(plan.var, dtype) if block is None else block
    stats.seconds = time.perf_counter() - t0
    plan.last_stats = stats
    return out
