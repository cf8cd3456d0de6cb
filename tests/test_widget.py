"""State tests for the combine widget and the chunk-map canvas (no kernel, no browser).

ipywidgets instantiate outside a kernel (their comm is a dummy), so the widget's
state logic is driven directly: the same methods the controls call.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

netCDF4 = pytest.importorskip("netCDF4")
xr = pytest.importorskip("xarray")

import vz_jupyter as vz  # noqa: E402
from vz_jupyter.core.errors import VZError, WriteError  # noqa: E402
from vz_jupyter.jupyter.widgets.canvas import SCHEMA, STATIC, ChunkMapCanvas, canvas_payload  # noqa: E402
from vz_jupyter.jupyter.widgets.combine import CombineWidget, one_line  # noqa: E402

NT, NLAT, NLON = 4, 20, 30  # time steps per file; chunks (2, 20, 30) -> 2 chunks per file (> inline threshold)


def make_file(path: Path, start_day: int, *, scale: float = 0.01, offset: float = 200.0, seed: int = 0) -> Path:
    """A small packed NetCDF4 file: air(time, lat, lon) int16 with scale/offset."""
    rng = np.random.default_rng(seed + start_day)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", NLAT)
        nc.createDimension("lon", NLON)
        t = nc.createVariable("time", "f8", ("time",), chunksizes=(NT,))
        t.units = "days since 2000-01-01"
        t.calendar = "standard"
        t[:] = np.arange(start_day, start_day + NT, dtype="f8")
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-10, 10, NLAT)
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        lon[:] = np.linspace(0, 40, NLON)
        air = nc.createVariable("air", "i2", ("time", "lat", "lon"), chunksizes=(2, NLAT, NLON),
                                zlib=True, complevel=1, fill_value=np.int16(-32767))
        air.scale_factor = scale
        air.add_offset = offset
        air.units = "K"
        air.set_auto_maskandscale(True)
        vals = 250.0 + rng.normal(0, 10, size=(NT, NLAT, NLON))
        air[:] = vals
    return path


@pytest.fixture
def archive(tmp_path) -> list[Path]:
    d = tmp_path / "archive"
    d.mkdir()
    # named so that name order differs from time order
    return [
        make_file(d / "b_day08.nc", 8),
        make_file(d / "a_day04.nc", 4),
        make_file(d / "c_day00.nc", 0),
    ]


@pytest.fixture
def bad_archive(archive) -> list[Path]:
    """The archive plus one file packed with a different scale_factor."""
    bad = make_file(archive[0].parent / "d_day12.nc", 12, scale=0.02)
    return archive + [bad]


def widget(paths, **kw) -> CombineWidget:
    return CombineWidget([str(p) for p in paths], sync=True, **kw)


def time_order(paths):
    return sorted((str(p) for p in paths), key=lambda p: int(Path(p).stem[-2:]))


# ------------------------------------------------------------------ initial state
def test_initial_state(archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = widget(archive)
    assert w.files == [str(p) for p in archive]  # the order given
    assert w.labels == ["b_day08.nc", "a_day04.nc", "c_day00.nc"]
    assert list(w.w_files.value) == w.labels
    assert sorted(w.w_files.allowed_tags) == sorted(w.labels)
    assert w.dim == "time" and w.w_dim.value == "time"
    assert set(w.w_dim.options) == {"time", "lat", "lon"}
    assert not w.busy and w.w_progress.value == 3 and w.w_progress.max == 3
    assert w.scan_errors == []
    # check ran on the order given: out of time order is an error, so Write is disabled
    assert w.report is not None and w.report.has_errors
    assert "order" in w.report.codes
    assert w.w_write.disabled is True and "error" in w.write_disabled_reason
    assert "out of order" in w.w_report.value
    # preview of the combined air variable: 3 files x 2 chunks along time
    assert w.combined is not None and w.combined["air"].shape == (3 * NT, NLAT, NLON)
    assert w.w_var.value == "air"
    d = w.canvas.data
    assert d["schema"] == SCHEMA and not d["empty"]
    assert d["variable"] == "air" and d["col_axis"] == 0
    assert [item["file"] for item in d["legend"]] == w.labels  # first appearance = file order
    # sorting by the concat coordinate fixes it
    w.sort()
    assert w.files == time_order(archive)
    assert not w.report.has_errors, w.report.summary_line()
    assert w.write_disabled_reason is None and w.w_write.disabled is False


def test_reorder_by_tags_and_by_api(archive):
    w = widget(archive)
    # the browser reorders the TagsInput value (drag and drop)
    w.w_files.value = ["c_day00.nc", "a_day04.nc", "b_day08.nc"]
    assert w.files == time_order(archive)
    assert not w.report.has_errors and not w.w_write.disabled
    d = w.canvas.data
    assert [item["file"] for item in d["legend"]] == ["c_day00.nc", "a_day04.nc", "b_day08.nc"]
    # the combined manifest follows the order: first time chunk comes from c_day00
    m = w.combined["air"].manifest
    assert m.chunk((0, 0, 0))[0] == str(archive[2])
    assert m.chunk((5, 0, 0))[0] == str(archive[0])
    # API: by display name, by index, by path
    w.set_order(["b_day08.nc", 1, str(archive[2])])
    assert w.files == [str(archive[0]), str(archive[1]), str(archive[2])]
    assert list(w.w_files.value) == ["b_day08.nc", "a_day04.nc", "c_day00.nc"]
    with pytest.raises(VZError, match="not one of the scanned files"):
        w.set_order(["nope.nc"])


def test_sort_by_coordinate_and_pattern(archive):
    w = widget(archive)
    w.sort(by="time")
    assert w.files == time_order(archive)
    w.set_order([2, 1, 0])
    w.sort(pattern=r"^([a-z])_")  # letters: a, b, c
    assert [Path(p).name for p in w.files] == ["a_day04.nc", "b_day08.nc", "c_day00.nc"]
    # the Sort button path, with an error shown as one line instead of a traceback
    w.w_sort_by.value = "pattern"
    w.w_pattern.value = r"(\d{5})"  # matches nothing
    w.w_sort.click()
    assert w.error and "\n" not in w.error and "does not match" in w.error
    assert "Traceback" not in w.w_status.value
    w.w_sort_by.value = "coord"
    w.w_sort.click()
    assert w.files == time_order(archive)
    # combined time coordinate is increasing once sorted
    t = np.asarray(vz.open(w.combined)["time"].values)
    assert np.all(np.diff(t) > np.timedelta64(0, "s"))


def test_dim_change(archive):
    w = widget(archive)
    w.sort(by="time")
    w.set_dim("lat")
    assert w.dim == "lat" and w.w_dim.value == "lat"
    # concatenating along lat makes lat values overlap and time values differ: errors
    assert w.report.has_errors
    assert w.w_write.disabled
    w.w_dim.value = "time"  # from the dropdown
    assert w.dim == "time" and not w.report.has_errors and not w.w_write.disabled
    with pytest.raises(VZError, match="not in these files"):
        w.set_dim("depth")


def test_scale_factor_error_disables_write_and_removing_enables(bad_archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = widget(bad_archive)
    w.sort(by="time")
    rep = w.report
    assert rep.has_errors
    bad = str(bad_archive[-1])
    # the error names the odd file and the scale_factor
    errs = [f for f in rep.errors if "scale_factor" in (f.message + str(getattr(f, "code", "")))]
    assert errs, rep.summary_line()
    assert any(bad in f.files or os.path.basename(bad) in " ".join(f.files) for f in errs)
    assert "scale_factor" in w.w_report.value
    assert w.w_write.disabled
    assert "error" in w.write_disabled_reason
    # the button does nothing; the API refuses with a one-line error; nothing is written
    w.w_write.click()
    assert not (tmp_path / "combined.json").exists()
    with pytest.raises(WriteError, match="check report has"):
        w.write()
    assert not (tmp_path / "combined.json").exists()
    # leave the bad file out (the × in the tags input): write is enabled again
    w.w_files.value = [lab for lab in w.w_files.value if lab != "d_day12.nc"]
    assert bad not in w.files
    assert not w.report.has_errors
    assert w.write_disabled_reason is None and not w.w_write.disabled
    # bring it back: disabled again; "fix" it by rewriting the file and re-scanning
    w.include("d_day12.nc")
    assert w.w_write.disabled
    make_file(Path(bad), 12, scale=0.01)
    w.set_order(list(reversed(w.files)))
    before = list(w.files)
    w.w_rescan.click()  # the Rescan button (synchronous outside a kernel)
    assert w.files == before  # a re-scan keeps the order
    w.sort(by="time")
    assert len(w.files) == 4 and not w.report.has_errors and not w.w_write.disabled


@pytest.mark.parametrize("fmt,name", [("kerchunk-json", "out.json"), ("kerchunk-parquet", "out.parquet"),
                                      ("icechunk", "out.icechunk")])
def test_write_reads_back_equal_to_xarray(archive, tmp_path, fmt, name):
    if fmt == "icechunk":
        pytest.importorskip("icechunk")
    w = widget(archive)
    w.sort(by="time")
    w.w_format.value = fmt
    target = tmp_path / name
    w.w_path.value = str(target)
    assert w.write_disabled_reason is None
    w.w_write.click()  # the button path
    assert w.error is None, w.error
    assert w.written == str(target) and target.exists()
    got = vz.open(str(target))
    originals = [xr.open_dataset(p) for p in time_order(archive)]
    try:
        expected = xr.combine_nested(originals, concat_dim="time")  # what open_mfdataset does
        np.testing.assert_array_equal(got["air"].values, expected["air"].values)
        np.testing.assert_array_equal(got["time"].values, expected["time"].values)
        np.testing.assert_array_equal(got["lat"].values, expected["lat"].values)
        assert got["air"].attrs.get("units") == "K"
    finally:
        for ds in originals:
            ds.close()
    # the target now exists: writing again needs the overwrite box
    assert w.w_write.disabled and "exists" in w.write_disabled_reason


def test_write_matches_open_mfdataset_when_dask_present(archive, tmp_path):
    pytest.importorskip("dask")
    w = widget(archive)
    w.sort(by="time")
    w.w_path.value = str(tmp_path / "mf.json")
    w.write()
    with xr.open_mfdataset(time_order(archive), combine="nested", concat_dim="time") as expected:
        np.testing.assert_array_equal(vz.open(str(tmp_path / "mf.json"))["air"].values, expected["air"].values)


def test_no_overwrite_without_checkbox(archive, tmp_path):
    target = tmp_path / "exists.json"
    target.write_text("keep me")
    w = widget(archive)
    w.sort(by="time")
    w.w_path.value = str(target)
    assert w.w_write.disabled
    assert "tick overwrite" in w.write_disabled_reason
    w.w_write.click()
    with pytest.raises(WriteError):
        w.write()
    assert target.read_text() == "keep me"
    w.w_overwrite.value = True
    assert not w.w_write.disabled
    # overwrite replaces only an earlier output of the same format: refused, one line
    w.w_write.click()
    assert "not replaced" in w.error and "\n" not in w.error
    assert target.read_text() == "keep me"
    target.unlink()
    vz.write(vz.scan(str(archive[0]))[0], str(target))  # an earlier kerchunk JSON output
    w.w_overwrite.value = True
    w.write()
    assert vz.open(str(target))["air"].shape == (3 * NT, NLAT, NLON)
    # overwrite is a one-shot choice
    assert w.w_overwrite.value is False and w.w_write.disabled


def test_format_changes_extension(archive, tmp_path):
    w = widget(archive, output=str(tmp_path / "x.json"))
    w.sort()
    w.w_format.value = "kerchunk-parquet"
    assert w.w_path.value.endswith("x.parquet")
    w.w_format.value = "icechunk"
    assert w.w_path.value.endswith("x.icechunk")
    w.w_path.value = ""
    assert w.write_disabled_reason == "no output path"


def test_unreadable_file_is_one_line_and_left_out(archive, tmp_path):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"this is not a netcdf file at all")
    w = widget(list(archive) + [junk])
    assert len(w.files) == 3 and str(junk) not in w.files
    assert len(w.scan_errors) == 1 and "junk.nc" in w.scan_errors[0] and "\n" not in w.scan_errors[0]
    assert "junk.nc" in w.w_status.value and "Traceback" not in w.w_status.value
    assert w.w_progress.bar_style == "danger"
    # a glob matching nothing: one line, no exception out of the constructor
    w2 = CombineWidget([str(tmp_path / "none*.nc")], sync=True)
    assert w2.error and "no files match" in w2.error and w2.files == []
    assert w2.w_write.disabled and w2.write_disabled_reason == "no files selected"
    assert not w2.w_path.disabled  # the controls are usable again


def test_background_scan_finishes_with_progress(archive):
    w = CombineWidget([str(p) for p in archive], sync=False)
    assert w.wait(60) is w
    assert not w.busy and len(w.files) == 3 and w.report is not None
    assert w.w_progress.value == 3
    w.sort()
    assert w.w_write.disabled is False
    # a re-scan moves the bar file by file and shows each file's name while scanning
    values, statuses = [], []
    w.w_progress.observe(lambda ch: values.append(ch["new"]), names="value")
    w.w_status.observe(lambda ch: statuses.append(ch["new"]), names="value")
    w.scan()
    assert values == [0, 1, 2, 3]
    assert any("scanning 2/3" in s and "a_day04.nc" in s for s in statuses)
    # the Rescan button scans in the background too, keeping the sorted order
    order = list(w.files)
    w.w_rescan.click()
    w.wait(60)
    assert not w.busy and w.files == order and not w.w_write.disabled


def test_dim_argument(archive):
    w = widget(archive, dim="lat")
    assert w.dim == "lat"
    w2 = widget(archive, dim="depth")  # not in the files: said in one line, a real dim is used
    assert w2.dim in ("time", "lat", "lon")
    assert any("'depth' is not in these files" in e for e in w2.scan_errors)
    assert "depth" in w2.w_status.value


def test_remove_all_files(archive):
    w = widget(archive)
    w.w_files.value = []
    assert w.files == [] and w.w_write.disabled and w.write_disabled_reason == "no files selected"
    assert w.canvas.data["empty"] is True


# ------------------------------------------------------------------ canvas payload
def test_canvas_payload_is_correct(archive):
    w = widget(archive)
    w.sort(by="time")
    var = w.combined["air"]
    d = w.canvas.data
    assert d == canvas_payload(var, col_dim="time", title="combined air")
    # columns run along time (6 chunks), one row (lat/lon single chunk)
    assert d["col_axis"] == 0 and d["rows"] == 1 and d["cols"] == var.grid[0] == 6
    assert not d["aggregated"]
    m = var.manifest
    legend_ids = {item["id"]: item for item in d["legend"]}
    for k in range(6):
        path, off, length, _ = m.chunk((k, 0, 0))
        cid = d["cells"][k]
        assert legend_ids[cid]["path"] == path
        assert d["offset"][k] == off and d["length"][k] == length
        assert d["colours"][str(cid)] == legend_ids[cid]["colour"]
    assert [item["file"] for item in d["legend"]] == ["c_day00.nc", "a_day04.nc", "b_day08.nc"]
    assert all(item["chunks"] == 2 for item in d["legend"])
    assert d["n_chunks"] == 6 and d["n_missing"] == 0
    # JSON-clean: plain types only, no NaN/inf, survives a strict round trip
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d


def test_canvas_payload_sanitised(tmp_path):
    nasty = "<img src=x onerror=alert(1)>&\"'\x1b[31m.nc"
    p = make_file(tmp_path / nasty, 0)
    w = widget([p])
    d = w.canvas.data
    item = d["legend"][0]
    # the name travels as data (the JS assigns it with textContent) minus control chars
    assert item["file"] == nasty.replace("\x1b", "\N{REPLACEMENT CHARACTER}")
    assert all(ord(ch) >= 32 for s in (item["file"], item["path"]) for ch in s)
    json.dumps(d, allow_nan=False)
    # colours are strict #rrggbb (they go into style properties)
    assert all(len(c) == 7 and c[0] == "#" and int(c[1:], 16) >= 0 for c in d["colours"].values())
    # every HTML fallback escapes it
    for html_text in (w.static_html(), w.canvas.fallback_html, w.w_report.value, w.w_write_status.value):
        assert "<img src=x" not in html_text
    assert "&lt;img src=x onerror=alert(1)&gt;" in w.static_html()
    # long names are bounded
    long = canvas_payload(w.combined["air"], title="t" * 5000)
    assert len(long["title"]) <= 300


def test_js_never_parses_strings_as_html():
    js = (STATIC / "chunkmap.js").read_text()
    for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                "http://", "https://", "import "):
        assert bad not in js, bad
    assert "export default" in js and "textContent" in js
    assert "data-jp-theme-light" in js and "MutationObserver" in js
    assert ChunkMapCanvas._esm and "vz-chunkmap/1" in str(ChunkMapCanvas._esm)


def test_canvas_payload_aggregates_big_grids():
    from vz_jupyter.core.model import Manifest, VArray

    grid = (3000, 4)
    pid = (np.arange(grid[0])[:, None] // 100 * np.ones(grid[1], dtype=int)).astype(np.uint32)
    paths = tuple(f"/data/f{i:03d}.nc" for i in range(30))
    m = Manifest(paths, pid, np.zeros(grid), np.full(grid, 10))
    var = VArray("x", ("time", "y"), (3000, 40), "f4", (1, 10), (), 0.0, {}, m)
    d = canvas_payload(var, col_dim="time")
    assert d["aggregated"] and d["cols"] <= 240 and d["rows"] == 4
    assert len(d["cells"]) == d["rows"] * d["cols"]
    assert len(d["legend"]) == 20 and d["legend_more"]["files"] == 10
    assert d["offset"] is None  # blocks have no single byte range
    assert len(json.dumps(d)) < 200_000


# ------------------------------------------------------------------ display bundle
def test_mimebundle_has_widget_and_static_fallback(archive):
    w = widget(archive)
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    fallback = data["text/html"]
    assert "<svg" in fallback and "b_day08.nc" in fallback and "<script" not in fallback
    assert "CombineWidget" in data["text/plain"]
    cdata = w.canvas._repr_mimebundle_()
    cdata = cdata[0] if isinstance(cdata, tuple) else cdata
    assert "<svg" in cdata["text/html"]


def test_one_line():
    assert one_line(ValueError("a\nb")) == "ValueError: a"
    assert one_line(VZError("x.nc: bad")) == "x.nc: bad"
    assert len(one_line(RuntimeError("y" * 1000))) <= 400


def test_exported_from_package():
    assert vz.CombineWidget is CombineWidget
