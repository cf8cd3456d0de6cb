"""Displays: pure functions from core objects to HTML/SVG/text strings (no I/O).

- ``common``   shared helpers (escape, format_bytes, collapsible, table, wrap_repr, ids, CSS)
- ``chunkmap`` ``chunk_map_svg(var, highlight=...)`` and ``chunk_map_data(var)`` (JSON for the canvas)
- ``html``     ``dataset_html`` / ``dataset_list_html`` (``_repr_html_`` of VDataset / VDatasetList)
- ``text``     ``dataset_text`` / ``dataset_list_text`` (``__repr__`` and the ``<pre>`` fallback)
- ``plan``, ``report``  read plans and check reports (built on ``common`` and ``chunkmap``)
"""
