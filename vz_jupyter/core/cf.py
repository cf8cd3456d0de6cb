"""Small CF-conventions helpers for combining files: decode/re-encode CF time
units, conforming fill values, and a variable holding given values inline.

No I/O here: values of a virtual variable are read by the read-plan executor
(see :mod:`vz_jupyter.core.values`).
"""
from __future__ import annotations

import functools
import math
import re
import warnings
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import VZError
from .model import Manifest, VArray

_UNIT_SECONDS = {
    "microseconds": 1e-6, "microsecond": 1e-6, "us": 1e-6, "usec": 1e-6, "usecs": 1e-6,
    "milliseconds": 1e-3, "millisecond": 1e-3, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
    "seconds": 1.0, "second": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0,
    "minutes": 60.0, "minute": 60.0, "min": 60.0, "mins": 60.0,
    "hours": 3600.0, "hour": 3600.0, "h": 3600.0, "hr": 3600.0, "hrs": 3600.0,
    "days": 86400.0, "day": 86400.0, "d": 86400.0,
    "weeks": 604800.0, "week": 604800.0,
}
_CALENDAR_ALIASES = {
    "gregorian": "standard", "standard": "standard", "": "standard",
    "proleptic_gregorian": "proleptic_gregorian",
    "noleap": "noleap", "365_day": "noleap",
    "all_leap": "all_leap", "366_day": "all_leap",
    "360_day": "360_day", "julian": "julian", "none": "none",
}
_SINCE = re.compile(r"^\s*(\w+)\s+since\s+(.+?)\s*$", re.IGNORECASE)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, (bytes, np.bytes_)):
        v = bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    return str(v)


def is_time_units(units: Any) -> bool:
    """True for CF ``"<unit> since <date>"`` units with a unit of fixed length."""
    u = _text(units)
    if not u:
        return False
    m = _SINCE.match(u)
    return bool(m) and m.group(1).lower() in _UNIT_SECONDS


def normalize_calendar(cal: Any) -> str:
    """CF calendar names with aliases folded (``gregorian`` -> ``standard``)."""
    c = (_text(cal) or "standard").strip().lower()
    return _CALENDAR_ALIASES.get(c, c)


def time_encoding(attrs: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(units, calendar)`` of a CF time variable, or None when it is not one."""
    units = attrs.get("units")
    if units is None:
        return None
    cal = attrs.get("calendar")
    if type(units) is str and (cal is None or type(cal) is str):
        return _time_encoding_str(units, cal)
    units = _text(units)
    if not is_time_units(units):
        return None
    return units.strip(), normalize_calendar(cal)


@functools.lru_cache(maxsize=4096)
def _time_encoding_str(units: str, cal: str | None):
    if not is_time_units(units):
        return None
    return units.strip(), normalize_calendar(cal)


def _parse(units: str) -> tuple[float, str]:
    m = _SINCE.match(units)
    if not m or m.group(1).lower() not in _UNIT_SECONDS:
        raise VZError(f"time units {units!r} are not '<unit> since <date>' with a fixed-length unit")
    return _UNIT_SECONDS[m.group(1).lower()], m.group(2)


_REF_CACHE: dict[tuple[str, str, str], float] = {}


def _ref_offset(units: str, calendar: str, common: str) -> float:
    """Seconds from the reference date of ``common`` to the reference date of
    ``units`` (both 'seconds since ...' style), in ``calendar``."""
    key = (units, calendar, common)
    v = _REF_CACHE.get(key)
    if v is None:
        import cftime  # heavy: cftime, only for calendar arithmetic (import vz_jupyter does not load it)

        _, ref = _parse(units)
        _, cref = _parse(common)
        try:
            d = cftime.num2date(0, f"seconds since {ref}", calendar=calendar)
            v = float(cftime.date2num(d, f"seconds since {cref}", calendar=calendar))
        except Exception as e:  # cftime raises ValueError / TypeError on bad dates
            raise VZError(f"cannot decode time units {units!r} (calendar {calendar!r}): {e}") from None
        if len(_REF_CACHE) > 10000:
            _REF_CACHE.clear()
        _REF_CACHE[key] = v
    return v


def convert_time(values: np.ndarray, units: str, calendar: str, target_units: str) -> np.ndarray:
    """Re-express CF time ``values`` given in ``units`` in ``target_units`` (same
    calendar). Vectorised: one reference-date conversion per call. Returns float64."""
    factor, _ = _parse(units)
    tfactor, _ = _parse(target_units)
    offset = _ref_offset(units, normalize_calendar(calendar), target_units)
    v = np.asarray(values, dtype=np.float64)
    if factor == tfactor and offset == 0.0:
        return v.copy()
    return (v * factor + offset) / tfactor


def inherited_time_encoding(ds, name: str) -> tuple[str, str] | None:
    """``(units, calendar)`` a variable of ``ds`` has under CF: its own, or, for
    a ``bounds``/``climatology`` variable without units (``time_bnds``), those of
    the variable that names it (CF 7.1: bounds inherit their parent's units and
    calendar)."""
    var = ds.variables[name]
    own = time_encoding(var.attrs)
    if own is not None or "units" in var.attrs:
        return own
    parent = _bounds_parents(ds).get(name)
    return time_encoding(ds.variables[parent].attrs) if parent is not None else None


_PARENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bounds_parents(ds) -> dict[str, str]:
    """``{bounds or climatology variable: the variable naming it}`` (one pass
    over a dataset's attributes, remembered while the dataset lives)."""
    out = _PARENTS.get(ds)
    if out is None:
        out = {}
        for pname, parent in ds.variables.items():
            for key in ("bounds", "climatology"):
                b = _text(parent.attrs.get(key))
                if b and b in ds.variables and time_encoding(parent.attrs) is not None:
                    out.setdefault(b, pname)
        _PARENTS[ds] = out
    return out


#: the common scale used to compare times of different files
COMMON_UNITS = "seconds since 1970-01-01 00:00:00"


def decode_to_seconds(values: np.ndarray, attrs: Mapping[str, Any]) -> tuple[np.ndarray, str | None]:
    """Seconds since 1970-01-01 (in the variable's calendar) for a CF time
    variable, and the calendar; other variables are returned as float values and
    calendar None."""
    enc = time_encoding(attrs)
    v = np.asarray(values)
    if enc is None:
        if v.dtype.kind in "mM":
            return v.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9, None
        return v.astype(np.float64) if v.dtype.kind in "iufb" else v, None
    units, cal = enc
    return convert_time(v, units, cal, COMMON_UNITS), cal


def format_seconds(sec: float, calendar: str | None) -> str:
    """A readable date for seconds since 1970 (in ``calendar``); plain number
    otherwise."""
    if calendar is None or not math.isfinite(sec):
        return f"{sec:g}"
    try:
        import cftime  # heavy: cftime, only for calendar arithmetic (import vz_jupyter does not load it)

        d = cftime.num2date(sec, COMMON_UNITS, calendar=calendar)
        return d.isoformat(sep=" ").replace(" 00:00:00", "")
    except Exception:
        return f"{sec:g}"


def format_duration(sec: float) -> str:
    for name, n in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if abs(sec) >= n and abs(sec / n - round(sec / n)) < 1e-9:
            k = round(sec / n)
            return f"{k} {name}{'s' if abs(k) != 1 else ''}"
    return f"{sec:g} s"


# ----------------------------------------------------------------------------- fill values

def conforming_fill(value: Any, dtype: np.dtype) -> tuple[bool, Any]:
    """``(True, value as dtype)`` when an attribute ``value`` is one value that
    ``dtype`` holds exactly (an int variable's ``_FillValue`` of 3.0 is 3);
    ``(False, None)`` otherwise (1.5 or NaN for an int variable, a string for a
    number, several values): such a value is never coerced, it is kept as found."""
    dtype = np.dtype(dtype)
    if value is None or dtype.kind in "OUV" or dtype.fields is not None:
        return False, None
    arr = np.asarray(value)
    if arr.size != 1:
        return False, None
    v = arr.reshape(-1)[0]
    if dtype.kind == "S":
        if isinstance(v, str):
            v = v.encode("utf-8")
        if isinstance(v, (bytes, np.bytes_)) and len(bytes(v)) <= dtype.itemsize:
            return True, np.asarray(bytes(v), dtype=dtype)[()]
        return False, None
    if dtype.kind == "b":
        return (True, np.bool_(v)) if arr.dtype.kind == "b" else (False, None)
    if arr.dtype.kind not in ("iufc" if dtype.kind == "c" else "iuf"):
        return False, None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cast = np.asarray(v).astype(dtype)
            back = cast.astype(arr.dtype)
    except (TypeError, ValueError, OverflowError):
        return False, None
    same = bool(back == v) or (dtype.kind in "fc" and bool(np.isnan(back)) and bool(np.isnan(v)))
    if not same:
        return False, None
    if dtype.kind in "iu" and arr.dtype.kind == "f" and not float(v).is_integer():
        return False, None
    return True, cast[()]


# ----------------------------------------------------------------------------- inlined values

def inline_values_var(var: VArray, values: np.ndarray, *, attrs: Mapping[str, Any] | None = None) -> VArray:
    """A copy of ``var`` holding ``values`` as one inlined, uncompressed chunk."""
    values = np.ascontiguousarray(values)
    shape = values.shape
    chunks = tuple(max(int(s), 1) for s in shape)
    grid = tuple(1 for _ in shape)
    man = Manifest.empty(grid).with_inline({0: values.tobytes()}) if shape else Manifest.empty(()).with_inline(
        {0: values.tobytes()})
    fill = var.fill_value
    if values.dtype != var.dtype and fill is not None:
        try:
            fill = np.asarray(fill).astype(values.dtype).item()
        except (TypeError, ValueError):
            fill = None
    return var.replace(shape=shape, dtype=values.dtype, chunks=chunks, codecs=(), fill_value=fill,
                       attrs=dict(var.attrs if attrs is None else attrs), manifest=man)
