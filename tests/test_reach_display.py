"""Secrets and terminals are safe; every string shown is capped.

* URL credentials (userinfo, signed query parameters) never show in reprs,
  HTML, the CLI, error messages, plan displays or the Reductionist export, and
  are never written into references.
* Control characters, ANSI sequences and Unicode direction overrides from file
  metadata reach no terminal raw (``vz info`` cannot be forged).
* A worst case (megabyte names, attributes, paths) stays within size budgets.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.model import Manifest, Source, VArray, VDataset, VDatasetList
from vz_jupyter.core.urls import redact, strip_credentials

SECRETS = ("hunter2", "deadbeef", "s3cr3t", "tok123")
URL = "https://alice:hunter2@data.example.org/arch/x.nc?X-Amz-Signature=deadbeef&X-Amz-Date=20260101&sig=s3cr3t"
URL2 = "https://tok123@data.example.org/arch/y.nc"
EVIL = "\x1b[2J\x1b[31mFORGED\x07\r\n\u202eevil\u2066x\u2069\x9b"
#: for names given to the selection parser (no brackets): an OSC sequence that retitles the terminal
EVIL_NAME = "v\x1b]0;owned\x07\u202eevil\x9b"
RAW_BAD = ("\x1b", "\u202e", "\u2066", "\u2069", "\x07", "\r", "\x9b")


def _no_secret(text: str, where: str = "") -> None:
    for s in SECRETS:
        assert s not in text, (where, s)


def _no_raw_control(text: str, where: str = "") -> None:
    for c in RAW_BAD:
        assert c not in text, (where, repr(c))


def _dataset(paths, name="air", dims=("time",), attrs=None, n=4) -> VDataset:
    m = Manifest(tuple(paths), np.arange(n, dtype=np.uint32) % len(paths), np.zeros(n, np.uint64),
                 np.full(n, 8, np.uint64))
    v = VArray(name, dims, (2 * n,), np.dtype("<f4"), (2,), ({"id": "zlib", "level": 1},), None, dict(attrs or {}), m)
    return VDataset({name: v}, attrs=dict(attrs or {}), sources=tuple(Source(p, 10) for p in paths))


def test_redact_and_strip():
    assert redact(URL) == ("https://***@data.example.org/arch/x.nc?X-Amz-Signature=***&X-Amz-Date=20260101&sig=***")
    assert strip_credentials(URL) == "https://data.example.org/arch/x.nc?X-Amz-Date=20260101"
    assert redact("s3://bucket/a.nc") == "s3://bucket/a.nc" and strip_credentials("/a/b?.nc") == "/a/b?.nc"
    assert redact("x.nc?access_token=abc&page=2") == "x.nc?access_token=***&page=2"
    assert redact(f"error reading {URL2}: boom") == "error reading https://***@data.example.org/arch/y.nc: boom"


def test_credentials_never_shown(tmp_path):
    ds = _dataset([URL, URL2], attrs={"src": URL})
    shown = {"repr": repr(ds), "html": ds._repr_html_(), "list": repr(VDatasetList([ds])),
             "list html": VDatasetList([ds])._repr_html_()}
    p = ds.plan("air[0:8]")
    shown.update({"plan": repr(p), "plan html": p._repr_html_()})
    report = vz.check(VDatasetList([ds, ds]), dim="time")
    shown.update({"report": repr(report), "report html": report._repr_html_()})
    shown["reductionist"] = json.dumps(p.to_reductionist("sum"))
    for where, text in shown.items():
        _no_secret(text, where)
    assert "https://data.example.org/arch/x.nc" in shown["reductionist"]
    # errors naming a URL
    with pytest.raises(vz.VZError) as e:
        ds.plan("air[0:8]").execute(storage_options={"timeout": 0.2})
    _no_secret(str(e.value), "error")


@pytest.mark.parametrize("target", ["r.json", "r.parquet", "r.icechunk"])
def test_credentials_never_written(tmp_path, target):
    if target.endswith("icechunk"):
        pytest.importorskip("icechunk")
    ds = _dataset([URL, URL2])
    with pytest.warns(UserWarning, match="credentials .* removed from 2 source URL"):
        out = vz.write(ds, tmp_path / target)
    blob = b""
    for root, _, files in os.walk(out) if os.path.isdir(out) else [(os.path.dirname(out), [], [os.path.basename(out)])]:
        for f in files:
            blob += open(os.path.join(root, f), "rb").read()
    for s in SECRETS:
        assert s.encode() not in blob, s
    if target == "r.json":
        doc = json.loads(blob)
        assert sorted(doc["templates"].values()) == ["https://data.example.org/arch/x.nc?X-Amz-Date=20260101",
                                                    "https://data.example.org/arch/y.nc"]
        assert doc["vz_source_roots"] == ["https://data.example.org/arch/"]


def test_cli_output_and_errors_redacted(tmp_path):
    ref = tmp_path / "r.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vz.write(_dataset(["/nowhere/x.nc"]), ref)
    doc = json.loads(ref.read_text())
    doc["templates"] = {k: URL for k in doc["templates"]}
    ref.write_text(json.dumps(doc))
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "info", str(ref)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "outside the roots" in r.stderr
    _no_secret(r.stdout + r.stderr, "cli refusal")
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "info", str(ref), "--allow",
                        "https://data.example.org/arch/"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "https://***@data.example.org/arch/x.nc" in r.stdout
    _no_secret(r.stdout + r.stderr, "cli info")


def _evil_h5(path):
    import h5py

    with h5py.File(path, "w") as f:
        d = f.create_dataset(EVIL_NAME, data=np.arange(4, dtype="f4"))
        d.attrs["long_name"] = EVIL
        d.attrs["units" + EVIL] = "K"
        f.attrs["title"] = EVIL * 3
        f.attrs["history"] = URL
    return path


def test_cli_escapes_control_characters_from_metadata(tmp_path):
    path = _evil_h5(str(tmp_path / "evil.h5"))
    for argv in (["info", path], ["plan", path, f"{EVIL_NAME}[0:2]"]):
        r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", *argv], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        _no_raw_control(r.stdout + r.stderr, argv[0])
        assert "\\x1b]0;owned\\x07" in r.stdout and "\\u202e" in r.stdout, r.stdout
        # a newline inside a value never starts a line of its own
        assert not any(line.startswith(("\\u202eevil", "evil", "FORGED")) for line in r.stdout.splitlines()), r.stdout
        _no_secret(r.stdout, argv[0])


def test_reprs_escape_control_characters(tmp_path):
    ds = vz.scan(_evil_h5(str(tmp_path / "evil.h5")))[0]
    for text in (repr(ds), repr(ds.plan(f"{EVIL_NAME}[0:2]"))):
        _no_raw_control(text)
        assert "owned" in text  # shown, made harmless
    _no_raw_control(repr(vz.VDatasetList([ds])))
    html = ds._repr_html_()
    _no_raw_control(html)
    assert "\\u202e" in html


def test_worst_case_sizes_stay_within_budgets():
    """Megabyte names, dims, attributes, paths, codec options and skip reasons."""
    big = "N" * (1 << 20)
    path = "/data/" + "p" * (1 << 20) + ".nc"

    def var(name, dims, paths):
        m = Manifest(tuple(paths), np.zeros(2, np.uint32), np.zeros(2, np.uint64), np.full(2, 8, np.uint64))
        return VArray(name, dims, (4,), np.dtype("<f4"), (2,), ({"id": "zlib", "level": 1, "x": big},), None,
                      {big: big, "evil": EVIL, "u": URL}, m)

    names = [big + str(i) for i in range(3)]
    variables = {n: var(n, (big,), [path]) for n in names}
    variables["b" + EVIL] = var("b" + EVIL, ("x" + EVIL,), [URL])
    ds = VDataset(variables, attrs={big: big, "title": EVIL, "src": URL},
                  sources=(Source(path, 1), Source(URL, 2)), skipped=((big, big), (EVIL, URL)))
    dl = VDatasetList([ds, ds])
    p = ds.plan(f"{names[0]}[0:3]")
    report = vz.check(dl, dim=big)
    budgets = {  # characters
        "dataset repr": (repr(ds), 8_000), "dataset html": (ds._repr_html_(), 80_000),
        "list repr": (repr(dl), 4_000), "list html": (dl._repr_html_(), 160_000),
        "plan repr": (repr(p), 4_000), "plan html": (p._repr_html_(), 40_000),
        "variable repr": (repr(ds[names[0]]), 1_000),
        "report repr": (repr(report), 8_000), "report html": (report._repr_html_(), 40_000),
    }
    for what, (text, budget) in budgets.items():
        assert len(text) <= budget, (what, len(text))
        _no_raw_control(text, what)
        _no_secret(text, what)
    assert "characters, cut at" in budgets["dataset html"][0]  # the cap is stated


def test_magic_allow_option(tmp_path):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    (tmp_path / "refs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.bin").write_bytes(bytes(range(16)))
    za = {"shape": [16], "chunks": [16], "dtype": "|u1", "compressor": None, "filters": None, "fill_value": None,
          "order": "C", "zarr_format": 2}
    doc = {"version": 1, "refs": {".zgroup": '{"zarr_format": 2}', "a/.zarray": json.dumps(za),
                                  "a/.zattrs": '{"_ARRAY_DIMENSIONS": ["x"]}',
                                  "a/0": [str(tmp_path / "data" / "d.bin"), 0, 16]}}
    ref = tmp_path / "refs" / "r.json"
    ref.write_text(json.dumps(doc))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vz_jupyter")
    with pytest.raises(UsageError, match="--allow"):
        ip.run_line_magic("vz", f"open {ref}")
    got = ip.run_line_magic("vz", f"open {ref} --allow {tmp_path / 'data'} --raw")
    assert bytes(got["a"].values) == bytes(range(16))
    p = ip.run_line_magic("vz", f'plan {ref} "a[0:4]" --allow {tmp_path / "data"}')
    assert p.execute().tolist() == [0, 1, 2, 3]
