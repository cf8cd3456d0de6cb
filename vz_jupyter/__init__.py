"""vz_jupyter: virtual Zarr datasets over HDF5/NetCDF files, previewed in JupyterLab."""
from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:
    __version__ = _version("vz_jupyter")  # pyproject.toml holds the only literal
except _NotInstalled:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    # read and combine
    "scan", "scan_file", "sort", "check", "concat", "combine", "combine_nested", "merge", "stack", "append",
    # write and open
    "serialize", "write", "open",
    # plan reads
    "plan", "ReadPlan", "ReadOptions", "CostModel",
    # staleness
    "verify", "VerifyReport",
    # the data model and the reports
    "VDataset", "VDatasetList", "VArray", "Manifest", "Source", "Report", "Finding", "AppendReport", "FileFailure",
    # errors
    "VZError", "ScanError", "WriteError", "CheckFailed", "TargetExists",
    # the notebook side
    "CombineWidget", "load_ipython_extension", "unload_ipython_extension",
]


def _init_hdf5_filters() -> None:
    """Register hdf5plugin's filters (blosc, zstd, lz4, bitshuffle) with h5py's HDF5.

    netCDF4's wheels bundle filter plugins built against *their* HDF5 and, on import,
    point ``HDF5_PLUGIN_PATH`` at them; child processes (Jupyter kernels) inherit it.
    If h5py's HDF5 starts with that path, it loads those foreign plugins instead of
    hdf5plugin's and blosc datasets fail with "error during user callback". So h5py
    is initialised with the variable hidden, and the variable is put back for netCDF4.
    """
    hidden = None
    path = os.environ.get("HDF5_PLUGIN_PATH", "")
    if "h5py" not in sys.modules and "netCDF4" in path.replace(os.sep, "/"):
        hidden = os.environ.pop("HDF5_PLUGIN_PATH")
    try:
        import h5py  # noqa: F401  (load order: with HDF5_PLUGIN_PATH hidden, see above)
        import hdf5plugin  # noqa: F401  (load order: as h5py)
    finally:
        if hidden is not None:
            os.environ["HDF5_PLUGIN_PATH"] = hidden


_init_hdf5_filters()

from . import display as _display  # noqa: F401,E402  (registers the renderers core objects use)
from .core import progress as _progress
from .core.append import AppendReport, append, check
from .core.check import Finding, Report
from .core.concat import combine, combine_nested, concat, merge, stack
from .core.errors import CheckFailed, ScanError, TargetExists, VZError, WriteError
from .core.model import (
    FileFailure,
    Manifest,
    Source,
    VArray,
    VDataset,
    VDatasetList,
    register_planner as _register_planner,
)
from .core.opening import open
from .core.plan import CostModel, ReadOptions, ReadPlan, plan
from .core.scan import scan, scan_file
from .core.serialize import serialize, write
from .core.sort import sort
from .core.verify import VerifyReport, verify
from .jupyter import progress as _bars  # light: tqdm is imported when a bar is made

_register_planner(plan)  # VDataset.plan works without an import of core.plan in core.model (no cycle)
_progress.register(_bars.default_bar)


def load_ipython_extension(ipython):  # pragma: no cover - exercised through IPython
    from .jupyter.magics import load_ipython_extension as _load  # heavy: IPython, only in a notebook

    _load(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover
    from .jupyter.magics import unload_ipython_extension as _unload  # heavy: IPython, only in a notebook

    _unload(ipython)


def __getattr__(name):
    # the combine widget needs ipywidgets/anywidget: import it only when asked for
    if name == "CombineWidget":
        from .jupyter.widgets.combine import CombineWidget  # heavy: ipywidgets/anywidget, on demand

        return CombineWidget
    raise AttributeError(f"module 'vz_jupyter' has no attribute {name!r}")
