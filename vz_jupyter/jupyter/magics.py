"""``%vz``: the IPython line magic, a thin router over the core verbs.

``%load_ext vz_jupyter`` registers it. Each verb parses its arguments, calls the
core and returns the resulting object (shown by its rich display); ``-o NAME``
also stores it in the user namespace. Argument mistakes and data problems are
raised as one-line ``UsageError``s (no traceback). Help: ``%vz?`` (all verbs),
``%vz VERB --help`` or ``%vz help VERB`` (one verb); verbs and options complete
with Tab.
"""
from __future__ import annotations

import argparse
import difflib
import os
import shlex
import shutil
import sys
import time

import IPython.display as ipy_display  # display looked up when called (tests replace it)
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Int, List, Unicode
from traitlets.config import Configurable

from ..cli import Parser, UsageError as _ParseError, _Exit, add_append_args, append_kwargs
from ..core.append import append, check_append
from ..core.check import check
from ..core.concat import concat
from ..core.errors import CheckFailed, TargetExists, VZError
from ..core.model import VDataset, VDatasetList
from ..core.opening import open as vz_open
from ..core.plan import plan
from ..core.scan import expand_paths, scan, scan_file
from ..core.serialize import write
from ..core.sort import sort
from ..display.common import escape
from .wording import dim_problem

FORMATS = ["kerchunk-json", "kerchunk-parquet", "icechunk"]

#: verb -> (one-line summary, example)
VERBS = {
    "scan": ("scan files, globs or URLs: where every chunk of every variable lives", "%vz scan data/*.nc -o dsets"),
    "info": ("describe reference files or data files (variables, chunks, codecs, sources)", "%vz info refs.json"),
    "check": ("report everything that would make combining these files wrong", "%vz check dsets --dim time"),
    "sort": ("put datasets in order (coordinate values, file-name numbers, an attribute)",
             "%vz sort dsets --by time -o dsets"),
    "concat": ("join datasets along a dimension (refuses while check finds errors)",
               "%vz concat dsets --dim time -o combined"),
    "combine": ("the interactive combine widget: order, check, preview, write", "%vz combine data/*.nc --dim time"),
    "append": ("check new files against an archive, then append them atomically (--dry-run: only check)",
               "%vz append archive.parquet new/*.nc --dim time"),
    "write": ("write references: kerchunk JSON or Parquet, or Icechunk (never over a source)",
              "%vz write combined archive.json"),
    "open": ("open references as an xarray.Dataset", "%vz open archive.json -o xds"),
    "plan": ("show what reading a selection will fetch, before reading it", '%vz plan combined "air[0:10, :, 5]"'),
    "help": ("this overview, or one verb's help", "%vz help scan"),
}


def overview() -> str:
    """The text of ``%vz?`` / ``%vz help``: every verb, what it does, an example."""
    width = max(len(v) for v in VERBS)
    lines = [
        "%vz VERB [ARGS]  —  virtual Zarr references over HDF5/NetCDF files (vz_jupyter)",
        "",
        "Verbs:",
    ]
    lines += [f"  {verb:<{width}}  {summary}" for verb, (summary, _) in VERBS.items()]
    lines += ["", "Examples:"]
    lines += [f"  {example}" for verb, (_, example) in VERBS.items() if verb != "help"]
    lines += [
        "",
        "DS is the name of a variable holding a dataset or a list of datasets (made by",
        "%vz scan -o NAME or vz.scan); PATHS are files, globs or URLs. Results are",
        "returned (shown as the cell's output); -o NAME also stores them.",
        "References read only under their own folder and the source folders recorded in",
        "them; --allow ROOT (repeatable, on scan/info/open/plan/check/concat/sort) or",
        '%config VzMagics.allowed_roots = ["/data"] lets them read elsewhere.',
        "Help on one verb: %vz VERB --help (or %vz help VERB). Tab completes verbs and options.",
        "Configure: %config VzMagics.inline_threshold = 1000",
    ]
    return "\n".join(lines)


def _parser() -> Parser:
    parser = Parser(prog="%vz", add_help=False)
    sub = parser.add_subparsers(dest="verb", parser_class=Parser)

    def add(name):
        summary, example = VERBS[name]
        return sub.add_parser(name, add_help=False, description=summary[0].upper() + summary[1:] + ".",
                              epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)

    _reference_verbs(add)
    _combining_verbs(add)
    for verb in ("scan", "info", "open", "check", "concat", "sort", "append", "plan"):
        sub.choices[verb].add_argument("--allow", action="append", metavar="ROOT", default=None,
                                       help="a folder, file or URL prefix references may also read (repeatable)")
    return parser


def _reference_verbs(add) -> None:
    """The arguments of scan, info, write and open."""
    p = add("scan")
    p.add_argument("paths", nargs="+", metavar="PATHS", help="files, globs or URLs")
    p.add_argument("-o", "--out", metavar="NAME", help="also store the result in this variable")
    p.add_argument("--group", help="HDF5/NetCDF4 group to scan")
    p.add_argument("--inline-threshold", type=int, metavar="BYTES",
                   help="inline variables up to this many stored bytes (default: VzMagics.inline_threshold)")
    p.add_argument("--errors", choices=["raise", "warn", "skip"],
                   help="a file or variable that cannot be read: raise, warn and skip it, or skip it silently "
                        "(default: unreadable files raise, unreferenceable variables are skipped with a warning)")
    p = add("info")
    p.add_argument("target", nargs="+", metavar="TARGET", help="reference files/folders, data files, or DS names")
    p = add("write")
    p.add_argument("ds", metavar="DS", help="variable holding one dataset")
    p.add_argument("target", metavar="TARGET", help="output: NAME.json, NAME.parquet or NAME.icechunk")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from the name)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous output of the same format")
    p = add("open")
    p.add_argument("target", metavar="TARGET", help="a reference file or folder (not a data file: scan that)")
    p.add_argument("-o", "--out", metavar="NAME", help="also store the dataset in this variable")
    p.add_argument("--raw", action="store_true", help="no CF decoding (raw stored values)")


def _combining_verbs(add) -> None:
    """The arguments of check, concat, sort, combine, append, plan and help."""
    for verb in ("check", "concat", "sort"):
        p = add(verb)
        p.add_argument("inputs", nargs="+", metavar="DS|PATHS", help="dataset variables and/or files")
        p.add_argument("-o", "--out", metavar="NAME", help="also store the result in this variable")
        p.add_argument("--dim", required=verb != "sort", metavar="DIM", help="dimension to combine along")
        if verb != "check":
            g = p.add_mutually_exclusive_group()
            g.add_argument("--by", metavar="COORD", help="order by this coordinate's values (CF-decoded)")
            g.add_argument("--pattern", metavar="REGEX", help="order by the regex groups in file names")
            g.add_argument("--attr", metavar="NAME", help="order by a global attribute")
    p = add("combine")
    p.add_argument("paths", nargs="+", metavar="PATHS", help="files, globs or URLs")
    p.add_argument("--dim", metavar="DIM", help="dimension to combine along (guessed when left out)")
    p.add_argument("--append-to", metavar="TARGET",
                   help="an existing archive: it comes first, locked, and the button appends the files to it")
    p = add("append")
    add_append_args(p)
    p.add_argument("-o", "--out", metavar="NAME", help="also store the report in this variable")
    p = add("plan")
    p.add_argument("target", metavar="DS|TARGET", help="dataset variable, reference file or data file")
    p.add_argument("selection", metavar="SELECTION", help='e.g. "air[0:10, :, 5]"')
    p.add_argument("-o", "--out", metavar="NAME", help="also store the plan in this variable")
    p = add("help")
    p.add_argument("topic", nargs="?", metavar="VERB", help="a verb")


def verb_help(verb: str) -> str:
    """The ``--help`` text of one verb."""
    sub = _subparsers()[verb]
    return sub.format_help().rstrip()


def _subparsers() -> dict:
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(verb: str) -> list[str]:
    sub = _subparsers().get(verb)
    if sub is None:
        return []
    return sorted({o for a in sub._actions for o in a.option_strings if o.startswith("--")} | {"--help"})


def _unknown_verb(verb: str) -> str:
    close = difflib.get_close_matches(verb, list(VERBS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"%vz: unknown verb {verb!r}{hint} (verbs: {', '.join(VERBS)}; see %vz?)"


def _looks_like_name(s: str) -> bool:
    return s.isidentifier() and not os.path.exists(s)


@magics_class
class VzMagics(Magics, Configurable):
    """The %vz magic (see %vz? for its verbs). Configure with %config VzMagics.inline_threshold = 1000."""

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
        out, paths = [], []
        for item in inputs:
            obj = self._lookup(item)
            if isinstance(obj, VDataset):
                out.append(obj)
            elif isinstance(obj, (list, tuple)) and all(isinstance(o, VDataset) for o in obj):
                out.extend(obj)
            elif obj is not None:
                raise UsageError(f"%vz: {item} is a {type(obj).__name__}, not a dataset")
            elif _looks_like_name(item):
                raise UsageError(f"%vz: no variable named {item!r} in this notebook, and no file of that name")
            else:
                paths.append(item)
        if paths:
            out.extend(self._scan(paths, inline_threshold=self.inline_threshold, allowed_roots=self._allowed(args)))
        return VDatasetList(out)

    def _scan(self, paths, **kw):
        """``core.scan`` with a progress line when it takes more than half a second."""
        progress = _Progress()
        try:
            return scan(paths, progress=progress, **kw)
        finally:
            progress.done()

    def _store(self, name, value):
        if name:
            if not name.isidentifier():
                raise UsageError(f"%vz: -o needs a Python name, got {name!r}")
            self.shell.user_ns[name] = value
        return value

    def _check_dim(self, dim, dsets):
        if not dim:
            return
        dims: dict[str, None] = {}
        for d in dsets:
            for name in d.dims:
                dims.setdefault(name, None)
        if dim not in dims:
            raise UsageError(f"%vz: {dim_problem(dim, list(dims))}")

    # -- the magic -------------------------------------------------------------
    @line_magic
    def vz(self, line: str = ""):
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%vz: {e}") from None
        if not argv or argv[0] in ("-h", "--help"):
            print(overview())
            return None
        verb = argv[0]
        if verb not in VERBS:
            raise UsageError(_unknown_verb(verb))
        if verb == "help":
            topic = argv[1] if len(argv) > 1 else None
            if topic is None:
                print(overview())
            elif topic in VERBS:
                print(verb_help(topic))
            else:
                raise UsageError(_unknown_verb(topic))
            return None
        if "-h" in argv[1:] or "--help" in argv[1:]:
            print(verb_help(verb))  # before parsing: no "the following arguments are required"
            return None
        try:
            args = _parser().parse_args(argv)
        except _ParseError as e:
            raise UsageError(f"{str(e).splitlines()[-1]} (see %vz {verb} --help)") from None
        except _Exit:
            return None
        try:
            return getattr(self, f"_do_{args.verb}")(args)
        except CheckFailed as e:
            raise UsageError(f"%vz {args.verb}: {e}") from None
        except TargetExists as e:
            raise UsageError(f"%vz {args.verb}: {e.with_hint('pass --overwrite to replace it')}") from None
        except VZError as e:
            raise UsageError(f"%vz {args.verb}: {e}") from None

    vz.__doc__ = overview()

    def _do_scan(self, args):
        kw = {"inline_threshold": args.inline_threshold if args.inline_threshold is not None else self.inline_threshold}
        if args.group:
            kw["group"] = args.group
        if args.errors:
            kw["errors"] = args.errors
        return self._store(args.out, self._scan(args.paths, allowed_roots=self._allowed(args), **kw))

    def _do_info(self, args):
        return self._datasets(args.target, args)

    def _one(self, name):
        obj = self._lookup(name)
        if obj is None:
            raise UsageError(f"%vz: no variable named {name!r} in this notebook")
        if isinstance(obj, VDatasetList) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, VDataset):
            raise UsageError(f"%vz: {name} is a {type(obj).__name__}; write one dataset (e.g. {name}[0]) or combine first")
        return obj

    def _do_write(self, args):
        vds = self._one(args.ds)
        path = write(vds, args.target, format=args.format, overwrite=args.overwrite)
        print(f"wrote {path}")
        return None

    def _do_open(self, args):
        return self._store(args.out, vz_open(args.target, decode=not args.raw, allowed_roots=self._allowed(args)))

    def _sort_kw(self, args):
        return {k: getattr(args, k) for k in ("by", "pattern", "attr") if getattr(args, k, None)}

    def _do_sort(self, args):
        dsets = self._datasets(args.inputs, args)
        self._check_dim(args.dim, dsets)
        return self._store(args.out, sort(dsets, dim=args.dim, **self._sort_kw(args)))

    def _do_check(self, args):
        dsets = self._datasets(args.inputs, args)
        self._check_dim(args.dim, dsets)
        return self._store(args.out, check(dsets, dim=args.dim))

    def _do_concat(self, args):
        dsets = self._datasets(args.inputs, args)
        self._check_dim(args.dim, dsets)
        kw = self._sort_kw(args)
        if kw:
            dsets = sort(dsets, dim=args.dim, **kw)
        return self._store(args.out, concat(dsets, dim=args.dim))

    def _do_combine(self, args):
        from .widgets.combine import CombineWidget  # heavy: ipywidgets and anywidget, for %vz combine only

        paths = expand_paths(args.paths)
        if args.dim and paths:
            # a mistyped dimension is a usage error now, not a widget with no dimension
            self._check_dim(args.dim, [scan_file(paths[0])])
        return CombineWidget(paths, dim=args.dim, append_to=args.append_to)

    def _do_append(self, args):
        kw = append_kwargs(args, self._allowed(args))
        files = []
        for item in args.files:  # a name holding scanned datasets, or paths
            obj = self._lookup(item)
            files.extend(obj if isinstance(obj, (list, tuple)) else [obj] if obj is not None else [item])
        verb = check_append if args.dry_run else append
        return self._store(args.out, verb(args.target, files, dim=args.dim, **kw))

    def _do_plan(self, args):
        target = self._lookup(args.target)
        if target is None and _looks_like_name(args.target):
            raise UsageError(f"%vz plan: no variable named {args.target!r} in this notebook, and no file of that name")
        return self._store(args.out, plan(target if target is not None else args.target, args.selection,
                                          allowed_roots=self._allowed(args)))


class _Progress:
    """A progress line for long scans: shown after half a second, updated at most
    five times a second, replaced by one summary line at the end."""

    DELAY = 0.5
    EVERY = 0.2

    def __init__(self):
        self.t0 = time.monotonic()
        self.shown = 0.0
        self.handle = None
        self.total = 0
        self.n = 0

    def _html(self, text: str, done: int | None = None) -> dict:
        bar = f"<progress value=\"{done}\" max=\"{self.total}\" style=\"width:240px\"></progress> " if done is not None else ""
        return {"text/html": f"<div class=\"vz-progress\">{bar}{escape(text)}</div>", "text/plain": text}

    def __call__(self, done: int, total: int, path: str) -> None:
        self.n, self.total = done, total
        now = time.monotonic()
        if now - self.t0 < self.DELAY or now - self.shown < self.EVERY:
            return
        self.shown = now
        text = f"scanning {done:,}/{total:,} files · {os.path.basename(str(path).rstrip('/'))}"
        if self.handle is None:
            self.handle = ipy_display.display(self._html(text, done), raw=True, display_id=True)
        else:
            self.handle.update(self._html(text, done), raw=True)

    def done(self) -> None:
        if self.handle is not None:
            secs = time.monotonic() - self.t0
            self.handle.update(self._html(f"scanned {self.n:,} of {self.total:,} files in {secs:.1f} s"), raw=True)


def _complete(self, event):
    """Tab completion after %vz: verbs, then the verb's options (or, where a
    dataset is expected, the names of dataset variables)."""
    line = event.line
    words = line.split()
    ends_with_space = line.endswith(" ")
    if len(words) == 1 or (len(words) == 2 and not ends_with_space):
        return list(VERBS)
    verb = words[1]
    current = "" if ends_with_space else words[-1]
    if current.startswith("-"):
        return _options(verb)
    if verb in ("check", "concat", "sort", "write", "plan", "info"):
        ns = self.user_ns if hasattr(self, "user_ns") else {}
        names = [k for k, v in ns.items() if not k.startswith("_") and (
            isinstance(v, VDataset) or (isinstance(v, (list, tuple)) and v and all(isinstance(o, VDataset) for o in v)))]
        if names and (len(words) == 2 or (len(words) == 3 and not ends_with_space)):
            return names
    return []  # paths: IPython's own file completion


def _vz_command_on_path() -> None:
    """Let ``!vz ...`` in a notebook run the ``vz`` command of the kernel's own
    environment, also when that environment was not activated (a kernel started
    as ``.venv/bin/python``): its ``bin`` folder goes first on the kernel's PATH."""
    bindir = os.path.dirname(sys.executable)
    script = os.path.join(bindir, "vz")
    if os.path.exists(script) and shutil.which("vz") != script:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def load_ipython_extension(ipython):
    _vz_command_on_path()
    magics = VzMagics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    ipython.set_hook("complete_command", _complete, str_key="%vz")


def unload_ipython_extension(ipython):
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, VzMagics)]
