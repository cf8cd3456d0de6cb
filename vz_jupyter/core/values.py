"""Values of virtual variables for the combine verbs, read through the one read path.

``sort``, ``check`` and ``concat`` need the stored values of a few small
variables: the times of a coordinate to order files and find gaps, a ``lat``
to compare between files, a time coordinate to re-encode. They never open a
file themselves. They are handed a :class:`CoordinateReader` (each makes a
fresh one when given none), which reads through the read-plan executor,
``plan(var).execute()`` (:mod:`vz_jupyter.core.execute`): the same fetching
(regular local files only, remote files through the checked filesystems of
:mod:`vz_jupyter.core.remote`), the same decoding and the same fill of
unwritten chunks as every other read of a virtual variable.

A reader remembers what it read for as long as it lives (one call of check or
concat, or a widget across its refreshes); nothing is remembered module-wide.
Values can be supplied in memory and file reads turned off, so the transforms
run on datasets built in Python, without any file::

    reader = CoordinateReader({ds_a["time"]: [0, 1, 2], ds_b["time"]: [3, 4, 5]}, read_files=False)
    vz.check([ds_a, ds_b], "time", reader=reader)
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import VZError
from .model import VArray
from .plan import plan

#: variables larger than this are not read for a combine (unless a caller allows more)
DEFAULT_MAX_READ = 64 * 2**20


def _refuse_unreadable(var: VArray, max_bytes: int) -> None:
    if var.dtype.kind in "OU" or var.dtype.fields is not None:
        raise VZError(f"variable {var.name!r}: cannot read values of dtype {var.dtype}")
    if var.nbytes > max_bytes:
        raise VZError(f"variable {var.name!r}: {var.nbytes} bytes is too large to read for a combine check")


def read_values(var: VArray, *, max_bytes: int = DEFAULT_MAX_READ, storage_options: dict | None = None) -> np.ndarray:
    """The stored (raw, not CF-decoded) values of the whole of ``var`` in its
    stored dtype, read by the executor: inlined chunks decoded without I/O,
    referenced chunks fetched and decoded, unwritten chunks as
    ``var.fill_value``. Refuses (:class:`VZError`) variables over
    ``max_bytes`` and dtypes that hold no plain values (objects, unicode,
    records)."""
    _refuse_unreadable(var, max_bytes)
    return _execute(var, storage_options)


def _execute(var: VArray, storage_options: dict | None) -> np.ndarray:
    # the executor gives native byte order; the stored dtype is kept (values compare by their bytes)
    return plan(var).execute(storage_options=storage_options).astype(var.dtype, copy=False)


class CoordinateReader:
    """Reads stored values of variables for sort, check and concat, each
    variable once per reader (see the module docstring).

    ``values``: values supplied in memory, ``{VArray: array-like}`` (stored
    values, shaped like the variable); they are used instead of reading.
    ``read_files=False``: never read a file; a variable with chunks in files
    and no supplied values is refused (inlined chunks are still decoded).
    ``storage_options``: for remote files (fsspec options).
    """

    def __init__(self, values: Mapping[VArray, Any] | None = None, *, read_files: bool = True,
                 storage_options: dict | None = None):
        self.supplied: dict[VArray, Any] = dict(values or {})
        self.read_files = read_files
        self.storage_options = storage_options
        self._memo: weakref.WeakKeyDictionary[VArray, np.ndarray] = weakref.WeakKeyDictionary()

    def read(self, var: VArray, *, max_bytes: int = DEFAULT_MAX_READ) -> np.ndarray:
        """The stored values of ``var`` (a read-only array in its stored
        dtype); :class:`VZError` when it is over ``max_bytes``, of a dtype
        without plain values, or (``read_files=False``) in files and not
        supplied."""
        _refuse_unreadable(var, max_bytes)
        got = self._memo.get(var)
        if got is None:
            got = self._fetch(var)
            got.flags.writeable = False
            self._memo[var] = got
        return got

    def _fetch(self, var: VArray) -> np.ndarray:
        if var in self.supplied:
            vals = np.array(self.supplied[var], dtype=var.dtype)  # a copy the reader owns
            if vals.shape != var.shape:
                raise VZError(f"variable {var.name!r}: {vals.shape} values supplied for shape {var.shape}")
            return vals
        if not self.read_files and var.manifest.n_referenced:
            raise VZError(f"variable {var.name!r}: its values are in files, which this reader does not read "
                          f"(read_files=False), and none were supplied")
        return _execute(var, self.storage_options)


__all__ = ["CoordinateReader", "read_values", "DEFAULT_MAX_READ"]
