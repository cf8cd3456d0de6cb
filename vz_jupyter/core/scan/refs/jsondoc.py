"""Strict JSON for kerchunk references: documents with duplicate keys, deep
nesting or bad bytes are one-line :class:`ScanError`s naming the file; the
``.zarray``/``.zattrs`` documents and inline chunk values (``base64:`` or text)
decoded the same way everywhere references are read."""
from __future__ import annotations

import base64
import json
from typing import Any

from ...errors import ScanError


class _DuplicateKey(ValueError):
    def __init__(self, key):
        self.key = key
        super().__init__(f"key {key!r} appears twice")


def _no_duplicates(pairs: list) -> dict:
    """``object_pairs_hook`` refusing duplicate keys (with them, the last one
    would silently win in one reader and maybe not in another)."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


def _loads(raw: bytes | str) -> Any:
    """Strict JSON for callers that word their own error: duplicate keys raise
    a ValueError (like any JSON error), deep nesting a RecursionError."""
    return json.loads(raw, object_pairs_hook=_no_duplicates)


def loads_json(raw: bytes | str, path: str, what: str = "not valid kerchunk JSON") -> Any:
    """Strict JSON for references: duplicate keys, deep nesting and bad bytes
    are one-line :class:`ScanError`s naming ``path``."""
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        raise ScanError(path, f"{what}: key {_short(e.key)} appears twice (duplicate keys are ambiguous)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScanError(path, f"{what} ({_one_line(e)})") from None
    except RecursionError:
        raise ScanError(path, f"{what} (nested too deeply)") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as e:
        raise ScanError(path, f"{what} ({type(e).__name__}: {_one_line(e)})") from None


def _short(v: Any, n: int = 80) -> str:
    """``repr`` capped at ``n`` characters, for messages."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 1] + "…"


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


def _parse_doc(key: str, value: Any, path: str) -> Any:
    """A metadata document (``.zarray``, ``.zattrs``, ...) as found in references:
    an object, or JSON text (maybe ``base64:``)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value.startswith("base64:"):
            value = _b64(value[7:], path, f"metadata {_short(key)}").decode("utf-8", "replace")
        return loads_json(value, path, f"metadata {_short(key)} is not valid JSON")
    raise ScanError(path, f"metadata {_short(key)} is a {type(value).__name__}, expected a JSON document")


def _b64(text: str | bytes, path: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as e:  # binascii.Error is a ValueError
        raise ScanError(path, f"{what}: invalid base64 ({_one_line(e)})") from None


def _inline_bytes(v: Any, path: str = "<references>", what: str = "inline data") -> bytes:
    """An inline chunk's bytes: ``base64:``-prefixed or text (kept as UTF-8)."""
    if isinstance(v, bytes):
        return _b64(v[7:], path, what) if v.startswith(b"base64:") else v
    if v.startswith("base64:"):
        return _b64(v[7:], path, what)
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ScanError(path, f"{what} is not encodable text ({_one_line(e)})") from None
