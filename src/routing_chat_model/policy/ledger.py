"""Spend ledgers for `Budget`: how much each user or tenant spent since a point in time.

`Ledger` is the interface (two methods) a shared store can implement so that several processes
share one budget: a Redis sorted set or a SQL table of `(key, at, amount)` rows both fit.
`InMemoryLedger` is the default: one process, thread-safe, bounded memory.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal, Protocol, runtime_checkable

from routing_chat_model.errors import RouteConfigError

__all__ = ["InMemoryLedger", "Ledger", "Period", "period_bounds"]

Period = Literal["day", "month"] | float
"""A budget period: the calendar day or month (in a time zone), or a rolling window of N seconds."""

_DAY = 86_400.0
_SWEEP_EVERY = 1024


@runtime_checkable
class Ledger(Protocol):
    """Where a budget's spend is recorded.

    Implementations must be safe to call from several threads. Amounts are USD.
    """

    def spent(self, key: str, period_start: float) -> float:
        """Total recorded for `key` at or after `period_start` (seconds since the epoch)."""
        ...

    def add(self, key: str, amount: float, at: float) -> None:
        """Record `amount` spent by `key` at time `at` (seconds since the epoch)."""
        ...


def period_bounds(period: Period, now: float, tz: tzinfo) -> tuple[float, float | None]:
    """The start of the period containing `now`, and when it ends (None for a rolling window).

    Calendar periods start at midnight in `tz` (the first of the month for "month").
    """
    if period == "day" or period == "month":
        local = datetime.fromtimestamp(now, tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "month":
            start = start.replace(day=1)
            year, month = divmod(start.month, 12)
            end = start.replace(year=start.year + year, month=month + 1)
        else:
            end = start + timedelta(days=1)  # wall-clock arithmetic: midnight, across DST
        return start.timestamp(), end.timestamp()
    return now - float(period), None


@dataclass
class _Series:
    """One key's spend, in buckets: `starts[i]` and the running total up to bucket i."""

    starts: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    before: float = 0.0
    """The running total of the buckets already dropped."""


class InMemoryLedger:
    """A thread-safe ledger in this process's memory, with old spend dropped.

    Spend is summed into buckets of `resolution` seconds (aligned to the epoch, so calendar
    periods starting on a whole minute are counted exactly). A rolling window that starts inside
    a bucket counts the whole bucket: the ledger may report up to one bucket's spend too much,
    never too little. An amount recorded with a time earlier than the latest bucket (a late,
    concurrent call) goes into the latest bucket.

    Memory stays bounded: buckets older than `max_age` seconds are dropped, and keys with no
    spend in `max_age` are forgotten, so a key holds at most `max_age / resolution` buckets.

    Args:
        resolution: Bucket width in seconds (> 0).
        max_age: How long spend is kept, in seconds; at least the longest period a budget on
            this ledger uses (32 days by default, enough for monthly budgets).

    Raises:
        RouteConfigError: a setting is not a positive finite number.
    """

    def __init__(self, *, resolution: float = 60.0, max_age: float = 32 * _DAY) -> None:
        self.resolution = _positive("InMemoryLedger.resolution", resolution)
        self.max_age = _positive("InMemoryLedger.max_age", max_age)
        if self.max_age < self.resolution:
            raise RouteConfigError(
                f"InMemoryLedger.max_age ({max_age}) must be at least resolution ({resolution})."
            )
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()
        self._adds = 0

    def spent(self, key: str, period_start: float) -> float:
        """Total recorded for `key` in the buckets ending after `period_start`."""
        with self._lock:
            series = self._series.get(key)
            if series is None or not series.starts:
                return 0.0
            i = bisect.bisect_right(series.starts, period_start - self.resolution)
            base = series.before if i == 0 else series.totals[i - 1]
            return max(0.0, series.totals[-1] - base)

    def add(self, key: str, amount: float, at: float) -> None:
        """Record `amount` USD for `key` at `at`.

        Raises:
            ValueError: `amount` is negative or not finite, or `at` is not finite.
        """
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"amount must be a finite number >= 0 (USD), got {amount!r}")
        if not math.isfinite(at):
            raise ValueError(f"at must be a finite time in seconds, got {at!r}")
        bucket = math.floor(at / self.resolution) * self.resolution
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            if series.starts and bucket <= series.starts[-1]:
                series.totals[-1] += amount
            else:
                last = series.totals[-1] if series.totals else series.before
                series.starts.append(bucket)
                series.totals.append(last + amount)
            horizon = at - self.max_age - self.resolution
            if series.starts[0] < horizon:
                self._drop(series, horizon)
            self._adds += 1
            if self._adds % _SWEEP_EVERY == 0:
                self._sweep(horizon)

    def keys(self) -> list[str]:
        """The keys with spend still kept."""
        with self._lock:
            return list(self._series)

    def buckets(self, key: str) -> int:
        """How many buckets `key` holds (for tests and memory checks)."""
        with self._lock:
            series = self._series.get(key)
            return 0 if series is None else len(series.starts)

    @staticmethod
    def _drop(series: _Series, horizon: float) -> None:
        i = bisect.bisect_left(series.starts, horizon)
        if i:
            series.before = series.totals[i - 1]
            del series.starts[:i]
            del series.totals[:i]

    def _sweep(self, horizon: float) -> None:
        stale = [k for k, s in self._series.items() if not s.starts or s.starts[-1] < horizon]
        for key in stale:
            del self._series[key]
        for series in self._series.values():
            if series.starts[0] < horizon:
                self._drop(series, horizon)

    def __repr__(self) -> str:
        return f"InMemoryLedger(resolution={self.resolution!r}, max_age={self.max_age!r})"


def _positive(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RouteConfigError(f"{what} must be a number of seconds > 0, got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise RouteConfigError(f"{what} must be a finite number of seconds > 0, got {value!r}.")
    return number
