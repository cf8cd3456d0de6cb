"""One read path (issue 9 §3): sort, check and concat read values of virtual
variables only through the read-plan executor, through a reader passed to them
(memoised per reader, nothing module-wide), and run on in-memory datasets with
values supplied and no file at all."""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from test_check import archive, findings, names, only

import vz_jupyter as vz
from vz_jupyter.core import execute as execute_mod
from vz_jupyter.core.model import Manifest, Source, VArray, VDataset
from vz_jupyter.core.values import CoordinateReader, read_values

HOURS = "hours since 2000-01-01 00:00:00"


@pytest.fixture
def executed(monkeypatch):
    """Every variable the executor reads (by name and source file), recorded
    at its one entry point, ``execute.execute``."""
    seen: list[tuple[str, tuple[str, ...]]] = []
    real = execute_mod.execute

    def spy(plan, **kw):
        seen.append((plan.var.name, tuple(os.path.basename(p) for p in plan.var.manifest.paths)))
        return real(plan, **kw)

    monkeypatch.setattr(execute_mod, "execute", spy)
    return seen


@pytest.fixture
def no_executor(monkeypatch):
    """The executor refuses every read: anything that still gets values has
    another way to read them."""
    def refuse(plan, **kw):
        raise vz.VZError(f"executor off: {plan.var.name}")

    monkeypatch.setattr(execute_mod, "execute", refuse)


def referenced(path: str, values, *, units: str = HOURS, name: str = "time", offset: int = 0) -> VDataset:
    """A dataset whose coordinate lives in a file (one referenced chunk of
    ``path``) and a data variable ``air(time)`` in the same file, chunked by 2;
    the file need not exist."""
    vals = np.asarray(values, dtype="<f8")
    n = len(vals)
    t = VArray(name=name, dims=(name,), shape=(n,), dtype=vals.dtype, chunks=(n,), codecs=(), fill_value=None,
               attrs={"units": units, "calendar": "standard"},
               manifest=Manifest.single(path, offset, vals.nbytes, 1))
    grid = (n + 1) // 2
    rows = Manifest((path,), np.zeros(grid), offset + 4096 + 8 * np.arange(grid), np.full(grid, 8))
    air = VArray(name="air", dims=(name,), shape=(n,), dtype=np.dtype("<f4"), chunks=(2,), codecs=(),
                 fill_value=None, attrs={"units": "K"}, manifest=rows)
    return VDataset({name: t, "air": air}, coords=(name,), sources=(Source(path),))


# ----------------------------------------------------------------------------- the executor is the one path

def test_sort_check_concat_read_through_the_executor(tmp_path, executed):
    # time is not inlined: its values are in the files
    files = archive(tmp_path, n_files=3, per_file={0: {"t0": 8}, 1: {"t0": 0}, 2: {"t0": 4}})
    dsets = vz.scan(files, inline_threshold=0)
    assert all(d["time"].manifest.n_inline == 0 for d in dsets)
    ordered = vz.sort(dsets, by="time")
    assert [os.path.basename(d.sources[0].path) for d in ordered] == ["air_01.nc", "air_02.nc", "air_00.nc"]
    assert sorted(executed) == [("time", (f"air_0{k}.nc",)) for k in range(3)]
    executed.clear()
    rep = vz.check(ordered, "time")
    assert not rep.has_errors, rep
    # lat/lon are compared too, all through the executor
    assert {n for n, _ in executed} == {"time", "lat", "lon"}
    executed.clear()
    combined = vz.concat(ordered, "time")
    # concat's check and its inlining of the time coordinate share one reader: each file's time read once
    assert sorted(p for n, p in executed if n == "time") == [(f"air_0{k}.nc",) for k in (0, 1, 2)]
    np.testing.assert_array_equal(read_values(combined["time"]), np.arange(12.0))


def test_without_the_executor_nothing_reads(tmp_path, no_executor):
    files = archive(tmp_path, n_files=2, per_file={0: {"t0": 4}, 1: {"t0": 0}})
    dsets = vz.scan(files, inline_threshold=0)
    with pytest.raises(vz.VZError, match="executor off: time"):
        vz.sort(dsets, by="time")
    rep = vz.check(dsets, "time")
    # nothing read: order not checked, lat/lon not compared (said so), no values invented
    assert not findings(rep, "order")
    unread = {f.variable: f for f in findings(rep, "not-compared")}
    assert set(unread) == {"time", "lat", "lon"}
    assert names(unread["time"]) == {"air_00.nc", "air_01.nc"}
    with pytest.raises(vz.VZError, match="executor off: time"):
        vz.concat(dsets, "time", check=False)
    with pytest.raises(vz.VZError, match="executor off"):
        read_values(dsets[0]["time"])


def test_no_module_wide_cache(tmp_path, executed):
    files = archive(tmp_path, n_files=2)
    dsets = vz.scan(files, inline_threshold=0)
    vz.check(dsets, "time")
    vz.check(dsets, "time")
    # two calls, two readers: the values are read again, not kept module-wide
    assert [n for n, _ in executed].count("time") == 4
    executed.clear()
    reader = CoordinateReader()
    vz.check(dsets, "time", reader=reader)
    vz.concat(dsets, "time", reader=reader)
    vz.sort(dsets, by="time", reader=reader)
    assert [n for n, _ in executed].count("time") == 2  # one reader: each file's time once


def test_a_fifo_is_refused_not_opened(tmp_path):
    # the old reader opened referenced paths with open(): a FIFO blocked forever
    fifo = tmp_path / "pipe.nc"
    os.mkfifo(fifo)
    a = referenced(str(fifo), [0.0, 1.0])
    b = referenced(str(tmp_path / "b.nc"), [2.0, 3.0])
    with pytest.raises(vz.ScanError, match="not a regular file"):
        vz.sort([a, b], by="time")
    rep = vz.check([a, b], "time")
    assert "pipe.nc" in names(only(rep, "not-compared"))


def test_a_decompression_bomb_is_refused_by_the_bounded_decoder():
    # 64 MB of zeros in 64 kB of zlib, as the inlined chunk of a 4-value coordinate
    bomb = zlib.compress(bytes(64 * 2**20), 9)
    t = VArray(name="time", dims=("time",), shape=(4,), dtype=np.dtype("<f8"), chunks=(4,),
               codecs=({"id": "zlib", "level": 9},), fill_value=None, attrs={"units": HOURS},
               manifest=Manifest.empty((1,)).with_inline({0: bomb}))
    ds = VDataset({"time": t}, coords=("time",), sources=(Source("/d/bomb.nc"),))
    ok = referenced("/d/ok.nc", [10.0, 11.0, 12.0, 13.0])
    with pytest.raises(vz.VZError, match="decodes to more than the 4,128 bytes"):
        vz.sort([ds, ok], by="time", reader=CoordinateReader({ok["time"]: [10, 11, 12, 13]}))
    rep = vz.check([ds, ok], "time", reader=CoordinateReader({ok["time"]: [10, 11, 12, 13]}))
    assert names(only(rep, "not-compared")) == {"bomb.nc"}


# ----------------------------------------------------------------------------- no files at all

def test_check_sort_concat_on_in_memory_datasets_with_supplied_values(monkeypatch):
    def no_fetch(*a, **k):
        raise AssertionError("a file was read")

    monkeypatch.setattr(execute_mod, "fetch_ranges", no_fetch)
    # three "files" that do not exist; hourly times, the third overlapping the second
    a = referenced("/nowhere/a.nc", [0, 1, 2, 3])
    b = referenced("/nowhere/b.nc", [4, 5, 6, 7])
    c = referenced("/nowhere/c.nc", [30, 31], units="minutes since 2000-01-01 06:00:00")  # 06:30, 06:31
    values = {a["time"]: [0, 1, 2, 3], b["time"]: [4, 5, 6, 7], c["time"]: [30, 31]}
    reader = CoordinateReader(values, read_files=False)

    assert [d.sources[0].path for d in vz.sort([c, b, a], by="time", reader=reader)] == [
        "/nowhere/a.nc", "/nowhere/b.nc", "/nowhere/c.nc"]
    rep = vz.check([a, b, c], "time", reader=reader)
    f = only(rep, "overlap")
    assert f.severity == "error" and names(f) == {"c.nc"}
    assert "2000-01-01 06:30" in f.message
    assert not findings(rep, "not-compared")

    rep = vz.check([b, a], "time", reader=reader)
    assert names(only(rep, "order")) == {"a.nc"}

    d = referenced("/nowhere/d.nc", [10, 11])
    reader = CoordinateReader({**values, d["time"]: [10, 11]}, read_files=False)
    gap = only(vz.check([a, b, d], "time", reader=reader), "gap")
    assert gap.severity == "warning" and names(gap) == {"d.nc"} and "2 missing steps" in gap.message

    # concat: the time coordinate is decoded from the supplied values and inlined; air stays referenced
    combined = vz.concat([a, b, d], "time", reader=reader)
    t = combined["time"]
    assert t.manifest.n_referenced == 0 and t.manifest.n_inline == 1
    np.testing.assert_array_equal(np.frombuffer(t.manifest.inline[0], dtype=t.dtype),
                                  [0, 1, 2, 3, 4, 5, 6, 7, 10, 11])
    assert combined["air"].manifest.paths == ("/nowhere/a.nc", "/nowhere/b.nc", "/nowhere/d.nc")
    # units re-encoded from the supplied raw values (minutes after 06:00 -> hours since 2000-01-01)
    c2 = referenced("/nowhere/c2.nc", [120, 180], units="minutes since 2000-01-01 06:00:00")  # 08:00, 09:00
    reader = CoordinateReader({**values, c2["time"]: [120, 180]}, read_files=False)
    out = vz.concat([a, b, c2], "time", reader=reader)
    np.testing.assert_array_equal(np.frombuffer(out["time"].manifest.inline[0], dtype="<f8"),
                                  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert out["time"].attrs["units"] == HOURS


def test_reader_without_files_refuses_what_is_not_supplied():
    a = referenced("/nowhere/a.nc", [0, 1])
    b = referenced("/nowhere/b.nc", [2, 3])
    reader = CoordinateReader({a["time"]: [0, 1]}, read_files=False)
    with pytest.raises(vz.VZError, match="'time': its values are in files"):
        vz.sort([a, b], by="time", reader=reader)
    rep = vz.check([a, b], "time", reader=reader)
    assert names(only(rep, "not-compared")) == {"b.nc"}
    with pytest.raises(vz.VZError, match=r"\(3,\) values supplied for shape \(2,\)"):
        CoordinateReader({a["time"]: [0, 1, 2]}).read(a["time"])


def test_reader_values_are_read_only_and_bounded(tmp_path):
    files = archive(tmp_path, n_files=1)
    var = vz.scan(files, inline_threshold=0)[0]["time"]
    reader = CoordinateReader()
    got = reader.read(var)
    assert reader.read(var) is got and not got.flags.writeable
    with pytest.raises(vz.VZError, match="too large"):
        reader.read(var, max_bytes=8)
