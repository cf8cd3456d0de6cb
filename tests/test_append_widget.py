"""The combine widget's append mode: the archive first and locked, the append
report, the Append button (state driven directly, no browser)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import vz_jupyter as vz
from vz_jupyter.core.errors import VZError, WriteError
from vz_jupyter.jupyter.widgets.combine import CombineWidget

sys.path.insert(0, str(Path(__file__).parent))
from _append_data import judge, make_day  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wdays")
    return [make_day(folder, k) for k in range(5)]


@pytest.mark.parametrize("ext", [".parquet", ".icechunk"])
def test_append_mode_keeps_the_archive_first_checks_and_appends(tmp_path, days, ext):
    target = tmp_path / f"archive{ext}"
    vz.write(vz.concat(vz.scan(days[:2]), "time"), target)
    bad = make_day(tmp_path / "bad", 4, scale=0.02, name="day_004_bad.nc")
    w = CombineWidget([days[3], days[2], bad], append_to=str(target), sync=True)
    assert w.files[0] == str(target) and w.labels[0] == f"archive{ext} (the archive, 2 files; stays first)"
    assert w.w_write.description == "Append" and w.w_path.disabled and w.w_format.disabled
    assert isinstance(w.report, vz.AppendReport) and "scale-offset" in w.report.codes
    assert w.write_disabled_reason.startswith("the check report has 1 error")
    with pytest.raises(WriteError, match="not appended"):
        w.write()
    w.sort()  # the new files in time order, the archive still first
    assert w.labels[1:] == ["day_002.nc", "day_003.nc", "day_004_bad.nc"]
    with pytest.raises(VZError, match="cannot be left out"):
        w.remove(str(target))
    w.move(str(days[3]), str(target))  # dropped before the archive: it goes back after it
    assert w.files[0] == str(target) and "stays first" in w.notice[0]
    w.sort()
    w.remove(str(bad))
    assert w.write_disabled_reason is None and w.report.ok
    assert "ready to append 2 files to" in w.w_write_status.value
    assert w.combined["air"].shape == (16, 12, 20) or ext == ".icechunk"
    written = w.write()
    assert written == str(target.resolve()) or written == str(target.absolute())
    assert w.files == [str(target)] and "(the archive, 4 files; stays first)" in w.labels[0]
    assert w.notice[0].startswith("appended 2 files to") and "(time 8 → 16)" in w.notice[0]
    assert w.write_disabled_reason == "no files to append"
    assert judge(target, "icechunk" if ext == ".icechunk" else "refs", days[:4])["bad"] == []
    assert "vz append to" in w.static_html()


def test_append_mode_refuses_files_already_in_the_archive(tmp_path, days):
    target = tmp_path / "archive.json"
    vz.write(vz.concat(vz.scan(days[:2]), "time"), target)
    w = CombineWidget([days[1], days[2]], append_to=str(target), sync=True)
    assert "already-appended" in w.report.codes and w.write_disabled_reason is not None
    w.remove(str(days[1]))
    assert w.write_disabled_reason is None


def test_magic_combine_append_to(tmp_path, days):
    from IPython.core.interactiveshell import InteractiveShell

    target = tmp_path / "archive.json"
    vz.write(vz.concat(vz.scan(days[:2]), "time"), target)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vz_jupyter")
    w = ip.run_line_magic("vz", f"combine {days[2]} --dim time --append-to {target}")
    w.wait()
    assert isinstance(w, CombineWidget) and w.append_to == str(target) and w.files[0] == str(target)
    assert w.report is not None and w.report.ok
