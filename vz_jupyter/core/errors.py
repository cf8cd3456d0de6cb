"""Errors raised by the core. Every message is one line naming the file (or
variable) and the problem, so the CLI and magics can show it as is."""
from __future__ import annotations

from contextlib import contextmanager

from .urls import redact


class VZError(Exception):
    """Base class: a problem with the user's data or request (CLI exit code 1).

    The message never shows URL credentials: ``str()`` redacts them."""

    def __str__(self) -> str:
        return redact(super().__str__())


class ScanError(VZError):
    """A file could not be scanned."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # worker processes send scan errors back whole
        return (type(self), (self.path, self.problem))


class UnsupportedFeature(ScanError):
    """A file (or variable) uses something vz_jupyter cannot reference."""


class SkippedVariableWarning(UserWarning):
    """A variable could not be referenced and was left out (it is named, with the
    reason, on ``VDataset.skipped``)."""


class SkippedFileWarning(UserWarning):
    """A file could not be read and was left out (``errors="warn"``)."""


class WriteError(VZError):
    """References could not be written (target exists, unwritable, ...)."""


class TargetExists(WriteError):
    """The target is an earlier output of the same format and replacing it was
    not asked for. ``with_hint`` rewords the remedy for each front end."""

    def __init__(self, path: str, what: str, hint: str = "pass overwrite=True to replace it"):
        self.path = str(path)
        self.what = what
        self.hint = hint
        super().__init__(f"{self.path}: already exists ({what}); {hint}")

    def with_hint(self, hint: str) -> TargetExists:
        return TargetExists(self.path, self.what, hint)


class CheckFailed(VZError):
    """A combine was refused because ``check`` found errors; carries the report."""

    def __init__(self, report, message: str | None = None):
        self.report = report
        super().__init__(message or report.summary_line())


class FillValueWarning(UserWarning):
    """A fill value could not be written exactly as the original reads (the
    message names the variable and what readers will see instead)."""


class SelectionError(VZError, IndexError):
    """A selection string or object could not be understood."""


class TiedSortKeysWarning(UserWarning):
    """``sort`` found files with equal sort keys: their order was left as given."""


@contextmanager
def reading(path: str):
    """Turn the OS errors of reading ``path`` into one-line :class:`ScanError`s."""
    try:
        yield
    except FileNotFoundError:
        raise ScanError(path, "no such file") from None
    except PermissionError:
        raise ScanError(path, "permission denied") from None
    except IsADirectoryError:
        raise ScanError(path, "is a directory, not a file") from None
    except OSError as e:
        raise ScanError(path, f"cannot read: {e.strerror or e}") from None
