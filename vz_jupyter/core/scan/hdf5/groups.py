"""A group's links in netCDF-C's order, the groups below it, and opening a
group by path. Link cycles (hard or soft links back up) are followed once."""
from __future__ import annotations

from h5py import h5, h5l, h5o

from ...errors import ScanError
from .problems import condense_h5_error


def addr(oid) -> int:
    """The object's address in the file (identifies it across link names)."""
    return h5o.get_info(oid).addr


def open_group(fid, gp: str):
    """The group at path ``gp`` (``""``: the root group)."""
    return h5o.open(fid, (gp or "/").encode())


def members(path: str, gid) -> list[tuple[str, str]]:
    """(name, kind) of a group's links in netCDF-C's order; kind is
    ``group``, ``dataset``, ``external``, ``dangling`` or ``other``."""
    items: list[tuple[bytes, int]] = []

    def cb(name, info):
        items.append((name, info.type))

    try:
        crt = gid.get_create_plist().get_link_creation_order() & 1
    except Exception:
        crt = 0
    try:
        gid.links.iterate(cb, info=True, idx_type=h5.INDEX_CRT_ORDER if crt else h5.INDEX_NAME)
    except Exception:
        items.clear()
        gid.links.iterate(cb, info=True)
    out = []
    for bname, ltype in items:
        name = bname.decode("utf-8", "replace")
        if ltype == h5l.TYPE_EXTERNAL:
            out.append((name, "external"))
            continue
        try:
            info = h5o.get_info(gid, bname)
        except Exception as e:
            if ltype == h5l.TYPE_SOFT:
                out.append((name, "dangling"))
                continue
            raise ScanError(path, f"object {name!r} cannot be read: {condense_h5_error(e)}") from None
        if info.type == h5o.TYPE_GROUP:
            out.append((name, "group"))
        elif info.type == h5o.TYPE_DATASET:
            out.append((name, "dataset"))
        else:
            out.append((name, "other"))
    return out


def all_groups(path: str, gid, prefix: str, seen: set | None = None, links=None) -> list[str]:
    """Paths of every group below ``gid`` (``links``: its :func:`members`, when
    already listed); a group reached again through another (hard or soft) link
    is listed but not entered twice, so link cycles cannot recurse forever."""
    if seen is None:
        seen = {addr(gid)}
    out: list[str] = []
    for name, kind in links if links is not None else members(path, gid):
        if kind == "group":
            full = f"{prefix}/{name}" if prefix else name
            out.append(full)
            try:
                sub = h5o.open(gid, name.encode())
                a = addr(sub)
                if a in seen:
                    continue
                seen.add(a)
                out.extend(all_groups(path, sub, full, seen))
            except Exception:
                pass
    return out
