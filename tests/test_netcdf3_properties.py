"""Property tests (hypothesis) of the NetCDF3 header parser and scanner.

* any header the format allows parses back to what was written (dims, types,
  attributes, variables, begins), NUL-padded names as netCDF-C reads them;
* any bytes after a ``CDF`` magic, and any damage to a valid file, end in a
  header or a one-line ScanError naming the file, never another exception.
"""
from __future__ import annotations

import os
import struct
import tempfile

import numpy as np
import pytest
from _hostile_scan import nc3_bytes
from hypothesis import HealthCheck, given, settings, strategies as st

from vz_jupyter.core.errors import ScanError
from vz_jupyter.core.scan import scan_file
from vz_jupyter.core.scan.netcdf3 import NC_TYPES, parse_header

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME = st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=8)
TYPES = {1: [1, 2, 3, 4, 5, 6], 2: [1, 2, 3, 4, 5, 6], 5: list(range(1, 12))}


def _values(t: int, n: int, draw) -> bytes:
    dt = NC_TYPES[t][1]
    if t == 2:
        return draw(st.binary(min_size=n, max_size=n))
    raw = draw(st.binary(min_size=n * dt.itemsize, max_size=n * dt.itemsize))
    return raw


@st.composite
def headers(draw):
    version = draw(st.sampled_from([1, 2, 5]))
    ndims = draw(st.integers(0, 4))
    names = draw(st.lists(NAME, min_size=ndims, max_size=ndims, unique=True))
    unlimited = draw(st.booleans()) and ndims > 0
    dims = [(n, 0 if (unlimited and i == 0) else draw(st.integers(1, 5))) for i, n in enumerate(names)]
    gatts = []
    for aname in draw(st.lists(NAME, max_size=3, unique=True)):
        t = draw(st.sampled_from(TYPES[version]))
        n = draw(st.integers(1, 4))
        gatts.append((aname, t, _values(t, n, draw), n))
    numrecs = draw(st.integers(0, 3)) if unlimited else 0
    specs = []
    for vname in draw(st.lists(NAME, max_size=4, unique=True)):
        t = draw(st.sampled_from(TYPES[version]))
        ids = draw(st.lists(st.integers(0, max(ndims - 1, 0)), max_size=ndims, unique=True)) if ndims else []
        if unlimited and 0 in ids:  # the record dimension goes first
            ids = [0] + [i for i in ids if i != 0]
        specs.append((vname, ids, t))
    return version, numrecs, dims, gatts, specs


def _layout(version, numrecs, dims, gatts, specs):
    """The header's bytes with the data laid out as netCDF-C does (fixed
    variables, then the records), the begins, and the file's total size."""
    def vsize(ids, t):
        n = NC_TYPES[t][1].itemsize
        for i in ids:
            if dims[i][1]:
                n *= dims[i][1]
        return n + (-n % 4)

    def build(begins):
        variables = [(name, ids, [], t, vsize(ids, t), b) for (name, ids, t), b in zip(specs, begins)]
        return nc3_bytes(version, numrecs, dims, gatts, variables)

    head = len(build([0] * len(specs)))
    begins, pos = [], head
    rec = [i for i, (_, ids, _) in enumerate(specs) if ids and dims[ids[0]][1] == 0]
    for i, (_name, ids, t) in enumerate(specs):
        if i not in rec:
            begins.append(pos)
            pos += vsize(ids, t)
        else:
            begins.append(None)
    recsize = sum(vsize(specs[i][1], specs[i][2]) for i in rec)
    for i in rec:
        begins[i] = pos
        pos += vsize(specs[i][1], specs[i][2])
    data = build(begins)
    total = pos + max(numrecs - 1, 0) * recsize if rec else pos
    return data, begins, total


@given(headers())
@SETTINGS
def test_valid_headers_parse_back(h):
    version, numrecs, dims, gatts, specs = h
    data, begins, total = _layout(*h)
    data = data + bytes(max(0, total - len(data)))
    hdr, _ = parse_header("mem.nc", lambda o, n: data[o:o + n], len(data))
    assert hdr.version == version and hdr.numrecs == numrecs
    assert list(hdr.dims) == dims
    assert list(hdr.attrs) == [a[0] for a in gatts]
    for (aname, t, raw, n) in gatts:
        got = hdr.attrs[aname]
        if t != 2:
            exp = np.frombuffer(raw, dtype=NC_TYPES[t][1], count=n)
            np.testing.assert_array_equal(np.atleast_1d(got).astype(exp.dtype), exp)
    assert [v.name for v in hdr.variables] == [s[0] for s in specs]
    for v, (_name, ids, t), b in zip(hdr.variables, specs, begins):
        assert v.dimids == tuple(ids) and v.nc_type == t and v.begin == b


@given(st.sampled_from([1, 2, 5]), NAME, st.integers(1, 7))
@SETTINGS
def test_nul_padded_names_read_as_netcdf_c_reads_them(version, name, pad):
    wide = version == 5
    raw = name.encode() + b"\x00" * pad
    cnt = ">Q" if wide else ">I"
    blob = raw + b"\x00" * (-len(raw) % 4)
    data = (b"CDF" + bytes([version]) + struct.pack(cnt, 0) + struct.pack(">I", 10) + struct.pack(cnt, 1)
            + struct.pack(cnt, len(raw)) + blob + struct.pack(cnt, 3)
            + struct.pack(">I", 0) + struct.pack(cnt, 0) + struct.pack(">I", 0) + struct.pack(cnt, 0))
    hdr, _ = parse_header("mem.nc", lambda o, n: data[o:o + n], len(data))
    assert hdr.dims == ((name, 3),)


@given(st.sampled_from([b"CDF\x01", b"CDF\x02", b"CDF\x05"]), st.binary(max_size=300))
@settings(max_examples=400, deadline=None)
def test_any_bytes_after_the_magic_are_a_header_or_a_scan_error(magic, rest):
    data = magic + rest
    try:
        parse_header("mem.nc", lambda o, n: data[o:o + n], len(data))
    except ScanError as e:
        assert str(e).startswith("mem.nc: ") and "\n" not in str(e)


@given(headers(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
       st.one_of(st.none(), st.integers(0, 10_000)))
@SETTINGS
def test_damaged_files_scan_or_fail_in_one_line(h, flips, cut):
    data, _, total = _layout(*h)
    data = bytearray(data + bytes(max(0, total - len(data))))
    for pos, val in flips:
        if data:
            data[pos % len(data)] = val
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.nc")
        with open(p, "wb") as f:
            f.write(bytes(data))
        try:
            ds = scan_file(p, errors="skip")
        except ScanError as e:
            assert str(e).startswith(p) and "\n" not in str(e)
        else:
            repr(ds)
            for v in ds.variables.values():  # everything referenced lies inside the file
                m = v.manifest
                ref = m.path_id <= 0xFFFFFFFD
                if ref.any():
                    assert int((m.offset[ref] + m.length[ref]).max()) <= len(data)


@pytest.mark.parametrize("version", [1, 2, 5])
@pytest.mark.parametrize("field", ["dimension count", "name length"])
def test_huge_counts_are_refused_before_allocating(tmp_path, version, field):
    wide = version == 5
    cnt, w = (">Q", 8) if wide else (">I", 4)
    data = bytearray(nc3_bytes(version, 0, [("a", 3)], [], []))
    at = 4 + w + 4 + (w if field == "name length" else 0)  # magic, numrecs, tag, [count]
    data[at:at + w] = struct.pack(cnt, (1 << (8 * w)) - 1)
    p = tmp_path / "h.nc"
    p.write_bytes(bytes(data))
    with pytest.raises(ScanError) as e:
        scan_file(str(p))
    assert "\n" not in str(e.value) and "more than the file can hold" in str(e.value)
