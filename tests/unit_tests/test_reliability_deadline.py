"""One shared deadline per call, per-attempt timeouts, and context-window / content-filter fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from routing_chat_model import ModelCapabilities, RouteConfigError, Router, RoutingRequest, Turn
from routing_chat_model.errors import (
    AllModelsFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
)
from routing_chat_model.policy import FallbackPolicy, RetryPolicy


class ProviderError(Exception):
    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.retry_after = retry_after


class ContextOverflowError(Exception):
    """Named like langchain-core's: classified as a context-window overflow."""


class ModelRefusalError(Exception):
    """Named like langchain-core's: classified as a content-filter refusal."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def request() -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", "hello")])


def make(models: tuple[str, ...] = ("a", "b", "c"), **kw: Any) -> Router:
    return Router(list(models), selector=lambda r: None, **kw)


# -- sync: the deadline is checked between attempts ------------------------------------------


def test_no_attempt_starts_after_the_deadline() -> None:
    clock = FakeClock()
    router = make(deadline_s=7, clock=clock, sleep=clock.sleep)
    calls: list[str] = []

    def slow_failure(route: str) -> str:
        calls.append(route)
        clock.now += 4  # each attempt takes 4 s, then fails
        raise ProviderError(503)

    with pytest.raises(DeadlineExceededError) as info:
        router.run(router.decide(request()), slow_failure)
    assert calls == ["a", "b"]  # "c" would have started at t=8, after the deadline
    assert [a.route for a in info.value.attempts] == ["a", "b"]
    assert isinstance(info.value, TimeoutError)
    assert "7 s" in str(info.value)


def test_an_answer_that_arrives_in_time_is_kept() -> None:
    clock = FakeClock()
    router = make(deadline_s=10, clock=clock)

    def call(route: str) -> str:
        clock.now += 4
        if route == "a":
            raise ProviderError(503)
        return route

    assert router.run(router.decide(request()), call)[0] == "b"


def test_a_backoff_never_crosses_the_deadline() -> None:
    clock = FakeClock()
    router = make(deadline_s=3, retry=RetryPolicy(max_attempts=3), clock=clock, sleep=clock.sleep)
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        if route == "a":
            raise ProviderError(429, retry_after=5)
        return route

    answer, decision = router.run(router.decide(request()), call)
    assert (answer, calls, clock.sleeps) == ("b", ["a", "b"], [])  # falls back instead of waiting
    assert decision.attempts[0].backoff_s is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"deadline_s": 0}, "deadline_s"),
        ({"attempt_timeout_s": -1}, "attempt_timeout_s"),
        ({"first_token_timeout_s": float("nan")}, "first_token_timeout_s"),
        ({"idle_timeout_s": "5"}, "idle_timeout_s"),
        ({"stream_hold_back": -1}, "stream_hold_back"),
        ({"retry": 3}, "retry"),
        ({"circuit_breaker": object()}, "circuit_breaker"),
    ],
)
def test_bad_time_settings_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=field):
        make(**kwargs)


# -- async: time limits cancel the running attempt -------------------------------------------


class Hanging:
    """Async calls that never answer for the routes given, recording their cancellation."""

    def __init__(self, *hanging: str) -> None:
        self.hanging = set(hanging)
        self.calls: list[str] = []
        self.cancelled: list[str] = []

    async def __call__(self, route: str) -> str:
        self.calls.append(route)
        if route in self.hanging:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(route)
                raise
        return f"answer from {route}"


def test_attempt_timeout_cancels_the_attempt_and_falls_back() -> None:
    router = make(attempt_timeout_s=0.02)
    call = Hanging("a")
    answer, decision = asyncio.run(router.arun(router.decide(request()), call))
    assert answer == "answer from b"
    assert call.cancelled == ["a"]
    first = decision.attempts[0]
    assert (first.error, first.error_kind, first.billing) == (
        "AttemptTimeoutError",
        "timeout",
        "unknown",
    )


def test_async_deadline_is_shared_and_raises_clearly() -> None:
    router = make(deadline_s=0.03, attempt_timeout_s=10)
    call = Hanging("a", "b", "c")
    with pytest.raises(DeadlineExceededError) as info:
        asyncio.run(router.arun(router.decide(request()), call))
    assert call.calls == ["a"]  # the first attempt's timeout was the remaining budget
    assert call.cancelled == ["a"]
    [error] = info.value.errors
    assert isinstance(error, AttemptTimeoutError) and error.phase == "deadline"
    assert error.timeout_s <= 0.03


def test_a_timeout_the_attempt_raises_itself_is_not_mistaken_for_ours() -> None:
    router = make(("a", "b"), attempt_timeout_s=10)

    async def call(route: str) -> str:
        if route == "a":
            raise TimeoutError("the provider's own read timeout")
        return route

    answer, decision = asyncio.run(router.arun(router.decide(request()), call))
    assert answer == "b"
    assert decision.attempts[0].error == "TimeoutError"


# -- context window and content filter -------------------------------------------------------


def windows(**sizes: int | None) -> dict[str, ModelCapabilities]:
    return {name: ModelCapabilities(max_input_tokens=size) for name, size in sizes.items()}


def test_context_overflow_goes_only_to_larger_or_unknown_windows() -> None:
    router = Router(
        ["a", "small", "same", "unknown", "big"],
        selector=lambda r: None,
        capabilities=windows(a=8000, small=4000, same=8000, unknown=None, big=32000),
        retry=RetryPolicy(max_attempts=3, retry_on=frozenset({"context_window"})),  # type: ignore[arg-type]
    )
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        if route in ("a", "unknown"):
            raise ContextOverflowError("maximum context length exceeded")
        return route

    answer, decision = router.run(router.decide(request()), call)
    assert answer == "big"
    assert calls == ["a", "unknown", "big"]  # never retried, never a smaller window
    assert decision.skipped == ("small: context_window", "same: context_window")


def test_context_overflow_with_no_larger_model_fails() -> None:
    router = Router(["a", "b"], selector=lambda r: None, capabilities=windows(a=8000, b=8000))

    def call(route: str) -> str:
        raise ContextOverflowError("too long")

    with pytest.raises(AllModelsFailedError, match="b: context_window"):
        router.run(router.decide(request()), call)


@pytest.mark.parametrize("opt_in", [False, True])
def test_content_filter_falls_back_only_when_configured(opt_in: bool) -> None:
    on = ["rate_limit", "content_filter"] if opt_in else None
    router = make(("a", "b"), fallback_policy=FallbackPolicy.build(on))
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        if route == "a":
            raise ModelRefusalError("flagged")
        return route

    if opt_in:
        assert router.run(router.decide(request()), call)[0] == "b"
    else:
        with pytest.raises(ModelRefusalError):
            router.run(router.decide(request()), call)
        assert calls == ["a"]
