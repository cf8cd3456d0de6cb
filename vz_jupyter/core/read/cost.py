"""What one request costs on a store, and how a plan's byte ranges merge because of it.

A request for a byte range costs the store's latency plus its bytes over the
store's bandwidth; a client keeps ``concurrency`` requests in flight, so one
more request among many costs ``latency / concurrency``. Reading through the
gap between two wanted ranges instead of asking twice costs the gap's bytes
only, so a gap is worth reading through when ``gap < latency × bandwidth /
concurrency``: the *break-even gap*.

* A local file answers in microseconds: the plan keeps **span-exact** reads
  (:class:`~vz_jupyter.core.read.options.ReadOptions`' ``max_gap``/``max_waste``
  rule: small gaps, within a 10 % waste budget).
* An object store (``https://``, ``s3://``, ``gs://``, ...) answers in tens of
  milliseconds: at 30 ms, 100 MB/s and 8 requests in flight the break-even gap
  is 375 kB, so a selection's ranges **coalesce** into few requests (each at
  most ``max_block`` bytes), while chunks far apart stay separate requests
  fetched side by side.

The model is chosen per file from its protocol (:data:`PROTOCOL_MODELS`, any
other protocol is an object store) unless ``ReadOptions(cost=...)`` names one
for every file::

    slow = CostModel(name="my bucket", latency=0.08, bandwidth=50e6, concurrency=4, coalesce=True)
    p = vz.plan(ds, "air[:, 4, 5]", cost=slow)
    p.execute(cost=LOCAL)       # span-exact reads from a remote store

With one request in flight this is the rule that sizes Apache Arrow's read
coalescing (``pyarrow.CacheOptions.from_network_metrics``: the largest hole
worth reading is time-to-first-byte × bandwidth).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..urls import protocol


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} GB"


@dataclass(frozen=True, kw_only=True)
class CostModel:
    """Per-request latency and bandwidth of a store, and whether reads coalesce.

    ``latency``: seconds one request costs before its first byte.
    ``bandwidth``: bytes per second once it flows (all requests together).
    ``concurrency``: requests the client keeps in flight at once.
    ``coalesce``: True reads through every gap shorter than the break-even
    gap (``latency × bandwidth / concurrency`` bytes); False keeps span-exact
    reads (the ``max_gap`` / ``max_waste`` rule of the read options).
    """

    name: str
    latency: float
    bandwidth: float
    concurrency: int = 1
    coalesce: bool

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"CostModel name must be text, not {self.name!r}")
        for field, value in (("latency", self.latency), ("bandwidth", self.bandwidth)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
                raise ValueError(f"CostModel {field} must be a number ≥ 0, not {value!r}")
        if self.bandwidth == 0:
            raise ValueError("CostModel bandwidth must be more than 0 bytes per second")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ValueError(f"CostModel concurrency must be a whole number ≥ 1, not {self.concurrency!r}")

    @property
    def break_even_gap(self) -> int:
        """Gap bytes that cost as much to read through as one more request among many."""
        return int(self.latency * self.bandwidth / self.concurrency)

    def seconds(self, n_requests: int, nbytes: int) -> float:
        """Estimated time of ``n_requests`` requests moving ``nbytes``,
        ``concurrency`` of them in flight at a time."""
        return -(-int(n_requests) // self.concurrency) * self.latency + nbytes / self.bandwidth

    def describe(self) -> str:
        """``"object store: 30 ms/request, 100 MB/s, 8 in flight"``."""
        lat = f"{self.latency * 1e3:.3g} ms" if self.latency >= 1e-3 else f"{self.latency * 1e6:.3g} µs"
        return f"{self.name}: {lat}/request, {_fmt_bytes(self.bandwidth)}/s, {self.concurrency} in flight"


#: local files (and file:// URLs): span-exact reads
LOCAL = CostModel(name="local file", latency=50e-6, bandwidth=2e9, coalesce=False)
#: object stores and HTTP servers: few, large requests
OBJECT_STORE = CostModel(name="object store", latency=0.03, bandwidth=100e6, concurrency=8, coalesce=True)

#: the model of a protocol; any protocol not listed is an :data:`OBJECT_STORE`
PROTOCOL_MODELS = {"file": LOCAL, "local": LOCAL, "memory": LOCAL}


def model_for(path: str, cost: CostModel | None = None) -> CostModel:
    """``cost`` when given, else the model of ``path``'s protocol."""
    if cost is not None:
        return cost
    return PROTOCOL_MODELS.get(protocol(path), OBJECT_STORE)


def merge_rule(options, model: CostModel) -> dict:
    """``merge_ranges`` keywords for a file under ``model`` and ``options``."""
    if model.coalesce:
        return {"max_gap": model.break_even_gap, "max_block": options.max_block, "max_waste": None}
    return {"max_gap": options.max_gap, "max_block": options.max_block, "max_waste": options.max_waste}
