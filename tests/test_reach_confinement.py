"""References cannot reach outside where they were made.

Every vector of issue 8 item 9 as a crafted reference file next to a canary
file outside the roots the references may read. For each entry point
(``vz.open``, ``vz.scan``/``vz info``, ``ReadPlan.execute``, ``reduce``,
``vz plan --execute``) the canary's bytes never come back, a Python audit hook
sees no open() of it, and the refusal is one line naming the path and the
``--allow``/``allowed_roots`` that grants it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _hostile_http import hostile_server

import vz_jupyter as vz
from vz_jupyter.core.access import AccessRefused, Confinement, source_roots
from vz_jupyter.core.errors import ScanError, VZError
from vz_jupyter.core.opening import reference_mapper
from vz_jupyter.core.scan.refs import scan_refs

CANARY = b"CANARY-SECRET-0123456789abcdef!!"  # 32 bytes


# -- an audit hook that records every open() of a path (Python and os level) --
_OPENED: list | None = None


def _audit(event, args):
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened():
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


@pytest.fixture
def layout(tmp_path):
    """tmp/refs (reference files), tmp/data (legit data), tmp/secret (the canary)."""
    for d in ("refs", "data", "secret"):
        (tmp_path / d).mkdir()
    (tmp_path / "secret" / "canary.bin").write_bytes(CANARY)
    data = np.arange(32, dtype="u1").tobytes()
    (tmp_path / "refs" / "local.bin").write_bytes(data)
    (tmp_path / "data" / "d.bin").write_bytes(data)
    return tmp_path


def _meta(n=32):
    za = {"shape": [n], "chunks": [n], "dtype": "|u1", "compressor": None, "filters": None, "fill_value": None,
          "order": "C", "zarr_format": 2}
    return {".zgroup": json.dumps({"zarr_format": 2}), "a/.zarray": json.dumps(za),
            "a/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["x"]})}


def _refs(folder, entry=None, name="r.json", templates=None, gen=None, recorded=None):
    doc = {"version": 1, "refs": {**_meta(), **({"a/0": entry} if entry is not None else {})}}
    if templates:
        doc["templates"] = templates
    if gen:
        doc["gen"] = gen
    if recorded is not None:
        doc["vz_source_roots"] = recorded
    p = folder / name
    p.write_text(json.dumps(doc))
    return p


def _vectors(root):
    """(name, reference entry / extra document parts) for every way to name the canary."""
    canary = str(root / "secret" / "canary.bin")
    return {
        "absolute": dict(entry=[canary, 0, 32]),
        "file-url": dict(entry=["file://" + canary, 0, 32]),
        "dot-dot": dict(entry=["../secret/canary.bin", 0, 32]),
        "template": dict(entry=["{{u}}", 0, 32], templates={"u": canary}),
        "whole-file": dict(entry=[canary]),
        "gen": dict(gen=[{"key": "a/{{i}}", "url": canary, "offset": "0", "length": "32",
                          "dimensions": {"i": {"stop": 1}}}]),
        "symlink": dict(entry=["link.bin", 0, 32]),
        "hidden": dict(entry=[".hidden/c.bin", 0, 32]),
    }


def _prepare(root, vector):
    if vector == "symlink":
        os.symlink(root / "secret" / "canary.bin", root / "refs" / "link.bin")
    if vector == "hidden":  # a hidden folder below the reference folder
        (root / "refs" / ".hidden").mkdir()
        (root / "refs" / ".hidden" / "c.bin").write_bytes(CANARY)
    return _refs(root / "refs", **_vectors(root)[vector])


def _no_canary(opened_paths, root):
    touched = [p for p in opened_paths
               if p.startswith(str(root / "secret")) or ".hidden" in p or p.endswith("link.bin")]
    assert touched == [], touched


VECTORS = list(_vectors(__import__("pathlib").Path("/x")))


@pytest.mark.parametrize("vector", VECTORS)
def test_every_vector_is_refused_at_every_entry_point(layout, vector, opened):
    ref = _prepare(layout, vector)
    opened.clear()
    calls = {
        "vz.open": lambda: vz.open(ref, decode=False)["a"].values,
        "vz.scan": lambda: vz.scan(str(ref)),
        "plan.execute": lambda: vz.plan(str(ref), "a[0:32]").execute(),
        "plan.reduce": lambda: vz.plan(str(ref), "a[0:32]").reduce("sum"),
        "reference_mapper": lambda: reference_mapper(str(ref))["a/0"],
    }
    if vector == "gen":  # fsspec ignores 'gen' by default: it reads nothing for it (or refuses)
        for k in ("vz.open", "reference_mapper"):
            try:
                assert CANARY not in np.asarray(calls.pop(k)()).tobytes()
            except (ScanError, KeyError):
                pass
    for where, call in calls.items():
        with pytest.raises(ScanError) as e:
            got = call()
            assert CANARY not in np.asarray(got).tobytes()  # (never reached)
        msg = str(e.value)
        assert "\n" not in msg and "outside the roots" in msg and "--allow" in msg, (where, msg)
        assert "allowed_roots=" in msg, (where, msg)
    _no_canary(opened, layout)


@pytest.mark.parametrize("vector", ["absolute", "dot-dot", "whole-file"])
def test_cli_refuses_with_one_line_and_allow_grants(layout, vector):
    ref = _prepare(layout, vector)
    secret = str(layout / "secret")
    for argv in (["plan", str(ref), "a[0:32]", "--execute"], ["info", str(ref)]):
        r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", *argv], capture_output=True, text=True,
                           cwd=layout / "data", timeout=120)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r
        assert f"--allow {secret}" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "CANARY" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "plan", str(ref), "a[0:32]", "--execute", "--allow",
                        secret], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # granted explicitly, the same references read the file
    got = vz.plan(str(ref), "a[0:32]", allowed_roots=[secret]).execute()
    assert got.tobytes() == CANARY


def test_relative_paths_resolve_against_the_reference_folder_not_the_cwd(layout, monkeypatch):
    ref = _refs(layout / "refs", ["local.bin", 0, 32])
    (layout / "secret" / "local.bin").write_bytes(CANARY)  # same name in the CWD
    monkeypatch.chdir(layout / "secret")
    want = np.arange(32, dtype="u1")
    np.testing.assert_array_equal(vz.open(ref, decode=False)["a"].values, want)
    np.testing.assert_array_equal(vz.plan(str(ref), "a[0:32]").execute(), want)
    assert vz.scan(str(ref))[0].paths == (str(layout / "refs" / "local.bin"),)


def test_tilde_is_refused_outside_the_roots(layout, monkeypatch):
    home = layout / "home"
    home.mkdir()
    (home / "canary.bin").write_bytes(CANARY)
    monkeypatch.setenv("HOME", str(home))
    ref = _refs(layout / "refs", ["~/canary.bin", 0, 32])
    with pytest.raises(AccessRefused, match=f"references {home}/canary.bin"):
        vz.open(ref, decode=False)
    with pytest.raises(AccessRefused):
        vz.scan(str(ref))


def test_recorded_roots_grant_legit_folders_and_nothing_that_matters(layout, monkeypatch):
    monkeypatch.setenv("HOME", str(layout / "secret"))
    data = str(layout / "data" / "d.bin")
    # a recorded sibling folder is honoured
    ok = _refs(layout / "refs", [data, 0, 32], name="ok.json", recorded=[str(layout / "data")])
    np.testing.assert_array_equal(vz.open(ok, decode=False)["a"].values, np.arange(32, dtype="u1"))
    # a hostile file recording "/", the home folder, its ancestors, system trees or hidden folders gains nothing
    canary = str(layout / "secret" / "canary.bin")
    for rec in (["/"], [str(layout / "secret")], [str(layout)], ["/etc"], ["/proc/self"],
                [str(layout / "refs" / ".hidden")], ["../secret"], ["file:///"], ["http://127.0.0.1/"]):
        bad = _refs(layout / "refs", [canary, 0, 32], name="bad.json", recorded=rec)
        with pytest.raises(AccessRefused) as e:
            vz.open(bad, decode=False)
        assert "not granted" in str(e.value) or rec == [str(layout)], (rec, str(e.value))
        with pytest.raises(AccessRefused):
            vz.scan(str(bad))


def test_system_files_are_refused(layout):
    for target in ("/etc/passwd", "/proc/self/environ"):
        ref = _refs(layout / "refs", [target, 0, 16], name="sys.json", recorded=["/etc", "/proc"])
        with pytest.raises(AccessRefused, match=f"references {target}"):
            vz.open(ref, decode=False)
        with pytest.raises(AccessRefused):
            vz.plan(str(ref), "a[0:16]").execute()


def test_writers_record_the_source_roots(layout):
    import vz_jupyter.core.serialize.kerchunk_parquet as kp

    ds = scan_refs(_refs(layout / "refs", [str(layout / "data" / "d.bin"), 0, 32], name="in.json"),
                   allowed_roots=[str(layout / "data")])
    out = vz.write(ds, layout / "refs" / "out.json")
    doc = json.loads(open(out).read())
    assert doc["vz_source_roots"] == [str(layout / "data")]
    # reopened without allowed_roots: the recorded root grants the data folder
    assert vz.open(out, decode=False)["a"].values.tobytes() == np.arange(32, dtype="u1").tobytes()
    pq = vz.write(ds, layout / "refs" / "out.parquet")
    assert json.loads(open(os.path.join(pq, ".zmetadata")).read())["vz_source_roots"] == [str(layout / "data")]
    assert vz.open(pq, decode=False)["a"].values.tobytes() == np.arange(32, dtype="u1").tobytes()
    assert kp.ParquetRefs({}, 1).zmetadata()  # the field has a default
    assert source_roots(["/a/b/x.nc", "/a/b/c/y.nc", "/z/w.nc", "https://u:p@h:8443/d/e.nc?sig=1"]) == \
        ["/a/b", "/z", "https://h:8443/d/"]


def test_parquet_references_are_confined(layout, opened):
    ds = scan_refs(_refs(layout / "refs", [str(layout / "secret" / "canary.bin"), 0, 32], name="in.json"),
                   allowed_roots=[str(layout / "secret")])
    out = vz.write(ds, layout / "refs" / "p.parquet")
    zm = os.path.join(out, ".zmetadata")
    doc = json.loads(open(zm).read())
    doc["vz_source_roots"] = []  # a hostile or foreign parquet set records nothing
    open(zm, "w").write(json.dumps(doc))
    opened.clear()
    with pytest.raises(AccessRefused, match="canary.bin"):
        vz.open(out, decode=False)
    with pytest.raises(AccessRefused):
        vz.scan(out)
    _no_canary(opened, layout)
    assert vz.open(out, decode=False, allowed_roots=[str(layout / "secret")])["a"].values.tobytes() == CANARY


def test_icechunk_containers_outside_the_roots_are_refused(layout):
    pytest.importorskip("icechunk")
    from vz_jupyter.core.model import Manifest, VArray, VDataset

    m = Manifest(("/etc/hostname",), np.zeros(1, np.uint32), np.zeros(1, np.uint64), np.ones(1, np.uint64))
    v = VArray("a", ("x",), (1,), np.dtype("u1"), (1,), (), None, {}, m)
    repo = vz.write(VDataset({"a": v}), layout / "refs" / "r.icechunk")
    with pytest.raises(AccessRefused, match="/etc"):
        vz.open(repo, decode=False)


def test_remote_protocols_need_an_explicit_grant(layout):
    for url in ("memory://bucket/x.bin", "ftp://example.org/x.bin", "http://169.254.169.254/latest/meta-data",
                "simplecache::s3://b/x.bin", "s3://bucket/x.bin"):
        ref = _refs(layout / "refs", [url, 0, 32], name="u.json")
        with pytest.raises(AccessRefused) as e:
            vz.open(ref, decode=False)
        assert "outside the roots" in str(e.value)
        with pytest.raises(AccessRefused):
            vz.scan(str(ref))


def test_a_remote_reference_file_grants_its_own_folder_only(layout):
    """References served over HTTP may read next to themselves on that server,
    never local files, and their recorded local roots count for nothing."""
    folder = layout / "refs"
    with hostile_server(folder, "ok") as (base, h):
        _refs(folder, ["local.bin", 0, 32], name="rel.json")
        got = vz.scan(f"{base}/rel.json")[0]
        assert got.paths == (f"{base}/local.bin",)
        _refs(folder, [str(layout / "secret" / "canary.bin"), 0, 32], name="abs.json", recorded=[str(layout / "secret")])
        with pytest.raises(AccessRefused, match="a remote reference file cannot grant"):
            vz.scan(f"{base}/abs.json")


def test_fifo_referenced_is_refused_without_blocking(layout):
    fifo = layout / "refs" / "pipe.bin"
    os.mkfifo(fifo)
    ref = _refs(layout / "refs", ["pipe.bin", 0, 32])
    with pytest.raises(VZError, match="not a regular file .a FIFO."):
        vz.plan(str(ref), "a[0:32]").execute()
    with pytest.raises(Exception) as e:
        vz.open(ref, decode=False)["a"].values
    assert "not a regular file" in repr(e.value) + repr(e.value.__cause__)
    whole = _refs(layout / "refs", ["pipe.bin"], name="w.json")
    with pytest.raises(VZError, match="not a regular file"):
        vz.plan(str(whole), "a[0:1]").execute()
    # a reference file that is itself a FIFO
    os.mkfifo(layout / "refs" / "refs-fifo.json")
    with pytest.raises(VZError, match="not a regular file"):
        vz.open(layout / "refs" / "refs-fifo.json")


def test_info_on_references_contacts_no_source(layout):
    """`vz info refs.json` reads the references only: no request reaches the
    servers they name (not even for a whole-file entry's size)."""
    folder = layout / "data"
    with hostile_server(folder, "ok") as (base, h):
        ref = layout / "refs" / "net.json"
        doc = {"version": 1, "refs": {**_meta(), "a/0": [f"https://user:pw@{base[7:]}/d.bin", 0, 32]}}
        za = json.loads(doc["refs"]["a/.zarray"])
        doc["refs"]["b/.zarray"] = json.dumps(za)
        doc["refs"]["b/.zattrs"] = json.dumps({"_ARRAY_DIMENSIONS": ["x"]})
        doc["refs"]["b/0"] = [f"{base}/d.bin"]
        ref.write_text(json.dumps(doc))
        r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "info", str(ref), "--allow", base.replace("http", "https"),
                            "--allow", base], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert h.log == []
        assert "pw" not in r.stdout + r.stderr and "***@" in r.stdout
        assert "whole remote file" in r.stdout  # b is listed as skipped, with its reason


def test_confinement_model_unit():
    c = Confinement.for_references("/srv/project/refs/r.json", ["/srv/project/data", "https://data.example.org/a/"])
    assert c.resolve("x.nc") == "/srv/project/refs/x.nc"
    assert c.resolve("/srv/project/data/y.nc") == "/srv/project/data/y.nc"
    assert c.resolve("https://u:p@data.example.org/a/b.nc?sig=1") == "https://u:p@data.example.org/a/b.nc?sig=1"
    for bad in ("/srv/project/secret", "https://data.example.org/ab/x", "https://data.example.org/a/../b",
                "https://data.example.org/a/%2e%2e/b", "http://data.example.org/a/b.nc", "file://host/x",
                "https://evil.example/a/b.nc"):
        with pytest.raises(AccessRefused) as e:
            c.resolve(bad)
        assert "p@" not in str(e.value)
    c = Confinement.for_references("/srv/r.json", ["http://2130706433/", "http://[::1]/", "http://10.0.0.1/",
                                                   "http://metadata.google.internal/", "https://LOCALHOST./x/"])
    assert [g.how for g in c.grants] == ["folder"] and len(c.notes) == 5
    assert Confinement.for_references(None, allowed_roots="*").resolve("/etc/passwd") == "/etc/passwd"
    assert Confinement.for_references(None, allowed_roots=["s3://"]).resolve("s3://any/x") == "s3://any/x"
