"""CF missing data and packing, from a variable's attributes only (as xarray does).

``_FillValue`` and ``missing_value`` (scalars or lists; NaN matches NaN) plus
``valid_min``, ``valid_max`` and ``valid_range`` (which xarray ignores but the
CF conventions define) mark values as missing; ``scale_factor`` and
``add_offset`` unpack. Attributes of the wrong type are ignored, never coerced
into a rule.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def attr_values(attrs, name) -> list:
    """The values of attribute ``name`` as a flat list of numbers (text that is
    not a number, or no attribute: ``[]``)."""
    if name not in attrs:
        return []
    v = attrs[name]
    if v is None:
        return []
    a = np.asarray(v)
    if a.dtype.kind in "SUO":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            return []
    return a.ravel().tolist()


def missing_rules(attrs) -> dict[str, Any]:
    """The CF missing-data rules in ``attrs``: ``{"values": [...], "valid_min":
    x, "valid_max": y}`` (entries absent when not set)."""
    rules: dict[str, Any] = {}
    vals = attr_values(attrs, "_FillValue") + attr_values(attrs, "missing_value")
    if vals:
        rules["values"] = vals
    vr = attr_values(attrs, "valid_range")
    vmin = attr_values(attrs, "valid_min")
    vmax = attr_values(attrs, "valid_max")
    if len(vr) == 2:
        rules["valid_min"], rules["valid_max"] = vr
    if vmin:
        rules["valid_min"] = vmin[0]
    if vmax:
        rules["valid_max"] = vmax[0]
    return rules


def valid_mask(block: np.ndarray, rules: dict) -> np.ndarray | None:
    """True where a value is valid under ``rules`` (None = all valid)."""
    valid = None

    def _and(m):
        nonlocal valid
        valid = m if valid is None else (valid & m)

    for v in rules.get("values", ()):
        if isinstance(v, float) and np.isnan(v):
            if block.dtype.kind in "fc":
                _and(~np.isnan(block))
        else:
            _and(block != np.asarray(v).astype(block.dtype) if _castable(v, block.dtype) else np.ones(block.shape, bool))
    if "valid_min" in rules:
        _and(block >= rules["valid_min"])
    if "valid_max" in rules:
        _and(block <= rules["valid_max"])
    return valid


def _castable(v, dtype) -> bool:
    if dtype.kind in "fc":
        return True
    try:
        fv = float(v)
    except (TypeError, ValueError):
        return False
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return fv == int(fv) and info.min <= int(fv) <= info.max
    return dtype.kind == "b"


def scale_offset(attrs) -> tuple[float | None, float | None]:
    """CF ``scale_factor`` and ``add_offset`` (None where absent)."""
    s = attr_values(attrs, "scale_factor")
    o = attr_values(attrs, "add_offset")
    return (float(s[0]) if s else None), (float(o[0]) if o else None)
