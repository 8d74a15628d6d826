"""Circuit breaker: opens, skips, probes, closes; shared, thread-safe, never widens the plan."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from routing_chat_model import RouteConfigError, Router, RoutingRequest, Turn
from routing_chat_model.policy import CircuitBreaker, ErrorKind, Restriction


class ProviderError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


RATE = ErrorKind.RATE_LIMIT
E503 = ProviderError(503)


def fail(breaker: CircuitBreaker, model: str, n: int = 1) -> None:
    for _ in range(n):
        assert breaker.allow(model)
        breaker.failure(model, ErrorKind.SERVER_ERROR, E503)


def test_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    changes: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker(
        failure_threshold=3,
        cooldown_s=10,
        clock=clock,
        on_state_change=lambda *c: changes.append(c),
    )
    fail(breaker, "a", 2)
    assert breaker.allow("a")  # still closed below the threshold
    breaker.failure("a", ErrorKind.SERVER_ERROR, E503)
    assert not breaker.allow("a")
    assert breaker.state()["a"].state == "open"
    clock.now = 9.9
    assert not breaker.allow("a")
    clock.now = 10.0
    assert breaker.allow("a")  # the one probe
    assert not breaker.allow("a")  # others wait while it runs
    breaker.success("a")
    assert breaker.state()["a"].state == "closed"
    assert breaker.allow("a")
    assert changes == [
        ("a", "closed", "open"),
        ("a", "open", "half_open"),
        ("a", "half_open", "closed"),
    ]


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    fail(breaker, "a")
    breaker.success("a")
    fail(breaker, "a")
    assert breaker.allow("a")


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    fail(breaker, "a")
    clock.now = 10
    assert breaker.allow("a")
    breaker.failure("a", ErrorKind.SERVER_ERROR, E503)
    clock.now = 19.9
    assert not breaker.allow("a")
    clock.now = 20
    assert breaker.allow("a")
    assert breaker.state()["a"].times_opened == 2


def test_failing_again_while_open_extends_never_shortens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    fail(breaker, "a")  # open until 10
    clock.now = 5
    breaker.failure("a", ErrorKind.SERVER_ERROR, E503)  # a request started before it opened
    assert breaker.state()["a"].cooling_for_s == 10  # until 15 now
    breaker.failure("a", RATE, E503, retry_after=1)  # a shorter hint does not shorten it
    assert breaker.state()["a"].cooling_for_s == 10


def test_cooldown_zero_is_honoured() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=0, clock=Clock())
    fail(breaker, "a")
    assert breaker.allow("a")  # probes at once rather than falling back to a default cooldown


def test_failure_rate_needs_min_requests() -> None:
    breaker = CircuitBreaker(
        failure_threshold=None, failure_rate=0.5, min_requests=4, clock=Clock()
    )
    breaker.success("a")
    fail(breaker, "a", 2)
    assert breaker.allow("a")  # 2 of 3: not enough requests yet
    breaker.success("a")
    fail(breaker, "a")  # 3 of 5 failed
    assert not breaker.allow("a")


def test_retry_after_cools_the_model_that_long_below_the_threshold() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, cooldown_s=30, max_cooldown_s=60, clock=clock)
    breaker.failure("a", RATE, ProviderError(429), retry_after=2.0)
    assert breaker.state()["a"].cooling_for_s == 2.0
    clock.now = 2
    assert breaker.allow("a")
    breaker.failure("b", RATE, ProviderError(429), retry_after=9999)
    assert breaker.state()["b"].cooling_for_s == 60  # capped


def test_client_errors_do_not_count_but_bad_keys_and_unknown_models_do() -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=Clock())
    breaker.failure("a", ErrorKind.CLIENT_ERROR, ProviderError(400))
    assert breaker.allow("a")
    breaker.failure("a", ErrorKind.CLIENT_ERROR, ProviderError(401))
    assert not breaker.allow("a")
    breaker.failure("b", ErrorKind.CLIENT_ERROR, ProviderError(404))
    assert not breaker.allow("b")


def test_a_released_probe_lets_the_next_request_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=clock)
    fail(breaker, "a")
    clock.now = 5
    assert breaker.allow("a")
    breaker.release("a")  # e.g. the probing call was cancelled
    assert breaker.allow("a")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": None}, "failure_rate"),
        ({"failure_rate": 1.5}, "failure_rate"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"min_requests": 0}, "min_requests"),
        ({"min_requests": 30, "window": 20}, "window"),
        ({"trip_on": ["flaky"]}, "trip_on"),
    ],
)
def test_bad_breaker_settings_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=field):
        CircuitBreaker(**kwargs)


def test_concurrent_failures_open_the_breaker_exactly_once() -> None:
    opened: list[str] = []
    breaker = CircuitBreaker(
        failure_threshold=5,
        on_state_change=lambda m, old, new: opened.append(m) if new == "open" else None,
    )
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            breaker.failure("a", ErrorKind.SERVER_ERROR, E503)
            breaker.state()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert opened == ["a"]
    assert breaker.state()["a"].consecutive_failures == 200


# -- in the router ----------------------------------------------------------------------------


def request() -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", "hello")])


def make(breaker: CircuitBreaker, models: Sequence[str] = ("a", "b", "c"), **kw: Any) -> Router:
    return Router(list(models), selector=lambda r: None, circuit_breaker=breaker, **kw)


def test_router_skips_a_cooling_model_and_says_so() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    router = make(breaker)
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        if route == "a":
            raise ProviderError(503)
        return route

    router.run(router.decide(request()), call)
    assert calls == ["a", "b"]
    calls.clear()
    answer, decision = router.run(router.decide(request()), call)
    assert (answer, calls) == ("b", ["b"])  # "a" is not called while it cools
    assert decision.skipped == ("a: cooling",)
    assert decision.to_dict()["skipped"] == ["a: cooling"]
    assert router.health()["a"].state == "open"
    clock.now = 30
    calls.clear()
    router.run(router.decide(request()), call)
    assert calls == ["a", "b"]  # probed after the cooldown (and failed again)


def test_when_every_planned_model_cools_the_last_is_tried_anyway() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=Clock())
    for model in ("a", "b"):
        breaker.failure(model, ErrorKind.SERVER_ERROR, E503)
    router = make(breaker, models=("a", "b"))
    answer, decision = router.run(router.decide(request()), lambda route: route)
    assert answer == "b"
    assert decision.skipped == ("a: cooling",)
    assert router.health()["b"].state == "closed"  # its answer closed it


class OnlyA:
    name = "compliance"

    def restrict(self, request: RoutingRequest, candidates: Sequence[str]) -> Restriction:
        return Restriction(("a",), "local only")

    def observe(self, decision: object) -> None:
        pass


def test_the_breaker_never_adds_a_model_the_gates_excluded() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=Clock())
    breaker.failure("a", ErrorKind.SERVER_ERROR, E503)
    router = make(breaker, gates=[OnlyA()])
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        return route

    _, decision = router.run(router.decide(request()), call)
    assert calls == ["a"]  # the only allowed model, cooling or not; never "b" or "c"
    assert decision.plan == ("a",)


def test_a_shared_breaker_spans_routers() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=Clock())
    first, second = make(breaker), make(breaker)

    def call(route: str) -> str:
        if route == "a":
            raise ProviderError(503)
        return route

    first.run(first.decide(request()), call)
    _, decision = second.run(second.decide(request()), call)
    assert decision.skipped == ("a: cooling",)


def test_health_is_empty_without_a_breaker() -> None:
    assert Router(["a"], selector=lambda r: None).health() == {}
