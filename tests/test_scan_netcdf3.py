"""NetCDF3 scanning (classic, 64-bit offset, CDF-5): header parsing, record
chunking, fills, char arrays, inlining, errors; every file is round-tripped
scan -> vz.write -> vz.open and compared with xarray reading the original."""
from __future__ import annotations

import os
import struct
import warnings

import fsspec
import netCDF4
import numpy as np
import pytest
import xarray as xr

import vz_jupyter as vz
from vz_jupyter.core.errors import ScanError
from vz_jupyter.core.model import INLINE
from vz_jupyter.core.scan.netcdf3 import DEFAULT_FILL, NC_TYPES, parse_header, scan_netcdf3

FORMATS = ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA"]
FORMAT_NAMES = {
    "NETCDF3_CLASSIC": "NetCDF3 classic",
    "NETCDF3_64BIT_OFFSET": "NetCDF3 64-bit offset",
    "NETCDF3_64BIT_DATA": "NetCDF3 CDF5",
}
CLASSIC_TYPES = ["i1", "S1", "i2", "i4", "f4", "f8"]
CDF5_TYPES = CLASSIC_TYPES + ["u1", "u2", "u4", "i8", "u8"]
NC_TYPE_OF = {"i1": 1, "S1": 2, "i2": 3, "i4": 4, "f4": 5, "f8": 6, "u1": 7, "u2": 8, "u4": 9, "i8": 10, "u8": 11}


def types_for(fmt: str) -> list[str]:
    return CDF5_TYPES if fmt == "NETCDF3_64BIT_DATA" else CLASSIC_TYPES


def sample(t: str, shape) -> np.ndarray:
    n = int(np.prod(shape))
    if t == "S1":
        return np.frombuffer(bytes(ord("a") + i % 26 for i in range(n)), "S1").reshape(shape)
    return ((np.arange(n) % 97) - (40 if t[0] in "if" else 0)).astype(t).reshape(shape) * (
        np.array(1.5, t) if t[0] == "f" else 1
    )


def make_full(path, fmt: str, nrec: int = 5) -> str:
    """Every type as fixed, record and scalar variables; attributes of every type;
    char arrays; explicit and default fills with unwritten records."""
    types = types_for(fmt)
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.createDimension("time", None)
        nc.createDimension("x", 3)
        nc.createDimension("y", 2)
        nc.createDimension("strlen", 5)
        nc.title = "every type"
        nc.empty = ""
        nc.unicode = "température"
        for t in types:
            if t == "S1":
                continue
            nc.setncattr(f"one_{t}", np.array(7, t))
            nc.setncattr(f"many_{t}", np.array([1, 2, 3], t))
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "days since 2000-01-01"
        time.calendar = "standard"
        time[:] = np.arange(nrec) * 0.5
        x = nc.createVariable("x", "i4", ("x",))
        x[:] = [10, 20, 30]
        x.units = "m"
        for t in types:
            fixed = nc.createVariable(f"fix_{t}", t, ("x", "y"))
            fixed[:] = sample(t, (3, 2))
            fixed.long_name = f"fixed {t}"
            scalar = nc.createVariable(f"scal_{t}", t, ())
            scalar.assignValue(sample(t, (1,))[0])
            # record variables: all records, some unwritten (default fill), explicit fill
            full = nc.createVariable(f"rec_{t}", t, ("time", "x"))
            full[:] = sample(t, (nrec, 3))
            part = nc.createVariable(f"part_{t}", t, ("time", "y"))
            part[: nrec - 2] = sample(t, (nrec - 2, 2))
            fill = b"?" if t == "S1" else np.array(-9 if t[0] != "u" else 9, t)
            withfill = nc.createVariable(f"fv_{t}", t, ("time", "x"), fill_value=fill if t != "S1" else None)
            if t != "S1":
                withfill.missing_value = fill
                withfill[: nrec - 3] = sample(t, (nrec - 3, 3))
            else:
                withfill[:] = sample(t, (nrec, 3))
        packed = nc.createVariable("packed", "i2", ("time", "x"), fill_value=np.int16(-1))
        packed.scale_factor = np.float32(0.5)
        packed.add_offset = np.float32(10.0)
        packed.set_auto_maskandscale(False)
        packed[: nrec - 1] = np.arange((nrec - 1) * 3, dtype="i2").reshape(nrec - 1, 3)
        names = nc.createVariable("names", "S1", ("x", "strlen"))
        names[:] = netCDF4.stringtochar(np.array([b"ab", b"cdefg", b""], "S5"))
        rnames = nc.createVariable("rnames", "S1", ("time", "strlen"))
        rnames[:] = netCDF4.stringtochar(np.array([b"r%d" % i for i in range(nrec)], "S5"))
        word = nc.createVariable("word", "S1", ("strlen",))
        word[:] = netCDF4.stringtochar(np.array([b"hey"], "S5"))[0]
    return str(path)


def assert_same_as_xarray(nc_path, vds, tmp_path, name="refs.json") -> None:
    """vz.write + vz.open equals xarray reading the original, raw and decoded."""
    refs = str(tmp_path / name)
    vz.write(vds, refs, overwrite=True)
    for decode in (False, True):
        got = vz.open(refs, decode=decode).load()
        with xr.open_dataset(nc_path, decode_cf=decode) as want:
            want = want.load()
        xr.testing.assert_identical(got, want)
        for k in want.variables:
            if decode and "scale_factor" in want[k].encoding:
                # JSON attributes lose scale_factor's float32 type, so xarray
                # unpacks to float64 (the same happens with kerchunk's references)
                assert got[k].dtype == np.float64 and want[k].dtype in (np.float32, np.float64), k
                continue
            assert got[k].dtype.kind == want[k].dtype.kind and got[k].dtype.itemsize == want[k].dtype.itemsize, k


def raw_records(nc_path, name):
    with netCDF4.Dataset(nc_path) as nc:
        v = nc[name]
        v.set_auto_maskandscale(False)
        v.set_auto_chartostring(False)
        return np.asarray(v[...])


# --------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("threshold", [0, 500, 10**6])
def test_every_type_round_trips_like_xarray(tmp_path, fmt, threshold):
    p = make_full(tmp_path / "full.nc", fmt)
    vds = scan_netcdf3(p, inline_threshold=threshold)
    assert vds.sources[0].format == FORMAT_NAMES[fmt]
    assert vds.sources[0].size == os.path.getsize(p)
    assert vds.sources[0].path == p
    assert_same_as_xarray(p, vds, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_structure_dtypes_chunks_and_fills(tmp_path, fmt):
    nrec = 6
    p = make_full(tmp_path / "full.nc", fmt, nrec=nrec)
    vds = scan_netcdf3(p, inline_threshold=0)
    assert vds.coords == ("time", "x")
    with netCDF4.Dataset(p) as nc:
        assert list(vds.variables) == list(nc.variables)
        for name, ncv in nc.variables.items():
            v = vds[name]
            assert v.dims == ncv.dimensions
            assert v.shape == ncv.shape
            assert v.codecs == ()
            assert v.manifest.n_inline == 0
            t = ncv.dtype.str[1:] if ncv.dtype != np.dtype("S1") else "S1"
            assert v.dtype == NC_TYPES[NC_TYPE_OF[t]][1]
            assert v.dtype.byteorder in (">", "|")
            if "_FillValue" in ncv.ncattrs():
                assert v.fill_value == ncv.getncattr("_FillValue")
            else:
                assert v.fill_value == DEFAULT_FILL[NC_TYPE_OF[t]]
                if t != "S1":
                    assert v.fill_value == netCDF4.default_fillvals[t]
                    assert np.asarray(v.fill_value).dtype == v.dtype.newbyteorder("=")
            if ncv.dimensions and ncv.dimensions[0] == "time":
                assert v.chunks == (1, *ncv.shape[1:])
                assert v.manifest.grid == (nrec,) + (1,) * (ncv.ndim - 1)
            else:
                assert v.chunks == ncv.shape
                assert v.manifest.grid == (1,) * ncv.ndim
    # unwritten records hold the default fill, read back as such
    got = vz.open(vds, decode=False)
    part = got["part_i2"].values
    assert (part[nrec - 2 :] == -32767).all()
    assert (got["part_f8"].values[nrec - 2 :] == 9.969209968386869e36).all()
    assert (got["fv_i4"].values[nrec - 3 :] == -9).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_attributes_decoded_like_netcdf4(tmp_path, fmt):
    p = make_full(tmp_path / "full.nc", fmt)
    vds = scan_netcdf3(p)
    with netCDF4.Dataset(p) as nc:
        pairs = [(vds.attrs, {k: nc.getncattr(k) for k in nc.ncattrs()})]
        for name, ncv in nc.variables.items():
            pairs.append((vds[name].attrs, {k: ncv.getncattr(k) for k in ncv.ncattrs()}))
    assert len(pairs[0][0]) > 10
    for mine, theirs in pairs:
        assert list(mine) == list(theirs)
        for k, want in theirs.items():
            have = mine[k]
            assert type(have) is type(want), k
            if isinstance(want, np.ndarray):
                assert have.dtype == want.dtype and np.array_equal(have, want), k
            else:
                assert have == want, k
                if isinstance(want, np.generic):
                    assert have.dtype == want.dtype, k


@pytest.mark.parametrize("fmt", FORMATS)
def test_offsets_point_at_the_variables_bytes(tmp_path, fmt):
    """Every referenced chunk's bytes in the file equal netCDF4's raw values in
    big-endian order."""
    p = make_full(tmp_path / "full.nc", fmt, nrec=4)
    vds = scan_netcdf3(p, inline_threshold=0)
    with open(p, "rb") as f:
        blob = f.read()
    for name, v in vds.variables.items():
        raw = raw_records(p, name).astype(v.dtype)
        m = v.manifest
        if v.dims and v.dims[0] == "time":
            assert m.n_referenced == raw.shape[0]
            offs = m.offset.ravel()
            lens = m.length.ravel()
            for r in range(raw.shape[0]):
                assert blob[offs[r] : offs[r] + lens[r]] == raw[r : r + 1].tobytes(), (name, r)
        else:
            path, off, ln, _ = m.chunk(0)
            assert path == p
            assert blob[off : off + ln] == raw.tobytes(), name


@pytest.mark.parametrize(
    "fmt,t",
    [(f, t) for f in FORMATS for t in ["i1", "S1", "i2", "u1", "u2", "f4"] if t in types_for(f)],
)
def test_single_record_variable_is_not_padded(tmp_path, fmt, t):
    p = str(tmp_path / "one.nc")
    nrec = 7
    with netCDF4.Dataset(p, "w", format=fmt) as nc:
        nc.createDimension("t", None)
        nc.createDimension("n", 3)
        v = nc.createVariable("v", t, ("t", "n"))
        v[:] = sample(t, (nrec, 3))
    vds = scan_netcdf3(p, inline_threshold=0)
    m = vds["v"].manifest
    itemsize = np.dtype(t).itemsize
    # the record stride is the unpadded record size: 3 * itemsize
    assert np.all(np.diff(m.offset.ravel().astype(np.int64)) == 3 * itemsize)
    assert np.all(m.length == 3 * itemsize)
    assert os.path.getsize(p) >= int(m.offset.ravel()[-1]) + 3 * itemsize
    assert_same_as_xarray(p, vds, tmp_path)


def test_mixed_record_variables_are_padded(tmp_path):
    p = str(tmp_path / "mixed.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("t", None)
        nc.createDimension("n", 3)
        a = nc.createVariable("a", "i1", ("t", "n"))  # 3 bytes -> padded to 4
        b = nc.createVariable("b", "i2", ("t", "n"))  # 6 bytes -> padded to 8
        c = nc.createVariable("c", "f8", ("t",))  # 8 bytes
        a[:] = sample("i1", (4, 3))
        b[:] = sample("i2", (4, 3))
        c[:] = np.arange(4.0)
    vds = scan_netcdf3(p, inline_threshold=0)
    for name, ln in (("a", 3), ("b", 6), ("c", 8)):
        offs = vds[name].manifest.offset.ravel().astype(np.int64)
        assert np.all(np.diff(offs) == 4 + 8 + 8), name
        assert np.all(vds[name].manifest.length == ln)
    assert_same_as_xarray(p, vds, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_records(tmp_path, fmt):
    p = str(tmp_path / "empty.nc")
    with netCDF4.Dataset(p, "w", format=fmt) as nc:
        nc.createDimension("t", None)
        nc.createDimension("n", 3)
        nc.createVariable("t", "f8", ("t",))
        nc.createVariable("v", "f4", ("t", "n"), fill_value=np.float32(-1))
        w = nc.createVariable("w", "i4", ("n",))
        w[:] = [1, 2, 3]
    vds = scan_netcdf3(p)
    v = vds["v"]
    assert v.shape == (0, 3) and v.chunks == (1, 3) and v.manifest.grid == (0, 1)
    assert v.manifest.n_chunks == 0
    assert vds["t"].shape == (0,)
    assert_same_as_xarray(p, vds, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_char_arrays_decode_to_strings_like_xarray(tmp_path, fmt):
    p = make_full(tmp_path / "full.nc", fmt)
    vds = scan_netcdf3(p, inline_threshold=0)
    assert vds["names"].dtype == np.dtype("S1")
    got = vz.open(vds)
    with xr.open_dataset(p) as want:
        for name in ("names", "rnames", "word"):
            assert got[name].dtype == want[name].dtype
            assert got[name].dims == want[name].dims
            assert got[name].values.tolist() == want[name].values.tolist()
    assert got["names"].values.tolist() == [b"ab", b"cdefg", b""]
    assert got["word"].values[()] == b"hey"


def test_char_variable_with_fill_value(tmp_path):
    """xarray's zarr backend cannot decode a byte-string _FillValue attribute, so
    the attribute is left out of the zarr metadata; values still match."""
    p = str(tmp_path / "cf.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("n", 2)
        nc.createDimension("s", 3)
        v = nc.createVariable("c", "S1", ("n", "s"), fill_value=b"z")
        v[0] = netCDF4.stringtochar(np.array([b"ab"], "S3"))[0]
    vds = scan_netcdf3(p)
    with netCDF4.Dataset(p) as nc:
        want = nc["c"].getncattr("_FillValue")
    assert vds["c"].attrs["_FillValue"] == want == b"z"
    assert vds["c"].fill_value == b"z"
    for decode in (False, True):
        got = vz.open(vds, decode=decode)
        with xr.open_dataset(p, decode_cf=decode) as want:
            assert got["c"].values.tolist() == want["c"].values.tolist()


def test_scalars(tmp_path):
    p = str(tmp_path / "s.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_64BIT_DATA") as nc:
        for t in CDF5_TYPES:
            nc.createVariable(f"s_{t}", t, ()).assignValue(sample(t, (2,))[1])
    vds = scan_netcdf3(p, inline_threshold=0)
    for t in CDF5_TYPES:
        v = vds[f"s_{t}"]
        assert v.shape == () and v.chunks == () and v.manifest.grid == ()
        assert v.manifest.n_referenced == 1
    assert_same_as_xarray(p, vds, tmp_path)


# --------------------------------------------------------------------------------
# inlining


def test_inline_threshold(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC", nrec=5)
    none = scan_netcdf3(p, inline_threshold=0)
    some = scan_netcdf3(p, inline_threshold=24)
    with open(p, "rb") as f:
        blob = f.read()
    for name, v in some.variables.items():
        ref = none[name].manifest
        if 0 < v.nbytes <= 24:
            assert v.manifest.n_inline == v.manifest.n_chunks > 0, name
            assert v.manifest.paths == ()
            for flat in range(ref.n_chunks):
                _, off, ln, _ = ref.chunk(flat)
                assert v.manifest.inline[flat] == blob[off : off + ln]
        else:
            assert v.manifest.n_inline == 0
            assert v.manifest.equals(ref)
    assert some["x"].manifest.n_inline == 1  # 12 bytes
    assert some["rnames"].manifest.n_inline == 0  # 25 bytes
    assert some["time"].manifest.n_inline == 0  # 40 bytes
    assert some["scal_f8"].manifest.n_inline == 1
    assert_same_as_xarray(p, some, tmp_path)


def test_small_file_fully_inlined_is_self_contained(tmp_path):
    p = str(tmp_path / "small.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("t", None)
        nc.createDimension("x", 2)
        t = nc.createVariable("t", "i4", ("t",))
        t[:] = [5, 6, 7]
        v = nc.createVariable("v", "f4", ("t", "x"))
        v[:] = np.arange(6).reshape(3, 2)
    with xr.open_dataset(p) as want:
        want = want.load()
    vds = scan_netcdf3(p, inline_threshold=500)
    assert all(v.manifest.path_id.size == 0 or (v.manifest.path_id == INLINE).all() for v in vds.variables.values())
    refs = str(tmp_path / "r.json")
    vz.write(vds, refs)
    os.remove(p)
    xr.testing.assert_identical(vz.open(refs).load(), want)


# --------------------------------------------------------------------------------
# remote (fsspec) path and dispatcher


def test_fsspec_filesystem_path_gives_the_same_manifest(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_64BIT_OFFSET")
    mem = fsspec.filesystem("memory")
    with open(p, "rb") as f:
        mem.pipe("/nc3test/full.nc", f.read())
    try:
        url = "memory://nc3test/full.nc"
        remote = scan_netcdf3(url, fs=mem, inline_threshold=100)
        local = scan_netcdf3(p, inline_threshold=100)
        assert remote.sources[0].path == url and remote.sources[0].size == os.path.getsize(p)
        assert list(remote.variables) == list(local.variables)
        for name, v in remote.variables.items():
            lm = local[name].manifest
            assert v.manifest.paths in ((), (url,))
            assert np.array_equal(v.manifest.offset, lm.offset)
            assert np.array_equal(v.manifest.length, lm.length)
            assert dict(v.manifest.inline) == dict(lm.inline)
        got = vz.open(remote, decode=False).load()
        with xr.open_dataset(p, decode_cf=False) as want:
            xr.testing.assert_identical(got, want.load())
    finally:
        mem.rm("/nc3test", recursive=True)


def test_dispatcher_scans_netcdf3(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC")
    (ds,) = vz.scan(p)
    assert ds.sources[0].format == "NetCDF3 classic"
    assert ds["rec_f4"].manifest.equals(scan_netcdf3(p)["rec_f4"].manifest)


def test_many_records_are_vectorised(tmp_path):
    p = str(tmp_path / "long.nc")
    n = 50_000
    with netCDF4.Dataset(p, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.createDimension("t", None)
        t = nc.createVariable("t", "f8", ("t",))
        v = nc.createVariable("v", "i2", ("t",))
        t[:] = np.arange(n)
        v[:] = np.arange(n) % 1000
    vds = scan_netcdf3(p, inline_threshold=0)
    m = vds["v"].manifest
    assert m.grid == (n,)
    begin = int(m.offset[0])
    assert np.array_equal(m.offset, begin + np.arange(n, dtype=np.uint64) * 12)  # 8 + (2 padded to 4)
    # (opening 100k references is the reference filesystem's business; read the
    # last records straight through the manifest instead)
    with open(p, "rb") as f:
        blob = f.read()
    last = [blob[o : o + 2] for o in m.offset.ravel()[-100:].tolist()]
    assert np.frombuffer(b"".join(last), ">i2").tolist() == (np.arange(n - 100, n) % 1000).tolist()
    assert np.all(m.length == 2)


# --------------------------------------------------------------------------------
# real files


@pytest.mark.parametrize("name", ["tiny.nc", "ubyte.nc"])
def test_real_files(real_data, tmp_path, name):
    p = real_data / name
    if not p.exists():
        pytest.skip(f"{name} not in the real data folder")
    vds = scan_netcdf3(str(p))
    assert vds.sources[0].format == "NetCDF3 classic"
    assert_same_as_xarray(str(p), vds, tmp_path)
    vds0 = scan_netcdf3(str(p), inline_threshold=0)
    assert vds0.n_chunks == sum(v.manifest.n_referenced for v in vds0.variables.values())
    assert_same_as_xarray(str(p), vds0, tmp_path, name="refs0.json")


# --------------------------------------------------------------------------------
# STREAMING numrecs


@pytest.mark.parametrize("fmt", FORMATS)
def test_streaming_numrecs_counted_from_file_size(tmp_path, fmt):
    p = make_full(tmp_path / "full.nc", fmt, nrec=6)
    want = scan_netcdf3(p, inline_threshold=0)
    with open(p, "r+b") as f:
        f.seek(4)
        f.write(b"\xff" * (8 if fmt == "NETCDF3_64BIT_DATA" else 4))
    with pytest.warns(UserWarning, match="STREAMING.*counted 6 records"):
        got = scan_netcdf3(p, inline_threshold=0)
    for name, v in got.variables.items():
        assert v.shape == want[name].shape
        assert v.manifest.equals(want[name].manifest)


def test_streaming_with_unpadded_last_record(tmp_path):
    p = str(tmp_path / "one.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("t", None)
        nc.createDimension("n", 3)
        nc.createVariable("a", "i4", ("t",))[:] = np.arange(5)
        nc.createVariable("b", "i2", ("t", "n"))[:] = np.arange(15).reshape(5, 3)
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.seek(4)
        f.write(b"\xff\xff\xff\xff")
        f.truncate(size - 2)  # drop the last record's padding
    with pytest.warns(UserWarning, match="counted 5 records"):
        vds = scan_netcdf3(p)
    assert vds["b"].shape == (5, 3)
    with open(p, "r+b") as f:
        f.truncate(size - 4)  # now the last record is incomplete
    with pytest.warns(UserWarning, match="counted 4 records"):
        assert scan_netcdf3(p)["b"].shape == (4, 3)


# --------------------------------------------------------------------------------
# a tiny independent header writer, for big-offset and corruption tests


def _name(s: str, wide: bool) -> bytes:
    b = s.encode()
    return struct.pack(">Q" if wide else ">I", len(b)) + b + b"\0" * (-len(b) % 4)


def build_header(version: int, numrecs: int, dims, gatts, variables) -> bytes:
    """dims: [(name, length)]; gatts: [(name, nc_type, values_bytes, nelems)];
    variables: [(name, dimids, atts, nc_type, vsize, begin)]."""
    wide = version == 5
    cnt = ">Q" if wide else ">I"
    out = [b"CDF" + bytes([version]), struct.pack(cnt, numrecs)]

    def lst(tag, n):
        return struct.pack(">I", tag if n else 0) + struct.pack(cnt, n)

    def atts(a):
        parts = [lst(12, len(a))]
        for name, t, data, n in a:
            parts += [_name(name, wide), struct.pack(">I", t), struct.pack(cnt, n), data + b"\0" * (-len(data) % 4)]
        return b"".join(parts)

    out.append(lst(10, len(dims)))
    for name, ln in dims:
        out += [_name(name, wide), struct.pack(cnt, ln)]
    out.append(atts(gatts))
    out.append(lst(11, len(variables)))
    for name, dimids, a, t, vsize, begin in variables:
        out += [_name(name, wide), struct.pack(cnt, len(dimids))]
        out += [struct.pack(cnt, d) for d in dimids]
        out += [atts(a), struct.pack(">I", t), struct.pack(cnt, vsize), struct.pack(">I" if version == 1 else ">Q", begin)]
    return b"".join(out)


class SparseFS:
    """A pretend fsspec filesystem holding one huge, mostly empty file."""

    def __init__(self, size: int, pieces: dict[int, bytes]):
        self.size = size
        self.pieces = pieces
        self.reads: list[tuple[int, int]] = []

    def info(self, path):
        return {"size": self.size, "name": path}

    def cat_file(self, path, start=0, end=None):
        end = self.size if end is None else min(end, self.size)
        self.reads.append((start, end))
        buf = bytearray(end - start)
        for off, data in self.pieces.items():
            lo, hi = max(off, start), min(off + len(data), end)
            if lo < hi:
                buf[lo - start : hi - start] = data[lo - off : hi - off]
        return bytes(buf)

    def cat_ranges(self, paths, starts, ends, **kw):
        return [self.cat_file(p, s, e) for p, s, e in zip(paths, starts, ends)]


def test_header_builder_agrees_with_netcdf4(tmp_path):
    """The test's own writer makes files netCDF-C reads (so the big-offset tests
    below exercise real layouts)."""
    hdr = build_header(
        2, 3,
        [("t", 0), ("n", 2)],
        [("title", 2, b"built", 5), ("v", 3, np.array([1, -2], ">i2").tobytes(), 2)],
        [("f", [1], [("units", 2, b"m", 1)], 6, 16, 0), ("r", [0, 1], [], 5, 8, 0)],
    )
    begin_f = len(hdr)
    begin_r = begin_f + 16
    hdr = build_header(
        2, 3,
        [("t", 0), ("n", 2)],
        [("title", 2, b"built", 5), ("v", 3, np.array([1, -2], ">i2").tobytes(), 2)],
        [("f", [1], [("units", 2, b"m", 1)], 6, 16, begin_f), ("r", [0, 1], [], 5, 8, begin_r)],
    )
    data = np.array([1.5, 2.5], ">f8").tobytes() + np.arange(6, dtype=">f4").tobytes()
    p = str(tmp_path / "built.nc")
    with open(p, "wb") as f:
        f.write(hdr + data)
    with netCDF4.Dataset(p) as nc:
        assert nc.title == "built" and list(nc.v) == [1, -2]
        assert nc["r"][:].tolist() == [[0, 1], [2, 3], [4, 5]]
    vds = scan_netcdf3(p, inline_threshold=0)
    assert vds["r"].manifest.offset.ravel().tolist() == [begin_r, begin_r + 8, begin_r + 16]
    assert_same_as_xarray(p, vds, tmp_path)


@pytest.mark.parametrize("version", [2, 5])
def test_offsets_beyond_4gib(version):
    """Fixed and record data past 4 GiB (and in CDF-5 a dimension > 2**32)
    without writing a big file: a pretend filesystem serves the header and the
    few data bytes at their far offsets."""
    G = 1 << 30
    big_n = (1 << 32) + 8 if version == 5 else 1000
    fixed_begin = 5 * G
    rec_begin = 9 * G
    nrec = 4
    recsize = 8 + 4  # f8 + i2(x1, padded to 4)
    hdr = build_header(
        version, nrec,
        [("t", 0), ("big", big_n), ("one", 1)],
        [],
        [
            ("huge", [1], [], 1, min(big_n, 0xFFFFFFFF), fixed_begin),
            ("tv", [0], [], 6, 8, rec_begin),
            ("sv", [0, 2], [], 3, 4, rec_begin + 8),
        ],
    )
    size = rec_begin + nrec * recsize
    pieces = {0: hdr, fixed_begin: b"\x01\x02\x03"}
    for r in range(nrec):
        pieces[rec_begin + r * recsize] = np.array([r + 0.5], ">f8").tobytes() + np.array([-r], ">i2").tobytes() + b"\0\0"
    fs = SparseFS(size, pieces)
    vds = scan_netcdf3("sparse://big.nc", fs=fs, inline_threshold=0)
    huge = vds["huge"]
    assert huge.shape == (big_n,) and huge.manifest.chunk(0) == ("sparse://big.nc", fixed_begin, big_n, None)
    tv, sv = vds["tv"].manifest, vds["sv"].manifest
    assert tv.offset.ravel().tolist() == [rec_begin + r * recsize for r in range(nrec)]
    assert sv.offset.ravel().tolist() == [rec_begin + 8 + r * recsize for r in range(nrec)]
    assert sv.length.ravel().tolist() == [2] * nrec
    # only the header was read, never the data
    assert all(end <= 64 * 1024 for _, end in fs.reads)
    # the referenced bytes decode to what was placed there
    for r in range(nrec):
        _, off, ln, _ = tv.chunk(r)
        assert np.frombuffer(fs.cat_file("", off, off + ln), ">f8")[0] == r + 0.5
        _, off, ln, _ = sv.chunk((r, 0))
        assert np.frombuffer(fs.cat_file("", off, off + ln), ">i2")[0] == -r
    # a tiny inline threshold reads the small record variables, nothing else
    fs.reads.clear()
    small = scan_netcdf3("sparse://big.nc", fs=fs, inline_threshold=64)
    assert small["tv"].manifest.n_inline == nrec and small["huge"].manifest.n_inline == 0
    assert np.frombuffer(b"".join(small["sv"].manifest.inline[r] for r in range(nrec)), ">i2").tolist() == [0, -1, -2, -3]


def test_header_larger_than_first_read_grows_the_buffer(tmp_path):
    p = str(tmp_path / "manyvars.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("n", 2)
        nc.long_text = "x" * 40_000
        for i in range(600):
            v = nc.createVariable(f"variable_with_a_long_name_{i:04d}", "i4", ("n",))
            v.description = f"variable number {i}"
            v[:] = [i, -i]
    reads = []
    with open(p, "rb") as f:
        blob = f.read()

    def read(off, n):
        reads.append((off, n))
        return blob[off : off + n]

    header, prefix = parse_header(p, read, len(blob), first_read=1024)
    assert len(header.variables) == 600 and len(reads) > 2
    assert header.attrs["long_text"] == "x" * 40_000
    assert prefix == blob[: len(prefix)] and header.header_size <= len(prefix)
    vds = scan_netcdf3(p, inline_threshold=0)
    got = vz.open(vds, decode=False)
    assert got["variable_with_a_long_name_0599"].values.tolist() == [599, -599]


# --------------------------------------------------------------------------------
# bad input


def _assert_one_line(err: ScanError, path: str, *words: str):
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith(path)
    for w in words:
        assert w in msg, msg


def test_truncated_header(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_64BIT_OFFSET")
    header, _ = parse_header(p, lambda o, n: open(p, "rb").read()[o : o + n], os.path.getsize(p))
    blob = open(p, "rb").read()
    for cut in (2, 6, 20, header.header_size // 2, header.header_size - 1):
        q = str(tmp_path / f"cut{cut}.nc")
        with open(q, "wb") as f:
            f.write(blob[:cut])
        with pytest.raises(ScanError) as e:
            scan_netcdf3(q)
        _assert_one_line(e.value, q, "truncated")


def test_wrong_version_byte(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC")
    with open(p, "r+b") as f:
        f.seek(3)
        f.write(b"\x03")
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "version byte 3")
    with pytest.raises(ScanError) as e:
        vz.scan(p)
    _assert_one_line(e.value, p, "version")


def _patched(tmp_path, name, fmt, find: bytes, replace: bytes, nth=0) -> str:
    p = make_full(tmp_path / f"{name}.nc", fmt)
    blob = bytearray(open(p, "rb").read())
    at = -1
    for _ in range(nth + 1):
        at = blob.index(find, at + 1)
    blob[at : at + len(replace)] = replace
    with open(p, "wb") as f:
        f.write(blob)
    return p


@pytest.mark.parametrize("fmt", FORMATS)
def test_absurd_counts_are_refused(tmp_path, fmt):
    wide = fmt == "NETCDF3_64BIT_DATA"
    cnt = ">Q" if wide else ">I"
    big = struct.pack(cnt, (1 << 62) if wide else 0x7FFFFFFF)
    # number of dimensions (right after the NC_DIMENSION tag)
    p = _patched(tmp_path, "ndims", fmt, b"\x00\x00\x00\x0a", b"\x00\x00\x00\x0a" + big)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "corrupt header", "dimensions")
    # length of the first dimension name ("time")
    p = _patched(tmp_path, "namelen", fmt, struct.pack(cnt, 4) + b"time", big)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "corrupt header")
    # number of values of the "title" attribute (after its nc_type NC_CHAR)
    p = _patched(tmp_path, "nattvals", fmt, b"title\x00\x00\x00\x00\x00\x00\x02", b"title\x00\x00\x00\x00\x00\x00\x02" + big)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "corrupt header", "title")


def test_corrupt_numrecs_is_refused(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC")
    with open(p, "r+b") as f:
        f.seek(4)
        f.write(struct.pack(">I", 0x7FFFFFF0))
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "records", "the file has only")


def test_bad_types_and_offsets_are_refused(tmp_path):
    # a CDF-5 type in a classic file
    hdr = build_header(1, 0, [("n", 2)], [], [("v", [0], [], 9, 8, 0)])
    p = str(tmp_path / "u4.nc")
    open(p, "wb").write(hdr + b"\0" * 8)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "uint", "CDF-5")
    # unknown nc_type
    hdr = build_header(1, 0, [("n", 2)], [], [("v", [0], [], 42, 8, 0)])
    open(p, "wb").write(hdr + b"\0" * 8)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "nc_type 42")
    # data offset not a multiple of 4, data inside the header, past the end
    n = len(build_header(1, 0, [("n", 2)], [], [("v", [0], [], 4, 8, 0)]))
    for begin, words in ((n + 2, "multiple of 4"), (n - 8, "inside"), (n + 64, "the file has only")):
        hdr = build_header(1, 0, [("n", 2)], [], [("v", [0], [], 4, 8, begin)])
        open(p, "wb").write(hdr + b"\0" * 16)
        with pytest.raises(ScanError) as e:
            scan_netcdf3(p)
        _assert_one_line(e.value, p, words)
    # a dimension id that does not exist
    hdr = build_header(1, 0, [("n", 2)], [], [("v", [3], [], 4, 8, n)])
    open(p, "wb").write(hdr + b"\0" * 8)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "dimension id 3")
    # the unlimited dimension in second place
    hdr = build_header(1, 1, [("t", 0), ("n", 2)], [], [("v", [1, 0], [], 4, 8, n)])
    open(p, "wb").write(hdr + b"\0" * 8)
    with pytest.raises(ScanError) as e:
        scan_netcdf3(p)
    _assert_one_line(e.value, p, "unlimited")


def test_missing_file():
    with pytest.raises(ScanError) as e:
        scan_netcdf3("/nonexistent/nowhere.nc")
    _assert_one_line(e.value, "/nonexistent/nowhere.nc", "no such file")


# --------------------------------------------------------------------------------
# scipy-written files (an independent writer)


@pytest.mark.parametrize("version", [1, 2])
def test_scipy_written_files(tmp_path, version):
    scipy_io = pytest.importorskip("scipy.io")
    p = str(tmp_path / "scipy.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = scipy_io.netcdf_file(p, "w", version=version)
        f.createDimension("t", None)
        f.createDimension("n", 3)
        f.history = b"scipy"
        t = f.createVariable("t", "i2", ("t",))  # two record variables: padded
        t[:] = np.arange(4, dtype="i2")
        v = f.createVariable("v", "f4", ("t", "n"))
        v[:] = np.arange(12, dtype="f4").reshape(4, 3)
        v.units = b"K"
        c = f.createVariable("c", "b", ("n",))
        c[:] = np.array([1, -2, 3], "i1")
        f.close()
    vds = scan_netcdf3(p, inline_threshold=0)
    assert vds["t"].shape == (4,) and vds["v"].shape == (4, 3)
    assert_same_as_xarray(p, vds, tmp_path)

    q = str(tmp_path / "scipy1.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = scipy_io.netcdf_file(q, "w", version=version)
        f.createDimension("t", None)
        s = f.createVariable("s", "i2", ("t",))  # a lone short record variable
        s[:] = np.arange(5, dtype="i2") * 3
        f.close()
    vds = scan_netcdf3(q, inline_threshold=0)
    assert np.all(np.diff(vds["s"].manifest.offset.ravel().astype(np.int64)) == 2)
    assert_same_as_xarray(q, vds, tmp_path, name="r1.json")


class WholeFileFS:
    """A filesystem like an HTTP server that ignores Range requests."""

    def __init__(self, blob: bytes, size_known: bool = True):
        self.blob = blob
        self.size_known = size_known

    def info(self, path):
        return {"size": len(self.blob) if self.size_known else None, "name": path}

    def cat_file(self, path, start=0, end=None):
        return self.blob

    def cat_ranges(self, paths, starts, ends, **kw):
        return [self.blob for _ in paths]


def test_server_ignoring_ranges(tmp_path):
    p = make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC")
    blob = open(p, "rb").read()
    got = scan_netcdf3("http://example.invalid/full.nc", fs=WholeFileFS(blob), inline_threshold=100)
    want = scan_netcdf3(p, inline_threshold=100)
    for name, v in want.variables.items():
        assert np.array_equal(got[name].manifest.offset, v.manifest.offset)
        assert dict(got[name].manifest.inline) == dict(v.manifest.inline)
    with pytest.raises(ScanError) as e:
        # (trailing bytes make the file longer than the first 64 KiB read)
        scan_netcdf3("http://example.invalid/full.nc", fs=WholeFileFS(blob + bytes(100_000), size_known=False))
    _assert_one_line(e.value, "http://example.invalid/full.nc", "ignored a byte-range request")


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    make_full(tmp_path / "full.nc", "NETCDF3_CLASSIC")
    monkeypatch.chdir(tmp_path)
    vds = scan_netcdf3("full.nc", inline_threshold=0)
    assert vds.sources[0].path == str(tmp_path / "full.nc")
    assert vds["rec_f4"].manifest.paths == (str(tmp_path / "full.nc"),)


# --------------------------------------------------------------------------------
# property: random layouts, every referenced byte range holds the variable's values

from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

_var_strategy = st.tuples(
    st.sampled_from(CDF5_TYPES),
    st.booleans(),  # record variable?
    st.lists(st.integers(1, 5), min_size=0, max_size=2),  # other dim lengths
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(FORMATS),
    nrec=st.integers(0, 4),
    specs=st.lists(_var_strategy, min_size=1, max_size=5),
    threshold=st.sampled_from([0, 16, 500]),
)
def test_random_layouts_reference_the_right_bytes(tmp_path_factory, fmt, nrec, specs, threshold):
    d = tmp_path_factory.mktemp("prop")
    p = str(d / "r.nc")
    types = types_for(fmt)
    with netCDF4.Dataset(p, "w", format=fmt) as nc:
        nc.createDimension("rec", None)
        for n in range(1, 6):
            nc.createDimension(f"d{n}", n)
        for i, (t, is_rec, rest) in enumerate(specs):
            t = t if t in types else "i2"
            dims = (("rec",) if is_rec else ()) + tuple(f"d{n}" for n in rest)
            v = nc.createVariable(f"v{i}", t, dims)
            shape = ((nrec,) if is_rec else ()) + tuple(rest)
            if 0 not in shape:
                v[...] = sample(t, shape)
    vds = scan_netcdf3(p, inline_threshold=threshold)
    blob = open(p, "rb").read()
    for name, v in vds.variables.items():
        raw = raw_records(p, name).astype(v.dtype)
        assert v.shape == raw.shape
        parts = []
        for flat in range(v.manifest.n_chunks):
            path, off, ln, inline = v.manifest.chunk(flat)
            parts.append(inline if inline is not None else blob[off : off + ln])
            assert inline is None or v.nbytes <= threshold
        assert b"".join(parts) == raw.tobytes(), name
