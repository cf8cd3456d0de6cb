"""Interplay of h5py, hdf5plugin and netCDF4 wheels that each bundle an HDF5."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    {first}
    import vz_jupyter as vz
    import h5py, hdf5plugin, netCDF4
    path = sys.argv[1]
    with h5py.File(path, "w") as f:
        f.create_dataset("b", data=np.arange(4096, dtype="u2").reshape(64, 64), chunks=(16, 16),
                         **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    ds = vz.scan(path)[0]
    got = vz.open(ds)["b"].values
    assert (got == np.arange(4096).reshape(64, 64)).all()
    print("ok")
    """
)


@pytest.mark.parametrize("first", ["", "import netCDF4"])
def test_blosc_works_whatever_netcdf4_did_to_the_plugin_path(tmp_path, first):
    import netCDF4  # noqa: F401  (sets HDF5_PLUGIN_PATH to its bundled plugins, as in a kernel's parent)

    nc_plugins = os.path.join(os.path.dirname(netCDF4.__file__), "plugins")
    if not os.path.isdir(nc_plugins):
        pytest.skip("this netCDF4 build bundles no plugins")
    env = dict(os.environ, HDF5_PLUGIN_PATH=nc_plugins)
    r = subprocess.run([sys.executable, "-c", SCRIPT.format(first=first), str(tmp_path / "b.h5")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
