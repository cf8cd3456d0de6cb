"""Coverage-guided fuzzing (atheris) of the reference loader and the selection
parser, through ``tests/fuzz/run.py``.

* Every input kept in ``tests/fuzz/crashers/<target>/`` (inputs that once
  crashed a target) is replayed here in the default suite: each must now be
  handled (a value or a one-line error).
* A short time-boxed run of each target is part of the default suite (a few
  seconds); ``pytest -m fuzz`` runs each for ``VZ_FUZZ_SECONDS`` (default 300).
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
# targets that follow run.py's interface (the scanners' harnesses run through tests/test_scan_fuzz.py)
TARGETS = ["fuzz_refs", "fuzz_selection"]
sys.path.insert(0, str(FUZZ))


def _kept(target: str) -> list[Path]:
    folder = FUZZ / "crashers" / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


CASES = [(t, p) for t in TARGETS for p in _kept(t)]


@pytest.mark.parametrize("target,path", CASES, ids=[f"{t}/{p.name[:24]}" for t, p in CASES])
def test_kept_crashers_are_handled_now(target, path):
    mod = importlib.import_module(target)
    if hasattr(mod, "setup"):
        mod.setup()
    mod.test_one_input(path.read_bytes())  # raises (fails) if the bug is back


def _run(target: str, seconds: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FUZZ / "run.py"), target, str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 120, cwd=str(FUZZ.parent.parent))


def _check(r: subprocess.CompletedProcess, target: str):
    if r.returncode == 3 and "atheris is not installed" in r.stderr:
        pytest.skip("atheris is not installed")
    assert r.returncode == 0, f"{target} found a crasher (kept in tests/fuzz/crashers/{target}/):\n{r.stderr[-3000:]}"
    assert "Done" in r.stderr and "number_of_executed_units" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_smoke(target):
    """A few seconds of coverage-guided fuzzing per target in the default run."""
    _check(_run(target, int(os.environ.get("VZ_FUZZ_SMOKE_SECONDS", "4"))), target)


@pytest.mark.fuzz
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_long(target, request):
    """The long run: ``pytest -m fuzz`` (``VZ_FUZZ_SECONDS`` per target, default 300)."""
    if "fuzz" not in (request.config.getoption("-m") or "") or "not fuzz" in request.config.getoption("-m"):
        pytest.skip("the long fuzz run is opt-in: pytest -m fuzz")
    _check(_run(target, int(os.environ.get("VZ_FUZZ_SECONDS", "300"))), target)
