"""The formatter registry: how core objects find their text and HTML views.

Core never imports the display package (DESIGN §1): its objects' ``__repr__`` and
``_repr_html_`` ask this registry for a renderer, and ``vz_jupyter.display``
registers its renderers here when it is imported (the package ``__init__`` does
that, so reprs are rich after ``import vz_jupyter``). Without a registered
renderer, objects fall back to a short plain repr; HTML falls back to that text,
escaped, in a ``<pre>``.
"""
from __future__ import annotations

import html
from collections.abc import Callable

_TEXT: dict[type, Callable[[object], str]] = {}
_HTML: dict[type, Callable[[object], str]] = {}


def register(cls: type, *, text: Callable[[object], str] | None = None,
             html: Callable[[object], str] | None = None) -> None:
    """Register the text and/or HTML renderer for instances of ``cls``."""
    if text is not None:
        _TEXT[cls] = text
    if html is not None:
        _HTML[cls] = html


def _lookup(table: dict, obj: object):
    for klass in type(obj).__mro__:
        fn = table.get(klass)
        if fn is not None:
            return fn
    return None


def _fallback(obj: object) -> str:
    return f"<{type(obj).__name__} object>"


def as_text(obj: object) -> str:
    """The registered text view of ``obj`` (a short plain repr if none)."""
    fn = _lookup(_TEXT, obj)
    return fn(obj) if fn is not None else _fallback(obj)


def as_html(obj: object) -> str:
    """The registered HTML view of ``obj`` (its escaped text view if none)."""
    fn = _lookup(_HTML, obj)
    if fn is not None:
        return fn(obj)
    return f"<pre>{html.escape(as_text(obj))}</pre>"
