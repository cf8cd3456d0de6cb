"""No file refused for one variable, no variable dropped silently.

Every variable the scanner cannot reference (unsupported filters, ragged arrays,
compounds with padding or nesting, vlen strings inside compounds) is either
inlined as its decoded values (when Zarr can represent them and they fit the
inline threshold) or named with its reason on ``VDataset.skipped``, in a
``SkippedVariableWarning``, on the CLI's stderr and in the displays; ``errors=``
decides whether that is an error. Inlined values are checked through plain
xarray in a process that never imports vz_jupyter.
"""
from __future__ import annotations

import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from _plain_xarray import plain_xarray

import vz_jupyter as vz
from vz_jupyter.cli import main as cli_main
from vz_jupyter.core.errors import ScanError, SkippedFileWarning, SkippedVariableWarning, UnsupportedFeature
from vz_jupyter.core.scan import scan_file

ROOT = Path(__file__).resolve().parent.parent


def _defects_dir() -> Path | None:
    env = os.environ.get("VZ_REAL_DEFECTS")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "real-defects"]:
        if cand.is_dir():
            return cand
    return None


DEFECTS = _defects_dir()


def defect(name: str) -> str:
    if DEFECTS is None or not (DEFECTS / name).exists():
        pytest.skip(f"real defect file {name} not present (set VZ_REAL_DEFECTS)")
    return str(DEFECTS / name)


def _szip_can_encode() -> bool:
    try:
        return bool(h5py.h5z.get_filter_info(h5py.h5z.FILTER_SZIP) & h5py.h5z.FILTER_CONFIG_ENCODE_ENABLED)
    except Exception:
        return False


# --------------------------------------------------------------------------- a file of everything
PADDED = np.dtype({"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 8], "itemsize": 16})
NESTED = np.dtype([("p", [("x", "<i2"), ("y", "<f4")]), ("q", "<f8"), ("r", "<i4", (2,))])
WITH_STR = np.dtype([("id", "<i4"), ("name", h5py.string_dtype())])


def _nbit(f, name, data):
    tid = h5py.h5t.py_create(np.dtype("<u2")).copy()
    tid.set_precision(12)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(data.shape)
    dcpl.set_filter(5)  # H5Z_FILTER_NBIT (h5py has no set_nbit); its parameters are set by HDF5
    dsid = h5py.h5d.create(f.id, name.encode(), tid, h5py.h5s.create_simple(data.shape), dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def _values(kind: str, n: int):
    rng = np.random.default_rng(len(kind) * 1000 + n)
    if kind == "padded":
        a = np.zeros(n, PADDED)
        a["a"], a["b"] = np.arange(n), rng.normal(size=n)
        return a
    if kind == "nested":
        a = np.zeros(n, NESTED)
        a["p"]["x"], a["p"]["y"], a["q"] = np.arange(n), rng.normal(size=n), rng.normal(size=n)
        a["r"] = np.arange(2 * n).reshape(n, 2)
        return a
    if kind == "with_str":
        a = np.zeros(n, WITH_STR)
        a["id"] = np.arange(n)
        a["name"] = [f"name-{i}-é".encode() for i in range(n)]
        return a
    if kind == "nbit":
        return (np.arange(n) * 37 % 4096).astype("<u2")
    return rng.normal(size=n).astype("<f4")


FILTERED = {
    "scaleoffset": dict(scaleoffset=3),
    "blosc2": dict(**hdf5plugin.Blosc2()),
    "zfp": dict(**hdf5plugin.Zfp(reversible=True)),
    "sz": dict(**hdf5plugin.SZ(absolute=1e-3)),
    "unknown": dict(compression=47999, allow_unknown_filter=True),
}


def make_everything(path: str, n: int) -> str:
    """One of each thing the scanner cannot reference, with ``n`` elements, next
    to a plain variable."""
    with h5py.File(path, "w") as f:
        f.create_dataset("plain", data=np.arange(n, dtype="i4"))
        for kind, kw in FILTERED.items():
            f.create_dataset(kind, data=_values(kind, n), chunks=(n,), **kw)
        if _szip_can_encode():
            m = max(n, 32)  # szip needs a block of pixels per chunk
            f.create_dataset("szip", data=np.arange(m, dtype="i4"), chunks=(m,), compression="szip")
        _nbit(f, "nbit", _values("nbit", n))
        for kind in ("padded", "nested", "with_str"):
            f.create_dataset(kind, data=_values(kind, n))
        r = f.create_dataset("ragged", shape=(n,), dtype=h5py.vlen_dtype("i4"))
        r[0] = np.arange(3)
    return path


SMALL, BIG = 4, 400  # 4 elements: every one <= 500 B decoded; 400: every one > 500 B


def _h5_leaves(path: str):
    """{variable name as vz names it: values} read by h5py."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            if not isinstance(ds, h5py.Dataset):  # a named datatype
                continue
            arr = ds[()]

            def walk(prefix, a):
                if a.dtype.names is None:
                    out[prefix] = a
                else:
                    for m in a.dtype.names:
                        walk(f"{prefix}.{m}", a[m])
            walk(name, arr)
    return out


def _same(got, exp, what):
    if exp.dtype.kind in "OUT" or got.dtype.kind in "OUT":
        norm = [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(exp).ravel()]
        assert [str(x) for x in np.asarray(got).ravel()] == norm, what
    else:
        assert got.dtype == exp.dtype.newbyteorder("=") or got.dtype == exp.dtype, (what, got.dtype, exp.dtype)
        np.testing.assert_array_equal(got, exp, err_msg=what)


def test_small_unreferenceable_variables_are_inlined_and_read_back_in_plain_xarray(tmp_path):
    path = make_everything(str(tmp_path / "small.h5"), SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = scan_file(path)
    # only the ragged array has no Zarr representation; it is named, with a reason
    assert [n for n, _ in ds.skipped] == ["ragged"]
    assert "variable-length sequences of int32" in dict(ds.skipped)["ragged"]
    assert [str(w.message) for w in caught if w.category is SkippedVariableWarning] == [
        f"{path}: variable 'ragged' not referenced: {dict(ds.skipped)['ragged']}"]
    exp = _h5_leaves(path)
    exp.pop("ragged")
    assert set(ds.variables) == set(exp)
    for name in FILTERED:
        assert ds[name].codecs == () and ds[name].manifest.n_inline == 1, name
    refs = tmp_path / "small.json"
    vz.write(ds, str(refs))
    for decode in (False, True):
        got = plain_xarray(refs, tmp_path, decode=decode)
        assert set(got) == set(exp)
        for name, values in exp.items():
            if decode and name == "plain":
                continue  # referenced, not inlined: fill-value masking is another test's business
            dims, v = got[name]
            assert dims == ds[name].dims
            _same(v, values, f"{name} decode={decode}")


def test_big_unreferenceable_variables_are_named_with_their_reasons(tmp_path):
    path = make_everything(str(tmp_path / "big.h5"), BIG)
    ds = scan_file(path, errors="skip")
    reasons = dict(ds.skipped)
    expected = set(FILTERED) | {"nbit", "padded", "nested", "with_str", "ragged"}
    if _szip_can_encode():
        expected.add("szip")
    assert set(reasons) == expected
    assert list(ds.variables) == ["plain"]  # the file is not refused
    ids = {"scaleoffset": "id 6", "blosc2": "id 32026", "zfp": "id 32013", "sz": "id 32017",
           "unknown": "id 47999", "nbit": "id 5", "szip": "id 4"}
    for name, fid in ids.items():
        if name in reasons:
            assert fid in reasons[name] and "more than the inline threshold" in reasons[name], reasons[name]
    assert "padding" in reasons["padded"] and "compound member 'p'" in reasons["nested"]
    assert "compound member 'name'" in reasons["with_str"]
    for r in reasons.values():
        assert "\n" not in r
    # raising the threshold inlines all but the ragged array
    ds = scan_file(path, inline_threshold=10**6, errors="skip")
    assert [n for n, _ in ds.skipped] == ["ragged"]


def test_errors_parameter(tmp_path):
    path = make_everything(str(tmp_path / "e.h5"), SMALL)
    with pytest.warns(SkippedVariableWarning, match="'ragged' not referenced"):
        vz.scan(path)
    with pytest.warns(SkippedVariableWarning):
        ds = vz.scan(path, errors="warn")[0]
    assert [n for n, _ in ds.skipped] == ["ragged"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = vz.scan(path, errors="skip")[0]  # silent, still recorded
    assert [n for n, _ in ds.skipped] == ["ragged"]
    with pytest.raises(UnsupportedFeature) as e:
        vz.scan(path, errors="raise")
    assert str(e.value).startswith(f"{path}: variable 'ragged' cannot be referenced: variable-length")
    with pytest.raises(ValueError, match="errors must be"):
        vz.scan(path, errors="ignore")


def test_errors_for_files(tmp_path):
    good = make_everything(str(tmp_path / "good.h5"), SMALL)
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"CDF\x01" + b"\xff" * 20)
    with pytest.raises(ScanError):
        vz.scan([good, str(bad)])
    with pytest.warns(SkippedFileWarning, match="bad.nc"):
        got = vz.scan([good, str(bad)], errors="warn")
    assert [d.sources[0].path for d in got] == [good]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(vz.scan([str(bad), good], errors="skip")) == 1
    with pytest.raises(ScanError):
        vz.scan([good, str(bad)], errors="raise")


def test_executor_scans_warn_and_raise_in_the_caller(tmp_path):
    path = make_everything(str(tmp_path / "x.h5"), SMALL)
    with ThreadPoolExecutor(2) as ex:
        with pytest.warns(SkippedVariableWarning, match="ragged"):
            ds = vz.scan([path, path], executor=ex)
        assert all([n for n, _ in d.skipped] == ["ragged"] for d in ds)
        with pytest.raises(UnsupportedFeature, match="ragged"):
            vz.scan([path], executor=ex, errors="raise")


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_names_skipped_variables_on_stderr(tmp_path):
    path = make_everything(str(tmp_path / "c.h5"), BIG)
    code, out, err = _cli("scan", path, "-o", str(tmp_path / "c.json"))
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) >= 9 and all(line.startswith(f"vz: warning: {path}: variable '") for line in lines)
    assert any("'nbit' not referenced: nbit filter (id 5)" in line for line in lines)
    assert "not referenced" in out  # the summary line says so too
    code, out, err = _cli("info", path, "--errors", "raise")
    assert code == 1 and err.count("\n") == 1 and "cannot be referenced" in err
    code, out, err = _cli("info", path, "--errors", "skip")
    assert code == 0 and err == "" and "skipped" in out


def test_magic_and_display_name_skipped_variables(tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    path = make_everything(str(tmp_path / "m.h5"), BIG)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vz_jupyter")
    with pytest.warns(SkippedVariableWarning):
        res = ip.run_line_magic("vz", f"scan {path}")
    ds = res[0]
    html, text = ds._repr_html_(), repr(ds)
    for name, _ in ds.skipped:
        assert name in text and name in html
    assert "nbit filter (id 5)" in text


# --------------------------------------------------------------------------- real files
def test_real_szip(tmp_path):
    path = defect("ncc_ref_szip.h5")
    ds = scan_file(path, errors="skip")
    (name, reason), = ds.skipped
    assert name == "dset_szip" and reason.startswith("szip filter (id 4)") and "3.2 kB decoded" in reason
    ds = scan_file(path, inline_threshold=4000)
    assert not ds.skipped
    refs = tmp_path / "szip.json"
    vz.write(ds, str(refs))
    got = plain_xarray(refs, tmp_path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(got["dset_szip"][1], f["dset_szip"][()])


def test_real_nbit(tmp_path):
    path = defect("h5rrs_nbit.h5")
    ds = scan_file(path)
    assert not ds.skipped and ds["data"].manifest.n_inline == 1
    refs = tmp_path / "nbit.json"
    vz.write(ds, str(refs))
    got = plain_xarray(refs, tmp_path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(got["data"][1], f["data"][()])


def test_real_vlen_numeric_all_named(tmp_path):
    path = defect("jhdf_test_vlen_datasets_latest.hdf5")
    with pytest.warns(SkippedVariableWarning) as rec:
        ds = scan_file(path)
    with h5py.File(path, "r") as f:
        names = set(f)
    assert {n for n, _ in ds.skipped} == names and not ds.variables
    assert len([w for w in rec if w.category is SkippedVariableWarning]) == len(names)
    assert all("ragged arrays" in r for _, r in ds.skipped)


def test_real_nested_compound(tmp_path):
    path = defect("ncc_ref_tst_compounds2.nc")
    ds = scan_file(path)
    assert not ds.skipped
    refs = tmp_path / "c.json"
    vz.write(ds, str(refs))
    got = plain_xarray(refs, tmp_path)
    exp = _h5_leaves(path)
    for name, values in exp.items():
        if name == "phony_dim":
            continue
        _same(got[name][1], values, name)
    assert got["phony_compound_var.yy.y"][0] == ("phony_dim", "phony_compound_var.yy.y_dim0",
                                                 "phony_compound_var.yy.y_dim1")


def test_real_h5netcdf_names_and_values_as_netcdf_c_shows_them(tmp_path):
    import xarray as xr

    path = defect("pyfive_h5netcdf_test.hdf5")
    ds = scan_file(path)
    assert "mismatched_dim" in ds.variables and not any(n.startswith("_nc4") for n in ds.variables)
    refs = tmp_path / "h.json"
    vz.write(ds, str(refs))
    got = plain_xarray(refs, tmp_path, decode=False)
    with xr.open_dataset(path, decode_cf=False) as exp:
        assert set(got) == set(exp.variables)
        for name in exp.variables:
            dims, values = got[name]
            assert dims == exp[name].dims, name
            _same(values, exp[name].values, name)


def test_real_nul_padded_netcdf3_names():
    import netCDF4

    path = defect("ncc_ref_nctest_classic.nc")
    ds = scan_file(path)
    with netCDF4.Dataset(path) as nc:
        assert list(ds.attrs) == nc.ncattrs()
        assert list(ds.variables) == list(nc.variables)
        assert ds.dims == {k: len(v) for k, v in nc.dimensions.items() if any(
            k in var.dimensions for var in nc.variables.values())}
    assert "plugh" in ds.attrs
