#!/usr/bin/env bash
# Create (or refresh) .venv-peers: the peer tools the benchmarks compare vz_jupyter with.
#
# The peers live in a venv of their own so their pins never clash with the project's
# .venv. The benchmark scripts run them through this venv's python in a subprocess
# and collect JSON timings, so one command measures everything side by side.
#
# Idempotent: a stamp file records the requirement set; nothing is reinstalled when
# it matches. Quiet unless something goes wrong.  Usage:  bash benchmarks/setup_peers.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${VZ_PEERS_VENV:-$root/.venv-peers}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

# Versions that install on Python 3.11 (VirtualiZarr 2.6+ and zarr 3.2+ need 3.12).
# virtualizarr[hdf] brings its HDF5 parser's needs: h5py, hdf5plugin, imagecodecs,
# imagecodecs-numcodecs; obstore and obspec_utils are core dependencies of 2.x.
# icechunk: VirtualiZarr's to_icechunk; fastparquet: kerchunk's parquet references (the append benchmark).
reqs=(
  "kerchunk==0.2.10"
  "virtualizarr[hdf]==2.5.1"
  "zarr>=3.1,<3.2"
  "numcodecs>=0.15,<0.17"
  "h5py>=3.10"
  "hdf5plugin>=4.4"
  "netCDF4>=1.7"
  "xarray>=2025.6"
  "fsspec>=2024.6"
  "ujson"
  "aiohttp"          # fsspec's HTTP filesystem (kerchunk over http:// in bench_remote.py)
  "numpy>=2.1"
  "icechunk>=1.1,<2"
  "fastparquet"
)
stamp="$venv/.vz-peers-stamp"
want="$(printf '%s\n' "${reqs[@]}")"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

# pip, silent on success, its whole log (minus local index-location chatter) on failure
pip_quiet() {
  local log rc=0
  log="$(mktemp)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    grep -v 'is ignored: it is neither a file nor a directory' "$log" >&2 || true
  fi
  rm -f "$log"
  return $rc
}

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
pip_quiet "${reqs[@]}"
# fail loudly now rather than in the middle of a benchmark
"$venv/bin/python" - <<'PY'
import kerchunk.hdf, virtualizarr, virtualizarr.parsers, h5py, zarr, xarray, icechunk  # noqa: F401
from virtualizarr.parsers import HDFParser  # noqa: F401
PY
printf '%s\n' "${reqs[@]}" > "$stamp"
