"""``%vz``: the IPython line magic, a thin router over the core verbs.

``%load_ext vz_jupyter`` registers it. Each subcommand parses its arguments,
calls the core and returns the resulting object (shown by its rich display);
``-o NAME`` also stores it in the user namespace. Argument mistakes and data
problems are raised as one-line ``UsageError``s (no traceback).
"""
from __future__ import annotations

import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Int, List, Unicode
from traitlets.config import Configurable

from ..cli import Parser
from ..cli import UsageError as _ParseError
from ..cli import _Exit
from ..core.errors import CheckFailed, TargetExists, VZError

HELP = """%vz VERB ...  (vz_jupyter)

  %vz scan PATHS... [-o NAME] [--group G] [--errors raise|warn|skip]
                                                  scan files/globs/URLs -> datasets
  %vz info TARGET...                              describe references or files
  %vz write DS TARGET [--format F] [--overwrite]  write references (json, parquet, icechunk);
                                                  --overwrite replaces only an earlier output
                                                  of the same format, never a source
  %vz open TARGET [-o NAME] [--raw]               open references as an xarray.Dataset
  %vz sort DS [--by C | --pattern RE | --attr A] [-o NAME]
  %vz check DS|PATHS... --dim D [-o NAME]          report problems before combining
  %vz concat DS|PATHS... --dim D [-o NAME]         concatenate (refuses when check has errors)
  %vz combine PATHS... [--dim D]                  the interactive combine widget
  %vz plan DS|TARGET "var[0:10, :, 5]" [-o NAME]  show what a selection will read

DS is a variable holding a dataset (or a list of them); PATHS may be globs.
References read only under their own folder and the source folders recorded in
them; --allow ROOT (repeatable, on scan/info/open/plan/check/concat) or
%config VzMagics.allowed_roots = ["/data"] lets them read elsewhere.
"""


def _parser() -> Parser:
    parser = Parser(prog="%vz", add_help=False)
    sub = parser.add_subparsers(dest="verb", parser_class=Parser)

    def add(name, **kw):
        p = sub.add_parser(name, add_help=False, **kw)
        p.add_argument("-h", "--help", action="store_true")
        return p

    def allow(p):
        p.add_argument("--allow", action="append", metavar="ROOT", default=None)

    p = add("scan")
    allow(p)
    p.add_argument("paths", nargs="+")
    p.add_argument("-o", "--out")
    p.add_argument("--group")
    p.add_argument("--inline-threshold", type=int)
    p.add_argument("--errors", choices=["raise", "warn", "skip"])
    p = add("info")
    allow(p)
    p.add_argument("target", nargs="+")
    p = add("write")
    p.add_argument("ds")
    p.add_argument("target")
    p.add_argument("--format", choices=["kerchunk-json", "kerchunk-parquet", "icechunk"])
    p.add_argument("--overwrite", action="store_true")
    p = add("open")
    allow(p)
    p.add_argument("target")
    p.add_argument("-o", "--out")
    p.add_argument("--raw", action="store_true", help="no CF decoding")
    for verb in ("check", "concat", "sort"):
        p = add(verb)
        allow(p)
        p.add_argument("inputs", nargs="+")
        p.add_argument("-o", "--out")
        p.add_argument("--dim", required=verb != "sort")
        if verb != "check":
            g = p.add_mutually_exclusive_group()
            g.add_argument("--by")
            g.add_argument("--pattern")
            g.add_argument("--attr")
    p = add("combine")
    p.add_argument("paths", nargs="+")
    p.add_argument("--dim")
    p = add("plan")
    allow(p)
    p.add_argument("target")
    p.add_argument("selection")
    p.add_argument("-o", "--out")
    p = add("help")
    return parser


@magics_class
class VzMagics(Magics, Configurable):
    """The ``%vz`` magic. Configure with ``%config VzMagics.inline_threshold = 1000``."""

    inline_threshold = Int(500, help="Variables up to this many stored bytes are inlined when scanning.").tag(config=True)
    allowed_roots = List(Unicode(), help="Folders, files or URL prefixes references may read besides their own "
                         "folder and recorded source folders ('*' turns the check off).").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        Magics.__init__(self, shell=shell)
        Configurable.__init__(self, config=shell.config if shell is not None else None, **kwargs)

    # -- helpers ---------------------------------------------------------------
    def _lookup(self, name: str):
        ns = self.shell.user_ns if self.shell is not None else {}
        if name.isidentifier() and name in ns:
            return ns[name]
        return None

    def _allowed(self, args):
        """The roots references may read besides their own: %config + --allow."""
        roots = list(self.allowed_roots) + list(getattr(args, "allow", None) or [])
        return roots or None

    def _datasets(self, inputs, args=None):
        """Resolve names of dataset variables and/or paths into a VDatasetList."""
        from ..core.model import VDataset, VDatasetList
        from ..core.scan import scan

        out, paths = [], []
        for item in inputs:
            obj = self._lookup(item)
            if isinstance(obj, VDataset):
                out.append(obj)
            elif isinstance(obj, (list, tuple)) and all(isinstance(o, VDataset) for o in obj):
                out.extend(obj)
            elif obj is not None:
                raise UsageError(f"%vz: {item} is a {type(obj).__name__}, not a dataset")
            else:
                paths.append(item)
        if paths:
            out.extend(scan(paths, inline_threshold=self.inline_threshold, allowed_roots=self._allowed(args)))
        return VDatasetList(out)

    def _store(self, name, value):
        if name:
            if not name.isidentifier():
                raise UsageError(f"%vz: -o needs a Python name, got {name!r}")
            self.shell.user_ns[name] = value
        return value

    # -- the magic -------------------------------------------------------------
    @line_magic
    def vz(self, line: str = ""):
        """Virtual Zarr references: scan, check, combine, write, open, plan. ``%vz help``."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%vz: {e}") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            print(HELP)
            return None
        try:
            args = _parser().parse_args(argv)
        except _ParseError as e:
            raise UsageError(str(e).splitlines()[-1]) from None
        except _Exit:
            return None
        if getattr(args, "help", False):
            print(HELP)
            return None
        try:
            return getattr(self, f"_do_{args.verb}")(args)
        except CheckFailed as e:
            raise UsageError(f"%vz {args.verb}: {e}") from None
        except TargetExists as e:
            raise UsageError(f"%vz {args.verb}: {e.with_hint('pass --overwrite to replace it')}") from None
        except VZError as e:
            raise UsageError(f"%vz {args.verb}: {e}") from None

    def _do_scan(self, args):
        from ..core.scan import scan

        kw = {"inline_threshold": args.inline_threshold if args.inline_threshold is not None else self.inline_threshold}
        if args.group:
            kw["group"] = args.group
        if args.errors:
            kw["errors"] = args.errors
        return self._store(args.out, scan(args.paths, allowed_roots=self._allowed(args), **kw))

    def _do_info(self, args):
        return self._datasets(args.target, args)

    def _one(self, name):
        from ..core.model import VDataset, VDatasetList

        obj = self._lookup(name)
        if obj is None:
            raise UsageError(f"%vz: no variable named {name!r}")
        if isinstance(obj, VDatasetList) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, VDataset):
            raise UsageError(f"%vz: {name} is a {type(obj).__name__}; write one dataset (e.g. {name}[0]) or combine first")
        return obj

    def _do_write(self, args):
        from ..core.serialize import write

        vds = self._one(args.ds)
        path = write(vds, args.target, format=args.format, overwrite=args.overwrite)
        print(f"wrote {path}")
        return None

    def _do_open(self, args):
        from ..core.opening import open as vz_open

        return self._store(args.out, vz_open(args.target, decode=not args.raw, allowed_roots=self._allowed(args)))

    def _sort_kw(self, args):
        return {k: getattr(args, k) for k in ("by", "pattern", "attr") if getattr(args, k, None)}

    def _do_sort(self, args):
        from ..core.sort import sort

        return self._store(args.out, sort(self._datasets(args.inputs, args), dim=args.dim, **self._sort_kw(args)))

    def _do_check(self, args):
        from ..core.check import check

        return self._store(args.out, check(self._datasets(args.inputs, args), dim=args.dim))

    def _do_concat(self, args):
        from ..core.concat import concat
        from ..core.sort import sort

        dsets = self._datasets(args.inputs, args)
        kw = self._sort_kw(args)
        if kw:
            dsets = sort(dsets, dim=args.dim, **kw)
        return self._store(args.out, concat(dsets, dim=args.dim))

    def _do_combine(self, args):
        from ..core.scan import expand_paths
        from .widgets.combine import CombineWidget

        return CombineWidget(expand_paths(args.paths), dim=args.dim)

    def _do_plan(self, args):
        from ..core.plan import plan

        target = self._lookup(args.target)
        return self._store(args.out, plan(target if target is not None else args.target, args.selection,
                                          allowed_roots=self._allowed(args)))


def load_ipython_extension(ipython):
    magics = VzMagics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)


def unload_ipython_extension(ipython):
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, VzMagics)]
