"""Keeping an archive current: ``vz.append`` / ``vz.check(target, files)``.

Every format (kerchunk JSON, kerchunk parquet, Icechunk): an archive of two
daily files grows by appends and then opens with plain xarray (in a process
that never imports vz_jupyter) exactly like ``xr.open_mfdataset`` of all the
files; refused appends leave the target byte for byte as it was; the
archive's own sources are never read; concurrent appends never both succeed.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core import archive as archive_mod
from vz_jupyter.core.errors import CheckFailed, VZError, WriteError

sys.path.insert(0, str(Path(__file__).parent))
from _append_data import judge, make_day  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EXT = {"json": ".json", "parquet": ".parquet", "icechunk": ".icechunk"}
FMTS = list(EXT)
KIND = {"json": "refs", "parquet": "refs", "icechunk": "icechunk"}


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("days")
    return [make_day(folder, k, prof=True) for k in range(7)]


def build(folder: Path, fmt: str, files, name: str = "archive", **kw) -> Path:
    target = folder / f"{name}{EXT[fmt]}"
    vz.write(vz.concat(vz.scan(files), "time"), target, **kw)
    return target


def tree(path: Path) -> dict:
    """Every file under ``path`` (or the file itself) with its bytes' hash."""
    path = Path(path)
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    out = {}
    for d, dirs, files in os.walk(path):
        for n in dirs:
            out[os.path.relpath(os.path.join(d, n), path)] = "dir"
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, path)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


# -- what users see: the data ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", FMTS)
def test_append_then_open_equals_open_mfdataset(tmp_path, days, fmt):
    kw = {"record_size": 3} if fmt == "parquet" else {}
    target = build(tmp_path, fmt, days[:2], **kw)
    r1 = vz.append(target, [days[3], days[2]], dim="time")  # sorted along time before appending
    assert r1.written and r1.appended == (str(days[2]), str(days[3])) and (r1.before, r1.after) == (8, 16)
    r2 = vz.append(target, days[4], dim="time")
    assert r2.written and r2.after == 20 and not r2.errors
    got = judge(target, KIND[fmt], days[:5])
    assert got["bad"] == [] and got["n"] == 20
    assert got["units"] == "hours since 2000-01-01 00:00:00"
    # vz's own reader agrees, and the archive still describes itself
    ds = vz.open(target)
    assert ds.sizes["time"] == 20 and ds["air"].shape == (20, 12, 20)


@pytest.mark.parametrize("fmt", FMTS)
def test_time_units_of_new_files_are_reencoded_into_the_archive_units(tmp_path, fmt):
    files = [make_day(tmp_path / "d", k, units=f"hours since 2000-01-{k + 1:02d} 00:00:00") for k in range(5)]
    target = build(tmp_path, fmt, files[:2])
    report = vz.append(target, files[2:], dim="time")
    (w,) = report.by_code("time-units")
    assert w.severity == "warning" and "re-encoded into the archive's units ('hours since 2000-01-01 00:00:00')" in w.fix
    got = judge(target, KIND[fmt], files)
    assert got["bad"] == [] and got["units"] == "hours since 2000-01-01 00:00:00"
    raw = vz.open(target, decode=False)["time"].values
    np.testing.assert_array_equal(raw, 6.0 * np.arange(20))  # the archive's units, whole hours


@pytest.mark.parametrize("fmt", FMTS)
def test_check_on_an_archive_is_the_append_report_without_writing(tmp_path, days, fmt):
    target = build(tmp_path, fmt, days[:2])
    before = tree(target)
    report = vz.check(target, days[2:4], dim="time")
    assert isinstance(report, vz.AppendReport) and report.ok and not report.written
    assert "nothing written yet" in report.summary_line() and (report.before, report.after) == (8, 16)
    assert tree(target) == before
    assert vz.check(vz.scan(days[:2]), dim="time").ok  # the datasets form is unchanged
    assert vz.check(vz.scan(days[:2]), "time").ok


# -- refusals: nothing written --------------------------------------------------------------
REFUSALS = {
    # case: (how the bad new file is made, expected error code)
    "scale-factor": (lambda d: make_day(d, 2, scale=0.02), "scale-offset"),
    "overlap": (lambda d: make_day(d, 1, name="day_001_again.nc", t_offset=12), "overlap"),
    "before-the-archive": (lambda d: make_day(d, 0, name="early.nc", t_offset=-48), "order"),
    "missing-variable": (lambda d: make_day(d, 2, drop=("packed",)), "missing-variable"),
    "variable-not-in-archive": (lambda d: make_day(d, 2, extra=True), "missing-variable"),
    "other-grid": (lambda d: make_day(d, 2, lat_shift=0.5), "coord-values"),
    "chunking": (lambda d: make_day(d, 2, chunk_t=1), "chunks"),
    "already-in-archive": (None, "already-appended"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("fmt", FMTS)
def test_refused_appends_leave_the_target_byte_identical(tmp_path, days, fmt, case):
    target = build(tmp_path, fmt, days[:2])
    make, code = REFUSALS[case]
    bad = days[1] if make is None else make(tmp_path / "new")
    before = tree(target)
    with pytest.raises(CheckFailed) as ei:
        vz.append(target, [days[2], bad] if case != "already-in-archive" else [bad], dim="time")
    assert code in ei.value.report.codes, ei.value.report
    assert str(ei.value).startswith(f"{target}: nothing appended: check failed")
    assert tree(target) == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".vz-")]  # no staging left behind
    # the same report from vz.check, and the archive still opens as it was
    again = vz.check(target, [days[2], bad] if case != "already-in-archive" else [bad], dim="time")
    assert again.codes == ei.value.report.codes
    assert vz.open(target).sizes["time"] == 8


@pytest.mark.parametrize("fmt", FMTS)
def test_an_archive_ending_in_a_partial_chunk_is_refused_with_the_reason(tmp_path, fmt):
    files = [make_day(tmp_path / "d", k, nt=3, chunk_t=2) for k in range(3)]  # 3 steps, chunks of 2
    target = build(tmp_path, fmt, files[:1])
    before = tree(target)
    report = vz.check(target, files[1:2], dim="time")
    errs = [f for f in report.errors if f.code == "partial-chunk"]
    assert errs and all("length is 3" in f.message and "cannot continue" in f.message for f in errs)
    assert {f.variable for f in errs} == {"air", "packed"}
    with pytest.raises(CheckFailed):
        vz.append(target, files[1:2], dim="time")
    assert tree(target) == before


@pytest.mark.parametrize("fmt", ["parquet", "icechunk"])
def test_a_new_last_file_ending_partial_is_appended_with_a_warning(tmp_path, days, fmt):
    short = make_day(tmp_path / "d", 2, nt=3, chunk_t=2, prof=True)
    target = build(tmp_path, fmt, days[:2])
    report = vz.append(target, short, dim="time")
    assert report.written and "ends-partial" in report.codes
    assert judge(target, KIND[fmt], [*days[:2], short])["bad"] == []
    with pytest.raises(CheckFailed) as ei:  # ... and the next append is refused, saying why
        vz.append(target, days[3], dim="time")
    assert "partial-chunk" in ei.value.report.codes


@pytest.mark.parametrize("fmt", FMTS)
def test_files_already_in_the_archive_error_or_left_out_with_skip(tmp_path, days, fmt):
    target = build(tmp_path, fmt, days[:2])
    with pytest.raises(CheckFailed) as ei:
        vz.append(target, [days[1], days[2]], dim="time")
    (f,) = ei.value.report.by_code("already-appended")
    assert f.files == (str(days[1]),) and "day_001.nc is already in" in f.message
    assert ei.value.report.codes == {"already-appended", "attrs"}  # not also an overlap for the same file
    report = vz.append(target, [days[1], days[2]], dim="time", errors="skip")
    assert report.written and report.appended == (str(days[2]),) and report.left_out == (str(days[1]),)
    nothing = vz.append(target, days[:3], dim="time", errors="skip")
    assert not nothing.written and "nothing to append" in nothing.summary_line()
    assert judge(target, KIND[fmt], days[:3])["bad"] == []


# -- Icechunk: one commit per append ----------------------------------------------------------
def test_icechunk_history_has_one_commit_per_append_and_earlier_versions_stay_readable(tmp_path, days):
    import icechunk as ic

    target = build(tmp_path, "icechunk", days[:2])
    snaps = []
    for batch in ([days[2]], [days[3], days[4]], [days[5]]):
        snaps.append(vz.append(target, batch, dim="time").snapshot)
    repo = ic.Repository.open(ic.local_filesystem_storage(str(target)))
    history = list(repo.ancestry(branch="main"))
    assert [h.id for h in history[:3]] == snaps[::-1]
    assert len(history) == 2 + 3  # the repository's first commit, the write, three appends
    assert history[0].message == "vz append: 1 file along 'time': day_005.nc"
    assert history[1].message == "vz append: 2 files along 'time': day_003.nc, day_004.nc"
    assert history[1].metadata["vz_append"]["files"] == [str(days[3]), str(days[4])]
    # the version before the last append is still there, as it was
    old = judge(target, "icechunk", days[:5], snapshot=snaps[1])
    assert old["bad"] == [] and old["n"] == 20
    assert judge(target, "icechunk", days[:6])["n"] == 24
    with pytest.raises(CheckFailed):  # a refused append adds no commit
        vz.append(target, days[5], dim="time")
    assert len(list(repo.ancestry(branch="main"))) == 5
    rep = vz.append(target, days[6], dim="time", message="day 6")
    repo = ic.Repository.open(ic.local_filesystem_storage(str(target)))
    assert next(iter(repo.ancestry(branch="main"))).message == "day 6"
    assert rep.snapshot


def test_icechunk_files_in_a_new_folder_get_a_container_and_stay_confined(tmp_path, days):
    target = build(tmp_path, "icechunk", days[:2])
    elsewhere = tmp_path / "incoming"
    new = make_day(elsewhere, 2, prof=True)
    vz.append(target, new, dim="time")
    assert judge(target, "icechunk", [*days[:2], new])["bad"] == []
    assert vz.open(target).sizes["time"] == 12  # vz.open honours the declared containers as recorded roots


# -- cost: no source of the archive is read --------------------------------------------------
@pytest.mark.parametrize("fmt", FMTS)
def test_append_reads_no_source_of_the_archive(tmp_path, fmt):
    old = tmp_path / "old"
    files = [make_day(old, k, prof=True) for k in range(3)]
    new = [make_day(tmp_path / "new", k, prof=True) for k in (3, 4)]
    target = build(tmp_path, fmt, files)
    opened: list[str] = []
    watch = str(old)

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            p = os.fsdecode(args[0])
            if p.startswith(watch):
                opened.append(p)

    _HOOK["fn"] = hook
    away = tmp_path / "old-moved-away"
    old.rename(away)  # the archive's sources are gone: any read of them would fail
    try:
        report = vz.append(target, new, dim="time")
    finally:
        _HOOK["fn"] = None
        away.rename(old)
    assert report.written and opened == []
    assert judge(target, KIND[fmt], files + new)["bad"] == []


_HOOK: dict = {"fn": None}


def _audit(event, args):
    fn = _HOOK["fn"]
    if fn is not None:
        fn(event, args)


sys.addaudithook(_audit)


@pytest.mark.parametrize("fmt", ["parquet", "icechunk"])
def test_big_variables_are_read_by_their_last_chunk_row_only(tmp_path, days, fmt, monkeypatch):
    target = build(tmp_path, fmt, days[:3], **({"record_size": 4} if fmt == "parquet" else {}))
    monkeypatch.setattr(archive_mod, "FULL_READ_CHUNKS", 1)
    with archive_mod.open_archive(target, "time") as arc:
        assert {"air", "packed", "prof"} <= arc.tails and arc.whole == {"time"}
        assert arc.view["air"].shape == (2, 12, 20) and arc.shapes["air"] == (12, 12, 20)
        assert arc.view["air"].manifest.grid == (1, 1, 1)
        assert {str(p) for p in days[:3]} <= arc.paths
    vz.append(target, days[3:5], dim="time")
    assert judge(target, KIND[fmt], days[:5])["bad"] == []


def test_parquet_untouched_record_files_are_not_rewritten(tmp_path, days):
    target = build(tmp_path, "parquet", days[:4], record_size=4)  # air: 2 chunks per day, 8 chunks = 2 full records
    ino = {p: os.stat(target / p).st_ino for p in ("air/refs.0.parq", "air/refs.1.parq", "mask/refs.0.parq",
                                                     "lat/refs.0.parq")}
    before = tree(target)
    vz.append(target, days[4], dim="time")
    after = tree(target)
    for p, i in ino.items():  # the same files (hard links), not rewritten
        assert os.stat(target / p).st_ino == i and after[p] == before[p], p
    assert "air/refs.2.parq" in after and "air/refs.2.parq" not in before  # only new records for the new rows
    # prof(lev, time): lev has 2 chunks, so every chunk after the first lev row is renumbered: rewritten
    assert after["prof/refs.2.parq"] != before["prof/refs.2.parq"]
    assert os.stat(target / "prof/refs.0.parq").st_ino != ino["air/refs.0.parq"]
    assert judge(target, "refs", days[:5])["bad"] == []


def test_json_references_keep_everything_the_append_does_not_touch(tmp_path, days):
    target = build(tmp_path, "json", days[:2])
    old = json.loads(target.read_text())
    vz.append(target, days[2:4], dim="time")
    new = json.loads(target.read_text())
    changed = {"air/.zarray", "packed/.zarray", "prof/.zarray", "time/.zarray", "time/.zattrs", "time/0"}
    for k, v in old["refs"].items():
        if k not in changed and not k.startswith("prof/"):
            assert new["refs"][k] == v, k
    assert set(old["templates"].items()) < set(new["templates"].items())
    assert json.loads(new["refs"]["air/.zarray"])["shape"] == [16, 12, 20]
    assert new["vz_source_roots"] == old["vz_source_roots"]


def test_kerchunk_made_json_archive_can_be_appended_to(tmp_path, days):
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    singles = []
    for f in days[:2]:
        with open(f, "rb") as fh:
            singles.append(SingleHdf5ToZarr(fh, str(f)).translate())
    refs = MultiZarrToZarr(singles, concat_dims=["time"], identical_dims=["lat", "lon", "mask", "lev"],
                           coo_map={"time": "cf:time"}).translate()
    target = tmp_path / "kerchunk.json"
    target.write_text(json.dumps(refs))
    with pytest.raises(VZError, match="outside the roots it may read"):  # kerchunk records no roots
        vz.append(target, days[2:4], dim="time")
    report = vz.append(target, days[2:4], dim="time", allowed_roots=[days[0].parent])
    assert report.written, report
    got = judge(target, "refs", days[:4])
    assert got["bad"] == [] and got["n"] == 16


def test_values_of_the_archive_stored_in_its_sources_are_compared_only_when_asked(tmp_path):
    files = [make_day(tmp_path / "d", k, nlat=200) for k in range(3)]  # lat (800 bytes) is not inlined
    shifted = make_day(tmp_path / "s", 2, nlat=200, lat_shift=0.5)
    target = build(tmp_path, "parquet", files[:2])
    report = vz.check(target, shifted, dim="time")
    warned = {f.variable: f for f in report.by_code("archive-not-read")}
    assert set(warned) == {"lat", "mask"} and report.ok  # a warning: not compared, said so
    assert warned["lat"].severity == "warning" and "read_archive=True" in warned["lat"].fix
    strict = vz.check(target, shifted, dim="time", read_archive=True)
    assert "coord-values" in strict.codes and "archive-not-read" not in strict.codes
    assert vz.check(target, files[2], dim="time", read_archive=True).ok


# -- bad input: one line ---------------------------------------------------------------------
def test_bad_targets_are_refused_in_one_line(tmp_path, days):
    with pytest.raises(WriteError, match="no archive there to append to"):
        vz.append(tmp_path / "none.parquet", days[2], dim="time")
    with pytest.raises(WriteError, match="it is an HDF5/NetCDF4 file"):
        vz.append(days[0], days[2], dim="time")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    with pytest.raises(WriteError, match="not an archive to append to"):
        vz.append(folder, days[2], dim="time")
    (tmp_path / "not.json").write_text('{"a": 1}')
    with pytest.raises(WriteError, match="not an archive to append to"):
        vz.append(tmp_path / "not.json", days[2], dim="time")
    target = build(tmp_path, "json", days[:2])
    with pytest.raises(VZError, match="needs the dimension"):
        vz.check(target, days[2])
    rep = vz.check(target, days[2], dim="nope")
    assert "no-dim" in rep.codes


# -- concurrency: real processes ---------------------------------------------------------------
ROUNDS = int(os.environ.get("VZ_APPEND_RACE_ROUNDS", "5"))
K = 3


class Workers:
    def __init__(self, n: int):
        worker = str(Path(__file__).with_name("_append_worker.py"))
        self.procs = [subprocess.Popen([sys.executable, worker], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True) for _ in range(n)]
        for p in self.procs:
            assert json.loads(p.stdout.readline())["ready"]

    def run(self, cmds: list[dict], go: Path) -> list[dict]:
        for p, c in zip(self.procs, cmds):
            p.stdin.write(json.dumps({**c, "go": str(go)}) + "\n")
            p.stdin.flush()
        for p in self.procs:
            assert json.loads(p.stdout.readline())["ready"]
        go.touch()
        return [json.loads(p.stdout.readline()) for p in self.procs]

    def close(self):
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=30)


@pytest.mark.parametrize("fmt", FMTS)
def test_concurrent_appends_to_one_target_never_both_succeed(tmp_path, days, fmt):
    target = build(tmp_path, fmt, days[:2])
    workers = Workers(K)
    try:
        winners = []
        for r in range(ROUNDS):
            day = 2 + r
            # K copies of the same day under different names: one may go in, never two
            copies = [make_day(tmp_path / f"w{i}", day, prof=True, name=f"day_{day:03d}_w{i}.nc") for i in range(K)]
            res = workers.run([{"target": str(target), "files": [str(c)]} for c in copies], tmp_path / f"go{r}")
            ok = [c for c, x in zip(copies, res) if x["ok"]]
            assert len(ok) == 1, res
            for x in res:
                if not x["ok"]:
                    assert "\n" not in x["error"] and x["error"].startswith(str(target)), x["error"]
                    words = ("in progress", "changed by someone else", "overlap", "replaced by someone else",
                             "already", "duplicate", "repeat")
                    assert any(w in x["error"] for w in words), x
            winners.append(ok[0])
            assert vz.open(target).sizes["time"] == 8 + 4 * (r + 1)
        assert not [p for p in os.listdir(tmp_path) if p.startswith(".vz-")]
        assert judge(target, KIND[fmt], [*days[:2], *winners])["bad"] == []
    finally:
        workers.close()


# -- front ends ------------------------------------------------------------------------------
def run_cli(*args, cwd=None):
    """The real ``vz`` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "vz_jupyter.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def cli(*args) -> tuple[int, str, str]:
    """``vz`` in this process (the same ``main``), for the cheaper cases."""
    import io

    from vz_jupyter.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc = main([str(a) for a in args], out, err)
    return rc, out.getvalue(), err.getvalue()


def test_cli_append_dry_run_refusal_and_usage(tmp_path, days):
    target = build(tmp_path, "parquet", days[:2])
    before = tree(target)
    rc, out, _ = cli("append", target, days[2], days[3], "--dim", "time", "--dry-run")
    assert rc == 0 and "nothing written (--dry-run)" in out and tree(target) == before
    bad = make_day(tmp_path / "bad", 2, scale=0.02)
    r = run_cli("append", target, bad, "--dim", "time")
    assert r.returncode == 1 and "[scale-offset]" in r.stdout and f"nothing written to {target}" in r.stdout
    assert tree(target) == before
    r = run_cli("append", target, days[2], days[3], "--dim", "time")
    assert r.returncode == 0 and "appended 2 files to" in r.stdout and "(time 8 → 16)" in r.stdout, r.stderr
    rc, out, _ = cli("append", target, days[3], "--dim", "time", "--errors", "skip")
    assert rc == 0 and "nothing to append" in out
    r = run_cli("append", target, days[4])
    assert r.returncode == 2 and "--dim" in r.stderr
    rc, out, err = cli("append", tmp_path / "missing.json", days[4], "--dim", "time")
    assert rc == 1 and err.count("\n") == 1 and "no archive there" in err
    assert judge(target, "refs", days[:4])["bad"] == []


def test_magic_append(tmp_path, days):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vz_jupyter")
    target = build(tmp_path, "json", days[:2])
    rep = ip.run_line_magic("vz", f"append {target} {days[2]} --dim time --dry-run -o rep")
    assert rep is ip.user_ns["rep"] and rep.ok and not rep.written
    ip.user_ns["newds"] = vz.scan([days[2], days[3]])
    rep = ip.run_line_magic("vz", f"append {target} newds --dim time")
    assert rep.written and rep.after == 16
    with pytest.raises(UsageError, match="already in"):
        ip.run_line_magic("vz", f"append {target} {days[3]} --dim time")
    html = rep._repr_html_()
    assert "append of 2 files to archive.json" in html


def test_report_dict_and_text(tmp_path, days):
    target = build(tmp_path, "json", days[:2])
    rep = vz.append(target, days[2:4], dim="time")
    d = rep.to_dict()
    assert d["kind"] == "append" and d["written"] and d["before"] == 8 and d["after"] == 16
    assert d["appended"] == [str(days[2]), str(days[3])]
    assert repr(rep).startswith("<vz Report: appended 2 files to")
