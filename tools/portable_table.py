"""Do the references show anyone the original values? For every file in
../shared/data/real and ../shared/data/real-defects plus generated cases (every
int/uint/float width in both byte orders, netCDF default fills, char, a NetCDF3
int16 with a NaN _FillValue, unallocated chunks with a non-zero fill, unwritten
scalars, compound fields, LZF/LZ4/bitshuffle), write kerchunk JSON, parquet and
Icechunk references, open them with plain xarray's defaults in a process that
never imports vz_jupyter, and compare raw and decoded values (and raw
attributes) with ``xr.open_dataset(original)``. Prints a markdown table.

    .venv/bin/python tools/portable_table.py [--data ../shared/data] [--only NAME]

Accepted difference: float32 attributes come back as float64 (JSON numbers), so
values decoded with them (scale_factor) are compared with a float32 tolerance.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

FORMATS = {"json": "r.json", "parquet": "r.parquet", "icechunk": "r.icechunk"}


# ----------------------------------------------------------------------------- generated cases
def _h5_types(path):
    """Every int/uint/float width in both byte orders, no _FillValue: zeros are data
    (float16 left out: not a netCDF type, and netCDF-C crashes reading it)."""
    import h5py

    with h5py.File(path, "w") as f:
        for kind, sizes in (("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)), ("f", (4, 8))):
            for n in sizes:
                for bo, tag in (("<", "le"), (">", "be")):
                    dt = np.dtype(f"{bo}{kind}{n}")
                    data = (np.arange(24).reshape(4, 6) % 5).astype(dt)  # zeros among the data
                    f.create_dataset(f"{kind}{n * 8}_{tag}", data=data, chunks=(2, 3))


def _nc4_default_fills(path):
    """netCDF-C files without _FillValue: unwritten data read as NC_FILL_*; a
    record variable written for fewer records than the dim; a never-written
    variable; unwritten scalars; one variable declaring its own _FillValue."""
    import netCDF4

    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("t", None)
        d.createDimension("x", 6)
        types = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]
        for t in types:
            v = d.createVariable(f"v_{t}", t, ("t", "x"), chunksizes=(1, 3))
            v[0:2, 0:3] = np.arange(6).reshape(2, 3).astype(t)  # other chunks never written
        d.createVariable("never", "f4", ("t", "x"), chunksizes=(2, 6))
        d.createVariable("scalar_unwritten", "f8", ())
        d.createVariable("scalar_i4_unwritten", "i4", ())
        d.createVariable("scalar_declared", "f4", (), fill_value=np.float32(-1.5))
        w = d.createVariable("declared", "i2", ("t", "x"), fill_value=np.int16(-99), chunksizes=(1, 2))
        w[0:3, 0:2] = 5
        z = d.createVariable("declared_zlib", "f4", ("t", "x"), fill_value=np.float32(1e20), zlib=True, chunksizes=(1, 3))
        z[0, :3] = 1.0


def _nc3_chars(path):
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as d:
        d.createDimension("n", 3)
        d.createDimension("s", 5)
        c = d.createVariable("name", "S1", ("n", "s"))
        c[:] = netCDF4.stringtochar(np.array(["ab", "cde", ""], "S5"))
        b = d.createVariable("flag", "S1", ("n",))
        b[:] = np.array([b"x", b"", b"z"])
        e = d.createVariable("byte_default", "i1", ("n",))
        e[:] = [-127, 0, 5]  # -127 is NC_FILL_BYTE: shown as is, not masked


def _nc4_chars(path):
    import netCDF4

    with netCDF4.Dataset(path, "w") as d:
        d.createDimension("n", 3)
        d.createDimension("s", 4)
        c = d.createVariable("name", "S1", ("n", "s"))
        c[:2] = netCDF4.stringtochar(np.array(["ab", "cde"], "S4"))  # row 2 unwritten


def _nc3_nan_fill(path):
    """ERA-Interim style: int16 packed data whose _FillValue and missing_value
    are double NaN (a type that does not match the variable)."""
    from scipy.io import netcdf_file

    f = netcdf_file(path, "w", version=1)
    f.createDimension("time", 3)
    f.createDimension("lat", 4)
    v = f.createVariable("t2m", "h", ("time", "lat"))
    v[:] = np.array([[1, 2, -32767, 4], [5, 6, 7, 8], [0, 1, 2, 3]], dtype="i2")
    v._attributes["_FillValue"] = np.float64(np.nan)
    v._attributes["missing_value"] = np.float64(np.nan)
    v._attributes["scale_factor"] = np.float64(0.01)
    v._attributes["add_offset"] = np.float64(270.0)
    w = f.createVariable("count", "i", ("lat",))
    w[:] = [1, 1, 2, 3]
    w._attributes["_FillValue"] = np.float64(1.5)  # never masks the 1s, never becomes 1
    f.close()


def _h5_odd_and_unallocated(path):
    """HDF5 files from non-netCDF writers: attribute types that differ from the
    variable; chunks never written with a non-zero HDF5 fill and no _FillValue."""
    import h5py

    with h5py.File(path, "w") as f:
        d = f.create_dataset("int_fill_15", data=np.array([1, 1, 2, 3], "i4"))
        d.attrs["_FillValue"] = 1.5
        d = f.create_dataset("int_fill_nan", data=np.array([1, 0, 2, 3], ">i2"))
        d.attrs["_FillValue"] = np.nan
        g = f.create_dataset("holes", shape=(6, 8), dtype="<f4", chunks=(2, 2), fillvalue=-9.0)
        g[0:2, 0:4] = 1.5
        h = f.create_dataset("holes_zlib", shape=(40, 40), dtype="<i4", chunks=(4, 4), fillvalue=7, compression="gzip")
        h[0:4, :] = 3
        k = f.create_dataset("holes_declared", shape=(4, 4), dtype="<i2", chunks=(2, 2), fillvalue=-1)
        k.attrs["_FillValue"] = np.int16(-1)
        k[0:2, 0:2] = 4
        f.create_dataset("scalar_never", shape=(), dtype="<f8", fillvalue=2.5)


def _h5_compound_codecs(path):
    import h5py
    import hdf5plugin

    rng = np.random.default_rng(4)
    base = np.repeat(rng.integers(-500, 500, 60), 20).reshape(40, 30).astype("<i4")
    with h5py.File(path, "w") as f:
        f.create_dataset("lzf", data=base, chunks=(10, 10), compression="lzf")
        f.create_dataset("lz4", data=base, chunks=(10, 10), **hdf5plugin.LZ4())
        f.create_dataset("bitshuffle", data=base.astype(">f8"), chunks=(10, 10), **hdf5plugin.Bitshuffle(cname="none"))
        f.create_dataset("bitshuffle_lz4", data=base, chunks=(10, 10), **hdf5plugin.Bitshuffle(cname="lz4"))
        f.create_dataset("bitshuffle_zstd", data=base, chunks=(10, 10), **hdf5plugin.Bitshuffle(cname="zstd"))
        rec = np.zeros(12, dtype=[("a", "<i2"), ("b", ">f4")])
        rec["a"] = np.arange(12)
        rec["b"] = np.linspace(0, 1, 12)
        f.create_dataset("rec", data=rec, chunks=(5,), compression="lzf")


CASES = {
    "gen_types_both_orders.h5": _h5_types,
    "gen_nc4_default_fills.nc": _nc4_default_fills,
    "gen_nc3_chars.nc": _nc3_chars,
    "gen_nc4_chars.nc": _nc4_chars,
    "gen_nc3_nan_fill.nc": _nc3_nan_fill,
    "gen_h5_odd_and_unallocated.h5": _h5_odd_and_unallocated,
    "gen_h5_compound_codecs.h5": _h5_compound_codecs,
}


def make_cases(folder: str) -> list[str]:
    out = []
    for name, make in CASES.items():
        p = os.path.join(folder, name)
        make(p)
        out.append(p)
    return out


def real_files(data: str) -> list[str]:
    files = []
    for sub in ("real", "real-defects"):
        d = os.path.join(data, sub)
        if os.path.isdir(d):
            files += sorted(os.path.join(d, f) for f in os.listdir(d) if not f.endswith(".md"))
    return files


# ----------------------------------------------------------------------------- comparison
def _same(a: np.ndarray, b: np.ndarray, raw: bool) -> str | None:
    """None when ``b`` (references) shows what ``a`` (original) shows, else why not."""
    if a.shape != b.shape:
        return f"shape {b.shape} != {a.shape}"
    if a.dtype.kind in "OSUT" or b.dtype.kind in "OSUT":
        na = [x if isinstance(x, bytes) else str(x).encode() for x in a.ravel()]
        nb = [x if isinstance(x, bytes) else str(x).encode() for x in b.ravel()]
        return None if na == nb else "text differs"
    if a.dtype.names:
        return None if a.dtype == b.dtype and np.array_equal(a, b) else "records differ"
    if a.dtype.kind in "mM" or b.dtype.kind in "mM":
        return None if a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) else f"times differ ({b.dtype} vs {a.dtype})"
    a = a.astype(a.dtype.newbyteorder("="), copy=False)  # byte order is not a value
    b = b.astype(b.dtype.newbyteorder("="), copy=False)
    if raw and a.dtype != b.dtype:
        return f"dtype {b.dtype} != {a.dtype}"
    if not raw and a.dtype != b.dtype and not (a.dtype.kind == b.dtype.kind == "f"):
        return f"dtype {b.dtype} != {a.dtype}"
    if a.dtype.kind in "fc":
        na, nb = np.isnan(a), np.isnan(b)
        if not np.array_equal(na, nb):
            return f"NaN at {int((na != nb).sum())} places differ"
        if a.dtype == b.dtype:
            ok = np.array_equal(a[~na], b[~nb])
        else:  # float32 attributes became float64: decoded in float64 instead of float32
            ok = np.allclose(a[~na], b[~nb], rtol=2e-7 * 4, atol=0)
        return None if ok else "values differ"
    return None if np.array_equal(a, b) else f"{int((a != b).sum())} values differ"


def _same_attrs(a: dict, b: dict) -> str | None:
    """Raw attributes: equal, but a float32 may come back as float64."""
    bad = []
    for k, va in a.items():
        if k not in b:
            bad.append(f"no {k}")
            continue
        x, y = np.asarray(va), np.asarray(b[k])
        if x.dtype.kind in "fc" and y.dtype.kind in "fc":
            if x.shape != y.shape or not np.allclose(x, y.astype(x.dtype), equal_nan=True, rtol=0, atol=0):
                bad.append(k)
        elif x.dtype.kind in "iu" and y.dtype.kind in "iu":
            if not np.array_equal(x, y):
                bad.append(k)
        elif str(va) != str(b[k]) and not (x.dtype.kind in "SU" and y.dtype.kind in "SU" and np.array_equal(x.astype(str), y.astype(str))):
            bad.append(k)
    extra = sorted(set(b) - set(a) - {"_FillValue"} if "_FillValue" not in a else set(b) - set(a))
    bad += [f"extra {k}" for k in extra]
    return ", ".join(bad) or None


ORIGINAL_READER = r'''
import json, sys, warnings, pickle
import numpy as np, xarray as xr
warnings.simplefilter("ignore")
srcs, out = json.loads(sys.argv[1]), sys.argv[2]
res = {}
for src in srcs:
    for decode in (False, True):
        kw = {} if decode else dict(decode_cf=False, mask_and_scale=False, decode_times=False)
        try:
            ds = xr.open_dataset(src, engine="netcdf4", **kw)
            res[(src, decode)] = {n: (np.asarray(ds[n].values), dict(ds[n].attrs)) for n in ds.variables}
        except Exception as e:
            # netCDF-C has no filter for it (LZF): h5py's values, CF-decoded by xarray
            try:
                import h5py, hdf5plugin
                with h5py.File(src, "r") as f:
                    items = {n: (f[n][()], {k: v for k, v in f[n].attrs.items() if k not in ("CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST")})
                             for n in f if isinstance(f[n], h5py.Dataset)}
                raw = xr.Dataset({n: ([f"{n}_{i}" for i in range(v.ndim)], v, a) for n, (v, a) in items.items()})
                out_ds = raw
                if decode:
                    plain = [n for n in raw.variables if raw[n].dtype.names is None]
                    out_ds = xr.merge([xr.decode_cf(raw[plain]), raw.drop_vars(plain)]) if plain else raw
                res[(src, decode)] = {n: (np.asarray(out_ds[n].values), dict(out_ds[n].attrs)) for n in out_ds.variables}
            except Exception:
                res[(src, decode)] = f"{type(e).__name__}: {str(e)[:120]}"
pickle.dump(res, open(out, "wb"))
'''

REF_READER = r'''
import json, sys, warnings, pickle
import numpy as np, xarray as xr
warnings.simplefilter("ignore")
jobs, out = json.loads(sys.argv[1]), sys.argv[2]
res = {}
def icechunk_store(path):
    import icechunk as ic
    storage = ic.local_filesystem_storage(path)
    repo = ic.Repository.open(storage)
    prefixes = [c.url_prefix for c in (repo.config.virtual_chunk_containers or {}).values()]
    creds = ic.containers_credentials({p: None for p in prefixes}) if prefixes else None
    repo = ic.Repository.open(storage, authorize_virtual_chunk_access=creds)
    return repo.readonly_session(branch="main").store
for key, (ref, kind) in jobs.items():
    for decode in (False, True):
        kw = {} if decode else dict(decode_cf=False, mask_and_scale=False, decode_times=False)
        try:
            if kind == "icechunk":
                ds = xr.open_zarr(icechunk_store(ref), consolidated=False, zarr_format=3, chunks=None, **kw)
            else:
                ds = xr.open_dataset("reference://", engine="zarr",
                                     backend_kwargs={"consolidated": False, "storage_options": {"fo": ref}}, **kw)
            vals = {}
            for n in ds.variables:
                try:
                    vals[n] = (np.asarray(ds[n].values), dict(ds[n].attrs))
                except Exception as e:
                    vals[n] = f"{type(e).__name__}: {str(e)[:120]}"
            res[(key, decode)] = vals
        except Exception as e:
            res[(key, decode)] = f"{type(e).__name__}: {str(e)[:120]}"
res["__modules__"] = sorted(m for m in sys.modules if m.split(".")[0] == "vz_jupyter")
pickle.dump(res, open(out, "wb"))
'''


def _run(script: str, args: list[str], env_extra: dict | None = None, timeout: float = 600):
    import pickle
    import subprocess

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as t:
        out = t.name
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-c", script, *args, out], capture_output=True, text=True, timeout=timeout, env=env, cwd="/")
    if r.returncode:
        raise RuntimeError(f"reader exited with {r.returncode}: {r.stderr[-1500:]}")
    with open(out, "rb") as f:
        res = pickle.load(f)
    os.unlink(out)
    return res


def _write_all(src: str, work: str, formats) -> tuple[dict, dict]:
    """Scan ``src`` and write its references; returns the table row so far and
    the reader jobs ``{key: (target, format)}``."""
    import vz_jupyter as vz

    row: dict = {"file": os.path.basename(src), "path": src}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = vz.scan_file(src)
    except Exception as e:  # noqa: BLE001
        row["error"] = f"not scanned: {type(e).__name__}: {str(e)[:150]}"
        return row, {}
    row["variables"] = len(ds.variables)
    row["skipped"] = list(ds.skipped)
    jobs = {}
    for fmt in formats:
        target = os.path.join(work, FORMATS[fmt])
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                vz.write(ds, target, format={"json": "kerchunk-json", "parquet": "kerchunk-parquet"}.get(fmt, fmt))
            row.setdefault("warnings", []).extend(sorted({str(x.message) for x in w if x.category.__name__ == "FillValueWarning"}))
            jobs[f"{src}::{fmt}"] = (target, fmt)
        except Exception as e:  # noqa: BLE001
            row[fmt] = f"not written: {type(e).__name__}: {str(e)[:120]}"
    return row, jobs


def _compare(row: dict, o, r, decode: bool) -> dict:
    if isinstance(o, str):
        return {"(original)": f"cannot open: {o}"}
    if isinstance(r, str):
        return {"(references)": f"cannot open: {r}"}
    skipped = {n for n, _ in row["skipped"]}
    probs = {}
    for name, (a, attrs) in o.items():
        if name in skipped:
            continue
        if a.dtype.names:  # compound: one variable per (nested) field
            todo = [(name, a)]
            while todo:
                nm, arr = todo.pop()
                for fld in arr.dtype.names:
                    sub = arr[fld]
                    if sub.dtype.names:
                        todo.append((f"{nm}.{fld}", sub))
                        continue
                    got = r.get(f"{nm}.{fld}")
                    why = "missing" if got is None else got if isinstance(got, str) else _same(sub, got[0], not decode)
                    if why:
                        probs[f"{nm}.{fld}"] = why
            continue
        got = r.get(name)
        if got is None:
            probs[name] = "missing from the references"
            continue
        if isinstance(got, str):
            probs[name] = got
            continue
        why = _same(a, got[0], not decode)
        if not why and not decode:
            bad = _same_attrs(attrs, got[1])
            why = f"attributes: {bad}" if bad else None
        if why:
            probs[name] = why
    return probs


def check_files(files: list[str], work: str, formats=tuple(FORMATS)) -> list[dict]:
    """Write references for each file in each format and compare them, read by
    plain xarray in one process that never imports vz_jupyter, with the
    originals read by xarray (netCDF4 engine) in another. One row per file:
    ``{"file", "variables", "skipped", fmt: {"raw": problems, "decoded":
    problems} | "not written: ..."}``, problems mapping variable -> why."""
    import hdf5plugin

    rows, jobs = [], {}
    for i, src in enumerate(files):
        d = os.path.join(work, f"w{i}")
        os.makedirs(d, exist_ok=True)
        row, j = _write_all(src, d, formats)
        rows.append(row)
        jobs.update(j)
    srcs = [r["path"] for r in rows if "error" not in r]
    env = {"HDF5_PLUGIN_PATH": hdf5plugin.PLUGINS_PATH}  # netCDF-C reads LZ4/bitshuffle originals
    try:
        orig = _run(ORIGINAL_READER, [json.dumps(srcs)], env)
    except RuntimeError:  # netCDF-C crashed on one file: find it
        orig = {}
        for src in srcs:
            try:
                orig.update(_run(ORIGINAL_READER, [json.dumps([src])], env))
            except RuntimeError as e:
                orig.update({(src, d): f"netCDF-C crashed ({str(e)[:60]})" for d in (False, True)})
    refs = _run(REF_READER, [json.dumps(jobs)]) if jobs else {"__modules__": []}
    if refs.pop("__modules__"):
        raise AssertionError("the reference reader imported vz_jupyter")
    for row in rows:
        if "error" in row:
            continue
        for fmt in formats:
            key = f"{row['path']}::{fmt}"
            if key not in jobs:
                continue
            row[fmt] = {
                ("decoded" if decode else "raw"): _compare(row, orig[(row["path"], decode)], refs[(key, decode)], decode)
                for decode in (False, True)
            }
    return rows


def portable(row: dict, allow_warned: bool = False) -> bool:
    """Every referenced variable reads as the original in every format (with
    ``allow_warned``: except variables a FillValueWarning named for that format)."""
    if "error" in row:
        return False
    for f in FORMATS:
        if not isinstance(row.get(f), dict):
            return False
        ok = _warned(row, f) if allow_warned else set()
        if any(set(row[f][m]) - ok for m in row[f]):
            return False
    return True


def _warned(row: dict, fmt: str) -> set:
    """Variables a FillValueWarning named for this format (a known, stated limit)."""
    out = set()
    for w in row.get("warnings", []):
        name = w.split("'")[1] if w.startswith("variable '") else None
        if name and (fmt == "icechunk") == ("Icechunk" in w):
            out.add(name)
    return out


def _cell(x, warned: set = frozenset()) -> str:
    if isinstance(x, str):
        return x.replace("|", "/")[:80]
    parts = []
    for m in ("raw", "decoded"):
        p = x.get(m, {})
        hard = {k: v for k, v in p.items() if k not in warned}
        if hard:
            parts.append(f"✗ {m}: " + "; ".join(f"{k} ({v})" for k, v in list(hard.items())[:3])[:120])
        elif p:
            parts.append(f"⚠ {m}: " + ", ".join(p)[:80] + " (warned)")
        else:
            parts.append("✓")
    return " ".join(parts).replace("|", "/")


def table(rows: list[dict]) -> str:
    lines = [
        "| file | vars | skipped (reason) | kerchunk JSON raw/decoded | parquet raw/decoded | Icechunk raw/decoded |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['file']} | – | {row['error'][:100]} | – | – | – |")
            continue
        sk = "; ".join(f"{n} ({why[:60]})" for n, why in row["skipped"]) or "–"
        cells = " | ".join(_cell(row.get(f, "–"), _warned(row, f)) for f in FORMATS)
        lines.append(f"| {row['file']} | {row['variables']} | {sk.replace('|', '/')} | {cells} |")
    n_ok = sum(portable(r) for r in rows)
    n_warned = sum(portable(r, allow_warned=True) for r in rows) - n_ok
    lines.append("")
    lines.append(f"{n_ok}/{len(rows)} files: every referenced variable shows the original's values, raw and decoded, "
                 f"in all three formats (plain xarray, defaults, no import of vz_jupyter); {n_warned} more where the "
                 f"only differences are the ones a FillValueWarning stated when writing (⚠).")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", default=None, help="only files whose name contains this")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_cases(tmp) + real_files(args.data)
        if args.only:
            files = [f for f in files if args.only in os.path.basename(f)]
        rows = check_files(files, tmp)
        print(table(rows))
        for r in rows:
            for w in r.get("warnings", []):
                print(f"- {r['file']}: {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
