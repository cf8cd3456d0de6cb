#!/usr/bin/env python3
"""Build the environment Binder builds from ``binder/``, without Docker.

repo2docker, for a repository with ``binder/runtime.txt`` + ``binder/requirements.txt``
+ ``binder/postBuild`` (and nothing else it reads: the root ``pyproject.toml`` is
ignored once ``binder/`` exists):

1. installs the Python named in ``runtime.txt`` (``python-3.11``) with its base
   environment (``repo2docker/buildpacks/conda/environment.py-3.11.yml``: JupyterLab 4,
   notebook 7, jupyter_server 2, ipywidgets 8 — plus JupyterHub's single-user server,
   resource-usage and offline-notebook extensions, which only serve the hub and are
   left out here);
2. ``pip install -r binder/requirements.txt`` from the repository root;
3. runs ``./binder/postBuild`` from the repository root, with that environment's
   ``python`` first on the PATH.

This script does the same in a fresh virtual environment (default ``.venv-binder``).
The environment is reused while its inputs are unchanged (``binder/*``, the root
``pyproject.toml`` postBuild installs from, and this script): a hash of them is kept
in the environment. The wheels of the first (online) build are kept in
``.cache/binder-wheels`` (like Binder's image cache); later builds install from there
without the network (well under a minute) and fall back to an online build when a
changed requirement needs a wheel that is not there. Prints the environment's python.

    python tools/binder_env.py [--venv DIR] [--force]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
#: repo2docker's base environment for Python 3.11 (the parts a kernel and JupyterLab use)
BASE = ["jupyterlab==4.*", "notebook==7.*", "jupyter_server==2.*", "ipywidgets==8.*"]
KEY_FILE = ".binder-key"
WHEELS = ROOT / ".cache" / "binder-wheels"


def inputs_key() -> str:
    h = hashlib.sha256()
    for p in sorted(BINDER.iterdir()) + [ROOT / "pyproject.toml", Path(__file__).resolve()]:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(" ".join(BASE).encode())
    return h.hexdigest()


def runtime_python() -> str:
    """An interpreter of the version runtime.txt names (``python-3.11``)."""
    text = (BINDER / "runtime.txt").read_text().strip()
    if not text.startswith("python-"):
        raise SystemExit(f"binder/runtime.txt: expected python-X.Y, found {text!r}")
    want = text[len("python-"):]
    if ".".join(map(str, sys.version_info[:2])) == want:
        return sys.executable
    exe = shutil.which(f"python{want}")
    if exe is None:
        raise SystemExit(f"binder/runtime.txt asks for Python {want}, and python{want} is not on the PATH")
    return exe


def run(cmd, **kw) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _install(venv: Path, extra_env: dict) -> None:
    """The three steps repo2docker takes, in a fresh virtual environment."""
    if venv.exists():
        shutil.rmtree(venv)
    run([runtime_python(), "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    env = dict(os.environ, VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               **extra_env)
    env.pop("PYTHONPATH", None)
    pip = [str(py), "-m", "pip", "install", "-q"]
    run(pip + BASE, cwd=ROOT, env=env)
    req = BINDER / "requirements.txt"
    if req.exists():
        run(pip + ["-r", str(req.relative_to(ROOT))], cwd=ROOT, env=env)
    post = BINDER / "postBuild"
    if post.exists():
        if not os.access(post, os.X_OK):
            raise SystemExit("binder/postBuild is not executable (repo2docker runs it as ./binder/postBuild)")
        run(["./binder/postBuild"], cwd=ROOT, env=env)


def _keep_wheels(venv: Path) -> None:
    """Keep the wheels of every installed distribution (and the package's build
    backend) for the next build."""
    py = str(venv / "bin" / "python")
    WHEELS.mkdir(parents=True, exist_ok=True)
    frozen = subprocess.run([py, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True,
                            text=True).stdout
    lock = WHEELS / "requirements.lock"
    lock.write_text(frozen)
    run([py, "-m", "pip", "download", "-q", "-d", str(WHEELS), "-r", str(lock), "hatchling", "editables", "pip"])


def build(venv: Path, force: bool = False) -> Path:
    key = inputs_key()
    py = venv / "bin" / "python"
    if not force and py.exists() and (venv / KEY_FILE).exists() and (venv / KEY_FILE).read_text() == key:
        return py
    if (WHEELS / "requirements.lock").exists():
        try:
            _install(venv, {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELS)})
            (venv / KEY_FILE).write_text(key)
            return py
        except subprocess.CalledProcessError:
            print("the kept wheels do not cover the requirements now: building online", flush=True)
    _install(venv, {})
    _keep_wheels(venv)
    (venv / KEY_FILE).write_text(key)
    return py


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", default=str(ROOT / ".venv-binder"))
    p.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    args = p.parse_args(argv)
    print(build(Path(args.venv).resolve(), args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
