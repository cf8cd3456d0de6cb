"""Check that files can be combined, before anything is written.

``check(dsets, dim="time")`` makes one pass over all files and returns a
:class:`Report` of every problem found, each a :class:`Finding` with a severity
(``error`` / ``warning`` / ``info``), a code, the variable, the files concerned
and a suggested fix. Errors are what would make the combined dataset wrong or
unrepresentable (peers such as kerchunk silently take the first file's
``scale_factor`` or time units); warnings are problems the combine handles or
that may be intended (a gap in time); infos are drift worth knowing about.

Kinds: ``"concat"`` along an existing dimension, ``"stack"`` along a new one,
``"merge"`` of variables from different file sets.

The rules are small functions grouped by topic, each ``rule(cx, ...)`` adding
findings to a :class:`~.context.Context`:

- :mod:`.layout`: dimensions, dtype, codecs, shape and chunks;
- :mod:`.encoding`: CF encoding (fill values, scale/offset, time units and
  calendars, units inherited by bounds);
- :mod:`.coordinate`: the coordinate along the combine dimension (order,
  repeated values, overlaps, gaps);
- :mod:`.variables`: variables and attributes (presence, drift, values of
  variables taken once);
- :mod:`.driver`: :func:`check`, which runs them for each kind of combine.

:mod:`.report` holds :class:`Finding` and :class:`Report`, :mod:`.limits` the
sizes shared with concat and append, :mod:`.groups` the grouping of values by
file and the words findings use. Values are read only through a
:class:`~vz_jupyter.core.values.CoordinateReader`.
"""
from __future__ import annotations

from .context import is_coord
from .driver import check
from .encoding import CF_ENCODING_ATTRS
from .layout import decode_equal_codecs
from .limits import (
           COORD_INLINE_MAX_BYTES,
           DEFAULT_COMPARE_BYTES,
           TIME_FIX_MAX_BYTES,
           concat_inline_reason,
           fully_inline,
)
from .report import SEVERITIES, Finding, Report

__all__ = ["check", "Finding", "Report", "SEVERITIES", "CF_ENCODING_ATTRS", "COORD_INLINE_MAX_BYTES",
           "DEFAULT_COMPARE_BYTES", "TIME_FIX_MAX_BYTES", "concat_inline_reason", "decode_equal_codecs",
           "fully_inline", "is_coord"]
