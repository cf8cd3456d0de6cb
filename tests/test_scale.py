"""Scale (issue 10 item 7): a chunk reference costs ~20 bytes however many there
are; joining 10,000 single-file manifests stays vectorised; parquet references
are written record file by record file with memory bounded by one batch; a
million-chunk chunk map stays under its size budget. Behaviour only (values
read back, sizes bounded): speed is measured in benchmarks/bench_scale.py."""
from __future__ import annotations

import gc
import re
import tracemalloc

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.concat import join_manifests
from vz_jupyter.core.model import INLINE, MISSING, Manifest, Source, VArray, VDataset, concat_manifests


def _var(name, dims, shape, chunks, manifest, attrs=None):
    return VArray(name, dims, shape, "<f4", chunks, ({"id": "zlib", "level": 1},), None, attrs or {}, manifest)


def _one_file(i: int, nt: int = 2) -> VDataset:
    """A single-file dataset: ``air(time, x)`` with ``nt`` chunks along time."""
    p = f"/archive/day_{i:05d}.nc"
    grid = (nt, 3)
    off = (np.arange(nt * 3, dtype=np.uint64).reshape(grid) + 10 * i) * 100
    m = Manifest((p,), np.zeros(grid, np.uint32), off, np.full(grid, 100, np.uint64))
    return VDataset({"air": _var("air", ("time", "x"), (nt * 4, 6), (4, 2), m)}, sources=(Source(p),))


# ----------------------------------------------------------------------------- memory

def _retained(build):
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        gc.collect()
        return result, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_memory_per_reference_at_ten_million_chunks():
    """A dataset of 10,000,000 chunk references over 1,000 files keeps <= 24 bytes
    per reference alive (columns of 20 B; paths, metadata and attributes shared)."""
    n, nfiles = 10_000_000, 1000

    def build():
        grid = (n // 1000, 1000)
        pid = (np.arange(n, dtype=np.uint32) // (n // nfiles)).reshape(grid)
        off = np.arange(n, dtype=np.uint64).reshape(grid) * 4096
        paths = tuple(f"/archive/data/file_{i:05d}.nc" for i in range(nfiles))
        m = Manifest(paths, pid, off, np.full(grid, 4000, dtype=np.uint64))
        v = _var("air", ("time", "x"), (grid[0], grid[1] * 10), (1, 10), m, {"units": "K"})
        return VDataset({"air": v}, sources=tuple(Source(p) for p in paths))

    ds, retained = _retained(build)
    assert ds.n_chunks == n
    assert retained / n <= 24, retained / n
    m = ds["air"].manifest
    assert m.chunk((9_999, 999)) == ("/archive/data/file_00999.nc", (n - 1) * 4096, 4000, None)


# ----------------------------------------------------------------------------- concat

def test_concat_ten_thousand_single_file_manifests():
    """10,000 single-file datasets concatenated (with the full check): every file's
    chunks land in its own slab, in order, and splitting gives the inputs back."""
    dsets = [_one_file(i) for i in range(10_000)]
    c = vz.concat(dsets, "time")
    m = c["air"].manifest
    assert c["air"].shape == (80_000, 6) and m.grid == (20_000, 3)
    assert len(m.paths) == 10_000 and len(c.sources) == 10_000
    for i in (0, 1, 4_321, 9_999):
        for t in range(2):
            for x in range(3):
                path, off, ln, _ = m.chunk((2 * i + t, x))
                assert (path, off, ln) == (f"/archive/day_{i:05d}.nc", (3 * t + x + 10 * i) * 100, 100)
    assert np.array_equal(m.offset[::2, 0], np.arange(10_000, dtype=np.uint64) * 1000)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_join_manifests_along_any_axis_equals_model_concat(axis):
    """The vectorised join (path-table bases repeated along the joined axis) equals
    model.concat_manifests along every axis, with missing chunks and shared paths."""
    rng = np.random.default_rng(axis)
    ms = []
    for _ in range(12):
        grid = [2, 3, 2]
        grid[axis] = int(rng.integers(1, 4))
        paths = tuple(f"/d/f{k}.nc" for k in rng.choice(20, size=int(rng.integers(1, 4)), replace=False))
        pid = rng.integers(0, len(paths) + 1, size=grid).astype(np.uint32)
        pid[pid == len(paths)] = MISSING
        off = rng.integers(0, 2**40, size=grid).astype(np.uint64)
        ln = rng.integers(1, 2**20, size=grid).astype(np.uint64)
        off[pid == MISSING] = ln[pid == MISSING] = 0
        ms.append(Manifest(paths, pid, off, ln))
    fast = join_manifests(ms, axis)
    assert fast.equals(concat_manifests(ms, axis))
    assert fast.n_missing == sum(m.n_missing for m in ms)


def test_join_manifests_of_broadcast_all_missing_manifests():
    ms = [Manifest.empty((2, 3)) for _ in range(10)] + [_one_file(0, 1)["air"].manifest]
    joined = join_manifests(ms, 0)
    assert joined.grid == (21, 3) and joined.n_missing == 60 and joined.n_referenced == 3
    assert joined.chunk((20, 2))[0] == "/archive/day_00000.nc"
    assert INLINE not in joined.path_id


# ----------------------------------------------------------------------------- parquet

def _many_chunks(n: int, nfiles: int = 1000) -> VDataset:
    """``n`` chunks over ``nfiles`` files, every 7th chunk unwritten, a few inlined."""
    grid = (n // 1000, 1000)
    pid = (np.arange(n, dtype=np.uint32) // (n // nfiles))
    pid[::7] = MISSING
    inline = {k: bytes([k % 251]) * 16 for k in range(3, n, n // 5)}
    pid[list(inline)] = INLINE
    off = np.arange(n, dtype=np.uint64) * 4096
    ln = np.full(n, 4000, dtype=np.uint64)
    off[pid > 0xFFFFFFFD] = ln[pid == MISSING] = 0
    ln[list(inline)] = 16
    paths = tuple(f"/archive/data/file_{i:05d}.nc" for i in range(nfiles))
    m = Manifest(paths, pid.reshape(grid), off.reshape(grid), ln.reshape(grid), inline)
    v = _var("air", ("time", "x"), (grid[0], grid[1] * 4), (1, 4), m)
    return VDataset({"air": v}, sources=tuple(Source(p) for p in paths))


def _write_peak(ds, target, record_size):
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        vz.write(ds, target, record_size=record_size)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_parquet_is_written_streaming_with_bounded_memory(tmp_path):
    """Writing parquet references holds one record file at a time: the peak is the
    same for 300,000 and 1,200,000 chunks (and far below the manifest's 24 MB),
    and every row read back equals the manifest."""
    import pyarrow.parquet as pq

    vz.write(_many_chunks(1000, 10), tmp_path / "warm.parquet", record_size=100)  # imports done
    small, big = _many_chunks(300_000), _many_chunks(1_200_000)
    p_small = _write_peak(small, tmp_path / "s.parquet", 30_000)
    p_big = _write_peak(big, tmp_path / "b.parquet", 30_000)
    assert p_big < 8 * 2**20, p_big
    assert p_big < p_small + 2**20, (p_small, p_big)

    m = big["air"].manifest
    files = sorted((tmp_path / "b.parquet" / "air").glob("refs.*.parq"), key=lambda f: int(f.name.split(".")[1]))
    assert len(files) == 40
    pid, off, ln = m.path_id.ravel(), m.offset.ravel(), m.length.ravel()
    for k, f in enumerate(files):
        t = pq.read_table(f)
        rows = slice(30_000 * k, 30_000 * (k + 1))
        ref = pid[rows] <= 0xFFFFFFFD
        np.testing.assert_array_equal(t.column("offset").to_numpy(), np.where(ref, off[rows], 0))
        np.testing.assert_array_equal(t.column("size").to_numpy(), np.where(ref, ln[rows], 0))
        paths = t.column("path").to_pylist()
        want = np.array(m.paths + (None,), dtype=object)[np.where(ref, pid[rows], len(m.paths))]
        assert paths == want.tolist()
        raw = t.column("raw").to_pylist()
        for j in np.flatnonzero(pid[rows] == INLINE).tolist():
            assert raw[j] == m.inline[30_000 * k + j]
    back = vz.scan(str(tmp_path / "b.parquet"))[0]["air"].manifest
    assert back.equals(m)


def test_record_tables_are_a_lazy_sequence():
    from vz_jupyter.core.serialize.kerchunk_parquet import RecordTables, manifest_tables

    m = _many_chunks(10_000, 10)["air"].manifest
    tables = manifest_tables(m, record_size=3_000, fill=b"F" * 4)
    assert isinstance(tables, RecordTables) and len(tables) == 4
    assert [t.num_rows for t in tables] == [3_000] * 4
    assert tables[-1].equals(tables[3]) and len(tables[1:3]) == 2
    with pytest.raises(IndexError):
        tables[4]
    raw = [v for t in tables for v in t.column("raw").to_pylist()]
    pid = m.path_id.ravel()
    assert [raw[i] for i in np.flatnonzero(pid == MISSING)] == [b"F" * 4] * m.n_missing
    assert all(raw[i] is None for i in np.flatnonzero(pid <= 0xFFFFFFFD))
    assert raw[10_000:] == [None] * 2_000  # padding rows are not chunks of the grid
    empty = manifest_tables(Manifest.empty((0, 4)), record_size=5, fill=b"F")
    assert len(empty) == 1 and empty[0].column("raw").to_pylist() == [None] * 5


# ----------------------------------------------------------------------------- chunk maps

def _million(kind: str, prefix: str = "/archive/") -> VArray:
    rng = np.random.default_rng(7)
    paths = tuple(f"{prefix}<f{i:05d}>.nc" for i in range(10_000))
    g = (1000, 1000)
    if kind == "scattered":  # every chunk from a random one of 10,000 files
        pid = rng.integers(0, 10_000, g).astype(np.uint32)
    elif kind == "mixed kinds":  # referenced, missing and inlined chunks at random
        pid = rng.choice(np.array([0, MISSING, INLINE], dtype=np.uint32), size=g)
    else:  # runs of 100 chunks per file
        pid = (np.arange(10**6) // 100).astype(np.uint32).reshape(g)
    inline = {int(i): b"x" for i in np.flatnonzero(pid.ravel() == INLINE)}
    m = Manifest(paths, pid, np.zeros(g, np.uint64), np.full(g, 7, np.uint64), inline)
    return VArray("v", ("time", "cell"), g, "<f4", (1, 1), (), None, {}, m)


@pytest.mark.parametrize("kind", ["scattered", "mixed kinds", "runs"])
@pytest.mark.parametrize("prefix", ["/archive/", "/archive/" + "a_long_directory_name/" * 12])
def test_million_chunk_map_stays_under_its_size_budget(kind, prefix):
    """A map of 1,000,000 chunks stays under MAX_SVG_BYTES however its sources are
    scattered (a map over budget is drawn with fewer, larger blocks, and says so);
    every name is escaped; the highlight count stays exact; the dataset display
    holding two such maps stays under its own budget."""
    from vz_jupyter.display.chunkmap import MAX_SVG_BYTES, chunk_map_svg
    from vz_jupyter.display.html import dataset_html

    var = _million(kind, prefix)
    hl = np.zeros(var.grid, bool)
    hl.ravel()[::3] = True
    for svg in (chunk_map_svg(var), chunk_map_svg(var, highlight=hl)):
        assert len(svg.encode()) <= MAX_SVG_BYTES, len(svg.encode())
        assert "<f0" not in svg and "&lt;f0" in svg
        assert "1,000 × 1,000 chunks shown as " in svg
    assert "highlighted: 333,334 of 1,000,000 chunks touched" in svg
    # a tighter budget: still drawn, coarser, and smaller
    small = chunk_map_svg(var, max_bytes=20_000)
    assert len(small) < len(chunk_map_svg(var)) or len(chunk_map_svg(var)) <= 20_000
    ds = VDataset({"v": var, "w": var.replace(name="w")})
    assert len(dataset_html(ds).encode()) <= 200_000


def test_chunk_map_budget_keeps_small_maps_unchanged():
    """Maps under the budget are drawn cell by cell as before (no extra aggregation)."""
    from vz_jupyter.display.chunkmap import chunk_map_svg

    def same_ids(svg):
        return re.sub(r"vzmap-[0-9a-f]+", "vzmap-ID", svg)

    var = _one_file(0, 40)["air"]
    svg = chunk_map_svg(var)
    assert same_ids(svg) == same_ids(chunk_map_svg(var, max_bytes=10**9))
    assert "shown as" not in svg


def test_manifest_counts_are_blockwise_and_exact():
    """Counts and sums over more than one block (1 Mi chunks) of contiguous,
    broadcast and partly broadcast columns equal numpy's over the whole grid."""
    from vz_jupyter.core import model

    grid = (3, 1_000_003)
    empty = Manifest.empty(grid)
    assert (empty.n_missing, empty.n_referenced, empty.referenced_bytes) == (3_000_009, 0, 0)
    rng = np.random.default_rng(3)
    pid = rng.choice(np.array([0, 1, MISSING, INLINE], dtype=np.uint32), size=grid)
    ln = np.broadcast_to(rng.integers(1, 1000, size=(1, grid[1])).astype(np.uint64), grid)  # strides (0, 8)
    inline = {int(k): b"x" for k in np.flatnonzero(pid.ravel() == INLINE)}
    m = Manifest(("/a.nc", "/b.nc"), pid, np.zeros(grid, np.uint64), ln, inline)
    assert m.n_chunks > 2 * model._BLOCK
    ref = pid <= 0xFFFFFFFD
    assert m.n_missing == int((pid == MISSING).sum())
    assert m.n_referenced == int(ref.sum())
    assert m.referenced_bytes == int(np.asarray(ln)[ref].sum())
