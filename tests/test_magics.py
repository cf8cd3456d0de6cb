"""%vz in a real IPython shell: routing, rich return values, UsageErrors."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from vz_jupyter.core.model import VDataset, VDatasetList
from vz_jupyter.sample_data import make_daily_netcdf4


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "vz_jupyter")
    yield shell


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_daily_netcdf4(tmp_path_factory.mktemp("m"), n_files=2)


def test_load_ext_registers_vz_and_config(ip):
    assert "vz" in ip.magics_manager.magics["line"]
    assert any(type(c).__name__ == "VzMagics" for c in ip.configurables)


def test_scan_returns_rich_datasets_and_stores_name(ip, files):
    folder = files[0].parent
    res = ip.run_line_magic("vz", f"scan {folder}/*.nc -o ds")
    assert isinstance(res, VDatasetList) and len(res) == 2
    assert ip.user_ns["ds"] is res
    assert all(isinstance(d, VDataset) for d in res)
    html = res._repr_html_()
    assert "air" in html and "<svg" in html


def test_write_then_open(ip, files, tmp_path):
    ip.run_line_magic("vz", f"scan {files[0]} -o one")
    target = tmp_path / "refs.json"
    ip.run_line_magic("vz", f"write one {target}")
    assert target.exists()
    got = ip.run_line_magic("vz", f"open {target} -o xds")
    assert ip.user_ns["xds"] is got
    with xr.open_dataset(files[0]) as want:
        np.testing.assert_array_equal(got["air"].values, want["air"].values)


def test_write_refuses_existing_target(ip, files, tmp_path):
    ip.run_line_magic("vz", f"scan {files[0]} -o one")
    target = tmp_path / "r.json"
    target.write_text("keep")
    with pytest.raises(UsageError, match="already exists"):
        ip.run_line_magic("vz", f"write one {target}")
    assert target.read_text() == "keep"


@pytest.mark.parametrize("line, words", [
    ("scan", "the following arguments are required: PATHS (see %vz scan --help)"),
    ("frobnicate", "unknown verb 'frobnicate'"),
    ("scann x.nc", "did you mean 'scan'?"),
    ("scan /definitely/not/here.nc", "no such file"),
    ("write nothing_named_this out.json", "no variable named 'nothing_named_this' in this notebook"),
    ('plan nosuchname "air[0]"', "no variable named 'nosuchname' in this notebook, and no file of that name"),
    ("check nosuchname --dim time", "no variable named 'nosuchname'"),
    ("scan x.nc -o 1bad", ""),
])
def test_mistakes_are_one_line_usage_errors(ip, line, words):
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vz", line)
    msg = str(e.value)
    assert "\n" not in msg.strip()
    assert words in msg


def test_help_prints(ip, capsys):
    assert ip.run_line_magic("vz", "help") is None
    assert "%vz scan" in capsys.readouterr().out


@pytest.mark.parametrize("line", ["scan --help", "scan -h", "help scan"])
def test_verb_help_is_help_not_an_error(ip, capsys, line):
    assert ip.run_line_magic("vz", line) is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %vz scan [-o NAME]")
    assert "PATHS                 files, globs or URLs" in out
    assert "--inline-threshold BYTES" in out and "example:\n  %vz scan data/*.nc -o dsets" in out
    assert "required" not in out


def test_every_verb_has_help(ip, capsys):
    from vz_jupyter.jupyter.magics import VERBS

    for verb in VERBS:
        ip.run_line_magic("vz", f"help {verb}")
        out = capsys.readouterr().out
        assert out.startswith(f"usage: %vz {verb}") and "example:" in out, verb


def test_question_mark_shows_the_overview(ip):
    doc = ip.find_line_magic("vz").__doc__
    # what %vz? shows: every verb with a line, examples, no RST markup
    for verb in ("scan", "info", "check", "sort", "concat", "combine", "write", "open", "plan"):
        assert f"\n  {verb} " in doc
    assert "%vz scan data/*.nc -o dsets" in doc and "%vz VERB --help" in doc
    assert "``" not in doc
    # the kernel answers "%vz?" with this inspection
    text = ip.object_inspect_mime("%vz")["text/plain"]
    assert "Examples:" in text and "%vz VERB --help" in text


def test_tab_completes_verbs_and_options(ip):
    from IPython.core.completer import provisionalcompleter

    def complete(text):
        with provisionalcompleter():
            return [c.text for c in ip.Completer.completions(text, len(text))]

    assert complete("%vz s") == ["scan", "sort"]
    assert set(complete("%vz ")) >= {"scan", "check", "combine", "plan", "help"}
    assert complete("%vz scan --gr") == ["--group"]
    assert "--dim" in complete("%vz check x --d")


def test_dataset_names_complete(ip, files):
    from IPython.core.completer import provisionalcompleter

    ip.run_line_magic("vz", f"scan {files[0]} -o my_scan")
    with provisionalcompleter():
        got = [c.text for c in ip.Completer.completions("%vz plan my_", 11)]
    assert "my_scan" in got


def test_mistyped_dim_suggests_the_real_one(ip, files):
    folder = files[0].parent
    for line in (f"check {folder}/*.nc --dim tiem", f"concat {folder}/*.nc --dim tiem",
                 f"combine {folder}/*.nc --dim tiem"):
        with pytest.raises(UsageError, match=r"dimension 'tiem' is not in these files; did you mean 'time'\?"):
            ip.run_line_magic("vz", line)


def test_open_a_data_file_says_scan_it_first(ip, files):
    with pytest.raises(UsageError, match="this is an HDF5/NetCDF4 data file, not references; scan it first"):
        ip.run_line_magic("vz", f"open {files[0]}")


def test_long_scan_shows_progress_then_one_line(ip, tmp_path, monkeypatch):
    from IPython.core import display_functions

    from vz_jupyter.jupyter import magics
    from vz_jupyter.sample_data import make_daily_archive

    make_daily_archive(tmp_path, 60)
    shown = []

    class Handle:
        def update(self, obj, raw=False):
            shown.append(obj["text/plain"])

    def fake_display(obj, raw=False, display_id=None):
        shown.append(obj["text/plain"])
        return Handle()

    monkeypatch.setattr(display_functions, "display", fake_display)
    monkeypatch.setattr("IPython.display.display", fake_display)
    monkeypatch.setattr(magics._Progress, "DELAY", 0.0)
    monkeypatch.setattr(magics._Progress, "EVERY", 0.0)
    res = ip.run_line_magic("vz", f"scan {tmp_path}/*.nc")
    assert len(res) == 60
    assert shown[0].startswith("scanning 1/60 files · day_001.nc")
    assert shown[-1].startswith("scanned 60 of 60 files in ")
    assert len(shown) >= 3
