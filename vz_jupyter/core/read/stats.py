"""What one read moved (:class:`ExecStats`, kept on ``plan.last_stats``)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExecStats:
    """What one execute()/reduce() moved."""

    bytes_read: int = 0
    n_requests: int = 0
    bytes_needed: int = 0
    n_chunks: int = 0
    n_decoded: int = 0
    n_missing: int = 0
    n_inline: int = 0
    seconds: float = 0.0
    #: path -> [requests, bytes read]
    files: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.bytes_read / self.bytes_needed if self.bytes_needed else float("nan")

    def add_entry(self, e) -> None:
        """Count one plan entry handed out (its kind, and what it needs)."""
        self.n_chunks += 1
        self.bytes_needed += e.n_unique * e.itemsize
        if e.kind == "missing":
            self.n_missing += 1
        elif e.kind == "inline":
            self.n_inline += 1
        if e.kind == "inline" or (e.kind == "ref" and not e.raw):
            self.n_decoded += 1

    def __str__(self) -> str:
        return (f"read {self.bytes_read:,} B in {self.n_requests} request(s) for {self.bytes_needed:,} B needed "
                f"({self.n_chunks} chunk(s), {self.n_decoded} decoded, {self.n_missing} missing, "
                f"{self.n_inline} inline) in {self.seconds * 1000:.1f} ms")
