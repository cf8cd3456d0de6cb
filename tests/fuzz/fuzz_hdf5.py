"""Coverage-guided fuzzing (atheris / libFuzzer) of the HDF5 scanner: each
input is written to a file and scanned, shown and serialized. Anything but a
one-line ScanError naming the file is a finding. libhdf5 itself crashes
(SIGSEGV) on some damaged files; run with ``-fork=1 -ignore_crashes=1`` and
sort the findings with tests/_hostile_scan.py's ``run_one`` (kind
``hdf5-crash``: plain h5py crashes too).

    VZ_HDF5_VLEN_TIMEOUT=2 python tests/fuzz/fuzz_hdf5.py -max_total_time=60 CORPUS_DIR [SEED_DIR ...]
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings

try:
    import atheris
except ImportError:
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["vz_jupyter"]):
        import vz_jupyter as vz
        from vz_jupyter.core.errors import ScanError
        from vz_jupyter.core.scan import hdf5  # noqa: F401
else:
    import vz_jupyter as vz
    from vz_jupyter.core.errors import ScanError

_DIR = tempfile.mkdtemp(prefix="vz-fuzz-h5-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
PATH = os.path.join(_DIR, "fuzz.h5")
MAGIC = b"\x89HDF\r\n\x1a\n"


def check(data: bytes) -> None:
    if not data.startswith(MAGIC):
        data = MAGIC + data
    with open(PATH, "wb") as f:
        f.write(data)
    from vz_jupyter.core import limits

    limits.MAX_GRID = 1 << 20  # what shows or writes a grid visits every chunk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = vz.scan_file(PATH, errors="skip")
            repr(ds)
            ds._repr_html_()
            vz.serialize(ds)
    except ScanError as e:
        msg = str(e)
        if "\n" in msg or not msg.startswith(PATH + ": "):
            raise AssertionError(f"not a one-line error naming the file: {msg!r}") from None


def main(argv) -> None:
    if atheris is None:
        sys.exit("atheris is not installed (pip install atheris)")
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
