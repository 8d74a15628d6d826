"""LatencyTarget gate: learning per-model latency from decisions, excluding slow models."""

from __future__ import annotations

from typing import Any

import pytest

from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.gate import Gate
from routing_chat_model.policy.latency import LatencyTarget
from routing_chat_model.request import RoutingRequest, Turn
from routing_chat_model.router import Router


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


REQUEST = RoutingRequest.from_turns([Turn("user", "hello")])


def answered(route: str, ms: float, *failed: tuple[str, str, float]) -> RoutingDecision:
    """A completed decision: `failed` attempts (route, error kind, ms) then `route` answering."""
    attempts = [Attempt(r, error="Err", error_kind=kind, latency_ms=t) for r, kind, t in failed]
    attempts.append(Attempt(route, latency_ms=ms))
    return RoutingDecision(
        route=route, selected=route, selector="test", reason="", attempts=tuple(attempts)
    )


def feed(gate: LatencyTarget, route: str, values: list[float]) -> None:
    for ms in values:
        gate.observe(answered(route, ms))


def test_a_slow_model_is_excluded_once_it_has_enough_observations() -> None:
    gate = LatencyTarget(500, min_samples=5, clock=Clock())
    assert isinstance(gate, Gate)
    feed(gate, "strong", [900.0] * 4)
    assert gate.restrict(REQUEST, ["fast", "strong"]) is None  # 4 < min_samples
    feed(gate, "strong", [900.0])
    feed(gate, "fast", [100.0] * 10)
    restriction = gate.restrict(REQUEST, ["fast", "strong"])
    assert restriction is not None
    assert restriction.allowed == ("fast",)
    assert restriction.reason == "p95 above 500 ms: strong (900 ms)"


@pytest.mark.parametrize(
    ("statistic", "values", "excluded"),
    [
        ("p95", [100.0] * 97 + [5000.0] * 3, False),  # 3% slow calls: p95 is still fast
        ("p95", [100.0] * 90 + [5000.0] * 10, True),
        ("p50", [100.0] * 90 + [5000.0] * 10, False),
        ("ewma", [100.0] * 90 + [5000.0] * 10, True),  # recent observations weigh most
        ("ewma", [5000.0] * 10 + [100.0] * 90, False),
    ],
)
def test_each_statistic_judges_the_tail_its_own_way(
    statistic: Any, values: list[float], excluded: bool
) -> None:
    gate = LatencyTarget(500, statistic=statistic, alpha=0.5, min_samples=20, clock=Clock())
    feed(gate, "fast", values)
    assert (gate.restrict(REQUEST, ["fast", "strong"]) is not None) is excluded


def test_never_excludes_every_candidate_keeps_the_fastest() -> None:
    gate = LatencyTarget(100, min_samples=3, clock=Clock())
    feed(gate, "fast", [300.0] * 3)
    feed(gate, "strong", [900.0] * 3)
    restriction = gate.restrict(REQUEST, ["fast", "strong"])
    assert restriction is not None and restriction.allowed == ("fast",)
    assert "kept the fastest, fast (300 ms)" in restriction.reason
    # a model not yet measured stays allowed next to the slow ones
    restriction = gate.restrict(REQUEST, ["fast", "strong", "new"])
    assert restriction is not None and restriction.allowed == ("new",)


def test_stats_expose_samples_moving_average_and_percentiles() -> None:
    gate = LatencyTarget(500, min_samples=3, window=4, alpha=0.5, clock=Clock())
    feed(gate, "strong", [100.0, 200.0, 300.0, 400.0, 1000.0])  # the first leaves the window
    stats = gate.stats()["strong"]
    assert stats.samples == 4
    assert stats.p50_ms == pytest.approx(350.0)
    assert stats.p95_ms == pytest.approx(910.0)
    assert stats.ewma_ms == pytest.approx(((((100 + 200) / 2 + 300) / 2 + 400) / 2 + 1000) / 2)
    assert stats.excluded is True
    assert stats.to_dict()["route"] == "strong"


def test_only_the_answer_and_timeouts_are_learned() -> None:
    gate = LatencyTarget(500, min_samples=1, clock=Clock())
    gate.observe(
        answered("fast", 80.0, ("strong", "timeout", 30_000.0), ("mid", "server_error", 5.0))
    )
    stats = gate.stats()
    assert stats["fast"].samples == 1 and stats["strong"].p50_ms == 30_000.0
    assert "mid" not in stats  # a fast 503 says nothing about the model's speed
    quiet = LatencyTarget(500, min_samples=1, count_timeouts=False, clock=Clock())
    quiet.observe(answered("fast", 80.0, ("strong", "timeout", 30_000.0)))
    assert set(quiet.stats()) == {"fast"}
    no_latency = RoutingDecision(
        route="fast", selected="fast", selector="t", reason="", attempts=(Attempt("fast"),)
    )
    quiet.observe(no_latency)
    assert quiet.stats()["fast"].samples == 1


def test_an_excluded_model_is_retried_once_its_observations_age_out() -> None:
    clock = Clock()
    gate = LatencyTarget(500, min_samples=3, max_age=60, clock=clock)
    feed(gate, "strong", [900.0] * 3)
    assert gate.restrict(REQUEST, ["fast", "strong"]) is not None
    clock.now += 61
    assert gate.restrict(REQUEST, ["fast", "strong"]) is None
    assert gate.stats()["strong"].samples == 0 and gate.stats()["strong"].ewma_ms is None
    feed(gate, "strong", [900.0] * 3)
    gate.reset("strong")
    assert gate.restrict(REQUEST, ["fast", "strong"]) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_ms": 0}, "max_ms"),
        ({"max_ms": float("nan")}, "max_ms"),
        ({"max_ms": 100, "statistic": "p99"}, "statistic"),
        ({"max_ms": 100, "min_samples": 0}, "min_samples"),
        ({"max_ms": 100, "window": 10, "min_samples": 20}, "min_samples"),
        ({"max_ms": 100, "alpha": 0}, "alpha"),
        ({"max_ms": 100, "max_age": -1}, "max_age"),
    ],
)
def test_bad_settings_are_rejected_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=field):
        LatencyTarget(**kwargs)


def test_through_the_router_the_slow_model_is_skipped_and_calls_are_learned() -> None:
    gate = LatencyTarget(500, min_samples=3, clock=Clock())
    router = Router(["strong", "fast"], selector=lambda r: "strong", gates=[gate])
    feed(gate, "strong", [900.0] * 3)
    decision = router.decide(REQUEST)
    assert decision.route == "fast" and decision.plan == ("fast",)
    assert decision.restrictions == ("latency: p95 above 500 ms: strong (900 ms)",)
    _, done = router.run(decision, lambda route: "ok")
    router.with_usage(done, None)
    assert gate.stats()["fast"].samples == 1


def test_through_both_adapters() -> None:
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    from routing_chat_model.langchain import RoutingChatModel as LangChainRouter
    from routing_chat_model.llama_index import RoutingChatModel as LlamaIndexRouter
    from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM

    gate = LatencyTarget(500, min_samples=3, clock=Clock())
    feed(gate, "strong", [900.0] * 3)
    lc = LangChainRouter(
        models={"strong": ScriptedChatModel(model="s"), "fast": ScriptedChatModel(model="f")},
        selector=lambda r: "strong",
        gates=[gate],
    )
    routing = lc.invoke("hi").response_metadata["routing"]
    assert routing["route"] == "fast" and routing["restrictions"][0].startswith("latency:")
    li = LlamaIndexRouter(
        models={"strong": ScriptedLLM(model="s"), "fast": ScriptedLLM(model="f")},
        selector=lambda r: "strong",
        gates=[gate],
    )
    message = ChatMessage(role=MessageRole.USER, content="hi")
    assert li.chat([message]).additional_kwargs["routing"]["route"] == "fast"
    assert gate.stats()["fast"].samples == 2  # both answers were observed
