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

One job per module:

=================  ==============================================================
``driver``         :func:`scan_hdf5`: open the file (local or remote), run the scan
``scanner``        one group: its datasets, their dimensions, variables, coordinates
``groups``         a group's links in netCDF-C's order; the groups below it
``dims``           axis names from dimension scales (``Var``: one dataset as found)
``phony``          ``phony_dim_N`` names, numbered across the file as netCDF-C does
``dtypes``         HDF5 types -> numpy dtypes; fill values; what Zarr cannot hold
``filters``        HDF5 filters -> numcodecs configs; re-encoding masked chunks
``attributes``     attributes as netCDF4-python shows them
``manifests``      chunk locations: chunked (``chunk_iter``), contiguous, compact
``variables``      one dataset -> ``VArray`` (compound: one per field)
``inlining``       variables that cannot be referenced, inlined as decoded values
``watchdog``       the forked child that bounds variable-length (global heap) reads
``problems``       why a variable is skipped; h5py's errors as one short clause
=================  ==============================================================
"""
from __future__ import annotations

try:  # h5py is a hard dependency, but keep import errors readable
    import h5py  # noqa: F401
except ImportError as _e:  # pragma: no cover
    raise ImportError(f"vz_jupyter needs h5py to scan HDF5/NetCDF4 files: {_e}") from None

from .attributes import HIDDEN_ATTRS, read_attrs
from .dims import NC4_NON_COORD
from .driver import scan_hdf5
from .filters import FILTER_NAMES, filter_codecs, reencode_chunk
from .problems import condense_h5_error

__all__ = ["scan_hdf5", "condense_h5_error", "filter_codecs", "reencode_chunk", "read_attrs", "FILTER_NAMES",
           "HIDDEN_ATTRS", "NC4_NON_COORD"]
