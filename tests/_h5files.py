"""Writers of small HDF5 / NetCDF4 files covering the features the HDF5 scanner
supports (dtypes, layouts, filters, groups, links, dimension scales).

Each ``make_*`` function writes one file at ``path`` and returns it. ``CASES``
maps a case name to ``(writer, oracle)`` where the oracle says how the test reads
the original back: ``"xarray"`` (netCDF4 engine, compared with and without CF
decoding) or ``"h5py"`` (raw values per dataset).
"""
from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np

RNG_SEED = 1234


def _rng():
    return np.random.default_rng(RNG_SEED)


def _nc(path, **kw):
    import netCDF4

    return netCDF4.Dataset(path, "w", format="NETCDF4", **kw)


# --------------------------------------------------------------------------- NetCDF4
NUMERIC = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"]


def make_nc_dtypes(path):
    rng = _rng()
    with _nc(path) as ds:
        ds.title = "every dtype"
        ds.history = np.array([1, 2, 3], dtype="i4")
        ds.createDimension("time", None)
        ds.createDimension("y", 7)
        ds.createDimension("x", 5)
        ds.createDimension("nchar", 4)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        t.calendar = "standard"
        t[:] = np.arange(6)
        y = ds.createVariable("y", "f4", ("y",))
        y[:] = np.linspace(-3, 3, 7)
        for dt in NUMERIC:
            info = np.iinfo(dt) if dt[0] in "iu" else None
            if info is not None:
                data = rng.integers(max(info.min, -1000), min(info.max, 1000), size=(6, 7, 5), endpoint=True).astype(dt)
            else:
                data = rng.normal(size=(6, 7, 5)).astype(dt)
            v = ds.createVariable(f"v_{dt}", dt, ("time", "y", "x"), zlib=True, chunksizes=(2, 4, 3))
            v[:] = data
            v.long_name = f"a {dt} variable"
        for dt in ["i2", "i4", "u8", "f4", "f8"]:
            v = ds.createVariable(f"be_{dt}", ">" + dt, ("time", "y", "x"), endian="big", chunksizes=(4, 7, 5))
            v[:] = (rng.normal(size=(6, 7, 5)) * 100).astype(dt)
        c = ds.createVariable("chars", "S1", ("y", "nchar"))
        c[:] = np.array([list("abcd"), list("efgh"), list("ijkl"), list("mnop"), list("qrst"), list("uvwx"), list("yz  ")], dtype="S1")
        s = ds.createVariable("names", str, ("x",))
        s[:] = np.array(["alpha", "béta", "", "gamma delta", "ε"], dtype=object)
        sc = ds.createVariable("scalar", "f8", ())
        sc[...] = 42.5
        sc.units = "m"
        packed = ds.createVariable("packed", "i2", ("time", "y"), fill_value=-999, chunksizes=(3, 7))
        packed.scale_factor = 0.01
        packed.add_offset = 273.15
        packed.units = "K"
        packed.set_auto_maskandscale(False)
        raw = rng.integers(-500, 500, size=(6, 7)).astype("i2")
        raw[0, 0] = -999
        packed[:] = raw
    return path


def make_nc_layouts(path):
    rng = _rng()
    with _nc(path) as ds:
        ds.createDimension("t", None)
        ds.createDimension("a", 10)
        ds.createDimension("b", 13)
        ds.createDimension("empty", 0)
        a = ds.createVariable("a", "i4", ("a",))
        a[:] = np.arange(10) * 3
        cont = ds.createVariable("contig", "f4", ("a", "b"), contiguous=True)
        cont[:] = rng.normal(size=(10, 13)).astype("f4")
        edge = ds.createVariable("edge", "f8", ("a", "b"), chunksizes=(3, 4), zlib=True, shuffle=True)
        edge[:] = rng.normal(size=(10, 13))
        try:
            comp = ds.createVariable("compact", "i2", ("a",), compact=True)
            comp[:] = np.arange(10, dtype="i2")
        except TypeError:  # pragma: no cover - old netCDF4-python
            pass
        miss = ds.createVariable("holes", "f4", ("a", "b"), chunksizes=(2, 5), fill_value=np.float32(-1.5))
        miss[0:2, 0:5] = 7.0
        miss[8:10, 10:13] = 9.0
        never = ds.createVariable("never_written", "i4", ("a", "b"), chunksizes=(5, 5), fill_value=17)
        never.comment = "no data: every chunk missing"
        rec = ds.createVariable("rec", "f4", ("t", "a"), chunksizes=(1, 10))
        rec[0:4] = rng.normal(size=(4, 10)).astype("f4")
        ds.createVariable("zero", "f8", ("empty", "a"))
        sc = ds.createVariable("flag", "i1", ())
        sc[...] = 3
    return path


def make_nc_filters(path):
    rng = _rng()
    data = (rng.normal(size=(20, 30)) * 50).astype("f4")
    with _nc(path) as ds:
        ds.createDimension("r", 20)
        ds.createDimension("c", 30)
        ds.createVariable("plain", "f4", ("r", "c"), chunksizes=(8, 8))[:] = data
        ds.createVariable("zlib1", "f4", ("r", "c"), zlib=True, complevel=1, shuffle=False, chunksizes=(8, 8))[:] = data
        ds.createVariable("zlib9_shuffle", "f4", ("r", "c"), zlib=True, complevel=9, chunksizes=(8, 8))[:] = data
        ds.createVariable("fletcher", "f4", ("r", "c"), fletcher32=True, chunksizes=(8, 8))[:] = data
        ds.createVariable("all3", "i4", ("r", "c"), zlib=True, shuffle=True, fletcher32=True, chunksizes=(7, 9))[:] = data.astype("i4")
    return path


def make_nc_plugin_filters(path):
    """netCDF-C's own plugin filters (zstd, bzip2, blosc variants), written by
    netCDF4-python."""
    rng = _rng()
    with _nc(path) as ds:
        ds.createDimension("x", 1000)
        ds.createDimension("y", 7)
        for c in ["zstd", "bzip2", "blosc_lz4", "blosc_zstd", "blosc_lz4hc", "blosc_zlib", "blosc_lz"]:
            v = ds.createVariable(c, "f4", ("y", "x"), compression=c, complevel=5, chunksizes=(3, 300))
            v[:] = np.cumsum(rng.normal(size=(7, 1000)), axis=1).astype("f4")
    return path


def make_nc_xarray_written(path):
    """What users make most: xarray.to_netcdf with CF times, NaNs and packing."""
    import pandas as pd
    import xarray as xr

    rng = _rng()
    temp = rng.normal(280, 5, size=(10, 4, 6)).astype("f4")
    temp[2, 1, :] = np.nan
    ds = xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "K", "long_name": "air temperature"}),
            "precip": (("time", "lat", "lon"), rng.gamma(1, 2, size=(10, 4, 6))),
            "station": ("lat", np.array(["a", "bb", "ccc", "d"], dtype=object)),
        },
        coords={
            "time": pd.date_range("2001-01-01", periods=10, freq="6h"),
            "lat": np.linspace(-30, 30, 4),
            "lon": np.arange(6) * 60.0,
        },
        attrs={"Conventions": "CF-1.8"},
    )
    enc = {
        "temp": {"zlib": True, "complevel": 3, "chunksizes": (5, 4, 6), "_FillValue": -9999.0},
        "precip": {"dtype": "i2", "scale_factor": 0.01, "_FillValue": -32768, "zlib": True},
    }
    ds.to_netcdf(path, engine="netcdf4", encoding=enc, unlimited_dims=["time"])
    return path


def nc_plugins_available() -> bool:
    import netCDF4

    return bool(netCDF4.__has_zstandard_support__ and netCDF4.__has_bzip2_support__ and netCDF4.__has_blosc_support__)


def make_nc_groups(path):
    rng = _rng()
    with _nc(path) as ds:
        ds.createDimension("x", 6)
        x = ds.createVariable("x", "f8", ("x",))
        x[:] = np.arange(6) / 2
        ds.createVariable("top", "i4", ("x",))[:] = np.arange(6)
        g = ds.createGroup("forecast")
        g.model = "toy"
        g.createDimension("step", 3)
        st = g.createVariable("step", "i4", ("step",))
        st[:] = [6, 12, 18]
        v = g.createVariable("temp", "f4", ("step", "x"), zlib=True)
        v[:] = rng.normal(size=(3, 6)).astype("f4")
        v.coordinates = "lat"
        lat = g.createVariable("lat", "f4", ("x",))
        lat[:] = np.linspace(50, 55, 6)
        sub = g.createGroup("deeper")
        sub.createVariable("w", "u2", ("step", "x"))[:] = rng.integers(0, 100, size=(3, 6))
    return path


def make_nc_unlimited_ragged(path):
    """Two record variables of different lengths along one unlimited dim."""
    with _nc(path) as ds:
        ds.createDimension("t", None)
        ds.createDimension("k", 3)
        long = ds.createVariable("long", "f8", ("t", "k"), chunksizes=(2, 3))
        long[0:5] = np.arange(15.0).reshape(5, 3)
        short = ds.createVariable("short", "i4", ("t",), chunksizes=(2,), fill_value=-7)
        short[0:3] = [1, 2, 3]
    return path


# --------------------------------------------------------------------------- plain HDF5
def make_h5_dtypes(path):
    rng = _rng()
    with h5py.File(path, "w") as f:
        f.attrs["creator"] = "tests"
        f.attrs["numbers"] = np.arange(3.0)
        for dt in NUMERIC + [">i2", ">i4", ">i8", ">u2", ">u4", ">f4", ">f8", "<f2"]:
            if np.dtype(dt).kind in "iu":
                data = rng.integers(0, 120, size=(9, 11)).astype(dt)
            else:
                data = rng.normal(size=(9, 11)).astype(dt)
            f.create_dataset(f"d_{dt.replace('>', 'be_').replace('<', 'le_')}", data=data, chunks=(4, 5))
        f.create_dataset("flags", data=rng.integers(0, 2, size=(9, 11)).astype(bool), chunks=(4, 5))
        et = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i2")
        f.create_dataset("colour", data=np.array([0, 1, 42, 42, 0], dtype="i2"), dtype=et)
        f.create_dataset("fixed", data=np.array([b"abc", b"de", b"", b"fghij"], dtype="S5"), chunks=(2,))
        f.create_dataset("fixed_scalar", data=np.bytes_(b"hello"))
        f.create_dataset("vlen", data=np.array(["α", "beta", "", "γγγ"], dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("vlen_ascii", data=[b"x", b"yy"], dtype=h5py.string_dtype("ascii"))
        f.create_dataset("vlen_scalar", data="just one", dtype=h5py.string_dtype())
        f.create_dataset("vlen_2d", data=np.array([["a", "bb"], ["ccc", ""]], dtype=object), dtype=h5py.string_dtype())
        f.attrs["empty"] = h5py.Empty("f4")
        ct = np.dtype([("a", "<i4"), ("b", ">f8"), ("c", "S3")])
        comp = np.zeros(6, dtype=ct)
        comp["a"] = np.arange(6)
        comp["b"] = np.linspace(0, 1, 6)
        comp["c"] = [b"x", b"yy", b"zzz", b"", b"a", b"bc"]
        f.create_dataset("compound", data=comp, chunks=(4,))
        fillrec = np.array((-1, np.nan, b"?"), dtype=ct)
        cz = f.create_dataset("compound_z", shape=(10,), dtype=ct, chunks=(3,), compression="gzip", shuffle=True, fillvalue=fillrec)
        cz[0:3] = comp[:3]  # chunks 1..3 never written: read as the fill record
        f.create_dataset("cplx", data=(rng.normal(size=5) + 1j * rng.normal(size=5)).astype("c8"))
        f.create_dataset("scalar_i", data=np.int16(-5))
        f.create_dataset("scalar_f", data=np.float64(2.5), dtype=">f8")
    return path


def make_h5_layouts(path):
    rng = _rng()
    with h5py.File(path, "w") as f:
        f.create_dataset("contig", data=rng.normal(size=(17, 3)))
        f.create_dataset("contig_empty", shape=(4, 4), dtype="i4", fillvalue=9)  # never written
        e = f.create_dataset("edges", data=rng.normal(size=(23, 17)).astype("f4"), chunks=(5, 6), compression="gzip")
        e.attrs["note"] = "partial edge chunks"
        h = f.create_dataset("holes", shape=(30, 30), dtype="i2", chunks=(10, 10), fillvalue=-3)
        h[0:10, 0:10] = 1
        h[20:30, 10:20] = 2
        f.create_dataset("zero", shape=(0, 5), dtype="f4", chunks=(4, 5), maxshape=(None, 5))
        f.create_dataset("zero_contig", shape=(0,), dtype="i4")
        f.create_dataset("scalar", data=np.float32(1.25))
        f.create_dataset("one_chunk_1d", data=np.arange(1000, dtype="u2"), chunks=(1000,))
        big = f.create_dataset("many", shape=(64, 64), dtype="f4", chunks=(4, 4), compression="gzip", shuffle=True)
        big[:] = rng.normal(size=(64, 64)).astype("f4")
    return path


def _compact_dcpl_dataset(f, name, data):
    """A compact-layout dataset via the low-level API (h5py has no keyword)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple(data.shape)
    tid = h5py.h5t.py_create(data.dtype)
    dsid = h5py.h5d.create(f.id, name.encode(), tid, space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data))
    return dsid


def make_h5_layouts2(path):
    """Compact layout and a user block before the superblock."""
    rng = _rng()
    with h5py.File(path, "w", userblock_size=1024) as f:
        _compact_dcpl_dataset(f, "compact_i8", np.arange(12, dtype="<i8").reshape(3, 4))
        _compact_dcpl_dataset(f, "compact_be", np.arange(5, dtype=">f4"))
        f.create_dataset("chunked", data=rng.normal(size=(40, 7)), chunks=(8, 7), compression="gzip")
        f.create_dataset("contig", data=rng.integers(0, 1000, size=(60,)).astype("i4"))
    with open(path, "r+b") as fh:
        fh.write(b"user block text")
    return path


def make_h5_chunk_indexes(path):
    """HDF5 1.10+ chunk indexes (libver latest): fixed array, extensible array,
    version-2 B-tree, single chunk, implicit (early allocation, no filters)."""
    rng = _rng()
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("fixed_array", data=rng.normal(size=(20, 30)), chunks=(6, 7), compression="gzip")
        ea = f.create_dataset("extensible", shape=(5, 8), maxshape=(None, 8), chunks=(2, 8), dtype="i4", fillvalue=-1)
        ea[:] = rng.integers(0, 99, size=(5, 8))
        ea.resize((9, 8))  # new rows never written
        bt = f.create_dataset("btree2", shape=(4, 4), maxshape=(None, None), chunks=(3, 3), dtype="f4")
        bt[:] = rng.normal(size=(4, 4)).astype("f4")
        bt.resize((7, 5))
        bt[6, 4] = 5.0
        f.create_dataset("single", data=rng.normal(size=(6, 5)), chunks=(6, 5), compression="gzip")
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((4,))
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dsid = h5py.h5d.create(f.id, b"implicit", h5py.h5t.NATIVE_INT16, h5py.h5s.create_simple((10,)), dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10, dtype="i2"))
    return path


PLUGIN_FILTERS = {
    "zlib": dict(compression="gzip", compression_opts=6),
    "shuffle_zlib": dict(compression="gzip", shuffle=True),
    "fletcher32": dict(fletcher32=True),
    "shuffle_zlib_fletcher32": dict(compression="gzip", shuffle=True, fletcher32=True),
    "lzf": dict(compression="lzf"),
    "shuffle_lzf": dict(compression="lzf", shuffle=True),
    "blosc_lz4": dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)),
    "blosc_zstd_bitshuffle": dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
    "blosc_blosclz_noshuffle": dict(hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.NOSHUFFLE)),
    "blosc_zlib": dict(hdf5plugin.Blosc(cname="zlib", clevel=4)),
    "zstd": dict(hdf5plugin.Zstd(clevel=5)),
    "shuffle_zstd": dict(hdf5plugin.Zstd(), shuffle=True),
    "lz4": dict(hdf5plugin.LZ4()),
    "lz4_small_blocks": dict(hdf5plugin.LZ4(nbytes=256)),
    "bitshuffle": dict(hdf5plugin.Bitshuffle(cname="none")),
    "bitshuffle_lz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
    "bitshuffle_zstd": dict(hdf5plugin.Bitshuffle(cname="zstd", clevel=7)),
    "bitshuffle_block": dict(hdf5plugin.Bitshuffle(nelems=256, cname="lz4")),
    "bzip2": dict(hdf5plugin.BZip2(blocksize=5)),
    "lz4_fletcher32": dict(hdf5plugin.LZ4(), fletcher32=True),
}


def make_h5_filter(path, key: str):
    """Several dtypes through one filter pipeline; chunks big enough for several
    bitshuffle blocks plus partial edge chunks."""
    rng = _rng()
    kw = PLUGIN_FILTERS[key]
    with h5py.File(path, "w") as f:
        smooth = np.cumsum(rng.normal(size=(70, 90)), axis=1)
        for dt in ["f4", ">f8", "i2", "u1", ">i4", "i8"]:
            data = (smooth * 10).astype(dt) if np.dtype(dt).kind != "f" else smooth.astype(dt)
            f.create_dataset(f"v_{dt.replace('>', 'be')}", data=data, chunks=(33, 64), **kw)
        f.create_dataset("noise_u1", data=rng.integers(0, 256, size=(50, 50)).astype("u1"), chunks=(25, 25), **kw)
        f.create_dataset("tiny", data=np.arange(5, dtype="i4"), chunks=(5,), **kw)
    return path


def make_h5_filter_mask(path):
    """Chunks written with write_direct_chunk that skipped some filters."""
    import numcodecs

    rng = _rng()
    with h5py.File(path, "w") as f:
        data = rng.normal(size=(12, 10)).astype("f4")
        d = f.create_dataset("sz", shape=(12, 10), dtype="f4", chunks=(4, 10), compression="gzip", shuffle=True)
        d[:] = data
        # chunk 1: shuffle applied, deflate skipped (bit 1)
        chunk = np.ascontiguousarray(data[4:8])
        shuffled = numcodecs.Shuffle(4).encode(chunk.tobytes())
        d.id.write_direct_chunk((4, 0), bytes(shuffled), filter_mask=0b10)
        # chunk 2: nothing applied
        d.id.write_direct_chunk((8, 0), np.ascontiguousarray(data[8:12]).tobytes(), filter_mask=0b11)
        # lzf on incompressible bytes: HDF5 itself skips the optional filter
        f.create_dataset("noise", data=rng.integers(0, 256, size=(4000,)).astype("u1"), chunks=(1000,), compression="lzf")
    return path


def make_h5_groups_links(path, external_target: str | None = None):
    rng = _rng()
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=np.arange(6.0))
        g = f.create_group("grp")
        g.attrs["kind"] = "inner"
        g.create_dataset("b", data=rng.integers(0, 9, size=(3, 4)), chunks=(2, 2))
        g.create_group("sub/subsub")
        f["soft_b"] = h5py.SoftLink("/grp/b")
        f["hard_a"] = f["a"]
        f["dangling"] = h5py.SoftLink("/nowhere")
        if external_target:
            f["ext"] = h5py.ExternalLink(external_target, "/a")
    return path


def make_h5_phony(path):
    rng = _rng()
    with h5py.File(path, "w") as f:
        f.create_dataset("m", data=rng.normal(size=(4, 4)))  # same length twice
        f.create_dataset("n", data=rng.normal(size=(4, 6)))
        f.create_dataset("p", data=rng.normal(size=(6,)))
        f.create_dataset("q", data=rng.normal(size=(3, 4, 4)))
    return path


def make_h5_dimscales(path):
    rng = _rng()
    with h5py.File(path, "w") as f:
        x = f.create_dataset("x", data=np.arange(5.0))
        y = f.create_dataset("y", data=np.arange(3.0) * 10)
        x.make_scale("x")
        y.make_scale("y")
        d = f.create_dataset("field", data=rng.normal(size=(3, 5)), chunks=(2, 2), compression="gzip")
        d.dims[0].attach_scale(y)
        d.dims[1].attach_scale(x)
        d.attrs["units"] = "m/s"
    return path


def make_h5_refs(path):
    with h5py.File(path, "w") as f:
        a = f.create_dataset("a", data=np.arange(4))
        r = f.create_dataset("refs", shape=(2,), dtype=h5py.ref_dtype)
        r[0] = a.ref
        r[1] = f.ref
        f.create_dataset("ragged", shape=(2,), dtype=h5py.vlen_dtype("i4"))
        f["ragged"][0] = np.arange(3)
        f.create_dataset("arr_t", shape=(2,), dtype=np.dtype("(3,)f4"))
        f.create_dataset("ok", data=np.arange(3, dtype="i2"))
    return path


#: name -> (writer(path), oracle)
CASES = {
    "nc_dtypes": (make_nc_dtypes, "xarray"),
    "nc_layouts": (make_nc_layouts, "xarray"),
    "nc_filters": (make_nc_filters, "xarray"),
    "nc_unlimited_ragged": (make_nc_unlimited_ragged, "xarray"),
    "nc_plugin_filters": (make_nc_plugin_filters, "xarray"),
    "nc_xarray_written": (make_nc_xarray_written, "xarray"),
    "h5_dtypes": (make_h5_dtypes, "h5py"),
    "h5_layouts": (make_h5_layouts, "h5py"),
    "h5_layouts2": (make_h5_layouts2, "h5py"),
    "h5_filter_mask": (make_h5_filter_mask, "h5py"),
    "h5_chunk_indexes": (make_h5_chunk_indexes, "h5py"),
    "h5_dimscales": (make_h5_dimscales, "h5py"),
}
for _k in PLUGIN_FILTERS:
    CASES[f"h5_filter_{_k}"] = ((lambda p, _k=_k: make_h5_filter(p, _k)), "h5py")

