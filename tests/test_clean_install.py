"""``pip install .`` with no extras runs the README's whole workflow (scan, sort,
check, concat, write, open, plan; the ``vz`` CLI too) in a fresh virtual
environment, and a second process there opens the references without importing
vz_jupyter.

The venv is built once per dependency set in ``$VZ_CLEAN_VENV_CACHE`` (default
``~/.cache/vz_jupyter/clean-venv``; pip's own wheel cache makes rebuilding quick):
only the declared dependencies are installed, then the project itself (no
extras, not editable) freshly on every run. ``VZ_SKIP_CLEAN_INSTALL=1`` skips."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.environ.get("VZ_SKIP_CLEAN_INSTALL") == "1", reason="VZ_SKIP_CLEAN_INSTALL=1")

WORKFLOW = r'''
import glob, json, os, subprocess, sys, warnings
import numpy as np
import vz_jupyter as vz

src = sys.argv[1]
files = sorted(glob.glob(os.path.join(src, "*.nc")))
dsets = vz.scan(os.path.join(src, "*.nc"))
repr(dsets); dsets._repr_html_()
dsets = vz.sort(dsets, by="time")
assert [os.path.basename(d.sources[0].path) for d in dsets] == ["a.nc", "b.nc", "c.nc"], dsets
report = vz.check(dsets, dim="time")
assert not report.has_errors, report
combined = vz.concat(dsets, dim="time")
out = {}
for name in ("archive.json", "archive.parquet"):
    target = os.path.join(src, "..", name)
    vz.write(combined, target)
    ds = vz.open(target)
    out[name] = {n: ds[n].values.tolist() for n in ("air", "time_bnds")}
    out[name]["time"] = [str(t) for t in ds["time"].values]
plan = combined.plan("air[0:4, 1]")
vals = plan.execute()
out["plan"] = np.asarray(vals).tolist()
out["mean"] = float(np.asarray(plan.reduce("mean")))
bad = set(sys.modules) & {"netCDF4", "icechunk", "kerchunk", "jupyterlab", "ipykernel", "dask", "scipy"}
assert not bad, bad
# the CLI, as installed
vzcli = os.path.join(os.path.dirname(sys.executable), "vz")
r = subprocess.run([vzcli, "info", os.path.join(src, "..", "archive.json")], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
r = subprocess.run([vzcli, "combine", *files, "--dim", "time", "--by", "time", "-o", os.path.join(src, "..", "cli.json")],
                   capture_output=True, text=True)
assert r.returncode == 0, r.stdout + r.stderr
print(json.dumps(out))
'''

PLAIN = r'''
import json, sys, xarray as xr
ds = xr.open_dataset("reference://", engine="zarr", backend_kwargs={"consolidated": False, "storage_options": {"fo": sys.argv[1]}})
assert not [m for m in sys.modules if m.startswith("vz_jupyter")]
print(json.dumps(ds["air"].values.tolist()))
'''


def _deps() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def _clean_venv() -> Path:
    deps = _deps()
    key = hashlib.sha256("\n".join(deps + [sys.version]).encode()).hexdigest()[:12]
    base = Path(os.environ.get("VZ_CLEAN_VENV_CACHE", Path.home() / ".cache" / "vz_jupyter" / "clean-venv"))
    vdir = base / key
    py = vdir / "bin" / "python"
    if not (vdir / ".ready").exists():
        shutil.rmtree(vdir, ignore_errors=True)
        vdir.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(vdir)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", *deps], capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr[-2000:]
        (vdir / ".ready").write_text("\n".join(deps))
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return vdir


def test_pip_install_without_extras_runs_the_workflow(tmp_path):
    import json

    from test_cf_bounds import _file  # netCDF4 writes the files here, not in the clean venv

    src = tmp_path / "archive"
    src.mkdir()
    # written out of order, with per-file time units: sort, check and concat have work to do
    _file(src / "c.nc", 6, "1999-12-01", with_valid=False)
    _file(src / "a.nc", 0, "2000-01-01", with_valid=False)
    _file(src / "b.nc", 3, "2000-01-04", with_valid=False)
    vdir = _clean_venv()
    py = str(vdir / "bin" / "python")
    listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert "vz_jupyter" in names or "vz-jupyter" in names
    assert not names & {"netcdf4", "icechunk", "kerchunk", "jupyterlab", "python-lzf", "pytest"}, names
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run([py, "-c", WORKFLOW, str(src)], capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    import numpy as np

    for name in ("archive.json", "archive.parquet"):
        got = np.asarray(out[name]["air"])
        np.testing.assert_array_equal(got[:, 0], [0, 2, 4, 3, 5, 7, 6, 8, 10])
        # b.nc's first bounds, stored in its own units, read in the first file's
        exp = np.array(["2000-01-03T12", "2000-01-04T12"], "datetime64[ns]").astype("int64")
        np.testing.assert_array_equal(np.asarray(out[name]["time_bnds"])[3], exp)
        assert out[name]["time"][3].startswith("2000-01-04")
    np.testing.assert_array_equal(out["plan"], [1, 3, 5, 4])
    assert out["mean"] == 3.25
    r = subprocess.run([py, "-c", PLAIN, str(tmp_path / "archive.json")], capture_output=True, text=True, timeout=300,
                       env=env, cwd="/")
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_array_equal(np.asarray(json.loads(r.stdout))[:, 0], [0, 2, 4, 3, 5, 7, 6, 8, 10])
