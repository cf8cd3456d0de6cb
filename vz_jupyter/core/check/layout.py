"""Rules on how a variable is stored: dimensions, dtype, codecs, shape and
chunks off the combine axis, and chunk lengths along it (a regular chunk grid
cannot hold a partial chunk before the last file)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..model import VArray, codec_summary
from .context import Context
from .groups import Groups, hkey, name_files

Items = list[tuple[int, VArray]]

#: codec parameters that do not change how a chunk decodes
_DECODE_IRRELEVANT = {
    "zlib": {"level"},
    "gzip": {"level"},
    "bz2": {"level"},
    "zstd": {"level", "checksum"},
    "blosc": {"cname", "clevel", "shuffle", "blocksize", "typesize"},
    "lz4": {"acceleration"},
}


def decode_equal_codecs(codecs: Sequence[Mapping]) -> tuple:
    """The pipeline with parameters that do not affect decoding removed."""
    out = []
    for c in codecs:
        c = dict(c)
        drop = _DECODE_IRRELEVANT.get(str(c.get("id")), set())
        out.append(tuple(sorted((k, hkey(v)) for k, v in c.items() if k not in drop)))
    return tuple(out)


def _dtype_text(s: str) -> str:
    d = np.dtype(s)
    return d.name + ("" if d.byteorder in "=|" or d.isnative else " (big-endian)" if s.startswith(">") else "")


def _divisors(n: int, limit: int = 6) -> list[int]:
    ds = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0] if n > 0 else []
    ds = sorted(set(ds + [n // d for d in ds]))
    return ds[-limit:] if len(ds) > limit else ds


def _off_axis(values: tuple, axis: int | None) -> tuple:
    return tuple(x for k, x in enumerate(values) if k != axis)


def compare_layout(cx: Context, name: str, items: Items, axis: int | None) -> bool:
    """dims, dtype, codecs, chunks, shape off the combine axis; returns False when
    the variable is too inconsistent to check further."""
    if not same_dims(cx, name, items):
        return False
    same_dtype(cx, name, items)
    same_codecs(cx, name, items)
    return same_shape(cx, name, items, axis) and same_chunks(cx, name, items, axis)


def same_dims(cx: Context, name: str, items: Items) -> bool:
    g = Groups([(i, v.dims) for i, v in items], cx.labels)
    if g.differ:
        cx.add("error", "dims", f"variable {name!r} has different dimensions: {g.describe(lambda d: '(' + ', '.join(d) + ')')}",
               name, g.odd_files(), fix="exclude the odd files; variables must have the same dimensions in every file")
    return not g.differ


def same_dtype(cx: Context, name: str, items: Items) -> None:
    g = Groups([(i, v.dtype.str) for i, v in items], cx.labels)
    if g.differ:
        cx.add("error", "dtype", f"dtype of {name!r} differs: {g.describe(_dtype_text)}",
               name, g.odd_files(),
               fix="a zarr array has one dtype: rewrite the odd files with the common dtype, or exclude them")


def same_codecs(cx: Context, name: str, items: Items) -> None:
    """One codec pipeline (an error), up to parameters that do not change
    decoding (an info)."""
    g = Groups([(i, decode_equal_codecs(v.codecs)) for i, v in items], cx.labels)
    if g.differ:
        where = [i for i, _ in items]
        shown = {k: codec_summary(items[where.index(idx[0])][1].codecs) or "no codecs" for k, idx in g.groups.items()}
        cx.add("error", "codecs", f"codec pipeline of {name!r} differs: {g.describe(lambda v: shown[hkey(v)])}",
               name, g.odd_files(),
               fix="a zarr array has one codec pipeline: rewrite the odd files with the same compression (e.g. nccopy -d N), or exclude them")
        return
    exact = [(i, tuple(tuple(sorted((k, hkey(x)) for k, x in dict(cc).items())) for cc in v.codecs)) for i, v in items]
    g2 = Groups(exact, cx.labels)
    if g2.differ:
        cx.add("info", "codec-level",
               f"compression settings of {name!r} differ only in parameters that do not affect decoding "
               f"(e.g. level); the combined array decodes every file correctly",
               name, g2.odd_files())


def same_shape(cx: Context, name: str, items: Items, axis: int | None) -> bool:
    g = Groups([(i, _off_axis(v.shape, axis)) for i, v in items], cx.labels)
    if g.differ:
        other = _off_axis(items[0][1].dims, axis)
        cx.add("error", "dim-size", f"sizes of {name!r} along {', '.join(map(repr, other)) or '()'} differ: {g.describe(lambda s: str(tuple(s)))}",
               name, g.odd_files(), fix="only the combine dimension may differ in length; exclude the odd files")
    return not g.differ


def same_chunks(cx: Context, name: str, items: Items, axis: int | None) -> bool:
    g = Groups([(i, _off_axis(v.chunks, axis)) for i, v in items], cx.labels)
    if g.differ:
        cx.add("error", "chunks", f"chunk shape of {name!r} differs: {g.describe(lambda c: str(tuple(c)))}",
               name, g.odd_files(), fix="a regular chunk grid needs one chunk shape: rewrite the odd files with the common chunking, or exclude them")
    return not g.differ


def check_partial_chunks(cx: Context, name: str, items: Items, axis: int) -> None:
    """One chunk length along the combine dim, and no file but the last ending
    in a partial chunk."""
    if len(items) < 2:
        return
    g = Groups([(i, v.chunks[axis]) for i, v in items], cx.labels)
    if g.differ:
        cx.add("error", "chunks", f"chunk length of {name!r} along {cx.dim!r} differs: {g.describe()}",
               name, g.odd_files(),
               fix="a regular chunk grid needs one chunk length: rewrite the odd files with the common chunking, or exclude them")
        return
    c = items[0][1].chunks[axis]
    bad = [(i, v.shape[axis]) for i, v in items[:-1] if v.shape[axis] % c]
    if not bad:
        return
    lens = [v.shape[axis] for _, v in items[:-1]]
    work = _divisors(math.gcd(*lens) if lens else 1)
    files = [cx.labels[i] for i, _ in bad]
    cx.add("error", "partial-chunk",
           f"{name!r} is chunked by {c} along {cx.dim!r} but {name_files(files)} "
           f"{'has' if len(files) == 1 else 'have'} length {', '.join(str(n) for _, n in bad[:4])} "
           f"(not a multiple of {c}): a regular chunk grid cannot hold a partial chunk before the last file",
           name, files,
           fix=(f"chunk lengths along {cx.dim!r} that would work: {', '.join(map(str, work))} "
                f"(rewrite with e.g. nccopy -c {cx.dim}/{work[-1]}); or put the short file last, or exclude it"))
