"""Remote I/O is checked and bounded: hostile loopback HTTP servers
(tests/_hostile_http.py) that answer byte ranges wrongly, ignore them, stall or
redirect. Every case ends in the right values or a one-line error naming the
URL -- never garbage, never a hang, never "no such file" for a timeout."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from _hostile_http import hostile_server
from _writer_data import make_nc4, rebase

import vz_jupyter as vz
from vz_jupyter.core import remote
from vz_jupyter.core.errors import VZError
from vz_jupyter.core.remote import RangeMismatch, RemoteTimeout

FAST = {"timeout": 0.5}


def _one_line(e: BaseException, *needles: str) -> None:
    text = str(e)
    assert "\n" not in text, text
    for n in needles:
        assert n in text, (n, text)


@pytest.fixture
def blob(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "f.bin").write_bytes(data)
    return tmp_path, data


# ---------------------------------------------------------------------------
# the filesystem itself


def test_good_server_gives_the_asked_bytes(blob):
    folder, data = blob
    with hostile_server(folder, "ok") as (base, h):
        fs = remote.filesystem(base, FAST)
        assert fs.cat_file(f"{base}/f.bin", start=100, end=200) == data[100:200]
        assert fs.cat_ranges([f"{base}/f.bin"] * 2, [0, 4000], [10, 4096]) == [data[:10], data[4000:]]
        assert fs.info(f"{base}/f.bin")["size"] == len(data)
        with fs.open(f"{base}/f.bin", block_size=256, cache_type="blockcache") as f:
            f.seek(1000)
            assert f.read(600) == data[1000:1600]


@pytest.mark.parametrize("mode,words", [
    ("shifted", "asked for bytes 100-199, the server sent bytes 108-207"),
    ("no-cr", "without a valid Content-Range"),
    ("longer", "the server sent bytes 100-207"),
])
def test_wrong_ranges_are_one_line_errors(blob, mode, words):
    folder, _ = blob
    with hostile_server(folder, mode) as (base, h):
        fs = remote.filesystem(base, FAST)
        with pytest.raises(RangeMismatch) as e:
            fs.cat_file(f"{base}/f.bin", start=100, end=200)
        _one_line(e.value, f"{base}/f.bin", words)


def test_server_ignoring_range_is_read_correctly_when_small(blob, monkeypatch):
    folder, data = blob
    with hostile_server(folder, "no-range") as (base, h):
        fs = remote.filesystem(base, FAST)
        assert fs.cat_file(f"{base}/f.bin", start=100, end=200) == data[100:200]
        # beyond the bound, a clear refusal instead of downloading the whole file
        monkeypatch.setattr(remote, "FULL_BODY_LIMIT", 1000)
        with pytest.raises(RangeMismatch) as e:
            fs.cat_file(f"{base}/f.bin", start=2000, end=2100)
        _one_line(e.value, "ignored the byte-range request", "4,096 bytes")


def test_range_past_the_end_says_so(blob):
    folder, data = blob
    with hostile_server(folder, "ok") as (base, h):
        fs = remote.filesystem(base, FAST)
        # the server clamps at the end of the file: a short answer that ends at EOF
        assert fs.cat_file(f"{base}/f.bin", start=4000, end=5000) == data[4000:]
        with pytest.raises(VZError) as e:
            fs.cat_file(f"{base}/f.bin", start=5000, end=5010)
        _one_line(e.value, f"{base}/f.bin")


@pytest.mark.parametrize("mode", ["stall", "stall-body"])
def test_stalled_server_times_out_quickly(blob, mode):
    folder, _ = blob
    with hostile_server(folder, mode) as (base, h):
        fs = remote.filesystem(base, {"timeout": 0.3})
        t0 = time.monotonic()
        with pytest.raises(RemoteTimeout) as e:
            fs.cat_file(f"{base}/f.bin", start=0, end=10)
        assert time.monotonic() - t0 < 5
        _one_line(e.value, f"{base}/f.bin", "timed out")
        assert "no such file" not in str(e.value)
        if mode == "stall":
            with pytest.raises(RemoteTimeout):
                fs.info(f"{base}/f.bin")


def test_timeout_options():
    assert remote.split_timeouts(None)[1:] == (10.0, 30.0)  # the documented defaults
    assert remote.split_timeouts({"timeout": 5, "x": 1}) == ({"x": 1}, 5.0, 5.0)
    assert remote.split_timeouts({"timeout": {"read": 60}})[1:] == (10.0, 60.0)
    for bad in ({"timeout": "soon"}, {"timeout": {"total": 3}}, {"timeout": -1}):
        with pytest.raises(VZError):
            remote.split_timeouts(bad)


def test_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("VZ_TIMEOUT", "2,7")
    assert remote.split_timeouts(None)[1:] == (2.0, 7.0)
    monkeypatch.setenv("VZ_TIMEOUT", "soon")
    with pytest.raises(VZError, match="VZ_TIMEOUT"):
        remote.split_timeouts(None)


# ---------------------------------------------------------------------------
# through the entry points: execute, scan, open, the CLI


@pytest.fixture
def served_nc(tmp_path):
    src = make_nc4(tmp_path / "a.nc", seed=3)
    return tmp_path, src


def test_execute_refuses_shifted_ranges_and_reads_through_range_ignoring_servers(served_nc):
    folder, src = served_nc
    local = vz.scan(src)[0]
    want = local.plan("air[0:4, :, 1:7]").execute()
    with hostile_server(folder, "shifted") as (base, h):
        p = rebase(local, folder, base).plan("air[0:4, :, 1:7]")
        with pytest.raises(VZError) as e:
            p.execute(storage_options=FAST)
        _one_line(e.value, f"{base}/a.nc", "the server sent bytes")
    with hostile_server(folder, "no-range") as (base, h):
        p = rebase(local, folder, base).plan("air[0:4, :, 1:7]")
        np.testing.assert_array_equal(p.execute(storage_options=FAST), want)
        assert float(p.reduce("sum", storage_options=FAST)) == pytest.approx(float(local.plan("air[0:4, :, 1:7]").reduce("sum")))


def test_execute_on_a_stalled_server_times_out(served_nc):
    folder, src = served_nc
    with hostile_server(folder, "stall-body") as (base, h):
        p = rebase(vz.scan(src)[0], folder, base).plan("air[0:2]")
        t0 = time.monotonic()
        with pytest.raises(RemoteTimeout) as e:
            p.execute(storage_options={"timeout": 0.3})
        assert time.monotonic() - t0 < 5
        _one_line(e.value, "timed out")


@pytest.mark.parametrize("kind", ["nc4", "nc3"])
def test_scanning_a_hostile_server(tmp_path, kind):
    import netCDF4

    if kind == "nc4":
        src = make_nc4(tmp_path / "a.nc", seed=1)
    else:
        src = tmp_path / "a.nc"
        with netCDF4.Dataset(src, "w", format="NETCDF3_CLASSIC") as nc:
            nc.createDimension("x", 300)
            nc.createVariable("v", "f8", ("x",))[:] = np.arange(300.0)
    with hostile_server(tmp_path, "shifted") as (base, h):
        with pytest.raises(VZError) as e:
            vz.scan(f"{base}/a.nc", storage_options=FAST)
        _one_line(e.value, f"{base}/a.nc", "the server sent bytes")
    with hostile_server(tmp_path, "no-range") as (base, h):
        got = vz.scan(f"{base}/a.nc", storage_options=FAST)[0]
        want = vz.scan(str(src))[0]
        for name, v in want.variables.items():
            np.testing.assert_array_equal(got[name].manifest.offset, v.manifest.offset)
    with hostile_server(tmp_path, "stall") as (base, h):
        t0 = time.monotonic()
        with pytest.raises(VZError) as e:
            vz.scan(f"{base}/a.nc", storage_options={"timeout": 0.3})
        assert time.monotonic() - t0 < 5
        _one_line(e.value, f"{base}/a.nc", "timed out")
        assert "no such file" not in str(e.value)


def test_open_refuses_shifted_ranges_instead_of_returning_garbage(served_nc):
    folder, src = served_nc
    with hostile_server(folder, "shifted") as (base, h):
        refs = vz.write(rebase(vz.scan(src)[0], folder, base), folder / "r.json")
        with pytest.raises(Exception) as e:  # coordinates load at open, the rest at .values
            vz.open(refs, decode=False, allowed_roots=[base], remote_options=FAST)["air"].values
        chain = []
        err = e.value
        while err is not None:
            chain.append(str(err))
            err = err.__cause__ or err.__context__
        assert any("the server sent bytes" in c for c in chain), chain
    with hostile_server(folder, "ok") as (base, h):
        refs = vz.write(rebase(vz.scan(src)[0], folder, base), folder / "r2.json")
        with xr.open_dataset(src, decode_cf=False) as orig:
            got = vz.open(refs, decode=False, allowed_roots=[base], remote_options=FAST)
            np.testing.assert_array_equal(got["air"].values, orig["air"].values)


def test_cli_on_a_stalled_server_says_timed_out(tmp_path):
    (tmp_path / "a.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with hostile_server(tmp_path, "stall") as (base, h):
        env = dict(os.environ, VZ_TIMEOUT="0.5")
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "info", f"{base}/a.nc"], capture_output=True,
                           text=True, env=env, timeout=60)
        assert time.monotonic() - t0 < 30
    assert r.returncode == 1, r
    assert r.stderr.count("\n") == 1 and "timed out" in r.stderr and f"{base}/a.nc" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_redirects_are_checked_against_the_allowed_roots(served_nc):
    """A granted server that redirects elsewhere cannot take the reader there."""
    folder, src = served_nc
    with hostile_server(folder, "ok") as (elsewhere, other), \
            hostile_server(folder, "redirect", redirect_to=elsewhere) as (base, h):
        refs = vz.write(rebase(vz.scan(src)[0], folder, base), folder / "r.json")
        with pytest.raises(Exception) as e:
            vz.open(refs, decode=False, allowed_roots=[base], remote_options=FAST)["air"].values
        assert other.log == []  # the redirect target was never contacted
        text = repr(e.value) + repr(e.value.__cause__) + repr(e.value.__cause__.__cause__ if e.value.__cause__ else "")
        assert "outside the roots" in text, text
        # granted explicitly, the redirect is followed and the values are right
        ds = vz.open(refs, decode=False, allowed_roots=[base, elsewhere], remote_options=FAST)
        with xr.open_dataset(src, decode_cf=False) as orig:
            np.testing.assert_array_equal(ds["air"].values, orig["air"].values)
        assert other.log
