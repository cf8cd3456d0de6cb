"""Real-browser test of the combine widget: JupyterLab on 127.0.0.1 driven by
Playwright (the pip package) with Debian's chromium.

Install the browser with ``tools/ensure_chromium.sh`` (apt-get; never
``playwright install``). Without /usr/bin/chromium the test is skipped, unless
``VZ_REQUIRE_BROWSER=1`` (CI), which turns a missing browser into a failure.

What it does: writes NetCDF4 files out of time order and a notebook that runs
``%load_ext vz_jupyter`` and ``%vz combine FILES``; opens the notebook in
JupyterLab, runs all cells, waits for the chunk-map canvas, sorts (the check
report's order error goes away and Write becomes enabled), hovers a cell (the
tooltip names a file), switches to the dark theme (the canvas redraws), clicks
Write, and checks the references file on disk reads back equal to the
originals. Screenshots (light and dark) go to ``$VZ_SCREENSHOT_DIR`` or the test's
tmp folder. The browser console must show no errors.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("VZ_CHROMIUM", "/usr/bin/chromium")  # Debian chromium, never `playwright install`
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
REQUIRE = os.environ.get("VZ_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")

#: console messages that are not errors of ours, each with the reason it is safe
BENIGN_CONSOLE = (
    # none known yet: every console error fails the test
)


def _skip_or_fail(reason: str):
    if REQUIRE:
        pytest.fail(f"VZ_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_ready():
    if not os.path.exists(CHROMIUM):
        _skip_or_fail(f"{CHROMIUM} is missing (install it with tools/ensure_chromium.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("the playwright package is not installed (pip install playwright)")
    if shutil.which("jupyter-lab", path=os.path.dirname(sys.executable)) is None:
        try:
            import jupyterlab  # noqa: F401
        except ImportError:
            _skip_or_fail("jupyterlab is not installed")
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture(scope="module")
def lab(browser_ready, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with its own config/data/runtime dirs."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    cfg, data, runtime = base / "config", base / "data", base / "runtime"
    for d in (cfg, data, runtime):
        d.mkdir()
    # no network from the page: announcements (news, update checks) off
    _write_json(cfg / "labconfig" / "page_config.json",
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    settings = cfg / "lab" / "user-settings" / "@jupyterlab"
    # every cell in the DOM (off-screen cells are otherwise virtualised away)
    _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
    _write_json(settings / "apputils-extension" / "themes.jupyterlab-settings", {"theme": "JupyterLab Light"})
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_DATA_DIR=str(data),
               JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_PLATFORM_DIRS="1")
    env.pop("JUPYTER_PATH", None)
    log = open(base / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--ServerApp.open_browser=False"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({proc.returncode}):\n{(base / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within 30 s:\n{(base / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"url": url, "token": token, "root": root, "log": base / "lab.log"}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def _make_archive(folder: Path) -> list[Path]:
    import netCDF4

    folder.mkdir()
    rng = np.random.default_rng(7)
    out = []
    for name, start in (("air_b.nc", 8), ("air_a.nc", 4), ("air_c.nc", 0)):  # out of time order
        p = folder / name
        with netCDF4.Dataset(p, "w", format="NETCDF4") as nc:
            nc.createDimension("time", None)
            nc.createDimension("lat", 16)
            nc.createDimension("lon", 24)
            t = nc.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t[:] = np.arange(start, start + 4)
            lat = nc.createVariable("lat", "f4", ("lat",))
            lat[:] = np.linspace(-30, 30, 16)
            lon = nc.createVariable("lon", "f4", ("lon",))
            lon[:] = np.linspace(0, 90, 24)
            air = nc.createVariable("air", "f4", ("time", "lat", "lon"), chunksizes=(1, 8, 24), zlib=True)
            air.units = "K"
            air[:] = 250 + rng.normal(0, 5, size=(4, 16, 24)).astype("f4")
        out.append(p)
    return out


#: a second canvas: 3000 x 4 chunks from 30 files, some missing -> drawn in blocks
BIG_GRID_CELL = """\
import numpy as np
from vz_jupyter.core.model import MISSING, Manifest, VArray
from vz_jupyter.jupyter.widgets import ChunkMapCanvas
pid = (np.arange(3000)[:, None] // 100 * np.ones(4, dtype=int)).astype(np.uint32)
pid[:, 3] = MISSING
m = Manifest(tuple(f"/data/f{i:03d}.nc" for i in range(30)), pid, np.zeros(pid.shape), np.full(pid.shape, 10))
big = ChunkMapCanvas()
big.show(VArray("x", ("time", "y"), (3000, 40), "f4", (1, 10), (), 0.0, {}, m), col_dim="time")
big"""


def _notebook(glob: str) -> dict:
    def code(src):
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src}

    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            code("%load_ext vz_jupyter\nimport vz_jupyter as vz"),
            code(f"w = %vz combine {glob}\nw"),
            code(BIG_GRID_CELL),
        ],
    }


def test_combine_widget_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    root: Path = lab["root"]
    files = _make_archive(root / "archive")
    (root / "combine.ipynb").write_text(json.dumps(_notebook("archive/*.nc")))
    shots = Path(os.environ.get("VZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def on_console(msg):
        if msg.type == "error" and not any(b in msg.text for b, _why in BENIGN_CONSOLE):
            errors.append(f"console: {msg.text} @ {msg.location}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.goto(f"{lab['url']}/lab/tree/combine.ipynb?token={lab['token']}")
            page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
            page.wait_for_selector(".jp-Notebook", timeout=20_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=20_000)
            # wait for the kernel, then run every cell
            page.wait_for_function(
                "(() => { const w = window.jupyterapp.shell.currentWidget;"
                " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
                " return !!k && k.status === 'idle'; })()", timeout=30_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # the canvas is drawn once the background scan has finished
            cmap = page.wait_for_selector('.vz-cmap[data-vz-drawn]:not([data-vz-drawn="0"])', timeout=30_000)
            assert int(cmap.get_attribute("data-vz-drawn")) > 0
            assert cmap.get_attribute("data-vz-theme") == "light"
            # order error first: the report says so and Write is disabled
            page.wait_for_selector('.vz-combine [data-code="order"]', timeout=10_000)
            assert page.locator("button.vz-write-button").is_disabled()
            page.screenshot(path=str(shots / "combine-unsorted.png"), full_page=True)

            page.locator(".vz-combine button", has_text="Sort").click()
            page.wait_for_selector("button.vz-write-button:not([disabled])", timeout=15_000)
            assert page.locator('.vz-combine [data-code="order"]').count() == 0
            tags = page.locator(".vz-combine .jupyter-widget-tag").all_inner_texts()
            assert [t.strip().split("\n")[0].strip() for t in tags][:3] == ["air_c.nc", "air_a.nc", "air_b.nc"], tags

            # pixels: the canvas shows several source colours
            colours = page.evaluate("""() => {
                const c = document.querySelector('.vz-cmap-canvas');
                const ctx = c.getContext('2d');
                const img = ctx.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set();
                for (let i = 0; i < img.length; i += 4 * 7) seen.add(img[i] + ',' + img[i+1] + ',' + img[i+2]);
                return seen.size;
            }""")
            assert colours >= 4, colours  # background, lines and three file colours

            # hover the first cell: tooltip names the first file and a byte range
            box = page.locator(".vz-combine .vz-cmap-canvas").bounding_box()
            page.mouse.move(box["x"] + 4, box["y"] + 4)
            tip = page.wait_for_selector(".vz-combine .vz-cmap-tip", state="visible", timeout=5_000)
            text = tip.inner_text()
            assert "air_c.nc" in text and "bytes" in text and "chunk (0" in text, text
            # the last cell belongs to the last file
            page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
            page.wait_for_function(
                "document.querySelector('.vz-cmap-tip').textContent.includes('air_b.nc')", timeout=5_000)
            page.screenshot(path=str(shots / "combine-light.png"), full_page=True)

            # the big grid is drawn in blocks; hovering a block names its chunk range
            page.mouse.move(0, 0)
            big = page.locator(".vz-cmap").nth(1)
            big.scroll_into_view_if_needed()
            page.wait_for_function(
                "document.querySelectorAll('.vz-cmap')[1] && "
                "Number(document.querySelectorAll('.vz-cmap')[1].dataset.vzDrawn) > 100", timeout=15_000)
            bbox = big.locator(".vz-cmap-canvas").bounding_box()
            page.mouse.move(bbox["x"] + 3, bbox["y"] + 3)
            btip = big.locator(".vz-cmap-tip")
            btip.wait_for(state="visible", timeout=5_000)
            btext = btip.inner_text()
            assert "f000.nc" in btext and "chunk (0–" in btext, btext
            page.mouse.move(bbox["x"] + 3, bbox["y"] + bbox["height"] - 3)  # last row: missing chunks
            page.wait_for_function(
                "document.querySelectorAll('.vz-cmap-tip')[1].textContent.includes('missing')", timeout=5_000)
            assert "+10 more files" in big.locator(".vz-cmap-legend").inner_text()
            page.screenshot(path=str(shots / "bigmap-light.png"), full_page=True)
            page.mouse.move(0, 0)

            # dark theme: the canvas redraws with the theme's colours
            page.mouse.move(0, 0)
            page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
            page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=15_000)
            page.wait_for_selector('.vz-cmap[data-vz-theme="dark"]', state="attached", timeout=10_000)
            bg = page.evaluate("""() => {
                const c = document.querySelector('.vz-cmap-canvas');
                return Array.from(c.getContext('2d').getImageData(0, 0, 1, 1).data);
            }""")
            assert sum(bg[:3]) < 3 * 128, bg  # dark background under the grid
            page.screenshot(path=str(shots / "combine-dark.png"), full_page=True)

            # write the references
            page.locator("button.vz-write-button").click()
            target = root / "combined.json"
            deadline = time.monotonic() + 15
            while not target.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert target.exists(), "the Write button did not write combined.json"
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.vz-combine-ok')).some(e => e.textContent.includes('wrote'))",
                timeout=10_000)
            assert page.locator("button.vz-write-button").is_disabled()  # exists now; overwrite unticked
            page.locator(".vz-combine").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "combine-written.png"), full_page=True)
        finally:
            browser.close()

    import xarray as xr

    import vz_jupyter as vz

    got = vz.open(str(target))
    originals = [xr.open_dataset(p) for p in (files[2], files[1], files[0])]
    try:
        expected = xr.combine_nested(originals, concat_dim="time")
        np.testing.assert_array_equal(got["air"].values, expected["air"].values)
        np.testing.assert_array_equal(got["time"].values, expected["time"].values)
    finally:
        for ds in originals:
            ds.close()
    assert not errors, "browser console errors:\n" + "\n".join(errors)
