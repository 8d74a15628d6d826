"""`LatencyTarget`: a gate that keeps models slower than a target out, from observed latency.

The gate learns each model's latency from the decisions of completed calls (`observe`): the
`latency_ms` of the attempt that answered (to the first chunk when streaming) and, by default,
of attempts that timed out (a model that keeps timing out is slow too). Per model it keeps an
exponentially weighted moving average and a bounded window of recent observations for
percentiles. Once a model has `min_samples` recent observations and its statistic (p95 by
default) is above the target, the gate excludes it. It never excludes every candidate: when all
of them are too slow, the fastest stays.

An excluded model gets no traffic, so nothing new is learned about it; its observations age
out after `max_age` seconds, after which it is allowed again and measured afresh.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.gate import Restriction
from routing_chat_model.request import RoutingRequest

__all__ = ["LatencyStats", "LatencyTarget"]

Statistic = Literal["p50", "p95", "ewma"]


@dataclass(frozen=True)
class LatencyStats:
    """A model's observed latency.

    Attributes:
        route: The model.
        samples: Observations in the window (recent, at most `window`).
        ewma_ms: Exponentially weighted moving average of all observations kept, or None.
        p50_ms: Median of the window, or None when it is empty.
        p95_ms: 95th percentile of the window, or None when it is empty.
        excluded: Whether the target excludes the model now (enough samples, above target).
    """

    route: str
    samples: int
    ewma_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    excluded: bool

    def to_dict(self) -> dict[str, object]:
        """Plain, JSON-serialisable form."""
        return {
            "route": self.route,
            "samples": self.samples,
            "ewma_ms": self.ewma_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "excluded": self.excluded,
        }


@dataclass
class _Track:
    """One model's observations: `(at, ms)` in arrival order, and the same values sorted."""

    window: deque[tuple[float, float]]
    ewma: float | None = None
    ordered: list[float] = field(default_factory=list)

    def add(self, at: float, ms: float) -> None:
        window = self.window
        if window.maxlen is not None and len(window) == window.maxlen:
            self._forget(window[0][1])
        window.append((at, ms))
        bisect.insort(self.ordered, ms)

    def expire(self, horizon: float) -> None:
        window = self.window
        while window and window[0][0] < horizon:
            self._forget(window.popleft()[1])
        if not window:
            self.ewma = None

    def percentiles(self) -> tuple[float, float] | None:
        if not self.ordered:
            return None
        return _percentile(self.ordered, 0.50), _percentile(self.ordered, 0.95)

    def _forget(self, ms: float) -> None:
        del self.ordered[bisect.bisect_left(self.ordered, ms)]


class LatencyTarget:
    """A gate excluding models whose observed latency is above a target.

    Args:
        max_ms: The target, in milliseconds: a model whose `statistic` is above it is excluded.
        statistic: What is compared with the target: "p95" (default), "p50" or "ewma".
        min_samples: Observations a model needs in its window before it can be excluded.
        window: How many recent observations each model keeps for percentiles.
        alpha: Weight of a new observation in the moving average, in (0, 1].
        max_age: Observations older than this many seconds leave the window; None keeps them
            until newer ones push them out (an excluded model would then never be retried).
        count_timeouts: Also learn from attempts that failed with a timeout.
        clock: Seconds, for `max_age` (`time.monotonic`); tests pass a fake.
        name: The gate's name in decisions.

    Raises:
        RouteConfigError: a setting is invalid, naming the field.
    """

    def __init__(
        self,
        max_ms: float,
        *,
        statistic: Statistic = "p95",
        min_samples: int = 20,
        window: int = 200,
        alpha: float = 0.2,
        max_age: float | None = 600.0,
        count_timeouts: bool = True,
        clock: Callable[[], float] | None = None,
        name: str = "latency",
    ) -> None:
        self.max_ms = _number("max_ms", max_ms, "milliseconds")
        if statistic not in ("p50", "p95", "ewma"):
            raise RouteConfigError(
                f"LatencyTarget.statistic={statistic!r} is not valid: use 'p95', 'p50' or 'ewma'."
            )
        self.statistic: Statistic = statistic
        self.min_samples = _count("min_samples", min_samples)
        self.window = _count("window", window)
        if self.min_samples > self.window:
            raise RouteConfigError(
                f"LatencyTarget.min_samples ({min_samples}) exceeds window ({window}): no model "
                "could ever be excluded; lower min_samples or raise window."
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
            raise RouteConfigError(f"LatencyTarget.alpha must be in (0, 1], got {alpha!r}.")
        self.alpha = float(alpha)
        self.max_age = None if max_age is None else _number("max_age", max_age, "seconds")
        self.count_timeouts = bool(count_timeouts)
        if clock is not None and not callable(clock):
            raise RouteConfigError(f"LatencyTarget.clock must be callable, got {clock!r}.")
        self._clock: Callable[[], float] = clock or time.monotonic
        if not isinstance(name, str) or not name.strip():
            raise RouteConfigError(f"LatencyTarget.name must be a non-empty string, got {name!r}.")
        self._name = name
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The gate's name in decisions ("latency")."""
        return self._name

    def restrict(self, request: RoutingRequest, candidates: Sequence[str]) -> Restriction | None:
        """The candidates not known to be slower than the target; never none of them."""
        slow: dict[str, float] = {}
        now = self._clock()
        with self._lock:
            for route in candidates:
                track = self._tracks.get(route)
                if track is None:
                    continue
                value = self._judge(track, now)
                if value is not None and value > self.max_ms:
                    slow[route] = value
        if not slow:
            return None
        target = f"{self.statistic} above {self.max_ms:g} ms"
        allowed = [r for r in candidates if r not in slow]
        if not allowed:
            fastest = min(slow, key=slow.__getitem__)
            return Restriction(
                (fastest,),
                f"all {target}; kept the fastest, {fastest} ({slow[fastest]:.0f} ms)",
            )
        shown = ", ".join(f"{r} ({ms:.0f} ms)" for r, ms in slow.items())
        return Restriction(tuple(allowed), f"{target}: {shown}")

    def observe(self, decision: RoutingDecision) -> None:
        """Learn from the latency of the call's answering (and timed-out) attempts."""
        now = self._clock()
        for attempt in decision.attempts:
            ms = attempt.latency_ms
            if ms is None or not math.isfinite(ms) or ms < 0:
                continue
            if attempt.error is None or (self.count_timeouts and attempt.error_kind == "timeout"):
                self.record(attempt.route, ms, at=now)

    def record(self, route: str, latency_ms: float, *, at: float | None = None) -> None:
        """Add one observation of `route` (e.g. from a health check or an earlier run)."""
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ValueError(f"latency_ms must be a finite number >= 0, got {latency_ms!r}")
        when = self._clock() if at is None else at
        with self._lock:
            track = self._tracks.get(route)
            if track is None:
                track = self._tracks[route] = _Track(deque(maxlen=self.window))
            if self.max_age is not None:
                track.expire(when - self.max_age)
            track.add(when, float(latency_ms))
            previous = track.ewma
            track.ewma = (
                latency_ms
                if previous is None
                else self.alpha * latency_ms + (1 - self.alpha) * previous
            )

    def stats(self) -> Mapping[str, LatencyStats]:
        """Each observed model's latency now: samples, moving average, p50, p95, excluded."""
        now = self._clock()
        out: dict[str, LatencyStats] = {}
        with self._lock:
            for route, track in self._tracks.items():
                value = self._judge(track, now)
                pcts = track.percentiles()
                out[route] = LatencyStats(
                    route=route,
                    samples=len(track.window),
                    ewma_ms=track.ewma,
                    p50_ms=None if pcts is None else pcts[0],
                    p95_ms=None if pcts is None else pcts[1],
                    excluded=value is not None and value > self.max_ms,
                )
        return out

    def reset(self, route: str | None = None) -> None:
        """Forget the observations of `route`, or of every model."""
        with self._lock:
            if route is None:
                self._tracks.clear()
            else:
                self._tracks.pop(route, None)

    def _judge(self, track: _Track, now: float) -> float | None:
        """The model's statistic, or None while it has too few recent observations."""
        if self.max_age is not None:
            track.expire(now - self.max_age)
        if len(track.window) < self.min_samples:
            return None
        if self.statistic == "ewma":
            return track.ewma
        pcts = track.percentiles()
        if pcts is None:
            return None
        return pcts[0] if self.statistic == "p50" else pcts[1]

    def __repr__(self) -> str:
        return (
            f"LatencyTarget(max_ms={self.max_ms!r}, statistic={self.statistic!r}, "
            f"min_samples={self.min_samples!r}, window={self.window!r})"
        )


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of sorted `values`."""
    position = (len(values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def _number(what: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RouteConfigError(f"LatencyTarget.{what} must be a number of {unit}, got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise RouteConfigError(
            f"LatencyTarget.{what} must be a finite number of {unit} > 0, got {value!r}."
        )
    return number


def _count(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RouteConfigError(f"LatencyTarget.{what} must be an int >= 1, got {value!r}.")
    return value
