"""Fuzz target: selection strings (parse_selection + normalize_selection +
the orthogonal indexing the executor uses). Handled: SelectionError."""
from __future__ import annotations

import numpy as np

from vz_jupyter.core.errors import SelectionError

SEEDS = [b"air[0:10, :, 5]", b"air[..., -1]", b"air[::-2, [1, 5, 2], :]", b"air[time=0:10, lat=3]",
         b"air[[True, False, True, False], 1]", b"air"]
_A = np.arange(4 * 5 * 6).reshape(4, 5, 6)


def test_one_input(data: bytes) -> None:
    from vz_jupyter.core.execute import oindex
    from vz_jupyter.core.selection import normalize_selection, parse_selection

    text = data.decode("utf-8", "replace")
    try:
        _, key = parse_selection(text)
        sel = normalize_selection(key, _A.shape, ("time", "lat", "lon"))
    except SelectionError:
        return
    out = oindex(_A, [d.to_key() for d in sel])
    assert out.shape == tuple(d.out_len for d in sel if not d.dropped), (text, out.shape)
