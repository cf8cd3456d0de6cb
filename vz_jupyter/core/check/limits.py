"""What a combine reads and inlines: the size limits shared by check, concat
and append, and :func:`concat_inline_reason` (which variables along the
combine dimension concat decodes and writes as one inlined chunk)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from ..cf import time_encoding
from ..model import VArray

#: variables not along the combine dim up to this size (per file) have their values compared
DEFAULT_COMPARE_BYTES = 4 * 2**20
#: time variables along the dim up to this size (all files) can be re-encoded and inlined
TIME_FIX_MAX_BYTES = 64 * 2**20
#: coordinates along the dim up to this size (all files) are decoded and inlined by concat
COORD_INLINE_MAX_BYTES = 4 * 2**20


def fully_inline(var: VArray) -> bool:
    """Every chunk inlined (or unwritten), at least one inlined: the values need no file."""
    m = var.manifest
    return m.n_chunks > 0 and m.n_inline + m.n_missing == m.n_chunks and m.n_inline > 0


def concat_inline_reason(items: Sequence[VArray], *, coord: bool, fix_time: bool, encs=None) -> str | None:
    """Why concat decodes a variable along the combine dim and writes it as one
    inlined chunk (None: its chunk manifests are joined as they are).

    - ``"inlined"``: every file has it inlined already (small coordinates);
    - ``"time-units"``: its CF time units differ and ``fix_time`` is on
      (``encs``: each file's ``(units, calendar)``, inherited ones included,
      see :func:`cf.inherited_time_encoding`; default: the variable's own);
    - ``"coordinate"``: a small coordinate (read once per file, like kerchunk).
    """
    total = sum(math.prod(v.shape) * v.dtype.itemsize for v in items)
    if total > TIME_FIX_MAX_BYTES or any(v.dtype.kind in "OUSV" for v in items):
        return None
    if encs is None:
        encs = [time_encoding(v.attrs) for v in items]
    if fix_time and all(encs) and len({e[0] for e in encs}) > 1 and len({e[1] for e in encs}) == 1:
        return "time-units"
    if total <= COORD_INLINE_MAX_BYTES and all(fully_inline(v) for v in items):
        return "inlined"
    if coord and total <= COORD_INLINE_MAX_BYTES:
        return "coordinate"
    return None
