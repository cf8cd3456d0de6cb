"""Child processes for the writer's race, signal and full-disk tests.

``python _write_worker.py serve N``
    builds a dataset of N chunks, then answers JSON commands on stdin, one per
    line: ``{"target", "fmt", "overwrite", "go", "tag", "rename2"}`` -> waits
    for the file ``go`` to exist (a start line shared by every worker), writes,
    and prints ``{"ok", "error", "t0", "t1", "reached_place"}``.
``python _write_worker.py pause TARGET FMT N WHERE [overwrite] [handler]``
    writes a dataset of N chunks to TARGET and stops at WHERE ("fill": the
    output half built; "place": just before it is moved into place), creating
    ``TARGET.ready`` and sleeping there (60 s) so the test can signal it.
``python _write_worker.py once TARGET FMT N [overwrite]``
    writes once; prints the WriteError and exits 3 when refused (used under
    RLIMIT_FSIZE).
``python _write_worker.py fulldisk DIR FMT N``
    in DIR (a tiny file system): writes a small earlier output, then tries a
    new big output and a big overwrite of the small one; prints JSON with the
    errors and hash trees of DIR before and after.

The ready file of ``pause`` is ``$VZ_READY``.

The dataset: one int32 variable ``a`` of N chunks of 4 values in ``DATA``
(``$VZ_TEST_DATA``), its chunk i holding 4*i .. 4*i+3.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np


def dataset(n: int, tag: int = 0):
    from vz_jupyter.core.model import Manifest, Source, VArray, VDataset

    src = os.environ["VZ_TEST_DATA"]
    m = Manifest((src,), np.zeros(n, np.uint32), np.arange(n, dtype=np.uint64) * 16, np.full(n, 16, np.uint64))
    v = VArray("a", ("x",), (4 * n,), np.dtype("<i4"), (4,), (), 0, {"tag": tag}, m)
    return VDataset({"a": v}, sources=(Source(src),))


def make_data(path: str, n: int) -> None:
    with open(path, "wb") as f:
        f.write(np.arange(4 * n, dtype="<i4").tobytes())


def serve(n: int) -> None:
    import vz_jupyter as vz
    from vz_jupyter.core.errors import WriteError

    try:
        from vz_jupyter.core.serialize import atomic
    except ImportError:  # an older writer, measured for comparison
        atomic = None
    state = {"reached": False}
    if atomic is not None:
        real_place = atomic._place

        def spy(*a, **k):
            state["reached"] = True
            return real_place(*a, **k)

        atomic._place = spy
    base = dataset(n)
    for line in sys.stdin:
        cmd = json.loads(line)
        if atomic is not None:
            atomic.USE_RENAME2 = cmd.get("rename2", True)
        ds = base.with_variable(base["a"].replace(attrs={"tag": cmd["tag"]}))
        state["reached"] = False
        while not os.path.exists(cmd["go"]):
            time.sleep(0.0001)
        t0 = time.monotonic()
        try:
            vz.write(ds, cmd["target"], format=cmd["fmt"], overwrite=cmd["overwrite"])
            res = {"ok": True, "error": None}
        except WriteError as e:
            res = {"ok": False, "error": str(e)}
        res.update(t0=t0, t1=time.monotonic(), reached_place=state["reached"])
        print(json.dumps(res), flush=True)


def _pause(ready: str) -> None:
    with open(ready, "w"):
        pass
    time.sleep(60)


def pause(target: str, fmt: str, n: int, where: str, *flags: str) -> None:
    import vz_jupyter as vz
    import vz_jupyter.core.serialize as ser
    from vz_jupyter.core.errors import WriteError
    from vz_jupyter.core.serialize import atomic, icechunk, kerchunk_parquet

    ready = os.environ["VZ_READY"]
    if "handler" in flags:  # a handler of the user's that does not exit
        signal.signal(signal.SIGTERM, lambda s, f: print("user handler ran", flush=True))
    if where == "fill":
        if fmt == "kerchunk-json":
            def slow_file(path, data):
                with open(path, "wb") as f:
                    f.write(data[: len(data) // 2])
                _pause(ready)

            ser.write_file = slow_file
        elif fmt == "kerchunk-parquet":
            real = kerchunk_parquet.write_parquet_dir

            def slow_dir(tables, path):
                real(tables, path)
                _pause(ready)

            kerchunk_parquet.write_parquet_dir = slow_dir
        else:
            real_repo = icechunk._write_repo

            def slow_repo(*a, **k):
                real_repo(*a, **k)
                _pause(ready)

            icechunk._write_repo = slow_repo
    else:
        real_place = atomic._place

        def slow_place(*a, **k):
            with open(ready, "w"):
                pass
            time.sleep(1)  # signals arriving now wait for the placement to finish
            return real_place(*a, **k)

        atomic._place = slow_place
    try:
        vz.write(dataset(n, tag=2), target, format=fmt, overwrite="overwrite" in flags)
    except WriteError as e:
        print(e, flush=True)
        sys.exit(3)
    print("written", flush=True)


def once(target: str, fmt: str, n: int, *flags: str) -> None:
    import vz_jupyter as vz
    from vz_jupyter.core.errors import WriteError

    try:
        vz.write(dataset(n, tag=2), target, format=fmt, overwrite="overwrite" in flags)
    except WriteError as e:
        print(e, flush=True)
        sys.exit(3)
    print("written", flush=True)


def _tree(root: str) -> dict:
    import hashlib

    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            out[rel] = hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p) else "dir"
    return out


def fulldisk(folder: str, fmt: str, n: int) -> None:
    import vz_jupyter as vz
    from vz_jupyter.core.errors import WriteError

    ext = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}[fmt]
    old = os.path.join(folder, "old" + ext)
    vz.write(dataset(2, tag=1), old, format=fmt)
    before = _tree(folder)
    errors = []
    for target, overwrite in ((os.path.join(folder, "new" + ext), False), (old, True)):
        try:
            vz.write(dataset(n, tag=2), target, format=fmt, overwrite=overwrite)
            errors.append(None)
        except WriteError as e:
            errors.append(str(e))
    after = _tree(folder)
    tag = vz.open(old, decode=False)["a"].attrs.get("tag")
    print(json.dumps({"errors": errors, "before": before, "after": after, "old_tag": int(tag)}), flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "serve":
        serve(int(args[0]))
    elif mode == "pause":
        pause(args[0], args[1], int(args[2]), args[3], *args[4:])
    elif mode == "once":
        once(args[0], args[1], int(args[2]), *args[3:])
    elif mode == "fulldisk":
        fulldisk(args[0], args[1], int(args[2]))
    else:  # pragma: no cover
        sys.exit(f"unknown mode {mode}")
