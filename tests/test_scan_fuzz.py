"""Coverage-guided fuzzing of the scanners (atheris), and the inputs it found.

* default: every kept input in tests/fuzz/regressions/ (our own crafted files)
  is checked, and a short, time-boxed atheris run over the NetCDF3 scanner;
* ``-m fuzz``: long runs over the NetCDF3 and HDF5 scanners (VZ_FUZZ_SECONDS,
  default 300 each). libhdf5 itself crashes (SIGSEGV) on some damaged files:
  such findings are sorted out by reproducing them with plain h5py, then the
  run goes on; any other finding fails the test and is kept for inspection.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FUZZ = HERE / "fuzz"
REGRESSIONS = FUZZ / "regressions"
MAGIC = b"\x89HDF\r\n\x1a\n"

sys.path.insert(0, str(FUZZ))
import fuzz_netcdf3  # noqa: E402
from _hostile_scan import make_h5_seeds, make_nc3_seeds, run_one  # noqa: E402


def _atheris():
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("atheris is not installed")


# --------------------------------------------------------------------------- kept inputs
@pytest.mark.parametrize("path", sorted((REGRESSIONS / "netcdf3").glob("*")), ids=lambda p: p.name)
def test_netcdf3_regression_inputs(path):
    fuzz_netcdf3.check(path.read_bytes())


@pytest.mark.parametrize("path", sorted((REGRESSIONS / "hdf5").glob("*")), ids=lambda p: p.name)
def test_hdf5_regression_inputs(path, tmp_path):
    p = tmp_path / path.name
    shutil.copy(path, p)
    res = run_one(str(p))
    # hdf5-crash: libhdf5 dies by SIGSEGV on it with plain h5py too (kept to notice
    # when a newer HDF5 fixes it, or when our code starts failing differently)
    assert res["kind"] in ("ok", "error", "hdf5-crash"), res


# --------------------------------------------------------------------------- atheris runs
def _fuzz(harness: str, seeds: list[Path], seconds: float, tmp: Path, classify) -> dict:
    """Run ``harness`` for ``seconds`` (restarting after findings that
    ``classify`` calls known); returns runs, restarts, known and new findings."""
    corpus, art = tmp / "corpus", tmp / "artifacts"
    seed_dir = tmp / "seeds"
    for d in (corpus, art, seed_dir):
        d.mkdir(exist_ok=True)
    for s in seeds:
        shutil.copy(s, seed_dir / s.name)
    env = {**os.environ, "VZ_HDF5_VLEN_TIMEOUT": "2"}
    deadline = time.monotonic() + seconds
    runs = restarts = 0
    known, new = [], []
    seen: set[str] = set()
    while (left := deadline - time.monotonic()) > 2:
        r = subprocess.run([sys.executable, str(FUZZ / harness), f"-max_total_time={int(left)}",
                            f"-artifact_prefix={art}/", "-rss_limit_mb=3000", "-timeout=60", "-print_final_stats=1",
                            str(corpus), str(seed_dir)], capture_output=True, text=True, timeout=seconds + 120,
                           env=env, cwd=tmp)
        runs += sum(int(m) for m in re.findall(r"stat::number_of_executed_units:\s+(\d+)", r.stderr))
        found = [a for a in sorted(art.iterdir()) if a.name not in seen]
        seen.update(a.name for a in found)
        if r.returncode == 0 and not found:
            break
        if not found:
            new.append({"input": None, "why": f"exit {r.returncode}: {r.stderr[-1500:]}"})
            break
        for a in found:
            kind = classify(a, tmp)
            if kind != "known":  # keep it where a later run (or pytest's tmp rotation) cannot remove it
                keep = Path(os.environ.get("VZ_FUZZ_FINDINGS", FUZZ / "findings"))
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(a, keep / f"{harness[:-3]}-{a.name}")
            (known if kind == "known" else new).append({"input": str(a), "why": kind})
        if new:
            break
        restarts += 1
    return {"runs": runs, "restarts": restarts, "known": known, "new": new}


def _classify_nc3(artifact: Path, tmp: Path) -> str:
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[2]); import fuzz_netcdf3;"
                        "fuzz_netcdf3.check(open(sys.argv[1], 'rb').read())", str(artifact), str(FUZZ)],
                       capture_output=True, text=True, timeout=120)
    return "ok" if r.returncode == 0 else f"exit {r.returncode}: {r.stderr[-800:]}"


def _classify_h5(artifact: Path, tmp: Path) -> str:
    data = artifact.read_bytes()
    p = tmp / (artifact.name + ".h5")
    p.write_bytes(data if data.startswith(MAGIC) else MAGIC + data)
    res = run_one(str(p))
    return "known" if res["kind"] == "hdf5-crash" else f"{res['kind']}: {res.get('msg', '')} {res.get('where', '')}"


def test_atheris_netcdf3_short(tmp_path):
    """A short coverage-guided run in the default suite."""
    _atheris()
    out = _fuzz("fuzz_netcdf3.py", make_nc3_seeds(tmp_path), float(os.environ.get("VZ_FUZZ_SHORT", "8")),
                tmp_path, _classify_nc3)
    assert not out["new"], out
    assert out["runs"] > 100


@pytest.mark.fuzz
def test_atheris_netcdf3_long(tmp_path):
    _atheris()
    out = _fuzz("fuzz_netcdf3.py", make_nc3_seeds(tmp_path), float(os.environ.get("VZ_FUZZ_SECONDS", "300")),
                tmp_path, _classify_nc3)
    print(f"netcdf3: {out['runs']:,} inputs run, {len(out['new'])} findings")
    assert not out["new"], out


@pytest.mark.fuzz
def test_atheris_hdf5_long(tmp_path):
    _atheris()
    seeds = make_h5_seeds(tmp_path)
    out = _fuzz("fuzz_hdf5.py", seeds, float(os.environ.get("VZ_FUZZ_SECONDS", "300")), tmp_path, _classify_h5)
    print(f"hdf5: {out['runs']:,} inputs run, {out['restarts']} restarts after {len(out['known'])} libhdf5 "
          f"crashes (plain h5py crashes too), {len(out['new'])} findings")
    assert not out["new"], out
