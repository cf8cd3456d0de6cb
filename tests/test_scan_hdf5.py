"""The HDF5 / NetCDF4 scanner: every dtype, layout, filter and structure is
scanned, written as kerchunk JSON, opened through vz.open (zarr + fsspec) and
compared value by value with the original read by xarray (netCDF4 engine) or h5py.
"""
from __future__ import annotations

import os

import h5py
import hdf5plugin
import numcodecs
import numpy as np
import pytest
import xarray as xr
from _h5files import (
    CASES,
    PLUGIN_FILTERS,
    make_h5_dimscales,
    make_h5_dtypes,
    make_h5_filter_mask,
    make_h5_groups_links,
    make_h5_layouts,
    make_h5_phony,
    make_h5_refs,
    make_nc_dtypes,
    make_nc_groups,
    make_nc_layouts,
    make_nc_unlimited_ragged,
)
from conftest import REAL_FILES

import vz_jupyter as vz
from vz_jupyter.core import codecs as vzc
from vz_jupyter.core.errors import ScanError, UnsupportedFeature
from vz_jupyter.core.model import INLINE
from vz_jupyter.core.scan import scan_file
from vz_jupyter.core.scan.hdf5 import condense_h5_error, scan_hdf5

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers
def _values_equal(got, exp, *, what: str, exact: bool = True):
    got = np.asarray(got)
    exp = np.asarray(exp)
    assert got.shape == exp.shape, f"{what}: shape {got.shape} != {exp.shape}"
    if exp.dtype.kind in "USOT" or got.dtype.kind in "USOT":
        def norm(a):
            return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()], dtype=object)

        assert list(norm(got)) == list(norm(exp)), what
        return
    if exp.dtype.names:
        assert got.dtype.names == exp.dtype.names, what
        for n in exp.dtype.names:
            _values_equal(got[n], exp[n], what=f"{what}.{n}")
        return
    if exp.dtype.kind == "b" and got.dtype.kind != "b":
        exp = exp.astype(got.dtype)
    if exact or exp.dtype.kind not in "fc" or got.dtype.kind not in "fc":
        np.testing.assert_array_equal(got, exp, err_msg=what)
    else:
        np.testing.assert_allclose(got, exp, rtol=2e-7 if exp.dtype.itemsize >= 8 else 1e-6, err_msg=what)


def _attr_equal(got, exp, what):
    if isinstance(exp, np.ndarray) and exp.size == 1:
        exp = exp.reshape(())[()]
    if isinstance(exp, (bytes, np.bytes_)):
        exp = exp.decode()
    if isinstance(exp, (str, np.str_)):
        assert str(got) == str(exp), what
    else:
        np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(exp, dtype=float), rtol=1e-6, err_msg=what)


def roundtrip(path, tmp_path, **scan_kw):
    ds = scan_file(str(path), **scan_kw)
    tag = (scan_kw.get('group') or 'root').replace('/', '_')
    refs = tmp_path / f"refs-{os.path.basename(str(path))}-{tag}.json"
    vz.write(ds, str(refs))
    return ds, str(refs)


def compare_xarray(path, refs, *, group=None, ds=None):
    """vz.open(refs) equals xarray.open_dataset(original) raw and CF-decoded."""
    for decode in (False, True):
        with xr.open_dataset(path, engine="netcdf4", decode_cf=decode, group=group) as exp:
            got = vz.open(refs, decode=decode)
            assert set(got.data_vars) | set(got.coords) == set(exp.data_vars) | set(exp.coords)
            assert dict(got.sizes) == dict(exp.sizes)
            for name in exp.variables:
                assert got[name].dims == exp[name].dims, name
                _values_equal(got[name].values, exp[name].values, what=f"{name} decode={decode}", exact=not decode)
                if not decode:
                    for k, v in exp[name].attrs.items():
                        _attr_equal(got[name].attrs[k], v, f"{name}.{k}")
            if not decode:
                for k, v in exp.attrs.items():
                    _attr_equal(got.attrs[k], v, f"global {k}")


def compare_h5py(path, refs, ds, *, group=None):
    """vz.open(refs, decode=False) equals h5py's values for every variable."""
    got = vz.open(refs, decode=False)
    with h5py.File(path, "r") as f:
        g = f[group] if group else f
        for name, var in ds.variables.items():
            if name not in g and "." in name:  # a field of a compound dataset
                base, field = name.rsplit(".", 1)
                exp = g[base][()][field]
            else:
                exp = g[name][()]
                if h5py.check_string_dtype(g[name].dtype) and g[name].dtype.kind == "O":
                    exp = np.asarray(g[name].asstr()[()], dtype=object)
            _values_equal(got[name].values, exp, what=name)
            assert got[name].dims == var.dims


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("case", sorted(CASES))
def test_roundtrip_case(case, tmp_path):
    writer, oracle = CASES[case]
    if case == "nc_plugin_filters":
        from _h5files import nc_plugins_available

        if not nc_plugins_available():
            pytest.skip("this netCDF4-python build has no zstd/bzip2/blosc filters")
    path = str(tmp_path / (case + (".nc" if case.startswith("nc_") else ".h5")))
    writer(path)
    ds, refs = roundtrip(path, tmp_path)
    assert ds.skipped == ()
    with h5py.File(path, "r") as f:
        names = []
        for k, v in f.items():
            if isinstance(v, h5py.Dataset):
                names += [f"{k}.{n}" for n in v.dtype.names] if v.dtype.names and v.dtype.kind != "c" else [k]
    if oracle == "xarray":
        compare_xarray(path, refs, ds=ds)
        assert ds.sources[0].format == "NetCDF4"
    else:
        assert sorted(ds.variables) == sorted(names)
        compare_h5py(path, refs, ds)
        assert ds.sources[0].format == "HDF5"
    assert ds.sources[0].path == os.path.abspath(path)
    assert ds.sources[0].size == os.path.getsize(path)


def test_nc_dtypes_details(tmp_path):
    path = make_nc_dtypes(str(tmp_path / "d.nc"))
    ds = scan_file(path)
    assert ds["v_i8"].codecs[0]["id"] == "shuffle" and ds["v_i8"].codecs[-1]["id"] == "zlib"
    assert ds["be_i4"].dtype.str == ">i4" and ds["be_f8"].dtype.str == ">f8"
    assert ds["chars"].dtype == np.dtype("S1")
    assert ds["names"].dtype == np.dtype(object)
    assert ds["scalar"].shape == () and ds["scalar"].attrs["units"] == "m"
    assert ds["packed"].attrs["_FillValue"] == -999 and ds["packed"].fill_value == -999
    # netCDF-C stores the default fill value as the HDF5 fill value
    assert np.float32(ds["v_f4"].fill_value) == np.float32(9.96921e36)
    assert set(ds.coords) == {"time", "y"}
    assert ds.dims == {"time": 6, "y": 7, "x": 5, "nchar": 4}
    # hidden netCDF bookkeeping attributes
    for v in ds.variables.values():
        assert not {"DIMENSION_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates", "CLASS", "NAME"} & set(v.attrs)
    assert "_NCProperties" not in ds.attrs and ds.attrs["title"] == "every dtype"


def test_nc_layouts_details(tmp_path):
    path = make_nc_layouts(str(tmp_path / "l.nc"))
    ds = scan_file(path, inline_threshold=0)
    assert ds["contig"].manifest.grid == (1, 1) and ds["contig"].chunks == (10, 13)
    assert ds["edge"].manifest.grid == (4, 4)
    holes = ds["holes"].manifest
    assert holes.n_missing == holes.n_chunks - 2
    assert ds["holes"].fill_value == np.float32(-1.5)
    assert ds["never_written"].manifest.n_missing == ds["never_written"].manifest.n_chunks
    assert ds["zero"].shape == (0, 10) and ds["zero"].manifest.n_chunks == 0
    assert ds["flag"].shape == ()
    if "compact" in ds:
        assert ds["compact"].manifest.n_inline == 1
    assert "empty" in ds.dims and ds.dims["empty"] == 0


def test_h5_layout_details(tmp_path):
    path = make_h5_layouts(str(tmp_path / "l.h5"))
    ds = scan_file(path, inline_threshold=0)
    assert ds["contig_empty"].manifest.n_missing == 1 and ds["contig_empty"].fill_value == 9
    assert ds["holes"].manifest.n_missing == 7 and ds["holes"].fill_value == -3
    assert ds["edges"].manifest.grid == (5, 3)
    assert ds["zero"].manifest.n_chunks == 0 and ds["zero_contig"].manifest.n_chunks == 0
    assert ds["scalar"].shape == () and ds["scalar"].manifest.n_referenced == 1
    assert ds["many"].manifest.n_referenced == 256 and ds["many"].manifest.n_inline == 0
    # manifest offsets are real: reading the bytes at the offset decodes to the data
    with h5py.File(path, "r") as f:
        d = f["many"]
        m = ds["many"].manifest
        _, off, ln, _ = m.chunk((3, 5))
        with open(path, "rb") as fh:
            fh.seek(off)
            raw = fh.read(ln)
        dec = numcodecs.Shuffle(4).decode(numcodecs.Zlib().decode(raw))
        np.testing.assert_array_equal(np.frombuffer(dec, "f4").reshape(4, 4), d[12:16, 20:24])


def test_inline_threshold(tmp_path):
    path = make_h5_layouts(str(tmp_path / "l.h5"))
    small = scan_file(path, inline_threshold=10_000)
    none = scan_file(path, inline_threshold=0)
    assert small["contig"].manifest.n_inline == 1  # 17*3*8 = 408 bytes
    assert none["contig"].manifest.n_inline == 0
    assert small["edges"].manifest.n_inline == small["edges"].manifest.n_chunks - small["edges"].manifest.n_missing
    assert small["many"].manifest.n_inline == 0  # more stored bytes than the threshold
    # inlined variables still read right, even with the file gone
    refs = str(tmp_path / "s.json")
    vz.write(small, refs)
    with h5py.File(path, "r") as f:
        exp = {k: f[k][()] for k in ("contig", "edges", "scalar", "compact_i8") if k in f}
    os.rename(path, path + ".moved")
    got = vz.open(refs, decode=False)
    for k, v in exp.items():
        np.testing.assert_array_equal(got[k].values, v)


def test_userblock_and_compact(tmp_path):
    from _h5files import make_h5_layouts2

    path = make_h5_layouts2(str(tmp_path / "u.h5"))
    ds = scan_file(path, inline_threshold=0)
    assert ds["compact_i8"].manifest.n_inline == 1
    assert ds["compact_be"].dtype.str == ">f4"
    # offsets include the 1024-byte user block
    assert int(ds["contig"].manifest.offset.ravel()[0]) > 1024


def test_h5_dtype_details(tmp_path):
    path = make_h5_dtypes(str(tmp_path / "t.h5"))
    ds = scan_file(path)
    assert ds["d_be_i8"].dtype.str == ">i8" and ds["d_le_f2"].dtype.str == "<f2"
    assert ds["flags"].dtype == np.dtype("i1")  # HDF5 bools are int8 enums
    assert ds["colour"].dtype == np.dtype("i2")  # enum -> its base type
    assert ds["fixed"].dtype == np.dtype("S5")
    assert ds["vlen"].codecs == ({"id": "vlen-utf8"},)
    # compound -> one variable per field, sharing the chunks
    assert "compound" not in ds and ds["compound.b"].dtype.str == ">f8" and ds["compound.c"].dtype == np.dtype("S3")
    assert ds["compound.a"].codecs[0]["id"] == "vz.field" and ds["compound.a"].manifest.equals(ds["compound.b"].manifest)
    assert ds["cplx"].dtype == np.dtype("<c8")
    assert ds.attrs["creator"] == "tests"
    np.testing.assert_array_equal(ds.attrs["numbers"], [0.0, 1.0, 2.0])


@pytest.mark.parametrize("key", sorted(PLUGIN_FILTERS))
def test_filter_codecs_config(key, tmp_path):
    from _h5files import make_h5_filter

    path = make_h5_filter(str(tmp_path / "f.h5"), key)
    ds = scan_file(path)
    ids = [c["id"] for c in ds["v_f4"].codecs]
    expected = {
        "zlib": ["zlib"],
        "shuffle_zlib": ["shuffle", "zlib"],
        "fletcher32": ["fletcher32"],
        "shuffle_zlib_fletcher32": ["shuffle", "zlib", "fletcher32"],
        "lzf": ["vz.lzf"],
        "shuffle_lzf": ["shuffle", "vz.lzf"],
        "zstd": ["zstd"],
        "shuffle_zstd": ["shuffle", "zstd"],
        "lz4": ["imagecodecs_lz4h5"],
        "lz4_small_blocks": ["imagecodecs_lz4h5"],
        "bitshuffle": ["vz.bitshuffle"],
        "bitshuffle_lz4": ["vz.bitshuffle"],
        "bitshuffle_zstd": ["vz.bitshuffle"],
        "bitshuffle_block": ["vz.bitshuffle"],
        "bzip2": ["bz2"],
        "lz4_fletcher32": ["imagecodecs_lz4h5", "fletcher32"],
    }.get(key, ["blosc"])
    with h5py.File(path, "r") as f:  # h5py lists filters in pipeline order
        n_h5 = len(f["v_f4"]._filters)
    assert ids == expected and len(ids) == n_h5
    if key.startswith("blosc"):
        assert ds["v_f4"].codecs[0]["cname"] == key.split("_")[1]


def test_filter_mask_chunks(tmp_path):
    path = make_h5_filter_mask(str(tmp_path / "m.h5"))
    ds = scan_file(path, inline_threshold=0)
    m = ds["sz"].manifest
    assert m.n_inline == 2 and m.n_referenced == 1
    assert int(m.path_id[0, 0]) == 0 and int(m.path_id[1, 0]) == INLINE
    with h5py.File(path, "r") as f:
        masks = [f["noise"].id.get_chunk_info(i).filter_mask for i in range(4)]
    assert ds["noise"].manifest.n_inline == sum(1 for x in masks if x)
    refs = str(tmp_path / "r.json")
    vz.write(ds, refs)
    compare_h5py(path, refs, ds)


def test_groups(tmp_path):
    path = make_nc_groups(str(tmp_path / "g.nc"))
    root = scan_file(path)
    assert root.groups == ("forecast", "forecast/deeper")
    assert root.group == "" and set(root.variables) == {"x", "top"}
    fc, refs = roundtrip(path, tmp_path, group="forecast")
    assert fc.group == "forecast" and fc.groups == ("forecast/deeper",)
    assert fc["temp"].dims == ("step", "x")  # x is defined in the parent group
    assert set(fc.coords) == {"step", "lat"}  # dimension scale + CF coordinates attribute
    assert fc.attrs["model"] == "toy"
    compare_xarray(path, refs, group="forecast")
    deep, refs2 = roundtrip(path, tmp_path, group="/forecast/deeper")
    compare_xarray(path, refs2, group="forecast/deeper")
    with pytest.raises(ScanError) as e:
        scan_file(path, group="nope")
    msg = str(e.value)
    assert path in msg and "'nope'" in msg and "forecast, forecast/deeper" in msg and "\n" not in msg


def test_links(tmp_path):
    target = str(tmp_path / "target.h5")
    with h5py.File(target, "w") as f:
        f.create_dataset("a", data=np.arange(3))
    path = make_h5_groups_links(str(tmp_path / "links.h5"), external_target=target)
    ds, refs = roundtrip(path, tmp_path)
    assert set(ds.variables) == {"a", "soft_b", "hard_a"}
    skipped = dict(ds.skipped)
    assert "external link" in skipped["ext"] and "does not exist" in skipped["dangling"]
    assert ds.groups == ("grp", "grp/sub", "grp/sub/subsub")
    got = vz.open(refs, decode=False)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(got["soft_b"].values, f["grp/b"][()])
        np.testing.assert_array_equal(got["hard_a"].values, f["a"][()])
    sub, _ = roundtrip(path, tmp_path, group="grp")
    assert set(sub.variables) == {"b"} and sub.attrs["kind"] == "inner"


def test_phony_dims_match_netcdf_c(tmp_path):
    path = make_h5_phony(str(tmp_path / "p.h5"))
    ds, refs = roundtrip(path, tmp_path)
    with xr.open_dataset(path, engine="netcdf4") as exp:
        for name in ds.variables:
            assert ds[name].dims == exp[name].dims, name
    assert ds["m"].dims[0] != ds["m"].dims[1]
    compare_h5py(path, refs, ds)


def test_dimension_scales_plain_hdf5(tmp_path):
    path = make_h5_dimscales(str(tmp_path / "s.h5"))
    ds = scan_file(path)
    assert ds["field"].dims == ("y", "x") and set(ds.coords) == {"x", "y"}
    assert ds["field"].attrs == {"units": "m/s"}


def test_unlimited_ragged(tmp_path):
    path = make_nc_unlimited_ragged(str(tmp_path / "r.nc"))
    ds = scan_file(path)
    assert ds["short"].shape == (5,)  # padded to the unlimited dim, as netCDF-C reads it
    assert ds["short"].manifest.n_missing >= 1


def test_unsupported_types_skipped(tmp_path):
    path = make_h5_refs(str(tmp_path / "r.h5"))
    ds = scan_file(path, errors="skip")
    skipped = dict(ds.skipped)
    assert set(skipped) == {"refs", "ragged"}
    assert "references" in skipped["refs"] and "variable-length" in skipped["ragged"]
    # a small array-typed dataset is inlined as its decoded values, one extra dim
    assert set(ds.variables) == {"a", "ok", "arr_t"}
    assert ds["arr_t"].shape == (2, 3) and ds["arr_t"].dims[1] == "arr_t_dim0"


def test_url_scan_via_fsspec(tmp_path):
    import fsspec

    path = make_h5_layouts(str(tmp_path / "l.h5"))
    mem = fsspec.filesystem("memory")
    with open(path, "rb") as src, mem.open("/vzt/l.h5", "wb") as dst:
        dst.write(src.read())
    try:
        ds = scan_file("memory://vzt/l.h5")
        assert ds.sources[0].path == "memory://vzt/l.h5" and ds.sources[0].size == os.path.getsize(path)
        local = scan_file(path)
        for name in local.variables:
            a, b = ds[name].manifest, local[name].manifest
            np.testing.assert_array_equal(a.offset, b.offset)
            assert dict(a.inline) == dict(b.inline)
        refs = str(tmp_path / "m.json")
        vz.write(ds, refs)
        got = vz.open(refs, decode=False, allowed_roots=["memory://vzt/"])  # memory:// is never granted implicitly
        with h5py.File(path, "r") as f:
            np.testing.assert_array_equal(got["edges"].values, f["edges"][()])
    finally:
        mem.rm("/vzt", recursive=True)


# --------------------------------------------------------------------------- codecs
@pytest.mark.parametrize(
    "codec",
    [
        vzc.H5LZF(0),
        vzc.H5LZ4(0),
        vzc.H5LZ4(100),
        vzc.H5Bitshuffle(4, 0, 0),
        vzc.H5Bitshuffle(8, 0, 2),
        vzc.H5Bitshuffle(2, 64, 3, 3),
        vzc.H5Bitshuffle(3, 0, 2),
    ],
    ids=repr,
)
@pytest.mark.parametrize("nbytes", [0, 24, 1000, 70_000])
def test_codec_roundtrip(codec, nbytes):
    es = getattr(codec, "elementsize", 1)
    n = nbytes - nbytes % es
    data = np.random.default_rng(3).integers(0, 6, size=n).astype("u1").tobytes()
    enc = codec.encode(data)
    assert bytes(codec.decode(enc)) == data
    again = numcodecs.get_codec(codec.get_config())
    assert bytes(again.decode(enc)) == data


def test_lzf_pure_python_matches_c():
    pytest.importorskip("lzf")
    import lzf

    data = (b"abcabcabcabc hello hello hello " * 50) + bytes(range(256))
    enc = lzf.compress(data)
    assert vzc.lzf_decompress_py(enc, len(data)) == data
    assert vzc.lzf_decompress_py(vzc.lzf_literal_stream(data)) == data
    assert lzf.decompress(vzc.lzf_literal_stream(data), len(data)) == data


def test_bitshuffle_matches_plugin_bytes(tmp_path):
    """Our bit shuffle produces exactly the bytes the bitshuffle plugin stores."""
    data = np.random.default_rng(5).integers(0, 1000, size=(3001,)).astype("<i4")
    path = str(tmp_path / "b.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data, chunks=(3001,), **hdf5plugin.Bitshuffle(cname="none"))
    with h5py.File(path, "r") as f:
        _, raw = f["x"].id.read_direct_chunk((0,))
    assert vzc.H5Bitshuffle(4).encode(data.tobytes()) == raw


# --------------------------------------------------------------------------- real files
HDF5_REAL = [p for p in REAL_FILES if p.read_bytes()[:8] == HDF5_MAGIC]


@pytest.mark.parametrize("path", HDF5_REAL, ids=[p.name for p in HDF5_REAL])
def test_real_files(path, tmp_path):
    ds, refs = roundtrip(path, tmp_path)
    assert ds.skipped == ()
    if path.suffix == ".nc":
        compare_xarray(str(path), refs)
    else:
        compare_h5py(str(path), refs, ds)


# --------------------------------------------------------------------------- bad input
def _one_line(e, path):
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.h5"
    with pytest.raises(ScanError) as e:
        scan_file(str(p))
    assert "no such file" in _one_line(e, p)
    with pytest.raises(ScanError) as e:
        scan_hdf5(str(p))
    assert "no such file" in _one_line(e, p)


def test_directory(tmp_path):
    with pytest.raises(ScanError) as e:
        scan_file(str(tmp_path))
    assert "directory" in _one_line(e, tmp_path)
    with pytest.raises(ScanError) as e:
        scan_hdf5(str(tmp_path))
    assert "directory" in _one_line(e, tmp_path)


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.nc"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000).astype("u1").tobytes())
    with pytest.raises(ScanError) as e:
        scan_file(str(p))
    _one_line(e, p)
    with pytest.raises(ScanError) as e:
        scan_hdf5(str(p))
    assert "HDF5" in _one_line(e, p)


def test_random_bytes_after_signature(tmp_path):
    p = tmp_path / "garbage.h5"
    p.write_bytes(HDF5_MAGIC + np.random.default_rng(1).integers(0, 256, 3000).astype("u1").tobytes())
    with pytest.raises(ScanError) as e:
        scan_file(str(p))
    _one_line(e, p)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_truncated(tmp_path, keep):
    src = make_h5_layouts(str(tmp_path / "full.h5"))
    data = open(src, "rb").read()
    p = tmp_path / "cut.h5"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ScanError) as e:
        scan_file(str(p), inline_threshold=10**9)  # inlining reads every chunk
    msg = _one_line(e, p)
    assert len(msg) < 400


def test_hdf4_magic(tmp_path):
    p = tmp_path / "old.hdf"
    p.write_bytes(b"\x0e\x03\x13\x01" + bytes(200))
    with pytest.raises(UnsupportedFeature) as e:
        scan_file(str(p))
    assert "HDF4" in _one_line(e, p)


def _szip_can_encode() -> bool:
    try:
        return bool(h5py.h5z.get_filter_info(h5py.h5z.FILTER_SZIP) & h5py.h5z.FILTER_CONFIG_ENCODE_ENABLED)
    except Exception:
        return False


@pytest.mark.parametrize("kind", ["szip", "scaleoffset", "zfp"])
def test_unsupported_filter(tmp_path, kind):
    p = tmp_path / f"{kind}.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("fine", data=np.arange(10, dtype="f4"))
        if kind == "szip":
            if not _szip_can_encode():
                pytest.skip("this HDF5 build cannot write szip")
            f.create_dataset("temp", data=np.arange(1000, dtype="i4"), chunks=(100,), compression="szip")
        elif kind == "scaleoffset":
            f.create_dataset("temp", data=np.arange(1000, dtype="f4"), chunks=(100,), scaleoffset=2)
        else:
            f.create_dataset("temp", data=np.arange(1000, dtype="f4"), chunks=(100,), **hdf5plugin.Zfp(rate=8))
    ids = {"szip": "id 4", "scaleoffset": "id 6", "zfp": "id 32013"}
    # the file is not refused: the other variable is referenced, this one named
    ds = scan_file(str(p), errors="skip")
    assert list(ds.variables) == ["fine"]
    (name, reason), = ds.skipped
    assert name == "temp" and reason.startswith(kind) and ids[kind] in reason and "4 kB decoded" in reason
    with pytest.raises(UnsupportedFeature) as e:
        scan_file(str(p), errors="raise")
    msg = _one_line(e, p)
    assert "'temp'" in msg and kind in msg and ids[kind] in msg
    # within the inline threshold (decoded size) its decoded values are inlined
    ds = scan_file(str(p), inline_threshold=4000)
    assert not ds.skipped and ds["temp"].codecs == () and ds["temp"].manifest.n_inline == 1
    with h5py.File(p, "r") as f:
        exp = f["temp"][()]
    got = np.frombuffer(ds["temp"].manifest.inline[0], dtype=ds["temp"].dtype)
    np.testing.assert_array_equal(got, exp)


def test_condense_h5_error():
    e = OSError(
        "Unable to synchronously open file (truncated file: eof = 2048, sblock->base_addr = 0, stored_eof = 9000)"
    )
    assert condense_h5_error(e) == "truncated HDF5 file: it has 2048 bytes but its superblock says 9000"
    assert "signature" in condense_h5_error(OSError("Unable to open file (file signature not found)"))
    long = OSError("x" * 1000 + "\nmore")
    assert len(condense_h5_error(long)) <= 240 and "\n" not in condense_h5_error(long)


def test_file_already_open_elsewhere(tmp_path):
    """A file the user holds open with h5py (default locking) still scans."""
    path = make_h5_layouts(str(tmp_path / "l.h5"))
    with h5py.File(path, "r"):
        ds = scan_file(path)
    assert "edges" in ds


def test_dims_without_netcdf4_coordinates(tmp_path):
    """Older netCDF-C wrote no _Netcdf4Coordinates: dims come from REFERENCE_LIST."""
    path = make_nc_groups(str(tmp_path / "g.nc"))
    before = {g: {n: v.dims for n, v in scan_file(path, group=g).variables.items()} for g in ("", "forecast")}
    with h5py.File(path, "r+") as f:
        def strip(name, obj):
            if isinstance(obj, h5py.Dataset) and "_Netcdf4Coordinates" in obj.attrs:
                del obj.attrs["_Netcdf4Coordinates"]
        f.visititems(strip)
    after = {g: {n: v.dims for n, v in scan_file(path, group=g).variables.items()} for g in ("", "forecast")}
    assert after == before
    assert after["forecast"]["temp"] == ("step", "x")


def test_dimension_scales_in_another_group(tmp_path):
    """Scales outside the variable's group ancestry are found through DIMENSION_LIST."""
    path = str(tmp_path / "d.h5")
    with h5py.File(path, "w") as f:
        x = f.create_dataset("dims/xs", data=np.arange(4.0))
        x.make_scale("xs")
        d = f.create_dataset("data/v", data=np.ones((2, 4)))
        d.dims[1].attach_scale(x)
    ds = scan_file(path, group="data")
    assert ds["v"].dims == ("phony_dim_0", "xs")


@pytest.mark.parametrize("kind", ["nc", "h5"])
def test_corrupted_bytes_give_scan_errors(tmp_path, kind):
    """Random byte damage (seeded) never escapes as anything but a one-line
    ScanError, and never hangs."""
    from _h5files import make_h5_filter

    src = make_nc_dtypes(str(tmp_path / "s.nc")) if kind == "nc" else make_h5_filter(str(tmp_path / "s.h5"), "shuffle_zlib")
    clean = open(src, "rb").read()
    rng = np.random.default_rng(7 if kind == "nc" else 8)
    errors = 0
    for i in range(120):
        data = bytearray(clean)
        for _ in range(int(rng.integers(1, 20))):
            data[int(rng.integers(8, len(data)))] = int(rng.integers(0, 256))
        p = tmp_path / f"bad{i}.{kind}"
        p.write_bytes(bytes(data))
        try:
            scan_file(str(p), inline_threshold=10**6)
        except ScanError as e:
            errors += 1
            assert str(p) in str(e) and "\n" not in str(e)
    assert errors > 0


@pytest.mark.parametrize("group", [None, "g", "g/k", "h", "h/z"])
def test_phony_dims_numbered_across_groups_like_netcdf_c(tmp_path, group):
    path = str(tmp_path / "ph.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=np.ones((3, 4)))
        f.create_dataset("g/b", data=np.ones((4, 5)))
        f.create_dataset("g/c", data=np.ones((3,)))
        f.create_dataset("g/k/e", data=np.ones((3, 3)))
        f.create_dataset("h/d", data=np.ones((7,)))
        f.create_dataset("h/z/y", data=np.ones((2,)))
    ds = scan_file(path, group=group)
    with xr.open_dataset(path, engine="netcdf4", group=group) as exp:
        assert {k: v.dims for k, v in ds.variables.items()} == {k: v.dims for k, v in exp.variables.items()}


def test_lzf_codec_without_python_lzf(monkeypatch):
    """The pure-Python LZF fallback decodes h5py's LZF chunks."""
    lzf = pytest.importorskip("lzf")

    data = np.cumsum(np.random.default_rng(2).integers(0, 3, 4000)).astype("<i4").tobytes()
    enc = lzf.compress(data)
    import vz_jupyter_codecs

    monkeypatch.setattr(vz_jupyter_codecs, "_lzf", None)
    monkeypatch.setattr(vz_jupyter_codecs, "_ic", None)
    codec = vzc.H5LZF(len(data))
    assert bytes(codec.decode(enc)) == data
    assert bytes(codec.decode(codec.encode(data))) == data


def test_struct_field_codec():
    dt = np.dtype([("a", "<i2"), ("b", ">f4")])
    rec = np.array([(1, 2.5), (3, -1.0)], dtype=dt)
    c = numcodecs.get_codec({"id": "vz.field", "dtype": [["a", "<i2"], ["b", ">f4"]], "field": "b"})
    np.testing.assert_array_equal(np.frombuffer(c.decode(rec.tobytes()), ">f4"), [2.5, -1.0])
    with pytest.raises(NotImplementedError):
        c.encode(rec.tobytes())


def test_group_link_cycles_terminate(tmp_path):
    path = str(tmp_path / "cyc.h5")
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g.create_dataset("v", data=np.arange(3))
        g["up"] = f  # hard link back to the root
        g["soft_up"] = h5py.SoftLink("/g")
        f.create_dataset("w", data=np.arange(4.0))
    ds = scan_file(path)
    assert set(ds.variables) == {"w"}
    assert "g" in ds.groups and "g/up" in ds.groups and "g/soft_up" in ds.groups
    sub = scan_file(path, group="g/up/g")
    assert set(sub.variables) == {"v"}


def test_vlen_strings_too_many_are_skipped(tmp_path, monkeypatch):
    from vz_jupyter.core import limits

    path = make_h5_dtypes(str(tmp_path / "t.h5"))
    monkeypatch.setattr(limits, "MAX_VLEN_VALUES", 3)
    ds = scan_file(path)
    skipped = dict(ds.skipped)
    assert "too many to inline" in skipped["vlen"] and "vlen_ascii" in ds  # 4 values > 3, 2 values <= 3
    assert ds.attrs["empty"] is None


def test_http_scan_reads_little(tmp_path):
    """Scanning over HTTP (loopback server) gives the local manifests and
    fetches a small part of the file, in few requests."""
    from _writer_data import serve_folder

    path = str(tmp_path / "big.nc")
    import netCDF4

    rng = np.random.default_rng(0)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("t", None)
        ds.createDimension("y", 90)
        ds.createDimension("x", 180)
        ds.createVariable("t", "f8", ("t",))[:] = np.arange(12)
        for name in ("a", "b", "c"):
            v = ds.createVariable(name, "f4", ("t", "y", "x"), zlib=True, complevel=1, chunksizes=(1, 90, 180))
            v[:] = rng.normal(size=(12, 90, 180)).astype("f4")
            v.units = "1"
    size = os.path.getsize(path)
    local = scan_file(path)
    with serve_folder(tmp_path) as (base, handler):
        handler.requests.clear()
        remote = scan_file(f"{base}/big.nc")
        fetched = 0
        for _, rng_header, _n in handler.requests:
            a, b = rng_header.split("=")[1].split("-")
            fetched += int(b) - int(a) + 1
        n_requests = len(handler.requests)
        assert remote.sources[0].path == f"{base}/big.nc" and remote.sources[0].size == size
        for name, var in local.variables.items():
            np.testing.assert_array_equal(remote[name].manifest.offset, var.manifest.offset)
            np.testing.assert_array_equal(remote[name].manifest.length, var.manifest.length)
            assert dict(remote[name].manifest.inline) == dict(var.manifest.inline)
            assert remote[name].attrs == var.attrs and remote[name].dims == var.dims
        refs = str(tmp_path / "remote.json")
        vz.write(remote, refs)
        got = vz.open(refs, decode=False, allowed_roots=[base])  # a loopback host is never granted implicitly
        with xr.open_dataset(path, decode_cf=False) as exp:
            np.testing.assert_array_equal(got["b"].values, exp["b"].values)
    assert fetched < size / 4, (fetched, size)  # ~200 kB of a 2 MB file
    assert n_requests <= 20


def test_get_chunk_info_fallback_matches_chunk_iter(tmp_path, monkeypatch):
    from vz_jupyter.core.scan.hdf5 import manifests

    path = make_h5_layouts(str(tmp_path / "l.h5"))
    fast = scan_file(path, inline_threshold=0)
    monkeypatch.setattr(manifests, "_HAS_CHUNK_ITER", False)
    slow = scan_file(path, inline_threshold=0)
    for name, var in fast.variables.items():
        assert slow[name].manifest.equals(var.manifest), name


def test_scan_results_pickle_for_process_executors(tmp_path):
    """Scan results cross process boundaries (ProcessPool / dask executors)."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    paths = [make_nc_dtypes(str(tmp_path / "a.nc")), make_h5_dtypes(str(tmp_path / "b.h5"))]
    local = [scan_file(p) for p in paths]
    for ds in local:
        back = pickle.loads(pickle.dumps(ds))
        assert list(back.variables) == list(ds.variables) and back.attrs.keys() == ds.attrs.keys()
        for name, var in ds.variables.items():
            assert back[name].manifest.equals(var.manifest) and back[name].codecs == var.codecs
            assert back[name].dtype == var.dtype and back[name].dims == var.dims
        assert back.sources == ds.sources and back.coords == ds.coords
    with ProcessPoolExecutor(2) as ex:
        remote = vz.scan(paths, executor=ex)
    for a, b in zip(remote, local):
        assert list(a.variables) == list(b.variables)
        assert all(a[n].manifest.equals(b[n].manifest) for n in b.variables)
