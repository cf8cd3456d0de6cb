"""Nothing of the user's is ever lost by a write.

``overwrite`` replaces only an earlier output of the same format; never a source
of the dataset (the file itself, through ``..``, a relative path, a symbolic or
hard link, or a folder holding sources), never anything else. Every refusal is
one line naming the path; every pre-existing byte is intact (hash trees before
and after). The same through the API, the CLI (a subprocess), the magics and
the combine widget.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.errors import TargetExists, WriteError
from vz_jupyter.core.serialize import outputs
from vz_jupyter.core.serialize.outputs import SourceGuard, describe, is_output, output_format
from vz_jupyter.sample_data import make_daily_netcdf4

EXT = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}
FMTS = list(EXT)


def tree(root: Path) -> dict:
    """Every entry under ``root`` (links not followed): kind, mode and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(Path(p).read_bytes()).hexdigest())
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode))
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    """``tmp/archive/*.nc`` (two real NetCDF4 files) and their combined dataset."""
    files = make_daily_netcdf4(tmp_path / "archive", n_files=2)
    monkeypatch.chdir(tmp_path)
    ds = vz.concat(vz.sort(vz.scan([str(f) for f in files]), by="time"), dim="time")
    return tmp_path, files, ds


def _earlier(ds, path: Path, fmt: str) -> Path:
    vz.write(ds, path, format=fmt)
    return path


def refused(ds, target, fmt, root: Path, *, overwrite: bool) -> str:
    """Write must be refused with one line naming ``target`` and change nothing under ``root``."""
    before = tree(root)
    with pytest.raises(WriteError) as e:
        vz.write(ds, target, format=fmt, overwrite=overwrite)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{target}: "), msg
    assert tree(root) == before, f"{target} ({fmt}, overwrite={overwrite}) changed something"
    return msg


# -- sources are never replaced -------------------------------------------------
def _source_targets(tmp: Path, files):
    a = files[0]
    (tmp / "link.json").symlink_to(a)
    os.link(a, tmp / "hard.json")
    (tmp / "arch.parquet").symlink_to(a.parent)
    return [
        (str(a), "a source file"),
        (os.path.relpath(a, tmp), "a source file"),  # relative to the working folder
        (f"{a.parent}/../{a.parent.name}/{a.name}", "a source file"),  # through ..
        (f"{a.parent}/./{a.name}", "a source file"),
        (str(tmp / "link.json"), "a symbolic link to a source file"),
        (str(tmp / "hard.json"), "a source file"),  # same inode: a hard link
        (str(a.parent), "a folder holding source files"),
        ("archive", "a folder holding source files"),
        (str(tmp), "a folder holding source files"),  # an ancestor
        (str(tmp / "arch.parquet"), "a symbolic link to a folder holding source files"),
    ]


@pytest.mark.parametrize("fmt", FMTS)
def test_sources_are_never_replaced(work, fmt):
    tmp, files, ds = work
    for target, why in _source_targets(tmp, files):
        for overwrite in (False, True):
            msg = refused(ds, target, fmt, tmp, overwrite=overwrite)
            assert why in msg, msg
            assert ("not replaced" in msg) == overwrite, msg
            assert "pass overwrite" not in msg  # overwrite would not help: not suggested
    for p in (tmp / "link.json", tmp / "hard.json", tmp / "arch.parquet"):
        p.unlink()
    # the references still read the untouched originals
    import xarray as xr

    with xr.open_dataset(files[0]) as want:
        np.testing.assert_array_equal(vz.open(vz.write(ds, tmp / "ok.json"))["air"].values[: want.sizes["time"]], want["air"].values)


def test_source_named_in_a_manifest_only_is_protected(work):
    """Paths referenced by chunks count, not only ``sources``."""
    tmp, files, ds = work
    from dataclasses import replace

    bare = replace(ds, sources=())
    assert not bare.sources
    msg = refused(bare, str(files[1]), "kerchunk-json", tmp, overwrite=True)
    assert "a source file of the dataset" in msg


def test_missing_source_still_protects_its_folder(work):
    """A source deleted since the scan: its folder is still refused (by path)."""
    tmp, files, ds = work
    guard = SourceGuard([str(tmp / "gone" / "x.nc")])
    (tmp / "gone").mkdir()
    (tmp / "gone" / "other.txt").write_text("mine")
    assert "folder holding source files" in guard.conflict(tmp / "gone")
    assert guard.conflict(tmp / "archive") is None


def test_urls_are_not_local_sources():
    g = SourceGuard(["https://example.org/data/x.nc", "s3://bucket/x.nc", "memory://x"])
    assert g.conflict("/") is None


# -- anything that is not an earlier output of the same format --------------------
def _foreign(tmp: Path, files, ds) -> list[tuple[str, str, str]]:
    """(target, format, expected words) for things overwrite must not replace."""
    f = {}
    mine = tmp / "mine.parquet"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    f["user folder"] = (mine, "kerchunk-parquet", "a folder with 1 entry")
    (tmp / "empty.icechunk").mkdir()
    f["empty folder"] = (tmp / "empty.icechunk", "icechunk", "an empty folder")
    (tmp / "dir.json").mkdir()
    (tmp / "dir.json" / "x").write_text("x")
    f["folder for json"] = (tmp / "dir.json", "kerchunk-json", "a folder with 1 entry")
    shutil.copy(files[0], tmp / "other.json")  # a NetCDF file that is not a source
    f["netcdf"] = (tmp / "other.json", "kerchunk-json", "an HDF5/NetCDF4 file")
    (tmp / "pkg.json").write_text(json.dumps({"name": "mine", "version": 1}))
    f["plain json"] = (tmp / "pkg.json", "kerchunk-json", "a JSON file that is not kerchunk references")
    (tmp / "notes.json").write_text("hello")
    f["text"] = (tmp / "notes.json", "kerchunk-json", "a file of 5 bytes")
    # earlier outputs of another format
    f["parquet for json"] = (_earlier(ds, tmp / "p.json", "kerchunk-parquet"), "kerchunk-json", "a kerchunk parquet reference folder")
    f["json for parquet"] = (_earlier(ds, tmp / "j.parquet", "kerchunk-json"), "kerchunk-parquet", "kerchunk JSON references")
    f["icechunk for parquet"] = (_earlier(ds, tmp / "i.parquet", "icechunk"), "kerchunk-parquet", "an Icechunk repository")
    f["parquet for icechunk"] = (_earlier(ds, tmp / "q.icechunk", "kerchunk-parquet"), "icechunk", "a kerchunk parquet reference folder")
    f["json for icechunk"] = (_earlier(ds, tmp / "k.icechunk", "kerchunk-json"), "icechunk", "kerchunk JSON references")
    # earlier outputs with something foreign inside
    p = _earlier(ds, tmp / "foreign1.parquet", "kerchunk-parquet")
    (p / "README.txt").write_text("mine")
    f["parquet + file"] = (p, "kerchunk-parquet", "a folder with")
    p = _earlier(ds, tmp / "foreign2.parquet", "kerchunk-parquet")
    (p / "air" / "keep.txt").write_text("mine")
    f["parquet + file in var"] = (p, "kerchunk-parquet", "a folder with")
    p = _earlier(ds, tmp / "foreign3.parquet", "kerchunk-parquet")
    (p / "extra").mkdir()
    f["parquet + folder"] = (p, "kerchunk-parquet", "a folder with")
    p = _earlier(ds, tmp / "foreign4.parquet", "kerchunk-parquet")
    (p / "air" / "refs.9.parq").symlink_to(files[0])
    f["parquet + link"] = (p, "kerchunk-parquet", "a folder with")
    p = _earlier(ds, tmp / "foreign5.icechunk", "icechunk")
    (p / "mine.nc").write_bytes(b"mine")
    f["icechunk + file"] = (p, "icechunk", "a folder with")
    p = _earlier(ds, tmp / "foreign6.icechunk", "icechunk")
    (p / "snapshots" / "notes").write_text("mine")
    f["icechunk + file in snapshots"] = (p, "icechunk", "a folder with")
    # links are never replaced, even to an earlier output of the same format
    good = _earlier(ds, tmp / "real.json", "kerchunk-json")
    (tmp / "latest.json").symlink_to(good)
    f["link to output"] = (tmp / "latest.json", "kerchunk-json", "a symbolic link to")
    (tmp / "dangling.json").symlink_to(tmp / "nowhere.json")
    f["dangling link"] = (tmp / "dangling.json", "kerchunk-json", "a dangling symbolic link")
    os.mkfifo(tmp / "fifo.json")
    f["fifo"] = (tmp / "fifo.json", "kerchunk-json", "a FIFO")
    return [(str(t), fmt, words) for t, fmt, words in f.values()]


def test_only_an_earlier_output_of_the_same_format_is_replaced(work):
    tmp, files, ds = work
    cases = _foreign(tmp, files, ds)
    assert len(cases) == 20
    for target, fmt, words in cases:
        msg = refused(ds, target, fmt, tmp, overwrite=True)
        assert f"not replaced: it is {words}" in msg and "overwrite replaces only" in msg, msg
        msg = refused(ds, target, fmt, tmp, overwrite=False)
        assert f"already exists ({words}" in msg and msg.endswith("choose another path"), msg
    assert not (tmp / "nowhere.json").exists()


@pytest.mark.parametrize("fmt", FMTS)
def test_earlier_output_of_the_same_format_is_replaced(work, fmt):
    tmp, files, ds = work
    one = vz.scan(str(files[0]))[0]
    target = tmp / f"refs{EXT[fmt]}"
    vz.write(one, target)
    assert output_format(target) == fmt
    with pytest.raises(TargetExists, match=r"already exists \(.*written earlier\); pass overwrite=True to replace it"):
        vz.write(ds, target)
    vz.write(ds, target, overwrite=True)
    import xarray as xr

    got = vz.open(target)
    with xr.open_mfdataset([str(f) for f in files], combine="nested", concat_dim="time") as want:
        np.testing.assert_array_equal(got["air"].values, want["air"].values)
    assert not [p for p in os.listdir(tmp) if p.startswith(".vz-")]
    # and the archive is untouched
    assert all(f.exists() for f in files)


@pytest.mark.filterwarnings("ignore:The 'fastparquet' engine is deprecated", "ignore:The 'future.infer_string' option")
def test_outputs_of_kerchunk_itself_are_recognised(work):
    """Earlier outputs written by kerchunk (the peer) count as kerchunk outputs."""
    kerchunk = pytest.importorskip("kerchunk.hdf")
    from kerchunk.df import refs_to_dataframe

    tmp, files, ds = work
    refs = kerchunk.SingleHdf5ToZarr(str(files[0])).translate()
    (tmp / "k.json").write_text(json.dumps(refs))
    refs_to_dataframe(refs, str(tmp / "k.parquet"))
    assert output_format(tmp / "k.json") == "kerchunk-json"
    assert output_format(tmp / "k.parquet") == "kerchunk-parquet"
    vz.write(ds, tmp / "k.json", overwrite=True)
    vz.write(ds, tmp / "k.parquet", overwrite=True)
    assert vz.open(tmp / "k.parquet")["air"].shape[0] == vz.open(tmp / "k.json")["air"].shape[0] == ds["air"].shape[0]


def test_kerchunk_json_versions_and_big_files(tmp_path, monkeypatch):
    v0 = {".zgroup": '{"zarr_format":2}', "a/.zarray": "{}", "a/0": ["x.nc", 0, 4]}
    v1 = {"version": 1, "templates": {"u": "x.nc"}, "refs": v0}
    for name, doc in (("v0.json", v0), ("v1.json", v1)):
        (tmp_path / name).write_text(json.dumps(doc))
        assert is_output(tmp_path / name, "kerchunk-json")
    for bad in ({"version": 2, "refs": v0}, {"refs": v0}, {"version": 1, "refs": {"a": 1}}, [v0],
                {"version": 1, "refs": {"x": "y"}}, {"version": 1, "refs": v0, "mine": 1}):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        assert not is_output(tmp_path / "bad.json", "kerchunk-json"), bad
    # past the parse limit: recognised by kerchunk's head and a JSON tail
    monkeypatch.setattr(outputs, "JSON_PARSE_LIMIT", 10)
    for name in ("v0.json", "v1.json"):
        assert is_output(tmp_path / name, "kerchunk-json"), name
    (tmp_path / "big.json").write_text('{"version": 1, "refs": {".zgroup": "x"}, "cut')
    assert not is_output(tmp_path / "big.json", "kerchunk-json")
    (tmp_path / "big.json").write_text(json.dumps({"name": "x", "refs": v0}))
    assert not is_output(tmp_path / "big.json", "kerchunk-json")


def test_describe_says_what_is_there(tmp_path):
    assert describe(tmp_path / "nothing") == "nothing"
    (tmp_path / "d").mkdir()
    assert describe(tmp_path / "d") == "an empty folder"
    for i in range(3):
        (tmp_path / "d" / str(i)).write_text("x")
    assert describe(tmp_path / "d") == "a folder with 3 entries"
    (tmp_path / "f.nc").write_bytes(b"CDF\x01" + bytes(20))
    assert describe(tmp_path / "f.nc") == "a NetCDF3 file"


# -- the target's folder ------------------------------------------------------------
@pytest.mark.parametrize("fmt", FMTS)
def test_parent_missing_or_not_a_folder(work, fmt):
    tmp, files, ds = work
    before = tree(tmp)
    with pytest.raises(WriteError, match=f"the folder {tmp / 'no' / 'such'} does not exist"):
        vz.write(ds, tmp / "no" / "such" / f"x{EXT[fmt]}")
    with pytest.raises(WriteError, match=f"{files[0]} is not a folder"):
        vz.write(ds, files[0] / f"x{EXT[fmt]}")
    with pytest.raises(WriteError, match="not a file name"):
        vz.write(ds, "..", format=fmt, overwrite=True)
    assert tree(tmp) == before


def test_dotdot_after_a_link_resolves_as_the_os_does(work):
    """``link/../x.json`` is written where the OS puts it (the link's target's
    parent), not where a lexical normalisation would."""
    tmp, files, ds = work
    (tmp / "elsewhere" / "deep").mkdir(parents=True)
    (tmp / "l").symlink_to(tmp / "elsewhere" / "deep")
    vz.write(ds, "l/../x.json")
    assert (tmp / "elsewhere" / "x.json").exists() and not (tmp / "x.json").exists()


def _unprivileged() -> list[str]:
    """A command prefix that runs without the power to ignore file modes."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", drop, "--inh-caps", drop]


def _write_code(src: Path, target: Path) -> str:
    return (
        "import sys, vz_jupyter as vz\n"
        "from vz_jupyter.core.errors import WriteError\n"
        f"ds = vz.scan({str(src)!r})[0]\n"
        f"try:\n    vz.write(ds, {str(target)!r})\n"
        "except WriteError as e:\n    print(e)\n    sys.exit(3)\n"
    )


@pytest.mark.parametrize("fmt", FMTS)
def test_read_only_folder(work, fmt):
    """A folder the user may not write in: one line, nothing created."""
    tmp, files, ds = work
    ro = tmp / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    target = ro / f"x{EXT[fmt]}"
    try:
        r = subprocess.run([*_unprivileged(), sys.executable, "-c", _write_code(files[0], target)],
                           capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(ro, 0o755)
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == f"{target}: cannot write in {ro} (Permission denied)", r.stdout
    assert os.listdir(ro) == []


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="user+mount namespaces unavailable (unshare -rm)")
@pytest.mark.parametrize("fmt", FMTS)
def test_read_only_file_system(work, fmt):
    """A read-only mount (a bind mount remounted ro in a private namespace)."""
    tmp, files, ds = work
    ro = tmp / "rofs"
    ro.mkdir()
    (ro / "kept.txt").write_text("mine")
    target = ro / f"x{EXT[fmt]}"
    script = tmp / "w.py"
    script.write_text(_write_code(files[0], target))
    sh = f'mount --bind "{ro}" "{ro}" && mount -o remount,bind,ro "{ro}" && exec "{sys.executable}" "{script}"'
    r = subprocess.run(["unshare", "-rm", "sh", "-c", sh], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == f"{target}: cannot write in {ro} (Read-only file system)", r.stdout
    assert os.listdir(ro) == ["kept.txt"]


# -- the same rules in the CLI, the magics and the widget -------------------------------
def _cli(*argv, cwd):
    r = subprocess.run([sys.executable, "-m", "vz_jupyter.cli", *map(str, argv)], capture_output=True, text=True, cwd=cwd, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_cli_refuses_the_same(work):
    tmp, files, ds = work
    before = tree(tmp)
    a = files[0]
    cases = [
        (["scan", a, "-o", "archive/../archive/" + a.name, "--format", "kerchunk-json", "--overwrite"], "a source file"),
        (["combine", *files, "--dim", "time", "-o", "archive", "--format", "kerchunk-parquet", "--overwrite"], "a folder holding source files"),
    ]
    for argv, why in cases:
        code, _, err = _cli(*argv, cwd=tmp)
        assert code == 1 and len(err.strip().splitlines()) == 1 and why in err, (argv, err)
        assert tree(tmp) == before
    mine = tmp / "mine.parquet"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    before = tree(tmp)
    code, _, err = _cli("combine", *files, "--dim", "time", "-o", mine, "--overwrite", cwd=tmp)
    assert code == 1 and "not replaced: it is a folder with 1 entry" in err
    assert tree(tmp) == before
    # several files into a folder: every target is checked before any is written
    (tmp / "archive" / f"{files[1].stem}.json").write_text("mine")
    before = tree(tmp)
    code, _, err = _cli("scan", *files, "-o", "archive", "--overwrite", cwd=tmp)
    assert code == 1 and "not replaced" in err and f"{files[1].stem}.json" in err
    assert tree(tmp) == before
    # an earlier output: the hint names the CLI flag
    vz.write(ds, tmp / "c.json")
    code, _, err = _cli("combine", *files, "--dim", "time", "-o", "c.json", cwd=tmp)
    assert code == 1 and err.strip() == "vz: c.json: already exists (kerchunk JSON references written earlier); pass --overwrite to replace it"
    assert _cli("combine", *files, "--dim", "time", "-o", "c.json", "--overwrite", cwd=tmp)[0] == 0


def test_magics_refuse_the_same(work):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    tmp, files, ds = work
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vz_jupyter")
    ip.user_ns["combined"] = ds
    before = tree(tmp)
    for target, fmt, why in [(files[0], "kerchunk-json", "a source file"), ("archive", "kerchunk-parquet", "a folder holding source")]:
        with pytest.raises(UsageError) as e:
            ip.run_line_magic("vz", f"write combined {target} --format {fmt} --overwrite")
        assert why in str(e.value) and "\n" not in str(e.value)
    assert tree(tmp) == before
    ip.run_line_magic("vz", "write combined m.json")
    with pytest.raises(UsageError, match=r"already exists \(kerchunk JSON references written earlier\); pass --overwrite to replace it"):
        ip.run_line_magic("vz", "write combined m.json")
    ip.run_line_magic("vz", "write combined m.json --overwrite")


def test_widget_refuses_the_same(work, monkeypatch):
    """The issue's case: the archive folder typed as the path, overwrite ticked, Write."""
    from vz_jupyter.jupyter.widgets.combine import CombineWidget

    tmp, files, ds = work
    w = CombineWidget([str(f) for f in files], sync=True)
    w.sort(by="time")
    before = tree(tmp)
    for fmt, path, why in [("kerchunk-parquet", "archive", "a folder holding source files"),
                           ("kerchunk-json", str(files[0]), "a source file"),
                           ("icechunk", str(tmp), "a folder holding source files")]:
        w.w_format.value = fmt
        w.w_path.value = path
        assert w.w_write.disabled  # exists: the box must be ticked first
        w.w_overwrite.value = True
        assert not w.w_write.disabled
        w.w_write.click()
        assert w.error.startswith(f"{path}: not replaced: it is {why}") and "\n" not in w.error, w.error
        assert "not replaced" in w.w_write_status.value
        assert tree(tmp) == before
        w.w_overwrite.value = False
    # a race: another writer makes the target between the widget's check and
    # its write -> the core's refusal, worded for the widget
    import vz_jupyter.core.serialize as ser

    real = ser.write

    def racing(vds, target, **kw):
        real(vds, target, format="kerchunk-json")  # the other writer wins
        return real(vds, target, **kw)

    w.w_format.value = "kerchunk-json"
    w.w_path.value = "w.json"
    assert not w.w_write.disabled
    monkeypatch.setattr(ser, "write", racing)
    w.w_write.click()
    assert w.error == "w.json: already exists (kerchunk JSON references written earlier); tick overwrite to replace it"


# -- the target changing under the writer -----------------------------------------------
@pytest.mark.parametrize("rename2", [True, False], ids=["exchange", "portable"])
@pytest.mark.parametrize("fmt", FMTS)
def test_target_swapped_for_a_users_thing_mid_overwrite_is_kept(work, monkeypatch, fmt, rename2):
    """Someone puts their own file or folder at the target between the check and
    the move into place: it is not replaced (swapped back when already moved)."""
    from vz_jupyter.core.serialize import atomic

    tmp, files, ds = work
    monkeypatch.setattr(atomic, "USE_RENAME2", rename2)
    target = tmp / f"t{EXT[fmt]}"
    vz.write(ds, target, format=fmt)
    real = atomic.check_target
    calls = []

    def swap_after_check(*a, **k):
        fp = real(*a, **k)
        if not calls:  # the check in _place passed; now the user's thing takes the place
            calls.append(1)
            os.rename(target, tmp / "moved-away")
            if fmt == "kerchunk-json":
                target.write_text("the user's own file")
            else:
                target.mkdir()
                (target / "mine.txt").write_text("the user's own file")
        return fp

    monkeypatch.setattr(atomic, "check_target", swap_after_check)
    earlier = tree(tmp / target.name) if fmt != "kerchunk-json" else target.read_bytes()
    with pytest.raises(WriteError) as e:
        vz.write(ds, target, format=fmt, overwrite=True)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{target}: ")
    assert "not replaced" in str(e.value)
    moved = tree(tmp / "moved-away") if fmt != "kerchunk-json" else (tmp / "moved-away").read_bytes()
    assert moved == earlier  # we moved it ourselves: untouched
    if fmt == "kerchunk-json":
        assert target.read_text() == "the user's own file"
    else:
        assert tree(target) == {"mine.txt": tree(target)["mine.txt"]}
        assert (target / "mine.txt").read_text() == "the user's own file"
    assert not [p for p in os.listdir(tmp) if p.startswith(".vz-")]


def test_sweep_puts_back_an_earlier_output_moved_aside(work):
    """Killed between moving the earlier output aside and moving the new one in
    (portable path only): the next write puts the earlier output back."""
    import socket

    from vz_jupyter.core.serialize import atomic

    tmp, files, ds = work
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    for present in (False, True):
        folder = tmp / f"case{present}"
        folder.mkdir()
        if present:
            vz.write(ds, folder / "t.parquet")
        tok = f"{int(present):016x}"
        d = folder / f".vz-{p.pid}-{tok}.tmp"
        d.mkdir()
        vz.write(ds, d / "old", format="kerchunk-parquet")
        (d / "out").mkdir()
        st = os.lstat(d / "out")
        (d / "owner.json").write_text(json.dumps({
            "magic": atomic.MAGIC, "pid": p.pid, "start": None, "host": socket.gethostname(), "token": tok,
            "target": "t.parquet", "format": "kerchunk-parquet", "kind": "dir", "out": [st.st_dev, st.st_ino]}))
        earlier = tree(d / "old")
        assert atomic.sweep(str(folder)) == 1
        assert sorted(os.listdir(folder)) == ["t.parquet"]
        if not present:
            assert tree(folder / "t.parquet") == earlier
