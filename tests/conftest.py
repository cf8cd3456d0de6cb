"""Shared fixtures. Area-specific fixtures live in the test modules (or in
``tests/_files.py`` helpers) of each area."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path | None:
    """``$VZ_REAL_DATA`` or ``../shared/data/real`` next to the project; None when absent."""
    env = os.environ.get("VZ_REAL_DATA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "real"]:
        if cand.is_dir():
            return cand
    return None


REAL_DATA = real_data_dir()
REAL_FILES = sorted(p for p in REAL_DATA.iterdir() if p.suffix in (".nc", ".h5")) if REAL_DATA else []


@pytest.fixture
def real_data() -> Path:
    if REAL_DATA is None:
        pytest.skip("real sample files not present (set VZ_REAL_DATA or provide ../shared/data/real)")
    return REAL_DATA


# the S3 server and dask cluster of the scale tests, one each per session
from _scale_fixtures import dask_client, s3  # noqa: E402,F401
