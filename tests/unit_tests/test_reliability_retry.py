"""Retries on the same model: Retry-After parsing, backoff bounds, what is retried and how often."""

from __future__ import annotations

import asyncio
import email.utils
from datetime import datetime, timezone
from typing import Any

import pytest

from routing_chat_model import RouteConfigError, Router, RoutingRequest, Turn
from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import AllModelsFailedError
from routing_chat_model.policy import ErrorKind, RetryPolicy, retry_after_of


class Headers(dict[str, str]):
    """Case-insensitive enough for the tests (httpx.Headers lower-cases names too)."""


class Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code = status
        self.headers = Headers({k.lower(): v for k, v in headers.items()})


class ProviderError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.response = Response(status, headers or {})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def request() -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", "hello")])


def router(clock: FakeClock, **kw: Any) -> Router:
    return Router(
        ["a", "b"],
        selector=lambda r: None,
        clock=clock,
        sleep=clock.sleep,
        async_sleep=clock.asleep,
        **kw,
    )


class Script:
    """A call that raises the scripted errors per route, in order, then answers."""

    def __init__(self, **errors: list[BaseException]) -> None:
        self.errors = {k: list(v) for k, v in errors.items()}
        self.calls: list[str] = []

    def __call__(self, route: str) -> str:
        self.calls.append(route)
        queue = self.errors.get(route, [])
        if queue:
            raise queue.pop(0)
        return f"answer from {route}"


# -- Retry-After ------------------------------------------------------------------------------

NOW = 1_700_000_000.0


def http_date(offset: float) -> str:
    return email.utils.format_datetime(
        datetime.fromtimestamp(NOW + offset, timezone.utc), usegmt=True
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": http_date(10)}, 10.0),
        ({"Retry-After": http_date(-60)}, 0.0),  # a date in the past: retry now
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "   "}, None),
        ({"Retry-After": "9999"}, 9999.0),  # parsed as sent; the policy caps the wait
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "junk", "Retry-After": "2"}, 2.0),
        ({}, None),
    ],
)
def test_retry_after_header_variants(headers: dict[str, str], expected: float | None) -> None:
    exc = ProviderError(429, headers)
    assert retry_after_of(exc, now=lambda: NOW) == expected


def test_retry_after_attribute_and_wrapped_cause() -> None:
    exc = ProviderError(429)
    exc.retry_after = 4  # type: ignore[attr-defined]
    assert retry_after_of(exc) == 4.0
    wrapper = RuntimeError("wrapped")
    wrapper.__cause__ = ProviderError(429, {"retry-after": "3"})
    assert retry_after_of(wrapper) == 3.0
    assert retry_after_of(ValueError("no response")) is None


def test_delay_is_capped_bounded_and_never_negative() -> None:
    policy = RetryPolicy(max_attempts=5, base_backoff_s=1.0, max_backoff_s=4.0, random=lambda: 1.0)
    assert policy.delay(1, 9999.0) == policy.retry_after_cap_s  # Retry-After wins, capped
    assert policy.delay(1, 0.0) == 0.0
    assert [policy.delay(n, None) for n in (1, 2, 3, 4, 50)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert RetryPolicy(random=lambda: -3.0).delay(1, None) == 0.0  # a bad jitter source
    assert RetryPolicy(random=lambda: 0.25, base_backoff_s=2).delay(1, None) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"base_backoff_s": -1}, "base_backoff_s"),
        ({"max_backoff_s": float("inf")}, "max_backoff_s"),
        ({"retry_after_cap_s": float("nan")}, "retry_after_cap_s"),
        ({"retry_on": ["rate_limit", "sometimes"]}, "retry_on"),
    ],
)
def test_bad_retry_settings_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=field):
        RetryPolicy(**kwargs)


def test_retry_setting_forms() -> None:
    assert RetryPolicy.build(None) is None
    assert RetryPolicy.build(3) == RetryPolicy(max_attempts=3)
    assert RetryPolicy.build({"max_attempts": 2, "retry_on": ["timeout"]}) == RetryPolicy(
        max_attempts=2, retry_on=frozenset({ErrorKind.TIMEOUT})
    )
    with pytest.raises(RouteConfigError, match="unknown key"):
        RetryPolicy.build({"attempts": 2})
    with pytest.raises(RouteConfigError, match="retry must be"):
        RetryPolicy.build("twice")


# -- the loop ---------------------------------------------------------------------------------


def test_default_is_no_retry_fallback_only() -> None:
    clock = FakeClock()
    r = router(clock)
    call = Script(a=[ProviderError(429, {"retry-after": "2"})])
    answer, decision = r.run(r.decide(request()), call)
    assert answer == "answer from b"
    assert call.calls == ["a", "b"]
    assert clock.sleeps == []
    failed = decision.attempts[0]
    assert (failed.route, failed.error_kind, failed.retry_after_s) == ("a", "rate_limit", 2.0)


def test_rate_limit_is_retried_after_retry_after_then_answers() -> None:
    clock = FakeClock()
    r = router(clock, retry=RetryPolicy(max_attempts=3))
    call = Script(a=[ProviderError(429, {"retry-after": "2"}), ProviderError(503)])
    answer, decision = r.run(r.decide(request()), call)
    assert answer == "answer from a"
    assert call.calls == ["a", "a", "a"]
    assert clock.sleeps[0] == 2.0  # Retry-After wins over the backoff
    assert 0 <= clock.sleeps[1] <= 1.0  # full jitter within base_backoff_s * 2
    assert [a.retry for a in decision.attempts] == [0, 1, 2]
    assert decision.attempts[0].backoff_s == 2.0
    assert decision.route == "a"


def test_retries_stop_at_max_attempts_then_fall_back() -> None:
    clock = FakeClock()
    r = router(clock, retry=RetryPolicy(max_attempts=2, random=lambda: 0.0))
    call = Script(a=[ProviderError(500)] * 5)
    answer, _ = r.run(r.decide(request()), call)
    assert answer == "answer from b"
    assert call.calls == ["a", "a", "b"]  # never more calls than configured


@pytest.mark.parametrize("error", [TimeoutError("read timeout"), ProviderError(400)])
def test_timeouts_and_client_errors_are_not_retried_on_the_same_model(error: Exception) -> None:
    clock = FakeClock()
    r = router(clock, retry=RetryPolicy(max_attempts=3))
    call = Script(a=[error] * 3)
    if isinstance(error, TimeoutError):
        _, decision = r.run(r.decide(request()), call)
        assert call.calls == ["a", "b"]
        assert decision.attempts[0].billing == "unknown"  # may have been billed
    else:
        with pytest.raises(ProviderError):
            r.run(r.decide(request()), call)
        assert call.calls == ["a"]


def test_a_bug_is_never_retried() -> None:
    r = router(FakeClock(), retry=RetryPolicy(max_attempts=3, retry_on=frozenset(ErrorKind)))
    call = Script(a=[TypeError("bug")] * 3)
    with pytest.raises(TypeError):
        r.run(r.decide(request()), call)
    assert call.calls == ["a"]


def test_async_retries_use_the_async_sleep() -> None:
    clock = FakeClock()
    r = router(clock, retry=RetryPolicy(max_attempts=2, random=lambda: 0.5))
    script = Script(a=[ProviderError(502)])

    async def call(route: str) -> str:
        return script(route)

    answer, decision = asyncio.run(r.arun(r.decide(request()), call))
    assert answer == "answer from a"
    assert clock.sleeps == [0.25]
    assert len(decision.attempts) == 2


def test_all_failed_after_retries_lists_every_attempt() -> None:
    r = router(FakeClock(), retry=RetryPolicy(max_attempts=2, random=lambda: 0.0))
    call = Script(a=[ProviderError(503)] * 2, b=[ProviderError(503)] * 2)
    with pytest.raises(AllModelsFailedError) as info:
        r.run(r.decide(request()), call)
    assert info.value.routes == ("a", "a", "b", "b")
    assert len(info.value.exceptions) == 4


def test_attempt_round_trips_through_dicts() -> None:
    attempt = Attempt("a", "RateLimitError", "rate_limit", 1.5, 1, 2.0, 2.0, None)
    assert Attempt.from_dict(attempt.to_dict()) == attempt
    decision = RoutingDecision(
        route="b", selected="a", selector="x", reason="r", attempts=(attempt,), skipped=("c: x",)
    )
    assert RoutingDecision.from_dict(decision.to_dict()) == decision
    old = {"route": "a", "error": None}  # a decision dict from before these keys existed
    assert Attempt.from_dict(old) == Attempt("a")
