"""The scanners' package layout: budgets in one place (core.limits), the old
knobs on ``vz_jupyter.core.scan`` still working, no scanner importing the
dispatch package."""
from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

import vz_jupyter.core.scan as scanpkg
from vz_jupyter.core import limits
from vz_jupyter.core.errors import SkippedVariableWarning
from vz_jupyter.core.scan import scan_file


def test_old_budget_knobs_read_and_set_core_limits(tmp_path, monkeypatch):
    assert scanpkg.MAX_CHUNKS == limits.MAX_CHUNKS and scanpkg.MAX_GRID == limits.MAX_GRID
    from vz_jupyter.core.scan import MAX_GRID  # noqa: F401  (still importable by name)

    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100.0), chunks=(1,))
    monkeypatch.setattr(scanpkg, "MAX_CHUNKS", 50)  # set where it used to live ...
    assert limits.MAX_CHUNKS == 50  # ... lands in its one place
    with pytest.warns(SkippedVariableWarning, match=r"vz_jupyter\.core\.limits\.MAX_CHUNKS"):
        ds = scan_file(str(path))
    assert "x" not in ds.variables
    monkeypatch.undo()
    assert limits.MAX_CHUNKS == 1 << 25
    assert scan_file(str(path))["x"].manifest.n_referenced == 100


def test_scanners_load_without_the_dispatch_package_first():
    """Each scanner module imports on its own (no cycle through scan/__init__)."""
    for mod in ("vz_jupyter.core.scan.hdf5", "vz_jupyter.core.scan.netcdf3", "vz_jupyter.core.scan.refs",
                "vz_jupyter.core.scan.files", "vz_jupyter.core.access"):
        code = f"import sys; import {mod}; print('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "ok", (mod, out.stderr[-2000:])
