"""%vz in a real IPython shell: routing, rich return values, UsageErrors."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from vz_jupyter.core.model import VDataset, VDatasetList
from vz_jupyter.sample_data import make_daily_netcdf4


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "vz_jupyter")
    yield shell


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_daily_netcdf4(tmp_path_factory.mktemp("m"), n_files=2)


def test_load_ext_registers_vz_and_config(ip):
    assert "vz" in ip.magics_manager.magics["line"]
    assert any(type(c).__name__ == "VzMagics" for c in ip.configurables)


def test_scan_returns_rich_datasets_and_stores_name(ip, files):
    folder = files[0].parent
    res = ip.run_line_magic("vz", f"scan {folder}/*.nc -o ds")
    assert isinstance(res, VDatasetList) and len(res) == 2
    assert ip.user_ns["ds"] is res
    assert all(isinstance(d, VDataset) for d in res)
    html = res._repr_html_()
    assert "air" in html and "<svg" in html


def test_write_then_open(ip, files, tmp_path):
    ip.run_line_magic("vz", f"scan {files[0]} -o one")
    target = tmp_path / "refs.json"
    ip.run_line_magic("vz", f"write one {target}")
    assert target.exists()
    got = ip.run_line_magic("vz", f"open {target} -o xds")
    assert ip.user_ns["xds"] is got
    with xr.open_dataset(files[0]) as want:
        np.testing.assert_array_equal(got["air"].values, want["air"].values)


def test_write_refuses_existing_target(ip, files, tmp_path):
    ip.run_line_magic("vz", f"scan {files[0]} -o one")
    target = tmp_path / "r.json"
    target.write_text("keep")
    with pytest.raises(UsageError, match="already exists"):
        ip.run_line_magic("vz", f"write one {target}")
    assert target.read_text() == "keep"


@pytest.mark.parametrize("line, words", [
    ("scan", "paths"),
    ("frobnicate", "invalid choice"),
    ("scan /definitely/not/here.nc", "no such file"),
    ("write nothing_named_this out.json", "no variable"),
    ("scan x.nc -o 1bad", ""),
])
def test_mistakes_are_one_line_usage_errors(ip, line, words):
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vz", line)
    msg = str(e.value)
    assert "\n" not in msg.strip()
    assert words in msg


def test_help_prints(ip, capsys):
    assert ip.run_line_magic("vz", "help") is None
    assert "%vz scan" in capsys.readouterr().out
