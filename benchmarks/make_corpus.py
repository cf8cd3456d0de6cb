"""Generate the benchmark corpus: daily NetCDF4 files, deterministic, reused when present.

Presets (any parameter can be overridden on the command line):

``scan`` (default)  100 daily files ``_corpus/scan/day_YYYYMMDD.nc``, each with
    ``air``, ``rhum``, ``uwnd``: float32 (time=24, lat=181, lon=360), zlib(level 1) +
    shuffle, chunks (1, 181, 360): 24 chunks per variable, i.e. 72 data chunks + the
    ``time`` (unlimited dimension, chunked) + ``lat`` + ``lon`` (contiguous) = 75 chunk
    references per file (NOTES.md's figures were measured on files with ~95; same kind
    of file, a few fewer chunks). ~10 MB per file, ~1 GB in all, ~40 s to make.
``combine``  1,000 small daily files in ``_corpus/combine/``: the same layout on a 5°
    grid (24, 37, 72), chunks (1, 37, 72) -> 75 chunk references per file, 75,000 in
    all; ~0.5 MB per file, ~0.5 GB in all, ~20 s to make. For the combine benchmark, where the number of files and
    chunks matters and the file size does not.

``append``  10,001 daily files in ``_corpus/append/`` on a 15° grid (24, 13, 24),
    chunks (1, 13, 24) (~800 bytes compressed: referenced, not inlined) -> 75 chunk
    references per file; ~70 kB per file, ~0.7 GB in all. For the append benchmark
    (archives of 1,000 and 10,000 files, then file 10,001 appended).

``time`` is the record (unlimited) dimension with CF units ``hours since 2000-01-01
00:00:00`` (``--per-file-units`` gives each file ``hours since <its day>`` instead, so a
combine has to decode times to order them). Values are a smooth field plus seeded
noise rounded to 0.01, so zlib has something to do; every file is fully determined by
the parameters and its index. A ``manifest.json`` records the parameters and file
sizes; when it matches, the corpus is reused without touching a file.

Usage::

    python benchmarks/make_corpus.py                      # scan preset
    python benchmarks/make_corpus.py --preset combine
    python benchmarks/make_corpus.py --files 20 --out /tmp/c   # a small variant
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS_ROOT = os.path.join(HERE, "_corpus")

MANIFEST_VERSION = 1
START = _dt.date(2000, 1, 1)

PRESETS = {
    "scan": dict(files=100, ntime=24, nlat=181, nlon=360, chunk_time=1, complevel=1),
    "combine": dict(files=1000, ntime=24, nlat=37, nlon=72, chunk_time=1, complevel=1),
    "append": dict(files=10001, ntime=24, nlat=13, nlon=24, chunk_time=1, complevel=1),
}
VARIABLES = {
    # name: (long_name, units, base, amplitude, noise)
    "air": ("air temperature", "K", 270.0, 30.0, 0.5),
    "rhum": ("relative humidity", "%", 60.0, 25.0, 2.0),
    "uwnd": ("eastward wind", "m/s", 0.0, 12.0, 1.5),
}


def params_for(preset: str = "scan", **overrides) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    p = dict(PRESETS[preset])
    p.update({k: v for k, v in overrides.items() if v is not None})
    p.setdefault("per_file_units", False)
    p["variables"] = list(VARIABLES)
    p["seed"] = 20000101
    p["version"] = MANIFEST_VERSION
    return p


def _file_name(i: int) -> str:
    return f"day_{(START + _dt.timedelta(days=i)).strftime('%Y%m%d')}.nc"


def _fields(p: dict):
    """Per-variable smooth base fields (ntime, nlat, nlon), shared by all files."""
    import numpy as np

    lat = np.linspace(90.0, -90.0, p["nlat"], dtype=np.float32)
    lon = np.linspace(0.0, 360.0, p["nlon"], endpoint=False, dtype=np.float32)
    hours = np.arange(p["ntime"], dtype=np.float32)
    la = np.deg2rad(lat)[None, :, None]
    lo = np.deg2rad(lon)[None, None, :]
    diurnal = np.cos(2 * np.pi * (hours[:, None, None] / 24.0) + lo)
    base = {}
    for k, (name, (_, _, b, amp, _)) in enumerate(VARIABLES.items()):
        f = b + amp * np.cos(la) * (0.8 + 0.2 * np.sin((k + 1) * lo)) + 0.1 * amp * diurnal * np.cos(la)
        base[name] = f.astype(np.float32)
    return lat, lon, base


def _write_file(path: str, i: int, p: dict, lat, lon, base) -> None:
    import netCDF4
    import numpy as np

    rng = np.random.default_rng([p["seed"], i])
    tmp = path + ".tmp"
    day = START + _dt.timedelta(days=i)
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.setncatts({
            "Conventions": "CF-1.8",
            "title": "vz_jupyter benchmark corpus (synthetic hourly fields)",
            "source": "benchmarks/make_corpus.py",
            "day": day.isoformat(),
        })
        nc.createDimension("time", None)
        nc.createDimension("lat", p["nlat"])
        nc.createDimension("lon", p["nlon"])
        t = nc.createVariable("time", "f8", ("time",))
        if p["per_file_units"]:
            t.units = f"hours since {day.isoformat()} 00:00:00"
            t[:] = np.arange(p["ntime"], dtype="f8")
        else:
            t.units = "hours since 2000-01-01 00:00:00"
            t[:] = i * 24.0 + np.arange(p["ntime"], dtype="f8") * (24.0 / p["ntime"])
        t.calendar = "standard"
        t.standard_name = "time"
        t.axis = "T"
        y = nc.createVariable("lat", "f4", ("lat",))
        y.units, y.standard_name, y.axis = "degrees_north", "latitude", "Y"
        y[:] = lat
        x = nc.createVariable("lon", "f4", ("lon",))
        x.units, x.standard_name, x.axis = "degrees_east", "longitude", "X"
        x[:] = lon
        for name, (long_name, units, _b, _amp, noise) in VARIABLES.items():
            v = nc.createVariable(
                name, "f4", ("time", "lat", "lon"), zlib=True, shuffle=True,
                complevel=p["complevel"], chunksizes=(p["chunk_time"], p["nlat"], p["nlon"]),
                fill_value=np.float32(-9.96921e36),
            )
            v.long_name, v.units = long_name, units
            v.cell_methods = "time: point"
            data = base[name] + rng.standard_normal(base[name].shape, dtype=np.float32) * noise
            v[:] = np.round(data, 2)
    os.replace(tmp, path)


def _manifest_path(out: str) -> str:
    return os.path.join(out, "manifest.json")


def load_manifest(out: str) -> dict | None:
    try:
        with open(_manifest_path(out)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_current(out: str, p: dict) -> list[str] | None:
    m = load_manifest(out)
    if not m or m.get("params") != p:
        return None
    files = [os.path.join(out, n) for n in m.get("files", {})]
    if len(files) != p["files"]:
        return None
    for path, size in zip(files, m["files"].values()):
        try:
            if os.path.getsize(path) != size:
                return None
        except OSError:
            return None
    return files


def make_corpus(preset: str = "scan", out: str | None = None, *, force: bool = False,
                quiet: bool = False, **overrides) -> list[str]:
    """Make (or reuse) a corpus; returns the file paths in time order."""
    p = params_for(preset, **overrides)
    if out is None:
        out = os.path.join(CORPUS_ROOT, preset)
    out = os.path.abspath(out)
    if not force:
        files = _is_current(out, p)
        if files is not None:
            return files
    os.makedirs(out, exist_ok=True)
    try:
        os.remove(_manifest_path(out))
    except FileNotFoundError:
        pass
    # remove files of an older corpus in this directory so globs see only this one
    keep = {_file_name(i) for i in range(p["files"])}
    for n in os.listdir(out):
        if n.endswith((".nc", ".nc.tmp")) and n not in keep:
            os.remove(os.path.join(out, n))
    lat, lon, base = _fields(p)
    t0 = time.perf_counter()
    files = []
    for i in range(p["files"]):
        path = os.path.join(out, _file_name(i))
        _write_file(path, i, p, lat, lon, base)
        files.append(path)
        if not quiet and (i + 1) % max(1, p["files"] // 10) == 0:
            print(f"  corpus {preset}: {i + 1}/{p['files']} files", file=sys.stderr, flush=True)
    manifest = {
        "params": p,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "files": {os.path.basename(f): os.path.getsize(f) for f in files},
    }
    tmp = _manifest_path(out) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, _manifest_path(out))
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="scan")
    ap.add_argument("--out", help="directory (default benchmarks/_corpus/PRESET)")
    ap.add_argument("--files", type=int, help="number of daily files")
    ap.add_argument("--ntime", type=int)
    ap.add_argument("--nlat", type=int)
    ap.add_argument("--nlon", type=int)
    ap.add_argument("--chunk-time", type=int, help="time steps per chunk")
    ap.add_argument("--complevel", type=int)
    ap.add_argument("--per-file-units", action="store_true", default=None,
                    help="CF units 'hours since <the file's day>' instead of one shared epoch")
    ap.add_argument("--force", action="store_true", help="regenerate even if the manifest matches")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    files = make_corpus(a.preset, a.out, force=a.force, files=a.files, ntime=a.ntime, nlat=a.nlat,
                        nlon=a.nlon, chunk_time=a.chunk_time, complevel=a.complevel,
                        per_file_units=a.per_file_units)
    total = sum(os.path.getsize(f) for f in files)
    print(f"{len(files)} files, {total / 1e6:.0f} MB in {os.path.dirname(files[0])} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
