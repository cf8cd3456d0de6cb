"""A hostile corpus of kerchunk reference sets (JSON and parquet), made by code.

``json_cases()`` and ``parquet_cases()`` return ``[(case_id, build)]`` where
``build(folder) -> path`` writes one reference set (and the small data file it
points at) into ``folder``. Each case is a valid base reference set with one
thing broken the way a stranger's file can be: non-canonical or duplicate chunk
keys, numbers of the wrong type or size, bad base64, bad dtypes, shapes, codecs,
templates, ``gen`` bombs, zlib bombs, parquet record files that lie about their
size... Used by ``tests/test_hostile_refs.py`` (every entry point must give a
value or a one-line error) and as seeds for the fuzzers in ``tests/fuzz/``.
"""
from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

A = np.arange(8, dtype="<i4") * 3 + 1          # variable a: raw, 2 chunks of 4 in data.bin
Z = np.arange(6, dtype="<f8").reshape(2, 3) / 4  # variable z: zlib, inline, chunks (1, 3)


def _zarray(shape, chunks, dtype, compressor=None, fill_value=None, **extra):
    d = {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": dtype, "compressor": compressor,
         "fill_value": fill_value, "filters": None, "order": "C"}
    d.update(extra)
    return d


def base_refs(data_path: str) -> dict:
    """A valid version-1 reference set: ``a`` (raw int32 in ``data_path``),
    ``z`` (zlib float64 inline), ``s`` (a scalar)."""
    z_chunks = {f"z/{i}.0": "base64:" + base64.b64encode(zlib.compress(Z[i].tobytes())).decode() for i in range(2)}
    return {
        "version": 1,
        "refs": {
            ".zgroup": json.dumps({"zarr_format": 2}),
            ".zattrs": json.dumps({"title": "base"}),
            "a/.zarray": json.dumps(_zarray([8], [4], "<i4")),
            "a/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["x"]}),
            "a/0": [data_path, 0, 16],
            "a/1": [data_path, 16, 16],
            "z/.zarray": json.dumps(_zarray([2, 3], [1, 3], "<f8", {"id": "zlib", "level": 1})),
            "z/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["y", "w"]}),
            **z_chunks,
            "s/.zarray": json.dumps(_zarray([], [], "<i2")),
            "s/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": []}),
            "s/0": "base64:" + base64.b64encode(np.int16(7).tobytes()).decode(),
        },
    }


EXPECTED = {"a": A, "z": Z, "s": np.int16(7)}


def write_data(folder: Path) -> str:
    p = folder / "data.bin"
    p.write_bytes(A.tobytes())
    return str(p)


def zlib_bomb(n_bytes: int) -> bytes:
    """A zlib stream of ``n_bytes`` zero bytes, made without holding them."""
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(n_bytes >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


# -- mutations -------------------------------------------------------------------
def _zarr(name: str, **changes) -> Callable[[dict], None]:
    def f(r):
        za = json.loads(r["refs"][f"{name}/.zarray"])
        for k, v in changes.items():
            if v is _DROP:
                za.pop(k, None)
            else:
                za[k] = v
        r["refs"][f"{name}/.zarray"] = json.dumps(za)
    return f


_DROP = object()


def _set(key, value):
    def f(r):
        r["refs"][key] = value
    return f


def _drop(key):
    def f(r):
        r["refs"].pop(key, None)
    return f


def _rekey(old, new):
    def f(r):
        r["refs"][new] = r["refs"].pop(old)
    return f


def _top(key, value):
    def f(r):
        r[key] = value
    return f


def _attrs(name, value):
    def f(r):
        r["refs"][f"{name}/.zattrs"] = value if isinstance(value, str) else json.dumps(value)
    return f


def _gen(*gens, templates=None):
    def f(r):
        r["gen"] = list(gens)
        if templates is not None:
            r["templates"] = templates
    return f


def _mutations(data: str) -> dict[str, Callable[[dict], None]]:
    m: dict[str, Callable[[dict], None]] = {}
    # 1. chunk keys: anything but i.j.k of ASCII decimals inside the grid
    for bad in ["00", "+0", "-0", " 0", "0 ", "\u0660", "\uff10", "0x0", "1e0", "0.", ".0", "0_0", "0.0", "0/0", "2",
                "99999999999999999999999", "", "0\n", "\t1", "01", "1.", "1/", "\u00b9", "\u2070"]:
        m[f"key-a/{bad.encode('unicode-escape').decode()}"] = _rekey("a/0", f"a/{bad}")
    for bad in ["0", "0.0.0", "00.0", "0.00", "0/0", "0.-1", "1.0\n", "0. 0", "2.0", "0.1"]:
        m[f"key-z/{bad.encode('unicode-escape').decode()}"] = _rekey("z/0.0", f"z/{bad}")
    m["key-s/1"] = _rekey("s/0", "s/1")
    m["key-s/00"] = _rekey("s/0", "s/00")
    m["key-s/0.0"] = _rekey("s/0", "s/0.0")
    m["key-stray-below-array"] = _set("a/0/0", [data, 0, 16])
    m["key-sep-slash-with-dots"] = _zarr("z", dimension_separator="/")
    m["key-sep-bad"] = _zarr("z", dimension_separator="-")
    m["key-sep-number"] = _zarr("z", dimension_separator=1)
    m["key-nonstring-value-key"] = _set("a/1", {"url": data})
    # 3. reference values of every wrong type and size
    vals = {
        "float-offset": [data, 0.0, 16], "float-length": [data, 0, 16.0], "string-offset": [data, "0", 16],
        "string-length": [data, 0, "16"], "bool-offset": [data, False, 16], "neg-offset": [data, -1, 16],
        "neg-length": [data, 0, -16], "huge-offset": [data, 2 ** 64, 16], "huge-length": [data, 0, 10 ** 30],
        "big-offset": [data, 2 ** 62, 16], "overflow-sum": [data, 2 ** 62, 2 ** 62], "two": [data, 0],
        "four": [data, 0, 16, 1], "empty": [], "null-url": [None, 0, 16], "int-url": [1, 0, 16],
        "list-url": [[data], 0, 16], "dict": {"x": 1}, "int": 17, "float": 1.5, "bool": True, "null": None,
        "zero-length": [data, 0, 0], "short-length": [data, 0, 8], "long-length": [data, 0, 32],
        "past-eof": [data, 24, 16], "nul-url": [data + "\x00x", 0, 16], "empty-url": ["", 0, 16],
        "missing-file": [data + ".missing", 0, 16], "whole-file": [data], "whole-missing": [data + ".nope"],
        "dir-url": [str(Path(data).parent), 0, 16], "inline-short": "abc", "inline-long": "x" * 40,
        "b64-padding": "base64:AAAA=", "b64-garbage": "base64:!!!!", "b64-short": "base64:AAAAAAAAAAA",
        "b64-empty": "base64:", "b64-unicode": "base64:\u00e9\u00e9\u00e9\u00e9",
        "surrogate": "\ud800\ud800", "nested-deep": [[[[[[[[[[data]]]]]]]]], 0, 16],
        "template-undefined": ["{{nope}}", 0, 16], "template-attr": ["{{u.__class__}}", 0, 16],
        "template-index": ["{{0}}", 0, 16], "template-brace": ["{x}{{", 0, 16],
    }
    for k, v in vals.items():
        m[f"value-a/1-{k}"] = _set("a/1", v)
    for k, v in {"b64-padding": "base64:eJ=", "not-zlib": "base64:" + base64.b64encode(b"hello").decode(),
                 "zlib-short": "base64:" + base64.b64encode(zlib.compress(b"\0" * 8)).decode(),
                 "zlib-long": "base64:" + base64.b64encode(zlib.compress(b"\0" * 48)).decode(),
                 "zlib-truncated": "base64:" + base64.b64encode(zlib.compress(Z[1].tobytes())[:-6]).decode(),
                 "zlib-bomb": "base64:" + base64.b64encode(zlib_bomb(64 << 20)).decode(),
                 "raw-text": "hello world", "ref-to-raw": [data, 0, 24]}.items():
        m[f"value-z/1.0-{k}"] = _set("z/1.0", v)
    m["value-s-long"] = _set("s/0", "base64:" + base64.b64encode(b"\0" * 4).decode())
    m["value-s-ref"] = _set("s/0", [data, 0, 2])
    # dtypes, shapes, chunks, codecs
    for k, v in {"null": None, "int": 5, "list-empty": [], "bad": "<q9", "object": "|O", "void0": "|V0", "bytes0": "|S0",
                 "nested": [["f", [["g", "<i4"]]]], "deep": [["f", [["g", [["h", "<i4"]]]]]], "shape-huge": ["<i4", [2 ** 40]],
                 "struct": [["x", "<i2"], ["y", "<i2"]], "struct-bad": [["x"]], "struct-dup": [["x", "<i2"], ["x", "<i2"]],
                 "float-name": "float64", "bool": True, "dict": {"a": 1}, "unicode": "<U2", "big-endian": ">i4",
                 "datetime": "<M8[s]", "complex": "<c8"}.items():
        m[f"dtype-a-{k}"] = _zarr("a", dtype=v)
    for k, changes in {
        "shape-float": {"shape": [8.0]}, "shape-string": {"shape": ["8"]}, "shape-neg": {"shape": [-8]},
        "shape-huge": {"shape": [2 ** 70]}, "shape-null": {"shape": None}, "shape-missing": {"shape": _DROP},
        "shape-2d": {"shape": [8, 1]}, "shape-bool": {"shape": [True]}, "shape-zero": {"shape": [0]},
        "chunks-zero": {"chunks": [0]}, "chunks-neg": {"chunks": [-4]}, "chunks-float": {"chunks": [4.5]},
        "chunks-2d": {"chunks": [4, 4]}, "chunks-null": {"chunks": None}, "chunks-missing": {"chunks": _DROP},
        "chunks-big": {"chunks": [16]}, "chunks-one": {"chunks": [1]}, "grid-huge": {"shape": [2 ** 40], "chunks": [1]},
        "grid-budget": {"shape": [2 ** 26], "chunks": [1]},
        "order-F": {"order": "F"}, "order-X": {"order": "X"}, "order-null": {"order": None},
        "zarr-format-3": {"zarr_format": 3}, "zarr-format-str": {"zarr_format": "2"},
        "compressor-str": {"compressor": "zlib"}, "compressor-id-int": {"compressor": {"id": 5}},
        "compressor-unknown": {"compressor": {"id": "no-such-codec"}},
        "compressor-bad-config": {"compressor": {"id": "zlib", "level": "high"}},
        "compressor-pickle": {"compressor": {"id": "pickle"}}, "compressor-list": {"compressor": [{"id": "zlib"}]},
        "compressor-zlib-on-raw": {"compressor": {"id": "zlib"}},
        "compressor-blosc-on-raw": {"compressor": {"id": "blosc"}},
        "filters-dict": {"filters": {"id": "shuffle"}}, "filters-int": {"filters": [5]},
        "filters-noid": {"filters": [{"elementsize": 4}]}, "filters-delta": {"filters": [{"id": "delta", "dtype": "<i4"}]},
        "filters-astype-huge": {"filters": [{"id": "astype", "encode_dtype": "<i8", "decode_dtype": "<i4"}]},
        "filters-vlen-on-int": {"filters": [{"id": "vlen-utf8"}]},
        "fill-string": {"fill_value": "abc"}, "fill-list": {"fill_value": [1, 2]}, "fill-dict": {"fill_value": {"a": 1}},
        "fill-float": {"fill_value": 1.5}, "fill-huge": {"fill_value": 2 ** 70}, "fill-nan": {"fill_value": "NaN"},
        "fill-bool": {"fill_value": True},
    }.items():
        m[f"zarray-a-{k}"] = _zarr("a", **changes)
    for k, changes in {"fill-b64-bad": {"fill_value": "!!"}, "fill-complex-bad": {"fill_value": [1]},
                       "compressor-gzip": {"compressor": {"id": "gzip"}}, "compressor-zstd": {"compressor": {"id": "zstd"}},
                       "compressor-lz4": {"compressor": {"id": "lz4"}}, "compressor-bz2": {"compressor": {"id": "bz2"}},
                       "compressor-lzma": {"compressor": {"id": "lzma"}}, "compressor-lzf": {"compressor": {"id": "vz.lzf"}},
                       "compressor-h5lz4": {"compressor": {"id": "vz.h5lz4"}},
                       "compressor-bitshuffle": {"compressor": {"id": "vz.bitshuffle", "elementsize": 8, "compression": 2}},
                       "field-bad": {"filters": [{"id": "vz.field", "dtype": [["q", "<f8"]], "field": "x"}]},
                       "dtype-i1": {"dtype": "|i1"}, "dtype-f16": {"dtype": "<c16"}}.items():
        m[f"zarray-z-{k}"] = _zarr("z", **changes)
    m["zarray-a-not-json"] = _set("a/.zarray", "{not json")
    m["zarray-a-list"] = _set("a/.zarray", "[1, 2]")
    m["zarray-a-dict-value"] = _set("a/.zarray", {"shape": [8], "chunks": [4], "dtype": "<i4"})
    m["zarray-a-int-value"] = _set("a/.zarray", 5)
    m["zarray-a-b64-bad"] = _set("a/.zarray", "base64:e30")
    m["zarray-a-b64-ok"] = _set("a/.zarray", "base64:" + base64.b64encode(json.dumps(_zarray([8], [4], "<i4")).encode()).decode())
    m["zarray-a-dup-key"] = _set("a/.zarray", '{"shape": [8], "chunks": [4], "dtype": "<i4", "dtype": "<i8", "compressor": null}')
    m["zarray-a-deep"] = _set("a/.zarray", "[" * 100000 + "]" * 100000)
    m["zarray-a-missing"] = _drop("a/.zarray")
    m["zarray-a-nan"] = _set("a/.zarray", '{"shape": [NaN], "chunks": [4], "dtype": "<i4"}')
    m["zarray-a-inf"] = _set("a/.zarray", '{"shape": [8], "chunks": [Infinity], "dtype": "<i4"}')
    m["zarray-a-bigint"] = _set("a/.zarray", '{"shape": [8], "chunks": [4], "dtype": "<i4", "fill_value": 1' + "0" * 5000 + "}")
    m["zarray-a-bigfloat"] = _set("a/.zarray", '{"shape": [8], "chunks": [4], "dtype": "<f4", "fill_value": 1e999}')
    m["zarray-root"] = _set(".zarray", json.dumps(_zarray([8], [4], "<i4")))
    m["zgroup-v3"] = _set(".zgroup", json.dumps({"zarr_format": 3}))
    m["zgroup-list"] = _set(".zgroup", "[]")
    m["zattrs-list"] = _set(".zattrs", "[]")
    m["zattrs-a-list"] = _attrs("a", "[1]")
    for k, v in {"dims-long": ["x", "y"], "dims-int": [1], "dims-null": [None], "dims-repeat-z": None,
                 "dims-str": "x", "dims-dict": {"x": 1}}.items():
        if k == "dims-repeat-z":
            m["attrs-z-dims-repeat"] = _attrs("z", {"_ARRAY_DIMENSIONS": ["y", "y"]})
        else:
            m[f"attrs-a-{k}"] = _attrs("a", {"_ARRAY_DIMENSIONS": v})
    m["attrs-a-conflicting-dim"] = _attrs("a", {"_ARRAY_DIMENSIONS": ["y"]})
    for k, v in {"fill-str": "x", "fill-b64": "AAAAAAAA", "fill-list": [1, 2], "fill-huge": 2 ** 70,
                 "fill-float": 1.5, "fill-nan": "NaN", "scale-str": None}.items():
        if k == "scale-str":
            m["attrs-a-scale-str"] = _attrs("a", {"_ARRAY_DIMENSIONS": ["x"], "scale_factor": "two"})
        else:
            m[f"attrs-a-{k}"] = _attrs("a", {"_ARRAY_DIMENSIONS": ["x"], "_FillValue": v})
    # top level
    for k, v in {"version-2": 2, "version-str": "1", "version-true": True, "version-float": 1.0,
                 "version-null": None, "refs-list": [], "refs-str": "x", "templates-list": [],
                 "templates-int": {"u": 5}, "templates-jinja": {"u": "{{v}}"}, "gen-dict": {"a": 1}}.items():
        key = {"version": "version", "refs": "refs", "templates": "templates", "gen": "gen"}[k.split("-")[0]]
        m[f"top-{k}"] = _top(key, v)
    # templates and gen
    tdir = str(Path(data).parent)
    m["template-ok"] = lambda r: (r.update({"templates": {"u": tdir}}), r["refs"].update({"a/1": ["{{u}}/data.bin", 16, 16]}))
    gen_ok = _gen({"key": "a/{{i}}", "url": "{{u}}/data.bin", "offset": "{{i * 16}}", "length": "16",
                   "dimensions": {"i": {"stop": 2}}}, templates={"u": tdir})
    m["gen-ok"] = lambda r: (r["refs"].pop("a/0"), r["refs"].pop("a/1"), gen_ok(r))
    gen_base = {"key": "a/{{i}}", "url": data, "offset": "{{i * 16}}", "length": "16", "dimensions": {"i": {"stop": 2}}}
    for k, changes in {
        "huge-range": {"dimensions": {"i": {"stop": 10 ** 12}}}, "product": {"dimensions": {"i": {"stop": 10 ** 4}, "j": {"stop": 10 ** 4}}},
        "pow": {"offset": "{{ 9**9**9 }}"}, "str-mul": {"url": "{{ 'x' * 10**10 }}"}, "big-mul": {"offset": "{{ i * 99999999999 * 99999999999 * 99999999999 }}"},
        "statement": {"url": "{% for x in range(10**9) %}x{% endfor %}"}, "comment": {"key": "a/{# x #}{{i}}"},
        "attr": {"url": "{{ i.__class__ }}"}, "call": {"url": "{{ range(10) }}"}, "filter": {"url": "{{ i | string }}"},
        "undefined": {"url": "{{ nope }}"}, "unclosed": {"url": "{{ i "}, "div0": {"offset": "{{ i // 0 }}"},
        "float-offset": {"offset": "1.5"}, "neg-offset": {"offset": "-16"}, "str-offset": {"offset": "{{ 'a' }}"},
        "offset-only": {"length": _DROP}, "dims-list": {"dimensions": {"i": [0, 1]}}, "dims-bad-list": {"dimensions": {"i": [0.5, None]}},
        "dims-float": {"dimensions": {"i": {"stop": 2.5}}}, "dims-step0": {"dimensions": {"i": {"stop": 2, "step": 0}}},
        "dims-missing": {"dimensions": _DROP}, "dims-empty": {"dimensions": {}}, "dims-int": {"dimensions": {"i": 5}},
        "key-noncanonical": {"key": "a/0{{i}}"}, "key-dup": {"key": "a/0"}, "key-int": {"key": 5},
        "url-null": {"url": None}, "long-text": {"url": "x" * 100000},
    }.items():
        g = {kk: vv for kk, vv in {**gen_base, **changes}.items() if vv is not _DROP}
        m[f"gen-{k}"] = (lambda g: (lambda r: (r["refs"].pop("a/0"), r["refs"].pop("a/1"), r.update({"gen": [g]}))))(g)  # noqa: B023  (bound by the call)
    m["gen-clash-refs"] = _gen(gen_base)
    m["gen-not-list"] = _top("gen", "x")
    m["gen-item-int"] = _top("gen", [5])
    return m


def _raw_cases(data: str) -> dict[str, Callable[[], str]]:
    """Cases that are not a valid JSON document (written as text)."""
    good = json.dumps(base_refs(data))
    dup = good.replace('"a/1": [', '"a/1": ["' + data + '", 0, 16], "a/1": [', 1)
    return {
        "raw-dup-chunk-key": dup,
        "raw-dup-top": good[:-1] + ', "version": 1}',
        "raw-dup-refs": good[:-1] + ', "refs": {}}',
        "raw-empty": "",
        "raw-not-json": "{",
        "raw-list": "[1, 2]",
        "raw-null": "null",
        "raw-deep": "[" * 200000 + "]" * 200000,
        "raw-deep-obj": '{"a":' * 100000 + "1" + "}" * 100000,
        "raw-latin1": good.replace("base", "b\xe9se"),
        "raw-bigint": good[:-1] + ', "x": 1' + "0" * 10000 + "}",
        "raw-nan-key": good[:-1] + ', "x": NaN}',
    }


def json_cases() -> list[tuple[str, Callable[[Path], str]]]:
    """``[(case_id, build)]`` for the JSON corpus; ``build(folder)`` writes
    ``data.bin`` and ``refs.json`` and returns the reference file's path."""
    out = []
    probe = "/DATA"
    for name in list(_mutations(probe)) + list(_raw_cases(probe)):
        out.append((name, (lambda name: lambda folder: build_json(folder, name))(name)))  # noqa: B023  (bound by the call)
    return out


def build_json(folder: Path, name: str) -> str:
    data = write_data(folder)
    target = folder / "refs.json"
    raws = _raw_cases(data)
    if name in raws:
        text = raws[name]
        target.write_bytes(text.encode("latin-1") if name == "raw-latin1" else text.encode("utf-8", "surrogatepass"))
        return str(target)
    refs = base_refs(data)
    _mutations(data)[name](refs)
    target.write_bytes(json.dumps(refs).encode("utf-8", "surrogatepass"))
    return str(target)


# -- parquet -------------------------------------------------------------------
def _write_parquet(folder: Path, refs: dict, record_size: int = 10) -> Path:
    """The base reference set as a kerchunk parquet directory (fsspec layout)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = folder / "refs.parq"
    root.mkdir()
    meta = {k: v for k, v in refs["refs"].items() if k.rsplit("/", 1)[-1].startswith(".z")}
    (root / ".zmetadata").write_text(json.dumps({"metadata": meta, "record_size": record_size}))
    grids = {"a": 2, "z": 2, "s": 1}
    for var, n in grids.items():
        (root / var).mkdir()
        rows = {"path": [], "offset": [], "size": [], "raw": []}
        for i in range(n):
            key = {"a": f"a/{i}", "z": f"z/{i}.0", "s": "s/0"}[var]
            v = refs["refs"][key]
            if isinstance(v, list):
                rows["path"].append(v[0]), rows["offset"].append(v[1]), rows["size"].append(v[2]), rows["raw"].append(None)
            else:
                rows["path"].append(None), rows["offset"].append(0), rows["size"].append(0)
                rows["raw"].append(base64.b64decode(v[7:]))
        for k in rows:
            rows[k] += [None if k in ("path", "raw") else 0] * (record_size - n)
        t = pa.table({"path": pa.array(rows["path"], pa.string()), "offset": pa.array(rows["offset"], pa.int64()),
                      "size": pa.array(rows["size"], pa.int64()), "raw": pa.array(rows["raw"], pa.binary())})
        pq.write_table(t, root / var / "refs.0.parq")
    return root


def _pq_replace(var: str, **cols):
    """Replace columns of ``var/refs.0.parq`` (values as pyarrow arrays)."""
    def f(root: Path):
        import pyarrow.parquet as pq

        t = pq.read_table(root / var / "refs.0.parq")
        for k, v in cols.items():
            if v is None:
                t = t.drop_columns([k])
            elif k in t.column_names:
                t = t.set_column(t.column_names.index(k), k, v)
            else:
                t = t.append_column(k, v)
        pq.write_table(t, root / var / "refs.0.parq")
    return f


def _zmeta(change):
    def f(root: Path):
        p = root / ".zmetadata"
        p.write_text(change(p.read_text()))
    return f


def _parquet_mutations(data: str) -> dict[str, Callable[[Path], None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def many_rows(root: Path):
        # 20 million null rows: a few KB on disk, hundreds of MB if read
        n = 20_000_000
        t = pa.table({"path": pa.nulls(n, pa.string()), "offset": pa.array(np.zeros(n, np.int64)),
                      "size": pa.array(np.zeros(n, np.int64)), "raw": pa.nulls(n, pa.binary())})
        pq.write_table(t, root / "a" / "refs.0.parq", compression="zstd")

    def big_raw(root: Path):
        t = pq.read_table(root / "z" / "refs.0.parq")
        raws = [b"\0" * (100 << 20)] + [None] * (t.num_rows - 1)
        t = t.set_column(t.column_names.index("raw"), "raw", pa.array(raws, pa.binary()))
        pq.write_table(t, root / "z" / "refs.0.parq", compression="zstd")

    n = 10
    m: dict[str, Callable[[Path], None]] = {
        "pq-ok": lambda root: None,
        "pq-zmeta-not-json": _zmeta(lambda s: "{"),
        "pq-zmeta-dup": _zmeta(lambda s: s[:-1] + ', "record_size": 3}'),
        "pq-zmeta-list": _zmeta(lambda s: "[]"),
        "pq-zmeta-deep": _zmeta(lambda s: "[" * 100000 + "]" * 100000),
        "pq-record-size-0": _zmeta(lambda s: s.replace('"record_size": 10', '"record_size": 0')),
        "pq-record-size-str": _zmeta(lambda s: s.replace('"record_size": 10', '"record_size": "10"')),
        "pq-record-size-float": _zmeta(lambda s: s.replace('"record_size": 10', '"record_size": 10.0')),
        "pq-record-size-huge": _zmeta(lambda s: s.replace('"record_size": 10', '"record_size": 100000000000')),
        "pq-record-size-1": _zmeta(lambda s: s.replace('"record_size": 10', '"record_size": 1')),
        "pq-no-zmeta": lambda root: (root / ".zmetadata").unlink(),
        "pq-missing-record": lambda root: (root / "a" / "refs.0.parq").unlink(),
        "pq-garbage-record": lambda root: (root / "a" / "refs.0.parq").write_bytes(b"PAR1garbagePAR1"),
        "pq-empty-record": lambda root: (root / "a" / "refs.0.parq").write_bytes(b""),
        "pq-record-is-dir": lambda root: ((root / "a" / "refs.0.parq").unlink(), (root / "a" / "refs.0.parq").mkdir()),
        "pq-many-rows": many_rows,
        "pq-big-raw": big_raw,
        "pq-zlib-bomb-raw": _pq_replace("z", raw=pa.array([zlib_bomb(64 << 20)] + [None] * (n - 1), pa.binary())),
        "pq-float-offset": _pq_replace("a", offset=pa.array([0.0, 16.0] + [0.0] * (n - 2))),
        "pq-string-offset": _pq_replace("a", offset=pa.array(["0", "16"] + ["0"] * (n - 2))),
        "pq-neg-offset": _pq_replace("a", offset=pa.array([0, -16] + [0] * (n - 2), pa.int64())),
        "pq-null-offset": _pq_replace("a", offset=pa.array([0, None] + [0] * (n - 2), pa.int64())),
        "pq-uint64-offset": _pq_replace("a", offset=pa.array([0, 2 ** 64 - 1] + [0] * (n - 2), pa.uint64())),
        "pq-no-offset": _pq_replace("a", offset=None),
        "pq-no-path-no-raw": _pq_replace("a", path=None, raw=None),
        "pq-int-path": _pq_replace("a", path=pa.array([1, 2] + [None] * (n - 2), pa.int64())),
        "pq-binary-path": _pq_replace("a", path=pa.array([data.encode(), data.encode()] + [None] * (n - 2), pa.binary())),
        "pq-nul-path": _pq_replace("a", path=pa.array([data + "\x00", data] + [None] * (n - 2), pa.string())),
        "pq-int-raw": _pq_replace("z", raw=pa.array([1, 2] + [None] * (n - 2), pa.int64())),
        "pq-b64-raw": _pq_replace("z", raw=pa.array([b"base64:!!!", None] + [None] * (n - 2), pa.binary())),
        "pq-short-raw": _pq_replace("z", raw=pa.array([b"x", b"y"] + [None] * (n - 2), pa.binary())),
        "pq-few-rows": lambda root: pq.write_table(pq.read_table(root / "a" / "refs.0.parq").slice(0, 1), root / "a" / "refs.0.parq"),
        "pq-short-size": _pq_replace("a", size=pa.array([16, 8] + [0] * (n - 2), pa.int64())),
        "pq-whole-file": _pq_replace("a", offset=pa.array([0] * n, pa.int64()), size=pa.array([0] * n, pa.int64())),
    }
    for k in ("null", "object", "bad"):
        dt = {"null": None, "object": "|O", "bad": "<q9"}[k]
        m[f"pq-dtype-{k}"] = _zmeta(lambda s, dt=dt: json.dumps({**json.loads(s), "metadata": {
            **json.loads(s)["metadata"], "a/.zarray": json.dumps({**json.loads(json.loads(s)["metadata"]["a/.zarray"]), "dtype": dt})}}))
    m["pq-grid-huge"] = _zmeta(lambda s: json.dumps({**json.loads(s), "metadata": {
        **json.loads(s)["metadata"], "a/.zarray": json.dumps(_zarray([2 ** 40], [1], "<i4"))}}))
    return m


def parquet_cases() -> list[tuple[str, Callable[[Path], str]]]:
    return [(name, (lambda name: lambda folder: build_parquet(folder, name))(name)) for name in _parquet_mutations("/DATA")]  # noqa: B023  (bound by the call)


def build_parquet(folder: Path, name: str) -> str:
    data = write_data(folder)
    root = _write_parquet(folder, base_refs(data))
    _parquet_mutations(data)[name](root)
    return str(root)
