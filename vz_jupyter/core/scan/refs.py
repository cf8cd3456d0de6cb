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

import base64
import json
import math
import os
import struct
from typing import Any, Mapping

import numpy as np

from ..cf import conforming_fill
from ..errors import ScanError, UnsupportedFeature, reading
from ..model import INLINE, MISSING, Manifest, Source, VArray, VDataset

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

    from . import is_url, normalize_path, remote_fs

    path = normalize_path(path)
    fs = remote_fs(path, storage_options) if is_url(path) else fsspec.filesystem("file")
    with reading(path):
        if fs.isdir(path) if not is_url(path) else path.rstrip("/").endswith((".parquet", ".parq")):
            with confined(confinement(path, _parquet_recorded(fs, path))):
                return _from_parquet(path, fs, storage_options)
        raw = _read_whole(fs, path)
    try:
        refs = _loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScanError(path, f"not valid kerchunk JSON ({_one_line(e)})") from None
    if not isinstance(refs, dict):
        raise ScanError(path, f"not a kerchunk reference set (top level is a {type(refs).__name__}, not an object)")
    with confined(confinement(path, _recorded(refs))):
        return _from_refs_dict(refs, path, storage_options)


def _read_whole(fs, path: str) -> bytes:
    """The reference file's bytes (a FIFO or device is refused, not waited on)."""
    from . import is_url

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


def _loads(raw: bytes):
    """JSON parsing (ujson when installed: about twice as fast on big reference
    sets; the standard library names the error position when it fails)."""
    try:
        import ujson
    except ImportError:  # pragma: no cover
        return json.loads(raw)
    try:
        return ujson.loads(raw)
    except (ValueError, OverflowError):
        return json.loads(raw)  # raises a JSONDecodeError with the position (or parses)


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


# -- JSON ----------------------------------------------------------------------
def _from_refs_dict(refs: dict, path: str, storage_options) -> VDataset:
    version = refs.get("version")
    templates: dict[str, str] = {}
    if version is None:
        if "refs" in refs and isinstance(refs["refs"], dict) and not any(k.endswith(".zgroup") for k in refs):
            entries = refs["refs"]  # version-less wrapper
        else:
            entries = refs
    elif version == 1:
        entries = refs.get("refs")
        if not isinstance(entries, dict):
            raise ScanError(path, "version 1 references have no 'refs' object")
        templates = refs.get("templates") or {}
        if not isinstance(templates, dict):
            raise ScanError(path, "'templates' must be an object of name -> url")
        for k, t in templates.items():
            if not isinstance(t, str) or "{{" in t:
                raise UnsupportedFeature(path, f"template {k!r} is itself a jinja template; only plain urls are supported")
        gens = refs.get("gen") or []
        if gens:
            entries = dict(entries)
            entries.update(_expand_gen(gens, templates, path))
    else:
        raise ScanError(path, f"unknown kerchunk reference version {version!r} (expected 0 or 1)")

    meta: dict[str, Any] = {}
    chunks: dict[str, tuple[list[str], list[Any]]] = {}
    for key, value in entries.items():
        if not isinstance(key, str):
            raise ScanError(path, f"reference key {key!r} is not a string")
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
    return _build(docs, path, lambda name, var_meta: _json_manifest(name, var_meta, chunks, templates, path, storage_options))


def _parse_doc(key: str, value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value.startswith("base64:"):
            value = base64.b64decode(value[7:]).decode("utf-8", "replace")
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise ScanError(path, f"metadata {key!r} is not valid JSON ({_one_line(e)})") from None
    raise ScanError(path, f"metadata {key!r} is a {type(value).__name__}, expected a JSON document")


def _expand_gen(gens: list, templates: dict, path: str) -> dict:
    """Expand ``gen`` entries (jinja2 templates over ranges) as fsspec does."""
    import itertools

    try:
        import jinja2.sandbox
    except ImportError:  # pragma: no cover
        raise UnsupportedFeature(path, "'gen' references need the jinja2 package") from None
    env = jinja2.sandbox.SandboxedEnvironment()
    out: dict[str, Any] = {}
    for g in gens:
        try:
            dims = {
                k: (v if isinstance(v, list) else range(v.get("start", 0), v["stop"], v.get("step", 1)))
                for k, v in g["dimensions"].items()
            }
            key_t, url_t = env.from_string(g["key"]), env.from_string(g["url"])
            off_t = env.from_string(str(g["offset"])) if "offset" in g else None
            len_t = env.from_string(str(g["length"])) if "length" in g else None
            if (off_t is None) != (len_t is None):
                raise ScanError(path, "a 'gen' entry needs both 'offset' and 'length' or neither")
            for values in itertools.product(*dims.values()):
                ctx = dict(zip(dims.keys(), values), **templates)
                url = url_t.render(**ctx)
                if off_t is not None:
                    out[key_t.render(**ctx)] = [url, int(off_t.render(**ctx)), int(len_t.render(**ctx))]
                else:
                    out[key_t.render(**ctx)] = [url]
        except ScanError:
            raise
        except Exception as e:  # noqa: BLE001
            raise ScanError(path, f"cannot expand a 'gen' entry ({_one_line(e)})") from None
    return out


def _render_urls(urls: list, templates: dict, path: str) -> list[str]:
    out = []
    for u in urls:
        if u is None:
            raise UnsupportedFeature(path, "a reference has a null url (implicit target); give every reference its url")
        if not isinstance(u, str):
            raise ScanError(path, f"reference url {u!r} is not a string")
        if "{{" in u:
            try:
                u = u.replace("{{", "{").replace("}}", "}").format(**templates)
            except (KeyError, IndexError, ValueError) as e:
                raise ScanError(path, f"url {u!r} uses an undefined template ({_one_line(e)})") from None
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


def _inline_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return base64.b64decode(v[7:]) if v.startswith(b"base64:") else v
    if v.startswith("base64:"):
        return base64.b64decode(v[7:])
    return v.encode("utf-8")


def _json_manifest(name, var_meta, chunks, templates, path, storage_options) -> Manifest:
    grid, sep = var_meta["grid"], var_meta["sep"]
    leaves, values = chunks.get(name, ([], []))
    if sep == "/" and var_meta["ndim"] > 1:
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
    flat = _flat_numbers(name, leaves, grid, sep, path)
    return _manifest_from_values(name, grid, flat, values, templates, path, storage_options)


def _flat_numbers(name: str, leaves: list[str], grid: tuple, sep: str, path: str) -> np.ndarray:
    """C-order chunk numbers of chunk keys ``i.j.k`` (vectorised)."""
    ndim = len(grid)
    n = len(leaves)
    try:
        if ndim == 0:
            if any(x != "0" for x in leaves):
                bad = next(x for x in leaves if x != "0")
                raise ScanError(path, f"variable {name!r} is a scalar but has chunk key {name}/{bad}")
            return np.zeros(n, dtype=np.int64)
        joined = sep.join(leaves)
        parts = joined.split(sep) if sep == "." else joined.replace("/", ".").split(".")
        if len(parts) != n * ndim:
            raise ValueError("wrong number of indices")
        idx = np.array(parts, dtype=np.int64).reshape(n, ndim)
    except ScanError:
        raise
    except ValueError:
        for leaf in leaves:
            ps = leaf.replace("/", ".").split(".")
            if len(ps) != ndim or not all(p.isdigit() for p in ps):
                raise ScanError(path, f"chunk key {name}/{leaf} does not fit a {ndim}-d chunk grid") from None
        raise ScanError(path, f"variable {name!r}: unparseable chunk keys") from None
    if (idx >= np.asarray(grid, dtype=np.int64)).any() or (idx < 0).any():
        row = int(np.flatnonzero(((idx >= np.asarray(grid)) | (idx < 0)).any(axis=1))[0])
        raise ScanError(path, f"chunk key {name}/{leaves[row]} lies outside the chunk grid {grid}")
    return np.ravel_multi_index(tuple(idx.T), grid).astype(np.int64)


def _manifest_from_values(name, grid, flat, values, templates, path, storage_options) -> Manifest:
    n = len(values)
    size = int(np.prod(grid, dtype=np.int64)) if grid else 1
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
            raise ScanError(path, f"variable {name!r}: reference {bad!r} is not [url] or [url, offset, length]")
        seen: dict[Any, int] = {}
        try:
            inv = np.fromiter((seen.setdefault(r[0], len(seen)) for r in refs), dtype=np.int64, count=len(refs))
        except TypeError:  # an unhashable url
            raise ScanError(path, f"variable {name!r}: reference urls must be strings") from None
        rendered = _render_urls(list(seen), templates, path)
        datas = _data_url_payloads(rendered, path)
        paths_list, remap = _normalize_paths(rendered)
        o = np.zeros(len(refs), dtype=np.int64)
        l = np.zeros(len(refs), dtype=np.int64)
        three = lens == 3
        try:
            if three.any():
                sel = np.flatnonzero(three).tolist()
                o[three] = [refs[i][1] for i in sel]
                l[three] = [refs[i][2] for i in sel]
        except (TypeError, ValueError):
            raise ScanError(path, f"variable {name!r}: reference offsets and lengths must be integers") from None
        if (o < 0).any() or (l < 0).any():
            raise ScanError(path, f"variable {name!r}: negative offset or length in a reference")
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
        if v is None:
            continue
        if not isinstance(v, (str, bytes)):
            raise ScanError(path, f"variable {name!r}: reference value {v!r} is neither [url, offset, length] nor data")
        data = _inline_bytes(v)
        k = int(flat[i])
        pid[k] = INLINE
        ln[k] = len(data)
        inline[k] = data
    shape = grid if grid else ()
    m = Manifest(paths, pid.reshape(shape), off.reshape(shape), ln.reshape(shape), inline)
    return m.compact_paths() if ref_idx.size and datas else m


def _normalize_paths(urls: list[str]) -> tuple[list[str], np.ndarray]:
    """Paths as the model keeps them (absolute local paths, URLs as given),
    de-duplicated; returns the table and the remap from ``urls`` positions."""
    from ..access import resolve_path

    table: list[str] = []
    index: dict[str, int] = {}
    remap = np.empty(len(urls), dtype=np.uint32)
    for i, u in enumerate(urls):
        # relative to the reference file; refused outside its roots (a data: URL reads nothing else)
        p = u if u.startswith("data:") else resolve_path(u)
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
    try:
        return os.path.getsize(p)
    except Exception as e:  # noqa: BLE001
        raise ScanError(path, f"a reference points at the whole file {p}, whose size cannot be read ({_one_line(e)})") from None


# -- parquet -------------------------------------------------------------------
def _from_parquet(root: str, fs, storage_options) -> VDataset:
    try:
        raw = fs.cat_file(f"{root.rstrip('/')}/.zmetadata")
    except FileNotFoundError:
        raise ScanError(root, "a directory without .zmetadata is not a kerchunk parquet reference set") from None
    try:
        zm = json.loads(raw)
        meta = zm["metadata"]
        record_size = int(zm["record_size"])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScanError(root, f".zmetadata is not valid JSON ({_one_line(e)})") from None
    except (KeyError, TypeError, ValueError):
        raise ScanError(root, ".zmetadata needs 'metadata' and an integer 'record_size'") from None
    if record_size < 1:
        raise ScanError(root, f".zmetadata record_size {record_size} must be positive")
    if not isinstance(meta, dict):
        raise ScanError(root, ".zmetadata 'metadata' is not an object")
    docs = {k: _parse_doc(k, v, root) for k, v in meta.items()}
    return _build(docs, root, lambda name, var_meta: _parquet_manifest(root, fs, name, var_meta, record_size, storage_options))


def _parquet_manifest(root, fs, name, var_meta, record_size, storage_options) -> Manifest:
    import pyarrow as pa
    import pyarrow.parquet as pq

    grid = var_meta["grid"]
    n = int(np.prod(grid, dtype=np.int64)) if grid else 1
    nrec = max(math.ceil(n / record_size), 1)
    pid = np.full(n, MISSING, dtype=np.uint32)
    off = np.zeros(n, dtype=np.uint64)
    ln = np.zeros(n, dtype=np.uint64)
    inline: dict[int, bytes] = {}
    table: list[str] = []
    index: dict[str, int] = {}
    whole: list[int] = []
    for r in range(nrec):
        fn = f"{root.rstrip('/')}/{name}/refs.{r}.parq"
        try:
            with fs.open(fn, "rb") as f:
                t = pq.read_table(f)
        except FileNotFoundError:
            continue  # fsspec reads a missing record file as missing chunks
        except Exception as e:  # noqa: BLE001
            raise ScanError(root, f"{name}/refs.{r}.parq is not a readable parquet file ({_one_line(e)})") from None
        start = r * record_size
        cnt = min(record_size, n - start)
        if t.num_rows < cnt:
            raise ScanError(root, f"{name}/refs.{r}.parq has {t.num_rows} rows, expected {cnt} (record_size {record_size})")
        t = t.slice(0, cnt)
        cols = set(t.column_names)
        if "raw" not in cols and "path" not in cols:
            raise ScanError(root, f"{name}/refs.{r}.parq has neither a 'path' nor a 'raw' column")
        has_path = np.zeros(cnt, dtype=bool)
        if "path" in cols:
            col = t.column("path").combine_chunks()
            if pa.types.is_dictionary(col.type):
                dictionary = col.dictionary.to_pylist()
                ids = col.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                col = col.cast(pa.string())
                enc = col.dictionary_encode()
                dictionary = enc.dictionary.to_pylist()
                ids = enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            has_path = col.is_valid().to_numpy(zero_copy_only=False)
            if dictionary:
                norm, local = _normalize_paths([str(d) for d in dictionary])
                remap = np.empty(len(norm), dtype=np.uint32)
                for i, p in enumerate(norm):
                    j = index.get(p)
                    if j is None:
                        j = index[p] = len(table)
                        table.append(p)
                    remap[i] = j
                gids = remap[local[ids]] if len(ids) else np.zeros(0, dtype=np.uint32)
                pid[start:start + cnt][has_path] = gids[has_path]
        o = t.column("offset").to_numpy().astype(np.int64) if "offset" in cols else np.zeros(cnt, dtype=np.int64)
        s = t.column("size").to_numpy().astype(np.int64) if "size" in cols else np.zeros(cnt, dtype=np.int64)
        if ((o < 0) | (s < 0)).any():
            raise ScanError(root, f"{name}/refs.{r}.parq has a negative offset or size")
        off[start:start + cnt][has_path] = o[has_path]
        ln[start:start + cnt][has_path] = s[has_path]
        whole.extend((start + np.flatnonzero(has_path & (o == 0) & (s == 0))).tolist())
        if "raw" in cols:
            rawc = t.column("raw").combine_chunks()
            valid = np.flatnonzero(rawc.is_valid().to_numpy(zero_copy_only=False))
            for i in valid.tolist():
                v = rawc[i].as_py()
                data = _inline_bytes(v)
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
    try:
        if isinstance(d, list):
            return np.dtype([(f[0], parse_dtype(f[1], path, name)) if len(f) == 2 else (f[0], parse_dtype(f[1], path, name), tuple(f[2])) for f in d])
        return np.dtype(d)
    except (TypeError, ValueError, IndexError):
        raise ScanError(path, f"variable {name!r}: dtype {d!r} is not a valid zarr v2 dtype") from None


def _build(docs: dict[str, Any], path: str, manifest_for) -> VDataset:
    group_attrs = docs.get(".zattrs") or {}
    if not isinstance(group_attrs, dict):
        raise ScanError(path, ".zattrs is not a JSON object")
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
        if not isinstance(za, dict):
            raise ScanError(path, f"{name}/.zarray is not a JSON object")
        try:
            shape = tuple(int(s) for s in za["shape"])
            chunks = tuple(int(c) for c in za["chunks"]) if shape else ()
        except (KeyError, TypeError, ValueError):
            raise ScanError(path, f"{name}/.zarray needs integer 'shape' and 'chunks' lists") from None
        if len(chunks) != len(shape) or any(c <= 0 for c in chunks):
            raise ScanError(path, f"{name}/.zarray: chunks {list(chunks)} do not match shape {list(shape)}")
        if za.get("zarr_format", 2) != 2:
            raise UnsupportedFeature(path, f"{name}: zarr_format {za.get('zarr_format')} is not zarr v2")
        if za.get("order", "C") != "C":
            raise UnsupportedFeature(path, f"variable {name!r} uses Fortran ('F') chunk order; only C order is supported")
        if "dtype" not in za:
            raise ScanError(path, f"{name}/.zarray has no dtype")
        dtype = parse_dtype(za["dtype"], path, name)
        filters = za.get("filters") or []
        compressor = za.get("compressor")
        if not isinstance(filters, list) or not all(isinstance(c, dict) and "id" in c for c in filters):
            raise ScanError(path, f"{name}/.zarray: filters must be a list of codec configs with an 'id'")
        if compressor is not None and not (isinstance(compressor, dict) and "id" in compressor):
            raise ScanError(path, f"{name}/.zarray: compressor must be a codec config with an 'id'")
        codecs = tuple(filters) + ((compressor,) if compressor else ())
        attrs = dict(docs.get(f"{name}/.zattrs") or {})
        dims = attrs.pop("_ARRAY_DIMENSIONS", None)
        if dims is None:
            dims = [f"{name}_dim_{i}" for i in range(len(shape))]
        if not isinstance(dims, list) or len(dims) != len(shape):
            raise ScanError(path, f"variable {name!r}: _ARRAY_DIMENSIONS {dims!r} does not match shape {list(shape)}")
        fill_value = decode_fill_value(za.get("fill_value"), dtype, path, name)
        if "_FillValue" in attrs:
            attrs["_FillValue"] = decode_fill_attr(attrs["_FillValue"], dtype)
        elif fill_value is not None and dtype.kind not in "OV" and dtype.fields is None:
            # zarr v2: xarray reads the fill_value as the variable's _FillValue
            attrs["_FillValue"] = fill_value
        grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
        sep = za.get("dimension_separator", ".") or "."
        try:
            manifest = manifest_for(name, {"grid": grid, "sep": sep, "ndim": len(shape)})
        except WholeRemoteFile as e:  # announced by the scan (errors=...)
            skipped.append((name, e.problem))
            continue
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
