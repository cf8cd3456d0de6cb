"""The combine widget's file list: compact at 1,000 files, problems pinned on top.

One anywidget (``static/filelist.js``, hand-written ESM, no CDN). Python sends
one JSON payload (:func:`file_list_payload`); the browser draws

* **Needs attention**: each error/warning of the check report that names files,
  with those files (up to a few per finding) and a "leave out" button;
* **In the combine**: the files in order, where consecutive clean files whose
  names ascend are one collapsed row (``day_0001.nc … day_0365.nc · 365 files,
  in name order``) that expands on click; rows are virtualised (only the visible
  ones are in the DOM) and the box scrolls at a fixed height; file rows drag to
  reorder;
* **Left out**: files taken out, each with "bring back".

The browser answers with small messages (``{"action": "remove" | "include" |
"move" | "include-all", "id": i, "before": j}``, ids index the scanned files);
the owner handles them through :attr:`FileList.on_action`. Strings are plain
text (the JS only assigns ``textContent``).
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import anywidget
import traitlets

from ...display.files import file_runs
from .canvas import _s

STATIC = pathlib.Path(__file__).resolve().parent / "static"
SCHEMA = "vz-filelist/1"
#: clean files in a row (ascending names) shown as one collapsed row from this many
MIN_RUN = 4
#: files listed under one pinned finding (the rest are counted)
PINNED_FILES = 6
#: pinned findings
PINNED_MAX = 12
#: longest name sent
MAX_NAME = 160


def file_list_payload(names: Sequence[str], order: Sequence[int], *, left_out: Iterable[int] = (),
                      findings: Sequence[Mapping[str, Any]] = (), unread: Sequence[str] = (),
                      busy: bool = False, message: str = "") -> dict:
    """The JSON the file list draws.

    ``names``: display name of every scanned file (index = id); ``order``: ids in
    the combine, in order; ``left_out``: ids taken out; ``findings``: dicts
    ``{"level": "error"|"warning", "code", "text", "fix", "ids": [...]}`` (files
    named by a check finding); ``unread``: one line per file that could not be
    read. Consecutive clean files whose names ascend become runs of at least
    :data:`MIN_RUN` files.
    """
    order = [int(i) for i in order]
    pos = {i: k for k, i in enumerate(order)}
    flag: dict[int, str] = {}
    pinned = []
    for f in findings:
        ids = [int(i) for i in f.get("ids", ()) if int(i) in pos]
        level = "error" if f.get("level") == "error" else "warning"
        for i in ids:
            if flag.get(i) != "error":
                flag[i] = level
        if len(pinned) < PINNED_MAX:
            pinned.append({"level": level, "code": _s(f.get("code", ""), 40), "text": _s(f.get("text", ""), 400),
                           "fix": _s(f.get("fix") or "", 300), "ids": ids[:PINNED_FILES],
                           "more": max(0, len(ids) - PINNED_FILES)})
    breaks = [pos[i] for i in flag]
    runs = [[r.start, r.stop] for r in file_runs([names[i] for i in order], breaks=breaks) if r.count >= MIN_RUN]
    return {
        "schema": SCHEMA,
        "names": [_s(n, MAX_NAME) for n in names],
        "order": order,
        "left_out": [int(i) for i in left_out],
        "flags": {str(i): lv for i, lv in flag.items()},
        "pinned": pinned,
        "pinned_more": max(0, len(findings) - PINNED_MAX),
        "unread": [_s(u, 400) for u in unread[:50]],
        "unread_more": max(0, len(unread) - 50),
        "runs": runs,
        "busy": bool(busy),
        "message": _s(message, 300),
    }


class FileList(anywidget.AnyWidget):
    """The scrollable file list of the combine widget (see the module docstring)."""

    _esm = STATIC / "filelist.js"
    _css = STATIC / "chunkmap.css"

    data = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        #: called with each message from the browser (a dict)
        self.on_action: Callable[[dict], None] | None = None
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and self.on_action is not None:
            self.on_action(content)
