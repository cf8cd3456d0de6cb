"""Hostile reference sets (tests/_hostile_refs.py): every entry point gives a
value or a one-line error naming the file, never a traceback, a hang or a bomb;
and where both readers (ReadPlan.execute and vz.open through zarr) give values,
they are the same values."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from _hostile_refs import EXPECTED, build_json, build_parquet, json_cases, parquet_cases, zlib_bomb

import vz_jupyter as vz
from vz_jupyter.cli import main as cli_main
from vz_jupyter.core.errors import VZError
from vz_jupyter.core.plan import plan
from vz_jupyter.core.scan.refs import scan_refs

JSON_CASES = json_cases()
PARQUET_CASES = parquet_cases()


def _one_line(e: BaseException, path: str):
    msg = str(e)
    assert "\n" not in msg and msg.strip(), repr(msg)
    assert len(msg) < 600, msg[:200]
    assert "Traceback" not in msg


def _run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _exercise(path: str) -> dict:
    """Every entry point on one reference set; returns what each produced."""
    got: dict = {"scan": None, "plan": {}, "open": {}}
    try:
        ds = scan_refs(path)
        got["scan"] = ds
    except VZError as e:
        _one_line(e, path)
        assert path in str(e), str(e)
        ds = None
    if ds is not None:
        for name in ds.variables:
            try:
                got["plan"][name] = plan(ds, name).execute()
            except VZError as e:
                _one_line(e, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = vz.open(path, decode=False)
            for name in x.variables:
                try:
                    got["open"][name] = x[name].values
                except VZError as e:
                    _one_line(e, path)
    except VZError as e:
        _one_line(e, path)
        assert path in str(e), str(e)
    # both readers agree wherever both give values
    for name, v in got["plan"].items():
        if name in got["open"]:
            w = got["open"][name]
            assert v.shape == w.shape and v.dtype == w.dtype, (name, v, w)
            assert v.tobytes() == w.tobytes() if v.dtype.kind != "O" else v.tolist() == w.tolist(), (name, v, w)
    # the CLI: exit 0/1/2, and a failure is one line on stderr
    for argv in (["info", path], ["plan", path, "a[0:8]", "--execute"], ["plan", path, "z[:, 1]", "--execute"]):
        code, out, err = _run_cli(argv)
        assert code in (0, 1, 2), (argv, code)
        if code:
            assert err.count("\n") == 1 and err.startswith("vz: ") and "Traceback" not in err, err
    return got


@pytest.mark.parametrize("name,build", JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_hostile_json_references(tmp_path, name, build):
    _exercise(build(tmp_path))


@pytest.mark.parametrize("name,build", PARQUET_CASES, ids=[c[0] for c in PARQUET_CASES])
def test_hostile_parquet_references(tmp_path, name, build):
    _exercise(build(tmp_path))


def test_the_corpus_is_large_and_valid_bases_read_right(tmp_path):
    assert len(JSON_CASES) + len(PARQUET_CASES) >= 300
    for name, build in (("template-ok", build_json), ("gen-ok", build_json), ("pq-ok", build_parquet)):
        folder = tmp_path / name
        folder.mkdir()
        got = _exercise(build(folder, name))
        assert set(got["plan"]) == set(got["open"]) == {"a", "z", "s"}, name
        for var, v in got["plan"].items():
            np.testing.assert_array_equal(v, EXPECTED[var])


@pytest.mark.parametrize("name,message", [
    ("key-a/00", "chunk key 'a/00' does not fit a 1-d chunk grid"),
    ("key-a/+0", "chunk key 'a/+0' does not fit"),
    ("key-a/\\u0660", "does not fit a 1-d chunk grid"),
    ("key-z/0/0", "chunk key 'z/0/0' does not match dimension_separator '.' of 'z'"),
    ("key-z/0.00", "chunk key 'z/0.00' does not fit a 2-d chunk grid"),
    ("key-stray-below-array", "does not match dimension_separator '.'"),
    ("raw-dup-chunk-key", "key 'a/1' appears twice"),
    ("gen-clash-refs", "given by both 'refs' and 'gen'"),
    ("dtype-a-null", "dtype is null"),
    ("value-a/1-float-offset", "must be integers"),
    ("value-a/1-string-length", "must be integers"),
    ("value-a/1-b64-garbage", "invalid base64"),
    ("value-z/1.0-b64-padding", "invalid base64"),
    ("value-a/1-long-length", "is stored with 32 bytes but has no codecs"),
    ("value-a/1-huge-offset", "out of range"),
    ("raw-deep", "nested too deeply"),
    ("gen-huge-range", "more than 1,048,576 references"),
    ("gen-pow", "is not supported"),
    ("zarray-a-grid-budget", "MAX_CHUNKS"),
    ("zarray-a-compressor-pickle", "runs code from the data"),
    ("value-z/1.0-zlib-bomb", "decodes to more than the 4,120 bytes"),
    ("zarray-z-compressor-gzip", "cannot decode chunk with 'gzip'"),
])
def test_messages(tmp_path, name, message):
    path = build_json(tmp_path, name)
    with pytest.raises(VZError) as e:
        ds = scan_refs(path)
        for v in ds.variables:
            plan(ds, v).execute()
    # scan errors name the reference file; read errors the variable (and the data file, if any)
    assert message in str(e.value) and (path in str(e.value) or "variable '" in str(e.value)), str(e.value)
    with pytest.raises(VZError) as e2:
        vz.open(path)
    assert message in str(e2.value)


def _peak_rss_of(code: str, timeout: float = 120) -> tuple[int, str, float]:
    """Run ``code`` in a fresh interpreter; (exit code, stderr, peak RSS in MB)."""
    # VmHWM: the peak of this process alone (ru_maxrss survives fork + exec on Linux)
    script = textwrap.dedent(code) + textwrap.dedent("""
        import sys
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
        sys.stderr.write("PEAK %s\\n" % hwm)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                       cwd=os.path.dirname(__file__))
    peak = [ln for ln in r.stderr.splitlines() if ln.startswith("PEAK ")]
    return r.returncode, r.stderr, (int(peak[-1].split()[1]) / 1024 if peak else -1.0)


def test_zlib_bomb_stays_bounded_in_every_reader(tmp_path):
    """A 512 MiB zlib bomb (0.5 MB in the references) costs nothing to refuse."""
    import base64
    import json

    from _hostile_refs import base_refs, write_data

    refs = base_refs(write_data(tmp_path))
    refs["refs"]["z/1.0"] = "base64:" + base64.b64encode(zlib_bomb(512 << 20)).decode()
    path = tmp_path / "bomb.json"
    path.write_text(json.dumps(refs))
    baseline = _peak_rss_of("import vz_jupyter, xarray, zarr")[2]
    for code in (f"""
        from vz_jupyter.cli import main
        assert main(["plan", {str(path)!r}, "z[1, 0]", "--execute"]) == 1
        """, f"""
        import vz_jupyter as vz
        from vz_jupyter.core.errors import VZError
        try:
            vz.open({str(path)!r})["z"].values
            raise SystemExit("no error")
        except VZError as e:
            assert "decodes to more than" in str(e), e
        """):
        rc, err, peak = _peak_rss_of(code)
        assert rc == 0, err
        assert peak - baseline < 150, (peak, baseline)  # the stream expands to 512 MB


def test_gen_bomb_and_jinja_never_run(tmp_path):
    """A few hundred bytes of 'gen' neither hang nor allocate (fsspec's jinja is never used)."""
    import json

    refs = {"version": 1, "refs": {".zgroup": '{"zarr_format": 2}'},
            "gen": [{"key": "a/{{i}}", "url": "{{ 'x' * 10**10 }}", "dimensions": {"i": {"stop": 10 ** 15}}}]}
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(refs))
    code, out, err = _run_cli(["info", str(path)])
    assert code == 1 and "more than 1,048,576 references" in err
    refs["gen"][0]["dimensions"] = {"i": {"stop": 2}}
    path.write_text(json.dumps(refs))
    code, out, err = _run_cli(["info", str(path)])
    assert code == 1 and "is not supported" in err, err


def test_parquet_that_lies_about_its_size_is_refused_before_reading(tmp_path):
    path = build_parquet(tmp_path, "pq-many-rows")
    rc, err, peak = _peak_rss_of(f"""
        from vz_jupyter.cli import main
        assert main(["info", {path!r}]) == 1
        """)
    assert rc == 0, err
    assert "declares 20,000,000 rows, more than record_size 10" in err
    assert peak < 600, peak


def test_vlen_strings_of_the_real_file_plan_and_execute(real_data):
    """`vz plan vlen.h5 "vlen_str[0:3]" --execute` (a TypeError before)."""
    h5py = pytest.importorskip("h5py")
    path = str(real_data / "vlen.h5")
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", "plan", path, "vlen_str[0:3]", "--execute"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "executed:" in r.stdout, r.stderr
    ds = vz.scan(path)[0]
    with h5py.File(path) as f:
        want = f["vlen_str"].asstr()[...]
    for sel in (slice(0, 3), slice(None), slice(5, 90, 7)):
        got = ds.plan("vlen_str[...]").execute() if sel == slice(None) else plan(ds, (sel,), variable="vlen_str").execute()
        assert got.dtype == object and got.tolist() == want[sel].tolist()
    assert plan(ds, "vlen_str[0]").execute()[()] == want[0]
