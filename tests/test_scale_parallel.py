"""Scanning with many workers: a dask cluster, any concurrent.futures executor,
worker processes for local files -- the same result as a serial scan, in input
order; files that cannot be read listed on ``failed``; progress where it fits."""
from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _latency_server import latency_server

import vz_jupyter as vz
from vz_jupyter.core.errors import ScanError, SkippedFileWarning
from vz_jupyter.core.model import FileFailure, VDatasetList
from vz_jupyter.sample_data import make_daily_netcdf4


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import h5py

    folder = tmp_path_factory.mktemp("par")
    paths = [str(p) for p in make_daily_netcdf4(folder, n_files=6, nt=3)]
    vlen = folder / "strings.h5"  # variable-length strings: the local scan forks its HDF5 watchdog
    with h5py.File(vlen, "w") as f:
        f["names"] = np.array(["alpha", "beta", "gamma"], dtype=h5py.string_dtype())
        f["x"] = np.arange(12, dtype="f8")
    bad = folder / "bad.nc"
    bad.write_bytes(b"CDF\x01" + b"\xff" * 20)
    return paths + [str(vlen)], str(bad)


def assert_same_list(a, b) -> None:
    assert [d.sources[0].path for d in a] == [d.sources[0].path for d in b]
    for x, y in zip(a, b):
        assert list(x.variables) == list(y.variables)
        assert x.attrs.keys() == y.attrs.keys() and x.sources == y.sources and x.skipped == y.skipped
        for n in x.variables:
            assert x[n].manifest.equals(y[n].manifest), n
            assert (x[n].codecs, x[n].dims, x[n].shape) == (y[n].codecs, y[n].dims, y[n].shape)


def test_dask_cluster_scans_like_a_serial_scan(dask_client, files):
    paths, bad = files
    serial = vz.scan(paths)
    assert_same_list(serial, vz.scan(paths, executor=dask_client))
    # a broken file: the same failure table as a serial scan, still in input order
    mixed = [paths[0], bad, *paths[1:]]
    want = vz.scan(mixed, errors="skip")
    got = vz.scan(mixed, executor=dask_client, errors="skip")
    assert_same_list(want, got)
    assert got.failed == want.failed and [f.path for f in got.failed] == [bad]
    with pytest.raises(ScanError, match="bad.nc"):
        vz.scan(mixed, executor=dask_client)


def test_dask_cluster_scans_urls(dask_client, files):
    paths, _ = files
    folder = Path(paths[0]).parent
    with latency_server(folder) as srv:
        urls = [f"{srv.url}/{Path(p).name}" for p in paths[:4]]
        assert_same_list(vz.scan(urls), vz.scan(urls, executor=dask_client))


@pytest.mark.parametrize("make", [lambda: ThreadPoolExecutor(3), lambda: ProcessPoolExecutor(2)],
                         ids=["threads", "processes"])
def test_any_executor_gives_the_serial_result(files, make):
    paths, bad = files
    serial = vz.scan(paths)
    with make() as ex:
        assert_same_list(serial, vz.scan(paths, executor=ex))
        got = vz.scan([bad, *paths], executor=ex, errors="skip")
    assert_same_list(serial, got)
    assert [f.path for f in got.failed] == [bad]


def test_local_files_in_worker_processes(files):
    paths, bad = files
    serial = vz.scan(paths)
    assert_same_list(serial, vz.scan(paths, jobs=2))
    with pytest.warns(SkippedFileWarning, match="bad.nc"):
        got = vz.scan([*paths, bad], jobs=2, errors="warn")
    assert_same_list(serial, got)
    for bad_jobs in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="jobs must be"):
            vz.scan(paths, jobs=bad_jobs)


def test_failed_table_survives_pickling_and_shows_escaped(files, tmp_path):
    paths, _ = files
    hostile = tmp_path / "<img src=x onerror=alert(1)>.nc"
    hostile.write_bytes(b"not netcdf")
    got = vz.scan([paths[0], str(hostile)], errors="skip")
    assert got.failed == (FileFailure(str(hostile), "not an HDF5, NetCDF or kerchunk reference file "
                                                    "(unrecognised leading bytes)", "ScanError"),)
    again = pickle.loads(pickle.dumps(got))
    assert isinstance(again, VDatasetList) and again.failed == got.failed and len(again) == 1
    html = got._repr_html_()
    assert "<img" not in html and "&lt;img" in html and "1 file not read" in html
    assert "1 file not read:" in repr(got)
    assert VDatasetList([]).failed == ()


def test_progress_callback_counts_every_file(files):
    paths, bad = files
    calls = []
    vz.scan([*paths, bad], progress=lambda done, total, path: calls.append((done, total, path)), errors="skip")
    assert [c[0] for c in calls] == list(range(1, len(paths) + 2))
    assert {c[1] for c in calls} == {len(paths) + 1}
    assert sorted(c[2] for c in calls) == sorted([*paths, bad])
    with pytest.raises(TypeError, match="progress must be"):
        vz.scan(paths, progress="yes")


def test_progress_bar_only_when_someone_watches(files, capsys, monkeypatch):
    from vz_jupyter.jupyter import progress

    paths, _ = files
    monkeypatch.setattr(progress, "DELAY", 0)
    vz.scan(paths)  # pytest captures stderr: not a terminal, so no bar
    assert capsys.readouterr().err == ""
    vz.scan(paths, progress=True)
    err = capsys.readouterr().err
    assert f"{len(paths)}/{len(paths)}" in err and "scanning" in err
    vz.scan(paths, progress=False)
    assert capsys.readouterr().err == ""


def test_cli_jobs_and_failures(files, tmp_path):
    paths, bad = files
    vz_cmd = [sys.executable, "-m", "vz_jupyter.cli"]
    r = subprocess.run([*vz_cmd, "scan", *paths[:3], bad, "--jobs", "2", "--errors", "skip", "-o", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrote 3 reference files" in r.stdout and f"1 file not read:\n  {bad}: " in r.stdout
    assert r.stderr == ""  # not a terminal: no progress bar
    r = subprocess.run([*vz_cmd, "scan", paths[0], "--jobs", "0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--jobs must be at least 1" in r.stderr
    r = subprocess.run([*vz_cmd, "info", paths[0], bad, "--errors", "skip"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "1 file not read:" in r.stdout


def test_a_script_with_jobs_runs_under_its_main_guard(files, tmp_path):
    paths, _ = files
    script = tmp_path / "s.py"
    script.write_text("import sys, vz_jupyter as vz\n"
                      "if __name__ == '__main__':\n"
                      f"    print(len(vz.scan({paths!r}, jobs=2)))\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(len(paths))


def test_no_warning_noise_from_a_parallel_scan(files):
    paths, _ = files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vz.scan(paths[:-1], jobs=2)
