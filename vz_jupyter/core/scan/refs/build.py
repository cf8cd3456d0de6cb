"""A :class:`VDataset` from the metadata documents of a reference set: the
group's attributes, one :class:`VArray` per root-level ``.zarray`` (dims from
``_ARRAY_DIMENSIONS``, fills decoded), each manifest from the caller's reader
(JSON entries or parquet record files), coordinates and sources."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...decode import stage_limit
from ...errors import ScanError, UnsupportedFeature
from ...model import Manifest, Source, VArray, VDataset
from .jsondoc import _short
from .metadata import _array_meta, _check_raw_lengths, decode_fill_attr, decode_fill_value
from .targets import WholeRemoteFile

#: ``manifest_for(name, var_meta)``: a variable's Manifest; ``var_meta`` holds its
#: chunk ``grid``, key separator ``sep``, ``ndim`` and the decode ``limit`` of a chunk
ManifestFor = Callable[[str, dict], Manifest]


def _build(docs: dict[str, Any], path: str, manifest_for: ManifestFor) -> VDataset:
    """The VDataset of ``docs`` (key -> parsed metadata document); a variable
    whose manifest names a whole remote file is skipped with the reason."""
    group_attrs = _group_attrs(docs, path)
    names = [k[: -len("/.zarray")] for k in docs if k.endswith("/.zarray")]
    variables: dict[str, VArray] = {}
    skipped: list[tuple[str, str]] = []
    groups = sorted({k.split("/", 1)[0] for k in docs if k.count("/") >= 1 and k.endswith("/.zgroup")})
    for name in names:
        if "/" in name:
            skipped.append((name, "array in a sub-group: scan_refs reads root-level variables only"))
            continue
        za = docs[f"{name}/.zarray"]
        meta = _array_meta(name, za, path)
        dims, attrs = _dims_and_attrs(name, docs.get(f"{name}/.zattrs"), meta.shape, path)
        fill_value = _fills(name, za, attrs, meta.dtype, path)
        limit = stage_limit(meta.codecs, meta.dtype, math.prod(meta.chunks))
        try:
            manifest = manifest_for(name, {"grid": meta.grid, "sep": meta.sep, "ndim": len(meta.shape), "limit": limit})
        except WholeRemoteFile as e:  # announced by the scan (errors=...)
            skipped.append((name, e.problem))
            continue
        _check_raw_lengths(name, manifest, meta.chunks, meta.dtype, meta.codecs, path)
        variables[name] = VArray(name=name, dims=dims, shape=meta.shape, dtype=meta.dtype, chunks=meta.chunks,
                                 codecs=meta.codecs, fill_value=fill_value, attrs=attrs, manifest=manifest)
    return VDataset(
        variables=variables,
        attrs=group_attrs,
        coords=_coords(variables),
        sources=_sources(variables),
        skipped=tuple(skipped),
        groups=tuple(groups),
    )


def _group_attrs(docs: dict[str, Any], path: str) -> dict:
    """The root group's ``.zattrs``, after checking the root documents describe
    a zarr v2 group (not a single array, not zarr v3)."""
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
    return group_attrs


def _dims_and_attrs(name: str, attrs: Any, shape: tuple, path: str) -> tuple[tuple[str, ...], dict]:
    """A variable's dimension names (``_ARRAY_DIMENSIONS``, or ``{name}_dim_{i}``)
    and its other attributes (a copy)."""
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
    return tuple(str(d) for d in dims), attrs


def _fills(name: str, za: dict, attrs: dict, dtype: np.dtype, path: str) -> Any:
    """The decoded ``fill_value``; ``attrs['_FillValue']`` decoded in place, or
    set from the fill_value as xarray reads zarr v2."""
    fill_value = decode_fill_value(za.get("fill_value"), dtype, path, name)
    if "_FillValue" in attrs:
        attrs["_FillValue"] = decode_fill_attr(attrs["_FillValue"], dtype)
    elif fill_value is not None and dtype.kind not in "OV" and dtype.fields is None:
        # zarr v2: xarray reads the fill_value as the variable's _FillValue
        attrs["_FillValue"] = fill_value
    return fill_value


def _coords(variables: dict[str, VArray]) -> tuple[str, ...]:
    """Dimension coordinates, then the names other variables' ``coordinates`` list."""
    coords = [n for n, v in variables.items() if v.dims == (n,)]
    for v in variables.values():
        c = v.attrs.get("coordinates")
        if isinstance(c, str):
            coords.extend(x for x in c.split() if x in variables and x not in coords)
    return tuple(coords)


def _sources(variables: dict[str, VArray]) -> tuple[Source, ...]:
    """One Source per path the manifests name, in order of first use."""
    all_paths: dict[str, None] = {}
    for v in variables.values():
        for p in v.manifest.paths:
            all_paths.setdefault(p, None)
    return tuple(Source(p) for p in all_paths)
