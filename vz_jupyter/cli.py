"""The ``vz`` command: the same verbs as ``%vz`` and the Python API.

Exit codes: 0 done; 1 the data failed a check or could not be read (a one-line
message naming the file and the problem); 2 usage error.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .core.append import append, check_append
from .core.check import check
from .core.concat import concat
from .core.errors import CheckFailed, SelectionError, TargetExists, VZError
from .core.plan import plan
from .core.scan import scan
from .core.serialize import SourceGuard, check_target, infer_format, write
from .core.sort import sort
from .core.urls import redact
from .core.verify import verify
from .display.common import printable
from .display.text import failed_text


class UsageError(Exception):
    """Raised by the parser instead of exiting; the CLI turns it into exit 2
    and the magics into IPython's UsageError."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status=0, message=None):
        if status:
            raise UsageError(message.strip() if message else f"{self.prog}: usage error")
        if message:
            sys.stdout.write(message)
        raise _Exit(status)


class _Exit(Exception):
    def __init__(self, status):
        self.status = status


ALLOW_HELP = ("also let references read under this folder, file or URL prefix (repeatable; 's3://' grants a "
              "protocol, '*' turns the check off); by default they read only under their own folder and the "
              "source folders recorded in them")


def _add_allow(p):
    p.add_argument("--allow", action="append", metavar="ROOT", default=None, help=ALLOW_HELP)


def _add_sort_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--by", metavar="COORD", help="order files by the values of this coordinate (CF-decoded)")
    g.add_argument("--pattern", metavar="REGEX", help="order files by the regex groups matched in their names")
    g.add_argument("--attr", metavar="NAME", help="order files by a global attribute")
    g.add_argument("--keep-order", action="store_true", help="keep the order the files were given in")


OVERWRITE_HELP = ("replace an earlier output of the same format (never a source file, "
                  "a folder holding sources, or anything else)")


def _add_errors_arg(p):
    p.add_argument("--errors", choices=["raise", "warn", "skip"], default=None,
                   help="unreadable files and variables: raise (stop), warn (leave out, say so) or skip "
                        "(leave out quietly); default: a file is an error, a variable is left out with a warning")


def _add_jobs(p):
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="files scanned at once: URLs fetched concurrently (default 32), local files in N worker "
                        "processes (default 1)")


def build_parser(prog: str = "vz") -> Parser:
    parser = Parser(prog=prog, description="Virtual Zarr references over HDF5/NetCDF files.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)

    p = sub.add_parser("scan", help="scan files and write kerchunk references",
                       description="Scan HDF5/NetCDF files. With -o, write references (one file: a "
                       "reference file; several files: a folder of <name>.json).")
    p.add_argument("files", nargs="+", help="files, globs or URLs")
    p.add_argument("-o", "--output", help="reference file (.json/.parquet/.icechunk) or a folder for several files")
    p.add_argument("--group", help="HDF5/NetCDF4 group to scan")
    p.add_argument("--format", choices=["kerchunk-json", "kerchunk-parquet", "icechunk"], help="output format (default: from the name)")
    p.add_argument("--inline-threshold", type=int, default=None, metavar="BYTES", help="inline variables up to this many stored bytes (default 500)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    _add_errors_arg(p)
    _add_jobs(p)
    _add_allow(p)

    p = sub.add_parser("info", help="describe references or files", description="Variables, shapes, chunks, codecs, sources and bytes referenced.")
    p.add_argument("target", nargs="+", help="reference file/folder, or data files")
    p.add_argument("--group", help="HDF5/NetCDF4 group (data files only)")
    _add_errors_arg(p)
    _add_jobs(p)
    _add_allow(p)

    p = sub.add_parser("check", help="report what would make a concatenation wrong")
    p.add_argument("files", nargs="+")
    p.add_argument("--dim", required=True, help="dimension to concatenate along")
    _add_sort_args(p)
    _add_allow(p)

    p = sub.add_parser("combine", help="check, then concatenate files into one reference set")
    p.add_argument("files", nargs="+")
    p.add_argument("--dim", required=True, help="dimension to concatenate along")
    _add_sort_args(p)
    p.add_argument("-o", "--output", required=True, help="output: .json, .parquet or .icechunk")
    p.add_argument("--format", choices=["kerchunk-json", "kerchunk-parquet", "icechunk"])
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    _add_allow(p)

    p = sub.add_parser("append", help="check new files against an archive, then append them atomically",
                       description="Append FILES to the references TARGET (kerchunk JSON, a parquet folder or an "
                       "Icechunk repository) along --dim: the new files are sorted and checked against the archive "
                       "first; with any error nothing is written. Reads no source file of the archive.")
    add_append_args(p)
    _add_allow(p)

    p = sub.add_parser("verify", help="are the sources of references unchanged since the scan?",
                       description="Compare the size, modification time and ETag of every source recorded in "
                       "TARGET (kerchunk JSON, a parquet folder or an Icechunk repository) with the sources now. "
                       "Exit 1 when any changed, grew, is missing or cannot be asked.")
    p.add_argument("target", help="the references: .json, .parquet folder or .icechunk repository")
    p.add_argument("--branch", default="main", help="Icechunk branch (default main)")

    p = sub.add_parser("plan", help="show what reading a selection will fetch")
    p.add_argument("target", help="reference file/folder or data file")
    p.add_argument("selection", help='e.g. "air[0:10, 5:20, 3]"')
    p.add_argument("--execute", action="store_true", help="also run the plan and report bytes moved")
    _add_allow(p)
    return parser


def add_append_args(p) -> None:
    """The arguments of ``vz append`` (shared with ``%vz append``)."""
    p.add_argument("target", help="the archive: .json, .parquet folder or .icechunk repository")
    p.add_argument("files", nargs="+", help="new files, globs or URLs")
    p.add_argument("--dim", required=True, help="dimension to append along")
    p.add_argument("--dry-run", action="store_true", help="only check and show the report; write nothing")
    p.add_argument("--keep-order", action="store_true", help="append in the order given (default: sorted along --dim)")
    p.add_argument("--read-archive", action="store_true",
                   help="also read the archive's values that are not inlined (from its source files) to compare them")
    p.add_argument("--branch", default="main", help="Icechunk branch to commit to (default main)")
    p.add_argument("--message", help="Icechunk commit message (default: names the files)")
    p.add_argument("--errors", choices=["raise", "warn", "skip"], default=None,
                   help="unreadable new files: as for scan; skip also leaves out files already in the archive")


def append_kwargs(args, allowed_roots) -> dict:
    """Keyword arguments of :func:`vz_jupyter.append` from parsed ``append`` arguments."""
    kw = {"errors": args.errors, "sort": not args.keep_order, "read_archive": args.read_archive,
          "allowed_roots": allowed_roots, "branch": args.branch}
    if not args.dry_run and args.message:
        kw["message"] = args.message
    return kw


def _scan_kwargs(args) -> dict:
    kw = {}
    if getattr(args, "allow", None):
        kw["allowed_roots"] = args.allow
    if getattr(args, "group", None):
        kw["group"] = args.group
    if getattr(args, "inline_threshold", None) is not None:
        kw["inline_threshold"] = args.inline_threshold
    if getattr(args, "errors", None):
        kw["errors"] = args.errors
    if getattr(args, "jobs", None) is not None:
        if args.jobs < 1:
            raise UsageError(f"vz {args.verb}: --jobs must be at least 1, not {args.jobs}")
        kw["jobs"] = args.jobs
    return kw


def _write_failed(dsets, out) -> None:
    """The files a scan left out (``--errors warn|skip``), one line each."""
    lines = failed_text(getattr(dsets, "failed", ()))
    if lines:
        out.write("\n".join(line[2:] for line in lines) + "\n")


def _sorted(dsets, args):
    if args.by:
        return sort(dsets, by=args.by, dim=args.dim)
    if args.pattern:
        return sort(dsets, pattern=args.pattern, dim=args.dim)
    if args.attr:
        return sort(dsets, attr=args.attr, dim=args.dim)
    if args.keep_order:
        return dsets
    # default: by the concat dim's coordinate values when it is a coordinate
    if all(args.dim in d.variables for d in dsets):
        return sort(dsets, by=args.dim, dim=args.dim)
    return dsets


def cmd_scan(args, out) -> int:
    dsets = scan(args.files, **_scan_kwargs(args))
    if not args.output:
        out.write(repr(dsets) + "\n")
        return 0
    if len(dsets) == 1:
        path = write(dsets[0], args.output, format=args.format, overwrite=args.overwrite)
        skipped = len(dsets[0].skipped)
        note = f"; {skipped} variable{'s' * (skipped != 1)} not referenced" if skipped else ""
        out.write(f"wrote {path}: {len(dsets[0].variables)} variables, {dsets[0].n_chunks} chunks{note}\n")
        _write_failed(dsets, out)
        return 0
    if not dsets:
        _write_failed(dsets, out)
        out.write(f"nothing written to {args.output}: no file could be read\n")
        return 1
    folder = args.output
    if os.path.splitext(folder)[1] in (".json", ".parquet", ".parq", ".icechunk") and not os.path.isdir(folder):
        raise UsageError(f"vz scan: {len(dsets)} files need a folder for -o (one reference file each), or combine them with 'vz combine'")
    os.makedirs(folder, exist_ok=True)
    suffix = {"kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}.get(args.format or "", ".json")
    targets = [os.path.join(folder, os.path.splitext(os.path.basename(d.sources[0].path))[0] + suffix) for d in dsets]
    if len(set(targets)) != len(targets):
        raise UsageError("vz scan: several files share a name; scan them into different folders")
    fmt = args.format or infer_format(targets[0])
    for d, t in zip(dsets, targets):  # refuse before writing any of them
        check_target(t, fmt, overwrite=args.overwrite, sources=SourceGuard.of(d))
    for d, t in zip(dsets, targets):
        write(d, t, format=args.format, overwrite=args.overwrite)
    skipped = sum(len(d.skipped) for d in dsets)
    note = f"; {skipped} variable{'s' * (skipped != 1)} not referenced" if skipped else ""
    out.write(f"wrote {len(targets)} reference files into {folder}{note}\n")
    _write_failed(dsets, out)
    return 0


def cmd_info(args, out) -> int:
    dsets = scan(args.target, **_scan_kwargs(args))
    for d in dsets:
        out.write(repr(d) + "\n")
    _write_failed(dsets, out)
    return 0


def cmd_check(args, out) -> int:
    dsets = _sorted(scan(args.files, **_scan_kwargs(args)), args)
    report = check(dsets, dim=args.dim)
    out.write(repr(report) + "\n")
    return 1 if report.has_errors else 0


def cmd_combine(args, out) -> int:
    dsets = _sorted(scan(args.files, **_scan_kwargs(args)), args)
    try:
        combined = concat(dsets, dim=args.dim)
    except CheckFailed as e:
        out.write(repr(e.report) + "\n")
        out.write(f"nothing written to {args.output}: check found errors\n")
        return 1
    path = write(combined, args.output, format=args.format, overwrite=args.overwrite)
    out.write(f"wrote {path}: {len(dsets)} files, {len(combined.variables)} variables, {combined.n_chunks} chunks\n")
    return 0


def cmd_append(args, out) -> int:
    kw = append_kwargs(args, args.allow)
    if args.dry_run:
        report = check_append(args.target, args.files, dim=args.dim, **kw)
        out.write(repr(report) + "\n")
        verdict = "the append would be refused" if report.has_errors else "the append would go ahead"
        out.write(f"nothing written (--dry-run): {verdict}\n")
        return 1 if report.has_errors else 0
    try:
        report = append(args.target, args.files, dim=args.dim, **kw)
    except CheckFailed as e:
        out.write(repr(e.report) + "\n")
        out.write(f"nothing written to {args.target}: check found errors\n")
        return 1
    out.write(repr(report) + "\n")
    return 0


def cmd_plan(args, out) -> int:
    p = plan(args.target, args.selection, allowed_roots=args.allow)
    out.write(p.summary() + "\n")
    if args.execute:
        p.execute()
        stats = getattr(p, "last_stats", None)
        if stats is not None:
            out.write(f"executed: {stats}\n")
    return 0


def _show_warnings(caught, err) -> None:
    """Warnings (skipped variables, counted records, ...) as one ``vz: warning:``
    line each on stderr; others as Python shows them."""
    seen = set()
    for w in caught:
        if issubclass(w.category, UserWarning):
            line = " ".join(str(w.message).split())
            if line not in seen:
                seen.add(line)
                err.write(f"vz: warning: {line}\n")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def cmd_verify(args, out) -> int:
    report = verify(args.target, branch=args.branch)
    out.write(repr(report) + "\n")
    return 0 if report.ok else 1


COMMANDS = {"verify": cmd_verify, "scan": cmd_scan, "info": cmd_info, "check": cmd_check, "combine": cmd_combine, "append": cmd_append,
            "plan": cmd_plan}


class TerminalText:
    """A text stream that shows what the data says without letting it drive the
    terminal: control characters, ANSI escape sequences and Unicode direction
    overrides become visible escapes (``\x1b[2J``, ``\u202e``), URL
    credentials become ``***``. Newlines (the output's own lines) are kept."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(redact(text), keep_lines=True))

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def main(argv: Sequence[str] | None = None, out=None, err=None) -> int:
    out = TerminalText(out or sys.stdout)
    err = TerminalText(err or sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.verb:
            parser.print_help(out)
            return 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                return COMMANDS[args.verb](args, out)
            finally:
                _show_warnings(caught, err)
    except _Exit as e:
        return e.status
    except UsageError as e:
        err.write(f"{e}\n")
        return 2
    except SelectionError as e:  # a selection the user typed wrongly is a usage error
        err.write(f"vz: {e}\n")
        return 2
    except TargetExists as e:
        err.write(f"vz: {e.with_hint('pass --overwrite to replace it')}\n")
        return 1
    except VZError as e:
        err.write(f"vz: {e}\n")
        return 1
    except OSError as e:  # an I/O failure the core did not word itself
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        err.write(f"vz: {where}{e.strerror or e}\n")
        return 1
    except KeyboardInterrupt:
        err.write("vz: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
