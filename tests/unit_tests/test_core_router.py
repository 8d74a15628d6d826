"""Router: candidates, decisions, fallback loop (sync, async, streams) and request building."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from routing_chat_model import (
    AllModelsFailedError,
    ModelCapabilities,
    NoCandidateError,
    RouteConfigError,
    Router,
    RoutingError,
    RoutingInputError,
    RoutingRequest,
    Rule,
    RuleSelector,
    StreamInterruptedError,
    Turn,
    Usage,
)

MODELS = ["fast", "mid", "strong"]


def req(text: str = "hello", **kw: object) -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", text)], **kw)  # type: ignore[arg-type]


def rules_router(**kw: object) -> Router:
    return Router(MODELS, selector=RuleSelector([Rule(route="strong", keywords=["prove"])]), **kw)  # type: ignore[arg-type]


class Unavailable(Exception):
    status_code = 503


class BadRequest(Exception):
    status_code = 400


# -- building --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": []}, "models is empty"),
        ({"models": ["a", "a"]}, "duplicate"),
        ({"default": "nope"}, "default='nope' is not one of the models"),
        ({"selector": RuleSelector([Rule(route="ghost", keywords=["x"])])}, "ghost"),
        ({"fallbacks": ["fast", "ghost"]}, "unknown model"),
        ({"fallbacks": ["fast", "fast"]}, "twice"),
        ({"fallbacks": {"fast": ["fast"]}}, "itself"),
        ({"fallbacks": {"ghost": ["fast"]}}, "not models"),
        ({"capabilities": {"ghost": ModelCapabilities()}}, "unknown model"),
        ({"selector": 42}, "expected a Selector"),
    ],
)
def test_bad_settings_fail_when_built(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"models": MODELS, "selector": lambda r: None, **kwargs}
    models = settings.pop("models")
    with pytest.raises(RouteConfigError, match=message):
        Router(models, **settings)  # type: ignore[arg-type]


# -- deciding --------------------------------------------------------------------------------


def test_decision_names_route_selector_reason_plan_and_time() -> None:
    decision = rules_router().decide(req("prove it"))
    assert decision.route == "strong"
    assert decision.selector == "rules"
    assert decision.reason == "rule[0]"
    assert decision.plan == ("strong", "fast", "mid")
    assert decision.latency_ms >= 0
    assert not decision.abstained
    keys = decision.to_dict().keys()
    assert {"route", "selector", "scores", "reason", "attempts", "latency_ms"} <= keys


def test_abstaining_selector_uses_default_and_says_so() -> None:
    decision = rules_router(default="mid").decide(req("hello"))
    assert decision.route == "mid"
    assert decision.abstained
    assert decision.reason == "no rule matched"


def test_fallback_order_per_route() -> None:
    router = rules_router(fallbacks={"strong": ["mid"], "fast": ["strong", "mid"]})
    assert router.decide(req("prove")).plan == ("strong", "mid")
    assert router.decide(req("hi")).plan == ("fast", "strong", "mid")


def test_candidates_follow_capabilities() -> None:
    router = rules_router(
        capabilities={
            "strong": ModelCapabilities(tool_calling=False),
            "fast": ModelCapabilities(max_input_tokens=10),
        }
    )
    decision = router.decide(req("prove " * 30, has_tools=True))
    assert decision.route == "mid"  # strong cannot call tools, fast's window is too small
    assert decision.candidates == ("mid",)
    assert decision.abstained


def test_no_candidate_is_a_clear_error() -> None:
    caps = {m: ModelCapabilities(image_inputs=False) for m in MODELS}
    with pytest.raises(NoCandidateError, match="image inputs"):
        rules_router(capabilities=caps).decide(req("look", has_images=True))


def test_override_and_tool_round_bypass_the_selector() -> None:
    router = rules_router()
    assert router.decide(req("prove", forced_route="fast")).selector == "override"
    with pytest.raises(RoutingInputError, match="not a model"):
        router.decide(req("x", forced_route="ghost"))
    turns = [
        Turn("user", "prove it with the calculator"),
        Turn("assistant", "", route="mid", tool_calls=1),
        Turn("tool", "42"),
    ]
    decision = router.decide(RoutingRequest.from_turns(turns))
    assert (decision.route, decision.selector) == ("mid", "tool_round")


def test_callable_selector_returning_unknown_route_is_an_error() -> None:
    with pytest.raises(RoutingError, match="not a model"):
        Router(MODELS, selector=lambda r: "ghost").decide(req())


async def test_adecide_matches_decide() -> None:
    router = rules_router()
    a = await router.adecide(req("prove"))
    b = router.decide(req("prove"))
    assert (a.route, a.plan, a.reason) == (b.route, b.plan, b.reason)


# -- request ---------------------------------------------------------------------------------


def test_request_routes_on_last_user_message_by_default() -> None:
    turns = [
        Turn("system", "be nice"),
        Turn("user", "first"),
        Turn("assistant", "ok"),
        Turn("user", "second"),
    ]
    assert RoutingRequest.from_turns(turns).text == "second"
    assert RoutingRequest.from_turns(turns, route_on=2).text == "ok\nsecond"
    assert RoutingRequest.from_turns(turns, route_on="conversation").text == "first\nok\nsecond"
    assert RoutingRequest.from_turns([Turn("system", "only")]).text == ""


def test_empty_message_list_is_rejected() -> None:
    with pytest.raises(RoutingInputError, match="empty message list"):
        RoutingRequest.from_turns([])


# -- the attempt loop ------------------------------------------------------------------------


def test_provider_failures_fall_back_in_plan_order() -> None:
    router = rules_router()
    decision = router.decide(req("prove"))
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        if route == "strong":
            raise Unavailable("down")
        if route == "fast":
            raise httpx.ConnectError("refused")
        return f"answer from {route}"

    result, final = router.run(decision, call)
    assert result == "answer from mid"
    assert calls == ["strong", "fast", "mid"]
    assert final.route == "mid"
    assert final.selected == "strong"
    assert [(a.route, a.error, a.error_kind) for a in final.attempts] == [
        ("strong", "Unavailable", "server_error"),
        ("fast", "ConnectError", "connection"),
        ("mid", None, None),
    ]


@pytest.mark.parametrize("error", [BadRequest("bad"), TypeError("bug"), KeyError("bug")])
def test_client_errors_and_bugs_propagate_at_once(error: Exception) -> None:
    router = rules_router()
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        raise error

    with pytest.raises(type(error)):
        router.run(router.decide(req("prove")), call)
    assert calls == ["strong"]


def test_all_failing_raises_one_group_with_every_attempt() -> None:
    router = rules_router()

    def call(route: str) -> str:
        raise Unavailable(route)

    with pytest.raises(AllModelsFailedError) as info:
        router.run(router.decide(req("prove")), call)
    assert info.value.routes == ("strong", "fast", "mid")
    assert [str(e) for e in info.value.exceptions] == ["strong", "fast", "mid"]
    assert "strong: Unavailable (server_error)" in str(info.value)


async def test_async_loop_falls_back() -> None:
    router = rules_router()

    async def call(route: str) -> str:
        if route == "strong":
            raise TimeoutError
        return route

    result, final = await router.arun(router.decide(req("prove")), call)
    assert result == "fast"
    assert final.attempts[0].error_kind == "timeout"


def test_stream_falls_back_only_before_first_chunk() -> None:
    router = rules_router()
    opened: list[str] = []

    def open_stream(route: str) -> Iterator[str]:
        opened.append(route)
        if route == "strong":
            raise Unavailable("429 on open")
        yield f"{route}-1"
        yield f"{route}-2"

    chunks = list(router.run_stream(router.decide(req("prove")), open_stream))
    assert [c for c, _ in chunks] == ["fast-1", "fast-2"]
    assert opened == ["strong", "fast"]
    assert chunks[0][1].route == "fast"


def test_stream_failure_after_first_chunk_is_not_spliced() -> None:
    router = rules_router()
    opened: list[str] = []

    def open_stream(route: str) -> Iterator[str]:
        opened.append(route)
        yield f"{route}-1"
        raise Unavailable("cut")

    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk, _ in router.run_stream(router.decide(req("prove")), open_stream):
            seen.append(chunk)
    assert seen == ["strong-1"]
    assert opened == ["strong"]
    assert (info.value.route, info.value.chunks_emitted) == ("strong", 1)


async def test_async_stream_falls_back_and_closes_failed_stream() -> None:
    router = rules_router()
    closed: list[str] = []

    async def open_stream(route: str) -> AsyncIterator[str]:
        try:
            if route == "strong":
                raise Unavailable("down")
            yield route
        finally:
            closed.append(route)

    out = [c async for c, _ in router.arun_stream(router.decide(req("prove")), open_stream)]
    assert out == ["fast"]
    assert closed == ["strong", "fast"]


def test_with_usage_prices_the_answer() -> None:
    from routing_chat_model import ModelPrice, Pricing

    router = rules_router(
        pricing=Pricing({"strong": ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0)})
    )
    decision = router.decide(req("prove"))
    priced = router.with_usage(decision, Usage(1_000, 500), model_name="whatever")
    assert priced.cost_usd == pytest.approx(0.002 + 0.004)
    assert (priced.input_tokens, priced.output_tokens) == (1_000, 500)
    unknown = router.with_usage(
        router.decide(req("hi")), Usage(10, 10), model_name="no-such-model-xyz"
    )
    assert unknown.cost_usd is None
