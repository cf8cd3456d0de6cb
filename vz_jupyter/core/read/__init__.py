"""The read path's parts: selection -> :class:`~vz_jupyter.core.plan.ReadPlan` -> bytes -> array or reduction.

The two front doors stay where users meet them: :mod:`vz_jupyter.core.plan`
(``plan()`` and :class:`ReadPlan`) and :mod:`vz_jupyter.core.execute` (fetch,
decode and assemble a plan into an array). The parts they are built from:

``options``      :class:`ReadOptions`: how ranges are merged and reads batched
``cost``         :class:`CostModel`: per-request latency vs bytes per store; span-exact or coalesced requests
``projection``   a selection projected onto the chunk grid, byte spans inside a chunk
``entry``        :class:`PlanEntry` (one touched chunk) and building them from a manifest
``ranges``       merging wanted byte ranges into requests
``stats``        :class:`ExecStats`: what one read moved
``fetch``        reading merged ranges (local ``mmap``/``pread``, fsspec ``cat_ranges``)
``blocks``       one entry's values from fetched bytes (bounded decoding, in-chunk selection)
``missing``      CF missing-data rules and scale/offset from a variable's attributes
``reduce``       chunk-wise min/max/sum/mean/count
``reductionist`` each touched chunk as a Reductionist v2 request

Nothing here imports the front doors except ``reduce`` (which reads through
:func:`vz_jupyter.core.execute.iter_blocks`), so there is no import cycle.
"""
