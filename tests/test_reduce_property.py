"""Chunk-wise reductions equal numpy masked-array reductions of the selection.

Random shapes, chunkings, dtypes, codecs, selections, axes and CF missing-data
attributes (_FillValue, missing_value, valid_min/valid_max/valid_range, NaN
fill); the oracle masks the numpy selection independently and reduces with
numpy.ma (reduced axes moved last and flattened).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_plan_core import CODECS, build_var, dim_key, np_orthogonal

from vz_jupyter.core.errors import SelectionError
from vz_jupyter.core.model import VDataset
from vz_jupyter.core.plan import plan

OPS = ["min", "max", "sum", "mean", "count"]


def oracle(sel: np.ndarray, mask: np.ndarray, op: str, axes: tuple[int, ...], scale=None, offset=None):
    kept = [i for i in range(sel.ndim) if i not in axes]
    order = kept + list(axes)
    n_red = int(np.prod([sel.shape[i] for i in axes], dtype=np.int64))
    a = np.transpose(sel, order).reshape(tuple(sel.shape[i] for i in kept) + (n_red,))
    m = np.transpose(mask, order).reshape(a.shape)
    ma = np.ma.MaskedArray(a.astype(np.float64) if op in ("sum", "mean") or scale is not None or offset is not None
                           else a, mask=m)
    if scale is not None:
        ma = ma * scale
    if offset is not None:
        ma = ma + offset
    if op == "count":
        return ma.count(axis=-1)
    if a.shape[-1] == 0:  # nothing reduced: numpy has no identity for min/max; all masked
        res = np.ma.masked_all(a.shape[:-1])
        return np.ma.masked if res.ndim == 0 else res
    return getattr(ma, op)(axis=-1)


def check_equal(got, exp, op, exact):
    if np.ndim(exp) == 0 and not isinstance(exp, np.ndarray):
        if exp is np.ma.masked:
            assert got is np.ma.masked
            return
        assert got is not np.ma.masked
        if exact:
            assert got == exp
        else:
            np.testing.assert_allclose(float(got), float(exp), rtol=1e-9, atol=1e-9)
        return
    exp = np.ma.asarray(exp)
    if op == "count":
        np.testing.assert_array_equal(np.asarray(got), np.asarray(exp))
        return
    got = np.ma.asarray(got)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(exp))
    keep = ~np.ma.getmaskarray(exp)
    if exact:
        np.testing.assert_array_equal(np.asarray(got)[keep], np.asarray(exp)[keep])
    else:
        np.testing.assert_allclose(np.asarray(got, dtype=float)[keep], np.asarray(exp, dtype=float)[keep],
                                   rtol=1e-9, atol=1e-9)


@st.composite
def reduce_case(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=ndim, max_size=ndim)))
    chunks = tuple(draw(st.integers(1, s + 1)) for s in shape)
    dtype = np.dtype(draw(st.sampled_from(["<f4", ">f8", ">i2", "<i4", "|u1", ">u4"])))
    codec = draw(st.sampled_from(sorted(CODECS)))
    key = tuple(draw(dim_key(n)) for n in shape)
    rules = draw(st.sets(st.sampled_from(["fill", "missing", "missing_list", "vmin", "vmax", "vrange", "nanfill"]),
                         max_size=3))
    op = draw(st.sampled_from(OPS))
    scaled = draw(st.sampled_from([None, (2.0, 0.0), (-0.5, 10.0), (1.0, -3.0)]))
    seed = draw(st.integers(0, 2**31 - 1))
    axis_seed = draw(st.integers(0, 2**16))
    return shape, chunks, dtype, codec, key, rules, op, scaled, seed, axis_seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(reduce_case())
def test_reduce_equals_numpy_masked(tmp_path, c):
    shape, chunks, dtype, codec, key, rules, op, scaled, seed, axis_seed = c
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 20, size=shape).astype(dtype)
    if dtype.kind == "f":
        data = (data + rng.normal(size=shape)).astype(dtype)
    # plant the special values
    fill, mv, mvs = 19, 18, [17, 16]
    attrs = {}
    spots = rng.random(shape)
    if "fill" in rules:
        attrs["_FillValue"] = np.asarray(fill, dtype=dtype)[()]
        data[spots < 0.15] = fill
    if "missing" in rules:
        attrs["missing_value"] = np.asarray(mv, dtype=dtype)[()]
        data[(spots >= 0.15) & (spots < 0.25)] = mv
    elif "missing_list" in rules:
        attrs["missing_value"] = np.asarray(mvs, dtype=dtype)
        data[(spots >= 0.15) & (spots < 0.25)] = mvs[0]
        data[(spots >= 0.25) & (spots < 0.3)] = mvs[1]
    if "vrange" in rules:
        attrs["valid_range"] = np.asarray([2, 15], dtype=dtype)
    else:
        if "vmin" in rules:
            attrs["valid_min"] = np.asarray(3, dtype=dtype)[()]
        if "vmax" in rules:
            attrs["valid_max"] = np.asarray(14, dtype=dtype)[()]
    if "nanfill" in rules and dtype.kind == "f":
        attrs["_FillValue"] = np.asarray(np.nan, dtype=dtype)[()]
        data[spots > 0.9] = np.nan
    if scaled:
        attrs["scale_factor"], attrs["add_offset"] = scaled
    var = build_var(tmp_path / "d.bin", data, chunks, CODECS[codec], attrs=attrs,
                    fill=0)
    p = plan(VDataset({"x": var}), key, variable="x")
    sel = np_orthogonal(data, key)
    # the oracle's own mask
    mask = np.zeros(sel.shape, dtype=bool)
    for name in ("_FillValue", "missing_value"):
        for v in np.ravel(attrs.get(name, [])):
            mask |= np.isnan(sel) if (dtype.kind == "f" and np.isnan(v)) else (sel == v)
    if "valid_range" in attrs:
        mask |= (sel < attrs["valid_range"][0]) | (sel > attrs["valid_range"][1])
    if "valid_min" in attrs:
        mask |= sel < attrs["valid_min"]
    if "valid_max" in attrs:
        mask |= sel > attrs["valid_max"]
    nd = sel.ndim
    arng = np.random.default_rng(axis_seed)
    if arng.random() < 0.3 or nd == 0:
        axis, axes = None, tuple(range(nd))
    else:
        k = int(arng.integers(1, nd + 1))
        axes = tuple(sorted(arng.choice(nd, size=k, replace=False).tolist()))
        axis = axes if len(axes) > 1 else axes[0]
    # raw values (decode=False)
    got = p.reduce(op, axis=axis, decode=False)
    exp = oracle(sel, mask, op, axes)
    exact = op in ("min", "max", "count") or (op == "sum" and dtype.kind in "iu")
    check_equal(got, exp, op, exact)
    # CF scale/offset applied after the reduction
    if scaled:
        got = p.reduce(op, axis=axis)
        exp = oracle(sel, mask, op, axes, scale=scaled[0], offset=scaled[1])
        check_equal(got, exp, op, exact=op == "count")


def test_reduce_by_dim_name_and_stats(tmp_path):
    data = np.arange(6 * 4 * 5, dtype="<f8").reshape(6, 4, 5)
    var = build_var(tmp_path / "a.bin", data, (2, 4, 5), CODECS["zlib"], attrs={"_FillValue": 7.0})
    p = plan(VDataset({"x": var}), "x[:, 1:3]")
    m = p.reduce("mean", axis="d0")
    sel = np.ma.masked_equal(data[:, 1:3], 7.0)
    np.testing.assert_allclose(np.asarray(m), sel.mean(axis=0).filled(np.nan))
    assert p.last_stats.n_chunks == 3 and p.last_stats.n_decoded == 3
    assert p.reduce("count") == sel.count()
    with pytest.raises(SelectionError, match="not a dimension"):
        p.reduce("sum", axis="nope")
    with pytest.raises(SelectionError, match="unknown reduction"):
        p.reduce("median")


def test_reduce_over_missing_chunks_uses_fill(tmp_path):
    data = np.arange(16, dtype="<i4").reshape(4, 4)
    var = build_var(tmp_path / "a.bin", data, (2, 2), (), missing={0}, fill=-5, attrs={"_FillValue": np.int32(-5)})
    p = plan(VDataset({"x": var}), "x")
    # the missing chunk is all fill -> masked; the rest counts
    assert p.reduce("count") == 12
    assert p.reduce("min") == 2
    r = p.reduce("max", axis=1)
    assert np.ma.getmaskarray(r).tolist() == [False, False, False, False]
    sub = plan(VDataset({"x": var}), "x[0:2, 0:2]").reduce("sum")
    assert sub is np.ma.masked
