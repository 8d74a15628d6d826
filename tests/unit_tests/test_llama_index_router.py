"""`routing_chat_model.llama_index.RoutingChatModel`: settings, metadata, routing, fallback,
decisions, callbacks and token counts.

Children are `ScriptedLLM`s whose answers name the model that wrote them ("[fast] ...").
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from llama_index.core import Settings
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ImageBlock,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.llms.mock import MockLLM
from llama_index_instrumentation import root_dispatcher
from pydantic import Field

from routing_chat_model import (
    AllModelsFailedError,
    NoCandidateError,
    RouteConfigError,
    RoutingInputError,
    RoutingRequest,
    Rule,
    RuleSelector,
    StreamInterruptedError,
    Usage,
)
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.llama_index._convert import usage_of
from routing_chat_model.testing import ScriptedLLM

ROUTER_KWARGS = {"model", "routing_metadata", "routing_tools"}


def make_router(
    fast: ScriptedLLM | None = None, strong: ScriptedLLM | None = None, **kwargs: Any
) -> RoutingChatModel:
    """fast answers by default; "prove" goes to strong."""
    kwargs.setdefault("selector", RuleSelector([Rule(route="strong", keywords=["prove"])]))
    return RoutingChatModel(
        models={
            "fast": fast or ScriptedLLM(model="fast"),
            "strong": strong or ScriptedLLM(model="strong"),
        },
        **kwargs,
    )


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


class Events(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Events"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def decisions(self) -> list[dict[str, Any]]:
        return [e.decision for e in self.events if isinstance(e, RoutingDecisionEvent)]


class Decisions(BaseEventHandler):
    """Keeps only decisions (an ExceptionEvent's traceback would keep abandoned streams alive)."""

    decisions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Decisions"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.decisions.append(event.decision)


@pytest.fixture
def events() -> Iterator[Events]:
    handler = Events()
    root_dispatcher.add_event_handler(handler)
    yield handler
    root_dispatcher.event_handlers.remove(handler)


@pytest.fixture
def global_callbacks() -> Iterator[None]:
    saved = Settings._callback_manager, Settings._llm
    yield
    Settings._callback_manager, Settings._llm = saved


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": "sk-x"}, "Provider settings belong on each child"),
        ({"defualt": "fast"}, "unknown argument(s) ['defualt']"),
        ({"default": "medium"}, "default='medium' is not one of the models"),
        ({"route_on": "everything"}, "route_on='everything' is not valid"),
        ({"fallbacks": ["fast", "huge"]}, "unknown model(s) ['huge']"),
        ({"capabilities": {"huge": {}}}, "capabilities name unknown model(s) ['huge']"),
        ({"capabilities": {"fast": {"vision": True}}}, "unknown key(s) ['vision']"),
        ({"prices": {"fast": {"input": 1}}}, "unknown field 'input'"),
        ({"fallback_on": ["oops"]}, "fallback_on: unknown error kind 'oops'"),
        ({"selector": RuleSelector([Rule(route="huge", keywords=["x"])])}, "routes to ['huge']"),
    ],
)
def test_bad_settings_raise_route_config_error_naming_the_field(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(RouteConfigError) as info:
        make_router(**kwargs)
    assert message in str(info.value)


def test_models_must_be_llama_index_llms() -> None:
    with pytest.raises(RouteConfigError, match="models must be a non-empty dict"):
        RoutingChatModel(models={})
    with pytest.raises(RouteConfigError, match=r"routing_chat_model\.langchain\.RoutingChatModel"):
        RoutingChatModel(models={"x": FakeListChatModel(responses=["a"])})


def test_tool_calling_cannot_be_claimed_for_a_model_without_function_calling() -> None:
    with pytest.raises(RouteConfigError, match="not a FunctionCallingLLM"):
        RoutingChatModel(models={"echo": MockLLM()}, capabilities={"echo": {"tool_calling": True}})


def test_child_metadata_failure_is_a_config_error() -> None:
    class Broken(ScriptedLLM):
        @property
        def metadata(self) -> LLMMetadata:
            raise ValueError("Unknown model 'gpt-9'")

    with pytest.raises(RouteConfigError, match=r"models\['b'\]\.metadata failed"):
        RoutingChatModel(models={"b": Broken()})


def test_model_copy_rebuilds_and_checks_the_routing() -> None:
    router = make_router()
    updated = router.model_copy(update={"default": "strong"})
    assert updated.chat(user("hi")).message.content == "[strong] hi"
    assert router.chat(user("hi")).message.content == "[fast] hi"
    with pytest.raises(RouteConfigError):
        router.model_copy(update={"default": "medium"})
    for deep in (router.model_copy(deep=True), copy.deepcopy(router)):
        assert deep.models["fast"] is not router.models["fast"]
        assert deep.chat(user("prove it")).message.content == "[strong] prove it"
    deep = router.model_copy(update={"default": "strong"}, deep=True)
    assert deep.chat(user("hi")).message.content == "[strong] hi"


# -- metadata ----------------------------------------------------------------------------------


def test_metadata_is_merged_from_the_children() -> None:
    router = RoutingChatModel(
        models={
            "small": ScriptedLLM(context_window=4096, num_output=100, function_calling=False),
            "big": ScriptedLLM(context_window=200_000, num_output=500, is_chat_model=False),
            "echo": MockLLM(),
        },
        model="my-router",
    )
    meta = router.metadata
    assert meta.context_window == 200_000  # candidates are filtered per request by window
    assert meta.num_output == 500
    assert meta.is_chat_model is False  # not every child is a chat model
    assert meta.is_function_calling_model is True  # "big" can call tools
    assert meta.model_name == "my-router"
    caps = router.router.capabilities
    assert [caps[n].tool_calling for n in ("small", "big", "echo")] == [False, True, False]
    assert caps["echo"].max_input_tokens == MockLLM().metadata.context_window


def test_capability_overrides_change_metadata_and_candidates() -> None:
    router = make_router(capabilities={"strong": {"max_input_tokens": 1_000_000}})
    assert router.metadata.context_window == 1_000_000
    no_tools = make_router(
        capabilities={"fast": {"tool_calling": False}, "strong": {"tool_calling": False}}
    )
    assert no_tools.metadata.is_function_calling_model is False


def test_a_prompt_too_long_for_a_child_goes_to_one_whose_window_fits() -> None:
    router = make_router(ScriptedLLM(model="fast", context_window=50), ScriptedLLM(model="strong"))
    long_text = "word " * 200  # ~250 tokens by the core's estimate
    response = router.chat(user(long_text))
    assert response.additional_kwargs["routing"]["route"] == "strong"
    assert response.additional_kwargs["routing"]["candidates"] == ["strong"]


# -- routing -----------------------------------------------------------------------------------


def test_selector_default_and_decision_keys() -> None:
    router = make_router()
    easy = router.chat(user("hi there"))
    hard = router.chat(user("prove that 2 is prime"))
    assert easy.message.content == "[fast] hi there"
    assert hard.message.content == "[strong] prove that 2 is prime"
    routing = hard.additional_kwargs["routing"]
    assert {"route", "selector", "scores", "reason", "attempts", "latency_ms"} <= set(routing)
    assert routing["selector"] == "rules"
    assert routing["attempts"][0]["error"] is None
    assert easy.additional_kwargs["routing"]["abstained"] is True
    assert "routing" not in hard.message.additional_kwargs  # never on the message


def test_route_override_and_metadata_never_reach_the_child() -> None:
    seen: list[RoutingRequest] = []

    def selector(request: RoutingRequest) -> str | None:
        seen.append(request)
        return None

    fast, strong = ScriptedLLM(model="fast"), ScriptedLLM(model="strong")
    router = make_router(fast, strong, selector=selector)
    response = router.chat(
        user("hi"), model="strong", routing_metadata={"tenant": "acme"}, temperature=0.2
    )
    assert response.additional_kwargs["routing"]["selector"] == "override"
    router.complete("hi", routing_metadata={"tenant": "acme"})
    assert seen[-1].metadata == {"tenant": "acme"}
    for call in fast.calls + strong.calls:
        assert not ROUTER_KWARGS & set(call.kwargs)
    assert strong.calls[0].kwargs == {"temperature": 0.2}  # other kwargs pass through
    with pytest.raises(RoutingInputError, match="'huge' is not one of this router's models"):
        router.chat(user("hi"), model="huge")


def test_route_on_conversation() -> None:
    router = make_router(route_on="conversation")
    history = [
        ChatMessage(role=MessageRole.USER, content="prove it"),
        ChatMessage(role=MessageRole.ASSISTANT, content="sure"),
        ChatMessage(role=MessageRole.USER, content="go on"),
    ]
    assert router.chat(history).additional_kwargs["routing"]["route"] == "strong"
    assert make_router().chat(history).additional_kwargs["routing"]["route"] == "fast"


def test_images_go_only_to_models_that_accept_them() -> None:
    router = make_router(capabilities={"fast": {"image_inputs": False}})
    message = ChatMessage(
        role=MessageRole.USER,
        blocks=[ImageBlock(url="https://example.com/cat.png", image_mimetype="image/png")],
    )
    message.blocks.insert(
        0, ImageBlock(url="https://example.com/dog.png", image_mimetype="image/png")
    )
    assert router.chat([message]).additional_kwargs["routing"]["route"] == "strong"
    only_fast = RoutingChatModel(
        models={"fast": ScriptedLLM()}, capabilities={"fast": {"image_inputs": False}}
    )
    with pytest.raises(NoCandidateError):
        only_fast.chat([message])


def test_usage_and_cost_on_responses_and_the_last_streamed_chunk() -> None:
    router = make_router(prices={"fast": {"input_per_mtok": 1_000_000, "output_per_mtok": 0}})
    routing = router.chat(user("one two three")).additional_kwargs["routing"]
    assert (routing["input_tokens"], routing["output_tokens"]) == (3, 4)
    assert routing["cost_usd"] == pytest.approx(3.0)
    assert routing["model_name"] == "fast"
    chunks = list(router.stream_chat(user("one two three")))
    assert chunks[0].additional_kwargs["routing"]["input_tokens"] is None
    last = chunks[-1].additional_kwargs["routing"]
    assert (last["input_tokens"], last["cost_usd"]) == (3, pytest.approx(3.0))
    assert "routing" not in chunks[-1].message.additional_kwargs


@pytest.mark.parametrize(
    ("raw", "extra", "expected"),
    [
        ({"usage": {"prompt_tokens": 5, "completion_tokens": 2}}, {}, Usage(5, 2)),
        (  # an OpenAI SDK object, with cached prompt tokens
            SimpleNamespace(
                usage=SimpleNamespace(
                    prompt_tokens=9,
                    completion_tokens=1,
                    prompt_tokens_details=SimpleNamespace(cached_tokens=4),
                )
            ),
            {},
            Usage(9, 1, 4),
        ),
        (  # Anthropic: cache reads and writes are not counted in input_tokens
            {
                "usage": {
                    "input_tokens": 3,
                    "output_tokens": 2,
                    "cache_read_input_tokens": 10,
                    "cache_creation_input_tokens": 5,
                }
            },
            {},
            Usage(18, 2, 10),
        ),
        (  # Gemini
            SimpleNamespace(
                usage_metadata=SimpleNamespace(prompt_token_count=7, candidates_token_count=3)
            ),
            {},
            Usage(7, 3),
        ),
        (None, {"prompt_tokens": 4, "completion_tokens": 1}, Usage(4, 1)),  # llms-openai
        ({"model": "m"}, {"routing": {}}, None),
    ],
)
def test_usage_is_read_from_provider_shapes(raw: Any, extra: Any, expected: Usage | None) -> None:
    response = ChatResponse(message=ChatMessage(role="assistant", content="x"), raw=raw)
    response.additional_kwargs = extra
    assert usage_of(response) == expected


# -- fallback ----------------------------------------------------------------------------------


async def test_fallback_on_provider_failures_sync_async_and_streams() -> None:
    def router() -> RoutingChatModel:
        return make_router(ScriptedLLM(model="fast", errors=[TimeoutError("slow")]))

    for response in (
        router().chat(user("hi")),
        await router().achat(user("hi")),
        list(router().stream_chat(user("hi")))[-1],
        [c async for c in await router().astream_chat(user("hi"))][-1],
        router().complete("hi"),
        await router().acomplete("hi"),
    ):
        routing = response.additional_kwargs["routing"]
        assert routing["route"] == "strong"
        assert [(a["route"], a["error"], a["error_kind"]) for a in routing["attempts"]] == [
            ("fast", "TimeoutError", "timeout"),
            ("strong", None, None),
        ]


def test_errors_that_are_not_provider_failures_propagate_at_once() -> None:
    strong = ScriptedLLM(model="strong")
    router = make_router(ScriptedLLM(model="fast", errors=[KeyError("bug")]), strong)
    with pytest.raises(KeyError):
        router.chat(user("hi"))
    assert strong.calls == []


def test_all_models_failing_raises_all_models_failed_error(events: Events) -> None:
    router = make_router(
        ScriptedLLM(model="fast", errors=[TimeoutError("a")]),
        ScriptedLLM(model="strong", errors=[ConnectionError("b")]),
    )
    with pytest.raises(AllModelsFailedError) as info:
        router.chat(user("hi"))
    assert info.value.routes == ("fast", "strong")
    assert [type(e) for e in info.value.exceptions] == [TimeoutError, ConnectionError]
    assert events.decisions() == []


def test_fallback_settings() -> None:
    custom = type("CustomError", (Exception,), {})
    router = make_router(ScriptedLLM(model="fast", errors=[custom()]), fallback_exceptions=[custom])
    assert router.chat(user("hi")).additional_kwargs["routing"]["route"] == "strong"
    strict = make_router(ScriptedLLM(model="fast", errors=[TimeoutError()]), fallback_on=[])
    with pytest.raises(TimeoutError):
        strict.chat(user("hi"))


def test_stream_falls_back_before_the_first_chunk_only(events: Events) -> None:
    fails_first = make_router(
        ScriptedLLM(model="fast", errors=[TimeoutError()], fail_after_chunks=0)
    )
    text = list(fails_first.stream_chat(user("hi")))[-1].message.content
    assert text == "[strong] hi"
    cut = make_router(ScriptedLLM(model="fast", errors=[TimeoutError()], fail_after_chunks=2))
    seen = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in cut.stream_chat(user("hi there")):
            seen.append(chunk.delta)
    assert seen == ["[fast] ", "hi "]
    assert info.value.route == "fast"
    # the stream that fell back reports its decision; the cut one, like any failed call, none
    assert [d["route"] for d in events.decisions()] == ["strong"]


# -- events ------------------------------------------------------------------------------------


async def test_one_decision_event_per_call(events: Events) -> None:
    router = make_router(ScriptedLLM(model="fast", errors=[TimeoutError(), None]))
    list(router.stream_chat(user("hi")))  # fast fails, strong answers
    router.chat(user("hi"))
    [c async for c in await router.astream_complete("prove it")]
    decisions = events.decisions()
    assert [d["route"] for d in decisions] == ["strong", "fast", "strong"]
    assert [a["route"] for a in decisions[0]["attempts"]] == ["fast", "strong"]
    assert decisions[0]["input_tokens"] == 1  # streamed usage reaches the event
    quiet = make_router(emit_routing_event=False)
    quiet.chat(user("hi"))
    assert len(events.decisions()) == 3


def test_an_abandoned_stream_reports_its_decision_once_released() -> None:
    """LlamaIndex's callback wrapper does not close the stream it wraps when the consumer
    stops early; the decision is dispatched when the router's stream is released."""
    decisions = Decisions()
    root_dispatcher.add_event_handler(decisions)
    try:
        router = make_router()
        stream = router.stream_chat(user("prove a long answer"))
        next(stream)
        stream.close()
        del stream
        gc.collect()
    finally:
        root_dispatcher.event_handlers.remove(decisions)
    assert [d["route"] for d in decisions.decisions] == ["strong"]


def test_child_events_carry_the_route_tag_and_nest_under_the_router_span(events: Events) -> None:
    spans = SimpleSpanHandler()
    root_dispatcher.add_span_handler(spans)
    try:
        router = make_router()
        list(router.stream_chat(user("prove it")))
    finally:
        root_dispatcher.span_handlers.remove(spans)
    starts = [e for e in events.events if isinstance(e, LLMChatStartEvent)]
    assert [e.tags for e in starts] == [{}, {"routing_route": "strong"}]
    child = next(s for s in spans.completed_spans if s.id_.startswith("ScriptedLLM.stream_chat"))
    assert (child.parent_id or "").startswith("RoutingChatModel.stream_chat")


# -- callbacks and token counts ----------------------------------------------------------------


def _counts(handler: TokenCountingHandler) -> tuple[int, int, int]:
    return (
        handler.prompt_llm_token_count,
        handler.completion_llm_token_count,
        handler.total_llm_token_count,
    )


@pytest.mark.parametrize("method", ["chat", "stream_chat", "complete"])
def test_token_counts_match_a_direct_call(global_callbacks: None, method: str) -> None:
    """Children built after Settings.callback_manager adopt its handlers; still counted once."""
    counter = TokenCountingHandler(tokenizer=str.split)
    Settings.callback_manager = CallbackManager([counter])
    child = ScriptedLLM(model="fast")
    arg: Any = user("one two three") if "chat" in method else "one two three"

    def run(llm: Any) -> None:
        result = getattr(llm, method)(arg)
        if method.startswith("stream"):
            list(result)

    run(child)
    direct = _counts(counter)
    assert direct[2] > 0
    counter.reset_counts()
    router = RoutingChatModel(models={"fast": child})
    run(router)
    assert _counts(counter) == direct
    counter.reset_counts()
    run(child)  # the child used directly still reports
    assert _counts(counter) == direct


def test_nested_routers_count_once(global_callbacks: None) -> None:
    counter = TokenCountingHandler(tokenizer=str.split)
    Settings.callback_manager = CallbackManager([counter])
    inner = make_router()
    outer = RoutingChatModel(models={"inner": inner, "other": ScriptedLLM(model="other")})
    response = outer.chat(user("prove it"))
    assert response.message.content == "[strong] prove it"
    assert response.additional_kwargs["routing"]["route"] == "inner"
    assert len(counter.llm_token_counts) == 1


def test_counts_once_as_settings_llm(global_callbacks: None) -> None:
    counter = TokenCountingHandler(tokenizer=str.split)
    router = make_router()  # built before the global manager exists
    Settings.llm = router
    Settings.callback_manager = CallbackManager([counter])
    Settings.llm.chat(user("one two three"))
    assert len(counter.llm_token_counts) == 1
    assert Settings.llm.callback_manager.handlers == [counter]
