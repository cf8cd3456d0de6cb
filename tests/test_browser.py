"""Real-browser tests of the notebook experience: JupyterLab on 127.0.0.1 driven by
Playwright (the pip package) with Debian's chromium.

Install the browser with ``tools/ensure_chromium.sh`` (apt-get; never
``playwright install``). Without /usr/bin/chromium the tests are skipped, unless
``VZ_REQUIRE_BROWSER=1`` (CI), which turns a missing browser into a failure.

1. Three NetCDF4 files out of time order in ``%vz combine``: the order error is
   pinned in the file list, a file is dragged into place, Sort fixes the rest and
   Write becomes enabled; hovering the chunk map names files; the dark theme
   redraws the canvas; Write writes references that read back equal to the
   originals; the saved notebook holds the final state.
2. 1,000 generated files (tiny NetCDF3, made in about a second) in a 1,000-px wide
   window: the widget's height stays bounded, runs of files are collapsed and the
   problems pinned, hovering the map names the file under the cursor, a name typed
   in the box + Enter leaves a file out, Write stays reachable (never squeezed) and
   writes once the files with errors are left out; the saved notebook shows that
   final state, while the saved-state output stays hidden in JupyterLab.
3. ``%vz scan --help``, ``%vz?`` and a mistyped verb, as a user sees them.

Screenshots go to ``$VZ_SCREENSHOT_DIR`` or the test's tmp folder. The browser
console must show no errors.
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


def _code(src):
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src}


def _notebook(*cells) -> dict:
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [_code(c) for c in cells],
    }


class Browser:
    """One chromium page on the lab, collecting console errors."""

    def __init__(self, p, lab, width=1280, height=1000):
        self.lab = lab
        self.errors: list[str] = []
        self.browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.page = self.browser.new_page(viewport={"width": width, "height": height})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg):
        if msg.type == "error" and not any(b in msg.text for b, _why in BENIGN_CONSOLE):
            self.errors.append(f"console: {msg.text} @ {msg.location}")

    def run_notebook(self, name: str) -> None:
        """Open ``name`` alone (a fresh workspace: earlier tests' notebooks stay closed),
        in the light theme, and run all its cells."""
        page = self.page
        ws = name.replace(".", "-").replace("/", "-")
        page.goto(f"{self.lab['url']}/lab/workspaces/{ws}/tree/{name}?reset&token={self.lab['token']}")
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
        page.wait_for_selector(".jp-Notebook", timeout=20_000)
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=20_000)
        page.wait_for_function("window.jupyterapp.commands.hasCommand('apputils:change-theme')", timeout=20_000)
        if page.evaluate("document.body.dataset.jpThemeLight") != "true":
            page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
            page.wait_for_selector('body[data-jp-theme-light="true"]', state="attached", timeout=15_000)
        page.wait_for_function(
            "(() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!k && k.status === 'idle'; })()", timeout=30_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def wait_idle(self) -> None:
        self.page.wait_for_function(
            "(() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!k && k.status === 'idle'; })()", timeout=60_000)

    def save(self, path: Path) -> dict:
        before = path.stat().st_mtime_ns
        self.page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        deadline = time.monotonic() + 15
        while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        return json.loads(path.read_text())

    def close(self):
        self.browser.close()


def _shots(tmp_path) -> Path:
    shots = Path(os.environ.get("VZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_combine_widget_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    root: Path = lab["root"]
    files = _make_archive(root / "archive")
    nb_path = root / "combine.ipynb"
    nb_path.write_text(json.dumps(_notebook("%load_ext vz_jupyter\nimport vz_jupyter as vz",
                                            "w = %vz combine archive/*.nc\nw", BIG_GRID_CELL)))
    shots = _shots(tmp_path)

    with sync_playwright() as p:
        b = Browser(p, lab)
        page = b.page
        try:
            b.run_notebook("combine.ipynb")
            # the canvas is drawn once the background scan has finished
            cmap = page.wait_for_selector('.vz-combine .vz-cmap[data-vz-drawn]:not([data-vz-drawn="0"])',
                                          timeout=30_000)
            assert int(cmap.get_attribute("data-vz-drawn")) > 0
            assert cmap.get_attribute("data-vz-theme") == "light"
            # order error first: pinned on top of the file list, in the report, Write disabled
            page.wait_for_selector('.vz-combine [data-code="order"]', timeout=10_000)
            pinned = page.locator(".vz-combine .vz-fl-finding").all_inner_texts()
            assert len(pinned) == 1 and "order" in pinned[0], pinned
            assert "press Sort" in page.locator(".vz-combine .vz-fl-fix").first.inner_text()
            assert page.locator("button.vz-write-button").is_disabled()
            assert "press Sort" in page.locator(".vz-combine .vz-combine-status").first.inner_text()
            page.screenshot(path=str(shots / "combine-unsorted.png"), full_page=True)

            def order():
                return [t.strip() for t in page.locator(".vz-combine .vz-fl-file:not(.vz-fl-pinned) .vz-fl-name")
                        .all_inner_texts()]

            assert order() == ["air_a.nc", "air_b.nc", "air_c.nc"]  # the glob's name order
            # drag air_b.nc onto air_a.nc: it moves before it
            src = page.locator('.vz-combine .vz-fl-file:not(.vz-fl-pinned)', has_text="air_b.nc")
            dst = page.locator('.vz-combine .vz-fl-file:not(.vz-fl-pinned)', has_text="air_a.nc")
            src.drag_to(dst)
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.vz-combine .vz-fl-file:not(.vz-fl-pinned) .vz-fl-name'))"
                ".map(e => e.textContent).join(',') === 'air_b.nc,air_a.nc,air_c.nc'", timeout=10_000)

            page.locator(".vz-combine button", has_text="Sort").click()
            page.wait_for_selector("button.vz-write-button:not([disabled])", timeout=15_000)
            assert page.locator('.vz-combine [data-code="order"]').count() == 0
            assert page.locator(".vz-combine .vz-fl-finding").count() == 0
            assert order() == ["air_c.nc", "air_a.nc", "air_b.nc"]

            # pixels: the canvas shows several source colours
            colours = page.evaluate("""() => {
                const c = document.querySelector('.vz-combine .vz-cmap-canvas');
                const ctx = c.getContext('2d');
                const img = ctx.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set();
                for (let i = 0; i < img.length; i += 4 * 7) seen.add(img[i] + ',' + img[i+1] + ',' + img[i+2]);
                return seen.size;
            }""")
            assert colours >= 4, colours  # background, lines and three file colours
            # the legend swatches have the files' colours (not grey)
            swatches = page.evaluate("""() => Array.from(document.querySelectorAll(
                '.vz-combine .vz-cmap-legend .vz-cmap-swatch')).slice(0, 3).map(e => e.style.background)""")
            assert len(set(swatches)) == 3 and not any("136, 136, 136" in s for s in swatches), swatches

            # hover the first cell: tooltip names the first file and a byte range
            box = page.locator(".vz-combine .vz-cmap-canvas").bounding_box()
            page.mouse.move(box["x"] + 4, box["y"] + 4)
            tip = page.wait_for_selector(".vz-combine .vz-cmap-tip", state="visible", timeout=5_000)
            text = tip.inner_text()
            assert "air_c.nc" in text and "bytes" in text and "chunk (0" in text, text
            # the last cell belongs to the last file
            page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
            page.wait_for_function(
                "document.querySelector('.vz-combine .vz-cmap-tip').textContent.includes('air_b.nc')", timeout=5_000)
            page.screenshot(path=str(shots / "combine-light.png"), full_page=True)

            # the big grid is drawn in blocks; hovering names the file and its chunk
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
            assert "f000.nc" in btext and "chunk (" in btext and "source #" not in btext, btext
            # far right of the first row: the last file, named (not "source #29")
            page.mouse.move(bbox["x"] + bbox["width"] - 2, bbox["y"] + 3)
            page.wait_for_function(
                "document.querySelectorAll('.vz-cmap-tip')[1].textContent.includes('f029.nc')", timeout=5_000)
            page.mouse.move(bbox["x"] + 3, bbox["y"] + bbox["height"] - 3)  # last row: missing chunks
            page.wait_for_function(
                "document.querySelectorAll('.vz-cmap-tip')[1].textContent.includes('missing')", timeout=5_000)
            legend = big.locator(".vz-cmap-legend").inner_text()
            assert "f000.nc … f029.nc" in legend and "30 files" in legend, legend
            page.screenshot(path=str(shots / "bigmap-light.png"), full_page=True)
            page.mouse.move(0, 0)

            # dark theme: the canvas redraws with the theme's colours
            page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
            page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=15_000)
            page.wait_for_selector('.vz-cmap[data-vz-theme="dark"]', state="attached", timeout=10_000)
            page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)  # theme switch done
            bg = page.evaluate("""() => {
                const c = document.querySelector('.vz-combine .vz-cmap-canvas');
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
            full = page.locator(".vz-combine .vz-combine-ok code").first.inner_text()
            assert full == str(target)  # the whole path, selectable
            page.locator(".vz-combine").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "combine-written.png"), full_page=True)
            page.wait_for_function("document.querySelector('.vz-combine-saved').textContent.includes('written:')",
                                   timeout=20_000)
            saved = b.save(nb_path)
        finally:
            b.close()

    # the saved notebook: the widget, then its state as plain HTML (sorted, written)
    outs = saved["cells"][1]["outputs"]
    html_state = "".join(outs[1]["data"]["text/html"])
    assert "vz-combine-saved" in html_state and "3 of 3 files along &#x27;time&#x27;" in html_state
    assert html_state.index("air_c.nc") < html_state.index("air_a.nc") < html_state.index("air_b.nc")
    assert "combined.json" in html_state

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
    assert not b.errors, "browser console errors:\n" + "\n".join(b.errors)


def test_combine_widget_with_a_thousand_files_at_1000px(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    from vz_jupyter.sample_data import make_daily_archive

    root: Path = lab["root"] / "thousand"  # its own folder: the kernel writes combined.json here
    root.mkdir()
    t0 = time.monotonic()
    # 1,000 days minus 2 missing, plus day 300 twice; day 500 packed with another scale_factor
    make_daily_archive(root / "year", 1000, scale_factor={500: 0.02}, skip=(200, 201), repeat=(300,))
    assert time.monotonic() - t0 < 20
    nb_path = root / "year.ipynb"
    nb_path.write_text(json.dumps(_notebook("%load_ext vz_jupyter", "w = %vz combine year/*.nc\nw")))
    shots = _shots(tmp_path)

    with sync_playwright() as p:
        b = Browser(p, lab, width=1000, height=900)
        page = b.page
        try:
            # record the progress bar's widths as the page shows them
            page.add_init_script(r"""
                window.__vzProgress = [];
                // every width the bar had: a busy page applies several updates in one task, so the
                // records' old values are kept too
                new MutationObserver((records) => {
                    const seen = window.__vzProgress;
                    for (const r of records) {
                        const t = r.target;
                        if (!(t.classList && t.classList.contains('progress-bar') && t.closest('.vz-combine'))) continue;
                        const old = /width:\s*([0-9.]+%)/.exec(r.oldValue || '');
                        if (old) seen.push(old[1]);
                        seen.push(t.style.width);
                    }
                }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                                      attributeFilter: ['style']});
            """)
            b.run_notebook("thousand/year.ipynb")
            page.wait_for_selector('.vz-combine .vz-cmap[data-vz-drawn]:not([data-vz-drawn="0"])', timeout=90_000)
            page.wait_for_selector(".vz-combine .vz-fl[data-vz-files='999']", timeout=30_000)
            # the progress bar moves while the 999 files are scanned (Rescan: the view is surely there)
            page.evaluate("window.__vzProgress.length = 0")
            page.locator(".vz-combine button", has_text="Rescan").click()
            page.wait_for_function("(() => { const p = window.__vzProgress, i = p.lastIndexOf('0%');"
                                   " return i >= 0 && p.slice(i + 1).includes('100%'); })()", timeout=90_000)
            widths = page.evaluate("window.__vzProgress")
            partial = [w for w in widths if w.endswith("%") and 0 < float(w[:-1]) < 100]
            assert partial, f"no progress seen during the scan: {widths}"
            page.wait_for_selector("button.vz-combine-rescan:not([disabled])", timeout=60_000)
            page.wait_for_selector(".vz-combine .vz-fl[data-vz-files='999']", timeout=30_000)
            widget = page.locator(".vz-combine").first
            box = widget.bounding_box()
            assert box["height"] < 1500, f"the widget is {box['height']} px tall for 1,000 files"
            # the file list: a fixed-height box; a few rows in the DOM, not 999
            scroll = page.locator(".vz-combine .vz-fl-scroll").bounding_box()
            assert scroll["height"] <= 320
            assert page.locator(".vz-combine .vz-fl-row").count() < 60
            # problems pinned on top, with their files
            codes = [t.split()[1] for t in page.locator(".vz-combine .vz-fl-finding").all_inner_texts()]
            assert codes == ["scale-offset", "duplicate", "gap"], codes
            # runs of files collapsed; one opens on click
            page.locator(".vz-combine .vz-fl-scroll").evaluate("e => e.scrollTop = 9 * 24")
            run = page.locator(".vz-combine .vz-fl-run", has_text="day_0001.nc … day_0199.nc")
            assert "199 files, in name order" in run.inner_text()
            widget.screenshot(path=str(shots / "year-widget-1000px.png"))
            run.click()
            page.wait_for_selector(".vz-combine .vz-fl-inrun", timeout=5_000)
            assert page.locator(".vz-combine .vz-fl-inrun").count() < 40  # virtualised
            run_now = page.locator(".vz-combine .vz-fl-run", has_text="day_0001.nc … day_0199.nc")
            run_now.click()  # and closes

            # Write is reachable at 1,000 px: inside the window, full width, nothing over it
            write = page.locator("button.vz-write-button")
            write.scroll_into_view_if_needed()
            wb = write.bounding_box()
            assert wb["width"] >= 100 and wb["x"] + wb["width"] <= 1000, wb
            assert page.evaluate("""() => { const b = document.querySelector('button.vz-write-button');
                const r = b.getBoundingClientRect();
                return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === b
                    || b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }""")
            assert write.is_disabled()

            # the chunk map names the file under the cursor (999 files in a few hundred pixels)
            canvas = page.locator(".vz-combine .vz-cmap-canvas")
            canvas.scroll_into_view_if_needed()
            cb = canvas.bounding_box()
            names = set()
            for frac in (0.1, 0.5, 0.9):
                page.mouse.move(cb["x"] + cb["width"] * frac, cb["y"] + cb["height"] - 4)
                tip = page.locator(".vz-combine .vz-cmap-tip")
                tip.wait_for(state="visible", timeout=5_000)
                text = tip.inner_text()
                first = text.splitlines()[0]
                assert first.startswith("day_") and first.endswith(".nc"), text
                names.add(first)
            assert len(names) == 3
            # the flagged file is marked on the strip above the map, and named with its finding there
            strip = page.evaluate("""() => { const c = document.querySelector('.vz-combine .vz-cmap-canvas');
                const ctx = c.getContext('2d'); const d = ctx.getImageData(0, 0, c.width, 3).data; let red = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i+1] < 90) red++; return red; }""")
            assert strip > 0
            page.mouse.move(0, 0)
            canvas.screenshot(path=str(shots / "year-chunkmap.png"))

            # leave out the file with a scale_factor error with its × (pinned row) ...
            page.locator(".vz-combine .vz-fl-scroll").evaluate("e => e.scrollTop = 0")
            page.locator(".vz-combine .vz-fl-file.vz-fl-pinned", has_text="day_0500.nc").locator("button").click()
            page.wait_for_function("(() => { const c = document.querySelectorAll('.vz-combine .vz-fl-finding');"
                                   " return c.length === 2; })()", timeout=60_000)
            page.wait_for_function("document.querySelector('.vz-combine .vz-combine-status').textContent"
                                   ".includes('left out day_0500.nc')", timeout=60_000)
            # ... and the repeated day by typing its name + Enter
            box_input = page.locator(".vz-combine .vz-name-box input")
            box_input.fill("day_0300b.nc")
            box_input.press("Enter")
            try:
                page.wait_for_selector("button.vz-write-button:not([disabled])", timeout=60_000)
            except Exception:
                widget.screenshot(path=str(shots / "year-widget-enter-failed.png"))
                print("STATUS", page.locator(".vz-combine .vz-combine-status").first.inner_text())
                print("BOX", box_input.input_value())
                raise
            page.wait_for_function("document.querySelector('.vz-combine .vz-combine-status').textContent"
                                   ".includes('left out day_0300b.nc')", timeout=20_000)
            status = page.locator(".vz-combine .vz-combine-status").first.inner_text()
            assert "997 of 999 files" in status and "error" not in status, status
            assert page.locator(".vz-combine .vz-fl-head", has_text="Left out (2)").count() == 1
            widget.screenshot(path=str(shots / "year-widget-ready.png"))
            # the saved-state output is in the page but hidden where the widget runs
            assert page.locator(".vz-combine-saved").count() >= 1
            assert not page.locator(".vz-combine-saved").first.is_visible()

            page.locator("button.vz-write-button").click()
            target = root / "combined.json"
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.vz-combine-ok')).some(e => e.textContent.includes('wrote'))",
                timeout=20_000)
            # the saved-state output follows (hidden here): wait for it before saving the notebook
            page.wait_for_function("document.querySelector('.vz-combine-saved').textContent.includes('written:')",
                                   timeout=20_000)
            saved = b.save(nb_path)
        finally:
            b.close()

    outs = saved["cells"][1]["outputs"]
    state = "".join(outs[1]["data"]["text/html"])
    assert "997 of 999 files along &#x27;time&#x27;" in state
    assert "left out (2)" in state and "day_0500.nc" in state and "combined.json" in state
    assert "day_0001.nc … day_0199.nc (199 files, in name order)" in state
    import xarray as xr

    import vz_jupyter as vz

    got = vz.open(str(target))
    assert got["air"].shape == (997, 16, 20)
    with xr.open_dataset(root / "year" / "day_1000.nc") as last:
        np.testing.assert_array_equal(got["air"].values[-1], last["air"].values[0])
    assert not b.errors, "browser console errors:\n" + "\n".join(b.errors)


def test_help_and_errors_as_a_user_sees_them(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    from vz_jupyter.sample_data import make_daily_archive

    root: Path = lab["root"]
    make_daily_archive(root / "one", 1)
    nb = _notebook("%load_ext vz_jupyter", "%vz scan --help", "%vz?", "%vz scann data.nc", "%vz open one/day_001.nc")
    for cell in nb["cells"][3:]:
        cell["metadata"]["tags"] = ["raises-exception"]  # run-all goes on past these (they show UsageErrors)
    (root / "help.ipynb").write_text(json.dumps(nb))
    with sync_playwright() as p:
        b = Browser(p, lab)
        page = b.page
        try:
            b.run_notebook("help.ipynb")
            page.wait_for_function("document.querySelectorAll('.jp-Cell')[4].querySelector('.jp-OutputArea-output')",
                                   timeout=90_000)
            b.wait_idle()
            cells = page.locator(".jp-Cell")
            scan_help = cells.nth(1).locator(".jp-OutputArea").inner_text()
            assert "usage: %vz scan [-o NAME]" in scan_help and "files, globs or URLs" in scan_help
            assert "required" not in scan_help
            # %vz? shows the overview in the pager (an output in JupyterLab)
            page.wait_for_function("document.body.innerText.includes('Examples:')", timeout=10_000)
            body = page.locator("body").inner_text()
            assert "%vz VERB --help" in body and "combine  the interactive combine widget" in body
            typo = cells.nth(3).locator(".jp-OutputArea").inner_text()
            assert "did you mean 'scan'?" in typo and "Traceback" not in typo
            opened = cells.nth(4).locator(".jp-OutputArea").inner_text()
            assert "this is a NetCDF3 classic data file, not references; scan it first" in opened, opened
            page.screenshot(path=str(_shots(tmp_path) / "help.png"), full_page=True)
        finally:
            b.close()
    assert not b.errors, "browser console errors:\n" + "\n".join(b.errors)
