"""The result of a check: :class:`Finding` (one problem or note) and
:class:`Report` (every finding, grouped by severity). The widget, the CLI, the
displays and append read them; their fields and wording are the API."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .. import formatting

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem (or note) found by :func:`check`."""

    severity: str
    code: str
    message: str
    variable: str | None = None
    files: tuple[str, ...] = ()
    fix: str | None = None

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        object.__setattr__(self, "files", tuple(self.files))

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "variable": self.variable,
            "files": list(self.files),
            "fix": self.fix,
        }

    def __str__(self) -> str:
        s = f"{self.severity.upper()} [{self.code}] {self.message}"
        if self.fix:
            s += f" Fix: {self.fix}"
        return s


class Report:
    """The result of :func:`check`: every finding, grouped by severity."""

    def __init__(self, findings: Iterable[Finding], *, dim: str | None, kind: str, files: Sequence[str]):
        order = {s: i for i, s in enumerate(SEVERITIES)}
        self.findings: tuple[Finding, ...] = tuple(sorted(findings, key=lambda f: order[f.severity]))
        self.dim = dim
        self.kind = kind
        self.files: tuple[str, ...] = tuple(files)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def infos(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "info")

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def ok(self) -> bool:
        return not self.has_errors

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def by_code(self, code: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code == code)

    def for_file(self, path: str) -> tuple[Finding, ...]:
        """Findings naming ``path`` (full path or file name)."""
        return tuple(f for f in self.findings if any(p == path or os.path.basename(p) == path for p in f.files))

    def what(self) -> str:
        n = len(self.files)
        if self.kind == "merge":
            return f"merge of {n} dataset{'s' if n != 1 else ''}"
        verb = "stack" if self.kind == "stack" else "concat"
        return f"{verb} of {n} file{'s' if n != 1 else ''} along {self.dim!r}"

    def summary_line(self) -> str:
        """One line: what was checked and how it went (used in CheckFailed)."""
        ne, nw, ni = len(self.errors), len(self.warnings), len(self.infos)

        def codes(fs):
            c = list(dict.fromkeys(f.code for f in fs))
            return f" ({', '.join(c[:6])}{', …' if len(c) > 6 else ''})" if c else ""

        if ne:
            first = self.errors[0]
            return (f"check failed for {self.what()}: {ne} error{'s' if ne != 1 else ''}{codes(self.errors)}, "
                    f"{nw} warning{'s' if nw != 1 else ''}; first: {first.message}")
        return (f"check passed for {self.what()}: 0 errors, {nw} warning{'s' if nw != 1 else ''}{codes(self.warnings)}, "
                f"{ni} info")

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "files": list(self.files),
            "has_errors": self.has_errors,
            "counts": {"error": len(self.errors), "warning": len(self.warnings), "info": len(self.infos)},
            "findings": [f.to_dict() for f in self.findings],
        }

    def __repr__(self) -> str:
        return formatting.as_text(self)

    def _repr_html_(self) -> str:
        return formatting.as_html(self)
