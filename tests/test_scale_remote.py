"""Scanning remote archives: few requests per file, many files in flight, the
same datasets as a local scan -- over a loopback HTTP Range server that answers
like an object store, and over a loopback S3 API server (moto)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from _latency_server import latency_server
from _scale_fixtures import make_bucket

import vz_jupyter as vz
from vz_jupyter.core.errors import ScanError, SkippedFileWarning
from vz_jupyter.core.scan import fetch, remote_batch

N = 8


def make_archive_file(path: Path, day: int, *, nt: int = 8, ny: int = 48, nx: int = 96) -> Path:
    """A daily NetCDF4 file laid out like a real archive's: three chunked
    variables written one after the other, so netCDF-C puts each chunk index
    where that variable's data begins (metadata scattered through the file)."""
    import netCDF4

    rng = np.random.default_rng(day)
    with netCDF4.Dataset(path, "w") as nc:
        nc.title = "scale test archive"
        nc.createDimension("time", None)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2000-01-01"
        t[:] = day * 24 + np.arange(nt) * 3.0
        nc.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-80, 80, ny)
        nc.createVariable("lon", "f4", ("lon",))[:] = np.linspace(0, 355, nx)
        for name in ("air", "rhum", "uwnd"):
            v = nc.createVariable(name, "f4", ("time", "lat", "lon"), chunksizes=(1, ny, nx), zlib=(name == "air"))
            v.units = "1"
            v[:] = rng.normal(0, 1, (nt, ny, nx)).astype("f4")
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    return [make_archive_file(folder / f"day_{d:03d}.nc", d) for d in range(N)]


def same(a, b) -> None:
    """Two scans of the same file hold the same references and metadata."""
    assert list(a.variables) == list(b.variables)
    assert a.attrs == b.attrs and a.coords == b.coords
    for name, va in a.variables.items():
        vb = b[name]
        assert (va.dims, va.shape, va.chunks, va.dtype, va.codecs) == (vb.dims, vb.shape, vb.chunks, vb.dtype, vb.codecs)
        assert dict(va.attrs).keys() == dict(vb.attrs).keys(), name
        ma, mb = va.manifest, vb.manifest
        np.testing.assert_array_equal(ma.offset, mb.offset)
        np.testing.assert_array_equal(ma.length, mb.length)
        np.testing.assert_array_equal(ma.path_id, mb.path_id)
        assert dict(ma.inline) == dict(mb.inline), name


def test_remote_scan_equals_local_with_one_or_two_requests_per_file(archive):
    local = vz.scan([str(p) for p in archive])
    folder = archive[0].parent
    with latency_server(folder) as srv:
        urls = [f"{srv.url}/{p.name}" for p in archive]
        got = vz.scan(urls)
        assert [d.sources[0].path for d in got] == urls  # input order
        for a, b in zip(local, got):
            same(a, b)
            s = b.sources[0]
            assert s.size == os.path.getsize(archive[0].parent / Path(s.path).name)
            assert s.etag and s.mtime is not None and s.format == "NetCDF4"
        assert srv.count(method="HEAD") == 0  # sizes come with the first answer
        per_file = [srv.count(p.name) for p in archive]
        assert all(n <= 2 for n in per_file[1:]), per_file  # after the first file taught the layout
        assert per_file[0] <= 2 + remote_batch.MAX_ROUNDS


def test_scattered_metadata_is_learnt_from_the_first_file(archive, monkeypatch):
    # a first read far smaller than the files: their chunk indexes lie beyond it
    monkeypatch.setattr(fetch, "FIRST_READ", 16 << 10)
    monkeypatch.setattr(fetch, "READ_AHEAD", 8 << 10)
    monkeypatch.setattr(fetch, "MERGE_GAP", 4 << 10)
    local = vz.scan([str(p) for p in archive])
    with latency_server(archive[0].parent) as srv:
        got = vz.scan([f"{srv.url}/{p.name}" for p in archive])
        for a, b in zip(local, got):
            same(a, b)
        per_file = [srv.count(p.name) for p in archive]
        stats = remote_batch.last_stats
    assert per_file[0] >= 3, per_file  # the first file: rounds for each region it missed
    # the others fetch the learnt regions with their first request: one round trip
    assert stats.rounds <= per_file[0] + 2 * (N - 1), (per_file, stats)
    assert sum(per_file[1:]) / (N - 1) <= per_file[0], per_file


def test_files_that_keep_missing_end_in_blocking_reads_not_a_loop(archive, monkeypatch):
    monkeypatch.setattr(fetch, "FIRST_READ", 4 << 10)
    monkeypatch.setattr(fetch, "READ_AHEAD", 0)
    monkeypatch.setattr(fetch, "ALIGN", 1 << 10)
    monkeypatch.setattr(remote_batch, "MAX_ROUNDS", 1)
    monkeypatch.setattr(remote_batch, "MAX_LAYOUT_WINDOWS", 0)
    local = vz.scan(str(archive[0]))[0]
    with latency_server(archive[0].parent) as srv:
        got = vz.scan(f"{srv.url}/{archive[0].name}")[0]
    same(local, got)


def test_many_files_are_in_flight_at_once(tmp_path, archive):
    in_flight, peak, lock = [0], [0], threading.Lock()
    with latency_server(archive[0].parent, latency=0.05) as srv:
        handle = srv.RequestHandlerClass.do_GET

        def counted(self):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            try:
                handle(self)
            finally:
                with lock:
                    in_flight[0] -= 1

        srv.RequestHandlerClass = type("Counted", (srv.RequestHandlerClass,), {"do_GET": counted})
        got = vz.scan([f"{srv.url}/{p.name}" for p in archive], jobs=4)
    assert len(got) == N
    assert 2 <= peak[0] <= 4 * 3, peak  # several files at once, never more than jobs allows


def test_other_formats_and_broken_files_over_http(tmp_path):
    import h5py
    import netCDF4

    nc3 = tmp_path / "classic.nc"
    with netCDF4.Dataset(nc3, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("x", 300)
        nc.createVariable("v", "f8", ("x",))[:] = np.arange(300.0)
    ub = tmp_path / "userblock.h5"
    with h5py.File(ub, "w", userblock_size=512) as f:
        f["a"] = np.arange(100, dtype="i4")
        f["s"] = np.array(["x", "yy", "zzz"], dtype=h5py.string_dtype())
    good = make_archive_file(tmp_path / "good.nc", 1)
    (tmp_path / "empty.nc").write_bytes(b"")
    (tmp_path / "text.nc").write_bytes(b"hello, not a netcdf file\n")
    (tmp_path / "cut.nc").write_bytes(good.read_bytes()[:5000])
    with latency_server(tmp_path) as srv:
        u = srv.url
        for p in (nc3, ub, good):
            same(vz.scan(str(p))[0], vz.scan(f"{u}/{p.name}")[0])
        names = ["good.nc", "missing.nc", "empty.nc", "text.nc", "cut.nc", "classic.nc"]
        urls = [f"{u}/{n}" for n in names]
        with pytest.raises(ScanError) as e:
            vz.scan(urls)
        assert "\n" not in str(e.value) and str(e.value).startswith(f"{u}/")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = vz.scan(urls, errors="skip")
        assert [d.sources[0].path for d in got] == [urls[0], urls[-1]]
        failed = {Path(f.path).name: f for f in got.failed}
        assert list(failed) == ["missing.nc", "empty.nc", "text.nc", "cut.nc"]  # input order
        assert failed["missing.nc"].problem == "no such file"
        assert failed["empty.nc"].problem == "the file is empty"
        assert "not an HDF5, NetCDF or kerchunk reference file" in failed["text.nc"].problem
        assert all("\n" not in f.problem for f in got.failed)
        with pytest.warns(SkippedFileWarning, match="missing.nc"):
            vz.scan(urls, errors="warn")
        assert "4 files not read" in repr(got) and "missing.nc: no such file" in repr(got)


def test_references_to_http_sources_read_back_with_plain_xarray(tmp_path, archive):
    import xarray as xr

    with latency_server(archive[0].parent) as srv:
        dsets = vz.scan([f"{srv.url}/{p.name}" for p in archive[:3]])
        refs = vz.write(vz.concat(dsets, dim="time"), tmp_path / "refs.json")
        code = (
            "import sys, json, numpy as np, xarray as xr\n"
            # zarr 3 reads through an asynchronous ReferenceFileSystem, whose http target must be too
            "ds = xr.open_dataset('reference://', engine='zarr', backend_kwargs={'consolidated': False, "
            "'storage_options': {'fo': sys.argv[1], 'remote_options': {'asynchronous': True}}})\n"
            "np.save(sys.argv[2], ds['rhum'].values)\n"
            "assert 'vz_jupyter' not in sys.modules\n"
        )
        out = tmp_path / "rhum.npy"
        r = subprocess.run([sys.executable, "-c", code, str(refs), str(out)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
    want = np.concatenate([xr.open_dataset(p)["rhum"].values for p in archive[:3]])
    np.testing.assert_array_equal(np.load(out), want)


# ---------------------------------------------------------------------------
# S3 (moto's server on loopback)


def test_s3_scan_write_open_and_plan(s3, tmp_path, archive):
    import xarray as xr

    endpoint, opts = s3
    root = make_bucket(endpoint, archive[:4])
    local = vz.scan([str(p) for p in archive[:4]])
    got = vz.scan(f"{root}/*.nc", storage_options=opts)
    assert [d.sources[0].path for d in got] == [f"{root}/{p.name}" for p in archive[:4]]
    for a, b in zip(local, got):
        same(a, b)
        assert b.sources[0].etag and b.sources[0].size == a.sources[0].size
    stats = remote_batch.last_stats
    assert stats.files == 4 and stats.requests <= 2 * 4 + remote_batch.MAX_ROUNDS, stats

    combined = vz.concat(got, dim="time")
    want = np.concatenate([xr.open_dataset(p)["uwnd"].values for p in archive[:4]])
    # a read plan executed against the store
    np.testing.assert_array_equal(combined.plan("uwnd[2:11, 5:9, :]").execute(storage_options=opts),
                                  want[2:11, 5:9, :])
    # references that point at s3://, opened by plain xarray in another process
    refs = vz.write(combined, tmp_path / "s3refs.json")
    assert json.loads(Path(refs).read_text())["templates"]["u0"].startswith(root)
    code = (
        "import sys, json, numpy as np, xarray as xr\n"
        "opts = dict(json.loads(sys.argv[3]), asynchronous=True)\n"
        "ds = xr.open_dataset('reference://', engine='zarr', backend_kwargs={'consolidated': False, "
        "'storage_options': {'fo': sys.argv[1], 'remote_protocol': 's3', 'remote_options': opts}})\n"
        "np.save(sys.argv[2], ds['uwnd'].values)\n"
        "assert 'vz_jupyter' not in sys.modules\n"
    )
    out = tmp_path / "uwnd.npy"
    r = subprocess.run([sys.executable, "-c", code, str(refs), str(out), json.dumps(opts)], capture_output=True,
                       text=True, timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_array_equal(np.load(out), want)
    # and through vz.open
    opened = vz.open(refs, remote_options=opts, allowed_roots=[root])
    np.testing.assert_array_equal(opened["uwnd"].values, want)


def test_s3_missing_objects_are_reported_per_file(s3, archive):
    endpoint, opts = s3
    root = make_bucket(endpoint, archive[:2])
    urls = [f"{root}/{archive[0].name}", f"{root}/nothing-here.nc", f"{root}/{archive[1].name}"]
    got = vz.scan(urls, storage_options=opts, errors="skip")
    assert [d.sources[0].path for d in got] == [urls[0], urls[2]]
    assert [(f.path, f.problem) for f in got.failed] == [(urls[1], "no such file")]
