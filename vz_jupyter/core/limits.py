"""Budgets on sizes read from untrusted inputs (scanned files, reference files,
stored chunks): the one place they live.

A size read from a file never drives an allocation or a loop by itself: it is
checked against these budgets (and against what is actually there) first, and
past them the input is refused, or the variable skipped, with a one-line
reason that names the budget. They are module constants, read when used: raise
them (``vz_jupyter.core.limits.MAX_CHUNKS = ...``) for trusted, very large
files and reference sets.
"""
from __future__ import annotations

#: chunk references held in dense manifests (about 20 bytes a chunk, so 2**25
#: cost ~670 MB): those of all the variables of one scanned file, and the grid
#: of one variable read from references. A scanned variable that would go past
#: it (a sparse NetCDF3 file claiming a huge record count, an HDF5 grid of
#: millions of chunks with some written) is skipped with a reason; grids with no
#: chunk written cost nothing and do not count.
MAX_CHUNKS = 1 << 25
#: chunks in one scanned variable's grid, written or not. A grid with nothing
#: written is held at no cost (broadcast columns), but whoever shows, checks or
#: writes it still visits every chunk: past this the variable is skipped.
MAX_GRID = 1 << 27
#: values of one variable-length string variable read and inlined by a scan
MAX_VLEN_VALUES = 1_000_000
#: references that the ``gen`` entries of one reference set may produce
MAX_GEN_REFS = 1 << 20
#: characters of one ``gen`` template or of what it renders to
MAX_GEN_TEXT = 4096
#: declared (uncompressed) bytes of all parquet record files of one reference set
MAX_PARQUET_BYTES = 1 << 30
#: decoded bytes of one chunk (chunk shape x item size) that a read will allocate
MAX_CHUNK_BYTES = 1 << 31
