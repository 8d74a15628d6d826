"""`CircuitBreaker`: per-model cooldowns shared by every request a router serves.

A model that keeps failing is skipped for `cooldown_s` (it is "open"), then one request probes
it ("half-open"): a success closes it, a failure opens it again for a new, full cooldown. The
breaker only ever removes models from a call's plan; it never adds one, so gates (compliance,
budgets) hold through it.

One `threading.Lock` guards the per-model state and is held only for dict updates, never
around a model call or an `await`, so the breaker is safe from threads and from concurrent
asyncio tasks alike.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import cast

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.classify import ErrorKind, status_code_of
from routing_chat_model.policy.retry import check_seconds

__all__ = ["DEFAULT_TRIP_ON", "CircuitBreaker", "ModelHealth"]

DEFAULT_TRIP_ON: frozenset[ErrorKind] = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION, ErrorKind.TIMEOUT}
)
"""Failures that count against a model's health (plus 401/403/404: a bad key or unknown model
makes the model unusable until someone fixes it)."""

_UNUSABLE_STATUSES = frozenset({401, 403, 404})

_LOST_PROBE_S = 60.0

StateListener = Callable[[str, str, str], None]
"""Called as `(model, old_state, new_state)` after a transition, outside the lock."""


@dataclass(frozen=True)
class ModelHealth:
    """One model's breaker state, as `CircuitBreaker.state()` reports it.

    Attributes:
        state: "closed" (in use), "open" (skipped while cooling) or "half_open" (one probe).
        consecutive_failures: Failures since the last success.
        recent_requests: Outcomes in the rate window.
        recent_failures: Failures among them.
        cooling_for_s: Seconds left before a probe is allowed (0 unless open).
        times_opened: How many times the model was taken out of rotation.
    """

    state: str
    consecutive_failures: int
    recent_requests: int
    recent_failures: int
    cooling_for_s: float
    times_opened: int


class _Model:
    __slots__ = ("consecutive", "opened", "outcomes", "probe_since", "state", "until")

    def __init__(self, window: int) -> None:
        self.state = "closed"
        self.consecutive = 0
        self.outcomes: deque[bool] = deque(maxlen=window)
        self.until = 0.0
        self.probe_since: float | None = None
        self.opened = 0


class CircuitBreaker:
    """Takes failing models out of rotation for a while, for every request of a router.

    Args:
        failure_threshold: Open after this many consecutive failures (None: not by count).
        failure_rate: Open when at least this share (0 < rate <= 1) of the last `window`
            outcomes failed, once `min_requests` were seen (None: not by rate).
        min_requests: Outcomes needed before `failure_rate` applies.
        window: How many recent outcomes per model the rate is computed over.
        cooldown_s: How long an open model is skipped; 0 means "probe again at once".
        honour_retry_after: A failure carrying `Retry-After` cools the model for at least that
            long (up to `max_cooldown_s`), even below the thresholds.
        max_cooldown_s: Upper bound of any cooldown, `Retry-After` included.
        trip_on: The error kinds that count as failures.
        clock: Monotonic seconds (inject a fake clock in tests).
        on_state_change: Called `(model, old, new)` after each transition.
    """

    def __init__(
        self,
        *,
        failure_threshold: int | None = 5,
        failure_rate: float | None = None,
        min_requests: int = 10,
        window: int = 20,
        cooldown_s: float = 30.0,
        honour_retry_after: bool = True,
        max_cooldown_s: float = 300.0,
        trip_on: Collection[ErrorKind | str] = DEFAULT_TRIP_ON,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateListener | None = None,
    ) -> None:
        if failure_threshold is not None and (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise RouteConfigError(
                f"CircuitBreaker.failure_threshold must be an int >= 1 or None, got "
                f"{failure_threshold!r}."
            )
        if failure_rate is not None and not (
            isinstance(failure_rate, (int, float))
            and not isinstance(failure_rate, bool)
            and math.isfinite(failure_rate)
            and 0 < failure_rate <= 1
        ):
            raise RouteConfigError(
                f"CircuitBreaker.failure_rate must be in (0, 1] or None, got {failure_rate!r}."
            )
        if failure_threshold is None and failure_rate is None:
            raise RouteConfigError(
                "CircuitBreaker needs failure_threshold or failure_rate (or both); with neither "
                "it would never open."
            )
        for name, value in (("min_requests", min_requests), ("window", window)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RouteConfigError(f"CircuitBreaker.{name} must be an int >= 1, got {value!r}.")
        if window < min_requests:
            raise RouteConfigError(
                f"CircuitBreaker.window ({window}) must be >= min_requests ({min_requests})."
            )
        check_seconds("CircuitBreaker.cooldown_s", cooldown_s, allow_zero=True)
        check_seconds("CircuitBreaker.max_cooldown_s", max_cooldown_s, allow_zero=True)
        kinds: set[ErrorKind] = set()
        for kind in trip_on:
            try:
                kinds.add(ErrorKind(kind))
            except ValueError:
                raise RouteConfigError(
                    f"CircuitBreaker.trip_on: unknown error kind {kind!r}; use "
                    f"{', '.join(repr(k.value) for k in ErrorKind)}."
                ) from None
        self.failure_threshold = failure_threshold
        self.failure_rate = None if failure_rate is None else float(failure_rate)
        self.min_requests = min_requests
        self.window = window
        self.cooldown_s = float(cooldown_s)
        self.honour_retry_after = honour_retry_after
        self.max_cooldown_s = float(max_cooldown_s)
        self.trip_on = frozenset(kinds)
        self.clock = clock
        self.on_state_change = on_state_change
        self._lock = threading.Lock()
        self._models: dict[str, _Model] = {}

    # -- the attempt loop's side ---------------------------------------------------------------

    def allow(self, model: str) -> bool:
        """Whether `model` may be called now; claims the probe when it is half-open.

        A caller that got True must report the attempt's outcome (`success`, `failure` or
        `release`); a probe nobody reports on is given up after `max(cooldown_s, 60)` seconds.
        """
        return self.acquire(model) is not None

    def acquire(self, model: str) -> bool | None:
        """Like `allow`: None when refused, else whether the caller now holds the probe.

        Only the holder of the probe may `release` it (others would free a probe in flight).
        """
        with self._lock:
            health = self._models.get(model)
            if health is None or health.state == "closed":
                return False
            now = self.clock()
            if health.state == "open":
                if now < health.until:
                    return None
                health.state, health.probe_since = "half_open", now
                opened = True
            elif health.probe_since is not None and now - health.probe_since < max(
                self.cooldown_s, _LOST_PROBE_S
            ):
                return None  # a probe is in flight
            else:
                health.probe_since, opened = now, False
        if opened:
            self._notify(model, "open", "half_open")
        return True

    def success(self, model: str) -> None:
        """Record an answer from `model`: closes it if it was probing."""
        with self._lock:
            health = self._entry(model)
            health.outcomes.append(True)
            health.consecutive = 0
            old = health.state
            if old == "closed":
                return
            health.state, health.probe_since = "closed", None
            health.outcomes.clear()
        self._notify(model, old, "closed")

    def failure(
        self,
        model: str,
        kind: ErrorKind,
        exc: BaseException,
        retry_after: float | None = None,
        *,
        holds_probe: bool = True,
    ) -> bool:
        """Record a failed attempt; returns whether `model` is now open (cooling).

        Failures of other kinds than `trip_on` only release the probe, if the caller holds it
        (`holds_probe`: False for an attempt made without claiming it).
        """
        if kind not in self.trip_on and status_code_of(exc) not in _UNUSABLE_STATUSES:
            if holds_probe:
                self.release(model)
            return self.is_open(model)
        with self._lock:
            health = self._entry(model)
            health.outcomes.append(False)
            health.consecutive += 1
            now = self.clock()
            old = health.state
            hinted = self.honour_retry_after and retry_after is not None and retry_after > 0
            if old != "closed" or self._trips(health):
                cooldown = self.cooldown_s
                if hinted:
                    cooldown = max(cooldown, cast("float", retry_after))
            elif hinted:
                cooldown = cast("float", retry_after)  # asked to wait: cool that long only
            else:
                return False
            until = now + min(cooldown, self.max_cooldown_s)
            # failing again while open extends the cooldown, never shortens it
            health.until = max(health.until, until) if old == "open" else until
            health.state, health.probe_since = "open", None
            if old != "open":
                health.opened += 1
        if old != "open":
            self._notify(model, old, "open")
        return True

    def release(self, model: str) -> None:
        """Give back a claimed probe without an outcome (cancelled, or not the model's fault)."""
        with self._lock:
            health = self._models.get(model)
            if health is not None and health.state == "half_open":
                health.probe_since = None

    def is_open(self, model: str) -> bool:
        """Whether `model` is cooling right now (a half-open model is not)."""
        with self._lock:
            health = self._models.get(model)
            return health is not None and health.state == "open" and self.clock() < health.until

    # -- inspection ----------------------------------------------------------------------------

    def state(self, model: str | None = None) -> Mapping[str, ModelHealth]:
        """The health of each model the breaker has seen an outcome of (or of `model`)."""
        with self._lock:
            now = self.clock()
            items = (
                list(self._models.items())
                if model is None
                else [(model, self._models[model])]
                if model in self._models
                else []
            )
            return {
                name: ModelHealth(
                    state="half_open"
                    if h.state == "open" and now >= h.until
                    else h.state,  # due for a probe
                    consecutive_failures=h.consecutive,
                    recent_requests=len(h.outcomes),
                    recent_failures=sum(1 for ok in h.outcomes if not ok),
                    cooling_for_s=max(0.0, h.until - now) if h.state == "open" else 0.0,
                    times_opened=h.opened,
                )
                for name, h in items
            }

    def reset(self, model: str | None = None) -> None:
        """Forget the health of `model` (or of every model)."""
        with self._lock:
            if model is None:
                self._models.clear()
            else:
                self._models.pop(model, None)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self.failure_threshold}, "
            f"failure_rate={self.failure_rate}, min_requests={self.min_requests}, "
            f"cooldown_s={self.cooldown_s})"
        )

    # -- internals -----------------------------------------------------------------------------

    def _entry(self, model: str) -> _Model:
        health = self._models.get(model)
        if health is None:
            health = self._models[model] = _Model(self.window)
        return health

    def _trips(self, health: _Model) -> bool:
        if self.failure_threshold is not None and health.consecutive >= self.failure_threshold:
            return True
        if self.failure_rate is None or len(health.outcomes) < self.min_requests:
            return False
        failed = sum(1 for ok in health.outcomes if not ok)
        return failed >= self.failure_rate * len(health.outcomes)

    def _notify(self, model: str, old: str, new: str) -> None:
        if self.on_state_change is not None:
            self.on_state_change(model, old, new)
