"""Budgets on sizes read from untrusted inputs (reference files, stored chunks).

A size read from a file never drives an allocation or a loop by itself: it is
checked against these budgets (and against what is actually there) first, and
past them the input is refused with a one-line error that names the budget.
They are module constants: raise them (``vz_jupyter.core.limits.MAX_CHUNKS =
...``) for trusted, very large reference sets.
"""
from __future__ import annotations

#: chunks in one variable's grid read from references (the manifest is dense:
#: about 20 bytes a chunk, so 2**25 chunks cost ~670 MB)
MAX_CHUNKS = 1 << 25
#: references that the ``gen`` entries of one reference set may produce
MAX_GEN_REFS = 1 << 20
#: characters of one ``gen`` template or of what it renders to
MAX_GEN_TEXT = 4096
#: declared (uncompressed) bytes of all parquet record files of one reference set
MAX_PARQUET_BYTES = 1 << 30
#: decoded bytes of one chunk (chunk shape x item size) that a read will allocate
MAX_CHUNK_BYTES = 1 << 31
