"""`RoutingMetrics`: thread-safe totals of routing decisions, per route and per selector.

Framework-free: it takes `RoutingDecision`s or their `to_dict()` form, so the LangChain and
LlamaIndex handlers (and users' own code reading `response_metadata["routing"]`) feed it alike.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.metrics._latency import (
    ATTEMPT_BUCKETS_MS,
    DECISION_BUCKETS_MS,
    LatencyStats,
    check_buckets,
)
from routing_chat_model.metrics._table import format_report
from routing_chat_model.metrics.prometheus import Family, Sample, render
from routing_chat_model.policy.classify import classify_error

__all__ = ["RoutingMetrics"]

_UNKNOWN = "unknown"
_NAMESPACE_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass
class _Counts:
    """Counters of answered calls; one per (route, selector) pair, summed for other views."""

    calls: int = 0
    abstentions: int = 0
    fallbacks: int = 0
    restricted: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: _Counts) -> None:
        self.calls += other.calls
        self.abstentions += other.abstentions
        self.fallbacks += other.fallbacks
        self.restricted += other.restricted
        self.cost_usd += other.cost_usd
        self.cost_unknown += other.cost_unknown
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens


class _RouteStats:
    """What happened to one model, whether or not it answered: chosen first, attempts, failures."""

    __slots__ = ("attempts", "failures", "latency", "selected")

    def __init__(self, bounds: tuple[float, ...], size: int) -> None:
        self.selected = 0
        self.attempts = 0
        self.failures: Counter[str] = Counter()
        self.latency = LatencyStats(bounds, size)


class RoutingMetrics:
    """Aggregates routing decisions: calls, cost, latency, fallbacks, abstentions, gates, errors.

    Feed it with `record(decision)` (a `RoutingDecision` or its dict) and, for calls that failed
    with no answer (so no decision), `record_error(exc)`; the framework handlers do both. Read it
    as a text `table()`, a `to_dict()` snapshot or `to_prometheus()` text. All methods are
    thread-safe (one lock; recording costs a few microseconds), so one instance can serve a
    whole process, sync and async code alike.

    Definitions: a *fallback* is an answered call whose `route` (the model that answered)
    differs from `selected` (the model chosen first); a *restricted* call is one a gate narrowed;
    *cost_unknown* counts answered calls whose `cost_usd` is None (no usage or no price), whose
    cost is therefore missing from `cost_usd`. Decision latency is the selection time per
    selector; attempt latency is each model call per model, failed ones included.

    Args:
        reservoir_size: Observations kept per latency series for p50/p95 (a uniform sample;
            exact until that many calls).
        decision_buckets_ms: Histogram bounds for decision latency, in ms.
        attempt_buckets_ms: Histogram bounds for attempt latency, in ms.
        namespace: Prefix of the Prometheus metric names.

    Raises:
        RouteConfigError: a setting is invalid (the message names it).
    """

    def __init__(
        self,
        *,
        reservoir_size: int = 1024,
        decision_buckets_ms: Sequence[float] = DECISION_BUCKETS_MS,
        attempt_buckets_ms: Sequence[float] = ATTEMPT_BUCKETS_MS,
        namespace: str = "routing",
    ) -> None:
        if isinstance(reservoir_size, bool) or not isinstance(reservoir_size, int):
            raise RouteConfigError("reservoir_size must be an int, e.g. reservoir_size=1024.")
        if reservoir_size < 1:
            raise RouteConfigError(f"reservoir_size must be >= 1, got {reservoir_size}.")
        if not _NAMESPACE_RE.match(namespace):
            raise RouteConfigError(
                f"namespace {namespace!r} is not a valid Prometheus metric name prefix: use "
                "letters, digits and underscores, not starting with a digit (e.g. 'routing')."
            )
        self.reservoir_size = reservoir_size
        self.decision_buckets_ms = check_buckets("decision_buckets_ms", decision_buckets_ms)
        self.attempt_buckets_ms = check_buckets("attempt_buckets_ms", attempt_buckets_ms)
        self.namespace = namespace
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        size = self.reservoir_size
        self._pairs: dict[tuple[str, str], _Counts] = {}
        self._routes: dict[str, _RouteStats] = {}
        self._selector_latency: dict[str, LatencyStats] = {}
        self._decision_latency = LatencyStats(self.decision_buckets_ms, size)
        self._attempt_latency = LatencyStats(self.attempt_buckets_ms, size)
        self._gates: Counter[str] = Counter()
        self._errors: Counter[tuple[str, str, str]] = Counter()

    # -- recording -------------------------------------------------------------------------

    def record(self, decision: RoutingDecision | Mapping[str, Any]) -> None:
        """Count one answered call from its decision (or `decision.to_dict()`)."""
        data: Mapping[str, Any] = decision if isinstance(decision, Mapping) else decision.to_dict()
        route = str(data.get("route") or _UNKNOWN)
        selected = str(data.get("selected") or route)
        selector = str(data.get("selector") or _UNKNOWN)
        restrictions = [str(r) for r in data.get("restrictions") or ()]
        cost = _number(data.get("cost_usd"))
        latency = _number(data.get("latency_ms"))
        attempts = [a for a in data.get("attempts") or () if isinstance(a, Mapping)]
        with self._lock:
            counts = self._pairs.get((route, selector))
            if counts is None:
                counts = self._pairs[(route, selector)] = _Counts()
            counts.calls += 1
            counts.abstentions += bool(data.get("abstained"))
            counts.fallbacks += route != selected
            counts.restricted += bool(restrictions)
            if cost is None:
                counts.cost_unknown += 1
            else:
                counts.cost_usd += cost
            counts.input_tokens += _count(data.get("input_tokens"))
            counts.output_tokens += _count(data.get("output_tokens"))
            self._route(selected).selected += 1
            if latency is not None:
                self._decision_latency.observe(latency)
                sel = self._selector_latency.get(selector)
                if sel is None:
                    sel = self._selector_latency[selector] = LatencyStats(
                        self.decision_buckets_ms, self.reservoir_size
                    )
                sel.observe(latency)
            for attempt in attempts:
                self._attempt(
                    str(attempt.get("route") or _UNKNOWN),
                    attempt.get("error_kind") or attempt.get("error"),
                    _number(attempt.get("latency_ms")),
                )
            for restriction in restrictions:
                self._gates[restriction.split(":", 1)[0].strip() or _UNKNOWN] += 1

    def record_error(
        self, error: BaseException | str, *, route: str | None = None, selector: str | None = None
    ) -> None:
        """Count one call that failed without an answer, so produced no decision.

        Args:
            error: The exception (or its type name). An `AllModelsFailedError` also counts one
                failed attempt per model it tried, by error kind.
            route: The model chosen first, where known.
            selector: The selector that chose it, where known.
        """
        name = error if isinstance(error, str) else type(error).__name__
        failed: list[tuple[str, str]] = []
        if isinstance(error, BaseException):
            routes = getattr(error, "routes", None)
            excs = getattr(error, "exceptions", None)
            if isinstance(routes, tuple) and isinstance(excs, tuple):
                failed = [
                    (str(r), classify_error(e).value) for r, e in zip(routes, excs, strict=False)
                ]
        with self._lock:
            self._errors[(route or _UNKNOWN, selector or _UNKNOWN, name)] += 1
            if route is not None:
                self._route(route).selected += 1
            for failed_route, kind in failed:
                self._attempt(failed_route, kind, None)

    def reset(self) -> None:
        """Forget everything recorded (settings are kept)."""
        with self._lock:
            self._clear()

    def _route(self, route: str) -> _RouteStats:
        stats = self._routes.get(route)
        if stats is None:
            stats = self._routes[route] = _RouteStats(self.attempt_buckets_ms, self.reservoir_size)
        return stats

    def _attempt(self, route: str, failure: Any, latency: float | None) -> None:
        stats = self._route(route)
        stats.attempts += 1
        if failure is not None:
            stats.failures[str(failure)] += 1
        if latency is not None:
            stats.latency.observe(latency)
            self._attempt_latency.observe(latency)

    # -- reading ---------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Answered calls recorded so far."""
        with self._lock:
            return sum(c.calls for c in self._pairs.values())

    @property
    def errors(self) -> int:
        """Calls recorded as failed with no answer."""
        with self._lock:
            return sum(self._errors.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot: totals, then `routes` and `selectors` breakdowns.

        Latencies are `{count, sum, mean, p50, p95}` in ms; `failed_attempts_by_kind` maps an
        error kind (rate_limit, timeout, ...) to its count.
        """
        with self._lock:
            total = _Counts()
            by_route: dict[str, _Counts] = {r: _Counts() for r in self._routes}
            by_selector: dict[str, _Counts] = {}
            for (route, selector), counts in self._pairs.items():
                total.add(counts)
                by_route.setdefault(route, _Counts()).add(counts)
                by_selector.setdefault(selector, _Counts()).add(counts)
            errors: Counter[str] = Counter()
            route_errors: Counter[str] = Counter()
            selector_errors: Counter[str] = Counter()
            for (route, selector, name), n in self._errors.items():
                errors[name] += n
                route_errors[route] += n
                selector_errors[selector] += n
            failures: Counter[str] = Counter()
            routes: dict[str, Any] = {}
            for route in sorted(by_route):
                stats = self._routes.get(route)
                row: dict[str, Any] = asdict(by_route[route])
                row["errors"] = route_errors.get(route, 0)
                row["selected"] = stats.selected if stats else 0
                row["attempts"] = stats.attempts if stats else 0
                row["failed_attempts"] = sum(stats.failures.values()) if stats else 0
                row["failed_attempts_by_kind"] = (
                    dict(sorted(stats.failures.items())) if stats else {}
                )
                row["attempt_latency_ms"] = stats.latency.summary() if stats else _no_latency()
                if stats:
                    failures.update(stats.failures)
                routes[route] = row
            selectors: dict[str, Any] = {}
            known_errors = {s for s in selector_errors if s != _UNKNOWN}
            for selector in sorted(
                by_selector.keys() | self._selector_latency.keys() | known_errors
            ):
                row = asdict(by_selector.get(selector, _Counts()))
                row["errors"] = selector_errors.get(selector, 0)
                lat = self._selector_latency.get(selector)
                row["decision_latency_ms"] = lat.summary() if lat else _no_latency()
                selectors[selector] = row
            out: dict[str, Any] = asdict(total)
            out.update(
                errors=sum(errors.values()),
                errors_by_type=dict(sorted(errors.items())),
                attempts=sum(s.attempts for s in self._routes.values()),
                failed_attempts=sum(failures.values()),
                failed_attempts_by_kind=dict(sorted(failures.items())),
                restrictions_by_gate=dict(sorted(self._gates.items())),
                decision_latency_ms=self._decision_latency.summary(),
                attempt_latency_ms=self._attempt_latency.summary(),
                routes=routes,
                selectors=selectors,
            )
            return out

    def table(self) -> str:
        """A readable text table: a totals line, one row per route, one per selector."""
        return format_report(self.to_dict())

    def to_prometheus(self) -> str:
        """The metrics in Prometheus text exposition format (0.0.4).

        Counters end in `_total` and carry `route` and `selector` labels (plus `kind`, `gate`
        or `error` where they apply); latencies are histograms in seconds
        (`<namespace>_decision_latency_seconds{selector}`,
        `<namespace>_attempt_latency_seconds{route}`). Serve it with content type
        `text/plain; version=0.0.4`.
        """
        ns = self.namespace
        with self._lock:
            families = [
                _pair_family(self._pairs, f"{ns}_{name}_total", help_, attr)
                for name, help_, attr in _PAIR_COUNTERS
            ]
            selected = Family(
                f"{ns}_selected_total", "counter", "Calls whose selector chose this model first."
            )
            attempts = Family(
                f"{ns}_attempts_total", "counter", "Model calls made, failed ones included."
            )
            failed = Family(
                f"{ns}_attempt_failures_total", "counter", "Model calls that failed, by error kind."
            )
            for route in sorted(self._routes):
                stats = self._routes[route]
                selected.samples.append(Sample({"route": route}, stats.selected))
                attempts.samples.append(Sample({"route": route}, stats.attempts))
                for kind, n in sorted(stats.failures.items()):
                    failed.samples.append(Sample({"route": route, "kind": kind}, n))
            gates = Family(f"{ns}_restrictions_total", "counter", "Calls a gate narrowed, by gate.")
            gates.samples += [Sample({"gate": g}, n) for g, n in sorted(self._gates.items())]
            errors = Family(
                f"{ns}_errors_total",
                "counter",
                "Calls that failed with no answer, by the model chosen first and error type.",
            )
            errors.samples += [
                Sample({"route": r, "selector": s, "error": e}, n)
                for (r, s, e), n in sorted(self._errors.items())
            ]
            decision = Family(
                f"{ns}_decision_latency_seconds",
                "histogram",
                "Time the router took to decide (selection only), by selector.",
            )
            for selector in sorted(self._selector_latency):
                _histogram(decision, {"selector": selector}, self._selector_latency[selector])
            attempt = Family(
                f"{ns}_attempt_latency_seconds",
                "histogram",
                "Wall time of each model call (to the first chunk when streaming), by model.",
            )
            for route in sorted(self._routes):
                if self._routes[route].latency.count:
                    _histogram(attempt, {"route": route}, self._routes[route].latency)
            families += [selected, attempts, failed, gates, errors, decision, attempt]
        return render(families)

    def __repr__(self) -> str:
        return f"RoutingMetrics(calls={self.calls}, errors={self.errors})"


_PAIR_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("calls", "Answered calls, by the model that answered and the selector.", "calls"),
    ("abstentions", "Answered calls where the selector abstained to the default.", "abstentions"),
    ("fallbacks", "Answered calls that a fallback model answered.", "fallbacks"),
    ("restricted_calls", "Answered calls whose candidates a gate narrowed.", "restricted"),
    ("cost_usd", "Cost of the answers in USD, where known.", "cost_usd"),
    ("cost_unknown_calls", "Answered calls whose cost is unknown.", "cost_unknown"),
    ("input_tokens", "Prompt tokens of the answers, where reported.", "input_tokens"),
    ("output_tokens", "Completion tokens of the answers, where reported.", "output_tokens"),
)


def _pair_family(
    pairs: Mapping[tuple[str, str], _Counts], name: str, help_: str, attr: str
) -> Family:
    family = Family(name, "counter", help_)
    for (route, selector), counts in sorted(pairs.items()):
        family.samples.append(Sample({"route": route, "selector": selector}, getattr(counts, attr)))
    return family


def _histogram(family: Family, labels: dict[str, str], stats: LatencyStats) -> None:
    """Append `stats` as cumulative `_bucket`s, `_sum` and `_count`, converted to seconds."""
    for bound_ms, n in stats.cumulative():
        le = "+Inf" if math.isinf(bound_ms) else repr(bound_ms / 1000.0)
        family.samples.append(Sample({**labels, "le": le}, n, "_bucket"))
    family.samples.append(Sample(labels, stats.total / 1000.0, "_sum"))
    family.samples.append(Sample(labels, stats.count, "_count"))


def _no_latency() -> dict[str, Any]:
    return {"count": 0, "sum": 0.0, "mean": None, "p50": None, "p95": None}


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, non-numeric, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
