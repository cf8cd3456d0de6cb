"""Scan HDF5 and NetCDF4 files into :class:`~vz_jupyter.core.model.VDataset` objects.

Everything is read through h5py's low-level API, once per file:

* chunk locations with ``DatasetID.chunk_iter`` (one callback per written chunk,
  gathered into plain lists and turned into the manifest's columns with numpy);
  contiguous data as one chunk; compact data and small variables inlined;
* the filter pipeline mapped to numcodecs configurations in HDF5's (encode) order;
  chunks that skipped a filter (``filter_mask``) are re-encoded and inlined;
* dimensions from NetCDF4 / HDF5 dimension scales (netCDF-C's dimension ids
  first, then the scales' ``REFERENCE_LIST``, ``DIMENSION_LIST`` last), and
  ``phony_dim_N`` names otherwise, numbered exactly as netCDF-C numbers them;
* types: numbers of either byte order, bools/enums as their base integer type,
  fixed-length strings, variable-length strings (read and inlined as vlen-utf8),
  compound records split into one variable per field (``vz.field`` codec);
  references, ragged arrays, opaque and array types go to ``VDataset.skipped``.
"""
from __future__ import annotations

import contextvars
import logging
import math
import os
import pickle
import re
import select
import signal
from typing import Any

import numpy as np

from ..errors import ScanError, UnsupportedFeature
from ..codecs import bitshuffle_codec, lz4_codec
from ..model import INLINE, MISSING, Manifest, VArray, VDataset

try:  # h5py is a hard dependency, but keep import errors readable
    import h5py
    from h5py import h5, h5a, h5d, h5l, h5o, h5r, h5s, h5t
except ImportError as _e:  # pragma: no cover
    raise ImportError(f"vz_jupyter needs h5py to scan HDF5/NetCDF4 files: {_e}") from None

log = logging.getLogger(__name__)

#: ``DatasetID.chunk_iter`` (h5py >= 3.8 on HDF5 >= 1.12.3) visits the chunk index once
_HAS_CHUNK_ITER = hasattr(h5d.DatasetID, "chunk_iter")

#: attributes written by netCDF-C / the HDF5 dimension-scale API, not shown to users
HIDDEN_ATTRS = frozenset(
    {
        "_Netcdf4Dimid",
        "_Netcdf4Coordinates",
        "_nc3_strict",
        "_NCProperties",
        "_SuperblockVersion",
        "_IsNetcdf4",
        "DIMENSION_LIST",
        "REFERENCE_LIST",
        "CLASS",
        "NAME",
    }
)
_HIDDEN_B = frozenset(a.encode() for a in HIDDEN_ATTRS)
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
#: netCDF-C / h5netcdf store a variable named like a dimension it is not the
#: coordinate of under this prefix; netCDF-C shows the name without it
NC4_NON_COORD = "_nc4_non_coord_"

#: vlen-string variables with more values than this are skipped, not inlined
MAX_VLEN_VALUES = 1_000_000

#: HDF5 filter ids with their usual names (for messages)
FILTER_NAMES = {
    1: "deflate",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    307: "bzip2",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32013: "zfp",
    32015: "zstd",
    32017: "sz",
    32026: "blosc2",
}
_BLOSC_CNAMES = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


class _Skip(Exception):
    """A variable that cannot be represented (goes to VDataset.skipped). ``final``:
    its decoded values cannot be represented either (no use reading them)."""

    def __init__(self, msg: str, final: bool = False):
        super().__init__(msg)
        self.final = final


# --------------------------------------------------------------------------- bounded vlen reads
#: seconds HDF5 may spend on one variable of a file with variable-length data
#: (strings, ragged arrays) before the scan gives up on the file
VLEN_TIMEOUT = float(os.environ.get("VZ_HDF5_VLEN_TIMEOUT", "60"))

#: the current scan's guard, called before HDF5 first reads variable-length data
_VLEN_GUARD: contextvars.ContextVar = contextvars.ContextVar("vz_hdf5_vlen_guard", default=None)
#: in a guard's child process: called after each variable (a sign of progress)
_HEARTBEAT: contextvars.ContextVar = contextvars.ContextVar("vz_hdf5_heartbeat", default=None)


def _before_vlen_read() -> None:
    """Variable-length data lives in HDF5's global heap, and HDF5 (1.x and 2.0)
    loops forever parsing some damaged heaps (a free-space object of size 0), in
    C code that nothing in this process can interrupt. So before the first such
    read of a scan, the whole scan runs in a forked child process the parent can
    time out and kill (see :func:`_scan_in_child`)."""
    g = _VLEN_GUARD.get()
    if g is not None:
        g()


class _Done(BaseException):
    """Unwinds a scan whose result (or error) came from the guard's child.
    BaseException: no ``except Exception`` on the way may swallow it."""

    def __init__(self, result=None, error: str | None = None):
        super().__init__(error or "done")
        self.result, self.error = result, error


def _scan_in_child(path: str, group: str | None, inline_threshold: int, timeout: float):
    """Scan ``path`` in a forked child; return its VDataset or raise :class:`_Done`
    with an error. The child sends a byte after each variable; a child silent for
    ``timeout`` seconds is killed."""
    r, w = os.pipe()
    with h5py._objects.phil:  # no other thread is inside HDF5 while forking
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(r)
            _VLEN_GUARD.set(None)
            _HEARTBEAT.set(lambda: os.write(w, b"."))
            try:
                msg = ("ok", scan_hdf5(path, group=group, inline_threshold=inline_threshold, _guard=False))
            except ScanError as e:
                msg = ("error", e.problem)
            except BaseException as e:  # noqa: BLE001
                msg = ("error", condense_h5_error(e))
            data = b"R" + pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            ready, _, _ = select.select([r], [], [], timeout)
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            data = os.read(r, 1 << 20)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise _Done(error=f"HDF5 made no progress for {timeout:g} s reading variable-length data (strings or "
                          f"ragged arrays); a damaged global heap makes it loop forever")
    data = b"".join(chunks).lstrip(b".")
    if os.WIFSIGNALED(status) or not data.startswith(b"R"):
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        how = f"was killed by signal {sig}" if sig else f"failed (exit {os.WEXITSTATUS(status)})"
        raise _Done(error=f"HDF5 {how} reading variable-length data (damaged global heap?)")
    kind, value = pickle.loads(data[1:])
    if kind == "error":
        raise _Done(error=value)
    return value


class _BadFilter(Exception):
    def __init__(self, fid: int, name: str, why: str):
        self.fid, self.name, self.why = fid, name, why
        super().__init__(why)


# --------------------------------------------------------------------------- errors
_PAREN = re.compile(r"\(([^()]*)\)")


def condense_h5_error(e: BaseException) -> str:
    """h5py's long OSError texts as one short clause."""
    text = " ".join(str(e).split())
    m = re.search(r"truncated file: eof = (\d+).*?stored_eof = (\d+)", text)
    if m:
        return f"truncated HDF5 file: it has {m.group(1)} bytes but its superblock says {m.group(2)}"
    if "file signature not found" in text:
        return "not an HDF5 file (no HDF5 signature found)"
    inner = _PAREN.findall(text)
    msg = inner[-1] if inner else text
    head = text.split("(")[0].strip().rstrip(":")
    if inner and head and head.lower() != msg.lower():
        msg = f"{head[0].lower() + head[1:]} ({msg})"
    msg = msg.replace("Unable to synchronously ", "unable to ").replace("unable to synchronously ", "unable to ")
    if len(msg) > 240:
        msg = msg[:237] + "..."
    return msg or type(e).__name__


# --------------------------------------------------------------------------- filters
def filter_codecs(dcpl, dtype: np.dtype, chunk_nbytes: int) -> list[dict]:
    """numcodecs configs (encode order) for a dataset's HDF5 filter pipeline."""
    out: list[dict] = []
    for i in range(dcpl.get_nfilters()):
        fid, _flags, vals, name = dcpl.get_filter(i)
        out.append(_one_filter(int(fid), tuple(int(v) for v in vals), _fname(fid, name), dtype, chunk_nbytes))
    return out


def _fname(fid, name) -> str:
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return FILTER_NAMES.get(int(fid)) or (name or "").strip() or "unknown"


def _one_filter(fid: int, vals: tuple[int, ...], name: str, dtype: np.dtype, chunk_nbytes: int) -> dict:
    itemsize = dtype.itemsize
    if fid == 1:
        return {"id": "zlib", "level": vals[0] if vals else 4}
    if fid == 2:
        return {"id": "shuffle", "elementsize": vals[0] if vals else itemsize}
    if fid == 3:
        return {"id": "fletcher32"}
    if fid == 32000:
        return {"id": "vz.lzf", "size": chunk_nbytes}
    if fid == 32001:
        clevel = vals[4] if len(vals) > 4 else 5
        shuffle = vals[5] if len(vals) > 5 else 1
        cname = _BLOSC_CNAMES.get(vals[6] if len(vals) > 6 else 0)
        if cname is None:
            raise _BadFilter(fid, name, f"an unknown blosc compressor code {vals[6]}")
        return {"id": "blosc", "cname": cname, "clevel": clevel, "shuffle": shuffle, "blocksize": 0}
    if fid == 32004:
        return lz4_codec(vals[0] if vals else 0)
    if fid == 32008:
        es = vals[2] if len(vals) > 2 and vals[2] else itemsize
        comp = vals[4] if len(vals) > 4 else 0
        if comp not in (0, 2, 3):
            raise _BadFilter(fid, name, f"an unknown bitshuffle compression mode {comp}")
        return bitshuffle_codec(es, vals[3] if len(vals) > 3 else 0, comp, vals[5] if len(vals) > 5 else 0)
    if fid == 32015:
        return {"id": "zstd", "level": vals[0] if vals else 3}
    if fid == 307:
        return {"id": "bz2", "level": vals[0] if vals and 1 <= vals[0] <= 9 else 9}
    why = {
        4: "no Zarr codec decodes szip-compressed HDF5 chunks",
        5: "the n-bit filter packs values in a way no Zarr codec decodes",
        6: "the scale-offset filter packs values in a way no Zarr codec decodes",
    }.get(fid, "vz_jupyter has no codec for it")
    raise _BadFilter(fid, name, why)


def _codec_objects(codecs: list[dict]):
    import numcodecs

    from .. import codecs as _vz_codecs  # noqa: F401  (registers vz.* codecs)

    return [numcodecs.get_codec(dict(c)) for c in codecs]


def reencode_chunk(raw: bytes, filter_mask: int, codecs: list[dict]) -> bytes:
    """Bytes of a chunk that skipped some filters (``filter_mask`` bit i = filter
    i skipped), re-encoded with the full pipeline."""
    objs = _codec_objects(codecs)
    data: Any = raw
    for i in reversed(range(len(objs))):
        if not (filter_mask >> i) & 1:
            data = objs[i].decode(data)
    for c in objs:
        data = c.encode(data)
    return data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes()


# --------------------------------------------------------------------------- attributes
def _clean_attr(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "S":
            v = np.char.decode(v, "utf-8", "replace") if v.size else v.astype("U")
        elif v.dtype.kind == "O":
            v = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v.flat], dtype=object).reshape(v.shape)
        if v.size == 1:
            return _clean_attr(v.reshape(())[()])
        if v.dtype.kind in "UO":
            return [str(x) for x in v.flat] if v.ndim == 1 else v.tolist()
        return v
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.str_):
        return str(v)
    return v


def _read_attr(oid, name: bytes) -> Any:
    aid = h5a.open(oid, name)
    space = aid.get_space()
    if space.get_simple_extent_type() == h5s.NULL:  # empty attribute
        return None
    shape = space.shape
    dtype = aid.dtype
    kind = dtype.kind
    if dtype.hasobject:
        _before_vlen_read()
    if kind == "O" or dtype.subdtype is not None:
        if h5t.check_ref_dtype(dtype) is not None:
            raise _Skip("object references")
        htype = h5t.py_create(dtype)
        if dtype.subdtype is not None:
            sub, subshape = dtype.subdtype
            shape = tuple(shape) + tuple(subshape)
            dtype = sub
        arr = np.zeros(shape, dtype=dtype)
        aid.read(arr, mtype=htype)
    else:
        arr = np.zeros(shape, dtype=dtype)
        aid.read(arr)
    if arr.dtype.kind == "O":
        if h5t.check_string_dtype(arr.dtype) is None:
            raise _Skip("variable-length sequence")
        arr = np.array(
            [b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b) for b in arr.flat], dtype=object
        ).reshape(arr.shape)
    if arr.dtype.names is not None:
        raise _Skip("compound attribute")
    return _clean_attr(arr if arr.ndim else arr[()])


def read_attrs(oid, names: list[bytes] | None = None) -> dict[str, Any]:
    """User-visible attributes of an HDF5 object, in file order."""
    if names is None:
        names = _attr_names(oid)
    out: dict[str, Any] = {}
    for n in names:
        if n in _HIDDEN_B:
            continue
        try:
            out[n.decode("utf-8", "replace")] = _read_attr(oid, n)
        except _Skip:
            continue
        except (OSError, TypeError, ValueError):
            continue
    return out


def _attr_names(oid) -> list[bytes]:
    """Attribute names in creation order when the file tracks it (netCDF-C does),
    else in name order."""
    names: list[bytes] = []
    try:
        h5a.iterate(oid, names.append, index_type=h5.INDEX_CRT_ORDER)
    except Exception:
        names.clear()
        h5a.iterate(oid, names.append)
    return names


def _alloc_phony(dims: list[list], shapes: list[tuple], start: int) -> list[list[str]]:
    """Name the unnamed axes as netCDF-C does within one group: reuse a phony dim of
    the same length unless this variable already uses it, else make
    ``phony_dim_{start + k}``."""
    phony: list[tuple[str, int]] = []
    out = []
    for names, shape in zip(dims, shapes):
        names = list(names)
        used = {d for d in names if d is not None}
        for i, s in enumerate(shape):
            if names[i] is not None:
                continue
            match = next((n for n, ln in phony if ln == s and n not in used), None)
            if match is None:
                match = f"phony_dim_{start + len(phony)}"
                phony.append((match, s))
            names[i] = match
            used.add(match)
        out.append(names)
    return out


def _addr(oid) -> int:
    """The object's address in the file (identifies it across link names)."""
    return h5o.get_info(oid).addr


# --------------------------------------------------------------------------- the scanner
class _Var:
    """What the first pass learns about one dataset."""

    __slots__ = ("name", "dsid", "shape", "attr_names", "is_scale", "scale_name", "dimlist", "nc_coords", "nc_dimid", "dims")

    def __init__(self, name, dsid, shape, attr_names):
        self.name = name
        self.dsid = dsid
        self.shape = shape
        self.attr_names = attr_names
        self.is_scale = False
        self.scale_name = b""
        self.dimlist = b"DIMENSION_LIST" in attr_names
        self.nc_coords = b"_Netcdf4Coordinates" in attr_names
        self.nc_dimid = b"_Netcdf4Dimid" in attr_names
        self.dims: list[str | None] = [None] * len(shape)


class _Scanner:
    def __init__(self, path: str, f: "h5py.File", fs, inline_threshold: int, fobj=None):
        self.path = path
        self.fobj = fobj
        self.f = f
        self.fid = f.id
        self.fs = fs
        self.inline_threshold = int(inline_threshold or 0)
        self.skipped: list[tuple[str, str]] = []
        self._fd = None
        self.n_reencoded = 0
        from . import MAX_CHUNKS, MAX_GRID

        #: chunk references this file's manifests may still hold
        self.budget = int(MAX_CHUNKS)
        self.max_grid = int(MAX_GRID)

    # raw byte access for inlining -------------------------------------------------
    def read_bytes(self, offset: int, size: int) -> bytes:
        if size == 0:
            return b""
        if self.fobj is not None:  # the file object h5py reads through: its cache helps
            self.fobj.seek(offset)
            data = self.fobj.read(size)
            if len(data) != size:
                raise ScanError(self.path, f"chunk at byte {offset} runs past the end of the file (truncated file?)")
            return data
        if self.fs is not None:
            return self.fs.cat_file(self.path, start=offset, end=offset + size)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise ScanError(self.path, f"chunk at byte {offset} runs past the end of the file (truncated file?)")
        return data

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # groups ------------------------------------------------------------------------
    def all_groups(self, gid, prefix: str, seen: set | None = None, members=None) -> list[str]:
        """Paths of every group below ``gid``; a group reached again through
        another (hard or soft) link is listed but not entered twice, so link
        cycles cannot recurse forever."""
        if seen is None:
            seen = {_addr(gid)}
        out: list[str] = []
        for name, kind in members if members is not None else self.members(gid):
            if kind == "group":
                full = f"{prefix}/{name}" if prefix else name
                out.append(full)
                try:
                    sub = h5o.open(gid, name.encode())
                    a = _addr(sub)
                    if a in seen:
                        continue
                    seen.add(a)
                    out.extend(self.all_groups(sub, full, seen))
                except Exception:
                    pass
        return out

    def members(self, gid) -> list[tuple[str, str]]:
        """(name, kind) of a group's links in netCDF-C's order; kind is
        ``group``, ``dataset``, ``external``, ``dangling`` or ``other``."""
        items: list[tuple[bytes, int]] = []

        def cb(name, info):
            items.append((name, info.type))

        try:
            crt = gid.get_create_plist().get_link_creation_order() & 1
        except Exception:
            crt = 0
        try:
            gid.links.iterate(cb, info=True, idx_type=h5.INDEX_CRT_ORDER if crt else h5.INDEX_NAME)
        except Exception:
            items.clear()
            gid.links.iterate(cb, info=True)
        out = []
        for bname, ltype in items:
            name = bname.decode("utf-8", "replace")
            if ltype == h5l.TYPE_EXTERNAL:
                out.append((name, "external"))
                continue
            try:
                info = h5o.get_info(gid, bname)
            except Exception as e:
                if ltype == h5l.TYPE_SOFT:
                    out.append((name, "dangling"))
                    continue
                raise ScanError(self.path, f"object {name!r} cannot be read: {condense_h5_error(e)}") from None
            if info.type == h5o.TYPE_GROUP:
                out.append((name, "group"))
            elif info.type == h5o.TYPE_DATASET:
                out.append((name, "dataset"))
            else:
                out.append((name, "other"))
        return out

    # main --------------------------------------------------------------------------
    def scan(self, group: str | None) -> VDataset:
        gpath = (group or "").strip("/")
        root = self.fid
        root_gid = h5o.open(root, b"/")
        if gpath:
            try:
                gid = h5o.open(root, gpath.encode())
                ok = isinstance(gid, h5py.h5g.GroupID)
            except Exception:
                ok = False
            if not ok:
                groups = self.all_groups(root_gid, "")
                listing = ", ".join(groups[:30]) + (f" (+{len(groups) - 30} more)" if len(groups) > 30 else "")
                raise ScanError(
                    self.path,
                    f"no group {gpath!r} in this file; groups are: {listing}" if groups
                    else f"no group {gpath!r} in this file (it has no groups)",
                )
        else:
            gid = root_gid

        root_attr_names = _attr_names(root_gid)
        is_netcdf = bool({b"_NCProperties", b"_nc3_strict"} & set(root_attr_names))

        members = self.members(gid)
        subgroups = self.all_groups(gid, gpath, members=members)
        vars_: list[_Var] = []
        for name, kind in members:
            if kind == "group":
                continue
            elif kind == "external":
                self.skipped.append((name, "external link to another file (not followed)"))
            elif kind == "dangling":
                self.skipped.append((name, "link to an object that does not exist"))
            elif kind == "dataset":
                try:
                    dsid = h5o.open(gid, name.encode())
                    shape = dsid.shape
                    names = _attr_names(dsid)
                except Exception as e:
                    raise ScanError(self.path, f"variable {name!r}: {condense_h5_error(e)}") from None
                if shape is None:
                    self.skipped.append((name, "has a null dataspace (no data)"))
                    continue
                v = _Var(name, dsid, tuple(shape), names)
                if b"CLASS" in names:
                    try:
                        cls = _read_attr(dsid, b"CLASS")
                    except Exception:
                        cls = None
                    if cls == "DIMENSION_SCALE":
                        v.is_scale = True
                        if b"NAME" in names:
                            try:
                                nm = h5a.open(dsid, b"NAME")
                                buf = np.zeros((), dtype=nm.dtype)
                                nm.read(buf)
                                raw = buf[()]
                                v.scale_name = raw if isinstance(raw, bytes) else str(raw).encode()
                            except Exception:
                                pass
                        if v.nc_dimid:
                            is_netcdf = True
                vars_.append(v)
            # named datatypes and others are not variables

        self._assign_dims(gid, gpath, vars_, is_netcdf)
        _strip_non_coord_prefix(vars_)

        # data variables: scales that are only dimensions are not variables
        variables: dict[str, VArray] = {}
        coords: list[str] = []
        dim_sizes: dict[str, int] = {}
        for v in vars_:
            for d, s in zip(v.dims, v.shape):
                dim_sizes[d] = max(dim_sizes.get(d, 0), s)
        cf_coords: set[str] = set()
        beat = _HEARTBEAT.get()
        for v in vars_:
            if beat is not None:
                beat()
            if v.is_scale and v.scale_name.startswith(_NOT_A_VARIABLE):
                continue
            try:
                try:
                    va = self.make_var(v, dim_sizes)
                except _Skip as s:
                    if s.final:
                        self.skipped.append((v.name, str(s)))
                        continue
                    va = self.inline_decoded(v, str(s))
                except _BadFilter as b:
                    va = self.inline_decoded(v, f"{b.name} filter (id {b.fid}) cannot be referenced: {b.why}")
                if va is None:  # named on self.skipped with its reason
                    continue
            except (ScanError, UnsupportedFeature):
                raise
            except Exception as e:  # corrupt files raise all sorts (OSError, zlib.error, OverflowError, ...)
                raise ScanError(self.path, f"variable {v.name!r}: {condense_h5_error(e)}") from None
            if isinstance(va, list):  # compound: one variable per field
                for fv in va:
                    variables[fv.name] = fv
                continue
            variables[v.name] = va
            if v.is_scale and va.ndim >= 1 and va.dims[0] == v.name:
                coords.append(v.name)
            c = va.attrs.get("coordinates")
            if isinstance(c, str):
                cf_coords.update(c.split())
        for c in cf_coords:
            if c in variables and c not in coords:
                coords.append(c)

        attrs = read_attrs(gid, root_attr_names if not gpath else None)
        if self.n_reencoded:
            log.info("%s: %d chunk(s) had skipped filters (filter_mask); re-encoded and inlined", self.path, self.n_reencoded)
        from . import file_source

        fmt = "NetCDF4" if is_netcdf else "HDF5"
        return VDataset(
            variables=variables,
            attrs=attrs,
            coords=tuple(coords),
            sources=(file_source(self.path, self.fs, format=fmt),),
            skipped=tuple(self.skipped),
            groups=tuple(subgroups),
            group=gpath,
        )

    # dimensions ----------------------------------------------------------------------
    def _scales_in(self, gp: str) -> list[tuple[str, Any]]:
        """(name, DatasetID) of the dimension scales in group ``gp``."""
        out = []
        g = h5o.open(self.fid, (gp or "/").encode())
        for name, kind in self.members(g):
            if kind != "dataset":
                continue
            try:
                ds = h5o.open(g, name.encode())
                if h5a.exists(ds, b"CLASS") and _read_attr(ds, b"CLASS") == "DIMENSION_SCALE":
                    out.append((name, ds))
            except Exception:
                continue
        return out

    def _assign_dims(self, gid, gpath: str, vars_: list[_Var], is_netcdf: bool = False) -> None:
        """Name every axis. In order of preference (and cost):

        1. netCDF-C's ``_Netcdf4Coordinates`` (dimension ids) against the scales'
           ``_Netcdf4Dimid``: plain integer attributes;
        2. the scales' ``REFERENCE_LIST`` (fixed-size records of object reference +
           axis): one read per scale, no variable-length data;
        3. the variable's ``DIMENSION_LIST`` (variable-length references; a corrupt
           global heap can make HDF5 spin on it, so it is the last resort);
        4. phony dimensions.
        Scales are looked up in this group and its ancestors (NetCDF4 scoping).
        """
        # scales visible from this group: (name, dsid), inner groups first
        scales: list[tuple[str, Any]] = [(v.name, v.dsid) for v in vars_ if v.is_scale]
        if gpath:
            parts = gpath.split("/")
            seen = {n for n, _ in scales}
            for k in range(len(parts) - 1, -1, -1):
                for n, ds in self._scales_in("/".join(parts[:k])):
                    if n not in seen:
                        scales.append((n, ds))
                        seen.add(n)
        dimids: dict[int, str] | None = None

        def dimid_map() -> dict[int, str]:
            nonlocal dimids
            if dimids is None:
                dimids = {}
                for n, ds in scales:
                    try:
                        if h5a.exists(ds, b"_Netcdf4Dimid"):
                            i = int(np.asarray(_read_attr(ds, b"_Netcdf4Dimid")).reshape(-1)[0])
                            dimids.setdefault(i, n)
                    except Exception:
                        continue
            return dimids

        def from_nc_coords(v: _Var) -> bool:
            try:
                ids = np.asarray(_read_attr(v.dsid, b"_Netcdf4Coordinates")).reshape(-1)
            except Exception:
                return False
            m = dimid_map()
            if len(ids) != len(v.shape) or not all(int(i) in m for i in ids):
                return False
            v.dims = [m[int(i)] for i in ids]
            return True

        pending: list[_Var] = []
        for v in vars_:
            if v.is_scale:
                if len(v.shape) >= 1:
                    v.dims[0] = v.name
                if len(v.shape) > 1 and v.nc_coords:
                    from_nc_coords(v)
                continue
            if not v.shape or not (v.dimlist or v.nc_coords):
                continue
            if v.nc_coords and scales and from_nc_coords(v):
                continue
            if v.dimlist:
                pending.append(v)
        if pending and scales:
            # match references by object address: H5Rget_name searches the file
            # for a path on every call, which made wide files quadratic
            by_addr: dict[int, _Var] = {}
            for x in pending:
                try:
                    by_addr[_addr(x.dsid)] = x
                except Exception:
                    continue
            for sname, sds in scales:
                try:
                    if not h5a.exists(sds, b"REFERENCE_LIST"):
                        continue
                    aid = h5a.open(sds, b"REFERENCE_LIST")
                    rl = np.empty(aid.shape, dtype=aid.dtype)
                    aid.read(rl)
                except Exception:
                    continue
                if rl.dtype.names is None or len(rl.dtype.names) < 2:
                    continue
                refs = rl[rl.dtype.names[0]].reshape(-1)
                axes = rl[rl.dtype.names[1]].reshape(-1)
                for ref, axis in zip(refs, axes):
                    try:
                        v = by_addr.get(_addr(h5r.dereference(ref, self.fid)))
                    except Exception:
                        continue
                    if v is not None and 0 <= int(axis) < len(v.dims) and v.dims[int(axis)] is None:
                        v.dims[int(axis)] = sname
        for v in pending:
            if all(d is not None for d in v.dims):
                continue
            if is_netcdf:  # NetCDF4 scales always live in the ancestry: the file is damaged
                raise ScanError(
                    self.path, f"variable {v.name!r}: its dimension scales cannot be resolved (damaged file?)"
                )
            # scales outside this group's ancestry (plain HDF5): DIMENSION_LIST
            _before_vlen_read()
            try:
                aid = h5a.open(v.dsid, b"DIMENSION_LIST")
                arr = np.empty(aid.shape, dtype=aid.dtype)
                aid.read(arr)
            except Exception:
                continue
            for d, refs in enumerate(arr.reshape(-1)[: len(v.shape)]):
                if v.dims[d] is not None or refs is None or len(refs) == 0:
                    continue
                try:
                    p = h5r.get_name(refs[0], self.fid)
                except Exception:
                    continue
                v.dims[d] = p.rsplit(b"/", 1)[-1].decode("utf-8", "replace")
        # phony dimensions, named as netCDF-C names them (see _phony_offset)
        need = [v for v in vars_ if any(d is None for d in v.dims)]
        if need:
            start = self._phony_offset(gpath)
            for v, names in zip(need, _alloc_phony([v.dims for v in need], [v.shape for v in need], start)):
                v.dims = names

    # phony dimension numbering ------------------------------------------------------------
    def _group_phony_count(self, gp: str) -> int:
        """How many phony dims netCDF-C creates for group ``gp``'s own datasets."""
        g = h5o.open(self.fid, (gp or "/").encode())
        dims, shapes = [], []
        for name, kind in self.members(g):
            if kind != "dataset":
                continue
            try:
                ds = h5o.open(g, name.encode())
                shape = ds.shape
                if shape is None or not shape:
                    continue
                if h5a.exists(ds, b"DIMENSION_LIST"):
                    continue
                if h5a.exists(ds, b"CLASS") and _read_attr(ds, b"CLASS") == "DIMENSION_SCALE":
                    continue
            except Exception:
                continue
            dims.append([None] * len(shape))
            shapes.append(tuple(shape))
        if not shapes:
            return 0
        return len({n for names in _alloc_phony(dims, shapes, 0) for n in names})

    def _subtree_phony_count(self, gp: str, seen: set | None = None) -> int:
        g = h5o.open(self.fid, (gp or "/").encode())
        seen = set() if seen is None else seen
        if _addr(g) in seen:  # link cycle
            return 0
        seen.add(_addr(g))
        total = 0
        for name, kind in self.members(g):
            if kind == "group":
                total += self._subtree_phony_count(f"{gp}/{name}" if gp else name, seen)
        return total + self._group_phony_count(gp)

    def _phony_offset(self, gpath: str) -> int:
        """netCDF-C numbers phony dims across the whole file, visiting child groups
        (in link order) before a group's own datasets. The first number of this
        group is the count made in every group visited before it: its own
        sub-groups, and the earlier siblings' sub-trees of it and of each ancestor."""
        off = 0
        g = h5o.open(self.fid, (gpath or "/").encode())
        for name, kind in self.members(g):
            if kind == "group":
                off += self._subtree_phony_count(f"{gpath}/{name}" if gpath else name)
        parts = gpath.split("/") if gpath else []
        for k in range(len(parts), 0, -1):
            parent = "/".join(parts[: k - 1])
            pg = h5o.open(self.fid, (parent or "/").encode())
            for name, kind in self.members(pg):
                if name == parts[k - 1]:
                    break
                if kind == "group":
                    off += self._subtree_phony_count(f"{parent}/{name}" if parent else name)
        return off

    # one variable ----------------------------------------------------------------------
    def make_var(self, v: _Var, dim_sizes: dict[str, int]) -> VArray | list[VArray]:
        dsid = v.dsid
        tid = dsid.get_type()
        dtype, how = self._dtype(tid)
        dcpl = dsid.get_create_plist()
        attrs = read_attrs(dsid, v.attr_names)
        dims = tuple(v.dims)
        shape = v.shape
        if how == "vlen-str":
            return self._vlen_str_var(v, dims, attrs)
        layout = dcpl.get_layout()
        fill = self._fill_value(dcpl, dtype)
        if layout == h5d.VIRTUAL:
            raise _Skip("virtual dataset (VDS) mapping other datasets is not supported", final=True)
        if layout == h5d.CHUNKED:
            chunks = tuple(int(c) for c in dcpl.get_chunk())
            # netCDF4 unlimited dims: variables shorter than the dim read as fill
            if dims and dim_sizes:
                new = tuple(max(s, dim_sizes.get(d, s)) for d, s in zip(dims, shape))
                if new != shape:
                    maxshape = dsid.get_space().get_simple_extent_dims(True)
                    if all(n == s or m == h5s.UNLIMITED or m >= n for n, s, m in zip(new, shape, maxshape)):
                        shape = new
            nbytes = math.prod(chunks) * dtype.itemsize
            codecs = filter_codecs(dcpl, dtype, nbytes)
            manifest = self._chunked_manifest(v, dsid, shape, chunks, codecs)
        else:
            chunks = tuple(max(int(s), 1) for s in shape)
            if layout == h5d.COMPACT:
                codecs = []
                manifest = self._compact_manifest(dsid, tid, dtype, shape)
            else:
                if dcpl.get_external_count() > 0:
                    raise _Skip("data stored in external raw files (H5Pset_external) is not supported", final=True)
                codecs = []
                manifest = self._contiguous_manifest(dsid, shape)
        if how == "compound":
            # xarray cannot read structured zarr arrays: one variable per field,
            # all sharing the chunks, each extracting its field after decoding
            full = np.zeros((1,), dtype=dtype)
            try:
                if dcpl.fill_value_defined() != 0:
                    dcpl.get_fill_value(full)
            except Exception:
                pass
            descr = [[n, dtype.fields[n][0].str] for n in dtype.names]
            return [
                VArray(
                    name=f"{v.name}.{n}",
                    dims=dims,
                    shape=shape,
                    dtype=dtype.fields[n][0],
                    chunks=chunks,
                    codecs=({"id": "vz.field", "dtype": descr, "field": n}, *codecs),
                    fill_value=full[0][n],
                    attrs={**attrs, "compound_variable": v.name},
                    manifest=manifest,
                )
                for n in dtype.names
            ]
        return VArray(
            name=v.name,
            dims=dims,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            codecs=tuple(codecs),
            fill_value=fill,
            attrs=attrs,
            manifest=manifest,
        )

    # variables that cannot be referenced: decoded values, inlined -----------------------
    def inline_decoded(self, v: _Var, reason: str) -> VArray | list[VArray] | None:
        """A variable that cannot be referenced (``reason``) as its values decoded
        by HDF5 and inlined, when Zarr can represent them and their decoded size
        is within the inline threshold; otherwise it goes to ``self.skipped``
        with the reason (and None is returned)."""
        try:
            dtype = v.dsid.dtype
        except Exception:  # a type h5py cannot map (bitfield, time, ...)
            self.skipped.append((v.name, reason))
            return None
        why_not = _unrepresentable(dtype)
        if why_not:
            self.skipped.append((v.name, reason if why_not in reason else f"{reason}; {why_not}"))
            return None
        n = math.prod(v.shape)  # Python ints: a hostile shape must not overflow
        nbytes = n * dtype.itemsize
        if nbytes > self.inline_threshold or (dtype.hasobject and n > MAX_VLEN_VALUES):
            self.skipped.append((
                v.name,
                f"{reason}; {_nbytes_text(nbytes)} decoded, more than the inline threshold "
                f"({_nbytes_text(self.inline_threshold)}) for inlining its values",
            ))
            return None
        try:
            arr = read_values(self, v)
        except ScanError:
            raise
        except Exception as e:
            self.skipped.append((v.name, f"{reason}; its values cannot be decoded here either ({condense_h5_error(e)})"))
            return None
        attrs = read_attrs(v.dsid, v.attr_names)
        out = []
        compound = dtype.names is not None
        for name, leaf in _leaves(v.name, arr):
            extra = tuple(f"{name}_dim{k}" for k in range(leaf.ndim - len(v.dims)))
            out.append(_inline_array(name, tuple(v.dims) + extra, leaf,
                                     {**attrs, "compound_variable": v.name} if compound else attrs))
        log.info("%s: variable %r inlined as decoded values (%s)", self.path, v.name, reason)
        return out if compound else out[0]

    def _dtype(self, tid) -> tuple[np.dtype, str]:
        cls = tid.get_class()
        if cls == h5t.STRING:
            if tid.is_variable_str():
                return np.dtype(object), "vlen-str"
            return np.dtype(f"S{tid.get_size()}"), "raw"
        if cls in (h5t.INTEGER, h5t.FLOAT):
            return tid.dtype, "raw"
        if cls == h5t.ENUM:
            base = tid.get_super()
            return base.dtype, "raw"
        if cls == h5t.REFERENCE:
            raise _Skip("holds HDF5 object/region references, which Zarr cannot represent", final=True)
        if cls == h5t.VLEN:
            try:
                base = tid.get_super().dtype
            except Exception:
                base = "values"
            raise _Skip(f"variable-length sequences of {base} (ragged arrays) have no Zarr data type", final=True)
        if cls == h5t.COMPOUND:
            dt = tid.dtype
            if dt.kind == "c":
                return dt, "raw"
            return self._compound_dtype(tid), "compound"
        if cls == getattr(h5t, "COMPLEX", -999):
            return tid.dtype, "raw"
        if cls == h5t.ARRAY:
            raise _Skip("HDF5 array-typed elements are not supported")
        if cls == h5t.OPAQUE:
            raise _Skip("opaque (untyped) data is not supported", final=True)
        if cls == h5t.BITFIELD:
            raise _Skip("bitfield data is not supported", final=True)
        if cls == h5t.TIME:
            raise _Skip("HDF5 time type is not supported", final=True)
        raise _Skip(f"HDF5 type class {cls} is not supported", final=True)

    def _compound_dtype(self, tid) -> np.dtype:
        n = tid.get_nmembers()
        fields = []
        pos = 0
        for i in range(n):
            mname = tid.get_member_name(i).decode("utf-8", "replace")
            mt = tid.get_member_type(i)
            mcls = mt.get_class()
            if mcls in (h5t.INTEGER, h5t.FLOAT):
                mdt = mt.dtype
            elif mcls == h5t.ENUM:
                mdt = mt.get_super().dtype
            elif mcls == h5t.STRING and not mt.is_variable_str():
                mdt = np.dtype(f"S{mt.get_size()}")
            else:
                raise _Skip(f"compound member {mname!r} has a type Zarr cannot represent")
            if tid.get_member_offset(i) != pos:
                raise _Skip("compound type with padding between members is not supported")
            pos += mdt.itemsize
            fields.append((mname, mdt))
        if pos != tid.get_size():
            raise _Skip("compound type with trailing padding is not supported")
        return np.dtype(fields)

    def _fill_value(self, dcpl, dtype: np.dtype):
        if dtype.kind == "O":
            return None
        arr = np.zeros((1,), dtype=dtype)
        try:
            if dcpl.fill_value_defined() != 0:  # 0 = H5D_FILL_VALUE_UNDEFINED
                dcpl.get_fill_value(arr)
        except Exception:
            pass
        val = arr[0]
        if dtype.kind == "V":
            return val.tobytes()
        return val

    def _chunked_manifest(self, v: _Var, dsid, shape, chunks, codecs) -> Manifest:
        grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
        n = math.prod(grid)  # Python ints: a hostile shape must not overflow
        if n == 0:
            return Manifest.empty(grid)
        if n > self.max_grid:
            raise _Skip(f"its chunk grid {grid} has {n:,} chunks, more than the {self.max_grid:,} a variable may "
                        f"have (vz_jupyter.core.scan.MAX_GRID)", final=True)
        coords: list = []
        offs: list = []
        sizes: list = []
        masks: list = []

        def over_budget(written: int | None) -> _Skip:
            what = f"{written:,} written" if written is not None else f"more than {self.budget:,} written"
            return _Skip(
                f"its chunk grid has {n:,} chunks ({what}), more than the {self.budget:,} chunk references "
                f"left in this file's budget (vz_jupyter.core.scan.MAX_CHUNKS)", final=True)

        if _HAS_CHUNK_ITER:

            def cb(info):
                if len(coords) >= self.budget:
                    raise over_budget(None)
                coords.append(info.chunk_offset)
                offs.append(info.byte_offset)
                sizes.append(info.size)
                masks.append(info.filter_mask)

            dsid.chunk_iter(cb)
        else:  # h5py < 3.8 / HDF5 < 1.12.3: one index walk per chunk (slow)
            if dsid.get_num_chunks() > self.budget:
                raise over_budget(None)
            for i in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(i)
                coords.append(info.chunk_offset)
                offs.append(info.byte_offset)
                sizes.append(info.size)
                masks.append(info.filter_mask)
        if not coords:  # nothing written: all missing, at no cost however large the grid
            return Manifest.empty(grid)
        if n > self.budget:
            raise over_budget(len(coords))
        self.budget -= n
        pid = np.full(n, MISSING, dtype=np.uint32)
        off = np.zeros(n, dtype=np.uint64)
        ln = np.zeros(n, dtype=np.uint64)
        inline: dict[int, bytes] = {}
        if coords:
            idx = np.asarray(coords, dtype=np.int64).reshape(len(coords), len(chunks)) // np.asarray(chunks, dtype=np.int64)
            keep = np.all(idx < np.asarray(grid, dtype=np.int64), axis=1)
            offs_a = np.asarray(offs, dtype=np.uint64)
            sizes_a = np.asarray(sizes, dtype=np.uint64)
            masks_a = np.asarray(masks, dtype=np.uint32)
            if not keep.all():
                idx, offs_a, sizes_a, masks_a = idx[keep], offs_a[keep], sizes_a[keep], masks_a[keep]
            flat = np.ravel_multi_index(tuple(idx.T), grid)
            pid[flat] = 0
            off[flat] = offs_a
            ln[flat] = sizes_a
            small = int(sizes_a.sum()) <= self.inline_threshold
            bad = np.flatnonzero(masks_a)
            if small or bad.size:
                todo = range(len(flat)) if small else bad.tolist()
                for j in todo:
                    raw = self.read_bytes(int(offs_a[j]), int(sizes_a[j]))
                    m = int(masks_a[j])
                    if m:
                        raw = reencode_chunk(raw, m, codecs)
                        self.n_reencoded += 1
                    k = int(flat[j])
                    inline[k] = raw
                    pid[k] = INLINE
                    off[k] = 0
                    ln[k] = len(raw)
        return Manifest((self.path,), pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inline)

    def _contiguous_manifest(self, dsid, shape) -> Manifest:
        grid = tuple(1 if s else 0 for s in shape)
        if 0 in grid:
            return Manifest.empty(grid)
        offset = dsid.get_offset()
        size = dsid.get_storage_size()
        if offset is None or size == 0:
            return Manifest.empty(grid)
        if size <= self.inline_threshold:
            m = Manifest.single(self.path, offset, size, len(shape))
            return m.with_inline({0: self.read_bytes(offset, size)})
        return Manifest.single(self.path, offset, size, len(shape))

    def _compact_manifest(self, dsid, tid, dtype, shape) -> Manifest:
        grid = tuple(1 if s else 0 for s in shape)
        if 0 in grid:
            return Manifest.empty(grid)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > 65535:  # compact data lives in the object header: at most 64 KiB
            raise ScanError(self.path, f"corrupt dataset: compact layout claims {nbytes:,} bytes (at most 65,535)")
        arr = np.empty(shape, dtype=dtype)
        dsid.read(h5s.ALL, h5s.ALL, arr, mtype=tid)
        return Manifest.empty(grid).with_inline({0: arr.tobytes()})

    def _vlen_str_var(self, v: _Var, dims, attrs) -> VArray:
        shape = v.shape
        size = math.prod(shape)  # Python ints: a hostile shape must not overflow
        if size > MAX_VLEN_VALUES:
            raise _Skip(
                f"variable-length strings: {size:,} values are too many to inline (limit {MAX_VLEN_VALUES:,})",
                final=True,
            )
        from numcodecs import VLenUTF8

        chunks = tuple(max(int(s), 1) for s in shape)
        grid = tuple(1 if s else 0 for s in shape)
        if size == 0:
            manifest = Manifest.empty(grid)
        else:
            _before_vlen_read()
            ds = h5py.Dataset(v.dsid)
            vals = ds.asstr(errors="replace")[()]
            vals = np.asarray(vals, dtype=object).reshape(shape)
            data = bytes(VLenUTF8().encode(vals))
            manifest = Manifest.empty(grid).with_inline({0: data})
        return VArray(
            name=v.name,
            dims=dims,
            shape=shape,
            dtype=np.dtype(object),
            chunks=chunks,
            codecs=({"id": "vlen-utf8"},),
            fill_value=None,
            attrs=attrs,
            manifest=manifest,
        )


def _strip_non_coord_prefix(vars_: list[_Var]) -> None:
    """``_nc4_non_coord_x`` is shown as ``x``, as netCDF-C does, unless another
    variable of the group is called ``x`` already."""
    taken = {v.name for v in vars_ if not (v.is_scale and v.scale_name.startswith(_NOT_A_VARIABLE))}
    for v in vars_:
        if v.name.startswith(NC4_NON_COORD) and len(v.name) > len(NC4_NON_COORD):
            new = v.name[len(NC4_NON_COORD):]
            if new not in taken:
                taken.add(new)
                v.name = new


def _nbytes_text(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def _unrepresentable(dtype: np.dtype) -> str:
    """Why decoded values of this (h5py) dtype have no Zarr v2 representation
    that plain xarray reads ("" when they have one)."""
    if dtype.names is not None:
        for n in dtype.names:
            why = _unrepresentable(dtype.fields[n][0])
            if why:
                return f"compound member {n!r}: {why}"
        return ""
    if dtype.subdtype is not None:
        return _unrepresentable(dtype.subdtype[0])
    if dtype.kind in "biufcS":
        return ""
    if dtype.kind == "O":
        if h5py.check_string_dtype(dtype) is not None:
            return ""
        if h5py.check_ref_dtype(dtype) is not None:
            return "object/region references have no Zarr data type"
        base = h5py.check_vlen_dtype(dtype)
        if base is not None:
            return f"variable-length sequences of {base} (ragged arrays) have no Zarr data type"
        return "Python objects have no Zarr data type"
    if dtype.kind == "V":
        return "opaque bytes have no Zarr data type xarray reads"
    return f"numpy type {dtype} has no Zarr data type"


def _leaves(name: str, arr: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, values) of every non-compound leaf of ``arr``: compound members
    become ``name.member`` (nested: ``name.member.sub``)."""
    if arr.dtype.names is None:
        return [(name, arr)]
    out = []
    for n in arr.dtype.names:
        out.extend(_leaves(f"{name}.{n}", np.asarray(arr[n])))
    return out


def _inline_array(name: str, dims: tuple, values: np.ndarray, attrs) -> VArray:
    """One chunk holding ``values`` (decoded), inlined. No chunk is missing, so
    there is no fill value to record (and none for a reader to mask with)."""
    shape = values.shape
    chunks = tuple(max(int(s), 1) for s in shape)
    grid = tuple(1 if s else 0 for s in shape)
    if values.dtype.kind == "O":
        from numcodecs import VLenUTF8

        strs = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else ("" if x is None else str(x))
                         for x in values.ravel()], dtype=object).reshape(shape)
        data = bytes(VLenUTF8().encode(strs)) if values.size else b""
        codecs: tuple = ({"id": "vlen-utf8"},)
        dtype = np.dtype(object)
    else:
        values = np.ascontiguousarray(values)
        data = values.tobytes()
        codecs = ()
        dtype = values.dtype
    manifest = Manifest.empty(grid)
    if values.size:
        manifest = manifest.with_inline({0: data})
    return VArray(name=name, dims=dims, shape=shape, dtype=dtype, chunks=chunks, codecs=codecs,
                  fill_value=None, attrs=attrs, manifest=manifest)


def read_values(sc: "_Scanner", v: _Var) -> np.ndarray:
    """All values of a (small) dataset, decoded by HDF5."""
    if v.dsid.dtype.hasobject:
        _before_vlen_read()
    return np.asarray(h5py.Dataset(v.dsid)[()])


#: block size for remote reads: HDF5 metadata is small and scattered, so small
#: cached blocks beat fsspec's default multi-megabyte read-ahead by far
REMOTE_BLOCK_SIZE = 1 << 16


def _open_remote(fs, path: str):
    try:
        return fs.open(path, "rb", block_size=REMOTE_BLOCK_SIZE, cache_type="blockcache")
    except TypeError:  # filesystems without buffered-file options
        return fs.open(path, "rb")


def _open_local(path: str) -> "h5py.File":
    """Open read-only without file locking (read-only shares need that); when the
    same process already holds the file open with another locking setting, HDF5
    insists on the same setting, so try the others."""
    err: OSError | None = None
    for locking in (False, None, True):
        try:
            if locking is None:
                return h5py.File(path, "r")
            return h5py.File(path, "r", locking=locking)
        except OSError as e:
            if "locking" not in str(e):
                raise
            err = e
    raise err  # type: ignore[misc]


def scan_hdf5(path: str, *, group: str | None = None, inline_threshold: int = 500, fs=None,
              _guard: bool = True) -> VDataset:
    """Scan one HDF5 / NetCDF4 file (local path, or URL with an fsspec ``fs``).

    Local files whose scan reads variable-length data are scanned in a forked
    child process with a watchdog (see :func:`_before_vlen_read`); remote files
    and platforms without ``fork`` read it directly, unguarded."""
    path = str(path)
    fobj = None
    if fs is None:
        from . import check_regular_file

        check_regular_file(path)  # HDF5 would block forever opening a FIFO
    try:
        if fs is not None:
            fobj = _open_remote(fs, path)
            f = h5py.File(fobj, "r")
        else:
            f = _open_local(path)
    except FileNotFoundError:
        if fobj is not None:
            fobj.close()
        raise ScanError(path, "no such file") from None
    except IsADirectoryError:
        raise ScanError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ScanError(path, "permission denied") from None
    except (OSError, ValueError) as e:
        if fobj is not None:
            fobj.close()
        if fs is None and os.path.isdir(path):
            raise ScanError(path, "is a directory, not a file") from None
        if fs is None and not os.path.exists(path):
            raise ScanError(path, "no such file") from None
        raise ScanError(path, f"cannot open as HDF5: {condense_h5_error(e)}") from None
    sc = _Scanner(path, f, fs, inline_threshold, fobj=fobj)
    guard = None
    if _guard and fs is None and hasattr(os, "fork") and VLEN_TIMEOUT > 0:
        def guard():
            _VLEN_GUARD.set(None)  # once per scan: the child does the rest
            raise _Done(_scan_in_child(path, group, inline_threshold, VLEN_TIMEOUT))
    token = _VLEN_GUARD.set(guard)
    try:
        return sc.scan(group)
    except _Done as d:
        if d.error is not None:
            raise ScanError(path, d.error) from None
        return d.result
    except (ScanError, UnsupportedFeature):
        raise
    except Exception as e:  # corrupt files: any h5py/numpy error becomes a one-line ScanError
        raise ScanError(path, condense_h5_error(e)) from None
    finally:
        _VLEN_GUARD.reset(token)
        sc.close()
        try:
            f.close()
        finally:
            if fobj is not None:
                fobj.close()
