"""vz.write: atomic, never over an existing target unless asked, nothing left
behind when serialization fails, one-line WriteErrors."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.errors import VZError, WriteError
from vz_jupyter.core.model import Manifest, Source, VArray, VDataset, VDatasetList

FORMATS = ["r.json", "r.parquet", "r.icechunk"]


@pytest.fixture
def ds(tmp_path):
    data = np.arange(8, dtype="<i4")
    src = tmp_path / "src" / "d.bin"
    src.parent.mkdir()
    src.write_bytes(data.tobytes())
    m = Manifest((str(src),), np.zeros(2, np.uint32), [0, 16], [16, 16])
    v = VArray("a", ("x",), (8,), np.dtype("<i4"), (4,), (), 0, {}, m)
    return VDataset({"a": v}, sources=(Source(str(src)),))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".vz-"))


def _values(target):
    return vz.open(target, decode=False)["a"].values


@pytest.mark.parametrize("name", FORMATS)
def test_refuses_existing_target_unless_overwrite(tmp_path, ds, name):
    out = tmp_path / "out"
    out.mkdir()
    target = out / name
    vz.write(ds, target)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(WriteError, match=r"already exists \(.* written earlier\); pass overwrite=True to replace it") as e:
        vz.write(ds, target)
    assert "\n" not in str(e.value) and str(target) in str(e.value)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # overwrite replaces it with the new content
    v2 = ds["a"].replace(attrs={"version": 2})
    vz.write(ds.with_variable(v2), target, overwrite=True)
    got = vz.open(target, decode=False)
    assert got["a"].attrs["version"] == 2
    np.testing.assert_array_equal(got["a"].values, np.arange(8))
    assert _leftovers(out) == []


@pytest.mark.parametrize("name", FORMATS)
def test_existing_thing_of_other_kind_is_never_replaced(tmp_path, ds, name):
    target = tmp_path / name
    if name.endswith(".json"):
        target.mkdir()  # a directory where a file will go
        (target / "mine.txt").write_text("mine")
    else:
        target.write_text("not a directory")
    with pytest.raises(WriteError, match="already exists .*; choose another path"):
        vz.write(ds, target)
    with pytest.raises(WriteError, match="not replaced: it is a (folder with 1 entry|file of 15 bytes); overwrite replaces only"):
        vz.write(ds, target, overwrite=True)
    assert (target / "mine.txt").read_text() == "mine" if target.is_dir() else target.read_text() == "not a directory"
    assert _leftovers(tmp_path) == []


def _failing(monkeypatch, name):
    """Make the writer of ``name`` fail half-way (after writing something)."""
    if name.endswith(".json"):
        from vz_jupyter.core.serialize import kerchunk_json

        def boom(refs):
            raise RuntimeError("serializer failed")

        monkeypatch.setattr(kerchunk_json, "dumps", boom)
    elif name.endswith(".parquet"):
        from vz_jupyter.core.serialize import kerchunk_parquet

        real = kerchunk_parquet.write_parquet_dir

        def half(tables, dirpath):
            real(tables, dirpath)  # everything written ...
            raise RuntimeError("disk full")  # ... then a failure

        monkeypatch.setattr(kerchunk_parquet, "write_parquet_dir", half)
    else:
        from vz_jupyter.core.serialize import icechunk

        real = icechunk.write_icechunk

        def half(vds, repo, **kw):
            real(vds, repo, **kw)
            raise RuntimeError("disk full")

        monkeypatch.setattr(icechunk, "write_icechunk", half)


@pytest.mark.parametrize("name", FORMATS)
def test_failure_leaves_nothing_behind(tmp_path, ds, monkeypatch, name):
    out = tmp_path / "out"
    out.mkdir()
    _failing(monkeypatch, name)
    with pytest.raises(RuntimeError):
        vz.write(ds, out / name)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", FORMATS)
def test_failed_overwrite_keeps_the_old_target(tmp_path, ds, monkeypatch, name):
    target = tmp_path / name
    vz.write(ds, target)
    _failing(monkeypatch, name)
    with pytest.raises(RuntimeError):
        vz.write(ds.with_variable(ds["a"].replace(attrs={"new": 1})), target, overwrite=True)
    monkeypatch.undo()
    got = vz.open(target, decode=False)
    assert "new" not in got["a"].attrs
    np.testing.assert_array_equal(got["a"].values, np.arange(8))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["r.parquet", "r.icechunk"])
def test_target_appears_only_when_complete(tmp_path, ds, monkeypatch, name):
    """The output is built in a temporary sibling and renamed into place."""
    seen = {}
    if name.endswith(".parquet"):
        from vz_jupyter.core.serialize import kerchunk_parquet as mod

        fn = "write_parquet_dir"
    else:
        from vz_jupyter.core.serialize import icechunk as mod

        fn = "write_icechunk"
    real = getattr(mod, fn)

    def spy(obj, path, **kw):
        seen["tmp"] = path
        seen["target_exists_during_write"] = os.path.exists(tmp_path / name)
        return real(obj, path, **kw)

    monkeypatch.setattr(mod, fn, spy)
    vz.write(ds, tmp_path / name)
    assert seen["target_exists_during_write"] is False
    staging = os.path.dirname(seen["tmp"])  # a private sibling: .vz-<pid>-<token>.tmp/out
    assert os.path.dirname(staging) == str(tmp_path) and os.path.basename(staging).startswith(f".vz-{os.getpid()}-")
    assert not os.path.exists(staging)
    np.testing.assert_array_equal(_values(tmp_path / name), np.arange(8))


@pytest.mark.parametrize("name", FORMATS)
def test_output_permissions_follow_umask(tmp_path, ds, name):
    """Temporary files are private (0600/0700); the finished output is not."""
    target = tmp_path / name
    vz.write(ds, target)
    mode = stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    expected = (0o777 if target.is_dir() else 0o666) & ~umask
    assert mode == expected, oct(mode)


@pytest.mark.parametrize("name", FORMATS)
def test_missing_parent_folder(tmp_path, ds, name):
    target = tmp_path / "no" / "such" / name
    with pytest.raises(WriteError) as e:
        vz.write(ds, target)
    msg = str(e.value)
    assert "\n" not in msg and "does not exist" in msg and str(tmp_path / "no" / "such") in msg
    assert not (tmp_path / "no").exists()


def test_os_errors_while_writing_are_write_errors(tmp_path, ds, monkeypatch):
    from vz_jupyter.core.serialize import kerchunk_parquet

    def full(tables, dirpath):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kerchunk_parquet, "write_parquet_dir", full)
    with pytest.raises(WriteError, match="cannot write \\(No space left on device\\)"):
        vz.write(ds, tmp_path / "r.parquet")
    assert list(p for p in tmp_path.iterdir() if p.name != "src") == []


def test_format_from_name_or_argument(tmp_path, ds):
    with pytest.raises(WriteError, match="cannot tell the output format") as e:
        vz.write(ds, tmp_path / "refs.txt")
    assert "\n" not in str(e.value)
    out = vz.write(ds, tmp_path / "refs.txt", format="kerchunk-json")
    assert json.loads((tmp_path / "refs.txt").read_text())["version"] == 1
    assert out == str(tmp_path / "refs.txt")
    with pytest.raises(WriteError, match="unknown format"):
        vz.write(ds, tmp_path / "x.json", format="netcdf")
    assert not (tmp_path / "x.json").exists()


def test_lists_and_other_objects(tmp_path, ds):
    with pytest.raises(VZError, match="2 datasets given"):
        vz.write(VDatasetList([ds, ds]), tmp_path / "r.json")
    vz.write(VDatasetList([ds]), tmp_path / "one.json")
    assert (tmp_path / "one.json").exists()
    with pytest.raises(VZError, match="expected a VDataset"):
        vz.write({"a": 1}, tmp_path / "r.json")
