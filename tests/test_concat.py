"""concat / stack / merge / combine_nested: values read back through written
references equal xarray.open_mfdataset of the originals (decoded); a combine
that check rejects writes nothing; concat then split is identity on manifests."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from test_check import LAT, LON, archive, make_nc

import vz_jupyter as vz
from vz_jupyter.core.model import INLINE, MISSING, Manifest, VArray, VDataset, concat_manifests

xr = pytest.importorskip("xarray")
pytest.importorskip("dask")


def mf(files, dim, **kw):
    return xr.open_mfdataset(files, combine="nested", concat_dim=dim, **kw)


def assert_same(a, b):
    a, b = a.load(), b.load()
    assert set(a.data_vars) == set(b.data_vars)
    xr.testing.assert_equal(a, b)


# ----------------------------------------------------------------------------- concat

@pytest.mark.parametrize("target,fmt", [("c.json", "NETCDF4"), ("c.parquet", "NETCDF4"),
                                        ("c.json", "NETCDF3_64BIT_OFFSET")])
def test_concat_per_file_time_units_equals_open_mfdataset(tmp_path, target, fmt):
    files = archive(tmp_path, n_files=5, fmt=fmt, per_file={
        1: {"units": "hours since 2000-01-01 04:00:00"},
        2: {"units": "days since 1999-12-31"},
        4: {"units": "minutes since 2000-01-01 16:00:00"},
    })
    dsets = vz.sort(vz.scan(files[::-1]), by="time")
    combined = vz.concat(dsets, "time")
    assert combined["air"].shape == (20, len(LAT), len(LON))
    assert combined["time"].manifest.n_inline == 1  # re-encoded, inlined
    assert combined["time"].attrs["units"] == "hours since 2000-01-01 00:00:00"
    assert [s.path for s in combined.sources] == files
    out = vz.write(combined, tmp_path / target)
    with vz.open(out) as a, mf(files, "time") as b:
        assert_same(a, b)
        assert a.time.values[0] == np.datetime64("2000-01-01T00:00")
        assert (np.diff(a.time.values) == np.timedelta64(1, "h")).all()


def test_concat_packed_values_and_fill(tmp_path):
    files = archive(tmp_path, dtype="i2", scale=0.01, offset=250.0, fill=np.int16(-32767))
    out = vz.write(vz.concat(vz.scan(files), "time"), tmp_path / "c.json")
    with vz.open(out) as a, mf(files, "time") as b:
        assert_same(a, b)
    with vz.open(out, decode=False) as a, mf(files, "time", decode_cf=False) as b:
        np.testing.assert_array_equal(a.air.values, b.air.values)


def test_concat_netcdf3_record_files(tmp_path):
    files = archive(tmp_path, n_files=3, fmt="NETCDF3_64BIT_OFFSET")
    combined = vz.concat(vz.scan(files), "time")
    out = vz.write(combined, tmp_path / "c.json")
    with vz.open(out) as a, mf(files, "time") as b:
        assert_same(a, b)


def test_concat_reads_coordinate_that_is_not_inlined(tmp_path):
    # time chunked by 1024 in files of 6 steps: a partial chunk in every file;
    # the coordinate is read through the manifest (one read per file) and inlined
    files = archive(tmp_path, n_files=3, n=6, time_chunk=1024)
    dsets = vz.scan(files, inline_threshold=0)
    assert dsets[0]["time"].manifest.n_inline == 0
    rep = vz.check(dsets, "time")
    assert not rep.has_errors, rep
    assert vz.sort(dsets[::-1], by="time")[0].sources[0].path == files[0]
    combined = vz.concat(dsets, "time")
    assert combined["time"].manifest.n_inline == 1 and combined["time"].shape == (18,)
    with vz.open(vz.write(combined, tmp_path / "c.json")) as a, mf(files, "time") as b:
        assert_same(a, b)


def test_concat_keeps_chunk_references_columnar(tmp_path):
    files = archive(tmp_path, n_files=3, n=4)
    dsets = vz.scan(files)
    combined = vz.concat(dsets, "time")
    m = combined["air"].manifest
    assert m.grid == (12, 1, 1) and set(m.paths) == set(files)
    # the chunk references are the files' own, in order
    for k, ds in enumerate(dsets):
        mk = ds["air"].manifest
        np.testing.assert_array_equal(m.offset[4 * k: 4 * k + 4], mk.offset)
        assert {m.paths[i] for i in m.path_id[4 * k: 4 * k + 4].ravel()} == {files[k]}


def test_rejected_combine_writes_nothing(tmp_path):
    files = archive(tmp_path, dtype="i2", scale=0.01, per_file={2: {"scale": 0.02}})
    target = tmp_path / "out.json"
    with pytest.raises(vz.CheckFailed) as ei:
        vz.write(vz.concat(vz.scan(files), "time"), target)
    assert not target.exists()
    assert "scale-offset" in str(ei.value) and any(
        os.path.basename(p) == "air_02.nc" for f in ei.value.report.errors for p in f.files)
    # excluding the odd file fixes it
    ok = vz.concat(vz.scan(files[:2] + files[3:]), "time", check=True)
    assert ok["air"].shape[0] == 12


def test_fix_time_false_refuses(tmp_path):
    files = archive(tmp_path, n_files=2, per_file={1: {"units": "hours since 2000-01-01 04:00"}})
    with pytest.raises(vz.CheckFailed):
        vz.concat(vz.scan(files), "time", fix_time=False)


def test_concat_time_units_days_to_hours(tmp_path):
    files = archive(tmp_path, n_files=2, per_file={1: {"units": "days since 2000-01-01", "t0": 96}}, step=24.0)
    # days since 2000-01-01 in file 1 -> hours in the combined coordinate: integral
    combined = vz.concat(vz.scan(files), "time")
    from vz_jupyter.core.values import read_values

    np.testing.assert_array_equal(read_values(combined["time"]), np.arange(8) * 24.0)


def test_concat_single_file_and_errors(tmp_path):
    files = archive(tmp_path, n_files=1)
    one = vz.concat(vz.scan(files), "time")
    assert one["air"].manifest.equals(vz.scan(files)[0]["air"].manifest)
    with pytest.raises(vz.VZError):
        vz.concat([], "time")
    with pytest.raises(vz.VZError, match="stack"):
        vz.concat(vz.scan(files), "member", check=False)


# ----------------------------------------------------------------------------- stack / merge / grid

def test_stack_new_dim_with_values(tmp_path):
    files = [make_nc(tmp_path / f"member{k}.nc", 0) for k in range(3)]
    stacked = vz.stack(vz.scan(files), "member", values=[10, 20, 30])
    assert stacked["air"].dims == ("member", "time", "lat", "lon")
    assert stacked["air"].chunks[0] == 1 and stacked["time"].dims == ("time",)
    with vz.open(vz.write(stacked, tmp_path / "s.json")) as a, mf(files, "member") as b:
        b = b.assign_coords(member=[10, 20, 30])
        assert_same(a, b)


def test_stack_values_from_pattern(tmp_path):
    files = [make_nc(tmp_path / f"run_m{k:02d}.nc", 0) for k in (3, 7)]
    stacked = vz.stack(vz.scan(files), "member", pattern=r"_m(\d+)\.nc")
    with vz.open(vz.write(stacked, tmp_path / "s.json")) as a, mf(files, "member") as b:
        assert list(a.member.values) == [3, 7]
        assert_same(a, b.assign_coords(member=[3, 7]))


def test_stack_without_values_has_no_coordinate(tmp_path):
    files = [make_nc(tmp_path / f"m{k}.nc", 0) for k in range(2)]
    stacked = vz.stack(vz.scan(files), "member")
    assert "member" not in stacked.variables
    with vz.open(vz.write(stacked, tmp_path / "s.json")) as a, mf(files, "member") as b:
        assert_same(a, b)


def test_merge_variables_from_file_sets(tmp_path):
    air = archive(tmp_path, n_files=2)
    rh = [make_nc(tmp_path / f"rh_{k}.nc", 4 * k, var="rh") for k in range(2)]
    merged = vz.merge([vz.concat(vz.scan(air), "time"), vz.concat(vz.scan(rh), "time")])
    assert {"air", "rh", "time", "lat", "lon"} == set(merged.variables)
    with vz.open(vz.write(merged, tmp_path / "m.json")) as a, mf(air, "time") as b1, mf(rh, "time") as b2:
        assert_same(a, xr.merge([b1, b2]))


def test_merge_refuses_mismatched_time(tmp_path):
    air = archive(tmp_path, n_files=2)
    rh = [make_nc(tmp_path / f"rh_{k}.nc", 100 + 4 * k, var="rh") for k in range(2)]
    with pytest.raises(vz.CheckFailed, match="coord-values"):
        vz.merge([vz.concat(vz.scan(air), "time"), vz.concat(vz.scan(rh), "time")])


def test_combine_nested_time_by_member(tmp_path):
    grid_files = [[make_nc(tmp_path / f"m{m}_t{t}.nc", 4 * t, units=f"hours since 2000-01-01 {4 * t:02d}:00")
                   for t in range(3)] for m in range(2)]
    grid = [list(vz.scan(row)) for row in grid_files]
    combined = vz.combine_nested(grid, ["member", "time"], values={"member": [0, 1]})
    assert combined["air"].shape == (2, 12, len(LAT), len(LON))
    with vz.open(vz.write(combined, tmp_path / "g.json")) as a, \
            xr.open_mfdataset(grid_files, combine="nested", concat_dim=["member", "time"]) as b:
        assert_same(a, b.assign_coords(member=[0, 1]))


def test_combine_sorts_then_concats(tmp_path):
    files = archive(tmp_path, n_files=3)
    c = vz.combine(vz.scan(files[::-1]), "time", by="time")
    assert [s.path for s in c.sources] == files


# ----------------------------------------------------------------------------- property: concat then split

def _split(m: Manifest, axis: int, sizes: list[int]) -> list[Manifest]:
    out, start = [], 0
    for n in sizes:
        sl = [slice(None)] * m.path_id.ndim
        sl[axis] = slice(start, start + n)
        sl = tuple(sl)
        sub_grid = m.path_id[sl].shape
        inline = {}
        for k, v in m.inline.items():
            idx = list(np.unravel_index(k, m.grid))
            if start <= idx[axis] < start + n:
                idx[axis] -= start
                inline[int(np.ravel_multi_index(tuple(idx), sub_grid))] = v
        out.append(Manifest(m.paths, m.path_id[sl], m.offset[sl], m.length[sl], inline).compact_paths())
        start += n
    return out


@st.composite
def manifests(draw):
    ndim = draw(st.integers(1, 3))
    axis = draw(st.integers(0, ndim - 1))
    other = [draw(st.integers(1, 3)) for _ in range(ndim)]
    n = draw(st.integers(1, 5))
    ms = []
    for _f in range(n):
        grid = list(other)
        grid[axis] = draw(st.integers(1, 4))
        size = int(np.prod(grid))
        paths = tuple(draw(st.lists(st.sampled_from([f"/d/f{k}.nc" for k in range(6)]), min_size=1, max_size=3,
                                    unique=True)))
        kinds = draw(st.lists(st.integers(0, len(paths) + 1), min_size=size, max_size=size))
        pid = np.array([k if k < len(paths) else (MISSING if k == len(paths) else INLINE) for k in kinds],
                       dtype=np.uint32)
        off = np.array(draw(st.lists(st.integers(0, 2**40), min_size=size, max_size=size)), dtype=np.uint64)
        ln = np.array(draw(st.lists(st.integers(1, 2**20), min_size=size, max_size=size)), dtype=np.uint64)
        off[pid > 0xFFFFFFFD] = 0
        ln[pid == MISSING] = 0
        inline = {}
        for k in np.flatnonzero(pid == INLINE).tolist():
            inline[k] = draw(st.binary(min_size=1, max_size=8))
            ln[k] = len(inline[k])
        ms.append(Manifest(paths, pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inline))
    return ms, axis


@settings(max_examples=150, deadline=None)
@given(manifests())
def test_concat_then_split_is_identity(case):
    ms, axis = case
    joined = concat_manifests(ms, axis)
    assert joined.n_chunks == sum(m.n_chunks for m in ms)
    parts = _split(joined, axis, [m.grid[axis] for m in ms])
    for a, b in zip(parts, ms):
        assert a.equals(b)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=6), st.integers(1, 3))
def test_vdataset_concat_then_split_is_identity(counts, chunk):
    """Through vz.concat on model objects (no files): per-file manifests come back."""
    dsets = []
    for k, nchunks in enumerate(counts):
        n = nchunks * chunk
        grid = (nchunks, 2)
        pid = np.zeros(grid, dtype=np.uint32)
        off = (np.arange(np.prod(grid), dtype=np.uint64) * 100 + k * 10000).reshape(grid)
        ln = np.full(grid, 100, dtype=np.uint64)
        man = Manifest((f"/d/f{k}.nc",), pid, off, ln)
        var = VArray("x", ("t", "y"), (n, 4), "<f4", (chunk, 2), ({"id": "zlib", "level": 1},), 0.0, {}, man)
        dsets.append(VDataset({"x": var}, sources=()))
    c = vz.concat(dsets, "t", check=False)
    assert c["x"].shape == (sum(counts) * chunk, 4)
    parts = _split(c["x"].manifest, 0, counts)
    for p, ds in zip(parts, dsets):
        assert p.equals(ds["x"].manifest)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 14), st.integers(1, 3), st.randoms(use_true_random=False))
def test_join_manifests_vectorised_equals_model_concat(n, other, rnd):
    """The vectorised path-table join (many files, nothing inlined) gives the same
    manifest as model.concat_manifests, and splitting it gives the inputs back."""
    from vz_jupyter.core.concat import join_manifests

    ms = []
    for _f in range(n):
        grid = (rnd.randint(1, 4), other)
        paths = tuple(rnd.sample([f"/d/f{k}.nc" for k in range(20)], rnd.randint(1, 3)))
        size = grid[0] * grid[1]
        pid = np.array([rnd.randint(0, len(paths)) for _ in range(size)], dtype=np.uint32)
        pid[pid == len(paths)] = MISSING
        off = np.array([rnd.randint(0, 2**40) for _ in range(size)], dtype=np.uint64)
        ln = np.array([rnd.randint(1, 2**20) for _ in range(size)], dtype=np.uint64)
        off[pid == MISSING] = 0
        ln[pid == MISSING] = 0
        ms.append(Manifest(paths, pid.reshape(grid), off.reshape(grid), ln.reshape(grid)))
    fast = join_manifests(ms, 0)
    assert fast.equals(concat_manifests(ms, 0))
    for a, b in zip(_split(fast, 0, [m.grid[0] for m in ms]), ms):
        assert a.equals(b)


def test_combine_nested_stack_inside_concat(tmp_path):
    grid_files = [[make_nc(tmp_path / f"t{t}_m{m}.nc", 4 * t) for m in range(3)] for t in range(2)]
    combined = vz.combine_nested([list(vz.scan(r)) for r in grid_files], ["time", "member"])
    assert combined["air"].dims == ("member", "time", "lat", "lon")
    with vz.open(vz.write(combined, tmp_path / "g.json")) as a, \
            xr.open_mfdataset(grid_files, combine="nested", concat_dim=["time", "member"]) as b:
        assert_same(a, b)
    # a bad file deep in the grid is named by the check of its level
    grid_files[1][2] = make_nc(tmp_path / "bad.nc", 4, dtype="f8")
    with pytest.raises(vz.CheckFailed) as ei:
        vz.combine_nested([list(vz.scan(r)) for r in grid_files], ["time", "member"])
    f = ei.value.report.by_code("dtype")[0]
    assert [os.path.basename(p) for p in f.files] == ["bad.nc"]


def test_time_bounds_with_per_file_units_are_re_encoded(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")
    files = []
    for k in range(3):
        p = tmp_path / f"b{k}.nc"
        with netCDF4.Dataset(p, "w") as nc:
            nc.createDimension("time", None)
            nc.createDimension("nv", 2)
            t = nc.createVariable("time", "f8", ("time",))
            t.units = f"hours since 2000-01-0{k + 1}"
            t.bounds = "time_bnds"
            t[:] = np.arange(4) + 0.5
            b = nc.createVariable("time_bnds", "f8", ("time", "nv"))
            b.units = t.units
            b[:] = np.stack([np.arange(4), np.arange(4) + 1], axis=1)
            v = nc.createVariable("x", "f4", ("time",))
            v[:] = np.arange(4) + 10 * k
        files.append(str(p))
    # day-long gaps between files are fine (a warning); the units differ (fixed)
    rep = vz.check(vz.scan(files), "time")
    assert not rep.has_errors and {f.variable for f in rep.by_code("time-units")} == {"time", "time_bnds"}
    combined = vz.concat(vz.scan(files), "time")
    assert combined["time_bnds"].shape == (12, 2) and combined["time_bnds"].manifest.n_inline == 1
    with vz.open(vz.write(combined, tmp_path / "b.json")) as a, mf(files, "time") as b:
        assert_same(a, b)
        np.testing.assert_array_equal(a.time_bnds.values, b.time_bnds.values)
