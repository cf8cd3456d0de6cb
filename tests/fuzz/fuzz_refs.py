"""Fuzz target: kerchunk JSON references (bytes -> loader -> planner ->
executor -> the validation vz.open runs). Handled: VZError (one line)."""
from __future__ import annotations

import json
import os
import tempfile

from vz_jupyter.core.errors import VZError

_DIR = tempfile.mkdtemp(prefix="vz-fuzz-refs-")
DATA = os.path.join(_DIR, "data.bin")


def _seeds() -> list[bytes]:
    from _hostile_refs import base_refs

    base = base_refs(DATA)
    out = [json.dumps(base).encode()]
    small = {"version": 1, "refs": {".zgroup": '{"zarr_format": 2}',
                                     "v/.zarray": '{"shape": [4], "chunks": [2], "dtype": "<i2", "compressor": null, '
                                                  '"filters": null, "fill_value": 0, "order": "C", "zarr_format": 2}',
                                     "v/0": "base64:AAABAA==", "v/1": [DATA, 0, 4]}}
    out.append(json.dumps(small).encode())
    gen = dict(small, gen=[{"key": "v/{{i}}", "url": DATA, "offset": "{{i * 4}}", "length": "4",
                            "dimensions": {"i": {"stop": 2}}}])
    del gen["refs"]["v/0"], gen["refs"]["v/1"]
    out.append(json.dumps(gen).encode())
    return out


def setup() -> None:
    import numpy as np

    with open(DATA, "wb") as f:
        f.write((np.arange(8, dtype="<i4") * 3 + 1).tobytes())


def __getattr__(name):
    if name == "SEEDS":
        return _seeds()
    raise AttributeError(name)


def test_one_input(data: bytes) -> None:
    from vz_jupyter.core.opening import validate_references
    from vz_jupyter.core.plan import plan
    from vz_jupyter.core.scan.refs import loads_json, scan_refs

    if not os.path.exists(DATA):
        setup()
    try:
        refs = loads_json(data, "fuzz.json")
        if not isinstance(refs, dict):
            return
        ds = scan_refs(refs)
        for name in ds.variables:
            try:
                plan(ds, name).execute()
            except VZError:
                pass
        validate_references(refs, "fuzz.json")
    except VZError:
        pass
