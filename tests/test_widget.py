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


def listed(w) -> list[str]:
    """File names in the order the file list shows them (what the browser draws)."""
    d = w.w_files.data
    return [d["names"][i] for i in d["order"]]


def send(w, **msg):
    """A message from the file list in the browser (drag, ×, bring back)."""
    w.w_files._on_msg(w.w_files, msg, [])


def file_id(w, name) -> int:
    return w.w_files.data["names"].index(name)


def time_order(paths):
    return sorted((str(p) for p in paths), key=lambda p: int(Path(p).stem[-2:]))


# ------------------------------------------------------------------ initial state
def test_initial_state(archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = widget(archive)
    assert w.files == [str(p) for p in archive]  # the order given
    assert w.labels == ["b_day08.nc", "a_day04.nc", "c_day00.nc"]
    assert listed(w) == w.labels
    assert sorted(w.w_name.options) == sorted(w.labels)
    assert w.dim == "time" and w.w_dim.value == "time"
    assert set(w.w_dim.options) == {"time", "lat", "lon"}
    assert not w.busy and w.w_progress.value == 3 and w.w_progress.max == 3
    assert w.scan_errors == []
    # check ran on the order given: out of time order is an error, so Write is disabled
    assert w.report is not None and w.report.has_errors
    assert "order" in w.report.codes
    assert w.w_write.disabled is True and "error" in w.write_disabled_reason
    assert "out of order" in w.w_report.value
    # the advice names the button to press, not an API call
    assert w.write_disabled_reason.endswith("press Sort")
    assert "press Sort" in w.w_report.value and "vz.sort(" not in w.w_report.value
    assert "press Sort" in w.w_status.value
    # the order finding is pinned on top of the file list with the files it names
    pinned = w.w_files.data["pinned"]
    assert [p["code"] for p in pinned] == ["order"] and pinned[0]["level"] == "error"
    assert "press Sort" in pinned[0]["fix"]
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


def test_reorder_by_drag_and_by_api(archive):
    w = widget(archive)
    # the browser moves files (drag a row onto another: "move before it"; onto the end row: last)
    send(w, action="move", id=file_id(w, "c_day00.nc"), before=file_id(w, "b_day08.nc"))
    assert listed(w) == ["c_day00.nc", "b_day08.nc", "a_day04.nc"]
    send(w, action="move", id=file_id(w, "b_day08.nc"), before=None)
    assert listed(w) == ["c_day00.nc", "a_day04.nc", "b_day08.nc"]
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
    assert listed(w) == ["b_day08.nc", "a_day04.nc", "c_day00.nc"]
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
    # the file is pinned with the finding, marked in the list, and on the chunk map's strip
    pinned = w.w_files.data["pinned"]
    assert any(p["code"] == "scale-offset" and p["ids"] == [file_id(w, "d_day12.nc")] for p in pinned)
    assert w.w_files.data["flags"] == {str(file_id(w, "d_day12.nc")): "error"}
    assert "Rescan" in pinned[0]["fix"] and "vz." not in pinned[0]["fix"]
    cd = w.canvas.data
    bad_id = [i for i, n in enumerate(cd["names"]) if n == "d_day12.nc"][0]
    assert cd["flags"][str(bad_id)][0] == "error" and "scale_factor" in cd["flags"][str(bad_id)][1]
    assert cd["strip"] == [0] * 6 + [2] * 2  # the last file's two chunk positions
    # leave the bad file out (the × in the file list): write is enabled again
    send(w, action="remove", id=file_id(w, "d_day12.nc"))
    assert bad not in w.files and w.left_out == [bad]
    assert w.w_files.data["left_out"] == [file_id(w, "d_day12.nc")]
    assert not w.report.has_errors
    assert w.write_disabled_reason is None and not w.w_write.disabled
    # bring it back (the list's button): disabled again; "fix" it by rewriting the file and re-scanning
    send(w, action="include", id=file_id(w, "d_day12.nc"))
    assert w.files[-1] == bad and w.w_write.disabled
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
    assert values[0] == 0 and values[-1] == 3 and values == sorted(values)  # throttled, in order
    assert any("scanning 1/3" in s and "b_day08.nc" in s for s in statuses)
    assert "Scanned 3 files" in w.w_progress.description
    # the Rescan button scans in the background too, keeping the sorted order
    order = list(w.files)
    w.w_rescan.click()
    w.wait(60)
    assert not w.busy and w.files == order and not w.w_write.disabled


def test_dim_argument(archive):
    w = widget(archive, dim="lat")
    assert w.dim == "lat"
    # not in the files: said in one line with the likely intended name; no silent substitute
    w2 = widget(archive, dim="tiem")
    assert w2.dim is None and w2.combined is None
    assert any("'tiem' is not in these files; did you mean 'time'?" in e for e in w2.scan_errors)
    assert "did you mean" in w2.w_status.value and "vz-combine-error" in w2.w_status.value
    assert w2.w_write.disabled and w2.write_disabled_reason == "choose a concat dimension"
    w2.w_dim.value = "time"  # the user picks it
    assert w2.dim == "time" and w2.combined is not None


def test_remove_all_files(archive):
    w = widget(archive)
    w.set_order([])
    assert w.files == [] and w.w_write.disabled and w.write_disabled_reason == "no files selected"
    assert w.canvas.data["empty"] is True
    assert len(w.w_files.data["left_out"]) == 3
    send(w, action="include-all")
    assert len(w.files) == 3


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
    # the file list and the saved-state output carry it as data / escaped text too
    assert w.w_files.data["names"] == [nasty.replace("\x1b", "\N{REPLACEMENT CHARACTER}")]
    saved = w._saved_bundle()["text/html"]
    assert "<img src=x" not in saved and "&lt;img src=x onerror=alert(1)&gt;" in saved
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
    # 30 files named f000 … f029: one run of names, one colour, one legend row
    assert [(r["file"], r["files"], r["chunks"]) for r in d["legend"]] == [("f000.nc … f029.nc", 30, 12000)]
    assert d["legend_more"] is None
    assert d["offset"] is None  # blocks have no single byte range
    # the browser can name the file at any position along the columns
    assert d["names"] == [f"f{i:03d}.nc" for i in range(30)]
    assert d["col_sources"] == [[100 * i, i] for i in range(30)]
    assert len(json.dumps(d)) < 200_000


# ------------------------------------------------------------------ display bundle
def test_mimebundle_has_widget_and_static_fallback(archive):
    w = widget(archive)
    w.sort()
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    fallback = data["text/html"]
    assert "<svg" in fallback and "b_day08.nc" in fallback and "<script" not in fallback
    assert "3 of 3 files along &#x27;time&#x27;" in fallback and "sorted 3 files by time" in fallback
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


# ------------------------------------------------------------------ typing, sorting by name, status
def test_name_box_enter_leaves_out_and_brings_back(archive):
    w = widget(archive)
    w.w_name.value = "a_day04.nc"  # the Combobox syncs its value on Enter (continuous_update=False)
    assert "a_day04.nc" not in w.labels and w.w_name.value == ""
    assert "left out a_day04.nc" in w.w_status.value
    w.w_name.value = "a_day04.nc"  # again: brought back, at the end
    assert w.labels[-1] == "a_day04.nc" and "brought back a_day04.nc" in w.w_status.value
    w.w_name.value = "nope.nc"
    assert "nope.nc: no scanned file has this name" in w.w_status.value and len(w.files) == 3


def test_default_pattern_picks_the_varying_number_and_ties_warn(tmp_path):
    d = tmp_path / "t2m"
    d.mkdir()
    paths = [make_file(d / f"t2m_d{day}.nc", 4 * day) for day in (1, 10, 2, 9)]
    w = widget(paths)
    assert w.w_pattern.value == r"^t\d+m_d(\d+)\.nc$"  # the day, not the "2" of "t2m"
    w.w_sort_by.value = "pattern"
    w.w_sort.click()
    assert w.labels == ["t2m_d1.nc", "t2m_d2.nc", "t2m_d9.nc", "t2m_d10.nc"]
    assert "sorted 4 files by pattern" in w.w_status.value and "vz-combine-ok" in w.w_status.value
    # a pattern matching the same number everywhere sorts nothing, and says so
    w.set_order([0, 1, 2, 3])
    w.w_pattern.value = r"(\d+)"
    w.w_sort.click()
    assert w.labels == ["t2m_d1.nc", "t2m_d10.nc", "t2m_d2.nc", "t2m_d9.nc"]
    assert "same sort key" in w.w_status.value and "vz-combine-warn" not in w.w_status.value  # order error shows
    assert "vz-combine-error" in w.w_status.value  # still out of order: the check report's error
    w.rescan_pattern = None
    w.w_rescan.click()
    assert w.w_pattern.value == r"(\d+)"  # the user's pattern survives a re-scan


def test_status_clears_old_errors_and_shows_the_written_path(archive, tmp_path):
    w = widget(archive)
    w.w_sort_by.value = "pattern"
    w.w_pattern.value = r"(\d{5})"  # matches nothing: an error line
    w.w_sort.click()
    assert "does not match" in w.w_status.value
    w.w_sort_by.value = "coord"
    w.w_sort.click()
    assert "does not match" not in w.w_status.value
    w.w_path.value = str(tmp_path / "deep" / ("a_rather_long_folder_name_" * 4) / "out.json")
    os.makedirs(os.path.dirname(w.target))
    w.write()
    assert "does not match" not in w.w_status.value and "wrote" in w.w_status.value
    # the full path is there in full (wrapping, selectable), not cut with an ellipsis
    assert f"<code>{w.written}</code>" in w.w_write_status.value
    assert "text-overflow" not in w.w_write_status.value and "nowrap" not in w.w_write_status.value
    # a later refresh keeps saying what was written
    w.set_dim("time")
    assert w.written in w.w_write_status.value


# ------------------------------------------------------------------ the file list
def test_file_list_payload_runs_pins_and_caps():
    from vz_jupyter.jupyter.widgets.filelist import MIN_RUN, PINNED_FILES, file_list_payload

    names = [f"day_{i:04d}.nc" for i in range(1, 1001)] + ["extra.nc"]
    order = list(range(1001))
    findings = [{"level": "error", "code": "scale-offset", "text": "scale_factor differs", "fix": "leave out",
                 "ids": [499]},
                {"level": "warning", "code": "gap", "text": "a gap", "fix": "", "ids": list(range(100, 120))}]
    d = file_list_payload(names, order, left_out=[], findings=findings, unread=["junk.nc: not HDF5"])
    # runs of clean files whose names ascend; flagged files stand alone
    assert d["runs"] == [[0, 100], [120, 499], [500, 1000]]
    assert d["flags"]["499"] == "error" and d["flags"]["100"] == "warning" and len(d["flags"]) == 21
    assert d["pinned"][1]["ids"] == list(range(100, 100 + PINNED_FILES)) and d["pinned"][1]["more"] == 20 - PINNED_FILES
    assert d["unread"] == ["junk.nc: not HDF5"]
    assert len(json.dumps(d)) < 40_000
    # a shuffled order: only short runs, no run under MIN_RUN files
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(1000).tolist()
    d2 = file_list_payload(names, shuffled)
    assert all(b - a >= MIN_RUN for a, b in d2["runs"])
    assert sum(b - a for a, b in d2["runs"]) < 250  # chance ascents only: most files stay rows
    # a run breaks where the name template changes or the numbers stop ascending
    d3 = file_list_payload(["a1.nc", "a2.nc", "a3.nc", "a4.nc", "b5.nc", "b6.nc", "b7.nc", "b8.nc", "b1.nc"],
                           list(range(9)))
    assert d3["runs"] == [[0, 4], [4, 8]]


def test_file_list_messages_are_checked(archive):
    w = widget(archive)
    send(w, action="remove", id=99)
    assert "unknown file" in w.w_status.value and len(w.files) == 3
    send(w, action="explode")
    assert "unknown action" in w.w_status.value


def test_js_file_list_never_parses_strings_as_html():
    js = (STATIC / "filelist.js").read_text()
    for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                "http://", "https://", "import "):
        assert bad not in js, bad
    assert "export default" in js and "textContent" in js and "model.send" in js


# ------------------------------------------------------------------ archive scale
@pytest.fixture(scope="module")
def year(tmp_path_factory):
    from vz_jupyter.sample_data import make_daily_archive

    folder = tmp_path_factory.mktemp("year")
    # 1,000 days; day 500 packed differently, days 200-201 missing, day 300 repeated
    return make_daily_archive(folder, 1000, scale_factor={500: 0.02}, skip=(200, 201), repeat=(300,))


def test_a_thousand_files(year, tmp_path):
    w = widget(year)
    assert len(w.files) == 999 and w.dim == "time"
    d = w.w_files.data
    # a few collapsed runs, the problems pinned on top
    runs = [(d["names"][d["order"][a]], d["names"][d["order"][b - 1]], b - a) for a, b in d["runs"]]
    assert runs == [("day_0001.nc", "day_0199.nc", 199), ("day_0203.nc", "day_0300.nc", 98),
                    ("day_0301.nc", "day_0499.nc", 199), ("day_0501.nc", "day_1000.nc", 500)]
    assert [(p["code"], [d["names"][i] for i in p["ids"]]) for p in d["pinned"]] == [
        ("scale-offset", ["day_0500.nc"]), ("duplicate", ["day_0300b.nc"]), ("gap", ["day_0202.nc"])]
    assert len(json.dumps(d)) < 60_000
    # the chunk map: runs of names as legend rows, every file nameable, findings on the strip
    c = w.canvas.data
    assert c["cols"] <= 240 and len(c["names"]) == 999
    assert [(r["file"], r["files"]) for r in c["legend"]] == [
        ("day_0001.nc … day_0300.nc", 298), ("day_0300b.nc", 1), ("day_0301.nc … day_1000.nc", 700)]
    assert len({r["colour"] for r in c["legend"]}) == 3
    starts = [p for p, _ in c["col_sources"]]
    assert len(starts) == 999 and starts == sorted(starts)
    name_at = {c["names"][i]: p for p, i in c["col_sources"]}
    assert name_at["day_0500.nc"] == 498  # 2 days missing, day 300 twice: position 498
    bc = c["block"][1]
    assert c["strip"][498 // bc] == 2 and c["strip"][name_at["day_0202.nc"] // bc] >= 1
    assert sum(1 for v in c["strip"] if v) == 3
    assert len(json.dumps(c)) < 150_000
    # the saved-state HTML tells the same story in a bounded size
    html_text = w.static_html()
    assert "day_0001.nc … day_0199.nc (199 files, in name order)" in html_text
    assert "day_0500.nc ✖" in html_text and len(html_text) < 120_000
    # leave out the two files with errors (the gap is a warning): Write becomes possible
    send(w, action="remove", id=file_id(w, "day_0500.nc"))
    send(w, action="remove", id=file_id(w, "day_0300b.nc"))
    assert not w.report.has_errors and w.write_disabled_reason is None
    target = tmp_path / "year.json"
    w.w_path.value = str(target)
    w.w_write.click()
    got = vz.open(str(target))
    assert got["air"].shape == (997, 16, 20)
    for k, name in ((0, "day_0001.nc"), (996, "day_1000.nc")):
        with xr.open_dataset(year[0].parent / name) as want:
            np.testing.assert_array_equal(got["air"].values[k], want["air"].values[0])
            assert got["time"].values[k] == want["time"].values[0]


# ------------------------------------------------------------------ saved notebooks
def test_saved_notebook_shows_the_final_state(archive, tmp_path):
    """A notebook run by a kernel and saved: the widget's second output holds its
    state after the background scan, the sort and the write, not the empty state
    of the moment it was displayed."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    glob = str(archive[0].parent / "*.nc")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext vz_jupyter"),
        nbformat.v4.new_code_cell(f"w = %vz combine {glob}\nw"),
        nbformat.v4.new_code_cell(f"w.wait()\nw.sort()\nw.w_path.value = {str(tmp_path / 'saved.json')!r}\n"
                                  "w.write()\nNone"),
    ]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = nb.cells[1].outputs
    assert len(outs) == 2
    assert "application/vnd.jupyter.widget-view+json" in outs[0]["data"]
    saved = outs[1]["data"]["text/html"]
    assert 'class="vz-combine-saved"' in saved
    assert "vz combine: 3 of 3 files along &#x27;time&#x27;" in saved
    assert saved.index("c_day00.nc") < saved.index("a_day04.nc") < saved.index("b_day08.nc")  # sorted
    assert "wrote" in saved and "saved.json" in saved and "<svg" in saved
    assert "0 files" not in saved and "?" not in saved.split("<ol>")[0]
