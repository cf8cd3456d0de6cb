"""Why a dataset cannot be a variable, and h5py's errors as one short clause."""
from __future__ import annotations

import re


class Skip(Exception):
    """A variable that cannot be represented (goes to VDataset.skipped). ``final``:
    its decoded values cannot be represented either (no use reading them)."""

    def __init__(self, msg: str, final: bool = False):
        super().__init__(msg)
        self.final = final


class BadFilter(Exception):
    """An HDF5 filter no Zarr codec decodes (its values may still be inlined)."""

    def __init__(self, fid: int, name: str, why: str):
        self.fid, self.name, self.why = fid, name, why
        super().__init__(why)


_PAREN = re.compile(r"\(([^()]*)\)")


def condense_h5_error(e: BaseException) -> str:
    """h5py's long OSError texts as one short clause."""
    text = " ".join(str(e).split())
    m = re.search(r"truncated file: eof = (\d+).*?stored_eof = (\d+)", text)
    if m:
        return f"truncated HDF5 file: it has {m.group(1)} bytes but its superblock says {m.group(2)}"
    if "file signature not found" in text:
        return "not an HDF5 file (no HDF5 signature found)"
    inner = _PAREN.findall(text)
    msg = inner[-1] if inner else text
    head = text.split("(")[0].strip().rstrip(":")
    if inner and head and head.lower() != msg.lower():
        msg = f"{head[0].lower() + head[1:]} ({msg})"
    msg = msg.replace("Unable to synchronously ", "unable to ").replace("unable to synchronously ", "unable to ")
    if len(msg) > 240:
        msg = msg[:237] + "..."
    return msg or type(e).__name__


def nbytes_text(n: int) -> str:
    """``n`` bytes in words (``12.3 MB``), for skip reasons."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
