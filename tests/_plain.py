"""Read references the way a colleague does: plain xarray + zarr + fsspec (and
icechunk) in a fresh Python process that never imports vz_jupyter, with
xarray's defaults. Used by the portability tests and tools/portable_table.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys

#: the reader: one process for many (references, kind) pairs; values go to .npy files
READER = r'''
import json, os, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import xarray as xr

jobs = json.loads(sys.argv[1])
out = {}

def icechunk_store(path):
    import icechunk as ic
    storage = ic.local_filesystem_storage(path)
    repo = ic.Repository.open(storage)
    prefixes = [c.url_prefix for c in (repo.config.virtual_chunk_containers or {}).values()]
    creds = ic.containers_credentials({p: None for p in prefixes}) if prefixes else None
    repo = ic.Repository.open(storage, authorize_virtual_chunk_access=creds)
    return repo.readonly_session(branch="main").store

for job in jobs:
    ref, kind, decode, dest = job["ref"], job["kind"], job["decode"], job["dest"]
    kw = {} if decode else dict(decode_cf=False, mask_and_scale=False, decode_times=False)
    res = {}
    try:
        if kind == "original":  # what xr.open_dataset(original) shows (netCDF4, else h5netcdf)
            ds = None
            for eng in ("netcdf4", "h5netcdf"):
                try:
                    ds = xr.open_dataset(ref, engine=eng, **kw)
                    break
                except Exception:
                    if eng == "h5netcdf":
                        raise
        elif kind == "icechunk":
            ds = xr.open_zarr(icechunk_store(ref), consolidated=False, zarr_format=3, chunks=None, **kw)
        else:
            ds = xr.open_dataset("reference://", engine="zarr",
                                 backend_kwargs={"consolidated": False, "storage_options": {"fo": ref}}, **kw)
        os.makedirs(dest, exist_ok=True)
        for i, name in enumerate(ds.variables):
            try:
                a = np.asarray(ds[name].values)
                f = os.path.join(dest, f"{i}.npy")
                np.save(f, a, allow_pickle=a.dtype.kind == "O")
                res[name] = {"file": f, "attrs": {k: repr(v) for k, v in ds[name].attrs.items()}}
            except Exception as e:
                res[name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    except Exception as e:
        res = {"__open__": {"error": f"{type(e).__name__}: {str(e)[:200]}"}}
    out[dest] = res
out["__modules__"] = sorted(m for m in sys.modules if m.split(".")[0] in ("vz_jupyter",))
print(json.dumps(out))
'''


def read_plain(jobs: list[dict], timeout: float = 300, env_extra: dict | None = None) -> dict:
    """Run the plain reader on ``jobs`` (dicts with ``ref``, ``kind`` = json |
    parquet | icechunk, ``decode`` bool and ``dest`` folder for the values).
    ``kind="original"`` reads a source file instead (run it with
    :func:`original_env` so netCDF-C finds the LZ4/bitshuffle plugins).
    Returns ``{dest: {variable: {"file": npy} | {"error": text}}}``; raises when
    the reader process imported vz_jupyter."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra or {})
    r = subprocess.run(
        [sys.executable, "-c", READER, json.dumps(jobs)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=os.path.dirname(jobs[0]["dest"]) if jobs else None,
    )
    if r.returncode:
        raise RuntimeError(f"plain reader failed: {r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    mods = out.pop("__modules__")
    if mods:
        raise AssertionError(f"the plain reader imported {mods}")
    return out


def original_env() -> dict:
    """netCDF4's wheels carry no LZ4/bitshuffle filter plugins: point netCDF-C at
    hdf5plugin's, so the original files can be read to compare against."""
    import hdf5plugin

    return {"HDF5_PLUGIN_PATH": hdf5plugin.PLUGINS_PATH}
