"""Tool calling and structured output through the LlamaIndex `RoutingChatModel`.

Tools are formatted by the chosen child (each in its own format, after fallback too), tool
calls are parsed by the child that wrote them, tool results go back to that child, and
structured output runs the child's own `structured_predict`.
"""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.mock import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index_instrumentation import root_dispatcher
from pydantic import BaseModel, Field

from routing_chat_model import RoutingInputError, Rule, RuleSelector
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD = FunctionTool.from_defaults(fn=add)


class Album(BaseModel):
    """An album."""

    name: str
    year: int


def make_router(**models: Any) -> RoutingChatModel:
    models = models or {"fast": ScriptedLLM(model="fast"), "strong": ScriptedLLM(model="strong")}
    return RoutingChatModel(
        models=models, selector=RuleSelector([Rule(route="strong", keywords=["prove"])])
    )


def test_only_tool_capable_children_get_tool_calls() -> None:
    tools_child = ScriptedLLM(model="tools")
    router = RoutingChatModel(
        models={
            "text": MockLLM(),
            "plain": ScriptedLLM(function_calling=False),
            "tools": tools_child,
        },
        selector=lambda request: "text",
    )
    response = router.chat_with_tools([ADD], user_msg="add 2 and 3")
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "tools"
    assert routing["candidates"] == ["tools"]
    calls = router.get_tool_calls_from_response(response)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 2, "b": 3})]
    # without tools the selector's choice stands
    assert (
        router.chat([ChatMessage(role="user", content="hi")]).additional_kwargs["routing"]["route"]
        == "text"
    )


def test_the_chosen_child_formats_the_tools_and_router_kwargs_never_reach_it() -> None:
    fast = ScriptedLLM(model="fast", errors=[TimeoutError(), None])
    strong = ScriptedLLM(model="strong")
    router = make_router(fast=fast, strong=strong)
    response = router.chat_with_tools(
        [ADD], user_msg="add 1 and 2", tool_required=True, routing_metadata={"user": "u1"}
    )
    assert response.additional_kwargs["routing"]["route"] == "strong"  # after fallback
    for call in fast.calls + strong.calls:
        assert call.kwargs["tools"][0]["function"]["name"] == "add"  # its own (OpenAI) format
        assert call.kwargs["tool_choice"] == "required"
        assert not {"model", "routing_metadata", "routing_tools"} & set(call.kwargs)
        assert [m.content for m in call.messages] == ["add 1 and 2"]


def test_route_override_reaches_chat_with_tools() -> None:
    router = make_router()
    response = router.chat_with_tools([ADD], user_msg="add 1 and 2", model="strong")
    assert response.additional_kwargs["routing"]["selector"] == "override"
    assert router.get_tool_calls_from_response(response)[0].tool_id.startswith("call_strong_")


def test_tool_calls_are_parsed_and_validated_by_the_child_that_wrote_them() -> None:
    class Spy(ScriptedLLM):
        parsed: int = 0
        validated: int = 0

        def get_tool_calls_from_response(self, *args: Any, **kwargs: Any) -> Any:
            self.parsed += 1
            return super().get_tool_calls_from_response(*args, **kwargs)

        def _validate_chat_with_tools_response(
            self, response: ChatResponse, *args: Any, **kwargs: Any
        ) -> ChatResponse:
            self.validated += 1
            assert "model" not in kwargs
            return response

    fast, strong = Spy(model="fast"), Spy(model="strong")
    router = make_router(fast=fast, strong=strong)
    response = router.chat_with_tools([ADD], user_msg="prove: add 1 and 2", model="strong")
    before = strong.parsed
    router.get_tool_calls_from_response(response)
    assert (strong.parsed - before, strong.validated) == (1, 1)
    assert (fast.parsed, fast.validated) == (0, 0)


def test_a_response_without_routing_cannot_be_attributed() -> None:
    router = make_router()
    foreign = ChatResponse(message=ChatMessage(role="assistant", content="x"))
    with pytest.raises(RoutingInputError, match="carries no additional_kwargs"):
        router.get_tool_calls_from_response(foreign)
    single = RoutingChatModel(models={"text": MockLLM(), "tools": ScriptedLLM(model="tools")})
    assert single.get_tool_calls_from_response(foreign, error_on_no_tool_call=False) == []


async def test_tool_results_go_back_to_the_model_that_called_the_tools() -> None:
    router = make_router()
    question = ChatMessage(role=MessageRole.USER, content="prove it: add 2 and 3")
    first = await router.achat_with_tools([ADD], chat_history=[question])
    assert first.additional_kwargs["routing"]["route"] == "strong"
    (call,) = router.get_tool_calls_from_response(first)
    history = [
        question,
        first.message,
        ChatMessage(
            role=MessageRole.TOOL, content="5", additional_kwargs={"tool_call_id": call.tool_id}
        ),
    ]
    second = await router.achat_with_tools([ADD], chat_history=history)
    routing = second.additional_kwargs["routing"]
    assert (routing["route"], routing["selector"]) == ("strong", "tool_round")
    assert second.message.content == "Tool said: 5"


def test_streamed_tool_calls_are_remembered_for_the_tool_round() -> None:
    router = make_router()
    question = ChatMessage(role=MessageRole.USER, content="prove: add 2 and 3")
    chunks = list(router.stream_chat_with_tools([ADD], chat_history=[question]))
    for chunk in chunks:
        router.get_tool_calls_from_response(chunk, error_on_no_tool_call=False)
    last = chunks[-1]
    blocks = [b for b in last.message.blocks if isinstance(b, ToolCallBlock)]
    tool = ChatMessage(
        role=MessageRole.TOOL,
        content="5",
        additional_kwargs={"tool_call_id": blocks[0].tool_call_id},
    )
    answer = router.chat([question, last.message, tool])
    assert answer.additional_kwargs["routing"]["selector"] == "tool_round"
    assert answer.message.content == "Tool said: 5"


def test_predict_and_call_runs_the_tool() -> None:
    router = make_router()
    assert router.predict_and_call([ADD], user_msg="add 2 and 40").response == "42"


# -- structured output -------------------------------------------------------------------------


class Native(ScriptedLLM):
    """A child with its own structured-output path (like llama-index-llms-openai's)."""

    native_calls: int = 0

    def structured_predict(
        self, output_cls: Any, prompt: Any, llm_kwargs: Any = None, **args: Any
    ) -> Any:
        self.native_calls += 1
        assert llm_kwargs in (None, {"temperature": 0}), llm_kwargs
        if self.errors:
            raise self.errors[0] or RuntimeError()
        return output_cls(name=f"native {self.model_name}", year=1)

    async def astructured_predict(
        self, output_cls: Any, prompt: Any, llm_kwargs: Any = None, **args: Any
    ) -> Any:
        return self.structured_predict(output_cls, prompt, llm_kwargs, **args)


PROMPT = PromptTemplate("Name an album about {topic}.")


async def test_structured_predict_uses_the_childs_native_path() -> None:
    fast, strong = Native(model="fast"), Native(model="strong")
    router = make_router(fast=fast, strong=strong)
    assert router.structured_predict(Album, PROMPT, topic="cats").name == "native fast"
    album = await router.astructured_predict(
        Album, PROMPT, llm_kwargs={"model": "strong", "temperature": 0}, topic="cats"
    )
    assert album.name == "native strong"
    assert router.as_structured_llm(Album).chat(
        [ChatMessage(role="user", content="prove an album")]
    ).raw == Album(name="native strong", year=1)
    assert (fast.native_calls, strong.native_calls) == (1, 2)


class Decisions(BaseEventHandler):
    decisions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Decisions"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.decisions.append(event.decision)


def test_structured_predict_falls_back_and_reports_one_decision() -> None:
    events = Decisions()
    root_dispatcher.add_event_handler(events)
    try:
        router = make_router(
            fast=Native(model="fast", errors=[TimeoutError()]), strong=Native(model="strong")
        )
        assert router.structured_predict(Album, PROMPT, topic="cats").name == "native strong"
    finally:
        root_dispatcher.event_handlers.remove(events)
    (decision,) = events.decisions
    assert [a["route"] for a in decision["attempts"]] == ["fast", "strong"]


def test_structured_predict_through_function_calling_children() -> None:
    router = make_router()
    album = router.structured_predict(Album, PromptTemplate("An album named 'Blue' from 1971"))
    assert album == Album(name="Blue", year=1971)


def test_structured_output_skips_models_declared_unable() -> None:
    router = RoutingChatModel(
        models={"echo": MockLLM(), "json": Native(model="json")},
        capabilities={"echo": {"structured_output": False}},
    )
    assert router.structured_predict(Album, PROMPT, topic="x").name == "native json"
