"""Coverage-guided fuzzing (atheris / libFuzzer) of the NetCDF3 scanner: the
header parser and the step that turns a header into manifests, on bytes in
memory. Anything but a one-line ScanError naming the file is a finding.

    python tests/fuzz/fuzz_netcdf3.py -max_total_time=60 CORPUS_DIR [SEED_DIR ...]

libFuzzer writes findings as ``crash-*`` / ``oom-*`` / ``timeout-*`` files
(``-artifact_prefix=DIR/``); keep them in tests/fuzz/regressions/netcdf3/ once
fixed: the default suite runs every file there through :func:`check`.
"""
from __future__ import annotations

import sys
import warnings

try:
    import atheris
except ImportError:  # the regression check runs without atheris
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["vz_jupyter"]):
        from vz_jupyter.core.errors import ScanError
        from vz_jupyter.core.model import Source
        from vz_jupyter.core.scan import netcdf3
else:
    from vz_jupyter.core.errors import ScanError
    from vz_jupyter.core.model import Source
    from vz_jupyter.core.scan import netcdf3

PATH = "fuzz.nc"
VERSIONS = (1, 2, 5)


class _MemReader:
    """netcdf3._Reader over bytes in memory."""

    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset:offset + max(length, 0)]

    def read_ranges(self, starts, ends):
        return [self.data[s:e] for s, e in zip(starts, ends)]

    def close(self):
        pass


def as_nc3(data: bytes) -> bytes:
    """Fuzzer bytes as a file: inputs that do not start with a NetCDF3 magic
    get one (chosen by their first byte), so every input reaches the parser."""
    if data[:3] == b"CDF":
        return data
    v = VERSIONS[data[0] % 3] if data else 1
    return b"CDF" + bytes([v]) + data[1:]


def check(data: bytes) -> None:
    """Scan ``data`` (as a file of that size); only ScanError may escape."""
    data = as_nc3(data)
    reader = _MemReader(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header, prefix = netcdf3.parse_header(PATH, reader.read, len(data), 4096)
            source = Source(PATH, len(data), 0.0, None, header.format_name)
            ds = netcdf3._build(PATH, header, prefix, reader, len(data), source, 500)
        for v in ds.variables.values():  # every reference lies inside the file
            m = v.manifest
            ref = m.path_id <= 0xFFFFFFFD
            if ref.any():
                assert int((m.offset[ref] + m.length[ref]).max()) <= len(data), v.name
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
