"""References for LZF, HDF5-LZ4, bitshuffle and compound fields open in a process
that never imports vz_jupyter: the codec ids are imagecodecs' where its codec
decodes the stored bytes, ours otherwise, all found through the entry points the
distribution declares."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import hdf5plugin
import numcodecs
import numpy as np
import pytest
from _plain import read_plain

import vz_jupyter as vz

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def _codec_file(path: str) -> dict[str, np.ndarray]:
    """One dataset per codec case; values with runs (so LZF/LZ4 compress well
    past 10x in places) and noise (so some blocks do not compress)."""
    rng = np.random.default_rng(11)
    exp: dict[str, np.ndarray] = {}
    base = np.repeat(rng.integers(-5000, 5000, 600), 40).reshape(200, 120).astype("<i4")
    noisy = rng.normal(size=(200, 120)).astype(">f8")
    zeros = np.zeros((300, 301), "<i2")
    zeros[7, 9] = 3
    cases = {
        "lzf_runs": (base, dict(compression="lzf")),
        "lzf_zeros": (zeros, dict(compression="lzf")),
        "lzf_noise": (noisy, dict(compression="lzf", shuffle=True)),
        "lz4": (base, dict(hdf5plugin.LZ4())),
        "lz4_blocks": (noisy, dict(hdf5plugin.LZ4(nbytes=1000))),
        "bitshuffle": (base.astype(">i8"), dict(hdf5plugin.Bitshuffle(cname="none"))),
        "bitshuffle_odd": (np.arange(13, dtype="<u2"), dict(hdf5plugin.Bitshuffle(cname="none"))),
        "bitshuffle_lz4": (noisy, dict(hdf5plugin.Bitshuffle(cname="lz4"))),
        "bitshuffle_zstd": (base, dict(hdf5plugin.Bitshuffle(cname="zstd"))),
    }
    with h5py.File(path, "w") as f:
        for name, (data, kw) in cases.items():
            chunks = tuple(max(1, s // 3) for s in data.shape)
            f.create_dataset(name, data=data, chunks=chunks, **kw)
            exp[name] = data
        rec = np.zeros(50, dtype=[("a", "<i2"), ("b", ">f4"), ("c", "S3")])
        rec["a"] = np.arange(50)
        rec["b"] = np.linspace(0, 1, 50)
        rec["c"] = [b"x%02d" % i for i in range(50)]
        f.create_dataset("rec", data=rec, chunks=(16,), compression="lzf")
        for n in rec.dtype.names:
            exp[f"rec.{n}"] = rec[n]
    return exp


def _plain_values(refs: str, tmp_path, kind="json") -> dict[str, np.ndarray]:
    dest = str(tmp_path / f"vals-{kind}")
    out = read_plain([{"ref": refs, "kind": kind, "decode": False, "dest": dest}])[dest]
    assert "__open__" not in out, out
    bad = {k: v["error"] for k, v in out.items() if "error" in v}
    assert not bad, bad
    return {k: np.load(v["file"], allow_pickle=True) for k, v in out.items()}


def test_codec_ids_are_imagecodecs_or_registered_ours(tmp_path):
    path = str(tmp_path / "codecs.h5")
    _codec_file(path)
    ds = vz.scan_file(path, inline_threshold=0)
    ids = {n: [c["id"] for c in v.codecs] for n, v in ds.variables.items()}
    assert ids["lz4"] == ids["lz4_blocks"] == ["imagecodecs_lz4h5"]
    assert ids["lzf_runs"] == ["vz.lzf"] and ids["lzf_noise"] == ["shuffle", "vz.lzf"]
    assert ids["bitshuffle"] == ids["bitshuffle_lz4"] == ["vz.bitshuffle"]
    assert ids["rec.a"] == ["vz.field", "vz.lzf"]
    from importlib.metadata import entry_points

    declared = {e.name for e in entry_points(group="numcodecs.codecs") if e.value.split(":")[0].startswith(("vz_jupyter_codecs", "imagecodecs"))}
    used = {i for v in ids.values() for i in v} - set(numcodecs.registry.codec_registry) | {i for v in ids.values() for i in v if i.startswith(("vz.", "imagecodecs_"))}
    assert used <= declared, used - declared


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_codecs_open_without_the_package(tmp_path, fmt):
    path = str(tmp_path / "codecs.h5")
    exp = _codec_file(path)
    ds = vz.scan_file(path, inline_threshold=0)
    target = str(tmp_path / {"json": "r.json", "parquet": "r.parquet", "icechunk": "r.icechunk"}[fmt])
    vz.write(ds, target)
    got = _plain_values(target, tmp_path, kind=fmt)
    for name, e in exp.items():
        g = got[name]
        if e.dtype.kind == "S":
            g = g.astype(e.dtype)
        np.testing.assert_array_equal(g, e, err_msg=name)


def test_old_references_with_vz_ids_still_open(tmp_path):
    """References written before the switch name vz.h5lz4 / uncompressed vz.bitshuffle."""
    path = str(tmp_path / "codecs.h5")
    exp = _codec_file(path)
    full = vz.serialize(vz.scan_file(path, inline_threshold=0))
    refs = full["refs"]
    for name in ("lz4", "lz4_blocks"):
        za = json.loads(refs[f"{name}/.zarray"])
        za["filters"] = [{"id": "vz.h5lz4", "blocksize": 0}]
        refs[f"{name}/.zarray"] = json.dumps(za)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(full))
    got = _plain_values(str(old), tmp_path)
    for name in ("lz4", "lz4_blocks", "bitshuffle"):
        np.testing.assert_array_equal(got[name], exp[name], err_msg=name)
    np.testing.assert_array_equal(vz.open(str(old), decode=False)["lz4"].values, exp["lz4"])


def test_entry_point_target_is_light():
    """Loading our codecs imports neither vz_jupyter nor h5py nor IPython."""
    code = (
        "import sys, numcodecs\n"
        "numcodecs.get_codec({'id': 'vz.lzf', 'size': 4}); numcodecs.get_codec({'id': 'imagecodecs_lz4h5'})\n"
        "numcodecs.get_codec({'id': 'vz.field', 'dtype': [['a', '<i2']], 'field': 'a'})\n"
        "from zarr.registry import get_codec_class\n"
        "assert get_codec_class('numcodecs.vz.bitshuffle') and get_codec_class('numcodecs.imagecodecs_lz4h5')\n"
        "print(sorted(m for m in ('vz_jupyter', 'h5py', 'IPython', 'ipywidgets') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_lzf_codec_decodes_what_imagecodecs_cannot_size():
    """imagecodecs_lzf(header=False) guesses the output size and fails on
    chunks that compress well; vz.lzf carries the size and uses the same C code."""
    imagecodecs = pytest.importorskip("imagecodecs")
    data = np.zeros(100_000, "u1").tobytes()
    enc = vz.core.codecs.H5LZF(len(data)).encode(data)
    with pytest.raises(Exception):
        imagecodecs.lzf_decode(enc, header=False)
    assert bytes(numcodecs.get_codec({"id": "vz.lzf", "size": len(data)}).decode(enc)) == data


@pytest.mark.parametrize("name", ["real/hdf5_mini_lz4.h5", "real-defects/jhdf_lz4_datasets.hdf5"])
def test_real_lz4_files(name, tmp_path):
    src = SHARED / name
    if not src.exists():
        pytest.skip(f"{name} not present")
    ds = vz.scan_file(str(src), inline_threshold=0)
    assert {c["id"] for v in ds.variables.values() for c in v.codecs} == {"imagecodecs_lz4h5"}
    target = str(tmp_path / "r.json")
    vz.write(ds, target)
    got = _plain_values(target, tmp_path)
    with h5py.File(src, "r") as f:
        for n in ds.variables:
            np.testing.assert_array_equal(got[n], f[n][()], err_msg=n)
