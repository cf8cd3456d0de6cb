"""One file at a time: expand paths and globs, sniff a file's format by its magic
bytes and hand it to its scanner (HDF5/NetCDF4, NetCDF3, existing kerchunk
references); the ``errors=`` policy for a file's variables. The package's
:func:`~vz_jupyter.core.scan.scan` and the parallel runners build on these."""
from __future__ import annotations

import glob as _glob
import os
import warnings
from collections.abc import Iterable

import fsspec

from ..errors import ScanError, SkippedVariableWarning, UnsupportedFeature, VZError, reading
from ..model import VDataset
from ..urls import is_url
from .fetch import ImageFile, ImageFS
from .files import check_regular_file, normalize_path, remote_fs
from .hdf5 import scan_hdf5
from .netcdf3 import scan_netcdf3
from .refs import scan_refs

#: what ``errors=`` accepts (see :func:`scan`)
ERRORS = (None, "raise", "warn", "skip")

#: chunks (and whole small variables) at most this many bytes are inlined
DEFAULT_INLINE_THRESHOLD = 500

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HDF4_MAGIC = b"\x0e\x03\x13\x01"
NC3_MAGICS = {b"CDF\x01": "NetCDF3 classic", b"CDF\x02": "NetCDF3 64-bit offset", b"CDF\x05": "NetCDF3 CDF5"}


def _exists_literally(p: str, storage_options: dict | None = None) -> bool:
    """Whether ``p``, taken as a name and not as a pattern, exists (``data[1].nc``
    is a file name before it is a glob)."""
    try:
        if is_url(p):
            return bool(remote_fs(p, storage_options).exists(p))
        q = p[len("file://"):] if p.startswith("file://") else p
        return os.path.lexists(os.path.expanduser(q))
    except Exception:  # a pattern that is no valid name for the filesystem
        return False


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike],
                 storage_options: dict | None = None) -> list[str]:
    """Expand globs (local or fsspec URLs, listed with ``storage_options``)
    keeping the user's order for explicit lists and sorted order within one
    glob. A path that exists is taken literally even when it contains glob
    characters. A pattern matching nothing is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if any(ch in p for ch in "*?[") and not _exists_literally(p, storage_options):
            try:
                if is_url(p):
                    proto = p.split("://", 1)[0]
                    rfs = remote_fs(p, storage_options)
                    if hasattr(rfs, "invalidate_cache"):
                        rfs.invalidate_cache()  # list what is there now, not what an earlier glob saw
                    found = rfs.glob(p)
                    matches = sorted(f"{proto}://{m}" if "://" not in m else m for m in found)
                else:
                    matches = sorted(_glob.glob(os.path.expanduser(p)))
            except FileNotFoundError:
                matches = []
            except VZError as e:  # a listing that fails or times out: one line
                raise ScanError(p, str(e).split(": ", 1)[-1]) from None
            except (ValueError, OSError) as e:  # e.g. a bad character range for fsspec's regex
                raise ScanError(p, f"not a usable file pattern ({e})") from None
            if not matches:
                raise ScanError(p, "no files match this pattern")
            out.extend(normalize_path(m) for m in matches)
        else:
            out.append(normalize_path(p))
    return out


def sniff(path: str, head: bytes) -> str:
    """Name the format of a file from its first bytes (``hdf5``, ``netcdf3``,
    ``refs-json``) or raise a one-line :class:`ScanError`."""
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head[:4] in NC3_MAGICS:
        return "netcdf3"
    if head.startswith(HDF4_MAGIC):
        raise UnsupportedFeature(path, "this is an HDF4 file; only HDF5, NetCDF4 and NetCDF3 are supported")
    if head.lstrip()[:1] == b"{":
        return "refs-json"
    if head.startswith(b"CDF"):
        if len(head) < 4:
            raise ScanError(path, f"truncated NetCDF3 file: only {len(head)} bytes")
        raise UnsupportedFeature(path, f"unknown NetCDF3 version byte {head[3]} (expected 1, 2 or 5)")
    if head.startswith(b"PAR1"):
        raise ScanError(path, "a single parquet file is not a reference set; pass the parquet directory")
    if not head:
        raise ScanError(path, "the file is empty")
    raise ScanError(path, "not an HDF5, NetCDF or kerchunk reference file (unrecognised leading bytes)")


def _open_small(fs, path: str):
    """Open for a few small reads: a remote file must not fetch fsspec's default
    multi-megabyte read-ahead block just to sniff 8 bytes."""
    try:
        return fs.open(path, "rb", block_size=1 << 12)
    except TypeError:
        return fs.open(path, "rb")


def _read_head(path: str, fs, n: int = 8) -> bytes:
    with _open_small(fs, path) as f:
        head = f.read(n)
        if head.startswith(HDF5_MAGIC) or head[:4] in NC3_MAGICS:
            return head
        # HDF5 allows a user block: the superblock may sit at 512, 1024, 2048, ...
        off = 512
        size = fs.size(path) if hasattr(fs, "size") else None
        while size is not None and off + 8 <= size:
            f.seek(off)
            if f.read(8) == HDF5_MAGIC:
                return HDF5_MAGIC
            off *= 2
    return head


def _check_errors(errors) -> None:
    if errors not in ERRORS:
        raise ValueError(f"errors must be None, 'raise', 'warn' or 'skip', not {errors!r}")


def apply_errors(ds: VDataset, errors: str | None, stacklevel: int = 3) -> VDataset:
    """Act on the variables a scan could not reference (``ds.skipped``): raise
    (``"raise"``), warn with :class:`SkippedVariableWarning` (None, ``"warn"``) or
    nothing (``"skip"``); they stay recorded on the result."""
    if not ds.skipped or errors == "skip":
        return ds
    where = ds.sources[0].path if ds.sources else "?"
    if errors == "raise":
        name, reason = ds.skipped[0]
        more = f" (and {len(ds.skipped) - 1} more variables)" if len(ds.skipped) > 1 else ""
        raise UnsupportedFeature(where, f"variable {name!r} cannot be referenced: {reason}{more}")
    for name, reason in ds.skipped:
        warnings.warn(f"{where}: variable {name!r} not referenced: {reason}", SkippedVariableWarning,
                      stacklevel=stacklevel)
    return ds


def scan_file(
    path: str | os.PathLike,
    *,
    group: str | None = None,
    inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
    storage_options: dict | None = None,
    errors: str | None = None,
    allowed_roots=None,
) -> VDataset:
    """Scan one file (or reference set) into a :class:`VDataset`; ``errors`` as
    in :func:`scan` (for this file's variables). References are confined (see
    :mod:`vz_jupyter.core.access`): the paths they name must lie under their own
    folder, their recorded roots or ``allowed_roots``."""
    _check_errors(errors)
    ds = _scan_file(path, group=group, inline_threshold=inline_threshold, storage_options=storage_options,
                    allowed_roots=allowed_roots)
    return apply_errors(ds, errors)


def fetchable(path: str) -> bool:
    """A URL scanned by fetching it (a parquet reference folder is not one file)."""
    return is_url(path) and not path.rstrip("/").endswith((".parquet", ".parq"))


def _scan_file(path, *, group, inline_threshold, storage_options, allowed_roots=None) -> VDataset:
    path = normalize_path(path)
    if is_url(path):
        fs = remote_fs(path, storage_options)
    else:
        fs = fsspec.filesystem("file")
        if not os.path.exists(path):
            raise ScanError(path, "no such file")
        if os.path.isdir(path):
            if os.path.exists(os.path.join(path, ".zmetadata")):
                return scan_refs(path, allowed_roots=allowed_roots)
            raise ScanError(path, "is a directory, not a file (pass a glob such as DIR/*.nc)")
        check_regular_file(path)
    with reading(path):
        head = _read_head(path, fs)
    kind = sniff(path, head)
    if kind == "hdf5":
        return scan_hdf5(path, group=group, inline_threshold=inline_threshold, fs=fs if is_url(path) else None)
    if kind == "netcdf3":
        if group:
            raise ScanError(path, f"NetCDF3 files have no groups (asked for group {group!r})")
        return scan_netcdf3(path, inline_threshold=inline_threshold, fs=fs if is_url(path) else None)
    return scan_refs(path, storage_options=storage_options, allowed_roots=allowed_roots)


def parse_image(url: str, image, *, group=None, inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
                storage_options: dict | None = None, allowed_roots=None) -> VDataset:
    """Scan a remote file from its fetched bytes (see
    :mod:`vz_jupyter.core.scan.fetch`); a read the image cannot serve raises
    :class:`~vz_jupyter.core.scan.fetch.ImageMiss` or is recorded on it."""
    ifs = ImageFS(image)
    head = image.read(0, 8)
    if not (head.startswith(HDF5_MAGIC) or head[:4] in NC3_MAGICS):
        off = 512  # an HDF5 user block: the superblock at 512, 1024, 2048, ...
        while image.size is not None and off + 8 <= image.size:
            if image.read(off, off + 8) == HDF5_MAGIC:
                head = HDF5_MAGIC
                break
            off *= 2
    kind = sniff(url, head)
    if kind == "hdf5":
        return scan_hdf5(url, group=group, inline_threshold=inline_threshold, fs=ifs, fobj=ImageFile(image))
    if kind == "netcdf3":
        if group:
            raise ScanError(url, f"NetCDF3 files have no groups (asked for group {group!r})")
        return scan_netcdf3(url, inline_threshold=inline_threshold, fs=ifs)
    return scan_refs(url, storage_options=storage_options, allowed_roots=allowed_roots)
