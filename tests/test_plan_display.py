"""The plan's text summary and HTML display: content, escaping, size, determinism."""
from __future__ import annotations

import re

import numpy as np
from test_plan_core import CODECS, build_var

from vz_jupyter.core.model import VDataset
from vz_jupyter.core.plan import plan
from vz_jupyter.display.common import reset_ids


def _ds(tmp_path, name="air", codecs=(), fname="data.bin", missing=()):
    data = np.arange(12 * 8 * 6, dtype="<f4").reshape(12, 8, 6)
    var = build_var(tmp_path / fname, data, (4, 4, 6), codecs, name=name, missing=missing)
    return VDataset({name: var})


def test_summary_text_counts(tmp_path):
    ds = _ds(tmp_path, codecs=CODECS["zlib"], missing={5})
    p = plan(ds, "air[0:6, 1:3, 2]")
    text = p.summary()
    assert text == repr(p)
    assert "Read plan: air[0:6, 1:3, 2]" in text
    assert f"chunks touched: {p.n_chunks} of 6" in text
    assert f"requests: {p.n_requests}" in text
    assert "bytes needed: 48 B" in text
    assert str(tmp_path / "data.bin") in text
    assert "zlib(1)" in text
    p.execute()
    assert "last run: read" in p.summary()


def test_html_has_map_highlight_table_and_fallback(tmp_path):
    ds = _ds(tmp_path)
    p = plan(ds, "air[0:6, 1:3, 2]")
    reset_ids()
    html = p._repr_html_()
    assert "<svg" in html
    assert "vz-text-repr-fallback" in html and "Read plan: air[0:6, 1:3, 2]" in html
    assert "touched" in html
    assert "bytes to read" in html and "bytes needed" in html
    assert "data.bin" in html
    assert "--jp-" in html  # theme variables
    assert len(html) < 60_000
    # deterministic under reset_ids
    reset_ids()
    assert p._repr_html_() == html


def test_html_escapes_names_and_paths(tmp_path):
    name = "<script>alert(1)</script>"
    ds = _ds(tmp_path, name=name, fname="a&<b>.bin")
    p = plan(ds, (slice(0, 2),), variable=name)
    html = p._repr_html_()
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert "a&amp;&lt;b&gt;.bin" in html
    assert not re.search(r"<b>\.bin", html)


def test_html_large_grid_stays_small(tmp_path):
    data = np.zeros((400, 300), dtype="u1")
    var = build_var(tmp_path / "big.bin", data, (1, 1), gap=0)
    p = plan(VDataset({"x": var}), "x[::7, 5:9]")
    html = p._repr_html_()
    assert len(html) < 200_000
    assert p.n_chunks == len(range(0, 400, 7)) * 4
