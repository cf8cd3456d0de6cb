"""Errors raised by the core. Every message is one line naming the file (or
variable) and the problem, so the CLI and magics can show it as is."""
from __future__ import annotations


class VZError(Exception):
    """Base class: a problem with the user's data or request (CLI exit code 1)."""


class ScanError(VZError):
    """A file could not be scanned."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsupportedFeature(ScanError):
    """A file (or variable) uses something vz_jupyter cannot reference."""


class WriteError(VZError):
    """References could not be written (target exists, unwritable, ...)."""


class CheckFailed(VZError):
    """A combine was refused because ``check`` found errors; carries the report."""

    def __init__(self, report, message: str | None = None):
        self.report = report
        super().__init__(message or report.summary_line())


class SelectionError(VZError, IndexError):
    """A selection string or object could not be understood."""
