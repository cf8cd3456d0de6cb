"""``vz.verify`` / ``vz verify``: are the sources of written references still what
they were at scan time? JSON, parquet and Icechunk outputs; local, HTTP and S3
sources; changed, grown, missing and unrecorded sources."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from _latency_server import latency_server
from _scale_fixtures import make_bucket

import vz_jupyter as vz
from vz_jupyter.core.serialize.outputs import output_format
from vz_jupyter.core.sources import SOURCES_KEY
from vz_jupyter.sample_data import make_daily_netcdf4

FORMATS = {"json": "refs.json", "parquet": "refs.parquet", "icechunk": "refs.icechunk"}


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "src"
    return [str(p) for p in make_daily_netcdf4(folder, n_files=3, nt=2)]


def _touch_later(path: str, data: bytes | None = None) -> None:
    st = os.stat(path)
    if data is not None:
        with open(path, "wb") as f:
            f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_verify_reports_changed_grown_missing(tmp_path, archive, fmt):
    if fmt == "icechunk":
        pytest.importorskip("icechunk")
    target = vz.write(vz.concat(vz.scan(archive), dim="time"), tmp_path / FORMATS[fmt])
    report = vz.verify(target)
    assert report.ok and report.format == output_format(target)
    assert [c.path for c in report.checks] == archive and {c.status for c in report.checks} == {"ok"}
    assert "all 3 sources unchanged" in repr(report)

    with open(archive[0], "ab") as f:  # grown: data appended
        f.write(b"\0" * 100)
    _touch_later(archive[1], open(archive[1], "rb").read())  # same size, rewritten later
    os.remove(archive[2])
    report = vz.verify(target)
    assert not report.ok
    got = {os.path.basename(c.path): (c.status, c.detail) for c in report.checks}
    size = os.path.getsize(archive[0])
    assert got[os.path.basename(archive[0])] == ("grown", f"size {size - 100:,} → {size:,} bytes")
    assert got[os.path.basename(archive[1])][0] == "changed" and "modified" in got[os.path.basename(archive[1])][1]
    assert got[os.path.basename(archive[2])] == ("missing", "no such file")
    assert report.counts() == {"grown": 1, "changed": 1, "missing": 1}
    text = repr(report)
    assert "1 grown, 1 changed, 1 missing of 3 sources" in text
    html = report._repr_html_()
    assert "grown" in html and "missing" in html
    assert "other source" not in text  # every source has a problem here


def test_outputs_with_recorded_sources_stay_ours_to_overwrite(tmp_path, archive):
    ds = vz.scan(archive[0])[0]
    target = vz.write(ds, tmp_path / "one.json")
    obj = json.loads(open(target).read())
    assert obj[SOURCES_KEY] == [{"path": archive[0], "size": os.path.getsize(archive[0]),
                                 "mtime": os.stat(archive[0]).st_mtime, "format": "NetCDF4"}]
    assert output_format(target) == "kerchunk-json"
    vz.write(ds, target, overwrite=True)  # still recognised as our earlier output


def test_appends_record_their_new_sources(tmp_path, archive):
    target = vz.write(vz.concat(vz.scan(archive[:2]), dim="time"), tmp_path / "a.json")
    vz.append(target, archive[2], dim="time")
    report = vz.verify(target)
    assert report.ok and [c.path for c in report.checks] == archive
    _touch_later(archive[2], open(archive[2], "rb").read())
    assert vz.verify(target).counts() == {"ok": 2, "changed": 1}


def test_references_without_records_check_existence(tmp_path, archive):
    target = vz.write(vz.scan(archive[0])[0], tmp_path / "old.json")
    obj = json.loads(open(target).read())
    del obj[SOURCES_KEY]  # as written before sources were recorded (or by another tool)
    with open(target, "w") as f:
        json.dump(obj, f)
    report = vz.verify(target)
    assert [(c.path, c.status) for c in report.checks] == [(archive[0], "unknown")]
    os.remove(archive[0])
    assert [c.status for c in vz.verify(target).checks] == ["missing"]


def test_hostile_records_are_ignored_not_trusted(tmp_path, archive):
    target = vz.write(vz.scan(archive[0])[0], tmp_path / "h.json")
    obj = json.loads(open(target).read())
    obj[SOURCES_KEY] = [{"path": archive[0], "size": "big", "mtime": "yesterday"}, 42, {"size": 3}, {"path": ""}]
    with open(target, "w") as f:
        json.dump(obj, f)
    report = vz.verify(target)
    assert [(c.path, c.status) for c in report.checks] == [(archive[0], "unknown")]


def test_verify_remote_sources_http_and_s3(tmp_path, archive, s3):
    folder = os.path.dirname(archive[0])
    with latency_server(folder) as srv:
        urls = [f"{srv.url}/{os.path.basename(p)}" for p in archive]
        target = vz.write(vz.concat(vz.scan(urls), dim="time"), tmp_path / "http.json")
        assert vz.verify(target).ok
        heads = srv.count(method="HEAD")
        time.sleep(1.1)  # Last-Modified has whole seconds
        _touch_later(archive[1], open(archive[1], "rb").read()[::-1])  # new bytes: new ETag
        os.remove(archive[2])
        report = vz.verify(target)
        assert srv.count(method="HEAD") - heads == 3  # one question per source
    assert [c.status for c in report.checks] == ["ok", "changed", "missing"]
    assert report.checks[1].detail.startswith("ETag ")

    endpoint, opts = s3
    shutil.copy(archive[0], tmp_path / os.path.basename(archive[2]))
    root = make_bucket(endpoint, [archive[0], tmp_path / os.path.basename(archive[2])])
    keys = [f"{root}/{os.path.basename(archive[0])}", f"{root}/{os.path.basename(archive[2])}"]
    target = vz.write(vz.scan(keys[0], storage_options=opts)[0], tmp_path / "s3.json")
    assert vz.verify(target, storage_options=opts).ok
    import boto3

    bucket, key = keys[0][len("s3://"):].split("/", 1)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=b"x")
    rep = vz.verify(target, storage_options=opts)
    assert [c.status for c in rep.checks] == ["changed"] and "size" in rep.checks[0].detail


def test_cli_verify(tmp_path, archive):
    target = vz.write(vz.concat(vz.scan(archive), dim="time"), tmp_path / "refs.parquet")
    vz_cmd = [sys.executable, "-m", "vz_jupyter.cli", "verify"]
    r = subprocess.run([*vz_cmd, str(target)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "all 3 sources unchanged" in r.stdout, r.stderr
    os.remove(archive[1])
    r = subprocess.run([*vz_cmd, str(target)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "1 missing of 3 sources" in r.stdout and f"missing  {archive[1]}" in r.stdout
    r = subprocess.run([*vz_cmd, str(tmp_path / "nothing.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.strip() == f"vz: {tmp_path / 'nothing.json'}: no such file or folder"
    (tmp_path / "data.nc").write_bytes(open(archive[0], "rb").read())
    r = subprocess.run([*vz_cmd, str(tmp_path / "data.nc")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "not a kerchunk JSON file, kerchunk parquet folder or Icechunk" in r.stderr
    np.testing.assert_equal(r.stdout, "")
