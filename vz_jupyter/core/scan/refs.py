"""Read existing kerchunk references back into a :class:`VDataset`.

Inputs: kerchunk JSON (version 0 and 1, with ``templates`` and ``gen``) and
kerchunk parquet directories (``.zmetadata`` + ``var/refs.N.parq``). Only the
reference set is read, never the referenced files (except the size of a file
referenced whole, ``[url]``, which needs one ``stat``). Chunk keys are parsed in
bulk with numpy per variable; zarr v2 metadata becomes VArray fields (codecs in
encode order: ``filters`` then ``compressor``; ``_ARRAY_DIMENSIONS`` -> dims).

Not supported (one-line :class:`ScanError`): zarr v3 metadata, Fortran order,
arrays in sub-groups (listed in ``VDataset.skipped``), references whose url is
null (an implicit ``target``), jinja templates other than plain ``{{name}}``.
"""
from __future__ import annotations

import ast
import base64
import itertools
import json
import math
import operator
import os
import re
import struct
from typing import Any, Mapping

import numpy as np

from ..cf import conforming_fill
from .. import limits
from ..errors import ScanError, UnsupportedFeature, reading
from ..model import INLINE, MISSING, Manifest, Source, VArray, VDataset
from ..urls import is_url
from .files import normalize_path, remote_fs

_SPECIAL_FLOATS = {"NaN": math.nan, "nan": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
                   "inf": math.inf, "-inf": -math.inf}


# -- entry point ---------------------------------------------------------------
def scan_refs(path: str | os.PathLike | Mapping, storage_options: dict | None = None, *, allowed_roots=None,
              trust_recorded_roots: bool = True) -> VDataset:
    """A :class:`VDataset` from kerchunk references: a JSON file, a parquet
    directory, or an in-memory kerchunk dict.

    The paths the references name are confined (see
    :mod:`vz_jupyter.core.access`): resolved against the reference file's
    folder and refused outside it, its recorded roots and ``allowed_roots``
    (in-memory dicts are confined only when ``allowed_roots`` is given). No
    referenced file is opened and no server contacted."""
    from ..access import Confinement, active, confined

    def confinement(location, recorded):
        if allowed_roots is None and active() is not None:
            return active()  # an enclosing reader (vz.open) already decided
        if location is None and allowed_roots is None:
            return None
        return Confinement.for_references(location, recorded, allowed_roots,
                                          trust_recorded_roots=trust_recorded_roots)

    if isinstance(path, Mapping):
        refs = dict(path)
        with confined(confinement(None, _recorded(refs))):
            return _from_refs_dict(refs, "<references>", storage_options)
    import fsspec

    path = normalize_path(path)
    fs = remote_fs(path, storage_options) if is_url(path) else fsspec.filesystem("file")
    with reading(path):
        if fs.isdir(path) if not is_url(path) else path.rstrip("/").endswith((".parquet", ".parq")):
            with confined(confinement(path, _parquet_recorded(fs, path))):
                return _from_parquet(path, fs, storage_options)
        raw = _read_whole(fs, path)
    refs = loads_json(raw, path)
    if not isinstance(refs, dict):
        raise ScanError(path, f"not a kerchunk reference set (top level is a {type(refs).__name__}, not an object)")
    with confined(confinement(path, _recorded(refs))):
        return _from_refs_dict(refs, path, storage_options)


def _read_whole(fs, path: str) -> bytes:
    """The reference file's bytes (a FIFO or device is refused, not waited on)."""
    if not is_url(path):
        from ..access import read_local

        return read_local(path)
    return fs.cat_file(path)


def _recorded(refs: dict) -> list[str]:
    """Roots recorded at the top level of version-1 (or wrapped) references."""
    from ..access import recorded_roots

    return recorded_roots(refs) if refs.get("version") is not None or isinstance(refs.get("refs"), dict) else []


def _parquet_recorded(fs, root: str) -> list[str]:
    from ..access import recorded_roots

    try:
        return recorded_roots(json.loads(fs.cat_file(f"{root.rstrip('/')}/.zmetadata")))
    except Exception:  # noqa: BLE001  (an unreadable .zmetadata is reported by _from_parquet)
        return []


class _DuplicateKey(ValueError):
    def __init__(self, key):
        self.key = key
        super().__init__(f"key {key!r} appears twice")


def _no_duplicates(pairs: list) -> dict:
    """``object_pairs_hook`` refusing duplicate keys (with them, the last one
    would silently win in one reader and maybe not in another)."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


def _loads(raw: bytes | str) -> Any:
    """Strict JSON for callers that word their own error: duplicate keys raise
    a ValueError (like any JSON error), deep nesting a RecursionError."""
    return json.loads(raw, object_pairs_hook=_no_duplicates)


def loads_json(raw: bytes | str, path: str, what: str = "not valid kerchunk JSON") -> Any:
    """Strict JSON for references: duplicate keys, deep nesting and bad bytes
    are one-line :class:`ScanError`s naming ``path``."""
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        raise ScanError(path, f"{what}: key {_short(e.key)} appears twice (duplicate keys are ambiguous)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScanError(path, f"{what} ({_one_line(e)})") from None
    except RecursionError:
        raise ScanError(path, f"{what} (nested too deeply)") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as e:
        raise ScanError(path, f"{what} ({type(e).__name__}: {_one_line(e)})") from None


def _short(v: Any, n: int = 80) -> str:
    """``repr`` capped at ``n`` characters, for messages."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 1] + "…"


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


# -- JSON ----------------------------------------------------------------------
def expand_refs(refs: dict, path: str) -> tuple[dict, dict]:
    """The flat ``{key: value}`` entries and the ``templates`` of a kerchunk
    JSON reference set (version 0 or 1), with ``gen`` entries expanded within
    :data:`~vz_jupyter.core.limits.MAX_GEN_REFS`. A key given by both ``refs``
    and ``gen`` (or twice by ``gen``) is an error."""
    version = refs.get("version")
    templates: dict[str, str] = {}
    if version is None:
        if "refs" in refs and isinstance(refs["refs"], dict) and not any(k.endswith(".zgroup") for k in refs):
            return refs["refs"], templates  # version-less wrapper
        return refs, templates
    if type(version) is not int or version != 1:
        raise ScanError(path, f"unknown kerchunk reference version {_short(version)} (expected 0 or 1)")
    entries = refs.get("refs")
    if not isinstance(entries, dict):
        raise ScanError(path, "version 1 references have no 'refs' object")
    templates = refs.get("templates") or {}
    if not isinstance(templates, dict):
        raise ScanError(path, "'templates' must be an object of name -> url")
    for k, t in templates.items():
        if not isinstance(t, str):
            raise ScanError(path, f"template {_short(k)} is a {type(t).__name__}, not a url string")
        if "{{" in t or "{%" in t:
            raise UnsupportedFeature(path, f"template {_short(k)} is itself a jinja template; only plain urls are supported")
    gens = refs.get("gen")
    if gens:
        if not isinstance(gens, list):
            raise ScanError(path, "'gen' must be a list of generator objects")
        generated = _expand_gen(gens, templates, path)
        clash = next((k for k in generated if k in entries), None)
        if clash is not None:
            raise ScanError(path, f"key {_short(clash)} is given by both 'refs' and 'gen' (duplicate keys are ambiguous)")
        entries = {**entries, **generated}
    return entries, templates


def _from_refs_dict(refs: dict, path: str, storage_options) -> VDataset:
    entries, templates = expand_refs(refs, path)
    meta: dict[str, Any] = {}
    chunks: dict[str, tuple[list[str], list[Any]]] = {}
    for key, value in entries.items():
        if not isinstance(key, str):
            raise ScanError(path, f"reference key {_short(key)} is not a string")
        name, _, leaf = key.rpartition("/")
        if leaf.startswith(".z"):
            meta[key] = value
        else:
            entry = chunks.get(name)
            if entry is None:
                entry = chunks[name] = ([], [])
            entry[0].append(leaf)
            entry[1].append(value)
    docs = {k: _parse_doc(k, v, path) for k, v in meta.items() if k != ".zmetadata"}
    arrays = {k[: -len("/.zarray")] for k in docs if k.endswith("/.zarray")}
    _check_stray_keys(chunks, arrays, docs, path)
    return _build(docs, path, lambda name, var_meta: _json_manifest(name, var_meta, chunks, templates, path, storage_options))


def _check_stray_keys(chunks: dict, arrays: set, docs: dict, path: str) -> None:
    """Chunk keys below an array's folder that are not its chunks (``air/0/0``
    for ``dimension_separator '.'``, ``air/x/1``) are errors, not ignored."""
    for prefix, (leaves, _) in chunks.items():
        if prefix in arrays:
            continue
        parts = prefix.split("/")
        for i in range(1, len(parts)):
            owner = "/".join(parts[:i])
            if owner in arrays:
                za = docs.get(f"{owner}/.zarray")
                sep = za.get("dimension_separator", ".") if isinstance(za, dict) else "."
                if sep != "/":
                    raise ScanError(path, f"chunk key {_short(prefix + '/' + leaves[0])} does not match "
                                          f"dimension_separator {sep!r} of {owner!r}")
                break


def _parse_doc(key: str, value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value.startswith("base64:"):
            value = _b64(value[7:], path, f"metadata {_short(key)}").decode("utf-8", "replace")
        return loads_json(value, path, f"metadata {_short(key)} is not valid JSON")
    raise ScanError(path, f"metadata {_short(key)} is a {type(value).__name__}, expected a JSON document")


def _b64(text: str | bytes, path: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as e:  # binascii.Error is a ValueError
        raise ScanError(path, f"{what}: invalid base64 ({_one_line(e)})") from None


# 'gen' entries: fsspec renders them with jinja2 (and ignores them unless
# simple_templates=False). Jinja's sandbox bounds neither time nor memory
# (``{{ 9**9**9 }}``), so a small subset is evaluated here instead: names,
# integer and string constants, + - * // % and parentheses on integers.
_GEN_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_GEN_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
            ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_INT_RE = re.compile(r"-?[0-9]{1,19}")


class _GenError(Exception):
    pass


def _gen_template(text: Any, what: str) -> list:
    """A template as a list of literal strings and parsed expressions."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise _GenError(f"{what} is a {type(text).__name__}, expected a string template")
    if len(text) > limits.MAX_GEN_TEXT:
        raise _GenError(f"{what} is longer than {limits.MAX_GEN_TEXT} characters")
    if "{%" in text or "{#" in text:
        raise _GenError(f"{what} uses jinja statements or comments; only {{{{ expressions }}}} are supported")
    parts: list = []
    pos = 0
    for m in _GEN_EXPR.finditer(text):
        parts.append(text[pos:m.start()])
        try:
            tree = ast.parse(m.group(1).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise _GenError(f"{what}: cannot parse {_short(m.group(1))}") from None
        _check_gen_ast(tree.body, what)
        parts.append(tree.body)
        pos = m.end()
    parts.append(text[pos:])
    if "{{" in parts[-1]:
        raise _GenError(f"{what}: unclosed '{{{{'")
    return parts


def _check_gen_ast(node: ast.AST, what: str, depth: int = 0) -> None:
    if depth > 20:
        raise _GenError(f"{what}: expression nested too deeply")
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.Constant) and type(node.value) in (int, str):
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _GEN_OPS:
        _check_gen_ast(node.left, what, depth + 1)
        _check_gen_ast(node.right, what, depth + 1)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check_gen_ast(node.operand, what, depth + 1)
        return
    raise _GenError(f"{what}: {_short(ast.unparse(node))} is not supported (names, integers, + - * // % only)")


def _gen_eval(node: ast.AST, ctx: dict) -> Any:
    if isinstance(node, ast.Name):
        try:
            return ctx[node.id]
        except KeyError:
            raise _GenError(f"{node.id!r} is not defined") from None
    if isinstance(node, ast.Constant):
        v = node.value
    elif isinstance(node, ast.UnaryOp):
        v = _gen_eval(node.operand, ctx)
        if type(v) is not int:
            raise _GenError(f"unary minus on a {type(v).__name__}")
        v = -v if isinstance(node.op, ast.USub) else v
    else:
        a, b = _gen_eval(node.left, ctx), _gen_eval(node.right, ctx)
        if type(a) is str and type(b) is str and isinstance(node.op, ast.Add):
            v = a + b
        elif type(a) is int and type(b) is int:
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
                raise _GenError("division by zero")
            v = _GEN_OPS[type(node.op)](a, b)
        else:
            raise _GenError(f"cannot apply {type(node.op).__name__} to {type(a).__name__} and {type(b).__name__}")
    if type(v) is int and not -(1 << 63) <= v < (1 << 63):
        raise _GenError("an integer outside the 64-bit range")
    if type(v) is str and len(v) > limits.MAX_GEN_TEXT:
        raise _GenError(f"a string longer than {limits.MAX_GEN_TEXT} characters")
    return v


def _gen_render(parts: list, ctx: dict) -> str:
    if len(parts) == 3 and not parts[0] and not parts[2]:
        return str(_gen_eval(parts[1], ctx))
    out = "".join(p if isinstance(p, str) else str(_gen_eval(p, ctx)) for p in parts)
    if len(out) > limits.MAX_GEN_TEXT:
        raise _GenError(f"renders to more than {limits.MAX_GEN_TEXT} characters")
    return out


def _gen_int(parts: list, ctx: dict, what: str) -> int:
    s = _gen_render(parts, ctx).strip()
    if not _INT_RE.fullmatch(s):
        raise _GenError(f"{what} renders to {_short(s)}, not an integer")
    return int(s)


def _gen_dims(g: dict, i: int) -> dict[str, Any]:
    dims = g.get("dimensions")
    if not isinstance(dims, dict) or not dims:
        raise _GenError(f"gen[{i}] needs a 'dimensions' object")
    out = {}
    for k, v in dims.items():
        if isinstance(v, list):
            if not all(type(x) in (int, str) for x in v):
                raise _GenError(f"gen[{i}] dimension {_short(k)}: values must be integers or strings")
            out[k] = v
        elif isinstance(v, dict):
            bounds = [v.get("start", 0), v.get("stop"), v.get("step", 1)]
            if not all(type(b) is int for b in bounds) or bounds[2] == 0:
                raise _GenError(f"gen[{i}] dimension {_short(k)}: start/stop/step must be integers (step not 0)")
            out[k] = range(*bounds)
        else:
            raise _GenError(f"gen[{i}] dimension {_short(k)} must be a list or a {{start, stop, step}} object")
    return out


def _safe_len(v) -> int:
    try:
        return len(v)
    except OverflowError:  # a range longer than sys.maxsize
        return 1 << 63


def _expand_gen(gens: list, templates: dict, path: str) -> dict:
    """Expand ``gen`` entries (templates over ranges), bounded in count and size."""
    out: dict[str, Any] = {}
    total = 0
    try:
        for i, g in enumerate(gens):
            if not isinstance(g, dict):
                raise _GenError(f"gen[{i}] is not an object")
            dims = _gen_dims(g, i)
            n = math.prod(_safe_len(v) for v in dims.values())
            total += n
            if total > limits.MAX_GEN_REFS:
                raise ScanError(path, f"'gen' entries would make more than {limits.MAX_GEN_REFS:,} references "
                                      f"(budget vz_jupyter.core.limits.MAX_GEN_REFS)")
            if ("offset" in g) != ("length" in g):
                raise _GenError(f"gen[{i}] needs both 'offset' and 'length' or neither")
            key_t = _gen_template(g.get("key"), f"gen[{i}] key")
            url_t = _gen_template(g.get("url"), f"gen[{i}] url")
            off_t = _gen_template(g["offset"], f"gen[{i}] offset") if "offset" in g else None
            len_t = _gen_template(g["length"], f"gen[{i}] length") if "length" in g else None
            names = list(dims)
            for values in itertools.product(*dims.values()):
                ctx = {**templates, **dict(zip(names, values))}
                key = _gen_render(key_t, ctx)
                if key in out:
                    raise ScanError(path, f"'gen' makes the key {_short(key)} twice (duplicate keys are ambiguous)")
                url = _gen_render(url_t, ctx)
                if off_t is not None:
                    out[key] = [url, _gen_int(off_t, ctx, "offset"), _gen_int(len_t, ctx, "length")]
                else:
                    out[key] = [url]
    except _GenError as e:
        raise ScanError(path, f"cannot expand a 'gen' entry: {e}") from None
    return out


def _render_urls(urls: list, templates: dict, path: str) -> list[str]:
    """Urls with ``{{name}}`` templates filled in as fsspec does by default
    (``simple_templates``: ``str.format`` after turning ``{{ }}`` into ``{ }``)."""
    out = []
    for u in urls:
        if u is None:
            raise UnsupportedFeature(path, "a reference has a null url (implicit target); give every reference its url")
        if not isinstance(u, str):
            raise ScanError(path, f"reference url {_short(u)} is not a string")
        if "{{" in u:
            try:
                # format_map looks names up in templates (format(**templates) copied them all: quadratic)
                u = u.replace("{{", "{").replace("}}", "}").format_map(templates)
            except Exception as e:  # noqa: BLE001  (str.format raises KeyError, IndexError, ValueError, AttributeError)
                raise ScanError(path, f"url {_short(u)} uses an undefined template ({type(e).__name__}: {_one_line(e)})") from None
        out.append(u)
    return out


def _data_url_payloads(urls: list[str], path: str) -> dict[int, bytes]:
    """Positions and payloads of ``data:`` URLs (vz_jupyter references one such
    URL for every unwritten chunk whose fill zarr would not produce): their
    chunks are inline data, not files."""
    out: dict[int, bytes] = {}
    for i, u in enumerate(urls):
        if isinstance(u, str) and u.startswith("data:"):
            head, sep, payload = u[5:].partition(",")
            if not sep:
                raise ScanError(path, f"malformed data: URL in a reference ({u[:60]}...)")
            try:
                if head.endswith(";base64"):
                    out[i] = base64.standard_b64decode(payload)
                else:
                    from urllib.parse import unquote_to_bytes

                    out[i] = unquote_to_bytes(payload)
            except (ValueError, base64.binascii.Error):
                raise ScanError(path, f"undecodable data: URL in a reference ({u[:60]}...)") from None
    return out


def _inline_from_data(k: int, blob: bytes, o: int, n: int, whole: bool, pid, off, ln, inline) -> None:
    piece = blob if whole or (o == 0 and n == len(blob)) else blob[o:o + n]
    pid[k] = INLINE
    off[k] = 0
    ln[k] = len(piece)
    inline[k] = piece


def _inline_bytes(v: Any, path: str = "<references>", what: str = "inline data") -> bytes:
    if isinstance(v, bytes):
        return _b64(v[7:], path, what) if v.startswith(b"base64:") else v
    if v.startswith("base64:"):
        return _b64(v[7:], path, what)
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ScanError(path, f"{what} is not encodable text ({_one_line(e)})") from None


def _json_manifest(name, var_meta, chunks, templates, path, storage_options) -> Manifest:
    grid, sep = var_meta["grid"], var_meta["sep"]
    leaves, values = chunks.get(name, ([], []))
    if sep == "/":
        # keys "var/i/j/k": gather them from the deeper prefixes
        leaves, values = list(leaves), list(values)
        for prefix, (lv, vv) in chunks.items():
            if prefix.startswith(name + "/"):
                rest = prefix[len(name) + 1:]
                leaves.extend(f"{rest}/{x}" for x in lv)
                values.extend(vv)
    n = len(leaves)
    if n == 0:
        return Manifest.empty(grid)
    flat = chunk_numbers(leaves, grid, sep, path, name)
    return _manifest_from_values(name, grid, flat, values, templates, path, storage_options, var_meta)


_IDX = r"(?:0|[1-9][0-9]*)"


def _key_pattern(ndim: int, sep: str) -> re.Pattern:
    if ndim == 0:
        return re.compile("0")
    return re.compile(_IDX + (re.escape(sep) + _IDX) * (ndim - 1))


def chunk_numbers(leaves: list[str], grid: tuple, sep: str, path: str, name: str = "") -> np.ndarray:
    """C-order chunk numbers of canonical chunk keys (``i.j.k`` of ASCII
    decimals without sign, spaces or leading zeros, joined by ``sep``, inside
    ``grid``). Anything else is a :class:`ScanError` naming the key."""
    ndim = len(grid)
    pat = _key_pattern(ndim, sep)
    bad = next((x for x in leaves if not (isinstance(x, str) and pat.fullmatch(x))), None)
    shown = (lambda leaf: _short(f"{name}/{leaf}" if name else leaf))
    if bad is not None:
        want = "0" if ndim == 0 else sep.join("ijklmnopq"[d] if d < 9 else "x" for d in range(ndim))
        raise ScanError(path, f"chunk key {shown(bad)} does not fit a {ndim}-d chunk grid: keys are {want} "
                              f"(ASCII decimals without sign, spaces or leading zeros, separated by {sep!r})")
    n = len(leaves)
    if ndim == 0:
        if n > 1:
            raise ScanError(path, f"chunk key {shown('0')} appears twice")
        return np.zeros(n, dtype=np.int64)
    parts = sep.join(leaves).split(sep)
    try:
        idx = np.array(parts, dtype=np.int64).reshape(n, ndim)
    except (OverflowError, ValueError):
        row = next(i for i, x in enumerate(leaves) if any(len(p) > 18 for p in x.split(sep)))
        raise ScanError(path, f"chunk key {shown(leaves[row])} lies outside the chunk grid {tuple(grid)}") from None
    g = np.asarray(grid, dtype=np.int64)
    outside = (idx >= g).any(axis=1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ScanError(path, f"chunk key {shown(leaves[row])} lies outside the chunk grid {tuple(grid)}")
    flat = np.ravel_multi_index(tuple(idx.T), grid).astype(np.int64)
    if len(np.unique(flat)) != n:  # pragma: no cover - canonical keys are unique strings
        raise ScanError(path, f"variable {name!r}: a chunk key appears twice")
    return flat


def _int_list(vals: list, path: str, name: str, what: str) -> np.ndarray:
    """Offsets or lengths: JSON integers only (no floats, strings, booleans),
    within 0 .. 2**63-1."""
    if not all(type(v) is int for v in vals):
        bad = next(v for v in vals if type(v) is not int)
        raise ScanError(path, f"variable {name!r}: reference offsets and lengths must be integers "
                              f"(got {what} {_short(bad)})")
    try:
        a = np.array(vals, dtype=np.int64)
    except OverflowError:
        bad = next(v for v in vals if not -(1 << 63) <= v < (1 << 63))
        raise ScanError(path, f"variable {name!r}: reference {what} {_short(bad)} is out of range") from None
    if (a < 0).any():
        raise ScanError(path, f"variable {name!r}: negative reference {what} {int(a[a < 0][0])}")
    return a


def _manifest_from_values(name, grid, flat, values, templates, path, storage_options, var_meta=None) -> Manifest:
    n = len(values)
    size = math.prod(grid) if grid else 1
    is_ref = np.fromiter((type(v) is list for v in values), dtype=bool, count=n)
    pid = np.full(size, MISSING, dtype=np.uint32)
    off = np.zeros(size, dtype=np.uint64)
    ln = np.zeros(size, dtype=np.uint64)
    inline: dict[int, bytes] = {}
    paths: tuple[str, ...] = ()
    ref_idx = np.flatnonzero(is_ref)
    if ref_idx.size:
        refs = [values[i] for i in ref_idx.tolist()]
        lens = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
        if ((lens != 1) & (lens != 3)).any():
            bad = refs[int(np.flatnonzero((lens != 1) & (lens != 3))[0])]
            raise ScanError(path, f"variable {name!r}: reference {_short(bad)} is not [url] or [url, offset, length]")
        seen: dict[Any, int] = {}
        try:
            inv = np.fromiter((seen.setdefault(r[0], len(seen)) for r in refs), dtype=np.int64, count=len(refs))
        except TypeError:  # an unhashable url
            raise ScanError(path, f"variable {name!r}: reference urls must be strings") from None
        rendered = _render_urls(list(seen), templates, path)
        datas = _data_url_payloads(rendered, path)
        paths_list, remap = _normalize_paths(rendered, path)
        o = np.zeros(len(refs), dtype=np.int64)
        l = np.zeros(len(refs), dtype=np.int64)
        three = lens == 3
        if three.any():
            sel = np.flatnonzero(three).tolist()
            o[three] = _int_list([refs[i][1] for i in sel], path, name, "offset")
            l[three] = _int_list([refs[i][2] for i in sel], path, name, "length")
            if ((o[three] + l[three]) < o[three]).any() or (o[three] > (1 << 62)).any() or (l[three] > (1 << 62)).any():
                raise ScanError(path, f"variable {name!r}: reference offset + length is out of range")
        pids = remap[inv]
        is_data = np.isin(inv, np.fromiter(datas, dtype=np.int64, count=len(datas))) if datas else np.zeros(len(refs), bool)
        if (~three & ~is_data).any():
            # whole-file references: their length is the file's size
            for i in np.flatnonzero(~three & ~is_data).tolist():
                l[i] = _file_size(paths_list[pids[i]], path, storage_options)
        target = flat[ref_idx]
        pid[target] = pids
        off[target] = o
        ln[target] = l
        for i in np.flatnonzero(is_data).tolist():
            _inline_from_data(int(target[i]), datas[int(inv[i])], int(o[i]), int(l[i]), not three[i], pid, off, ln, inline)
        paths = tuple(paths_list)
    for i in np.flatnonzero(~is_ref).tolist():
        v = values[i]
        if not isinstance(v, (str, bytes)):
            raise ScanError(path, f"variable {name!r}: reference value {_short(v)} is neither [url, offset, length] nor data")
        data = _inline_bytes(v, path, f"variable {name!r}: inline chunk")
        k = int(flat[i])
        pid[k] = INLINE
        ln[k] = len(data)
        inline[k] = data
    shape = grid if grid else ()
    m = Manifest(paths, pid.reshape(shape), off.reshape(shape), ln.reshape(shape), inline)
    return m.compact_paths() if ref_idx.size and datas else m


def _normalize_paths(urls: list[str], where: str = "<references>") -> tuple[list[str], np.ndarray]:
    """Paths as the model keeps them (absolute local paths, URLs as given),
    de-duplicated; returns the table and the remap from ``urls`` positions."""
    from ..access import resolve_path

    table: list[str] = []
    index: dict[str, int] = {}
    remap = np.empty(len(urls), dtype=np.uint32)
    for i, u in enumerate(urls):
        if isinstance(u, str) and u.startswith("data:"):
            p = u  # inline data: reads nothing else
        else:
            if not isinstance(u, str) or not u or "\x00" in u:
                raise ScanError(where, f"reference url {_short(u)} is not a usable path")
            try:
                p = resolve_path(u)  # relative to the reference file; refused outside its roots
            except (ValueError, TypeError, OSError) as e:
                raise ScanError(where, f"reference url {_short(u)} is not a usable path ({_one_line(e)})") from None
        j = index.get(p)
        if j is None:
            j = index[p] = len(table)
            table.append(p)
        remap[i] = j
    return table, remap


class WholeRemoteFile(UnsupportedFeature):
    """A ``[url]`` reference to a whole remote file: its size would need a
    request to the server, which reading references never makes."""


def _file_size(p: str, path: str, storage_options) -> int:
    if "://" in p:
        from ..urls import redact

        raise WholeRemoteFile(path, f"a reference points at the whole remote file {redact(p)}, whose size is unknown "
                                    f"without asking its server (vz contacts no source while reading references)")
    import stat

    try:
        st = os.stat(p)
    except Exception as e:  # noqa: BLE001
        raise ScanError(path, f"a reference points at the whole file {p}, whose size cannot be read ({_one_line(e)})") from None
    if not stat.S_ISREG(st.st_mode):
        from ..access import NotRegularFile, _kind

        raise NotRegularFile(p, f"not a regular file ({_kind(st.st_mode)}), referenced whole by {path}; "
                                f"vz reads only regular files")
    return st.st_size


# -- parquet -------------------------------------------------------------------
def _from_parquet(root: str, fs, storage_options) -> VDataset:
    try:
        raw = fs.cat_file(f"{root.rstrip('/')}/.zmetadata")
    except FileNotFoundError:
        raise ScanError(root, "a directory without .zmetadata is not a kerchunk parquet reference set") from None
    zm = loads_json(raw, root, ".zmetadata is not valid JSON")
    if not isinstance(zm, dict) or "metadata" not in zm or type(zm.get("record_size")) is not int:
        raise ScanError(root, ".zmetadata needs 'metadata' and an integer 'record_size'")
    meta, record_size = zm["metadata"], zm["record_size"]
    if record_size < 1:
        raise ScanError(root, f".zmetadata record_size {record_size} must be positive")
    if not isinstance(meta, dict):
        raise ScanError(root, ".zmetadata 'metadata' is not an object")
    docs = {k: _parse_doc(k, v, root) for k, v in meta.items()}
    budget = [limits.MAX_PARQUET_BYTES]
    return _build(docs, root, lambda name, var_meta: _parquet_manifest(root, fs, name, var_meta, record_size,
                                                                         storage_options, budget))


def _read_record_file(fs, fn: str, root: str, where: str, cnt: int, record_size: int, budget: list,
                      raw_limit: int):
    """One record file as a pyarrow table, after checking what its footer
    declares (rows, uncompressed bytes) against the budgets; None if absent."""
    import pyarrow.parquet as pq

    try:
        with fs.open(fn, "rb") as f:
            pf = pq.ParquetFile(f)
            md = pf.metadata
            if md.num_rows > record_size:
                raise ScanError(root, f"{where} declares {md.num_rows:,} rows, more than record_size {record_size:,}")
            if md.num_rows < cnt:
                raise ScanError(root, f"{where} has {md.num_rows} rows, expected {cnt} (record_size {record_size})")
            declared = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
            names = [md.schema.column(j).name for j in range(md.num_columns)]
            if "raw" in names:
                j = names.index("raw")
                raw_bytes = sum(md.row_group(i).column(j).total_uncompressed_size for i in range(md.num_row_groups))
                if raw_bytes > md.num_rows * (raw_limit + 64) + (1 << 16):
                    raise ScanError(root, f"{where}: its 'raw' column declares {raw_bytes:,} bytes, more than "
                                          f"{md.num_rows} chunk(s) of this variable can hold")
            budget[0] -= declared
            if budget[0] < 0:
                raise ScanError(root, f"{where}: the record files declare more than {limits.MAX_PARQUET_BYTES:,} bytes "
                                      f"of references (budget vz_jupyter.core.limits.MAX_PARQUET_BYTES)")
            return pf.read()
    except FileNotFoundError:
        return None  # fsspec reads a missing record file as missing chunks
    except ScanError:
        raise
    except Exception as e:  # noqa: BLE001  (pyarrow raises ArrowInvalid, OSError, ...)
        raise ScanError(root, f"{where} is not a readable parquet file ({_one_line(e)})") from None


def _int_column(t, col: str, cnt: int, has_path: np.ndarray, root: str, where: str) -> np.ndarray:
    import pyarrow as pa

    if col not in t.column_names:
        if has_path.any():
            raise ScanError(root, f"{where} has paths but no {col!r} column")
        return np.zeros(cnt, dtype=np.int64)
    c = t.column(col).combine_chunks()
    if pa.types.is_null(c.type):
        c_valid = np.zeros(cnt, dtype=bool)
        vals = np.zeros(cnt, dtype=np.int64)
    elif pa.types.is_integer(c.type):
        c_valid = c.is_valid().to_numpy(zero_copy_only=False)
        vals = c.fill_null(0).to_numpy(zero_copy_only=False)
        if c.type.bit_width == 64 and pa.types.is_unsigned_integer(c.type) and (vals > (1 << 62)).any():
            raise ScanError(root, f"{where}: {col} values are out of range")
        vals = vals.astype(np.int64)
    else:
        raise ScanError(root, f"{where}: column {col!r} is {c.type}, not integers")
    if (has_path & ~c_valid).any():
        raise ScanError(root, f"{where}: a row with a path has a null {col}")
    if (vals[has_path] < 0).any():
        raise ScanError(root, f"{where} has a negative offset or size")
    if (vals[has_path] > (1 << 62)).any():
        raise ScanError(root, f"{where}: {col} values are out of range")
    return vals


def _parquet_manifest(root, fs, name, var_meta, record_size, storage_options, budget=None) -> Manifest:
    import pyarrow as pa

    budget = [limits.MAX_PARQUET_BYTES] if budget is None else budget

    grid = var_meta["grid"]
    n = math.prod(grid) if grid else 1
    nrec = max(math.ceil(n / record_size), 1)
    pid = np.full(n, MISSING, dtype=np.uint32)
    off = np.zeros(n, dtype=np.uint64)
    ln = np.zeros(n, dtype=np.uint64)
    inline: dict[int, bytes] = {}
    table: list[str] = []
    index: dict[str, int] = {}
    whole: list[int] = []
    for r in range(nrec):
        where = f"{name}/refs.{r}.parq"
        start = r * record_size
        cnt = min(record_size, n - start)
        t = _read_record_file(fs, f"{root.rstrip('/')}/{where}", root, where, cnt, record_size, budget,
                              var_meta.get("limit", limits.MAX_CHUNK_BYTES))
        if t is None:
            continue
        t = t.slice(0, cnt)
        cols = set(t.column_names)
        if "raw" not in cols and "path" not in cols:
            raise ScanError(root, f"{where} has neither a 'path' nor a 'raw' column")
        has_path = np.zeros(cnt, dtype=bool)
        if "path" in cols:
            col = t.column("path").combine_chunks()
            if pa.types.is_dictionary(col.type):
                if not (pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type)):
                    raise ScanError(root, f"{where}: column 'path' is {col.type}, not strings")
                dictionary = col.dictionary.to_pylist()
                ids = col.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
                col = col.cast(pa.string())
                enc = col.dictionary_encode()
                dictionary = enc.dictionary.to_pylist()
                ids = enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                raise ScanError(root, f"{where}: column 'path' is {col.type}, not strings")
            has_path = col.is_valid().to_numpy(zero_copy_only=False)
            if dictionary:
                norm, local = _normalize_paths([str(d) for d in dictionary], root)
                remap = np.empty(len(norm), dtype=np.uint32)
                for i, p in enumerate(norm):
                    j = index.get(p)
                    if j is None:
                        j = index[p] = len(table)
                        table.append(p)
                    remap[i] = j
                gids = remap[local[ids]] if len(ids) else np.zeros(0, dtype=np.uint32)
                pid[start:start + cnt][has_path] = gids[has_path]
        o = _int_column(t, "offset", cnt, has_path, root, where)
        s = _int_column(t, "size", cnt, has_path, root, where)
        off[start:start + cnt][has_path] = o[has_path]
        ln[start:start + cnt][has_path] = s[has_path]
        whole.extend((start + np.flatnonzero(has_path & (o == 0) & (s == 0))).tolist())
        if "raw" in cols:
            rawc = t.column("raw").combine_chunks()
            if not (pa.types.is_binary(rawc.type) or pa.types.is_large_binary(rawc.type) or pa.types.is_null(rawc.type)
                    or pa.types.is_string(rawc.type) or pa.types.is_large_string(rawc.type)):
                raise ScanError(root, f"{where}: column 'raw' is {rawc.type}, not bytes")
            valid = np.flatnonzero(rawc.is_valid().to_numpy(zero_copy_only=False))
            for i in valid.tolist():
                v = rawc[i].as_py()
                data = _inline_bytes(v, root, f"{where} row {i}: raw")
                k = start + i
                pid[k] = INLINE
                off[k] = 0
                ln[k] = len(data)
                inline[k] = data
    for k in whole:
        if pid[k] != INLINE:
            ln[k] = _file_size(table[pid[k]], root, storage_options)
    shape = grid if grid else ()
    return Manifest(tuple(table), pid.reshape(shape), off.reshape(shape), ln.reshape(shape), inline)


# -- shared: zarr v2 metadata -> VArray ------------------------------------------
def decode_fill_value(v: Any, dtype: np.dtype, path: str, name: str) -> Any:
    """A zarr v2 ``fill_value`` as a value of ``dtype``."""
    if v is None:
        return None
    try:
        if dtype.kind in "SV":
            data = base64.standard_b64decode(v) if isinstance(v, str) else bytes(v)
            if dtype.kind == "V":
                return data
            return np.array(data, dtype=dtype)[()]
        if dtype.kind == "f":
            if isinstance(v, str):
                v = _SPECIAL_FLOATS[v]
            return dtype.type(v)
        if dtype.kind == "c":
            re_, im = (_SPECIAL_FLOATS.get(x, x) if isinstance(x, str) else x for x in v)
            return dtype.type(complex(re_, im))
        if dtype.kind in "iub":
            return dtype.type(v)
        if dtype.kind in "mM":
            return np.array(int(v), dtype="i8").view(dtype)[()]
        return v
    except (KeyError, TypeError, ValueError, OverflowError, base64.binascii.Error):
        raise ScanError(path, f"variable {name!r}: fill_value {v!r} does not fit dtype {dtype}") from None


def decode_fill_attr(v: Any, dtype: np.dtype) -> Any:
    """A ``_FillValue`` attribute as found in references (xarray's base64 double,
    "NaN"-style strings, or plain numbers) as a value of ``dtype`` when it is one
    exactly; anything else (1.5 or NaN for an integer variable) is kept as it is,
    never coerced."""
    try:
        if dtype.kind == "f" and isinstance(v, str):
            if v in _SPECIAL_FLOATS:
                return dtype.type(_SPECIAL_FLOATS[v])
            b = base64.standard_b64decode(v)
            if len(b) == 8:
                v = struct.unpack("<d", b)[0]
            else:
                return v
        if dtype.kind == "c" and isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v):
            re_, im = (struct.unpack("<d", base64.standard_b64decode(x))[0] for x in v)
            v = complex(re_, im)
    except (ValueError, TypeError, OverflowError, base64.binascii.Error, struct.error):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
        return v
    ok, value = conforming_fill(v, dtype)
    return value if ok else v


def parse_dtype(d: Any, path: str, name: str) -> np.dtype:
    """A zarr v2 ``dtype`` (a typestr or a structured list). ``null`` is refused
    (numpy would take it for float64), as are zero-sized items."""
    if d is None:
        raise ScanError(path, f"variable {name!r}: dtype is null; a zarr v2 dtype such as '<f8' is required")
    if not isinstance(d, (str, list)):
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is not a valid zarr v2 dtype")
    try:
        if isinstance(d, list):
            dt = np.dtype([(f[0], parse_dtype(f[1], path, name)) if len(f) == 2
                           else (f[0], parse_dtype(f[1], path, name), tuple(f[2])) for f in d])
        else:
            dt = np.dtype(d)
    except ScanError:
        raise
    except Exception:  # noqa: BLE001  (numpy's parser raises TypeError, ValueError, SyntaxError, ...)
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is not a valid zarr v2 dtype") from None
    if dt.itemsize == 0:
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} has zero-sized items")
    if dt.subdtype is not None and not isinstance(d, list):
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} is a subarray type, not a zarr v2 dtype")
    if dt.fields is not None and dt.hasobject:
        raise ScanError(path, f"variable {name!r}: dtype {_short(d)} has object fields")
    return dt


#: codecs that turn stored bytes into Python objects (what an object dtype needs)
_OBJECT_CODECS = {"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "msgpack2"}
#: codecs that run code from the data when decoding: never from references
_REFUSED_CODECS = {"pickle"}
_MAX_DIM = 1 << 53


def _int_tuple(v: Any) -> tuple[int, ...] | None:
    if not isinstance(v, list) or not all(type(x) is int for x in v):
        return None
    return tuple(v)


def _array_meta(name: str, za: Any, path: str) -> tuple:
    """Validated ``(shape, chunks, dtype, codecs, sep, grid)`` of ``name/.zarray``.

    Hand-written rather than zarr's ``ArrayV2Metadata.from_dict``, which accepts what
    this refuses (chunks of 0, order "F") and refuses what references may carry (codec
    ids not installed where they are scanned), with messages that do not name the file;
    the writer uses zarr's own encoding (zarr_meta).
    """
    if not isinstance(za, dict):
        raise ScanError(path, f"{name}/.zarray is not a JSON object")
    if "shape" not in za or "chunks" not in za:
        raise ScanError(path, f"{name}/.zarray needs integer 'shape' and 'chunks' lists")
    shape, chunks = _int_tuple(za["shape"]), _int_tuple(za["chunks"])
    if shape is None or chunks is None:
        raise ScanError(path, f"{name}/.zarray needs integer 'shape' and 'chunks' lists "
                              f"(got {_short(za['shape'])} and {_short(za['chunks'])})")
    if not shape:
        chunks = ()  # a scalar is one chunk, whatever 'chunks' says
    if len(chunks) != len(shape) or any(c <= 0 for c in chunks) or any(s < 0 for s in shape):
        raise ScanError(path, f"{name}/.zarray: chunks {list(chunks)} do not match shape {list(shape)}")
    if any(x > _MAX_DIM for x in shape + chunks) or math.prod(shape) > _MAX_DIM:
        raise ScanError(path, f"{name}/.zarray: shape {list(shape)} / chunks {list(chunks)} are too large")
    if za.get("zarr_format", 2) != 2:
        raise UnsupportedFeature(path, f"{name}: zarr_format {_short(za.get('zarr_format'))} is not zarr v2")
    if za.get("order", "C") != "C":
        order = "Fortran ('F')" if za.get("order") == "F" else _short(za.get("order"))
        raise UnsupportedFeature(path, f"variable {name!r} uses {order} chunk order; only C order is supported")
    if "dtype" not in za:
        raise ScanError(path, f"{name}/.zarray has no dtype")
    dtype = parse_dtype(za["dtype"], path, name)
    filters = za.get("filters") or []
    compressor = za.get("compressor")
    if not isinstance(filters, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in filters):
        raise ScanError(path, f"{name}/.zarray: filters must be a list of codec configs with an 'id'")
    if compressor is not None and not (isinstance(compressor, dict) and isinstance(compressor.get("id"), str)):
        raise ScanError(path, f"{name}/.zarray: compressor must be a codec config with an 'id'")
    codecs = tuple(filters) + ((compressor,) if compressor else ())
    ids = [c["id"] for c in codecs]
    refused = next((i for i in ids if i in _REFUSED_CODECS), None)
    if refused:
        raise UnsupportedFeature(path, f"variable {name!r}: codec {refused!r} runs code from the data when decoding; refused")
    if dtype.kind == "O" and not any(i in _OBJECT_CODECS for i in ids):
        raise ScanError(path, f"variable {name!r}: object dtype needs an object codec ({', '.join(sorted(_OBJECT_CODECS))})")
    sep = za.get("dimension_separator", ".")
    sep = "." if sep is None else sep
    if sep not in (".", "/"):
        raise ScanError(path, f"{name}/.zarray: dimension_separator {_short(sep)} must be '.' or '/'")
    grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
    if math.prod(grid) > limits.MAX_CHUNKS:
        raise ScanError(path, f"variable {name!r}: a chunk grid of {math.prod(grid):,} chunks is more than the budget "
                              f"of {limits.MAX_CHUNKS:,} (vz_jupyter.core.limits.MAX_CHUNKS)")
    return shape, chunks, dtype, codecs, sep, grid


def _check_raw_lengths(name: str, m: Manifest, chunks: tuple, dtype: np.dtype, codecs: tuple, path: str) -> None:
    """Chunks stored without codecs hold exactly chunk-shape x itemsize bytes
    (zarr refuses anything else; reading a prefix would hide a wrong reference)."""
    if codecs or dtype.kind == "O":
        return
    need = math.prod(chunks) * dtype.itemsize
    present = m.path_id != MISSING
    bad = present & (m.length != need)
    if bad.any():
        i = tuple(int(x) for x in np.argwhere(bad)[0]) if bad.ndim else ()
        got = int(m.length[i]) if bad.ndim else int(m.length)
        raise ScanError(path, f"variable {name!r}: chunk {'.'.join(map(str, i)) or '0'} is stored with {got} bytes "
                              f"but has no codecs, so it must hold {need} (chunks {list(chunks)} x {dtype.itemsize} B)")


def _build(docs: dict[str, Any], path: str, manifest_for) -> VDataset:
    group_attrs = docs.get(".zattrs")
    group_attrs = {} if group_attrs is None else group_attrs
    if not isinstance(group_attrs, dict):
        raise ScanError(path, ".zattrs is not a JSON object")
    if ".zgroup" in docs and not isinstance(docs[".zgroup"], dict):
        raise ScanError(path, ".zgroup is not a JSON object")
    if ".zarray" in docs:
        raise UnsupportedFeature(path, "the references describe a single zarr array, not a group of variables")
    zf = (docs.get(".zgroup") or {}).get("zarr_format", 2) if isinstance(docs.get(".zgroup"), dict) else 2
    if zf != 2:
        raise UnsupportedFeature(path, f"zarr_format {zf} metadata; kerchunk references use zarr v2")
    names = [k[: -len("/.zarray")] for k in docs if k.endswith("/.zarray")]
    variables: dict[str, VArray] = {}
    skipped: list[tuple[str, str]] = []
    groups = sorted({k.split("/", 1)[0] for k in docs if k.count("/") >= 1 and k.endswith("/.zgroup")})
    for name in names:
        if "/" in name:
            skipped.append((name, "array in a sub-group: scan_refs reads root-level variables only"))
            continue
        za = docs[f"{name}/.zarray"]
        shape, chunks, dtype, codecs, sep, grid = _array_meta(name, za, path)
        attrs = docs.get(f"{name}/.zattrs")
        attrs = {} if attrs is None else attrs
        if not isinstance(attrs, dict):
            raise ScanError(path, f"{name}/.zattrs is not a JSON object")
        attrs = dict(attrs)
        dims = attrs.pop("_ARRAY_DIMENSIONS", None)
        if dims is None:
            dims = [f"{name}_dim_{i}" for i in range(len(shape))]
        if not isinstance(dims, list) or len(dims) != len(shape) or not all(isinstance(d, str) for d in dims):
            raise ScanError(path, f"variable {name!r}: _ARRAY_DIMENSIONS {_short(dims)} does not match shape "
                                  f"{list(shape)} (one name a dimension)")
        if len(set(dims)) != len(dims):
            raise ScanError(path, f"variable {name!r}: _ARRAY_DIMENSIONS {_short(dims)} repeats a name")
        fill_value = decode_fill_value(za.get("fill_value"), dtype, path, name)
        if "_FillValue" in attrs:
            attrs["_FillValue"] = decode_fill_attr(attrs["_FillValue"], dtype)
        elif fill_value is not None and dtype.kind not in "OV" and dtype.fields is None:
            # zarr v2: xarray reads the fill_value as the variable's _FillValue
            attrs["_FillValue"] = fill_value
        from ..decode import stage_limit

        limit = stage_limit(codecs, dtype, math.prod(chunks))
        try:
            manifest = manifest_for(name, {"grid": grid, "sep": sep, "ndim": len(shape), "limit": limit})
        except WholeRemoteFile as e:  # announced by the scan (errors=...)
            skipped.append((name, e.problem))
            continue
        _check_raw_lengths(name, manifest, chunks, dtype, codecs, path)
        variables[name] = VArray(
            name=name,
            dims=tuple(str(d) for d in dims),
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            codecs=codecs,
            fill_value=fill_value,
            attrs=attrs,
            manifest=manifest,
        )
    coords = [n for n, v in variables.items() if v.dims == (n,)]
    for v in variables.values():
        c = v.attrs.get("coordinates")
        if isinstance(c, str):
            coords.extend(x for x in c.split() if x in variables and x not in coords)
    all_paths: dict[str, None] = {}
    for v in variables.values():
        for p in v.manifest.paths:
            all_paths.setdefault(p, None)
    sources = tuple(Source(p) for p in all_paths)
    return VDataset(
        variables=variables,
        attrs=group_attrs,
        coords=tuple(coords),
        sources=sources,
        skipped=tuple(skipped),
        groups=tuple(groups),
    )
