"""Latency statistics: fixed histogram buckets (for Prometheus) and a bounded reservoir (p50/p95).

Not thread-safe on its own: `RoutingMetrics` holds its lock around every use.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from routing_chat_model.errors import RouteConfigError

__all__ = [
    "ATTEMPT_BUCKETS_MS",
    "DECISION_BUCKETS_MS",
    "LatencyStats",
    "check_buckets",
    "percentile",
]

DECISION_BUCKETS_MS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
)  # fmt: skip
"""Histogram upper bounds (ms) for decision latency: selection takes microseconds to ms."""

ATTEMPT_BUCKETS_MS: tuple[float, ...] = (
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
    30000.0, 60000.0,
)  # fmt: skip
"""Histogram upper bounds (ms) for model-call attempts: network calls take 0.1 s to a minute."""


def check_buckets(field: str, bounds: Sequence[float]) -> tuple[float, ...]:
    """Validated histogram bounds: finite, positive, strictly increasing, at least one.

    Raises:
        RouteConfigError: naming `field` and the fix.
    """
    values = tuple(float(b) for b in bounds)
    if not values:
        raise RouteConfigError(f"{field} is empty: give at least one bucket bound in ms.")
    if any(not math.isfinite(b) or b <= 0 for b in values):
        raise RouteConfigError(
            f"{field} has a bound that is not a finite positive number of ms: {list(values)}; "
            "+Inf is added by itself."
        )
    if any(b >= c for b, c in itertools.pairwise(values)):
        raise RouteConfigError(f"{field} must be strictly increasing, got {list(values)}.")
    return values


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q`-quantile (0..1) of sorted values, linearly interpolated; None when empty."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class LatencyStats:
    """Count, sum, cumulative-ready bucket counts and a uniform reservoir of observations.

    The reservoir (Vitter's algorithm R, seeded so runs are reproducible) keeps at most `size`
    values, a uniform sample of everything observed since the last reset, so memory stays
    bounded however long the process runs; percentiles are exact until `size` observations.
    """

    __slots__ = ("bounds", "buckets", "count", "rng", "sample", "size", "total")

    def __init__(self, bounds: tuple[float, ...], size: int) -> None:
        self.bounds = bounds
        self.size = size
        self.buckets = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.total = 0.0
        self.sample: list[float] = []
        self.rng = random.Random(0x5EED)

    def observe(self, ms: float) -> None:
        """Add one observation in milliseconds (negative or non-finite values are ignored)."""
        if not math.isfinite(ms) or ms < 0:
            return
        self.count += 1
        self.total += ms
        self.buckets[bisect_left(self.bounds, ms)] += 1  # first bound >= ms; past the end: +Inf
        sample = self.sample
        if len(sample) < self.size:
            sample.append(ms)
        else:
            slot = int(self.rng.random() * self.count)  # uniform in [0, count)
            if slot < self.size:
                sample[slot] = ms

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound in ms, observations <= it) per bucket, ending with (+inf, count)."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.buckets, strict=True):
            running += n
            out.append((bound, running))
        return out

    def summary(self) -> dict[str, Any]:
        """`count`, `sum`, `mean`, `p50`, `p95` in ms (None where nothing was observed)."""
        ordered = sorted(self.sample)
        return {
            "count": self.count,
            "sum": self.total,
            "mean": self.total / self.count if self.count else None,
            "p50": percentile(ordered, 0.50),
            "p95": percentile(ordered, 0.95),
        }
