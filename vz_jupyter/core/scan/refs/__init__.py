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

One job per module:

=============  ==================================================================
``driver``     :func:`scan_refs`: read the reference file, confine its paths
``jsondoc``    strict JSON (no duplicate keys); metadata documents; inline bytes
``json_refs``  JSON references: version/templates, chunk keys, reference values
``gen``        ``gen`` entries expanded within budgets (no jinja)
``parquet``    parquet references: ``.zmetadata`` and the record files
``targets``    what references point at: urls, ``data:`` URLs, paths, file sizes
``columns``    the columns of a manifest being filled; its path table
``metadata``   zarr v2 ``.zarray`` validated; fill values; raw chunk sizes
``build``      metadata documents + manifests -> ``VArray`` s -> ``VDataset``
=============  ==================================================================
"""
from __future__ import annotations

# private helpers other modules use (opening, archive, serialize/*_append) are re-exported
# explicitly ("x as x") so their imports keep working
from .build import _build as _build
from .driver import scan_refs
from .json_refs import _from_refs_dict as _from_refs_dict, chunk_numbers, expand_refs
from .jsondoc import (
    _inline_bytes as _inline_bytes,
    _loads as _loads,
    _one_line as _one_line,
    _parse_doc as _parse_doc,
    loads_json,
)
from .metadata import decode_fill_attr, decode_fill_value, parse_dtype
from .parquet import _from_parquet as _from_parquet, _parquet_manifest as _parquet_manifest
from .targets import WholeRemoteFile, _normalize_paths as _normalize_paths

__all__ = ["scan_refs", "loads_json", "expand_refs", "chunk_numbers", "decode_fill_attr", "decode_fill_value",
           "parse_dtype", "WholeRemoteFile"]
