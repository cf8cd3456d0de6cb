"""The references show anyone the original values: kerchunk JSON, parquet and
Icechunk read by plain xarray (defaults, a process that never imports
vz_jupyter) equal ``xr.open_dataset(original)``, raw and decoded, for the shared
real files and generated cases of every fill-value class (tools/portable_table.py
prints the same comparison as a table)."""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.errors import FillValueWarning

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import portable_table as pt  # noqa: E402

SHARED = Path(os.environ.get("VZ_SHARED_DATA", ROOT.parent / "shared" / "data"))

#: differences a FillValueWarning states when writing Icechunk (xarray's zarr v3
#: reader truncates or refuses a _FillValue of another type than the variable)
ICECHUNK_WARNED = {
    "gen_nc3_nan_fill.nc": {"t2m", "count"},
    "gen_h5_odd_and_unallocated.h5": {"int_fill_15", "int_fill_nan"},
    "pyfive_h5netcdf_test.hdf5": {"z"},
}
#: variables the scanner does not reference yet (issue 7 section 4, the scanner's part):
#: a NUL-padded NetCDF3 name, netCDF-C's _nc4_non_coord_ prefix
SCANNER_TODO = {"ncc_ref_nctest_classic.nc": {"yy"}, "pyfive_h5netcdf_test.hdf5": {"mismatched_dim"}}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    work = tmp_path_factory.mktemp("portable")
    files = pt.make_cases(str(work)) + pt.real_files(str(SHARED))
    return {r["file"]: r for r in pt.check_files(files, str(work))}


def _problems(row, fmt, mode):
    return set(row[fmt][mode]) if isinstance(row.get(fmt), dict) else {f"not written: {row.get(fmt)}"}


@pytest.mark.parametrize("name", sorted(pt.CASES))
def test_generated_case_reads_as_the_original(rows, name):
    row = rows[name]
    assert "error" not in row, row["error"]
    assert row["skipped"] == []
    for fmt in pt.FORMATS:
        for mode in ("raw", "decoded"):
            got = _problems(row, fmt, mode)
            allowed = ICECHUNK_WARNED.get(name, set()) if fmt == "icechunk" else set()
            assert got <= allowed, (fmt, mode, {k: row[fmt][mode][k] for k in got - allowed})
    if name in ICECHUNK_WARNED:
        assert pt._warned(row, "icechunk") == ICECHUNK_WARNED[name]
    assert not pt._warned(row, "json") and not pt._warned(row, "parquet")


def test_real_files_read_as_the_original(rows):
    real = [r for r in rows.values() if not r["file"].startswith("gen_")]
    if not real:
        pytest.skip("no shared real files")
    bad = {}
    for row in real:
        if "error" in row:
            continue  # files the scanner refuses whole: the scanner's part (issue 7 section 4)
        skipped = {n for n, _ in row["skipped"]}
        todo = SCANNER_TODO.get(row["file"], set())
        for fmt in pt.FORMATS:
            if not isinstance(row.get(fmt), dict):
                if not todo:  # (a NUL-padded name cannot be a parquet field)
                    bad[(row["file"], fmt)] = row.get(fmt)
                continue
            allowed = (ICECHUNK_WARNED.get(row["file"], set()) if fmt == "icechunk" else set()) | todo
            for mode in ("raw", "decoded"):
                extra = set(row[fmt][mode]) - allowed - skipped
                if extra:
                    bad[(row["file"], fmt, mode)] = {k: row[fmt][mode][k] for k in extra}
    assert not bad, bad
    names = {r["file"] for r in real}
    for must in ("pyfive_dataset_datatypes.hdf5", "jhdf_lz4_datasets.hdf5", "ncc_ref_nctest_classic.nc"):
        if (SHARED / "real-defects" / must).exists():
            assert must in names


def test_fill_values_in_the_references(tmp_path):
    """What the references say: the variable's own _FillValue or null; one
    shared data: URL for the unwritten chunks of a fill zarr would not produce."""
    path = str(tmp_path / "f.nc")
    pt._nc4_default_fills(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FillValueWarning)
        refs = vz.serialize(vz.scan_file(path))
    r = refs["refs"]

    def za(n):
        return json.loads(r[f"{n}/.zarray"])

    assert za("v_i4")["fill_value"] is None and za("v_f4")["fill_value"] is None  # no _FillValue: nothing masked
    assert za("declared")["fill_value"] == -99 and za("scalar_declared")["fill_value"] == -1.5
    urls = [u for k, u in refs["templates"].items() if u.startswith("data:")]
    assert urls and len(urls) == len(set(urls))
    fill_refs = [k for k, v in r.items() if isinstance(v, list) and v[0].startswith("{{f")]
    assert "v_f4/2.0" in fill_refs and "scalar_unwritten/0" in fill_refs and "declared/5.2" not in fill_refs
    # the unwritten chunk reads as netCDF's default float fill, unmasked, through vz.open too
    got = vz.open(refs)["v_f4"].values
    assert got[2, 0] == np.float32(9.9692099683868690e36) and got[0, 1] == 1


def test_type_mismatched_fill_is_never_coerced(tmp_path):
    path = str(tmp_path / "era.nc")
    pt._nc3_nan_fill(path)
    ds = vz.scan_file(path)  # was: cannot convert float NaN to integer
    assert np.isnan(ds["t2m"].attrs["_FillValue"]) and ds["count"].attrs["_FillValue"] == 1.5
    refs = vz.serialize(ds)["refs"]
    za = json.loads(refs["count/.zarray"])
    zt = json.loads(refs["count/.zattrs"])
    assert za["fill_value"] is None and zt["_FillValue"] == 1.5
    back = vz.scan(vz.write(ds, tmp_path / "r.json"))[0]
    assert back["count"].attrs["_FillValue"] == 1.5 and isinstance(back["count"].attrs["_FillValue"], float)
    assert np.isnan(back["t2m"].attrs["_FillValue"])
    opened = vz.open(tmp_path / "r.json")
    np.testing.assert_array_equal(opened["count"].values, [1, 1, 2, 3])  # the 1s are data, not fill


def test_many_unwritten_chunks_stay_compact(tmp_path):
    """A large grid of unwritten chunks with a non-zero fill: one data: URL, one
    short reference per chunk; past the limit a FillValueWarning and no growth."""
    from vz_jupyter.core.model import Manifest, VArray, VDataset
    from vz_jupyter.core.serialize import zarr_meta

    grid = (400, 500)
    v = VArray("v", ("y", "x"), (4000, 5000), "<f4", (10, 10), ({"id": "zlib", "level": 1},), np.float32(-9),
               {}, Manifest.empty(grid))
    refs = vz.serialize(VDataset({"v": v}))
    size = len(json.dumps(refs))
    assert len(refs["refs"]) == 200_000 + 4 and size < 200_000 * 30  # measured: ~24.5 bytes per unwritten chunk
    assert sum(1 for u in refs["templates"].values() if u.startswith("data:")) == 1
    old = zarr_meta.MAX_FILL_CHUNKS
    zarr_meta.MAX_FILL_CHUNKS = 100_000
    try:
        with pytest.warns(FillValueWarning, match="unwritten chunks"):
            refs = vz.serialize(VDataset({"v": v}))
    finally:
        zarr_meta.MAX_FILL_CHUNKS = old
    assert len(refs["refs"]) == 4 and json.loads(refs["refs"]["v/.zarray"])["fill_value"] == -9
