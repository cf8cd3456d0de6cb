"""A child process for the concurrent-append tests.

``python _append_worker.py`` answers JSON commands on stdin, one per line:
``{"target", "files", "go"}`` -> prints ``{"ready": true}``, waits for the file
``go`` to exist (a start line shared by every worker), appends ``files`` along
``time`` and prints ``{"ok", "error"}``. Imports are done once, up front.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings


def main() -> None:
    warnings.simplefilter("ignore")
    import vz_jupyter as vz
    from vz_jupyter.core.errors import VZError

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        print(json.dumps({"ready": True}), flush=True)
        while not os.path.exists(cmd["go"]):
            time.sleep(0.0005)
        try:
            vz.append(cmd["target"], cmd["files"], dim="time")
            out = {"ok": True, "error": None}
        except VZError as e:
            out = {"ok": False, "error": str(e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
