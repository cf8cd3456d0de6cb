"""Every tutorial runs top to bottom in the environment Binder builds from ``binder/``.

Docker does not run here, so ``tools/binder_env.py`` builds that environment the way
repo2docker does (runtime.txt's Python with repo2docker's base packages, then
``pip install -r binder/requirements.txt``, then ``./binder/postBuild`` from the
repository root) in ``.venv-binder``, reused while its inputs are unchanged. The
tutorials are then executed by nbclient *inside that environment*, with a kernel
of that environment, in a copy of ``notebooks/`` — nothing of the test venv leaks
in (no PYTHONPATH, its own PATH, private Jupyter data/config dirs).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

RUNNER = textwrap.dedent("""
    import json, sys, time
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out = {}
    probe = nbformat.v4.new_notebook()
    probe.cells = [nbformat.v4.new_code_cell(
        "import sys, shutil, vz_jupyter, dask\\n"
        "print(sys.prefix, vz_jupyter.__file__, shutil.which('vz'), sep='\\\\n')")]
    NotebookClient(probe, timeout=120, kernel_name="python3").execute()
    out["kernel"] = probe.cells[0].outputs[0]["text"].split("\\n")[:3]
    for path in sys.argv[1:]:
        nb = nbformat.read(path, 4)
        t0 = time.monotonic()
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
            error = None
        except CellExecutionError as e:
            error = str(e)[-3000:]
        streams = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream"]
        out[path] = {"error": error, "seconds": round(time.monotonic() - t0, 1),
                     "cells": sum(1 for c in nb.cells if c.cell_type == "code"),
                     "executed": sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count")),
                     "stderr": [o.get("text", "") for c in nb.cells if c.cell_type == "code"
                                for o in c.get("outputs", []) if o.get("name") == "stderr"],
                     "streams": streams}
    print("RESULT" + json.dumps(out))
""")


@pytest.fixture(scope="module")
def binder_python() -> Path:
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "binder_env.py")], cwd=ROOT, capture_output=True,
                       text=True, timeout=1200)
    if r.returncode != 0:
        pytest.fail("could not build the Binder environment from binder/:\n" + (r.stdout + r.stderr)[-4000:])
    py = Path(r.stdout.strip().splitlines()[-1])
    assert py.exists(), r.stdout
    return py


def _clean_env(py: Path, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "PYTEST", "IPYTHON")) and k != "MPLBACKEND"}
    bindir = str(py.parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != Path(sys.executable).parent]
    env.update(PATH=os.pathsep.join([bindir] + path), VIRTUAL_ENV=str(py.parent.parent),
               JUPYTER_DATA_DIR=str(tmp / "jdata"), JUPYTER_CONFIG_DIR=str(tmp / "jconfig"),
               JUPYTER_RUNTIME_DIR=str(tmp / "jruntime"), IPYTHONDIR=str(tmp / "ipython"), JUPYTER_PLATFORM_DIRS="1")
    return env


def test_binder_environment_is_made_from_binder_files_only(binder_python):
    frozen = subprocess.run([str(binder_python), "-m", "pip", "list", "--format=json"], capture_output=True,
                            text=True, check=True).stdout
    names = {d["name"].lower().replace("_", "-"): d for d in json.loads(frozen)}
    # what binder/ asks for (requirements.txt, postBuild's extras) and repo2docker's base ...
    for need in ("vz-jupyter", "dask", "netcdf4", "jupyterlab", "notebook", "ipywidgets", "ipykernel", "icechunk"):
        assert need in names, need
    assert names["vz-jupyter"].get("editable_project_location") == str(ROOT)
    # ... and none of the test environment's extras
    for test_only in ("pytest", "kerchunk", "playwright", "nbmake", "hypothesis"):
        assert test_only not in names, f"{test_only} is in the Binder environment: it would hide a missing requirement"


def test_every_tutorial_runs_in_the_binder_environment(binder_python, tmp_path):
    assert [p.name for p in NOTEBOOKS][:3] == ["01-quickstart.ipynb", "02-combine.ipynb", "03-read-plans.ipynb"]
    work = tmp_path / "notebooks"
    work.mkdir()
    copies = [shutil.copy(p, work / p.name) for p in NOTEBOOKS]
    r = subprocess.run([str(binder_python), "-c", RUNNER, *map(str, copies)], cwd=work,
                       env=_clean_env(binder_python, tmp_path), capture_output=True, text=True, timeout=1500)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
    assert r.returncode == 0 and line, (r.stdout + r.stderr)[-4000:]
    result = json.loads(line[-1][len("RESULT"):])
    prefix, package, vz_cmd = result.pop("kernel")
    # the kernel is the Binder environment's python, importing this repository's package
    assert Path(prefix) == binder_python.parent.parent
    assert Path(package).is_relative_to(ROOT / "vz_jupyter")
    assert Path(vz_cmd) == binder_python.parent / "vz"
    for path, res in result.items():
        name = Path(path).name
        assert res["error"] is None, f"{name} failed in the Binder environment:\n{res['error']}"
        assert res["executed"] == res["cells"], name
        # the shell commands of the tutorials ran (no "command not found" printed instead)
        assert not any("not found" in s or "Traceback" in s for s in res["streams"]), (name, res["streams"])
    print({Path(p).name: r["seconds"] for p, r in result.items()})


def test_readme_links_binder_once_with_a_marked_placeholder():
    text = (ROOT / "README.md").read_text()
    assert "[![Binder](https://mybinder.org/badge_logo.svg)][binder]" in text
    defs = [line for line in text.splitlines() if line.startswith("[binder]: ")]
    assert len(defs) == 1, defs  # one place to change
    url = defs[0].split(": ", 1)[1]
    assert url.startswith("https://mybinder.org/v2/gh/") and "/HEAD?urlpath=lab/tree/notebooks/" in url
    notebook = url.split("urlpath=lab/tree/", 1)[1]
    assert (ROOT / notebook).exists(), notebook
    if "OWNER/REPO" in url:  # the placeholder is said to be one, next to it
        assert "replace OWNER/REPO" in text
