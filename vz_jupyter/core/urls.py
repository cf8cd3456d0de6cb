"""URLs and the credentials they may carry.

``redact(text)``
    Any text (a path, an error message, an attribute) with the credentials of
    the URLs in it replaced by ``***``: the userinfo (``https://user:pass@host``)
    and query parameters whose name says secret (``X-Amz-Signature``, ``sig``,
    ``token``, ``password``, ``key``, ...). For everything shown: reprs, HTML,
    the CLI, error messages, plan displays, the Reductionist export.
``strip_credentials(url)``
    The URL without userinfo and without secret query parameters, for
    everything *written* (references): credentials travel in
    ``storage_options``, never inside a reference file.
``protocol(url)`` / ``is_url(path)`` / ``has_scheme(path)`` / ``strip_file_scheme(path)`` / ``url_root(url)``
    The scheme (``"file"`` for local paths), whether a string is a remote URL
    (``file://`` is local), whether it names any scheme, a path without its
    ``file://``, and the
    ``scheme://host[:port]/folder/`` prefix a reference made from that URL
    records as its root. The one place that tells URLs from paths: modules ask
    these rather than looking for ``"://"`` themselves.

Pure string functions: no I/O. Paths are made strings by fsspec's
``stringify_path``; fsspec's ``get_protocol`` is not used for the scheme, since
it stops at the first ``::`` of a chained URL (``simplecache::s3://`` ->
``simplecache``) where confinement needs the whole chain.
"""
from __future__ import annotations

import posixpath
import re
import warnings
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from fsspec.utils import stringify_path

#: a URL scheme followed by ``//`` (``https://``, ``s3://``, ``simplecache::s3://``)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
#: ``scheme://userinfo@`` -- the userinfo may hold a password or a token
_USERINFO = re.compile(rf"({_SCHEME})([^/\s@?#\"'<>]*@)")
#: query parameter names (or ``-``/``_``/``.``-separated parts of them) that carry secrets
SECRET_PARAM_WORDS = frozenset({
    "sig", "signature", "token", "secret", "password", "passwd", "pwd", "pass", "credential", "credentials",
    "auth", "authorization", "key", "apikey", "session", "sessiontoken", "securitytoken", "accesskey", "jwt",
})
#: one query parameter: separator, name, ``=``, value
_PARAM = re.compile(r"([?&;])([^=&;\s#\"'<>?]+)=([^&;\s#\"'<>]*)")


def _secret_name(name: str) -> bool:
    n = name.lower()
    return n in SECRET_PARAM_WORDS or any(w in SECRET_PARAM_WORDS for w in re.split(r"[-_.]", n))


MASK = "***"


def redact(text) -> str:
    """``text`` with URL credentials replaced by ``***`` (see the module doc)."""
    s = str(text)
    if "://" in s:
        s = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", s)
    if "?" in s and "=" in s:  # also a URL's last part shown alone (``x.nc?sig=...``)
        s = _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}" if _secret_name(m.group(2)) and m.group(3)
                       else m.group(0), s)
    return s


def has_credentials(url: str) -> bool:
    """True when ``url`` carries a userinfo or a secret query parameter."""
    return redact(url) != str(url)


def strip_credentials(url: str) -> str:
    """``url`` without userinfo and without secret query parameters (local
    paths are returned unchanged)."""
    url = str(url)
    if "://" not in url or not has_credentials(url):
        return url  # local paths are written as they are
    url = _USERINFO.sub(lambda m: m.group(1), url)
    if "?" in url:
        head, _, query = url.partition("?")
        query, hash_, frag = query.partition("#")
        kept = [p for p in re.split(r"[&;]", query) if p and not _secret_name(p.partition("=")[0])]
        url = head + ("?" + "&".join(kept) if kept else "") + hash_ + frag
    return url


def strip_for_writing(paths: Iterable[str], *, warn: bool = True) -> list[str]:
    """Paths as written into references: credentials removed, with one
    warning naming how many URLs lost theirs (they go in ``storage_options``)."""
    out, n, first = [], 0, None
    for p in paths:
        q = strip_credentials(p)
        if q != p:
            n += 1
            first = first or q
        out.append(q)
    if n and warn:
        warnings.warn(
            f"credentials (userinfo or signed query parameters) removed from {n} source URL(s) such as {first} "
            f"before writing references; pass them as storage_options when reading",
            UserWarning,
            stacklevel=3,
        )
    return out


FILE_PREFIX = "file://"


def has_scheme(path) -> bool:
    """``path`` names a scheme (``https://``, ``s3://``, ``file://``, ...)."""
    return "://" in str(stringify_path(path))


def protocol(url: str) -> str:
    """``"https"`` for ``https://...``, ``"file"`` for local paths and
    ``file://`` URLs; chained URLs (``simplecache::s3://``) keep their chain."""
    url = str(stringify_path(url))
    if not has_scheme(url):
        return "file"
    return url.split("://", 1)[0].lower()


def is_url(path) -> bool:
    """A remote URL (``file://`` counts as local)."""
    p = str(stringify_path(path))
    return has_scheme(p) and not p.startswith(FILE_PREFIX)


def strip_file_scheme(path) -> str:
    """``path`` without one leading ``file://`` (nothing else changed)."""
    p = str(stringify_path(path))
    return p[len(FILE_PREFIX):] if p.startswith(FILE_PREFIX) else p


def split(url: str) -> tuple[str, str, str]:
    """``(scheme, host, path)`` of a URL without credentials: scheme and host
    lower-cased, default ports dropped, the query and fragment left out."""
    parts = urlsplit(strip_credentials(url))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and not (scheme == "http" and port == 80) and not (scheme == "https" and port == 443):
        host = f"{host}:{port}"
    return scheme, host, parts.path or "/"


def has_dot_segments(url_path: str) -> bool:
    """True when a URL path has ``.``/``..`` segments, raw or percent-encoded
    (servers and clients may resolve them, so a prefix check cannot trust it)."""
    p = unquote(unquote(url_path))
    return any(seg in (".", "..") for seg in re.split(r"[/\\]", p))


def url_root(url: str) -> str:
    """The folder prefix of a URL: ``https://host/a/b.nc`` -> ``https://host/a/``
    (credentials and query dropped)."""
    scheme, host, path = split(url)
    folder = posixpath.dirname(path.rstrip("/")) if not path.endswith("/") else path.rstrip("/")
    folder = folder.rstrip("/") + "/"
    return f"{scheme}://{host}{folder}"
