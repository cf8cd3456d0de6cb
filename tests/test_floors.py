"""The floors (DESIGN §1): core imports neither display nor jupyter; reprs cross the
floors through core's formatter registry."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import vz_jupyter as vz
from vz_jupyter.core import formatting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_contracts_hold():
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    if not os.path.exists(exe):
        pytest.skip("import-linter is not installed (pip install -e .[test])")
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


class _Thing:
    pass


def test_registry_fallbacks_and_lookup_by_mro():
    t = _Thing()
    assert formatting.as_text(t) == "<_Thing object>"
    assert formatting.as_html(t) == "<pre>&lt;_Thing object&gt;</pre>"

    class Sub(_Thing):
        pass

    formatting.register(_Thing, text=lambda o: "thing <b>", html=lambda o: "<i>thing</i>")
    try:
        assert formatting.as_text(Sub()) == "thing <b>"
        assert formatting.as_html(Sub()) == "<i>thing</i>"
    finally:
        formatting._TEXT.pop(_Thing)
        formatting._HTML.pop(_Thing)


def test_core_objects_render_through_the_display_package():
    from vz_jupyter.display import dataset_text

    ds = vz.VDataset({})
    assert repr(ds) == dataset_text(ds)
    html = ds._repr_html_()
    assert 'class="vz-root"' in html and "<pre>&lt;VDataset" not in html
