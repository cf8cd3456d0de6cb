"""vz_jupyter: virtual Zarr datasets over HDF5/NetCDF files, previewed in JupyterLab."""
from __future__ import annotations

__version__ = "0.1.0"

# Register the HDF5 plugin filters (blosc, zstd, lz4, bitshuffle) with h5py's HDF5 now:
# netCDF4's wheels bundle their own filter plugins, and once netCDF4 has been imported
# first, creating or reading blosc datasets through h5py fails in the plugin's callback.
import hdf5plugin as _hdf5plugin  # noqa: F401,E402

from .core.errors import CheckFailed, ScanError, VZError, WriteError
from .core.model import Manifest, Source, VArray, VDataset, VDatasetList
from .core.opening import open
from .core.scan import scan, scan_file
from .core.serialize import serialize, write
from .core.sort import sort
from .core.check import Finding, Report, check
from .core.concat import combine, combine_nested, concat, merge, stack
from .core.plan import ReadPlan, plan


def load_ipython_extension(ipython):  # pragma: no cover - exercised through IPython
    from .jupyter.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover
    from .jupyter.magics import unload_ipython_extension as _unload

    _unload(ipython)


def __getattr__(name):
    # the combine widget needs ipywidgets/anywidget: import it only when asked for
    if name == "CombineWidget":
        from .jupyter.widgets.combine import CombineWidget

        return CombineWidget
    raise AttributeError(f"module 'vz_jupyter' has no attribute {name!r}")
