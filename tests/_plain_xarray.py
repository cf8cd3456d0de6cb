"""Open references the way a colleague does: plain xarray + zarr + fsspec in a
fresh interpreter that never imports vz_jupyter (xarray's defaults, CF decoding
on). Values come back through an ``.npz`` file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

_SCRIPT = r"""
import json, sys
import numpy as np
import xarray as xr
refs, out, decode = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
ds = xr.open_dataset("reference://", engine="zarr", decode_cf=decode,
                     backend_kwargs={"consolidated": False, "storage_options": {"fo": refs}})
arrays, meta = {}, {}
for i, (name, var) in enumerate(ds.variables.items()):
    arrays[f"v{i}"] = np.asarray(var.values)
    meta[name] = {"key": f"v{i}", "dims": list(var.dims)}
np.savez(out, **arrays)
assert "vz_jupyter" not in sys.modules, "the plain reader imported vz_jupyter"
print(json.dumps(meta))
"""


def plain_xarray(refs: str | Path, tmp_path: Path, decode: bool = True) -> dict[str, tuple[tuple, np.ndarray]]:
    """``{name: (dims, values)}`` of every variable of the references."""
    out = Path(tmp_path) / f"plain-{Path(refs).name}-{int(decode)}.npz"
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(refs), str(out), "1" if decode else "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads(r.stdout.strip().splitlines()[-1])
    with np.load(out, allow_pickle=True) as z:
        return {n: (tuple(m["dims"]), z[m["key"]]) for n, m in meta.items()}
