"""Fallback with the real `llama_index.llms.openai.OpenAI` client against loopback servers.

Each child is a real llama-index-llms-openai `OpenAI` pointed at an `OpenAIServer` on 127.0.0.1
that the test scripts to fail. Its own retries are off (`max_retries=0`: its default of 3 would
retry with exponential waits of 1-20 s for up to 60 s, in tenacity *and* in the openai SDK, before
the router could fall back). Servers answer `"<server name>: <last user message>"`.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI

from routing_chat_model import AllModelsFailedError, StreamInterruptedError
from routing_chat_model.llama_index import RoutingChatModel
from tests.support.openai_server import OpenAIServer, Reply, ToolCall


def openai_child(server: OpenAIServer, model: str, **kwargs: Any) -> OpenAI:
    return OpenAI(model=model, api_base=server.base_url, api_key="sk-test", max_retries=0, **kwargs)


@pytest.fixture
def router(primary: OpenAIServer, secondary: OpenAIServer) -> RoutingChatModel:
    return RoutingChatModel(
        models={
            "primary": openai_child(primary, "gpt-4o-mini"),
            "secondary": openai_child(secondary, "gpt-4o"),
        }
    )


def user(text: str = "hello") -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def calls(server: OpenAIServer) -> int:
    return len(server.requests_to("chat/completions"))


def attempts(response: Any) -> list[tuple[str, str | None, str | None]]:
    return [
        (a["route"], a["error"], a["error_kind"])
        for a in response.additional_kwargs["routing"]["attempts"]
    ]


async def answer(router: RoutingChatModel, method: str) -> Any:
    """The final response of one call by `method`, streams consumed."""
    if method == "chat":
        return router.chat(user())
    if method == "achat":
        return await router.achat(user())
    if method == "stream_chat":
        return list(router.stream_chat(user()))[-1]
    if method == "astream_chat":
        return [c async for c in await router.astream_chat(user())][-1]
    if method == "complete":
        return router.complete("hello")
    return await router.acomplete("hello")


def text(response: Any) -> str:
    return str(response.message.content if isinstance(response, ChatResponse) else response.text)


METHODS = ["chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete"]


def test_the_chosen_child_answers_with_usage_and_cost(
    router: RoutingChatModel, primary: OpenAIServer
) -> None:
    response = router.chat(user())
    assert response.message.content == "primary: hello"
    routing = response.additional_kwargs["routing"]
    assert routing["model_name"] == "gpt-4o-mini"
    assert routing["input_tokens"] == 1 and routing["output_tokens"] > 0
    assert routing["cost_usd"] is not None and routing["cost_usd"] > 0  # genai-prices, offline
    body = primary.requests_to("chat/completions")[0].body
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert set(body) == {"messages", "model", "stream", "temperature"}  # nothing leaked


@pytest.mark.parametrize("method", METHODS)
async def test_rate_limit_falls_back(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.fail_next(429, headers={"Retry-After": "2"})
    response = await answer(router, method)
    assert text(response) == "secondary: hello"
    assert attempts(response) == [
        ("primary", "RateLimitError", "rate_limit"),
        ("secondary", None, None),
    ]
    assert response.additional_kwargs["routing"]["selected"] == "primary"
    assert calls(primary) == calls(secondary) == 1  # no retries inside the child


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_fall_back(
    router: RoutingChatModel, primary: OpenAIServer, status: int
) -> None:
    primary.fail_next(status)
    response = router.chat(user())
    assert text(response) == "secondary: hello"
    assert [kind for _, _, kind in attempts(response)] == ["server_error", None]


@pytest.mark.parametrize("method", ["chat", "achat", "stream_chat"])
async def test_dropped_connection_falls_back(
    router: RoutingChatModel, primary: OpenAIServer, method: str
) -> None:
    primary.drop_next()
    response = await answer(router, method)
    assert text(response) == "secondary: hello"
    assert attempts(response)[0] == ("primary", "APIConnectionError", "connection")


def test_client_timeout_falls_back(primary: OpenAIServer, secondary: OpenAIServer) -> None:
    router = RoutingChatModel(
        models={
            "primary": openai_child(primary, "gpt-4o-mini", timeout=0.3),
            "secondary": openai_child(secondary, "gpt-4o"),
        }
    )
    primary.hang_next(5.0)
    response = router.chat(user())
    assert text(response) == "secondary: hello"
    assert attempts(response)[0] == ("primary", "APITimeoutError", "timeout")


@pytest.mark.parametrize(
    ("status", "error_type"), [(400, openai.BadRequestError), (401, openai.AuthenticationError)]
)
@pytest.mark.parametrize("method", ["chat", "achat", "stream_chat"])
async def test_client_errors_propagate_without_calling_the_secondary(
    router: RoutingChatModel,
    primary: OpenAIServer,
    secondary: OpenAIServer,
    status: int,
    error_type: type[Exception],
    method: str,
) -> None:
    primary.fail_next(status)
    with pytest.raises(error_type):
        await answer(router, method)
    assert calls(primary) == 1 and calls(secondary) == 0


@pytest.mark.parametrize("method", ["chat", "astream_chat"])
async def test_all_failing_raises_all_models_failed_error(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.fail_next(500)
    secondary.fail_next(429)
    with pytest.raises(AllModelsFailedError) as info:
        await answer(router, method)
    assert info.value.routes == ("primary", "secondary")
    assert [type(e) for e in info.value.exceptions] == [
        openai.InternalServerError,
        openai.RateLimitError,
    ]


def test_a_stream_cut_after_its_first_chunks_is_not_spliced(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    primary.drop_next(after_chunks=2)
    seen = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in router.stream_chat(user("one two three four")):
            seen.append(chunk.delta)
    assert info.value.route == "primary"
    assert "".join(seen).startswith("primary:")
    assert calls(secondary) == 0


async def test_streamed_usage_reaches_the_last_chunk(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    child = openai_child(
        primary, "gpt-4o-mini", additional_kwargs={"stream_options": {"include_usage": True}}
    )
    router = RoutingChatModel(models={"primary": child})
    chunks = [c async for c in await router.astream_chat(user("one two"))]
    assert "".join(c.delta or "" for c in chunks) == "primary: one two"
    last = chunks[-1].additional_kwargs["routing"]
    assert last["input_tokens"] == 2 and last["cost_usd"] is not None
    assert chunks[0].additional_kwargs["routing"]["input_tokens"] is None


# -- tools, in OpenAI's own format ---------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD = FunctionTool.from_defaults(fn=add)


def test_tool_calls_fall_back_and_the_tool_round_returns_to_the_caller(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    primary.fail_next(429)
    secondary.reply_next(Reply(tool_calls=(ToolCall("add", '{"a": 2, "b": 3}', id="call_9"),)))
    question = ChatMessage(role=MessageRole.USER, content="add 2 and 3")
    response = router.chat_with_tools([ADD], chat_history=[question])
    (call,) = router.get_tool_calls_from_response(response)
    assert (call.tool_name, call.tool_kwargs, call.tool_id) == ("add", {"a": 2, "b": 3}, "call_9")
    sent = secondary.requests_to("chat/completions")[0].body
    assert sent["tools"][0]["function"]["name"] == "add"  # formatted by the OpenAI child
    result = ChatMessage(
        role=MessageRole.TOOL, content="5", additional_kwargs={"tool_call_id": "call_9"}
    )
    final = router.chat_with_tools([ADD], chat_history=[question, response.message, result])
    assert final.additional_kwargs["routing"]["selector"] == "tool_round"
    assert calls(primary) == 1 and calls(secondary) == 2  # the round went back to secondary
    messages = secondary.requests_to("chat/completions")[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert "routing" not in json.dumps(messages)  # decisions never reach the provider
