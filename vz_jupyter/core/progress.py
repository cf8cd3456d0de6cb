"""Progress of long operations, without the core knowing where it is shown.

``scan(..., progress=...)`` takes ``None`` (the default: a bar where someone is
watching, nothing otherwise), ``True`` (a bar even when nobody seems to watch),
``False`` (nothing), or a callable ``progress(done, total, path)``. The bars
themselves live above the core (``vz_jupyter.jupyter.progress``: ``tqdm.auto``
in notebooks, a terminal bar on a terminal); the package registers their
factory here when it is imported, as the displays register their renderers
(DESIGN §1).

A callback may have a ``close(ok)`` method: it is called once when the
operation ends, ``ok`` False when it ended in an error.
"""
from __future__ import annotations

from collections.abc import Callable

Callback = Callable[[int, int, str], None]
#: ``factory(total, unit, force) -> callback or None``
_FACTORY: Callable[[int, str, bool], Callback | None] | None = None


def register(factory: Callable[[int, str, bool], Callback | None] | None) -> None:
    """Set the factory that makes the default progress bars."""
    global _FACTORY
    _FACTORY = factory


def resolve(progress, total: int, unit: str = "files") -> Callback | None:
    """The callback for a ``progress=`` argument (see the module doc)."""
    if progress is False or total <= 0 and progress is None:
        return None
    if progress is not None and progress is not True:
        if not callable(progress):
            raise TypeError(f"progress must be None, True, False or a callable(done, total, path), not {progress!r}")
        return progress
    if _FACTORY is None:
        return None
    return _FACTORY(total, unit, progress is True)


def close(callback: Callback | None, ok: bool) -> None:
    """Tell a callback the operation ended (if it wants to know)."""
    fn = getattr(callback, "close", None)
    if fn is not None:
        fn(ok)
