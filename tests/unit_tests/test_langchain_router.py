"""`routing_chat_model.langchain.RoutingChatModel` as LangChain users meet it.

LCEL chains, the three ways the decision reaches users (response metadata, one custom event per
call, run metadata), usage counted once, cost, tools, structured output, route overrides and bad
input. Children are `ScriptedChatModel`s whose answers name the model that wrote them.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from uuid import UUID

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel

from routing_chat_model import (
    NoCandidateError,
    RouteConfigError,
    RoutingInputError,
    Rule,
    RuleSelector,
)
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

DECISION_KEYS = {"route", "selector", "scores", "reason", "attempts", "latency_ms"}
ROUTER_ONLY_KWARGS = {"routing_route", "model", "tool_bind_kwargs", "ls_structured_output_format"}


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Joke(BaseModel):
    setup: str
    punchline: str


def make_router(
    alpha: ScriptedChatModel | None = None, beta: ScriptedChatModel | None = None, **kwargs: Any
) -> RoutingChatModel:
    """alpha answers by default; "prove"/"theorem" go to beta."""
    models = {
        "alpha": alpha or ScriptedChatModel(model="fake-alpha"),
        "beta": beta or ScriptedChatModel(model="fake-beta"),
    }
    kwargs.setdefault("selector", RuleSelector([Rule(route="beta", keywords=["prove", "theorem"])]))
    return RoutingChatModel(models=models, **kwargs)


def child(router: RoutingChatModel, route: str) -> ScriptedChatModel:
    model = router.models[route]
    assert isinstance(model, ScriptedChatModel)
    return model


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    assert chunks, "the stream yielded nothing"
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


class Recorder(BaseCallbackHandler):
    """Records chat-model runs, tokens and custom events as a user's handler sees them."""

    def __init__(self) -> None:
        self.starts: list[tuple[UUID, dict[str, Any]]] = []
        self.events: list[tuple[str, Any, UUID]] = []
        self.tokens: list[str] = []
        self.ends = 0

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, metadata: Any = None, **kw: Any
    ) -> None:
        self.starts.append((run_id, dict(metadata or {})))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data, run_id))

    def on_llm_new_token(self, token: Any, **kw: Any) -> None:
        self.tokens.append(str(token))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.ends += 1


# -- LCEL -------------------------------------------------------------------------------------


def chain_of(router: RoutingChatModel) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    return prompt | router | StrOutputParser()


def test_chain_invoke_routes_each_question_to_its_model() -> None:
    chain = chain_of(make_router())
    assert chain.invoke({"question": "hello"}) == "[fake-alpha] hello"
    assert chain.invoke({"question": "prove it"}) == "[fake-beta] prove it"


async def test_chain_ainvoke_astream_and_abatch() -> None:
    router = make_router()
    chain = chain_of(router)
    assert await chain.ainvoke({"question": "prove it"}) == "[fake-beta] prove it"
    pieces = [piece async for piece in chain.astream({"question": "prove it now"})]
    assert len(pieces) > 1 and "".join(pieces) == "[fake-beta] prove it now"
    out = await chain.abatch([{"question": "hi"}, {"question": "a theorem"}])
    assert out == ["[fake-alpha] hi", "[fake-beta] a theorem"]
    # only astream streamed from the child; ainvoke and abatch made whole calls
    assert [call.stream for call in child(router, "beta").calls] == [False, True, False]


def test_chain_stream_and_batch() -> None:
    router = make_router()
    chain = chain_of(router)
    pieces = list(chain.stream({"question": "prove one two three"}))
    assert len(pieces) > 1 and "".join(pieces) == "[fake-beta] prove one two three"
    assert chain.batch([{"question": "a theorem"}, {"question": "hi"}]) == [
        "[fake-beta] a theorem",
        "[fake-alpha] hi",
    ]


def test_decision_is_in_response_metadata_with_the_fixed_keys() -> None:
    message = make_router().invoke("prove it")
    routing = message.response_metadata["routing"]
    assert set(routing) >= DECISION_KEYS
    assert routing["route"] == "beta" and routing["selector"] == "rules"
    assert routing["reason"] == "rule[0]" and isinstance(routing["scores"], dict)
    assert routing["attempts"] == [
        {
            "route": "beta",
            "error": None,
            "error_kind": None,
            "latency_ms": pytest.approx(0, abs=1e4),
        }
    ]
    assert isinstance(routing["latency_ms"], float) and routing["latency_ms"] >= 0


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_streamed_decision_appears_once_in_the_merged_message(mode: str) -> None:
    router = make_router()
    if mode == "stream":
        chunks = list(router.stream("prove one two three"))
    else:

        async def collect() -> list[AIMessageChunk]:
            return [c async for c in router.astream("prove one two three")]

        chunks = asyncio.run(collect())
    assert len(chunks) > 2
    assert sum("routing" in c.response_metadata for c in chunks) <= 2
    routing = merged(chunks).response_metadata["routing"]
    # chunk metadata merges by concatenating strings: a repeated value would read "betabeta"
    assert routing["route"] == "beta" and routing["selector"] == "rules"
    assert routing["model_name"] == "fake-beta" and routing["input_tokens"] == 4
    assert [a["route"] for a in routing["attempts"]] == ["beta"]
    assert merged(chunks).response_metadata["model_name"] == "fake-beta"


# -- events and run metadata -------------------------------------------------------------------


async def events_of(runnable: Any, value: Any) -> list[dict[str, Any]]:
    return [event async for event in runnable.astream_events(value, version="v2")]


def check_events(events: list[dict[str, Any]], routes: list[str]) -> None:
    """One routing_decision per routed call, on that call's chat-model run, naming its route."""
    starts = {e["run_id"]: e for e in events if e["event"] == "on_chat_model_start"}
    ends = {e["run_id"]: e for e in events if e["event"] == "on_chat_model_end"}
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == ["routing_decision"] * len(routes)
    assert sorted(e["data"]["route"] for e in custom) == sorted(routes)
    assert {e["run_id"] for e in custom} == set(starts) and len(starts) == len(routes)
    for event in custom:
        assert set(event["data"]) >= DECISION_KEYS
        output = ends[event["run_id"]]["data"]["output"]
        assert output.response_metadata["routing"]["route"] == event["data"]["route"]
        metadata = starts[event["run_id"]]["metadata"]
        route = event["data"]["route"]
        assert event["metadata"]["routing_route"] == route
        assert metadata["routing_route"] == route and metadata["routing_selector"] == "rules"
        assert metadata["ls_model_name"] == f"fake-{route}"
        assert metadata["ls_provider"] == "scripted"


async def test_one_event_per_call_on_the_router_directly() -> None:
    check_events(await events_of(make_router(), "prove it"), ["beta"])


async def test_one_event_per_call_without_streaming() -> None:
    router = make_router(disable_streaming=True)
    events = await events_of(router, "prove it")
    check_events(events, ["beta"])
    assert not [e for e in events if e["event"] == "on_chat_model_stream"]


async def test_one_event_per_call_in_a_chain() -> None:
    check_events(await events_of(chain_of(make_router()), {"question": "hello"}), ["alpha"])


async def test_one_event_per_call_in_batch_and_invoke_inside_a_chain() -> None:
    router = make_router()
    batch = RunnableLambda(lambda xs: router.batch(xs), afunc=lambda xs: router.abatch(xs))
    check_events(await events_of(batch, ["hi", "prove it", "ok"]), ["alpha", "beta", "alpha"])
    sync_invoke: RunnableLambda[str, AIMessage] = RunnableLambda(lambda x: router.invoke(x))
    check_events(await events_of(sync_invoke, "a theorem"), ["beta"])


@pytest.mark.parametrize("method", ["invoke", "stream", "batch", "ainvoke", "astream", "abatch"])
def test_a_callback_handler_sees_the_event_under_the_router_run(method: str) -> None:
    router = make_router()
    recorder = Recorder()
    config: Any = {"callbacks": [recorder]}

    async def run_async() -> list[AIMessage]:
        if method == "ainvoke":
            return [await router.ainvoke("prove it", config)]
        if method == "astream":
            return [merged([c async for c in router.astream("prove it", config)])]
        return await router.abatch(["prove it", "hi"], config)

    if method == "invoke":
        outputs: list[AIMessage] = [router.invoke("prove it", config)]
    elif method == "stream":
        outputs = [merged(list(router.stream("prove it", config)))]
    elif method == "batch":
        outputs = list(router.batch(["prove it", "hi"], config))
    else:
        outputs = asyncio.run(run_async())
    assert len(recorder.starts) == len(outputs) == recorder.ends
    assert [name for name, _, _ in recorder.events] == ["routing_decision"] * len(outputs)
    assert {run_id for _, _, run_id in recorder.events} == {run_id for run_id, _ in recorder.starts}
    decisions = sorted((data for _, data, _ in recorder.events), key=lambda d: d["route"])
    answers = sorted((o.response_metadata["routing"] for o in outputs), key=lambda d: d["route"])
    assert decisions == answers
    for _, metadata in recorder.starts:
        assert metadata["routing_route"] in ("alpha", "beta")
        assert metadata["ls_model_name"] == "fake-" + metadata["routing_route"]


def test_no_event_when_turned_off() -> None:
    recorder = Recorder()
    make_router(emit_routing_event=False).invoke("hi", {"callbacks": [recorder]})
    assert recorder.events == [] and len(recorder.starts) == 1


def test_stream_tokens_reach_callbacks_once() -> None:
    recorder = Recorder()
    text = "".join(
        str(c.content) for c in make_router().stream("one two", {"callbacks": [recorder]})
    )
    assert "".join(recorder.tokens) == text == "[fake-alpha] one two"


# -- usage and cost ----------------------------------------------------------------------------


def expected_usage(prompt: str) -> dict[str, int]:
    usage = ScriptedChatModel(model="gpt-4o-mini").invoke(prompt).usage_metadata
    assert usage is not None
    return {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")}


@pytest.mark.parametrize("method", ["invoke", "stream", "ainvoke", "astream"])
def test_usage_is_counted_once(method: str) -> None:
    router = make_router(alpha=ScriptedChatModel(model="gpt-4o-mini", provider="openai"))
    prompt = "count these five words"

    async def run_async() -> AIMessage | AIMessageChunk:
        if method == "ainvoke":
            return await router.ainvoke(prompt)
        return merged([c async for c in router.astream(prompt)])

    with get_usage_metadata_callback() as callback:
        if method == "invoke":
            message: AIMessage | AIMessageChunk = router.invoke(prompt)
        elif method == "stream":
            message = merged(list(router.stream(prompt)))
        else:
            message = asyncio.run(run_async())
    want = expected_usage(prompt)
    assert callback.usage_metadata == {"gpt-4o-mini": want}
    assert message.usage_metadata is not None
    assert {k: v for k, v in message.usage_metadata.items() if k in want} == want
    routing = message.response_metadata["routing"]
    assert (routing["input_tokens"], routing["output_tokens"]) == (
        want["input_tokens"],
        want["output_tokens"],
    )
    # genai-prices: gpt-4o-mini costs $0.15 / $0.60 per million input / output tokens
    cost = (want["input_tokens"] * 0.15 + want["output_tokens"] * 0.60) / 1e6
    assert routing["cost_usd"] == pytest.approx(cost)


@pytest.mark.parametrize("streamed", [False, True])
def test_usage_is_counted_for_a_child_that_reports_no_model_name(streamed: bool) -> None:
    nameless = AIMessage(content="an answer", response_metadata={"model_name": ""})
    router = make_router(alpha=ScriptedChatModel(model="fake-alpha", responses=[nameless]))
    with get_usage_metadata_callback() as callback:
        if streamed:
            message: BaseMessage = merged(list(router.stream("hi there")))
        else:
            message = router.invoke("hi there")
    assert message.response_metadata["model_name"] == "fake-alpha"
    assert callback.usage_metadata["fake-alpha"]["output_tokens"] == 2


def test_cost_from_a_price_override_and_none_when_unknown() -> None:
    prices = {"beta": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}
    router = make_router(prices=prices)
    priced = router.invoke("prove it").response_metadata["routing"]
    assert priced["cost_usd"] == pytest.approx(
        (priced["input_tokens"] * 1.0 + priced["output_tokens"] * 2.0) / 1e6
    )
    unknown = router.invoke("hi").response_metadata["routing"]
    assert unknown["input_tokens"] is not None and unknown["cost_usd"] is None


# -- tools -------------------------------------------------------------------------------------


def test_tools_go_only_to_tool_capable_models() -> None:
    router = make_router(
        alpha=ScriptedChatModel(model="fake-alpha", profile={"tool_calling": False})
    )
    message = router.bind_tools([add]).invoke("please add 2 and 3")
    assert message.tool_calls[0]["name"] == "add" and message.tool_calls[0]["args"] == {
        "a": 2,
        "b": 3,
    }
    assert message.response_metadata["routing"]["route"] == "beta"
    assert message.response_metadata["routing"]["candidates"] == ["beta"]
    assert child(router, "alpha").calls == []
    # without tools the default model answers as before
    assert router.invoke("hi").response_metadata["routing"]["route"] == "alpha"


def test_no_tool_capable_model_is_a_clear_error_before_any_call() -> None:
    no_tools = {"tool_calling": False}
    router = make_router(
        alpha=ScriptedChatModel(model="fake-alpha", profile=no_tools),
        beta=ScriptedChatModel(model="fake-beta", profile=no_tools),
    )
    with pytest.raises(NoCandidateError, match="tool calling") as info:
        router.bind_tools([add]).invoke("please add 2 and 3")
    assert "alpha" in str(info.value) and "beta" in str(info.value)
    assert child(router, "alpha").calls == child(router, "beta").calls == []


def test_images_go_only_to_models_that_take_images() -> None:
    router = make_router(beta=ScriptedChatModel(model="fake-beta", profile={"image_inputs": True}))
    image = {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"}
    message = router.invoke([HumanMessage([{"type": "text", "text": "describe this"}, image])])
    assert message.content == "[fake-beta] describe this"  # the selector's default is alpha
    assert child(router, "alpha").calls == []


def test_capabilities_override_the_profile() -> None:
    router = make_router(capabilities={"alpha": {"tool_calling": False}})
    assert (
        router.bind_tools([add]).invoke("add 1 and 2").response_metadata["routing"]["route"]
        == "beta"
    )


@pytest.mark.parametrize("streamed", [False, True])
def test_tool_results_go_back_to_the_model_that_called_the_tool(streamed: bool) -> None:
    router = make_router()
    tools_router = router.bind_tools([add])
    question = HumanMessage("please add 2 and 3")
    if streamed:
        chunks = cast("list[AIMessageChunk]", list(tools_router.stream([question], model="alpha")))
        whole = merged(chunks)
        call = AIMessage(
            content=whole.content,
            tool_calls=whole.tool_calls,
            response_metadata=whole.response_metadata,
        )
    else:
        call = tools_router.invoke([question], model="alpha")
    assert call.tool_calls and call.response_metadata["routing"]["route"] == "alpha"
    history = [question, call, ToolMessage("5", tool_call_id=call.tool_calls[0]["id"])]
    # the same children behind a selector that always prefers beta
    always_beta = RoutingChatModel(models=router.models, selector=lambda request: "beta")
    answer = always_beta.bind_tools([add]).invoke(history)
    assert answer.content == "Tool said: 5"
    assert answer.response_metadata["routing"]["route"] == "alpha"
    assert answer.response_metadata["routing"]["selector"] == "tool_round"
    assert always_beta.invoke([HumanMessage("hi")]).response_metadata["routing"]["route"] == "beta"


def test_tool_choice_and_bind_kwargs_reach_the_child_in_its_own_format() -> None:
    router = make_router()
    router.bind_tools([add], tool_choice="add", parallel_tool_calls=False).invoke("hello")
    call = child(router, "alpha").calls[-1]
    assert call.kwargs["tool_choice"] == "add" and call.kwargs["parallel_tool_calls"] is False
    assert [t["function"]["name"] for t in call.kwargs["tools"]] == ["add"]
    assert not ROUTER_ONLY_KWARGS & set(call.kwargs)


# -- structured output -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
@pytest.mark.parametrize("use_async", [False, True])
def test_structured_output(method: str, use_async: bool) -> None:
    router = make_router()
    recorder = Recorder()
    structured = router.with_structured_output(Joke, method=method)
    prompt = "prove a joke with setup 'why' and punchline 'because'"
    config: Any = {"callbacks": [recorder]}
    if use_async:
        joke = asyncio.run(structured.ainvoke(prompt, config))
    else:
        joke = structured.invoke(prompt, config)
    assert joke == Joke(setup="why", punchline="because")
    assert len(recorder.starts) == 1
    assert [(name, data["route"]) for name, data, _ in recorder.events] == [
        ("routing_decision", "beta")
    ]
    assert recorder.starts[0][1]["routing_route"] == "beta"
    assert child(router, "alpha").calls == []


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_strict_reaches_the_child(method: str) -> None:
    router = make_router()
    router.with_structured_output(Joke, method=method, strict=True).invoke("'a' 'b'")
    kwargs = child(router, "alpha").calls[-1].kwargs
    spec = (
        kwargs["tools"][0]["function"]
        if method == "function_calling"
        else kwargs["response_format"]["json_schema"]
    )
    assert spec["strict"] is True


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_structured_output_include_raw(method: str) -> None:
    structured = make_router().with_structured_output(Joke, method=method, include_raw=True)
    out = structured.invoke("a joke with setup 'why' and punchline 'because'")
    assert out["parsed"] == Joke(setup="why", punchline="because") and out["parsing_error"] is None
    assert isinstance(out["raw"], AIMessage)
    assert out["raw"].response_metadata["routing"]["route"] == "alpha"


def test_native_structured_output_skips_models_without_it() -> None:
    router = make_router(capabilities={"beta": {"structured_output": False}})
    joke = router.with_structured_output(Joke, method="json_schema").invoke("prove it 'a' 'b'")
    assert joke == Joke(setup="a", punchline="b")
    assert child(router, "beta").calls == []
    # function calling needs tool calling only, which beta has
    joke = router.with_structured_output(Joke).invoke("prove it 'c' 'd'")
    assert joke == Joke(setup="c", punchline="d") and len(child(router, "beta").calls) == 1


# -- route overrides and router-only kwargs ----------------------------------------------------


def test_route_override_by_model_kwarg_and_by_config() -> None:
    router = make_router()
    by_kwarg = router.invoke("hello", model="beta")
    by_config = router.invoke("hello", {"configurable": {"route": "beta"}})
    for message in (by_kwarg, by_config):
        assert message.content == "[fake-beta] hello"
        assert message.response_metadata["routing"]["selector"] == "override"
    streamed = merged(list(router.stream("hello", {"configurable": {"route": "beta"}})))
    assert streamed.content == "[fake-beta] hello"
    for call in child(router, "beta").calls:
        assert not ROUTER_ONLY_KWARGS & set(call.kwargs)


def test_unknown_route_override_is_rejected_before_any_call() -> None:
    router = make_router()
    with pytest.raises(RoutingInputError, match="'nope'"):
        router.invoke("hello", model="nope")
    with pytest.raises(RoutingInputError, match="'nope'"):
        list(router.stream("hello", {"configurable": {"route": "nope"}}))
    assert child(router, "alpha").calls == child(router, "beta").calls == []


def test_caller_metadata_reaches_the_selector() -> None:
    router = make_router(selector=RuleSelector([Rule(route="beta", metadata={"tier": "pro"})]))
    assert router.invoke("hi", {"metadata": {"tier": "pro"}}).content == "[fake-beta] hi"
    assert router.invoke("hi", {"metadata": {"tier": "free"}}).content == "[fake-alpha] hi"


def test_router_settings_reach_the_chosen_model() -> None:
    router = make_router(temperature=0.2, max_tokens=7, stop=["STOP"])
    router.invoke("hi")
    call = child(router, "alpha").calls[-1]
    assert call.kwargs["temperature"] == 0.2 and call.kwargs["max_tokens"] == 7
    assert call.stop == ["STOP"]
    no_stop = make_router(stop=[])  # LangChain's "no stop sequences": nothing is sent
    no_stop.invoke("hi")
    assert child(no_stop, "alpha").calls[-1].stop is None


class NoStreaming(ScriptedChatModel):
    """A provider integration that implements only `_generate`."""

    _stream = BaseChatModel._stream
    _astream = BaseChatModel._astream


@pytest.mark.parametrize(
    "alpha",
    [
        NoStreaming(model="fake-alpha"),
        ScriptedChatModel(model="fake-alpha", disable_streaming=True),
        ScriptedChatModel(model="fake-alpha", streaming=False),
    ],
)
def test_a_child_that_does_not_stream_answers_in_one_chunk(alpha: ScriptedChatModel) -> None:
    router = make_router(alpha=alpha)

    async def collect() -> list[AIMessageChunk]:
        return [c async for c in router.astream("one two three")]

    for chunks in (list(router.stream("one two three")), asyncio.run(collect())):
        assert [c.content for c in chunks] == ["[fake-alpha] one two three"]
        assert chunks[0].response_metadata["routing"]["route"] == "alpha"
        assert chunks[0].usage_metadata is not None
    assert [call.stream for call in alpha.calls] == [False, False]


class AsyncStreamingOnly(ScriptedChatModel):
    """A provider integration that streams natively in async code only."""

    _stream = BaseChatModel._stream


def test_a_child_streaming_only_in_async_code_streams_there_and_answers_whole_in_sync() -> None:
    alpha = AsyncStreamingOnly(model="fake-alpha")
    router = make_router(alpha=alpha)

    async def collect() -> list[AIMessageChunk]:
        return [c async for c in router.astream("one two three")]

    assert [c.content for c in router.stream("one two three")] == ["[fake-alpha] one two three"]
    streamed = asyncio.run(collect())
    assert len(streamed) > 2 and merged(streamed).content == "[fake-alpha] one two three"
    assert [call.stream for call in alpha.calls] == [False, True]


def test_router_cache_keys_include_the_route() -> None:
    router = make_router(cache=InMemoryCache())
    first = router.invoke("hello cache")
    again = router.invoke("hello cache")
    assert again.content == first.content and len(child(router, "alpha").calls) == 1
    forced = router.invoke("hello cache", model="beta")  # same prompt, another route: no hit
    assert forced.content == "[fake-beta] hello cache"


class CountingLimiter(BaseRateLimiter):
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True


def test_the_chosen_childs_rate_limiter_is_honoured() -> None:
    alpha_limiter, beta_limiter = CountingLimiter(), CountingLimiter()
    router = make_router(
        alpha=ScriptedChatModel(model="fake-alpha", rate_limiter=alpha_limiter),
        beta=ScriptedChatModel(model="fake-beta", rate_limiter=beta_limiter),
    )
    router.invoke("hi")
    list(router.stream("hi"))
    asyncio.run(router.ainvoke("hi"))
    assert (alpha_limiter.acquired, beta_limiter.acquired) == (3, 0)


def test_streaming_flag_makes_invoke_stream_from_the_child() -> None:
    router = make_router(streaming=True)
    assert router.invoke("hi").content == "[fake-alpha] hi"
    assert child(router, "alpha").calls[-1].stream is True


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "fix"),
    [
        ({"models": {}}, "models", "at least one model"),
        ({"default": "gamma"}, "default", "name of the model"),
        (
            {"selector": RuleSelector([Rule(route="gamma", keywords=["x"])])},
            "gamma",
            "add the model",
        ),
        ({"fallbacks": ["beta", "beta"]}, "fallbacks", "twice"),
        ({"fallbacks": ["gamma"]}, "fallbacks", "unknown model"),
        ({"fallbacks": {"alpha": ["alpha"]}}, "fallbacks['alpha']", "remove it"),
        ({"route_on": "everything"}, "route_on", "'last_user'"),
        ({"route_on": 0}, "route_on", "positive int"),
        ({"capabilities": {"alpha": {"tools": False}}}, "capabilities['alpha']", "tool_calling"),
        ({"capabilities": {"gamma": {"tool_calling": False}}}, "capabilities", "models are"),
        ({"api_key": "sk-test"}, "api_key", "each child model"),
        ({"fallback_on": ["flaky"]}, "fallback_on", "rate_limit"),
    ],
)
def test_bad_settings_fail_at_construction_naming_field_and_fix(
    settings: dict[str, Any], field: str, fix: str
) -> None:
    models = settings.pop("models", None)
    with pytest.raises(RouteConfigError) as info:
        if models is not None:
            RoutingChatModel(models=models, **settings)
        else:
            make_router(**settings)
    assert field in str(info.value) and fix.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    "wrapped",
    [
        ScriptedChatModel(model="fake-beta").bind(temperature=0),
        ScriptedChatModel(model="fake-beta").with_retry(),
    ],
)
def test_a_wrapped_runnable_is_rejected_as_a_model(wrapped: Any) -> None:
    with pytest.raises(RouteConfigError, match=r"models\['beta'\].*not a LangChain chat model"):
        RoutingChatModel(models={"alpha": ScriptedChatModel(model="fake-alpha"), "beta": wrapped})


@pytest.mark.parametrize("method", ["invoke", "stream", "ainvoke", "batch"])
def test_empty_message_list_fails_before_any_model_call(method: str) -> None:
    router = make_router()
    with pytest.raises(RoutingInputError, match="empty message list"):
        if method == "invoke":
            router.invoke([])
        elif method == "stream":
            list(router.stream([]))
        elif method == "ainvoke":
            asyncio.run(router.ainvoke([]))
        else:
            router.batch([[]])
    assert child(router, "alpha").calls == child(router, "beta").calls == []


def test_profile_reflects_what_the_children_can_serve() -> None:
    router = make_router(
        alpha=ScriptedChatModel(model="fake-alpha", profile={"image_inputs": True})
    )
    assert router.profile is not None
    assert router.profile.get("tool_calling") is True and router.profile.get("image_inputs") is True
    mixed = make_router(beta=ScriptedChatModel(model="fake-beta", provider="other"))
    assert mixed.profile is not None and mixed.profile.get("structured_output") is False
