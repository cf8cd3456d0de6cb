"""Rich displays: dataset/list HTML and text, chunk maps, shared helpers.

Datasets are built directly from model objects (no files), except the scan tests
at the end which render a real scan result when the scanner is available."""
from __future__ import annotations

import builtins
import collections
import io
import json
import math
import os
import re

import numpy as np
import pytest

from vz_jupyter.core.model import MISSING, Manifest, Source, VArray, VDataset, VDatasetList
from vz_jupyter.display import common
from vz_jupyter.display.chunkmap import PALETTE, chunk_map_data, chunk_map_svg, source_colour
from vz_jupyter.display.common import (
    Safe,
    attrs_html,
    collapsible,
    escape,
    format_bytes,
    more_text,
    reset_ids,
    table,
    wrap_repr,
)
from vz_jupyter.display.html import Limits, dataset_html, dataset_list_html
from vz_jupyter.display.text import dataset_list_text, dataset_text

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"onmouseover=alert(2) x="'
BUDGET = 200_000


# --------------------------------------------------------------------------- builders
def make_var(name, dims, shape, chunks, paths, pid, *, dtype="<f4", codecs=None, attrs=None,
             inline=None, fill=np.nan, length=1000):
    pid = np.asarray(pid, dtype=np.uint32)
    off = (np.arange(pid.size, dtype=np.uint64) * np.uint64(length)).reshape(pid.shape)
    ln = np.full(pid.shape, length, dtype=np.uint64)
    ln[pid == MISSING] = 0
    m = Manifest(tuple(paths), pid, off, ln)
    if inline:
        m = m.with_inline(inline)
    if codecs is None:
        codecs = ({"id": "shuffle", "elementsize": np.dtype(dtype).itemsize}, {"id": "zlib", "level": 4})
    return VArray(name, dims, shape, dtype, chunks, codecs, fill, attrs if attrs is not None else {"units": "K"}, m)


def grid_var(name, grid, paths, pid=None, **kw):
    """A variable whose chunk grid is ``grid`` (chunk size 2 along every axis)."""
    grid = tuple(grid)
    if pid is None:
        pid = np.zeros(grid, dtype=np.uint32)
    dims = tuple(f"d{i}" for i in range(len(grid)))
    return make_var(name, dims, tuple(2 * g for g in grid), (2,) * len(grid), paths, pid, **kw)


def sources(paths):
    return tuple(Source(p, 1000 * (i + 1), 1.7e9 + 3600 * i, format="NetCDF4") for i, p in enumerate(paths))


@pytest.fixture
def sample():
    """Time-concatenated 3-D variable over 12 files with missing and inlined chunks,
    plus 0-D, 1-D and 4-D variables and a hostile name."""
    paths = [f"/data/run/air.{y}.nc" for y in range(2000, 2012)]
    pid = np.repeat(np.arange(12, dtype=np.uint32), 4)[:, None, None] * np.ones((1, 3, 4), np.uint32)
    pid[5, 1, 2] = MISSING
    pid[6] = MISSING
    air = make_var("air", ("time", "lat", "lon"), (480, 219, 144), (10, 73, 36), paths, pid,
                   inline={0: b"x" * 40}, attrs={"units": "degK", "long_name": "air temperature"})
    time = make_var("time", ("time",), (480,), (10,), paths, np.repeat(np.arange(12), 4), dtype="<f8", codecs=())
    lat = make_var("lat", ("lat",), (219,), (219,), paths[:1], [0], codecs=(), inline={0: b"y" * 876})
    scalar = make_var("scalar", (), (), (), paths[:1], np.zeros((), np.uint32), dtype=">i4", codecs=())
    four = make_var("four", ("t", "z", "y", "x"), (6, 4, 6, 8), (1, 2, 3, 2), paths[:3],
                    np.repeat(np.arange(3, dtype=np.uint32), 2)[:, None, None, None] * np.ones((1, 2, 2, 4), np.uint32))
    return VDataset(
        {"time": time, "lat": lat, "air": air, "scalar": scalar, "four": four},
        attrs={"title": "reanalysis", "history": "created"},
        coords=("time", "lat"),
        sources=sources(paths),
        skipped=(("strings", "variable-length strings cannot be referenced"),),
    )


@pytest.fixture
def hostile():
    paths = [f"/data/{HOSTILE}/f{i}.nc" for i in range(3)] + [f'/data/{HOSTILE_ATTR}.nc']
    v = make_var(HOSTILE, (HOSTILE_ATTR, "x"), (4, 4), (2, 2), paths, [[0, 1], [2, 3]],
                 attrs={HOSTILE_ATTR: HOSTILE, "<b>k</b>": np.array([1, 2, 3])},
                 codecs=({"id": HOSTILE, "level": HOSTILE_ATTR},))
    w = make_var(HOSTILE_ATTR, ("x",), (4,), (2,), paths[:1], [0, 0], attrs={"a": HOSTILE_ATTR})
    return VDataset({HOSTILE: v, HOSTILE_ATTR: w}, attrs={HOSTILE: HOSTILE_ATTR, HOSTILE_ATTR: HOSTILE},
                    coords=(HOSTILE_ATTR,), sources=tuple(Source(p, 10, 0.0, format=HOSTILE) for p in paths),
                    skipped=((HOSTILE, HOSTILE_ATTR),), groups=(HOSTILE,), group=HOSTILE_ATTR)


@pytest.fixture(autouse=True)
def _ids():
    reset_ids()
    yield


def _ids_and_fors(html):
    ids = re.findall(r'\sid="([^"]+)"', html)
    fors = re.findall(r'\sfor="([^"]+)"', html)
    return ids, fors


# --------------------------------------------------------------------------- escaping
def test_hostile_strings_are_escaped_everywhere(hostile):
    pages = [dataset_html(hostile), dataset_list_html(VDatasetList([hostile, hostile])),
             chunk_map_svg(hostile[HOSTILE], highlight=np.ones((2, 2), bool), title=HOSTILE)]
    for page in pages:
        low = page.lower()
        assert "<script" not in low
        assert "<b>k</b>" not in page
        assert '"onmouseover=' not in low
        # the escaped forms are what the user sees
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&quot;onmouseover=" in page
    # the text repr is plain text: names kept as they are
    assert HOSTILE in dataset_text(hostile)
    assert HOSTILE in repr(hostile)


def test_escape_and_safe():
    assert escape('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert escape(Safe("<b>ok</b>")) == "<b>ok</b>"
    assert escape(Safe("<b>") + "<i>") == "&lt;b&gt;&lt;i&gt;"  # Safe + str is no longer safe
    t = table(["a", "b"], [[Safe("<i>x</i>"), "<i>y</i>"]])
    assert "<i>x</i>" in t and "&lt;i&gt;y&lt;/i&gt;" in t


# --------------------------------------------------------------------------- content
def test_dataset_html_content(sample):
    h = dataset_html(sample)
    # header numbers computed from the model
    n_chunks = sum(v.manifest.n_chunks for v in sample.variables.values())
    ref = sum(v.manifest.referenced_bytes for v in sample.variables.values())
    assert f"{n_chunks:,} chunks" in h
    assert f"{format_bytes(ref)} referenced" in h
    assert "12 files" in h and "5 variables" in h
    # dtype with byte order, codecs via codec_summary, coordinates marked
    assert 'title="int32, big-endian">&gt;i4</div>' in h
    assert 'title="float32, little-endian">&lt;f4</div>' in h
    assert "(time: 480, lat: 219, lon: 144)" in h
    assert escape(sample["air"].codec_summary()) in h
    assert re.search(r'class="vz-coord-name">time<', h)
    assert not re.search(r'class="vz-coord-name">air<', h)
    # missing/inline counts of air
    m = sample["air"].manifest
    assert f"{m.n_missing} missing chunks, {m.n_inline} inlined chunk\">{m.n_missing} · {m.n_inline}<" in h
    # skipped variables shown prominently with their reason
    assert 'class="vz-alert"' in h
    assert "strings</b>: variable-length strings cannot be referenced" in h
    # sources with format, size and time
    assert "/data/run/air.2000.nc" in h and "NetCDF4" in h and format_bytes(1000) in h
    assert "2023-11-14 22:13:20 UTC" in h  # 1.7e9 seconds
    # per-variable attributes behind a checkbox
    assert "air temperature" in h
    # a chunk map per variable with chunks to place; one-chunk variables said in one line
    assert h.count('class="vz-chunkmap"') == 3  # time, air, four
    assert re.search(r"no chunk map needed .*>air<.*>time<.*>four<", h) is None
    line = h[h.index('class="vz-small-vars"'):]
    line = line[: line.index("</div>")]
    assert ">lat</span> <span class=\"vz-muted\">(inlined, 876 B)" in line
    assert ">scalar</span> <span class=\"vz-muted\">(1 chunk, 1000 B)" in line
    assert "air" not in line and "four" not in line
    ids, fors = _ids_and_fors(h)
    assert len(ids) == len(set(ids)), "element ids must be unique"
    assert set(fors) <= set(ids), "every label points at an input"


def test_text_fallback_embedded_and_hidden_by_css(sample):
    h = dataset_html(sample)
    m = re.search(r'<pre class="vz-text-repr-fallback">(.*?)</pre>', h, re.S)
    assert m, "text fallback missing"
    assert m.group(1) == escape(dataset_text(sample, max_vars=Limits().text_vars))
    assert ".vz-text-repr-fallback { display: none; }" in h
    # the rich part is hidden unless the stylesheet applies
    assert '<div class="vz-wrap" style="display:none">' in h
    assert ".vz-wrap { display: block !important;" in h


def test_theme_uses_jupyterlab_variables_with_fallbacks(sample):
    h = dataset_html(sample)
    for var in ("--jp-content-font-color0", "--jp-layout-color0", "--jp-border-color2"):
        assert re.search(rf"var\({var},\s*[^)]+\)", h), var


def test_dataset_text(sample):
    t = dataset_text(sample)
    assert t.startswith("<vz.VDataset> 12 files, 5 variables")
    assert "Dimensions:  (time: 480, lat: 219, lon: 144" in t
    assert "  * time" in t and "    air" in t
    assert "shape=(480, 219, 144) chunks=(10, 73, 36) grid=(48, 3, 4)" in t
    assert "codecs=shuffle → zlib(4)" in t
    assert ">i4" in t
    assert "Skipped variables: (1)" in t and "! strings: variable-length strings" in t
    assert "Sources: (12)" in t and "/data/run/air.2011.nc" not in t  # 10 shown
    assert "+2 more files" in t
    assert repr(sample) == t


def test_deterministic_and_unique_ids(sample):
    reset_ids()
    a = dataset_html(sample)
    reset_ids()
    b = dataset_html(sample)
    assert a == b
    c = dataset_html(sample)  # without a reset: a second output on the same page
    assert c != a
    ids_a, _ = _ids_and_fors(a)
    ids_c, _ = _ids_and_fors(c)
    assert not set(ids_a) & set(ids_c), "two outputs on one page must not share ids"


def test_displays_do_no_io(sample, hostile, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("display did I/O")

    for mod, name in ((builtins, "open"), (io, "open"), (os, "stat"), (os, "lstat"), (os, "listdir"),
                      (os, "scandir"), (os.path, "getsize"), (os.path, "getmtime"), (os.path, "exists")):
        monkeypatch.setattr(mod, name, boom)
    hl = np.zeros(sample["air"].grid, bool)
    hl[:3] = True
    dataset_html(sample)
    dataset_html(hostile)
    dataset_text(sample)
    dataset_list_html(VDatasetList([sample, hostile]))
    dataset_list_text(VDatasetList([sample, hostile]))
    chunk_map_svg(sample["air"], highlight=hl)
    json.dumps(chunk_map_data(sample["air"], highlight=hl))


def test_empty_dataset_and_empty_variable():
    empty_var = make_var("e", ("x",), (0,), (4,), (), np.zeros((0,), np.uint32))
    ds = VDataset({"e": empty_var})
    h = dataset_html(ds)
    assert "no chunks (empty variable)" in h
    assert "no chunks (empty variable)" in chunk_map_svg(empty_var)
    assert chunk_map_data(empty_var)["shape"] == [0, 0]
    h2 = dataset_html(VDataset({}))
    assert "(no variables)" in h2
    assert "0 datasets" in dataset_list_html(VDatasetList([]))


# --------------------------------------------------------------------------- size budgets
def test_size_budget_1000_variables_500_files():
    paths = [f"/archive/model/output/{HOSTILE}/file_{i:04d}.nc" for i in range(500)]
    rng = np.random.default_rng(1)
    variables = {}
    for k in range(1000):
        pid = rng.integers(0, 500, size=(10, 100)).astype(np.uint32)
        variables[f"var_{k:04d}_" + "n" * 40] = grid_var(
            f"var_{k:04d}_" + "n" * 40, (10, 100), paths, pid,
            attrs={f"attr{j}": "v" * 1000 for j in range(60)})
    ds = VDataset(variables, attrs={f"g{j}": "w" * 5000 for j in range(200)}, sources=sources(paths),
                  skipped=tuple((f"s{i}", "reason " * 50) for i in range(300)))
    h = dataset_html(ds)
    assert len(h.encode()) <= BUDGET, len(h.encode())
    names = list(ds.variables)
    assert "not listed (first" in h
    shown = sum(1 for n in names if f'title="{n}"' in h)
    assert 0 < shown < 1000
    assert f"+{1000 - shown:,} more variables not listed (first {shown} of 1,000 shown" in h
    lim = Limits()
    assert f"+{300 - lim.max_skipped} more skipped variables" in h
    assert f"+{500 - lim.max_sources} more files" in h
    assert f"+{200 - lim.max_attrs} more attributes" in h
    assert "chunk maps drawn for" in h


def test_size_budget_1000_variables_of_a_million_chunks():
    """1,000 variables x 1,000,000 chunks over 500 files (one shared manifest:
    20 MB, not 20 GB) render under budget; only a few maps are drawn."""
    paths = [f"/archive/f{i:03d}.nc" for i in range(500)]
    pid = (np.arange(1_000_000) // 2000).astype(np.uint32).reshape(1000, 1000)
    base = grid_var("v0", (1000, 1000), paths, pid)
    ds = VDataset({f"v{k}": base.replace(name=f"v{k}") for k in range(1000)}, sources=sources(paths))
    h = dataset_html(ds)
    assert len(h.encode()) <= BUDGET
    assert "1,000,000,000 chunks" in h
    lim = Limits()
    n_maps = h.count('class="vz-chunkmap"')
    assert 0 < n_maps <= lim.max_maps
    assert f"chunk maps drawn for {n_maps} of 1,000 variables" in h
    assert "1,000 × 1,000 chunks shown as" in h
    hl = dataset_list_html(VDatasetList([ds] * 5))
    assert len(hl.encode()) <= BUDGET


def test_size_budget_huge_grid_and_cap_sentence():
    paths = [f"/d/f{i}.h5" for i in range(500)]
    grid = (2000, 3000)
    pid = (np.arange(grid[0] * grid[1]) // 12000).astype(np.uint32).reshape(grid)
    pid[:10, :10] = MISSING
    big = grid_var("big", grid, paths, pid)
    ds = VDataset({"big": big, "big2": big.replace(name="big2")}, sources=sources(paths))
    h = dataset_html(ds)
    assert len(h.encode()) <= BUDGET
    cells = Limits().map_cells
    br, bc = math.ceil(2000 / cells), math.ceil(3000 / cells)
    nr, nc = math.ceil(2000 / br), math.ceil(3000 / bc)
    assert f"2,000 × 3,000 chunks shown as {nr} × {nc} blocks of {br} × {bc}" in h
    svg = chunk_map_svg(big)
    assert len(svg) < 150_000
    assert "2,000 × 3,000 chunks shown as 100 × 100 blocks of 20 × 30" in svg
    assert ">f0.h5 … f499.h5 — 500 files, 5,999,900 chunks" in svg  # one run of names, one colour


def test_dataset_list_summary_and_caps(sample, hostile):
    dsets = VDatasetList([sample, hostile] + [sample.replace(sources=sample.sources[:1])] * 48)
    h = dataset_list_html(dsets)
    assert len(h.encode()) <= BUDGET
    assert "50 datasets" in h
    assert "first 3 of 50 datasets rendered in full" in h
    # one summary row per run of files (here the same name again and again: runs of one), capped
    assert h.count(">air.2000.nc</span>") >= 28
    assert "+20 more runs of files" in h
    assert f"{sample.n_chunks:,}" in h
    assert "&lt;script&gt;" in h and "<script" not in h.lower()
    t = dataset_list_text(dsets)
    assert t.splitlines()[0].startswith("<vz.VDatasetList> 50 datasets")
    assert len(t.splitlines()) == 1 + 50  # header + 50 rows (cap is 50)
    big = VDatasetList([sample.replace(sources=sample.sources[:1])] * 300)
    hb = dataset_list_html(big)
    assert len(hb.encode()) <= BUDGET
    assert "+270 more runs of files" in hb
    assert "+250 more runs of files" in dataset_list_text(big)


def test_dataset_list_of_an_archive_is_a_few_lines():
    # 1,500 daily files: one table row, the datasets collapsed, the text in one line
    def day(i):
        p = f"/a/day_{i:04d}.nc"
        var = make_var("air", ("time", "x"), (1, 4), (1, 4), [p], np.zeros((1, 1), np.uint32))
        return VDataset({"air": var}, sources=(Source(p, 100, 0.0, format="NetCDF3 classic"),))

    dsets = VDatasetList(day(i) for i in range(1, 1501))
    h = dataset_list_html(dsets)
    assert "day_0001.nc … day_1500.nc (1,500 files)" in h and h.split("</table>")[0].count("<tr>") == 2  # head + 1
    assert 'id="' in h and "Datasets" in h
    sec = re.search(r'<input id="[^"]+" type="checkbox"( checked)?><label for="[^"]+">Datasets', h)
    assert sec and not sec.group(1)  # collapsed
    assert len(h.encode()) < 60_000
    t = dataset_list_text(dsets)
    assert t.splitlines()[1].startswith("  [0–1499] day_0001.nc … day_1500.nc (1,500 files)  (NetCDF3 classic; 1 variable each")
    assert len(t.splitlines()) == 2
    # a list of one dataset is that dataset's display (no table of one row)
    h1 = dataset_list_html(dsets[:1])
    assert "vz.VDatasetList of 1" in h1 and "<table" in h1 and h1.count('class="vz-header"') == 1


def test_text_reprs_read_naturally():
    vlen = make_var("names", ("station",), (5,), (5,), ["/a.h5"], np.zeros((1,), np.uint32), dtype=object,
                    codecs=({"id": "vlen-utf8"},))
    ds = VDataset({"names": vlen}, sources=(Source("/refs/target.nc"),))
    t = dataset_text(ds)
    assert " names (station) str shape=(5,)" in t  # not "(station,)" nor "|O"
    assert "/refs/target.nc  (size and date not recorded)" in t and "?" not in t.split("Sources")[1]
    h = dataset_html(ds)
    assert 'title="variable-length strings">str</div>' in h


# --------------------------------------------------------------------------- chunk maps
def _reference_aggregate(pid, max_cells):
    """Brute force: majority path id (ties -> smallest) over each block."""
    R, C = pid.shape
    br, bc = math.ceil(R / max_cells), math.ceil(C / max_cells)
    out, mixed = [], []
    for r0 in range(0, R, br):
        for c0 in range(0, C, bc):
            block = pid[r0:r0 + br, c0:c0 + bc].ravel().tolist()
            cnt = collections.Counter(block)
            best = max(cnt.values())
            out.append(min(k for k, v in cnt.items() if v == best))
            mixed.append(int(len(cnt) > 1))
    return out, mixed, (br, bc)


@pytest.mark.parametrize("seed", range(6))
def test_aggregation_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    R, C = (int(x) for x in rng.integers(1, 60, size=2))
    max_cells = int(rng.integers(2, 12))
    pid = rng.integers(0, 4, size=(R, C)).astype(np.uint32)
    # structured runs too: whole rows from one file
    pid[: R // 2] = (np.arange(R // 2) // 3 % 4)[:, None]
    pid[rng.random((R, C)) < 0.05] = MISSING
    paths = [f"/f{i}" for i in range(4)]
    d = chunk_map_data(grid_var("v", (R, C), paths, pid), max_cells=max_cells)
    ref, mixed, block = _reference_aggregate(pid, max_cells)
    # the brute force works on raw ids; our MISSING maps to -1
    ref = [-1 if x == MISSING else x for x in ref]
    # edge blocks are padded by repetition in the implementation: compare full blocks only
    br, bc = block
    assert d["block"] == [br, bc]
    nr, nc = d["shape"]
    full = [(i // nc) * br + br <= R and (i % nc) * bc + bc <= C for i in range(nr * nc)]
    got = [x for x, f in zip(d["cells"], full) if f]
    want = [x for x, f in zip(ref, full) if f]
    assert got == want
    assert [x for x, f in zip(d["mixed"], full) if f] == [x for x, f in zip(mixed, full) if f]
    # any-missing flags are exact everywhere (padding repeats real chunks)
    miss = pid == MISSING
    exp = [int(miss[(i // nc) * br:(i // nc) * br + br, (i % nc) * bc:(i % nc) * bc + bc].any()) for i in range(nr * nc)]
    assert d["has_missing"] == exp


def test_chunk_map_data_not_aggregated_has_byte_ranges():
    paths = ["/a.nc", "/b.nc", "/c.nc"]
    pid = np.array([[0, 0, 1], [2, MISSING, 1]], dtype=np.uint32)
    v = grid_var("v", (2, 3), paths, pid, inline={5: b"abc"})
    d = chunk_map_data(v)
    json.dumps(d)
    assert d["aggregated"] is False and d["block"] == [1, 1] and d["shape"] == [2, 3]
    assert d["cells"] == [0, 0, 1, 2, -1, -2]
    assert d["offset"] == v.manifest.offset.ravel().tolist()
    assert d["length"] == v.manifest.length.ravel().tolist()
    assert d["length"][5] == 3
    assert d["has_missing"] == [0, 0, 0, 0, 1, 0] and d["has_inline"] == [0, 0, 0, 0, 0, 1]
    assert [r["path"] for r in d["legend"]] == ["/a.nc", "/b.nc", "/c.nc"]
    assert [r["chunks"] for r in d["legend"]] == [2, 1, 1]
    assert [r["bytes"] for r in d["legend"]] == [2000, 1000, 1000]
    assert d["colours"] == {"0": source_colour(0), "1": source_colour(1), "2": source_colour(2)}
    assert d["n_missing"] == 1 and d["n_inline"] == 1 and d["inline_bytes"] == 3
    assert d["caption"] == ["rows: d0 (2 chunks) · columns: d1 (3 chunks)"]


def test_chunk_map_shapes_0d_1d_4d(sample):
    d0 = chunk_map_data(sample["scalar"])
    assert d0["shape"] == [1, 1] and d0["cells"] == [0]
    assert "0-D variable: a single chunk" in chunk_map_svg(sample["scalar"])
    d1 = chunk_map_data(sample["time"])
    assert d1["shape"] == [1, 48] and d1["row_axis"] is None and d1["col_axis"] == 0
    assert d1["cells"] == np.repeat(np.arange(12), 4).tolist()
    assert "strip along time (48 chunks)" in chunk_map_svg(sample["time"])
    one = grid_var("one", (1, 1, 1), ["/a.nc"])
    assert chunk_map_data(one)["caption"] == ["a single chunk (grid 1 × 1 × 1)"]
    d4 = chunk_map_data(sample["four"])
    assert (d4["row_axis"], d4["col_axis"], d4["agg_axes"]) == (0, 3, [1, 2])
    assert d4["shape"] == [6, 4]
    # each time row comes from one file, so aggregation over z, y is unanimous
    assert d4["cells"] == np.repeat(np.repeat(np.arange(3), 2), 4).tolist()
    assert not any(d4["mixed"])
    svg = chunk_map_svg(sample["four"])
    assert "showing t × x; z (2), y (2) aggregated" in svg
    d3 = chunk_map_data(sample["air"])
    assert (d3["row_axis"], d3["col_axis"], d3["agg_axes"]) == (0, 2, [1])
    assert d3["mixed"][5 * 4 + 2] == 1  # the one missing chunk in time block 5
    d3b = chunk_map_data(sample["air"], axes=(1, 2))
    assert d3b["shape"] == [3, 4] and d3b["agg_axes"] == [0]


def test_svg_legend_more_and_distinct_colours():
    n = 20
    paths = [f"/data/long/path/number_{i}.nc" for i in range(n)]
    pid = np.arange(n, dtype=np.uint32).reshape(1, n).repeat(3, axis=0)
    v = grid_var("v", (3, n), paths, pid)
    svg = chunk_map_svg(v, legend_max=20)
    assert "more files" not in svg
    assert svg.count("<title>/data/long/path/number_") == 20 + 20  # legend titles + map paths
    assert ">number_0.nc — 3 chunks" in svg
    fills = re.findall(r'<path fill="(#[0-9a-f]{6})"', svg)
    assert len(fills) == n and len(set(fills)) == n  # up to legend_max files: one colour each
    colours = [source_colour(i) for i in range(1000)]
    assert len(set(colours)) == 1000
    assert colours[: len(PALETTE)] == list(PALETTE)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)


def test_svg_many_files_coloured_by_runs_of_names():
    # 37 files: two runs of names (number_0..19 in order, then other_5..21), one file out of order
    paths = [f"/data/number_{i}.nc" for i in range(20)] + [f"/data/other_{i}.nc" for i in range(5, 21)] \
        + ["/data/other_2.nc"]
    n = len(paths)
    pid = np.arange(n, dtype=np.uint32).reshape(1, n).repeat(3, axis=0)
    v = grid_var("v", (3, n), paths, pid)
    svg = chunk_map_svg(v, legend_max=20)
    assert ">number_0.nc … number_19.nc — 20 files, 60 chunks" in svg
    assert ">other_5.nc … other_20.nc — 16 files, 48 chunks" in svg
    assert ">other_2.nc — 3 chunks" in svg
    # one <path> per file (its <title> names it on hover), coloured by its run
    fills = dict(re.findall(r'<path fill="(#[0-9a-f]{6})" d="[^"]*"><title>([^<]*)</title>', svg)[i][::-1]
                 for i in range(n))
    assert len(fills) == n
    assert len({fills[f"/data/number_{i}.nc"] for i in range(20)}) == 1
    assert len({fills[f"/data/other_{i}.nc"] for i in range(5, 21)}) == 1
    assert len({fills["/data/number_0.nc"], fills["/data/other_5.nc"], fills["/data/other_2.nc"]}) == 3
    d = chunk_map_data(v, legend_max=20)
    assert [(r["name"], r["files"]) for r in d["legend"]] == [
        ("number_0.nc … number_19.nc", 20), ("other_5.nc … other_20.nc", 16), ("other_2.nc", 1)]
    assert d["colours"][str(3)] == d["colours"]["0"] == d["legend"][0]["colour"]
    # more runs than legend rows: the rest said in words
    many = grid_var("m", (1, 60), [f"/x/{'ab'[i % 2]}{i}.nc" for i in range(60)],
                    np.arange(60, dtype=np.uint32).reshape(1, 60))
    svg2 = chunk_map_svg(many, legend_max=20)
    assert "+40 more files in 40 more runs — 40 chunks" in svg2


def test_svg_missing_inline_and_mixed_patterns(sample):
    svg = chunk_map_svg(sample["air"])
    assert "missing — 13 chunks (fill value)" in svg
    assert "inlined — 1 chunk, 40 B" in svg
    ids = re.findall(r'<pattern id="([^"]+)"', svg)
    assert len(ids) == 3
    for pid in ids:
        assert f"url(#{pid})" in svg
    assert "mixed — cell holds several sources" in svg  # the lat-aggregated missing chunk


def test_highlight_overlay(sample):
    air = sample["air"]
    hl = np.zeros(air.grid, bool)
    hl[0:10, :, 1] = True
    svg = chunk_map_svg(air, highlight=hl, title="plan")
    assert 'class="vz-highlight"' in svg
    assert f"highlighted: {int(hl.sum())} of {air.manifest.n_chunks} chunks touched" in svg
    d = chunk_map_data(air, highlight=hl)
    assert d["n_highlight"] == int(hl.sum())
    expect = hl.any(axis=1).ravel().astype(int).tolist()  # lat aggregated
    assert d["highlight"] == expect
    with pytest.raises(ValueError, match="highlight has shape"):
        chunk_map_svg(air, highlight=np.zeros((2, 2), bool))
    assert 'class="vz-highlight"' not in chunk_map_svg(air)


def test_svg_deterministic_and_bounded():
    paths = [f"/f{i}" for i in range(7)]
    rng = np.random.default_rng(0)
    v = grid_var("v", (400, 400), paths, rng.integers(0, 7, (400, 400)).astype(np.uint32))
    reset_ids()
    a = chunk_map_svg(v)
    reset_ids()
    b = chunk_map_svg(v)
    assert a == b
    assert len(a) < 200_000  # worst case: random sources in every cell
    assert "400 × 400 chunks shown as 100 × 100 blocks of 4 × 4" in a


# --------------------------------------------------------------------------- helpers
def test_common_helpers():
    assert format_bytes(0) == "0 B" and format_bytes(1023) == "1023 B"
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(5 * 1024**3) == "5.0 GiB"
    assert format_bytes(None) == "?"
    assert more_text(1234, "files") == "+1,234 more files"
    sec = collapsible("T<", "<b>body</b>", open=True, summary="s<")
    assert "T&lt;" in sec and "s&lt;" in sec and "<b>body</b>" in sec and " checked" in sec
    a = attrs_html({f"k{i}": "v" for i in range(7)}, max_items=5)
    assert a.count("<dt") == 5 and "+2 more attributes" in a
    w = wrap_repr("a<b", "<i>rich</i>")
    assert '<pre class="vz-text-repr-fallback">a&lt;b</pre>' in w and "<i>rich</i>" in w
    t = table(["x"], ([i] for i in range(10)), max_rows=3, what="things")
    assert t.count("<tr>") == 1 + 3 and "+7 more things" in t
    common.reset_ids()
    i1 = common.new_id("p", "k")
    common.reset_ids()
    assert common.new_id("p", "k") == i1 and common.new_id("p", "k") != i1


# --------------------------------------------------------------------------- real scans
def test_render_scanned_netcdf4(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")
    p = tmp_path / "t.nc"
    with netCDF4.Dataset(p, "w") as nc:
        nc.createDimension("time", None)
        nc.createDimension("x", 6)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        v = nc.createVariable("air", "f4", ("time", "x"), zlib=True, chunksizes=(2, 3))
        v.long_name = HOSTILE
        t[:] = np.arange(5)
        v[:4] = np.arange(24, dtype="f4").reshape(4, 6)
        nc.title = HOSTILE_ATTR
    import vz_jupyter as vz

    ds = vz.scan(str(p))[0]
    h = dataset_html(ds)
    assert "<script" not in h.lower() and len(h) <= BUDGET
    assert str(p) in h and "air" in h
    assert 'class="vz-chunkmap"' in h
    assert "air" in repr(ds)
    lst = VDatasetList([ds, ds])
    assert "2 datasets" in lst._repr_html_() and "2 datasets" in repr(lst)


def test_render_real_files(real_data):
    import vz_jupyter as vz

    files = sorted(p for p in real_data.iterdir() if p.suffix in (".nc", ".h5"))
    assert files
    for f in files:
        ds = vz.scan(str(f))[0]
        h = ds._repr_html_()
        assert len(h) <= BUDGET and "<script" not in h.lower()
        assert repr(ds).startswith("<vz.VDataset>")
        assert f.name in h
