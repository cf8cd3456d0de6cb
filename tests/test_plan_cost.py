"""Request coalescing by a cost model (issue 10 item 6).

Local files keep span-exact reads (exactly the requests of the max_gap /
max_waste rule); object stores (http(s), s3, gs, ...) merge a selection's
ranges into few requests. Counted against a loopback Range server that
delays every answer like an object store; values equal numpy either way.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from _writer_data import serve_folder
from test_plan_core import CODECS, build_var

import vz_jupyter as vz
from vz_jupyter.core.model import VDataset
from vz_jupyter.core.plan import merge_ranges, plan
from vz_jupyter.core.read.cost import LOCAL, OBJECT_STORE, CostModel, model_for
from vz_jupyter.core.read.options import DEFAULT_MAX_GAP, DEFAULT_MAX_WASTE, ReadOptions

DATA = np.arange(60 * 20 * 30, dtype="<f4").reshape(60, 20, 30)
SELECTIONS = ["x[:, 4, 5]", "x[::3, 2:9, 7]", "x[10:50, :, ::4]", "x[7, 3, 2]", "x[[3, 40, 12], 5, 5:9]"]


def slow_server(folder, delay: float = 0.02):
    """``folder`` over HTTP on 127.0.0.1, every GET answered after ``delay`` s."""
    return serve_folder(folder, delay=delay)


def _at(var, url):
    m = var.manifest
    return var.replace(manifest=type(m)(tuple(url for _ in m.paths), m.path_id, m.offset, m.length, m.inline))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    d = tmp_path_factory.mktemp("cost")
    return d, {
        "raw": build_var(d / "raw.bin", DATA, (60, 20, 30)),  # one uncompressed chunk: many spans
        "raw-chunked": build_var(d / "rawc.bin", DATA, (10, 5, 30), gap=5000),
        "zlib": build_var(d / "zlib.bin", DATA, (10, 5, 30), CODECS["zlib"]),
    }


def _old_rule(p):
    """The requests of the span-exact rule, merged straight from the entries' wanted ranges."""
    out = {}
    for e in p.entries:
        if e.kind == "ref":
            s, t = e.wanted_ranges()
            a = out.setdefault(e.path, ([], []))
            a[0].append(s)
            a[1].append(t)
    return {k: merge_ranges(np.concatenate(s), np.concatenate(t), max_gap=DEFAULT_MAX_GAP,
                            max_waste=DEFAULT_MAX_WASTE) for k, (s, t) in out.items()}


@pytest.mark.parametrize("which", ["raw", "raw-chunked", "zlib"])
@pytest.mark.parametrize("sel", SELECTIONS)
def test_local_plans_keep_span_exact_reads(arrays, which, sel):
    _, vs = arrays
    p = plan(VDataset({"x": vs[which]}), sel)
    got, want = p.requests(), _old_rule(p)
    assert got.keys() == want.keys()
    for k in got:
        np.testing.assert_array_equal(got[k][0], want[k][0])
        np.testing.assert_array_equal(got[k][1], want[k][1])
    assert [m.model for m in p.by_model()] == [LOCAL]
    assert p.per_file()[0].model is LOCAL


def test_protocols_choose_their_model():
    for url in ("https://h/a.nc", "http://h/a.nc", "s3://b/a.nc", "gs://b/a.nc", "az://c/a.nc",
                "simplecache::s3://b/a.nc"):
        assert model_for(url) is OBJECT_STORE, url
    for path in ("/tmp/a.nc", "a.nc", "file:///tmp/a.nc", "memory://a.nc"):
        assert model_for(path) is LOCAL, path
    mine = CostModel(name="mine", latency=0.1, bandwidth=1e6, coalesce=True)
    assert model_for("/tmp/a.nc", mine) is mine and ReadOptions(cost=mine).model_for("s3://b/k") is mine
    assert OBJECT_STORE.break_even_gap == 375_000 and LOCAL.break_even_gap == 100_000
    assert OBJECT_STORE.seconds(9, 1_000_000) == pytest.approx(2 * 0.03 + 0.01)  # 8 in flight: two rounds


@pytest.mark.parametrize("which", ["raw", "raw-chunked", "zlib"])
def test_remote_plans_coalesce_and_read_the_same_values(arrays, which):
    d, vs = arrays
    name = os.path.basename(vs[which].manifest.paths[0])
    with slow_server(d) as (base, h):
        ds = VDataset({"x": _at(vs[which], f"{base}/{name}")})
        for sel in SELECTIONS:
            want = plan(VDataset({"x": vs[which]}), sel).execute()
            p = plan(ds, sel)
            exact = p.requests(cost=LOCAL)
            n_exact = sum(len(s) for s, _ in exact.values())
            assert p.n_requests <= 2 and p.n_requests <= n_exact, (sel, p.n_requests, n_exact)
            assert [m.model for m in p.by_model()] == [OBJECT_STORE]
            h.requests.clear()
            np.testing.assert_array_equal(p.execute(), want)
            ranged = [r for r in h.requests if r[1]]
            assert len(ranged) == p.n_requests == p.last_stats.n_requests
            assert sum(r[2] for r in ranged) == p.bytes_to_read
            # the same plan, span-exact: many more requests, same values
            h.requests.clear()
            np.testing.assert_array_equal(p.execute(cost=LOCAL), want)
            assert len([r for r in h.requests if r[1]]) == n_exact == p.last_stats.n_requests
            assert float(p.reduce("sum")) == pytest.approx(float(want.sum(dtype=np.float64)))


def test_span_exact_remote_reads_are_many_requests(arrays):
    d, vs = arrays
    with slow_server(d) as (base, h):
        p = plan(VDataset({"x": _at(vs["raw"], f"{base}/raw.bin")}), "x[:, 4, 5]")
        assert p.n_requests == 1
        assert p.requests(cost=LOCAL)[f"{base}/raw.bin"][0].size == 60  # one span per time step


def test_user_overrides_through_read_options(arrays):
    d, vs = arrays
    url = "https://example.invalid/raw.bin"
    ds = VDataset({"x": _at(vs["raw"], url)})
    assert plan(ds, "x[:, 4, 5]").n_requests == 1
    # a store as fast as a disk: break-even gap below the 2,400 B between values -> one request per value
    fast = CostModel(name="fast store", latency=1e-6, bandwidth=1e9, coalesce=True)
    assert plan(ds, "x[:, 4, 5]", cost=fast).n_requests == 60
    assert plan(ds, "x[:, 4, 5]", options=ReadOptions(cost=LOCAL)).n_requests == 60
    # the break-even gap shrinks with requests in flight: 100 ms x 1 MB/s = 100 kB, / 50 in flight = 2,000 B < 2,400 B
    busy = CostModel(name="busy", latency=0.1, bandwidth=1e6, concurrency=50, coalesce=True)
    assert plan(ds, "x[:, 4, 5]", cost=busy).n_requests == 60
    assert plan(ds, "x[:, 4, 5]", cost=busy.__class__(**{**busy.__dict__, "concurrency": 40})).n_requests == 1
    # coalesced requests stay within max_block
    p = plan(ds, "x[:, 4, 5]", max_block=30_000)
    s, t = p.requests()[url]
    assert len(s) > 1 and int((t - s).max()) <= 30_000
    # a local file read as if it were remote
    local = plan(VDataset({"x": vs["raw"]}), "x[:, 4, 5]")
    assert local.n_requests == 60 and local.requests(cost=OBJECT_STORE)[vs["raw"].manifest.paths[0]][0].size == 1
    p.options = ReadOptions(cost=fast)
    assert p.n_requests == 60


def test_bad_cost_options_are_one_line_errors():
    for kw, exc in [({"cost": "s3"}, TypeError), ({"max_gap": None}, TypeError), ({"max_waste": "x"}, TypeError),
                    ({"max_block": -3}, ValueError)]:
        with pytest.raises(exc) as e:
            ReadOptions(**kw)
        assert "\n" not in str(e.value) and "read option" in str(e.value)
    for kw in ({"latency": -1.0}, {"bandwidth": 0}, {"latency": float("nan")}, {"concurrency": 0},
               {"concurrency": 2.5}):
        with pytest.raises(ValueError) as e:
            CostModel(**{"name": "x", "latency": 0.01, "bandwidth": 1e6, "coalesce": True, **kw})
        assert "\n" not in str(e.value)


def test_display_shows_requests_and_bytes_for_the_chosen_model(arrays):
    d, vs = arrays
    local = plan(VDataset({"x": vs["raw"]}), "x[:, 4, 5]")
    text = repr(local)
    assert "requests: 60 (gaps ≤ 64.0 KiB merged within 10% waste budget)" in text
    assert "cost model local file: 50 µs/request, 2 GB/s, 1 in flight: 1 file, 60 requests, 240 B, est." in text
    remote = plan(VDataset({"x": _at(vs["raw"], "https://example.invalid/raw.bin")}), "x[:, 4, 5]")
    text = repr(remote)
    assert "requests: 1 (object store: gaps < 366.2 KiB read through, cheaper than one more request)" in text
    line = next(x for x in text.splitlines() if "cost model" in x)
    assert line.startswith("  cost model object store: 30 ms/request, 100 MB/s, 8 in flight: 1 file, 1 request, ")
    assert f"est. {(0.03 + remote.bytes_to_read / 100e6) * 1e3:.3g} ms" in line
    assert remote.estimated_seconds == pytest.approx(0.03 + remote.bytes_to_read / 100e6)
    html = remote._repr_html_()
    assert "cost model object store: 30 ms/request, 100 MB/s, 8 in flight: 1 file, 1 request" in html
    assert "gaps &lt; 366.2 KiB read through" in html
    evil = CostModel(name="<b>bucket</b>", latency=0.05, bandwidth=1e7, coalesce=True)
    html = plan(VDataset({"x": vs["raw"]}), "x[:, 4, 5]", cost=evil)._repr_html_()
    assert "<b>bucket" not in html and "&lt;b&gt;bucket" in html


def test_mixed_files_show_one_line_per_model(arrays, tmp_path):
    _, vs = arrays
    var = vs["raw-chunked"]
    m = var.manifest
    paths = (m.paths[0], "s3://bucket/rawc.bin")
    pid = np.zeros(m.path_id.shape, np.uint32)
    pid[3:] = 1
    ds = VDataset({"x": var.replace(manifest=type(m)(paths, pid, m.offset, m.length, m.inline))})
    p = plan(ds, "x[:, 4, 5]")
    models = {s.model.name: s for s in p.by_model()}
    assert set(models) == {"local file", "object store"}
    assert models["object store"].n_requests == 1 and models["local file"].n_requests == 30
    assert sum(s.n_requests for s in models.values()) == p.n_requests
    text = repr(p)
    assert "local file: gaps ≤ 64.0 KiB merged" in text and "object store: gaps < 366.2 KiB" in text
    assert sum(1 for x in text.splitlines() if x.startswith("  cost model ")) == 2


def test_references_over_http_coalesce(tmp_path):
    """Through the user's door: scan, serve, plan the references' URLs."""
    netCDF4 = pytest.importorskip("netCDF4")
    src = tmp_path / "a.nc"
    with netCDF4.Dataset(src, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", 9)
        nc.createDimension("lon", 12)
        nc.createVariable("air", "f4", ("time", "lat", "lon"))[:] = DATA[:40, :9, :12]
    ds = vz.scan_file(str(src))
    with slow_server(tmp_path) as (base, h):
        m = ds["air"].manifest
        remote = ds.with_variable(ds["air"].replace(manifest=type(m)((f"{base}/a.nc",), m.path_id, m.offset,
                                                                     m.length, m.inline)))
        p = remote.plan("air[:, 3, 4]")
        assert p.n_requests == 1 and vz.plan(ds, "air[:, 3, 4]").n_requests == 40
        h.requests.clear()
        np.testing.assert_array_equal(p.execute(), DATA[:40, 3, 4])
        assert len([r for r in h.requests if r[1]]) == 1
