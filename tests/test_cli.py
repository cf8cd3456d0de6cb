"""The `vz` command: exit codes, one-line errors naming the file, nothing written on failure."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import vz_jupyter as vz
from vz_jupyter.cli import main
from vz_jupyter.sample_data import make_daily_netcdf4, make_netcdf3


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    return make_daily_netcdf4(tmp_path_factory.mktemp("daily"), n_files=3)


def test_scan_writes_references_that_open_to_the_original(daily, tmp_path):
    out = tmp_path / "refs.json"
    code, stdout, err = run("scan", str(daily[0]), "-o", str(out))
    assert code == 0, err
    assert "wrote" in stdout and out.exists()
    refs = json.loads(out.read_text())
    assert refs["version"] == 1 and "air/.zarray" in refs["refs"]
    got = vz.open(out)
    with xr.open_dataset(daily[0]) as want:
        xr.testing.assert_identical(got.load(), want.load())


def test_scan_several_files_into_a_folder(daily, tmp_path):
    code, stdout, err = run("scan", *map(str, daily), "-o", str(tmp_path / "refs"))
    assert code == 0, err
    written = sorted(os.listdir(tmp_path / "refs"))
    assert written == sorted(p.stem + ".json" for p in daily)


def test_scan_several_files_into_one_json_is_a_usage_error(daily, tmp_path):
    code, _, err = run("scan", *map(str, daily), "-o", str(tmp_path / "one.json"))
    assert code == 2
    assert "folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "one.json").exists()


def test_existing_output_is_not_overwritten_without_asking(daily, tmp_path):
    out = tmp_path / "refs.json"
    out.write_text("precious")
    code, _, err = run("scan", str(daily[0]), "-o", str(out))
    assert code == 1
    assert str(out) in err and "already exists" in err
    assert out.read_text() == "precious"
    # --overwrite replaces only an earlier output of the same format
    code, _, err = run("scan", str(daily[0]), "-o", str(out), "--overwrite")
    assert code == 1 and "not replaced" in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == "precious"
    out.unlink()
    assert run("scan", str(daily[0]), "-o", str(out))[0] == 0
    code, _, err = run("scan", str(daily[1]), "-o", str(out))
    assert code == 1 and err.strip().endswith("pass --overwrite to replace it")
    code, _, err = run("scan", str(daily[1]), "-o", str(out), "--overwrite")
    assert code == 0, err
    assert json.loads(out.read_text())["version"] == 1


def _bad_inputs(tmp_path):
    rnd = tmp_path / "random.nc"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    good = make_daily_netcdf4(tmp_path / "g", n_files=1)[0]
    trunc = tmp_path / "truncated.nc"
    trunc.write_bytes(good.read_bytes()[:700])
    hdf4 = tmp_path / "old.hdf"
    hdf4.write_bytes(b"\x0e\x03\x13\x01" + b"\0" * 200)
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    return {
        "missing": (tmp_path / "nope.nc", "no such file"),
        "directory": (tmp_path, "directory"),
        "random bytes": (rnd, "not an HDF5"),
        "truncated": (trunc, ""),
        "hdf4": (hdf4, "HDF4"),
        "empty": (empty, "empty"),
    }


@pytest.mark.parametrize("kind", ["missing", "directory", "random bytes", "truncated", "hdf4", "empty"])
def test_bad_input_one_line_naming_the_file_and_nothing_written(tmp_path, kind):
    path, words = _bad_inputs(tmp_path)[kind]
    out = tmp_path / "out.json"
    code, stdout, err = run("scan", str(path), "-o", str(out))
    assert code == 1, (stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0]
    assert words.lower() in lines[0].lower()
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".vz-")]


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["scan"], ["scan", "x.nc", "--bogus"], ["check", "x.nc"]])
def test_usage_errors_exit_2(argv):
    code, _, err = run(*argv)
    assert code == 2


def test_info_describes_references(daily, tmp_path):
    out = tmp_path / "refs.json"
    assert run("scan", str(daily[0]), "-o", str(out))[0] == 0
    code, stdout, err = run("info", str(out))
    assert code == 0, err
    for word in ("air", "time", "lat", "lon", "zlib", "shuffle", os.path.basename(daily[0])):
        assert word in stdout, word


def test_info_on_netcdf3(tmp_path):
    f = make_netcdf3(tmp_path / "p.nc")
    code, stdout, err = run("info", str(f))
    assert code == 0, err
    assert "precip" in stdout and "orography" in stdout


def test_console_script_runs(daily, tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "vz")
    if not os.path.exists(exe):
        pytest.skip("vz console script not installed in this environment")
    r = subprocess.run([exe, "scan", str(daily[0]), "-o", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([exe, "scan", str(tmp_path / "missing.nc")], capture_output=True, text=True)
    assert r.returncode == 1 and "missing.nc" in r.stderr and "Traceback" not in r.stderr


def test_plan_prints_summary_and_bad_selections_are_usage_errors(tmp_path):
    f = make_netcdf3(tmp_path / "p.nc")
    refs = tmp_path / "p.json"
    assert run("scan", str(f), "-o", str(refs))[0] == 0
    code, stdout, err = run("plan", str(refs), "precip[0:3, 5:10, 7]", "--execute")
    assert code == 0, err
    assert "bytes to read" in stdout and "precip" in stdout and "executed" in stdout
    code, _, err = run("plan", str(refs), "precip[0:3")
    assert code == 2 and "precip[0:3" in err
    code, _, err = run("plan", str(refs), "nope[0]")
    assert code == 2 and "nope" in err


def test_check_and_combine_exit_codes(tmp_path):
    good = make_daily_netcdf4(tmp_path / "good", n_files=3)
    out = tmp_path / "all.json"
    code, stdout, err = run("check", *map(str, good), "--dim", "time")
    assert code == 0, stdout + err
    code, stdout, err = run("combine", *map(str, good), "--dim", "time", "-o", str(out))
    assert code == 0, stdout + err
    with xr.open_mfdataset(good, combine="nested", concat_dim="time") as want:
        xr.testing.assert_allclose(vz.open(out).load(), want.load())
    bad = make_daily_netcdf4(tmp_path / "bad", n_files=2, start_day=10, scale_factor=None)
    import netCDF4
    with netCDF4.Dataset(bad[1], "a") as nc:
        nc["air"].scale_factor = 0.5
    out2 = tmp_path / "bad.json"
    code, stdout, err = run("combine", *map(str, bad), "--dim", "time", "-o", str(out2))
    assert code == 1
    assert os.path.basename(bad[1]) in stdout and "scale" in stdout
    assert not out2.exists()
    code, stdout, _ = run("check", *map(str, bad), "--dim", "time")
    assert code == 1 and os.path.basename(bad[1]) in stdout
