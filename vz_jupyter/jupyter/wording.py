"""Messages the notebook side shares (the ``%vz`` magics and the combine widget)."""
from __future__ import annotations

import difflib
from collections.abc import Sequence


def dim_problem(dim: str, dims: Sequence[str]) -> str:
    """``dimension 'tiem' is not in these files; did you mean 'time'? (found: ...)``"""
    close = difflib.get_close_matches(dim, list(dims), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    found = ", ".join(dims) or "none"
    return f"dimension {dim!r} is not in these files{hint} (found: {found})"


__all__ = ["dim_problem"]
