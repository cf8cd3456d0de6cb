"""What kerchunk references point at: urls with their ``{{name}}`` templates
filled in, ``data:`` URLs (inline chunks), paths resolved and confined as the
model keeps them, and the size of a file referenced whole (one ``stat``; a
whole remote file is refused, never asked for)."""
from __future__ import annotations

import base64
import os
import stat
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

from ...access import NotRegularFile, _kind, resolve_path
from ...errors import ScanError, UnsupportedFeature
from ...urls import redact
from .columns import _PathTable
from .jsondoc import _one_line, _short


def _render_urls(urls: list, templates: dict, path: str) -> list[str]:
    """Urls with ``{{name}}`` templates filled in as fsspec does by default
    (``simple_templates``: ``str.format`` after turning ``{{ }}`` into ``{ }``)."""
    out = []
    for u in urls:
        if u is None:
            raise UnsupportedFeature(path, "a reference has a null url (implicit target); give every reference its url")
        if not isinstance(u, str):
            raise ScanError(path, f"reference url {_short(u)} is not a string")
        if "{{" in u:
            try:
                # format_map looks names up in templates (format(**templates) copied them all: quadratic)
                u = u.replace("{{", "{").replace("}}", "}").format_map(templates)
            except Exception as e:  # noqa: BLE001  (str.format raises KeyError, IndexError, ValueError, AttributeError)
                raise ScanError(path, f"url {_short(u)} uses an undefined template ({type(e).__name__}: {_one_line(e)})") from None
        out.append(u)
    return out


def _data_url_payloads(urls: list[str], path: str) -> dict[int, bytes]:
    """Positions and payloads of ``data:`` URLs (vz_jupyter references one such
    URL for every unwritten chunk whose fill zarr would not produce): their
    chunks are inline data, not files."""
    out: dict[int, bytes] = {}
    for i, u in enumerate(urls):
        if isinstance(u, str) and u.startswith("data:"):
            head, sep, payload = u[5:].partition(",")
            if not sep:
                raise ScanError(path, f"malformed data: URL in a reference ({u[:60]}...)")
            try:
                if head.endswith(";base64"):
                    out[i] = base64.standard_b64decode(payload)
                else:
                    out[i] = unquote_to_bytes(payload)
            except (ValueError, base64.binascii.Error):
                raise ScanError(path, f"undecodable data: URL in a reference ({u[:60]}...)") from None
    return out


def _normalize_paths(urls: list[str], where: str = "<references>") -> tuple[list[str], np.ndarray]:
    """Paths as the model keeps them (absolute local paths, URLs as given),
    de-duplicated; returns the table and the remap from ``urls`` positions."""
    table = _PathTable()
    remap = table.add([_usable_path(u, where) for u in urls])
    return table.paths, remap


def _usable_path(u: Any, where: str) -> str:
    """``u`` resolved against the reference file and confined to its roots
    (a ``data:`` URL as it is: it reads nothing else)."""
    if isinstance(u, str) and u.startswith("data:"):
        return u
    if not isinstance(u, str) or not u or "\x00" in u:
        raise ScanError(where, f"reference url {_short(u)} is not a usable path")
    try:
        return resolve_path(u)  # relative to the reference file; refused outside its roots
    except (ValueError, TypeError, OSError) as e:
        raise ScanError(where, f"reference url {_short(u)} is not a usable path ({_one_line(e)})") from None


class WholeRemoteFile(UnsupportedFeature):
    """A ``[url]`` reference to a whole remote file: its size would need a
    request to the server, which reading references never makes."""


def _file_size(p: str, path: str, storage_options) -> int:
    if "://" in p:
        raise WholeRemoteFile(path, f"a reference points at the whole remote file {redact(p)}, whose size is unknown "
                                    f"without asking its server (vz contacts no source while reading references)")
    try:
        st = os.stat(p)
    except Exception as e:  # noqa: BLE001
        raise ScanError(path, f"a reference points at the whole file {p}, whose size cannot be read ({_one_line(e)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(p, f"not a regular file ({_kind(st.st_mode)}), referenced whole by {path}; "
                                f"vz reads only regular files")
    return st.st_size

