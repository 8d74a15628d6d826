"""The attempt loop: one per call, for `Router.run`/`arun` and (through `Call`) its streams.

The streaming half (`run_stream`/`arun_stream`) lives in `routing_chat_model._streams`.

For each model of the decision's plan, in order: skip it while its circuit breaker is open (the
last model is tried anyway when every earlier one was skipped) or when an earlier attempt
overflowed a context window no larger than its own; stop when the call's deadline has passed;
call it; on a failure the policy allows, retry it (backoff, `Retry-After`) or move on.

What is enforced where:
- async calls: `attempt_timeout_s` and the remaining deadline cancel a running attempt; a
  stream's first chunk must come within `first_token_timeout_s`, later chunks within
  `idle_timeout_s`.
- sync calls: a running call cannot be interrupted, so the deadline is checked between
  attempts (none starts after it) and backoffs never cross it; the time limits on one attempt
  do not apply (set the provider client's own `timeout` for that).

With default settings (no retries, breaker, deadline or timeouts) the loop adds no lock, no
timer and no task to a call.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import (
    AllModelsFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
    RouteConfigError,
    StreamInterruptedError,
)
from routing_chat_model.policy.classify import ErrorKind
from routing_chat_model.policy.health import CircuitBreaker
from routing_chat_model.policy.retry import RetryPolicy, check_seconds, retry_after_of

if TYPE_CHECKING:
    from routing_chat_model.router import Router

__all__ = [
    "Call",
    "Commit",
    "Limit",
    "aclose_stream",
    "arun",
    "check_reliability",
    "close_stream",
    "run",
    "within",
]

T = TypeVar("T")

Commit = Callable[[Any], bool]
"""A predicate on a streamed chunk: True commits the stream at that chunk (e.g. a tool call)."""

Limit = tuple[float, str]
"""A time limit in seconds and its name (the `AttemptTimeoutError.phase`)."""


class Call:
    """The attempts of one call: records each, and decides what happens after a failure."""

    __slots__ = (
        "attempts",
        "deadline",
        "decision",
        "errors",
        "max_window",
        "probe",
        "router",
        "skipped",
    )

    def __init__(self, router: Router, decision: RoutingDecision) -> None:
        self.router = router
        self.decision = decision
        self.attempts: list[Attempt] = []
        self.errors: list[Exception] = []
        self.skipped: list[str] = []
        self.max_window: int | None = None
        """After a context-window overflow: models with a window this size or smaller are
        skipped."""
        self.probe: str | None = None
        """The model whose half-open probe this call holds (only it may release the probe)."""
        deadline_s = router.deadline_s
        self.deadline = None if deadline_s is None else router.clock() + deadline_s

    def plan(self) -> Iterator[str]:
        """The models to try, in plan order, minus those skipped (recorded in `skipped`)."""
        plan = self.decision.plan
        breaker = self.router.circuit_breaker
        for index, route in enumerate(plan):
            if self.max_window is not None:
                window = self.router.capabilities[route].max_input_tokens
                if window is not None and window <= self.max_window:
                    self.skipped.append(f"{route}: context_window")
                    continue
            # When every planned model is cooling, the last one is tried anyway, so the breaker
            # alone never fails a call (and it never adds a model outside the plan).
            if breaker is not None:
                probe = breaker.acquire(route)
                if probe is None and not (index == len(plan) - 1 and not self.attempts):
                    self.skipped.append(f"{route}: cooling")
                    continue
                self.probe = route if probe else None
            yield route

    def check_deadline(self, route: str | None = None) -> None:
        """Raise `DeadlineExceededError` when the call's deadline has passed.

        `route` is the model about to be called: a probe claimed for it is given back.
        """
        if self.deadline is not None and self.router.clock() >= self.deadline:
            if route is not None:
                self.abandoned(route)
            raise DeadlineExceededError(
                self.router.deadline_s or 0.0, self.attempts, self.errors
            ) from (self.errors[-1] if self.errors else None)

    def limit(self, start: float, phase: str) -> Limit | None:
        """The time limit of the next wait of an async attempt (None: unlimited).

        `phase` is "attempt" for a whole call, "first_token" or "idle" for a stream's chunk
        before it commits; after a stream commits only `idle_timeout_s` applies.
        """
        router = self.router
        best: Limit | None = None
        step = router.first_token_timeout_s if phase == "first_token" else None
        if phase == "idle":
            step = router.idle_timeout_s
        if step is not None:
            best = (step, phase)
        if router.attempt_timeout_s is not None:
            left = router.attempt_timeout_s - (time.perf_counter() - start)
            if best is None or left < best[0]:
                best = (max(left, 0.0), "attempt")
        if self.deadline is not None:
            left = self.deadline - router.clock()
            if best is None or left < best[0]:
                best = (max(left, 0.0), "deadline")
        return best

    def failed(self, route: str, exc: Exception, start: float, retry: int) -> float | None:
        """Record a failure: the seconds to wait before retrying `route`, or None to move on.

        Re-raises `exc` when it must not fall back (a client error, a bug).
        """
        router = self.router
        kind, falls_back = router.fallback_policy.classify(exc)
        retry_after = retry_after_of(exc) if kind is not ErrorKind.OTHER else None
        breaker = router.circuit_breaker
        cooling = False
        if breaker is not None:
            holds_probe, self.probe = self.probe == route, None
            if isinstance(exc, AttemptTimeoutError) and exc.phase == "deadline":
                if holds_probe:
                    breaker.release(route)  # the call ran out of time, not the model
            else:
                cooling = breaker.failure(route, kind, exc, retry_after, holds_probe=holds_probe)
        delay: float | None = None
        policy = router.retry
        if (
            policy is not None
            and retry + 1 < policy.max_attempts
            and policy.retries(kind)
            and not cooling
        ):
            delay = policy.delay(retry + 1, retry_after)
            if self.deadline is not None and router.clock() + delay >= self.deadline:
                delay = None  # a wait never crosses the deadline: fall back instead
        if delay is None and not falls_back:
            raise exc
        if kind is ErrorKind.CONTEXT_WINDOW:
            window = router.capabilities[route].max_input_tokens
            if window is not None:
                self.max_window = max(window, self.max_window or 0)
        self.attempts.append(
            Attempt(
                route,
                type(exc).__name__,
                kind.value,
                _ms_since(start),
                retry=retry,
                retry_after_s=retry_after,
                backoff_s=delay,
                billing="unknown" if kind is ErrorKind.TIMEOUT else None,
            )
        )
        self.errors.append(exc)
        return delay

    def abandoned(self, route: str) -> None:
        """The attempt ended without an outcome (cancelled, interrupted by the user)."""
        if self.router.circuit_breaker is not None and self.probe == route:
            self.probe = None
            self.router.circuit_breaker.release(route)

    def succeeded(self, route: str, start: float, retry: int) -> RoutingDecision:
        if self.router.circuit_breaker is not None:
            self.probe = None
            self.router.circuit_breaker.success(route)
        self.attempts.append(Attempt(route, None, None, _ms_since(start), retry=retry))
        if self.skipped:
            return self.decision.evolve(
                route=route, attempts=tuple(self.attempts), skipped=tuple(self.skipped)
            )
        return self.decision.evolve(route=route, attempts=tuple(self.attempts))

    def interrupted(self, route: str, emitted: int, exc: Exception) -> NoReturn:
        """A stream failed after chunks reached the caller: no fallback, never spliced output."""
        _, provider_failure = self.router.fallback_policy.classify(exc)
        if not provider_failure:
            raise exc
        raise StreamInterruptedError(route, emitted, exc) from exc

    def exhausted(self) -> Exception:
        """The error for a plan with no model left: every attempt failed (or none could run).

        `AllModelsFailedError` when every model was tried, even if the deadline passed during
        the last genuine failure; `DeadlineExceededError` when the deadline cut the last one.
        """
        last = self.errors[-1] if self.errors else None
        if isinstance(last, AttemptTimeoutError) and last.phase == "deadline":
            self.check_deadline()
        summary = ", ".join(f"{a.route}: {a.error} ({a.error_kind})" for a in self.attempts)
        skipped = f"; skipped {', '.join(self.skipped)}" if self.skipped else ""
        return AllModelsFailedError(
            f"all {len(self.attempts)} attempt(s) failed: {summary}{skipped}",
            self.errors,
            [a.route for a in self.attempts],
        )


# -- one answer ------------------------------------------------------------------------------


def run(
    router: Router, decision: RoutingDecision, call: Callable[[str], T]
) -> tuple[T, RoutingDecision]:
    """Call `call(route)` along the plan until one answers (see `Router.run`)."""
    log = Call(router, decision)
    for route in log.plan():
        retry = 0
        while True:
            log.check_deadline(route)
            start = time.perf_counter()
            try:
                result = call(route)
            except Exception as exc:
                delay = log.failed(route, exc, start, retry)
                if delay is None:
                    break
                router.sleep(delay)
                retry += 1
                continue
            except BaseException:
                log.abandoned(route)
                raise
            return result, log.succeeded(route, start, retry)
    raise log.exhausted()


async def arun(
    router: Router, decision: RoutingDecision, call: Callable[[str], Awaitable[T]]
) -> tuple[T, RoutingDecision]:
    """Async `run`; time limits cancel a running attempt."""
    log = Call(router, decision)
    timed = router.attempt_timeout_s is not None or router.deadline_s is not None
    for route in log.plan():
        retry = 0
        while True:
            log.check_deadline(route)
            start = time.perf_counter()
            try:
                if timed:
                    result = await within(call(route), route, log.limit(start, "attempt"))
                else:
                    result = await call(route)
            except Exception as exc:
                delay = log.failed(route, exc, start, retry)
                if delay is None:
                    break
                await router.async_sleep(delay)
                retry += 1
                continue
            except BaseException:
                log.abandoned(route)
                raise
            return result, log.succeeded(route, start, retry)
    raise log.exhausted()


async def within(step: Awaitable[T], route: str, limit: Limit | None) -> T:
    """Await `step`, cancelling it and raising `AttemptTimeoutError` after `limit`."""
    if limit is None:
        return await step
    seconds, phase = limit
    if sys.version_info >= (3, 11):
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await step
        except TimeoutError:
            if scope.expired():
                raise AttemptTimeoutError(route, phase, seconds) from None
            raise
    else:  # pragma: no cover - Python 3.10
        try:
            return await asyncio.wait_for(step, seconds)
        except asyncio.TimeoutError:
            raise AttemptTimeoutError(route, phase, seconds) from None


def check_reliability(
    *,
    retry: object = None,
    circuit_breaker: object = None,
    deadline_s: object = None,
    attempt_timeout_s: object = None,
    first_token_timeout_s: object = None,
    idle_timeout_s: object = None,
    stream_hold_back: object = 0,
) -> None:
    """Raise `RouteConfigError` naming the first invalid retry, breaker or time setting."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise RouteConfigError(
            f"retry must be a RetryPolicy, e.g. RetryPolicy(max_attempts=3), got {retry!r:.80}."
        )
    if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
        raise RouteConfigError(
            "circuit_breaker must be a CircuitBreaker, e.g. CircuitBreaker(failure_threshold=3, "
            f"cooldown_s=30), got {circuit_breaker!r:.80}."
        )
    for name, value in (
        ("deadline_s", deadline_s),
        ("attempt_timeout_s", attempt_timeout_s),
        ("first_token_timeout_s", first_token_timeout_s),
        ("idle_timeout_s", idle_timeout_s),
    ):
        if value is not None:
            check_seconds(name, value)
    hold = stream_hold_back
    if isinstance(hold, bool) or not isinstance(hold, int) or hold < 0:
        raise RouteConfigError(
            f"stream_hold_back must be an int >= 0 (chunks held before a stream commits), got "
            f"{hold!r}."
        )


def close_stream(stream: Iterator[Any]) -> None:
    """Close a (sync) stream if it can be closed: ends the provider request behind it."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


async def aclose_stream(stream: AsyncIterator[Any]) -> None:
    """Async `close_stream`."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 4)
