"""Sorting by file names: the number that varies, and tied keys said out loud."""
from __future__ import annotations

import os
import re
import warnings

import pytest
from test_sort import time_ds

import vz_jupyter as vz
from vz_jupyter.core.errors import TiedSortKeysWarning
from vz_jupyter.core.sort import name_number_pattern


def base(dsets):
    return [os.path.basename(d.sources[0].path) for d in dsets]


@pytest.mark.parametrize("names, pattern, groups", [
    ([f"t2m_d{i}.nc" for i in (1, 10, 2)], r"^t\d+m_d(\d+)\.nc$", [("1",), ("10",), ("2",)]),
    (["air_20240102.nc", "air_20240101.nc"], r"^air_(\d+)\.nc$", [("20240102",), ("20240101",)]),
    (["run_2000_02.nc", "run_2001_01.nc"], r"^run_(\d+)_(\d+)\.nc$", [("2000", "02"), ("2001", "01")]),
    (["x1.nc", "other_y2.nc"], r"(\d+)(?=\D*$)", [("1",), ("2",)]),  # no common template: the last number
])
def test_name_number_pattern_picks_the_varying_number(names, pattern, groups):
    got = name_number_pattern(names)
    assert got == pattern
    assert [re.search(got, n).groups() for n in names] == groups


def test_name_number_pattern_none_when_nothing_varies():
    assert name_number_pattern(["a.nc", "b.nc"]) is None
    assert name_number_pattern(["t2m_a.nc", "t2m_b.nc"]) is None  # the only number is the same everywhere
    assert name_number_pattern(["one_1.nc"]) is None


def test_sort_with_the_varying_number_orders_days():
    ds = [time_ds(f"/d/t2m_d{i}.nc", [0], "days since 2000-01-01") for i in (1, 10, 2, 9)]
    pat = name_number_pattern([d.sources[0].path for d in ds])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ties: no warning
        out = vz.sort(ds, pattern=pat)
    assert base(out) == ["t2m_d1.nc", "t2m_d2.nc", "t2m_d9.nc", "t2m_d10.nc"]


def test_tied_keys_warn_and_keep_the_order():
    ds = [time_ds(f"/d/t2m_d{i}.nc", [0], "days since 2000-01-01") for i in (1, 10, 2)]
    # the old default pattern matches the "2" of "t2m" in every name: nothing is sorted
    with pytest.warns(TiedSortKeysWarning, match=r"all 3 files have the same sort key \(2\)") as rec:
        out = vz.sort(ds, pattern=r"(\d+)")
    assert base(out) == ["t2m_d1.nc", "t2m_d10.nc", "t2m_d2.nc"]
    assert "left as given" in str(rec[0].message) and "\n" not in str(rec[0].message)
    # some ties among others: named
    a, b, c = (time_ds(f"/d/{n}.nc", [v], "hours since 2000-01-01") for n, v in (("a", 5), ("b", 0), ("c", 5)))
    with pytest.warns(TiedSortKeysWarning, match=r"2 of 3 files share a sort key \(first 'time' value\): a\.nc, c\.nc"):
        assert base(vz.sort([a, b, c], by="time")) == ["b.nc", "a.nc", "c.nc"]
    with pytest.raises(vz.VZError, match="same sort key"):
        vz.sort([a, b, c], by="time", strict=True)
    assert issubclass(TiedSortKeysWarning, UserWarning)
