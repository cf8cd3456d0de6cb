"""The house rules (DESIGN §1, issue 9): modules under ~600 lines, functions under ~60
lines or saying why, function-local imports only with a reason, no import cycle.
``tools/house_report.py --check`` decides; its totals are printed on every run (-rA or -s)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "house_report.py")


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_report_runs_and_counts():
    r = _run("--json")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    totals = report["totals"]
    print("house totals:", json.dumps(totals))
    assert totals["modules"] > 40 and totals["lines"] > 10_000
    paths = {m["path"] for m in report["modules"]}
    assert "vz_jupyter/core/model.py" in paths and "vz_jupyter_codecs/__init__.py" in paths


def test_report_finds_each_kind_of_violation(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import house_report as hr
    finally:
        sys.path.pop(0)
    pkg = tmp_path / "vz_jupyter"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    (pkg / "a.py").write_text(
        "from vz_jupyter import b\n"
        f"def long_one():\n{body}\n"
        f'def long_ok():\n    """Does it.\n\n    Long because: one table.\n    """\n{body}\n'
        "def local():\n    import json\n    import os  # optional: nothing\n    import re  # noqa: F401\n"
        "    # heavy: pyarrow\n    import sys\n"
        + "\n" * 600
    )
    (pkg / "b.py").write_text("def f():\n    from vz_jupyter import a  # load order: a imports b\n")
    monkeypatch.setattr(hr, "ROOT", tmp_path)
    monkeypatch.setattr(hr, "PACKAGES", ("vz_jupyter",))
    t = hr.collect()["totals"]
    assert t["modules_over_600"] == 1
    assert (t["functions_over_60"], t["functions_over_60_without_reason"]) == (2, 1)
    assert (t["local_imports"], t["local_imports_without_comment"]) == (5, 2)  # a bare noqa is no reason
    assert t["import_cycles"] == 1
    assert t["violations"] == 5


def test_house_rules_hold():
    r = _run("--check")
    print(r.stdout.rsplit("\n\n", 1)[-1])
    assert r.returncode == 0, r.stdout[-4000:]
