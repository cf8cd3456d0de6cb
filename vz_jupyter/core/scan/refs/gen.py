"""``gen`` entries of kerchunk JSON references: templates over ranges, expanded
here within :data:`~vz_jupyter.core.limits.MAX_GEN_REFS` references and
:data:`~vz_jupyter.core.limits.MAX_GEN_TEXT` characters a string."""
from __future__ import annotations

import ast
import itertools
import math
import operator
import re
from typing import Any

from ... import limits
from ...errors import ScanError
from .jsondoc import _short

# 'gen' entries: fsspec renders them with jinja2 (and ignores them unless
# simple_templates=False). Jinja's sandbox bounds neither time nor memory
# (``{{ 9**9**9 }}``), so a small subset is evaluated here instead: names,
# integer and string constants, + - * // % and parentheses on integers.
_GEN_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_GEN_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
            ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_INT_RE = re.compile(r"-?[0-9]{1,19}")


class _GenError(Exception):
    pass


def _gen_template(text: Any, what: str) -> list:
    """A template as a list of literal strings and parsed expressions."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise _GenError(f"{what} is a {type(text).__name__}, expected a string template")
    if len(text) > limits.MAX_GEN_TEXT:
        raise _GenError(f"{what} is longer than {limits.MAX_GEN_TEXT} characters")
    if "{%" in text or "{#" in text:
        raise _GenError(f"{what} uses jinja statements or comments; only {{{{ expressions }}}} are supported")
    parts: list = []
    pos = 0
    for m in _GEN_EXPR.finditer(text):
        parts.append(text[pos:m.start()])
        try:
            tree = ast.parse(m.group(1).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise _GenError(f"{what}: cannot parse {_short(m.group(1))}") from None
        _check_gen_ast(tree.body, what)
        parts.append(tree.body)
        pos = m.end()
    parts.append(text[pos:])
    if "{{" in parts[-1]:
        raise _GenError(f"{what}: unclosed '{{{{'")
    return parts


def _check_gen_ast(node: ast.AST, what: str, depth: int = 0) -> None:
    if depth > 20:
        raise _GenError(f"{what}: expression nested too deeply")
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.Constant) and type(node.value) in (int, str):
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _GEN_OPS:
        _check_gen_ast(node.left, what, depth + 1)
        _check_gen_ast(node.right, what, depth + 1)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check_gen_ast(node.operand, what, depth + 1)
        return
    raise _GenError(f"{what}: {_short(ast.unparse(node))} is not supported (names, integers, + - * // % only)")


def _gen_eval(node: ast.AST, ctx: dict) -> Any:
    if isinstance(node, ast.Name):
        try:
            return ctx[node.id]
        except KeyError:
            raise _GenError(f"{node.id!r} is not defined") from None
    if isinstance(node, ast.Constant):
        v = node.value
    elif isinstance(node, ast.UnaryOp):
        v = _gen_eval(node.operand, ctx)
        if type(v) is not int:
            raise _GenError(f"unary minus on a {type(v).__name__}")
        v = -v if isinstance(node.op, ast.USub) else v
    else:
        a, b = _gen_eval(node.left, ctx), _gen_eval(node.right, ctx)
        if type(a) is str and type(b) is str and isinstance(node.op, ast.Add):
            v = a + b
        elif type(a) is int and type(b) is int:
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
                raise _GenError("division by zero")
            v = _GEN_OPS[type(node.op)](a, b)
        else:
            raise _GenError(f"cannot apply {type(node.op).__name__} to {type(a).__name__} and {type(b).__name__}")
    if type(v) is int and not -(1 << 63) <= v < (1 << 63):
        raise _GenError("an integer outside the 64-bit range")
    if type(v) is str and len(v) > limits.MAX_GEN_TEXT:
        raise _GenError(f"a string longer than {limits.MAX_GEN_TEXT} characters")
    return v


def _gen_render(parts: list, ctx: dict) -> str:
    if len(parts) == 3 and not parts[0] and not parts[2]:
        return str(_gen_eval(parts[1], ctx))
    out = "".join(p if isinstance(p, str) else str(_gen_eval(p, ctx)) for p in parts)
    if len(out) > limits.MAX_GEN_TEXT:
        raise _GenError(f"renders to more than {limits.MAX_GEN_TEXT} characters")
    return out


def _gen_int(parts: list, ctx: dict, what: str) -> int:
    s = _gen_render(parts, ctx).strip()
    if not _INT_RE.fullmatch(s):
        raise _GenError(f"{what} renders to {_short(s)}, not an integer")
    return int(s)


def _gen_dims(g: dict, i: int) -> dict[str, Any]:
    dims = g.get("dimensions")
    if not isinstance(dims, dict) or not dims:
        raise _GenError(f"gen[{i}] needs a 'dimensions' object")
    out = {}
    for k, v in dims.items():
        if isinstance(v, list):
            if not all(type(x) in (int, str) for x in v):
                raise _GenError(f"gen[{i}] dimension {_short(k)}: values must be integers or strings")
            out[k] = v
        elif isinstance(v, dict):
            bounds = [v.get("start", 0), v.get("stop"), v.get("step", 1)]
            if not all(type(b) is int for b in bounds) or bounds[2] == 0:
                raise _GenError(f"gen[{i}] dimension {_short(k)}: start/stop/step must be integers (step not 0)")
            out[k] = range(*bounds)
        else:
            raise _GenError(f"gen[{i}] dimension {_short(k)} must be a list or a {{start, stop, step}} object")
    return out


def _safe_len(v) -> int:
    try:
        return len(v)
    except OverflowError:  # a range longer than sys.maxsize
        return 1 << 63


def _expand_gen(gens: list, templates: dict, path: str) -> dict:
    """Expand ``gen`` entries (templates over ranges), bounded in count and size."""
    out: dict[str, Any] = {}
    total = 0
    try:
        for i, g in enumerate(gens):
            if not isinstance(g, dict):
                raise _GenError(f"gen[{i}] is not an object")
            dims = _gen_dims(g, i)
            n = math.prod(_safe_len(v) for v in dims.values())
            total += n
            if total > limits.MAX_GEN_REFS:
                raise ScanError(path, f"'gen' entries would make more than {limits.MAX_GEN_REFS:,} references "
                                      f"(budget vz_jupyter.core.limits.MAX_GEN_REFS)")
            if ("offset" in g) != ("length" in g):
                raise _GenError(f"gen[{i}] needs both 'offset' and 'length' or neither")
            key_t = _gen_template(g.get("key"), f"gen[{i}] key")
            url_t = _gen_template(g.get("url"), f"gen[{i}] url")
            off_t = _gen_template(g["offset"], f"gen[{i}] offset") if "offset" in g else None
            len_t = _gen_template(g["length"], f"gen[{i}] length") if "length" in g else None
            names = list(dims)
            for values in itertools.product(*dims.values()):
                ctx = {**templates, **dict(zip(names, values))}
                key = _gen_render(key_t, ctx)
                if key in out:
                    raise ScanError(path, f"'gen' makes the key {_short(key)} twice (duplicate keys are ambiguous)")
                url = _gen_render(url_t, ctx)
                if off_t is not None:
                    out[key] = [url, _gen_int(off_t, ctx, "offset"), _gen_int(len_t, ctx, "length")]
                else:
                    out[key] = [url]
    except _GenError as e:
        raise ScanError(path, f"cannot expand a 'gen' entry: {e}") from None
    return out
