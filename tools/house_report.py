"""Is the house kept? Module sizes, long functions, function-local imports and import
cycles for ``vz_jupyter/`` and ``vz_jupyter_codecs/`` (DESIGN §1, issue 9).

    python tools/house_report.py              # a table per module, then the details
    python tools/house_report.py --check      # exit 1 when any rule below is broken
    python tools/house_report.py --json       # the same findings, machine-readable
    python tools/house_report.py vz_jupyter/core/access.py vz_jupyter/display   # some modules only

The rules (each finding the table marks with ``!`` is a violation in ``--check``):

- **module size**: a module over 600 lines does more than one job; split it by job.
- **long function**: a function or method over 60 lines (from its ``def`` line to its last
  line, nested functions counted in their parent too) must say why in its docstring, on a
  line of its own starting with ``Long because:``, e.g.
  ``Long because: one linear state machine over the header bytes; splitting it hides the order.``
  Such a function is listed, not flagged.
- **function-local import**: an ``import`` inside a function is for an optional or heavy
  dependency, or breaks a genuine load-order need, and says so in a comment on the import's
  own line(s) or on a comment line right above it, e.g. ``import icechunk  # optional: icechunk``.
  One without such a comment is flagged (tool directives like ``# noqa: F401`` alone say nothing).
- **import cycle**: modules that import each other, directly or through others (explicit
  ``import``/``from ... import`` statements anywhere in the module, function bodies included;
  ``if TYPE_CHECKING:`` blocks excluded). A cycle closed by a function-local import is still a
  cycle. Each cycle is listed with one shortest loop through it.

Pure standard library (ast, tokenize): runs before ``make setup``, in any Python 3.11+.
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import re
import sys
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vz_jupyter", "vz_jupyter_codecs")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
REASON_MARK = "Long because:"


@dataclass(frozen=True)
class LongFunction:
    module: str
    name: str
    line: int
    lines: int
    reason: str  # the "Long because:" line, "" when none (a violation)


@dataclass(frozen=True)
class LocalImport:
    module: str
    function: str
    line: int
    text: str
    comment: str  # "" when none (a violation)


@dataclass
class ModuleFacts:
    module: str
    path: str
    lines: int
    long_functions: list[LongFunction] = field(default_factory=list)
    local_imports: list[LocalImport] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)  # modules of the scanned packages only
    top_level_imports: set[str] = field(default_factory=set)  # those imported outside functions


# ----------------------------------------------------------------------------- reading a module
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: tool directives (noqa, type: ignore, pragma) say nothing about why: alone they are no reason
_DIRECTIVE = re.compile(r"^(noqa\b(:\s*[A-Z]+[0-9]*(\s*,\s*[A-Z]+[0-9]*)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:[^#(]*)")


def _reason_text(comment: str) -> str:
    """A comment's text without tool directives and brackets: "" when nothing is left."""
    text = comment.lstrip("#").strip()
    while (m := _DIRECTIVE.match(text)) and m.group(0):
        text = text[m.end():].strip(" -;,")
    return text.strip("() ")


def _comments_by_line(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = _reason_text(tok.string)
    return out


def _reason(node: ast.AST) -> str:
    doc = ast.get_docstring(node) or ""
    for line in doc.splitlines():
        if line.strip().startswith(REASON_MARK):
            return line.strip()
    return ""


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _import_targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]):
    """Modules of the scanned packages that one import statement loads by name."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = []
        for a in node.names:
            sub = f"{prefix}.{a.name}"
            names.append(sub if sub in known else prefix)
    out = set()
    for name in names:
        # `import a.b.c` loads a.b.c; keep the deepest scanned module it names
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


class _Walker(ast.NodeVisitor):
    def __init__(self, facts: ModuleFacts, lines: list[str], comments: dict[int, str], known, is_package):
        self.facts, self.lines, self.comments = facts, lines, comments
        self.known, self.is_package = known, is_package
        self.stack: list[str] = []  # qualified names of enclosing classes/functions
        self.in_function = 0

    def visit_If(self, node: ast.If):
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def _function(self, node):
        self.stack.append(node.name)
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            self.facts.long_functions.append(
                LongFunction(self.facts.module, ".".join(self.stack), node.lineno, length, _reason(node))
            )
        self.in_function += 1
        self.generic_visit(node)
        self.in_function -= 1
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _import(self, node):
        targets = _import_targets(node, self.facts.module, self.is_package, self.known)
        self.facts.imports |= targets
        if not self.in_function:
            self.facts.top_level_imports |= targets
        else:
            comment = next(
                (self.comments[n] for n in range(node.lineno, node.end_lineno + 1) if self.comments.get(n)), ""
            )
            above = node.lineno - 1
            if not comment and above in self.comments and self.lines[above - 1].strip().startswith("#"):
                comment = self.comments[above]
            text = " ".join(s.strip() for s in self.lines[node.lineno - 1 : node.end_lineno])
            self.facts.local_imports.append(
                LocalImport(self.facts.module, ".".join(self.stack), node.lineno, text.split("#")[0].strip(), comment)
            )

    visit_Import = visit_ImportFrom = _import


def read_module(path: Path, known: set[str]) -> ModuleFacts:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    facts = ModuleFacts(module_name(path), str(path.relative_to(ROOT)), len(lines))
    tree = ast.parse(source, filename=str(path))
    _Walker(facts, lines, _comments_by_line(source), known, path.name == "__init__.py").visit(tree)
    facts.imports.discard(facts.module)
    facts.top_level_imports.discard(facts.module)
    return facts


def all_module_paths() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


# ----------------------------------------------------------------------------- cycles
def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The loops of the import graph: for every module in a strongly connected component
    (Tarjan) of more than one module, one shortest loop through it; loops that are the
    same cycle started elsewhere are listed once."""
    index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def connect(v):  # recursion depth is bounded by the module count (~100)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    loops, seen = [], set()
    for comp in sorted(sccs):
        for start in comp:
            loop = _shortest_loop(graph, comp, start)
            key = frozenset(zip(loop, loop[1:]))
            if key not in seen:
                seen.add(key)
                loops.append(loop)
    return loops


def _shortest_loop(graph, comp: list[str], start: str) -> list[str]:
    members = set(comp)
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ()) & members):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


# ----------------------------------------------------------------------------- the report
def collect(selected: list[str] | None = None) -> dict:
    paths = all_module_paths()
    known = {module_name(p) for p in paths}
    facts = [read_module(p, known) for p in paths]
    graph = {f.module: f.imports for f in facts}
    top = {f.module: f.top_level_imports for f in facts}
    cycles = [
        [f"{a} -(in a function)->" if b not in top[a] else f"{a} ->" for a, b in zip(c, c[1:])] + [c[-1]]
        for c in import_cycles(graph)
    ]
    if selected:
        keep = [str((ROOT / s).resolve().relative_to(ROOT)) if (ROOT / s).exists() else s for s in selected]
        facts = [f for f in facts if any(f.path == k or f.path.startswith(k.rstrip("/") + "/") for k in keep)]
        names = {f.module for f in facts}
        cycles = [c for c in cycles if names & {m.split(" ")[0] for m in c}]
    long_fns = [lf for f in facts for lf in f.long_functions]
    local = [li for f in facts for li in f.local_imports]
    totals = {
        "modules": len(facts),
        "lines": sum(f.lines for f in facts),
        "modules_over_600": sum(f.lines > MAX_MODULE_LINES for f in facts),
        "functions_over_60": len(long_fns),
        "functions_over_60_without_reason": sum(not lf.reason for lf in long_fns),
        "local_imports": len(local),
        "local_imports_without_comment": sum(not li.comment for li in local),
        "import_cycles": len(cycles),
    }
    totals["violations"] = (
        totals["modules_over_600"]
        + totals["functions_over_60_without_reason"]
        + totals["local_imports_without_comment"]
        + totals["import_cycles"]
    )
    return {"totals": totals, "modules": facts, "cycles": cycles}


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(s.rstrip() for s in out)


def render(report: dict) -> str:
    facts: list[ModuleFacts] = sorted(report["modules"], key=lambda f: (-f.lines, f.path))
    rows = [["module", "lines", "fn>60", "longest function", "local imports"]]
    for f in facts:
        longest = max(f.long_functions, key=lambda lf: lf.lines, default=None)
        bad_fn = sum(not lf.reason for lf in f.long_functions)
        bad_imp = sum(not li.comment for li in f.local_imports)
        rows.append([
            f.path,
            f"{f.lines}{' !' if f.lines > MAX_MODULE_LINES else ''}",
            f"{len(f.long_functions)}{f' ({bad_fn} !)' if bad_fn else ''}" if f.long_functions else "",
            f"{longest.name} ({longest.lines})" if longest else "",
            f"{len(f.local_imports)}{f' ({bad_imp} !)' if bad_imp else ''}" if f.local_imports else "",
        ])
    parts = [_table(rows, {1, 2, 4})]

    long_fns = sorted((lf for f in facts for lf in f.long_functions), key=lambda lf: -lf.lines)
    if long_fns:
        parts.append(f"\nFunctions over {MAX_FUNCTION_LINES} lines (! = no '{REASON_MARK}' line in the docstring):")
        parts += [
            f"  {'!' if not lf.reason else ' '} {lf.lines:4d}  {lf.module}:{lf.line} {lf.name}"
            + (f"  -- {lf.reason}" if lf.reason else "")
            for lf in long_fns
        ]
    bad_imports = [li for f in facts for li in f.local_imports if not li.comment]
    if bad_imports:
        parts.append("\nFunction-local imports without a comment saying why (!):")
        parts += [f"  ! {li.module}:{li.line} in {li.function}: {li.text}" for li in bad_imports]
    if report["cycles"]:
        parts.append("\nImport cycles (!):")
        parts += ["  ! " + " ".join(c) for c in report["cycles"]]
    t = report["totals"]
    parts.append(
        f"\nTotals: {t['modules']} modules, {t['lines']} lines; "
        f"{t['modules_over_600']} modules over {MAX_MODULE_LINES} lines; "
        f"{t['functions_over_60']} functions over {MAX_FUNCTION_LINES} lines "
        f"({t['functions_over_60_without_reason']} without a reason); "
        f"{t['local_imports']} function-local imports ({t['local_imports_without_comment']} without a comment); "
        f"{t['import_cycles']} import cycles; {t['violations']} violations"
    )
    return "\n".join(parts)


def as_json(report: dict) -> str:
    return json.dumps(
        {
            "totals": report["totals"],
            "cycles": report["cycles"],
            "modules": [
                {**asdict(f), "imports": sorted(f.imports), "top_level_imports": sorted(f.top_level_imports)}
                for f in report["modules"]
            ],
        },
        indent=1,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="limit to these modules or folders (relative to the project root)")
    ap.add_argument("--check", action="store_true", help="exit 1 when any rule is broken")
    ap.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = ap.parse_args(argv)
    report = collect(args.paths or None)
    print(as_json(report) if args.json else render(report))
    if args.check and report["totals"]["violations"]:
        print(f"house check failed: {report['totals']['violations']} violations", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
