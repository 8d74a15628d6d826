"""A conformance suite for LlamaIndex LLMs (LlamaIndex ships none), run against the router.

Every test takes a `Subject`: a factory for a fresh LLM plus what it is. The same checks run
against `RoutingChatModel` over scripted children, over LlamaIndex's own mocks, and against a
plain `ScriptedLLM` as a baseline, so a failure in the router alone points at the router. Any
other LLM can join by adding a `Subject` (it needs only to echo the user's text somewhere in its
answer and, if function calling, to call a required tool).

Covered: metadata; chat / complete and their async and streaming forms (real generators,
cumulative chunks, deltas); predict; tool calling (chat_with_tools, stream_chat_with_tools,
get_tool_calls_from_response, predict_and_call); structured_predict / astructured_predict /
as_structured_llm; legacy callbacks (one LLM event pair per call, payloads) and
instrumentation events (one start/end per call in the LLM's own span); and, for routers, the
decision on every response and exactly one `RoutingDecisionEvent` per call, native async
children, and bad input rejected before any child is called.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index_instrumentation import root_dispatcher
from pydantic import BaseModel, Field

from routing_chat_model import RoutingInputError, Rule, RuleSelector
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM

TEXT = "hello world"
METHODS = ("chat", "achat", "stream_chat", "astream_chat")
COMPLETIONS = ("complete", "acomplete", "stream_complete", "astream_complete")


@dataclass
class Subject:
    name: str
    make: Callable[[], LLM]
    routed: bool = False
    """A router: responses carry `routing`, one RoutingDecisionEvent per call."""
    children: Callable[[LLM], list[ScriptedLLM]] = field(default=lambda llm: [])
    """Scripted children whose recorded calls show which of their methods ran."""


def _scripted_router() -> LLM:
    return RoutingChatModel(
        models={"fast": ScriptedLLM(model="fast"), "strong": ScriptedLLM(model="strong")},
        selector=RuleSelector([Rule(route="strong", keywords=["prove"])]),
    )


def _mock_router() -> LLM:
    return RoutingChatModel(
        models={"echo": MockLLM(), "tools": MockFunctionCallingLLM()},
        # MockLLM echoes the prompt: it cannot answer structured output
        capabilities={"echo": {"structured_output": False}},
    )


def _scripted_children(llm: LLM) -> list[ScriptedLLM]:
    assert isinstance(llm, RoutingChatModel)
    return [c for c in llm.models.values() if isinstance(c, ScriptedLLM)]


SUBJECTS = [
    Subject("scripted-baseline", lambda: ScriptedLLM(model="solo")),
    Subject("router-scripted", _scripted_router, routed=True, children=_scripted_children),
    Subject("router-llama-mocks", _mock_router, routed=True),
]


# -- recorders ---------------------------------------------------------------------------------


class EventRecorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, kind: type[BaseEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class LLMEvents(BaseCallbackHandler):
    def __init__(self) -> None:
        super().__init__([], [])
        self.starts: list[dict[str, Any]] = []
        self.ends: list[dict[str, Any]] = []

    def on_event_start(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        if event_type == CBEventType.LLM:
            self.starts.append(payload or {})
        return event_id

    def on_event_end(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        **kwargs: Any,
    ) -> None:
        if event_type == CBEventType.LLM:
            self.ends.append(payload or {})

    def start_trace(self, trace_id: str | None = None) -> None:
        pass

    def end_trace(
        self, trace_id: str | None = None, trace_map: dict[str, list[str]] | None = None
    ) -> None:
        pass


@pytest.fixture(params=SUBJECTS, ids=lambda s: s.name)
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def callbacks() -> Iterator[LLMEvents]:
    """Legacy handlers set globally *before* the LLM is built (children adopt them too)."""
    saved = Settings._callback_manager
    handler = LLMEvents()
    Settings.callback_manager = CallbackManager([handler])
    yield handler
    Settings._callback_manager = saved


@pytest.fixture
def events() -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    root_dispatcher.add_event_handler(recorder)
    yield recorder
    root_dispatcher.event_handlers.remove(recorder)


@pytest.fixture
def llm(subject: Subject, callbacks: LLMEvents) -> LLM:
    return subject.make()


def user(text: str = TEXT) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


async def call(llm: LLM, method: str, text: str = TEXT) -> Any:
    """Run one of the eight methods to its final response (streams fully consumed)."""
    arg: Any = user(text) if method in METHODS else text
    result = getattr(llm, method)(arg)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, Iterator):
        chunks = list(result)
        return chunks[-1]
    if isinstance(result, AsyncIterator):
        chunks = [c async for c in result]
        return chunks[-1]
    return result


def text_of(response: ChatResponse | CompletionResponse) -> str:
    if isinstance(response, ChatResponse):
        return response.message.content or ""
    return response.text


# -- metadata ----------------------------------------------------------------------------------


def test_metadata_is_complete_and_serialisable(llm: LLM) -> None:
    meta = llm.metadata
    assert isinstance(meta, LLMMetadata)
    assert meta.context_window > 0
    assert isinstance(meta.is_chat_model, bool)
    assert isinstance(meta.is_function_calling_model, bool)
    payload = llm.to_payload()
    assert payload["class_name"] == llm.class_name()
    assert "api_key" not in str(payload)


# -- the eight methods -------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS + COMPLETIONS)
async def test_every_method_answers(llm: LLM, subject: Subject, method: str) -> None:
    response = await call(llm, method)
    kind = ChatResponse if method in METHODS else CompletionResponse
    assert isinstance(response, kind)
    assert TEXT in text_of(response)
    if isinstance(response, ChatResponse):
        assert response.message.role == MessageRole.ASSISTANT
    if subject.routed:
        routing = response.additional_kwargs["routing"]
        assert routing["route"] in routing["candidates"]
        assert [a["route"] for a in routing["attempts"]] == [routing["route"]]


@pytest.mark.parametrize("method", ["stream_chat", "stream_complete"])
def test_streams_are_real_generators_of_cumulative_chunks(llm: LLM, method: str) -> None:
    arg: Any = user() if method == "stream_chat" else TEXT
    stream = getattr(llm, method)(arg)
    assert inspect.isgenerator(stream)
    chunks: list[Any] = list(stream)
    assert chunks
    assert "".join(c.delta or "" for c in chunks) == text_of(chunks[-1])


@pytest.mark.parametrize("method", ["astream_chat", "astream_complete"])
async def test_async_streams_are_real_async_generators(llm: LLM, method: str) -> None:
    arg: Any = user() if method == "astream_chat" else TEXT
    stream = await getattr(llm, method)(arg)
    assert inspect.isasyncgen(stream)
    chunks: list[Any] = [c async for c in stream]
    assert chunks
    assert "".join(c.delta or "" for c in chunks) == text_of(chunks[-1])


async def test_predict_and_apredict(llm: LLM) -> None:
    prompt = PromptTemplate("{greeting}")
    assert TEXT in llm.predict(prompt, greeting=TEXT)
    assert TEXT in await llm.apredict(prompt, greeting=TEXT)
    assert TEXT in "".join(llm.stream(prompt, greeting=TEXT))


@pytest.mark.parametrize("method", ["achat", "astream_chat", "acomplete", "astream_complete"])
async def test_async_methods_call_the_childrens_async_methods(
    llm: LLM, subject: Subject, method: str
) -> None:
    children = subject.children(llm)
    if not children:
        pytest.skip("no scripted children to observe")
    await call(llm, method)
    methods = [c.method for child in children for c in child.calls]
    assert methods == [method]


# -- tool calling ------------------------------------------------------------------------------


def add(a: int = 1, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


ADD = FunctionTool.from_defaults(fn=add)


def _needs_tools(llm: LLM) -> None:
    if not llm.metadata.is_function_calling_model:
        pytest.skip("not a function-calling model")


def test_chat_with_tools_then_get_tool_calls(llm: LLM, subject: Subject) -> None:
    _needs_tools(llm)
    response = llm.chat_with_tools([ADD], user_msg="please add", tool_required=True)  # type: ignore[attr-defined]
    calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=True)  # type: ignore[attr-defined]
    assert [c.tool_name for c in calls] == ["add"]
    assert "routing" not in response.message.additional_kwargs
    if subject.routed:
        assert response.additional_kwargs["routing"]["route"]


async def test_achat_with_tools(llm: LLM) -> None:
    _needs_tools(llm)
    response = await llm.achat_with_tools([ADD], user_msg="please add", tool_required=True)  # type: ignore[attr-defined]
    calls = llm.get_tool_calls_from_response(response)  # type: ignore[attr-defined]
    assert [c.tool_name for c in calls] == ["add"]


def test_stream_chat_with_tools_every_chunk_is_parseable(llm: LLM) -> None:
    _needs_tools(llm)
    chunks = list(llm.stream_chat_with_tools([ADD], user_msg="please add", tool_required=True))  # type: ignore[attr-defined]
    for chunk in chunks:  # agents parse every chunk
        llm.get_tool_calls_from_response(chunk, error_on_no_tool_call=False)  # type: ignore[attr-defined]
    final = llm.get_tool_calls_from_response(chunks[-1])  # type: ignore[attr-defined]
    assert [c.tool_name for c in final] == ["add"]


async def test_predict_and_call(llm: LLM) -> None:
    _needs_tools(llm)
    out = llm.predict_and_call([ADD], user_msg="please add")
    assert out.response == "3"
    out = await llm.apredict_and_call([ADD], user_msg="please add")
    assert out.response == "3"


# -- structured output -------------------------------------------------------------------------


class Album(BaseModel):
    """An album."""

    name: str = "untitled"
    year: int = 2000


ALBUM_PROMPT = PromptTemplate("Name an album about {topic}.")


async def test_structured_predict(llm: LLM) -> None:
    assert llm.structured_predict(Album, ALBUM_PROMPT, topic="cats") == Album()
    assert await llm.astructured_predict(Album, ALBUM_PROMPT, topic="cats") == Album()


async def test_stream_structured_predict(llm: LLM) -> None:
    _needs_tools(llm)
    parts = list(llm.stream_structured_predict(Album, ALBUM_PROMPT, topic="cats"))
    assert parts[-1] == Album()
    parts = [p async for p in await llm.astream_structured_predict(Album, ALBUM_PROMPT, topic="x")]
    assert parts[-1] == Album()


def test_as_structured_llm(llm: LLM) -> None:
    structured = llm.as_structured_llm(Album)
    response = structured.chat(user("an album about cats"))
    assert Album.model_validate_json(response.message.content or "") == Album()


# -- callbacks and instrumentation -------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS + COMPLETIONS)
async def test_one_llm_callback_pair_per_call(
    llm: LLM, subject: Subject, callbacks: LLMEvents, method: str
) -> None:
    """Handlers set before the LLM (and its children) were built see each call once."""
    response = await call(llm, method)
    assert len(callbacks.starts) == len(callbacks.ends) == 1
    end = callbacks.ends[0]
    key = EventPayload.RESPONSE if method in METHODS else EventPayload.COMPLETION
    assert text_of(end[key]) == text_of(response)
    if subject.routed:
        assert end[key].additional_kwargs["routing"]["route"]


@pytest.mark.parametrize("method", METHODS + COMPLETIONS)
async def test_instrumentation_events(
    llm: LLM, subject: Subject, events: EventRecorder, method: str
) -> None:
    response = await call(llm, method)
    chat = method in METHODS
    start, end = (
        (LLMChatStartEvent, LLMChatEndEvent)
        if chat
        else (LLMCompletionStartEvent, LLMCompletionEndEvent)
    )
    own_span = f"{type(llm).__name__}.{method}-"
    own = [e for e in events.of(start) if (e.span_id or "").startswith(own_span)]
    assert len(own) == 1
    assert [e for e in events.of(end) if (e.span_id or "").startswith(own_span)]
    decisions = events.of(RoutingDecisionEvent)
    if not subject.routed:
        assert decisions == []
        return
    assert len(decisions) == 1
    assert decisions[0].decision["route"] == response.additional_kwargs["routing"]["route"]
    assert (decisions[0].span_id or "").startswith(own_span)
    tagged = [e for e in events.of(start) if e.tags.get("routing_route")]
    assert tagged, "the chosen child's own events carry the route tag"
    assert {e.tags["routing_route"] for e in tagged} == {decisions[0].decision["route"]}


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
async def test_empty_message_list_is_rejected_before_any_child_call(
    llm: LLM, subject: Subject, method: str
) -> None:
    if not subject.routed:
        pytest.skip("only routers reject an empty conversation (they have nothing to route on)")
    with pytest.raises(RoutingInputError):
        result = getattr(llm, method)([])
        if inspect.isawaitable(result):
            await result
    assert all(not child.calls for child in subject.children(llm))
