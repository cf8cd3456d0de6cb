"""Run one coverage-guided fuzz target for a while (atheris / libFuzzer).

    python tests/fuzz/run.py TARGET SECONDS [--runs N] [--jobs-dir DIR]

``TARGET`` is a module in this folder (``fuzz_refs``, ``fuzz_selection``, ...)
that defines ``test_one_input(data: bytes)`` (raise nothing for a handled
input: our one-line :class:`VZError` counts as handled) and may define
``SEEDS`` (a list of bytes) and ``setup()`` (called once before fuzzing).
Seeds come from ``SEEDS``, from ``corpus/<TARGET>/`` and from
``crashers/<TARGET>/``. A crash (an uncaught exception, a timeout of
``--timeout`` seconds, memory past ``--rss-mb``) is written by libFuzzer to
``crashers/<TARGET>/`` and the run exits non-zero: commit the file, fix the bug,
and ``tests/test_fuzz.py`` replays every kept crasher in the default suite.

atheris ships wheels for CPython 3.11 on Linux x86_64 (no compiler needed);
elsewhere ``pip install atheris`` needs clang. Without it this runner says so
and exits 3 (the tests then skip).
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load(target: str):
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.dirname(HERE))  # tests/ (for _hostile_refs and friends)
    return importlib.import_module(target)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("seconds", type=int)
    ap.add_argument("--runs", type=int, default=-1, help="stop after this many inputs (default: time only)")
    ap.add_argument("--timeout", type=int, default=20, help="seconds one input may take (a hang past it is a crash)")
    ap.add_argument("--rss-mb", type=int, default=3072, help="memory one run may use (a bomb past it is a crash)")
    args = ap.parse_args(argv)
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris; needs clang where no wheel exists)", file=sys.stderr)
        return 3
    with atheris.instrument_imports(include=["vz_jupyter"]):
        import vz_jupyter.core.opening  # noqa: F401
        import vz_jupyter.core.plan  # noqa: F401
        import vz_jupyter.core.scan.refs  # noqa: F401
        mod = load(args.target)
    if hasattr(mod, "setup"):
        mod.setup()
    crashers = os.path.join(HERE, "crashers", args.target)
    os.makedirs(crashers, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"vz-fuzz-{args.target}-")
    for i, seed in enumerate(getattr(mod, "SEEDS", [])):
        with open(os.path.join(work, f"seed-{i}"), "wb") as f:
            f.write(seed)
    for folder in (os.path.join(HERE, "corpus", args.target), crashers):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                shutil.copy(os.path.join(folder, name), os.path.join(work, name))
    flags = [sys.argv[0], work, f"-max_total_time={args.seconds}", f"-timeout={args.timeout}",
             f"-rss_limit_mb={args.rss_mb}", f"-artifact_prefix={crashers}/", "-print_final_stats=1"]
    if args.runs >= 0:
        flags.append(f"-runs={args.runs}")
    atheris.Setup(flags, mod.test_one_input)
    try:
        atheris.Fuzz()  # exits the process itself (0 when time is up, non-zero on a crash)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
