"""Kerchunk JSON references (version 0 and 1, with ``templates`` and ``gen``)
-> manifests: entries split into metadata documents and chunk keys, chunk keys
parsed in bulk with numpy per variable, reference values (``[url]``,
``[url, offset, length]``, inline data) validated into manifest columns."""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ...errors import ScanError, UnsupportedFeature
from ...model import Manifest, VDataset
from .build import _build
from .columns import _Columns
from .gen import _expand_gen
from .jsondoc import _inline_bytes, _parse_doc, _short
from .targets import _data_url_payloads, _file_size, _normalize_paths, _render_urls


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
    """A VDataset from a kerchunk JSON reference set (already parsed)."""
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
    return _manifest_from_values(name, grid, flat, values, templates, path, storage_options)


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

    def shown(leaf: str) -> str:
        return _short(f"{name}/{leaf}" if name else leaf)

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


def _manifest_from_values(name, grid, flat, values, templates, path, storage_options) -> Manifest:
    """The manifest of variable ``name`` from its reference ``values`` (chunk
    numbers ``flat``): ``[url]``, ``[url, offset, length]`` or inline data."""
    n = len(values)
    cols = _Columns(math.prod(grid) if grid else 1)
    is_ref = np.fromiter((type(v) is list for v in values), dtype=bool, count=n)
    ref_idx = np.flatnonzero(is_ref)
    paths: tuple[str, ...] = ()
    has_data = False
    if ref_idx.size:
        refs = [values[i] for i in ref_idx.tolist()]
        paths, has_data = _place_refs(name, refs, flat[ref_idx], templates, path, storage_options, cols)
    for i in np.flatnonzero(~is_ref).tolist():
        v = values[i]
        if not isinstance(v, (str, bytes)):
            raise ScanError(path, f"variable {name!r}: reference value {_short(v)} is neither [url, offset, length] nor data")
        cols.set_inline(int(flat[i]), _inline_bytes(v, path, f"variable {name!r}: inline chunk"))
    m = cols.manifest(paths, grid)
    return m.compact_paths() if has_data else m


def _place_refs(name, refs: list, target: np.ndarray, templates, path, storage_options,
                cols: _Columns) -> tuple[tuple[str, ...], bool]:
    """Put the ``[url]`` / ``[url, offset, length]`` references ``refs`` at chunk
    numbers ``target``; ``data:`` URLs become inline chunks. Returns the path
    table and whether any ``data:`` URL was found."""
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
    three = lens == 3
    o, nbytes = _ranges(name, refs, three, path)
    pids = remap[inv]
    is_data = np.isin(inv, np.fromiter(datas, dtype=np.int64, count=len(datas))) if datas else np.zeros(len(refs), bool)
    if (~three & ~is_data).any():
        # whole-file references: their length is the file's size
        for i in np.flatnonzero(~three & ~is_data).tolist():
            nbytes[i] = _file_size(paths_list[pids[i]], path, storage_options)
    cols.pid[target] = pids
    cols.off[target] = o
    cols.ln[target] = nbytes
    for i in np.flatnonzero(is_data).tolist():
        blob, oi, li = datas[int(inv[i])], int(o[i]), int(nbytes[i])
        whole = not three[i] or (oi == 0 and li == len(blob))
        cols.set_inline(int(target[i]), blob if whole else blob[oi:oi + li])
    return tuple(paths_list), bool(datas)


def _ranges(name: str, refs: list, three: np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and lengths of the ``[url, offset, length]`` references (0 for
    ``[url]``), checked to be integers that fit together."""
    o = np.zeros(len(refs), dtype=np.int64)
    n = np.zeros(len(refs), dtype=np.int64)
    if three.any():
        sel = np.flatnonzero(three).tolist()
        o[three] = _int_list([refs[i][1] for i in sel], path, name, "offset")
        n[three] = _int_list([refs[i][2] for i in sel], path, name, "length")
        if ((o[three] + n[three]) < o[three]).any() or (o[three] > (1 << 62)).any() or (n[three] > (1 << 62)).any():
            raise ScanError(path, f"variable {name!r}: reference offset + length is out of range")
    return o, n
