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
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import formatting
from .cf import format_duration, format_seconds, inherited_time_encoding, time_encoding
from .errors import VZError
from .model import VArray, VDataset
from .sort import dataset_label
from .values import CoordinateReader

SEVERITIES = ("error", "warning", "info")

#: attributes checked one by one (not reported as drift)
CF_ENCODING_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset")
#: codec parameters that do not change how a chunk decodes
_DECODE_IRRELEVANT = {
    "zlib": {"level"},
    "gzip": {"level"},
    "bz2": {"level"},
    "zstd": {"level", "checksum"},
    "blosc": {"cname", "clevel", "shuffle", "blocksize", "typesize"},
    "lz4": {"acceleration"},
}
#: variables not along the combine dim up to this size (per file) have their values compared
DEFAULT_COMPARE_BYTES = 4 * 2**20
#: time variables along the dim up to this size (all files) can be re-encoded and inlined
TIME_FIX_MAX_BYTES = 64 * 2**20
#: coordinates along the dim up to this size (all files) are decoded and inlined by concat
COORD_INLINE_MAX_BYTES = 4 * 2**20


def fully_inline(var: VArray) -> bool:
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


@dataclass(frozen=True)
class Finding:
    """One problem (or note) found by :func:`check`."""

    severity: str
    code: str
    message: str
    variable: str | None = None
    files: tuple[str, ...] = ()
    fix: str | None = None

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        object.__setattr__(self, "files", tuple(self.files))

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "variable": self.variable,
            "files": list(self.files),
            "fix": self.fix,
        }

    def __str__(self) -> str:
        s = f"{self.severity.upper()} [{self.code}] {self.message}"
        if self.fix:
            s += f" Fix: {self.fix}"
        return s


class Report:
    """The result of :func:`check`: every finding, grouped by severity."""

    def __init__(self, findings: Iterable[Finding], *, dim: str | None, kind: str, files: Sequence[str]):
        order = {s: i for i, s in enumerate(SEVERITIES)}
        self.findings: tuple[Finding, ...] = tuple(sorted(findings, key=lambda f: order[f.severity]))
        self.dim = dim
        self.kind = kind
        self.files: tuple[str, ...] = tuple(files)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def infos(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "info")

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def ok(self) -> bool:
        return not self.has_errors

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def by_code(self, code: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code == code)

    def for_file(self, path: str) -> tuple[Finding, ...]:
        """Findings naming ``path`` (full path or file name)."""
        return tuple(f for f in self.findings if any(p == path or os.path.basename(p) == path for p in f.files))

    def what(self) -> str:
        n = len(self.files)
        if self.kind == "merge":
            return f"merge of {n} dataset{'s' if n != 1 else ''}"
        verb = "stack" if self.kind == "stack" else "concat"
        return f"{verb} of {n} file{'s' if n != 1 else ''} along {self.dim!r}"

    def summary_line(self) -> str:
        """One line: what was checked and how it went (used in CheckFailed)."""
        ne, nw, ni = len(self.errors), len(self.warnings), len(self.infos)

        def codes(fs):
            c = list(dict.fromkeys(f.code for f in fs))
            return f" ({', '.join(c[:6])}{', …' if len(c) > 6 else ''})" if c else ""

        if ne:
            first = self.errors[0]
            return (f"check failed for {self.what()}: {ne} error{'s' if ne != 1 else ''}{codes(self.errors)}, "
                    f"{nw} warning{'s' if nw != 1 else ''}; first: {first.message}")
        return (f"check passed for {self.what()}: 0 errors, {nw} warning{'s' if nw != 1 else ''}{codes(self.warnings)}, "
                f"{ni} info")

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "files": list(self.files),
            "has_errors": self.has_errors,
            "counts": {"error": len(self.errors), "warning": len(self.warnings), "info": len(self.infos)},
            "findings": [f.to_dict() for f in self.findings],
        }

    def __repr__(self) -> str:
        return formatting.as_text(self)

    def _repr_html_(self) -> str:
        return formatting.as_html(self)


# ----------------------------------------------------------------------------- helpers

def _base(p: str) -> str:
    return os.path.basename(p.rstrip("/")) or p


_SIMPLE = (str, int, bool, type(None))


def _hkey(v: Any) -> Any:
    """A hashable, NaN-aware key for comparing attribute values."""
    t = type(v)
    if t in _SIMPLE:
        return v
    if t is float or isinstance(v, np.floating):
        v = float(v)
        if v != v:
            return ("nan",)
        if v == int(v) and abs(v) < 2**53:
            return int(v)  # 1.0 == 1 across dtypes
        return v
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return _hkey(v[()])
        if v.dtype.kind in "fc":
            return ("arr", tuple(_hkey(x) for x in v.ravel().tolist()))
        return ("arr", tuple(v.ravel().tolist()))
    if t is tuple or t is list:
        return ("seq", tuple(_hkey(x) for x in v))
    if t is dict or t is MappingProxyType or isinstance(v, Mapping):
        return ("map", tuple(sorted((str(k), _hkey(x)) for k, x in v.items())))
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return _hkey(v.item())
    if isinstance(v, tuple):
        return ("seq", tuple(_hkey(x) for x in v))
    return v


def _sv(x: Any) -> Any:
    """A cheap hashable stand-in for a value, used only to spot files that are
    all alike (a false "different" just takes the detailed path)."""
    t = type(x)
    if t in _SIMPLE or t is float:
        return x
    if isinstance(x, np.generic):
        return (x.dtype.str, x.tobytes())
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    return repr(x)


def _attrs_sig(attrs: Mapping) -> tuple:
    return tuple((k, _sv(x)) for k, x in attrs.items())


def _var_sig(v: VArray, axis: int | None) -> tuple:
    if axis is None:
        chunks, shape = v.chunks, v.shape
    else:
        chunks, shape = v.chunks[:axis] + v.chunks[axis + 1:], v.shape[:axis] + v.shape[axis + 1:]
    return (
        v.dims, v.dtype.str, tuple(tuple(c.items()) for c in v.codecs),
        chunks, shape, _sv(v.fill_value), _attrs_sig(v.attrs),
    )


def _all_alike(sigs: Sequence[Any]) -> bool:
    try:
        return len(set(sigs)) <= 1
    except TypeError:  # something unhashable: check in detail
        return False


def _fmt(v: Any, n: int = 60) -> str:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bytes, np.bytes_)):
        v = bytes(v).decode("utf-8", "replace")
    s = repr(v) if isinstance(v, str) else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _name_files(paths: Sequence[str], limit: int = 3) -> str:
    names = [_base(p) for p in paths]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def _in_files(count: int, paths: Sequence[str]) -> str:
    if count == 1:
        return f"in {_base(paths[0])}"
    return f"in {count} files ({_name_files(paths, 2)})"


class _Groups:
    """Values grouped by file; the most common value (ties: the first seen) is
    the reference, the others are the odd files."""

    def __init__(self, items: Sequence[tuple[int, Any]], labels: Sequence[str]):
        self.groups: dict[Any, list[int]] = {}
        self.shown: dict[Any, Any] = {}
        for i, v in items:
            k = _hkey(v)
            self.groups.setdefault(k, []).append(i)
            self.shown.setdefault(k, v)
        self.labels = labels
        counts = Counter({k: len(v) for k, v in self.groups.items()})
        top = max(counts.values()) if counts else 0
        self.ref = next((k for k in self.groups if counts[k] == top), None)

    @property
    def differ(self) -> bool:
        return len(self.groups) > 1

    def odd_files(self) -> list[str]:
        return [self.labels[i] for k, idx in self.groups.items() if k != self.ref for i in idx]

    def describe(self, fmt=_fmt) -> str:
        parts = []
        for k, idx in sorted(self.groups.items(), key=lambda kv: (kv[0] != self.ref, -len(kv[1]))):
            parts.append(f"{fmt(self.shown[k])} {_in_files(len(idx), [self.labels[i] for i in idx])}")
            if len(parts) == 4 and len(self.groups) > 4:
                parts.append(f"{len(self.groups) - 4} other values")
                break
        return "; ".join(parts)


def decode_equal_codecs(codecs: Sequence[Mapping]) -> tuple:
    """The pipeline with parameters that do not affect decoding removed."""
    out = []
    for c in codecs:
        c = dict(c)
        drop = _DECODE_IRRELEVANT.get(str(c.get("id")), set())
        out.append(tuple(sorted((k, _hkey(v)) for k, v in c.items() if k not in drop)))
    return tuple(out)


def _codecs_text(codecs) -> str:
    from .model import codec_summary

    return codec_summary(codecs) or "no codecs"


def _divisors(n: int, limit: int = 6) -> list[int]:
    ds = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0] if n > 0 else []
    ds = sorted(set(ds + [n // d for d in ds]))
    return ds[-limit:] if len(ds) > limit else ds


def _is_coord(name: str, dss: Sequence[VDataset]) -> bool:
    """A coordinate in the first dataset that has the variable."""
    for ds in dss:
        if name in ds.variables:
            return name in ds.coords or ds.variables[name].dims == (name,)
    return False


def _values_of(reader: CoordinateReader, var: VArray, limit: int, read: bool) -> np.ndarray | None:
    """Values of a variable when cheap: inlined chunks always, referenced chunks
    when ``read`` and the variable is at most ``limit`` bytes."""
    m = var.manifest
    all_inline = bool(m.n_chunks) and m.n_inline + m.n_missing == m.n_chunks
    if not all_inline and (not read or var.nbytes > limit):
        return None
    try:
        return reader.read(var, max_bytes=max(limit, var.nbytes) if all_inline else limit)
    except VZError:
        return None


def _manifest_fingerprint(var: VArray) -> Any:
    """Equal fingerprints mean equal stored values (inlined-only manifests with
    the same bytes and codecs); None when the chunks are referenced."""
    m = var.manifest
    if m.n_inline + m.n_missing != m.n_chunks:
        return None
    return (var.dtype.str, var.shape, repr(var.codecs), m.path_id.tobytes(), tuple(m.inline.items()))


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


# ----------------------------------------------------------------------------- check

def check(
    dsets: Sequence[VDataset],
    dim: str | None = None,
    *,
    kind: str = "concat",
    fix_time: bool = True,
    read_coords: bool = True,
    compare_bytes: int = DEFAULT_COMPARE_BYTES,
    unread: Sequence[int] = (),
    reader: CoordinateReader | None = None,
) -> Report:
    """Check that ``dsets`` (in this order) combine into one consistent dataset.

    ``kind="concat"`` along the existing dimension ``dim``; ``"stack"`` along a
    new dimension ``dim``; ``"merge"`` of variables from different file sets.
    ``fix_time`` tells the check that differing time units along ``dim`` will be
    fixed by re-encoding the combined coordinate (a warning); without it they are
    an error. ``read_coords`` allows reading small coordinates that are not
    inlined (one read per file) to compare their values; ``unread`` lists the
    positions of datasets never read that way (an archive being appended to:
    its sources are not touched, only its inlined values are compared).
    ``reader``: how values are read (a :class:`~vz_jupyter.core.values.CoordinateReader`;
    default: a new one for this call, reading through the read-plan executor).
    """
    if kind not in ("concat", "stack", "merge"):
        raise VZError(f"kind must be 'concat', 'stack' or 'merge', not {kind!r}")
    dsets = list(dsets)
    labels = [dataset_label(ds) for ds in dsets]
    c = _Checker(dsets, labels, dim, kind, fix_time, read_coords, compare_bytes)
    c.unread = frozenset(unread)
    c.reader = reader if reader is not None else CoordinateReader()
    if kind != "merge" and not dim:
        raise VZError(f"check(kind={kind!r}) needs the dimension to combine along (dim=...)")
    if not dsets:
        c.add("error", "no-files", "no datasets to combine", fix="scan some files first")
    else:
        c.same_file_twice()
        {"concat": c.run_concat, "stack": c.run_stack, "merge": c.run_merge}[kind]()
    return Report(c.findings, dim=dim, kind=kind, files=labels)


class _Checker:
    def __init__(self, dsets, labels, dim, kind, fix_time, read_coords, compare_bytes):
        self.dsets: list[VDataset] = dsets
        self.labels: list[str] = labels
        self.dim = dim
        self.kind = kind
        self.fix_time = fix_time
        self.read = read_coords
        self.compare_bytes = compare_bytes
        self.findings: list[Finding] = []
        self.twice: set[int] = set()
        self.unread: frozenset[int] = frozenset()

    def may_read(self, i: int) -> bool:
        return self.read and i not in self.unread

    def add(self, severity, code, message, variable=None, files=(), fix=None):
        self.findings.append(Finding(severity, code, message, variable, tuple(files), fix))

    # -- shared pieces -------------------------------------------------------
    def same_file_twice(self):
        if self.kind == "merge":
            return
        seen: dict[str, int] = {}
        twice = []
        for i, ds in enumerate(self.dsets):
            if len(ds.sources) != 1:
                continue
            p = ds.sources[0].path
            if p in seen:
                twice.append(i)
            else:
                seen[p] = i
        self.twice = set(twice)
        if twice:
            files = [self.labels[i] for i in twice]
            self.add("error", "duplicate",
                     f"the same file is given more than once: {_name_files(files)}",
                     None, files, fix=f"remove the repeated entr{'y' if len(files) == 1 else 'ies'}")

    def var_names(self) -> list[str]:
        names: dict[str, None] = {}
        for ds in self.dsets:
            for n in ds.variables:
                names.setdefault(n, None)
        return list(names)

    def presence(self, name: str, along: bool):
        have = [i for i, ds in enumerate(self.dsets) if name in ds.variables]
        if len(have) < len(self.dsets):
            missing = [self.labels[i] for i in range(len(self.dsets)) if name not in self.dsets[i].variables]
            sev = "error" if along else "warning"
            consequence = ("a variable along the combine dimension must be in every file"
                           if along else "it is taken from the files that have it")
            self.add(
                sev, "missing-variable",
                f"variable {name!r} is missing {_in_files(len(missing), missing)} "
                f"(present in {len(have)} of {len(self.dsets)}); {consequence}",
                name, missing,
                fix=f"exclude {_name_files(missing)} or leave the variable out: drop_variables=[{name!r}]",
            )
        return have

    def compare_layout(self, name: str, items: list[tuple[int, VArray]], axis: int | None) -> bool:
        """dims, dtype, codecs, chunks, shape off the combine axis; returns False when
        the variable is too inconsistent to check further."""
        L = self.labels
        g = _Groups([(i, v.dims) for i, v in items], L)
        if g.differ:
            self.add("error", "dims", f"variable {name!r} has different dimensions: {g.describe(lambda d: '(' + ', '.join(d) + ')')}",
                     name, g.odd_files(), fix="exclude the odd files; variables must have the same dimensions in every file")
            return False
        g = _Groups([(i, v.dtype.str) for i, v in items], L)
        if g.differ:
            self.add("error", "dtype", f"dtype of {name!r} differs: {g.describe(lambda s: np.dtype(s).name + ('' if np.dtype(s).byteorder in '=|' or np.dtype(s).isnative else ' (big-endian)' if s.startswith('>') else ''))}",
                     name, g.odd_files(),
                     fix="a zarr array has one dtype: rewrite the odd files with the common dtype, or exclude them")
        g = _Groups([(i, decode_equal_codecs(v.codecs)) for i, v in items], L)
        if g.differ:
            shown = {k: _codecs_text(items[[i for i, _ in items].index(idx[0])][1].codecs) for k, idx in g.groups.items()}
            self.add("error", "codecs", f"codec pipeline of {name!r} differs: {g.describe(lambda v: shown[_hkey(v)])}",
                     name, g.odd_files(),
                     fix="a zarr array has one codec pipeline: rewrite the odd files with the same compression (e.g. nccopy -d N), or exclude them")
        else:
            g2 = _Groups([(i, tuple(tuple(sorted((k, _hkey(x)) for k, x in dict(cc).items())) for cc in v.codecs)) for i, v in items], L)
            if g2.differ:
                self.add("info", "codec-level",
                         f"compression settings of {name!r} differ only in parameters that do not affect decoding "
                         f"(e.g. level); the combined array decodes every file correctly",
                         name, g2.odd_files())
        shape_key = [(i, tuple(s for k, s in enumerate(v.shape) if k != axis)) for i, v in items]
        g = _Groups(shape_key, L)
        if g.differ:
            other = [d for k, d in enumerate(items[0][1].dims) if k != axis]
            self.add("error", "dim-size", f"sizes of {name!r} along {', '.join(map(repr, other)) or '()'} differ: {g.describe(lambda s: str(tuple(s)))}",
                     name, g.odd_files(), fix="only the combine dimension may differ in length; exclude the odd files")
            return False
        chunks_key = [(i, tuple(c for k, c in enumerate(v.chunks) if k != axis)) for i, v in items]
        g = _Groups(chunks_key, L)
        if g.differ:
            self.add("error", "chunks", f"chunk shape of {name!r} differs: {g.describe(lambda c: str(tuple(c)))}",
                     name, g.odd_files(), fix="a regular chunk grid needs one chunk shape: rewrite the odd files with the common chunking, or exclude them")
            return False
        return True

    def compare_fill(self, name: str, items: list[tuple[int, VArray]]):
        L = self.labels
        for attr in ("_FillValue", "missing_value"):
            vals = [(i, v.attrs.get(attr, "(none)")) for i, v in items]
            g = _Groups(vals, L)
            if g.differ:
                self.add("error", "fill-value",
                         f"{attr} of {name!r} differs: {g.describe()}; one value is kept for the combined array, "
                         f"so the other files would be masked wrongly",
                         name, g.odd_files(),
                         fix=f"rewrite the odd files with the common {attr}, or exclude them")
        g = _Groups([(i, v.fill_value) for i, v in items], L)
        if g.differ:
            odd = set(g.odd_files())
            holes = [L[i] for i, v in items if L[i] in odd and v.manifest.n_missing]
            sev = "error" if holes else "warning"
            self.add(sev, "fill-value",
                     f"storage fill value of {name!r} differs: {g.describe()}"
                     + (f"; {_name_files(holes)} {'has' if len(holes) == 1 else 'have'} unwritten chunks that would read as the wrong fill"
                        if holes else "; only unwritten chunks use it and none are unwritten"),
                     name, sorted(odd), fix="rewrite the odd files with the common fill value, or exclude them" if holes else None)

    def compare_scale(self, name: str, items: list[tuple[int, VArray]]):
        L = self.labels
        for attr in ("scale_factor", "add_offset"):
            vals = [(i, v.attrs.get(attr, "(none)")) for i, v in items]
            g = _Groups(vals, L)
            if g.differ:
                odd = g.odd_files()
                self.add("error", "scale-offset",
                         f"{attr} of {name!r} differs: {g.describe()}; a combined array has one {attr}, so values "
                         f"from {_name_files(odd)} would be decoded wrongly (kerchunk silently uses the first file's)",
                         name, odd,
                         fix=f"exclude {_name_files(odd)}, or rewrite {'it' if len(odd) == 1 else 'them'} unpacked or with the common {attr}, "
                             f"or combine {'it' if len(odd) == 1 else 'them'} as a separate dataset")

    def compare_attrs(self, name: str | None, items: list[tuple[int, Mapping]], skip: set[str]):
        if _all_alike([_attrs_sig(a) for _, a in items]):
            return
        keys: dict[str, None] = {}
        for _, a in items:
            for k in a:
                if k not in skip:
                    keys.setdefault(k, None)
        drift = []
        files: dict[str, None] = {}
        for k in keys:
            g = _Groups([(i, a.get(k, "(absent)")) for i, a in items], self.labels)
            if g.differ:
                drift.append(k)
                for f in g.odd_files():
                    files.setdefault(f, None)
        if drift:
            where = f"attributes of {name!r}" if name else "global attributes"
            shown = ", ".join(repr(k) for k in drift[:6]) + (f" and {len(drift) - 6} more" if len(drift) > 6 else "")
            self.add("info", "attrs",
                     f"{where} differ between files ({shown}); the first file's values are kept",
                     name, list(files))

    def compare_values(self, name: str, items: list[tuple[int, VArray]], *, coord: bool, decoded_time: bool = False):
        """Values of a variable that is taken once (not along the combine dim)."""
        L = self.labels
        first_i, first = items[0]
        fps = [_manifest_fingerprint(v) for _, v in items]
        if not decoded_time and fps[0] is not None and _all_alike(fps):
            return
        if not decoded_time and fps[0] is None and all(
                v.manifest.equals(first.manifest) and v.codecs == first.codecs for _, v in items[1:]):
            return
        ref = _values_of(self.reader, first, self.compare_bytes, self.may_read(first_i))
        if ref is None:
            self.add("info", "not-compared",
                     f"values of {name!r} were not compared between files ({first.nbytes} bytes, not inlined); "
                     "the first file's are used", name, [])
            return
        enc0 = time_encoding(first.attrs) if decoded_time else None

        def key_of(v, vals):
            if enc0:
                enc = time_encoding(v.attrs)
                if enc and enc[1] == enc0[1]:
                    from .cf import convert_time
                    vals = np.round(convert_time(vals, enc[0], enc[1], enc0[0]), 6)
            vals = np.asarray(vals)
            if vals.dtype.kind in "fc":
                vals = np.where(np.isnan(vals), np.nan, vals + 0).astype(np.complex128 if vals.dtype.kind == "c" else np.float64)
            return (vals.shape, np.ascontiguousarray(vals).tobytes())

        keyed = [(first_i, key_of(first, ref))]
        by_fp = {} if fps[0] is None or decoded_time else {fps[0]: keyed[0][1]}
        for (i, v), fp in zip(items[1:], fps[1:]):
            if fp is not None and fp in by_fp:
                keyed.append((i, by_fp[fp]))
                continue
            vals = _values_of(self.reader, v, self.compare_bytes, self.may_read(i))
            if vals is None:
                continue
            keyed.append((i, key_of(v, vals)))
            if fp is not None and not decoded_time:
                by_fp[fp] = keyed[-1][1]
        g = _Groups(keyed, L)
        odd = g.odd_files() if g.differ else []
        ref_label = L[g.groups[g.ref][0]] if g.differ else L[first_i]
        if odd:
            sev = "error" if coord else "warning"
            what = "coordinate" if coord else "variable"
            self.add(sev, "coord-values" if coord else "values-differ",
                     f"{what} {name!r}{f' (not along {self.dim!r})' if self.dim and self.kind == 'concat' else ''} has different values {_in_files(len(odd), odd)} than in {_base(ref_label)}"
                     + ("" if coord else "; the first file's values are kept"),
                     name, odd,
                     fix="files on different grids cannot be combined: exclude them or regrid" if coord
                     else f"check whether {name!r} should be combined along {self.dim!r}, or exclude the odd files")

    # -- concat ----------------------------------------------------------------
    def run_concat(self):
        dim, L, D = self.dim, self.labels, self.dsets
        nodim = [i for i, ds in enumerate(D) if dim not in ds.dims]
        if nodim:
            self.add("error", "no-dim", f"dimension {dim!r} is missing {_in_files(len(nodim), [L[i] for i in nodim])}",
                     None, [L[i] for i in nodim],
                     fix=f"exclude those files, or stack them along a new dimension (vz.stack(dsets, {dim!r}))")
            if len(nodim) == len(D):
                return
        lengths: dict[int, int] = {}
        for name in self.var_names():
            along = any(name in ds.variables and dim in ds.variables[name].dims for ds in D)
            have = self.presence(name, along)
            items = [(i, D[i].variables[name]) for i in have]
            axis = items[0][1].dims.index(dim) if dim in items[0][1].dims else None
            if not _all_alike([_var_sig(v, axis) for _, v in items]):
                if not self.compare_layout(name, items, axis):
                    continue
                self.compare_fill(name, items)
                self.compare_scale(name, items)
                self.compare_time_encoding(name, items, along=axis is not None)
                self.compare_attrs(name, [(i, v.attrs) for i, v in items],
                                   set(CF_ENCODING_ATTRS) | {"units", "calendar"})
            if axis is None:
                self.compare_values(name, items, coord=_is_coord(name, D))
                continue
            for i, v in items:
                lengths.setdefault(i, v.shape[axis])
            coord = _is_coord(name, D) and len(items[0][1].dims) == 1
            encs = [inherited_time_encoding(D[i], name) for i, _ in items]
            if any(e is not None for e in encs) and not any(time_encoding(v.attrs) for _, v in items):
                self.compare_inherited_units(name, items, encs)
            if concat_inline_reason([v for _, v in items], coord=coord, fix_time=self.fix_time, encs=encs):
                continue  # concat decodes it and writes one inlined chunk: any chunking works
            self.check_partial_chunks(name, items, axis)
        self.compare_attrs(None, [(i, ds.attrs) for i, ds in enumerate(D)], set())
        self.check_coordinate(lengths)

    def compare_time_encoding(self, name, items, along: bool):
        encs = [(i, time_encoding(v.attrs)) for i, v in items]
        if not any(e for _, e in encs):
            return
        L = self.labels
        g = _Groups([(i, e[1] if e else "(not a time)") for i, e in encs], L)
        if g.differ:
            self.add("error", "calendar", f"calendar of {name!r} differs: {g.describe()}",
                     name, g.odd_files(), fix="times in different calendars cannot share one axis; exclude the odd files")
            return
        g = _Groups([(i, e[0] if e else "(not a time)") for i, e in encs], L)
        if not g.differ:
            return
        units0 = next(e[0] for _, e in encs if e)
        if not along:
            return  # compared as decoded values by compare_values
        total = sum(v.nbytes for _, v in items)
        fixable = all(e for _, e in encs) and total <= TIME_FIX_MAX_BYTES
        if fixable and self.fix_time:
            self.add("warning", "time-units",
                     f"time units of {name!r} differ between files: {g.describe()}; kerchunk would keep the first "
                     f"file's units and shift the others' times",
                     name, g.odd_files(),
                     fix=f"concat decodes {name!r} and writes it re-encoded to {units0!r}, inlined (fix_time=True, the default)")
        else:
            why = "" if fixable else f" ({total} bytes is too large to re-encode inline)" if all(e for _, e in encs) else ""
            self.add("error", "time-units",
                     f"time units of {name!r} differ between files: {g.describe()}{why}",
                     name, g.odd_files(),
                     fix="concat(..., fix_time=True) re-encodes the combined time coordinate to one set of units"
                     if fixable else "rewrite the files with one set of time units")

    def compare_inherited_units(self, name, items, encs):
        """A bounds/climatology variable without units of its own (``time_bnds``)
        holds offsets in its parent's units: when those differ per file, each
        file's raw values mean different times."""
        L = self.labels
        g = _Groups([(i, e[0] if e else "(no time units)") for (i, _), e in zip(items, encs)], L)
        if not g.differ:
            return
        total = sum(v.nbytes for _, v in items)
        fixable = all(encs) and len({e[1] for e in encs}) == 1 and total <= TIME_FIX_MAX_BYTES
        units0 = next(e[0] for e in encs if e)
        if fixable and self.fix_time:
            self.add("warning", "time-units",
                     f"{name!r} has no units of its own and inherits its parent's time units, which differ between "
                     f"files: {g.describe()}; kerchunk would keep each file's raw offsets",
                     name, g.odd_files(),
                     fix=f"concat decodes {name!r} and writes it re-encoded to {units0!r}, inlined (fix_time=True, the default)")
        else:
            self.add("error", "time-units",
                     f"{name!r} inherits its parent's time units, which differ between files: {g.describe()}",
                     name, g.odd_files(),
                     fix="concat(..., fix_time=True) re-encodes it" if fixable else "rewrite the files with one set of time units")

    def check_partial_chunks(self, name, items, axis):
        if len(items) < 2:
            return
        g = _Groups([(i, v.chunks[axis]) for i, v in items], self.labels)
        if g.differ:
            self.add("error", "chunks", f"chunk length of {name!r} along {self.dim!r} differs: {g.describe()}",
                     name, g.odd_files(),
                     fix="a regular chunk grid needs one chunk length: rewrite the odd files with the common chunking, or exclude them")
            return
        c = items[0][1].chunks[axis]
        bad = [(i, v.shape[axis]) for i, v in items[:-1] if v.shape[axis] % c]
        if not bad:
            return
        lens = [v.shape[axis] for _, v in items[:-1]]
        g = math.gcd(*lens) if lens else 1
        work = _divisors(g)
        files = [self.labels[i] for i, _ in bad]
        self.add("error", "partial-chunk",
                 f"{name!r} is chunked by {c} along {self.dim!r} but {_name_files(files)} "
                 f"{'has' if len(files) == 1 else 'have'} length {', '.join(str(n) for _, n in bad[:4])} "
                 f"(not a multiple of {c}): a regular chunk grid cannot hold a partial chunk before the last file",
                 name, files,
                 fix=(f"chunk lengths along {self.dim!r} that would work: {', '.join(map(str, work))} "
                      f"(rewrite with e.g. nccopy -c {self.dim}/{work[-1]}); or put the short file last, or exclude it"))

    def check_coordinate(self, lengths: dict[int, int]):
        dim, D, L = self.dim, self.dsets, self.labels
        have = [i for i, ds in enumerate(D) if dim in ds.variables and ds.variables[dim].dims[:1] == (dim,)]
        if not have:
            if any(dim in ds.dims for ds in D):
                self.add("info", "no-coordinate",
                         f"no coordinate variable {dim!r}: order, gaps and overlaps along it cannot be checked", dim, [])
            return
        spans = []  # (i, values in seconds or floats, calendar)
        unread = []
        for i in have:
            var = D[i].variables[dim]
            vals = _values_of(self.reader, var, TIME_FIX_MAX_BYTES, self.may_read(i))
            if vals is None:
                unread.append(L[i])
                continue
            from .cf import decode_to_seconds

            try:
                sec, cal = decode_to_seconds(vals.reshape(var.shape[0], -1)[:, 0], var.attrs)
            except VZError as e:
                self.add("error", "time-units", f"{_base(L[i])}: {e}", dim, [L[i]])
                continue
            if sec.dtype.kind not in "fiu":
                continue
            spans.append((i, np.asarray(sec, dtype=np.float64), cal))
        if unread:
            self.add("info", "not-compared", f"values of {dim!r} not read {_in_files(len(unread), unread)}; "
                     "order, gaps and overlaps not checked there", dim, unread)
        if len(spans) < 1:
            return
        if len({cal for _, _, cal in spans}) > 1:
            return  # reported as a calendar error
        cal = spans[0][2]
        fmt = (lambda s: format_seconds(s, cal)) if cal else (lambda s: f"{s:g}")
        # within-file monotonicity
        steps = []
        nonmono = []
        for i, s, _ in spans:
            if len(s) > 1:
                d = np.diff(s)
                if not (np.all(d > 0) or np.all(d < 0)):
                    nonmono.append(L[i])
                steps.append(d)
        if nonmono:
            self.add("error", "order", f"{dim!r} is not strictly monotonic inside {_name_files(nonmono)}",
                     dim, nonmono, fix="such files cannot be indexed along the combined dimension; exclude them")
        nonempty = [(i, s) for i, s, _ in spans if len(s)]
        if len(nonempty) < 2:
            return
        desc = False
        all_d = np.concatenate(steps) if steps else np.array([])
        if all_d.size and np.median(all_d) < 0:
            desc = True
        sign = -1.0 if desc else 1.0
        starts = np.array([s[0] * sign for _, s in nonempty])
        ends = np.array([s[-1] * sign for _, s in nonempty])
        if all_d.size:
            step = float(np.median(np.abs(all_d)))
        else:
            step = float(np.median(np.diff(np.sort(starts)))) if len(starts) > 1 else 0.0
        # duplicates: identical values
        seen: dict[bytes, int] = {}
        dup_pairs = []
        for i, s in nonempty:
            key = np.ascontiguousarray(s).tobytes()
            if key in seen:
                dup_pairs.append((seen[key], i))
            else:
                seen[key] = i
        dup_set = {b for _, b in dup_pairs}
        dup_pairs = [(a, b) for a, b in dup_pairs if b not in self.twice]  # reported as the same file twice
        if dup_pairs:
            files = [L[b] for _, b in dup_pairs]
            ex = "; ".join(f"{_base(L[b])} repeats {_base(L[a])}" for a, b in dup_pairs[:3])
            self.add("error", "duplicate",
                     f"{len(dup_pairs)} file{'s' if len(dup_pairs) != 1 else ''} repeat{'s' if len(dup_pairs) == 1 else ''} "
                     f"the {dim!r} values of another ({ex})",
                     dim, files, fix=f"exclude {_name_files(files)} (the same times twice)")
        # order and overlaps between consecutive files
        order_bad, overlaps, gaps = [], [], []
        keep = [k for k, (i, _) in enumerate(nonempty) if i not in dup_set]
        nonempty = [nonempty[k] for k in keep]
        starts, ends = starts[keep], ends[keep]
        for k in range(len(nonempty) - 1):
            (ia, _), (ib, _) = nonempty[k], nonempty[k + 1]
            if starts[k + 1] > ends[k]:
                gap = starts[k + 1] - ends[k]
                if step > 0 and gap > 1.5 * step:
                    gaps.append((ia, ib, gap))
            elif starts[k + 1] < starts[k] and ends[k + 1] < starts[k]:
                order_bad.append((ia, ib))
            else:
                overlaps.append((ia, ib))
        if order_bad:
            files = [L[b] for _, b in order_bad]
            ex = "; ".join(f"{_base(L[b])} comes before {_base(L[a])}" for a, b in order_bad[:3])
            self.add("error", "order", f"files are out of order along {dim!r} ({ex})", dim, files,
                     fix=f"sort them first: vz.sort(dsets, by={dim!r})")
        if overlaps:
            files = [L[b] for _, b in overlaps]
            pos = {i: k for k, (i, _) in enumerate(nonempty)}
            ex = "; ".join(
                f"{_base(L[a])} ({fmt(sign * starts[pos[a]])} to {fmt(sign * ends[pos[a]])}) and "
                f"{_base(L[b])} ({fmt(sign * starts[pos[b]])} to {fmt(sign * ends[pos[b]])})"
                for a, b in overlaps[:3])
            self.add("error", "overlap", f"{len(overlaps)} pair{'s' if len(overlaps) != 1 else ''} of files overlap along {dim!r}: {ex}",
                     dim, files, fix="exclude the overlapping files (a virtual dataset cannot drop part of a file), "
                                     "or sort first if the order is wrong")
        if gaps:
            files = [L[b] for _, b, _ in gaps]
            unit = format_duration if cal else (lambda x: f"{x:g}")
            ex = "; ".join(f"a jump of {unit(g)} (~{max(1, round(g / step) - 1)} missing step{'s' if round(g / step) - 1 != 1 else ''}) "
                           f"between {_base(L[a])} and {_base(L[b])}" for a, b, g in gaps[:3])
            self.add("warning", "gap",
                     f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''} along {dim!r} (usual step {unit(step)}): {ex}",
                     dim, files, fix="missing files? if intended, nothing to do: the combined coordinate keeps the real times")

    # -- stack ------------------------------------------------------------------
    def run_stack(self):
        dim, D, L = self.dim, self.dsets, self.labels
        has = [i for i, ds in enumerate(D) if dim in ds.dims]
        if has:
            self.add("error", "dim-exists", f"dimension {dim!r} already exists {_in_files(len(has), [L[i] for i in has])}",
                     None, [L[i] for i in has], fix=f"use vz.concat(dsets, {dim!r}) to join along an existing dimension")
        for name in self.var_names():
            have = self.presence(name, True)
            items = [(i, D[i].variables[name]) for i in have]
            if not self.compare_layout(name, items, None):
                continue
            self.compare_fill(name, items)
            self.compare_scale(name, items)
            self.compare_attrs(name, [(i, v.attrs) for i, v in items], set(CF_ENCODING_ATTRS) | {"units", "calendar"})
            coord = _is_coord(name, D)
            encs = {time_encoding(v.attrs) for _, v in items}
            if coord:
                self.compare_values(name, items, coord=True, decoded_time=len(encs) > 1)
            else:
                g = _Groups([(i, time_encoding(v.attrs)) for i, v in items], L)
                if g.differ:
                    self.add("error", "time-units", f"time units of {name!r} differ: {g.describe()}", name, g.odd_files(),
                             fix="rewrite the files with one set of time units")
        self.compare_attrs(None, [(i, ds.attrs) for i, ds in enumerate(D)], set())

    # -- merge ------------------------------------------------------------------
    def run_merge(self):
        D, L = self.dsets, self.labels
        sizes: dict[str, list[tuple[int, int]]] = {}
        for i, ds in enumerate(D):
            for d, s in ds.dims.items():
                sizes.setdefault(d, []).append((i, s))
        for d, items in sizes.items():
            g = _Groups(items, L)
            if g.differ:
                self.add("error", "dim-size", f"dimension {d!r} has different lengths: {g.describe()}", None, g.odd_files(),
                         fix="merge needs the same dimension lengths; concat each set first so they cover the same range")
        for name in self.var_names():
            have = [i for i, ds in enumerate(D) if name in ds.variables]
            if len(have) < 2:
                continue
            items = [(i, D[i].variables[name]) for i in have]
            if not self.compare_layout(name, items, None):
                continue
            coord = _is_coord(name, D)
            first = items[0][1]
            if coord:
                encs = {time_encoding(v.attrs) for _, v in items}
                self.compare_values(name, items, coord=True, decoded_time=len(encs) > 1)
            elif not all(v.manifest.equals(first.manifest) for _, v in items[1:]):
                odd = [L[i] for i, v in items[1:] if not v.manifest.equals(first.manifest)]
                self.add("error", "conflict", f"variable {name!r} is in several datasets with different data "
                         f"({_name_files([L[items[0][0]]] + odd)})", name, odd,
                         fix=f"drop {name!r} from all but one dataset before merging")
