"""Fallback with real provider clients: `ChatOpenAI` children talking to loopback servers.

Each child is a real `langchain_openai.ChatOpenAI` (SDK retries off, as the router is the only
retry loop) pointed at an `OpenAIServer` on 127.0.0.1 that the test scripts to fail. Servers
answer `"<server name>: <last user message>"`, so the text says who answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from routing_chat_model import AllModelsFailedError, StreamInterruptedError
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel
from tests.support.openai_server import OpenAIServer, Reply, ToolCall


def openai_child(server: OpenAIServer, model: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, model=model, **kwargs
    )


@pytest.fixture
def router(primary: OpenAIServer, secondary: OpenAIServer) -> RoutingChatModel:
    return RoutingChatModel(
        models={
            "primary": openai_child(primary, "gpt-4o-mini"),
            "secondary": openai_child(secondary, "gpt-4o"),
        }
    )


def calls(server: OpenAIServer) -> int:
    return len(server.requests_to("chat/completions"))


def attempts(message: Any) -> list[tuple[str, str | None, str | None]]:
    return [
        (a["route"], a["error"], a["error_kind"])
        for a in message.response_metadata["routing"]["attempts"]
    ]


class TokenRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.starts: list[UUID] = []
        self.ends = 0
        self.errors: list[BaseException] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self.starts.append(run_id)

    def on_llm_new_token(self, token: Any, **kw: Any) -> None:
        self.tokens.append(str(token))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.ends += 1

    def on_llm_error(self, error: BaseException, **kw: Any) -> None:
        self.errors.append(error)


_LOOP = asyncio.new_event_loop()


@pytest.fixture(scope="module", autouse=True)
def _close_loop() -> Iterator[None]:
    yield
    _LOOP.close()


def run(coro: Any) -> Any:
    """Run on one loop for the whole module: langchain-openai caches its async HTTP client
    (and its pooled connections) across model instances, so they must outlive each test."""
    return _LOOP.run_until_complete(coro)


# -- invoke ------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_rate_limit_falls_back_to_the_secondary(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, use_async: bool
) -> None:
    primary.fail_next(429, headers={"Retry-After": "2"})
    message = run(router.ainvoke("hello")) if use_async else router.invoke("hello")
    assert message.content == "secondary: hello"
    [(first, error, kind), second] = attempts(message)
    assert (first, kind) == ("primary", "rate_limit") and str(error).endswith("RateLimitError")
    assert second == ("secondary", None, None)
    assert message.response_metadata["routing"]["route"] == "secondary"
    assert message.response_metadata["routing"]["selected"] == "primary"
    assert calls(primary) == 1 and calls(secondary) == 1  # SDK retries are off: one call each


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_fall_back(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, status: int
) -> None:
    primary.fail_next(status)
    message = router.invoke("hello")
    assert message.content == "secondary: hello"
    assert [kind for _, _, kind in attempts(message)] == ["server_error", None]
    assert calls(primary) == calls(secondary) == 1


@pytest.mark.parametrize("use_async", [False, True])
def test_dropped_connection_falls_back(
    router: RoutingChatModel, primary: OpenAIServer, use_async: bool
) -> None:
    primary.drop_next()
    message = run(router.ainvoke("hello")) if use_async else router.invoke("hello")
    assert message.content == "secondary: hello"
    [(_, error, kind), _] = attempts(message)
    assert kind == "connection" and str(error).endswith("ConnectionError")


def test_client_timeout_falls_back(primary: OpenAIServer, secondary: OpenAIServer) -> None:
    router = RoutingChatModel(
        models={
            "primary": openai_child(primary, "gpt-4o-mini", timeout=0.5),
            "secondary": openai_child(secondary, "gpt-4o"),
        }
    )
    primary.hang_next(10.0)
    message = router.invoke("hello")
    assert message.content == "secondary: hello"
    [(_, error, kind), _] = attempts(message)
    assert kind == "timeout" and str(error).endswith("TimeoutError")


@pytest.mark.parametrize(
    ("status", "error_type"), [(400, openai.BadRequestError), (401, openai.AuthenticationError)]
)
@pytest.mark.parametrize("use_async", [False, True])
def test_client_errors_propagate_without_calling_the_secondary(
    router: RoutingChatModel,
    primary: OpenAIServer,
    secondary: OpenAIServer,
    status: int,
    error_type: type[Exception],
    use_async: bool,
) -> None:
    primary.fail_next(status)
    with pytest.raises(error_type):
        run(router.ainvoke("hello")) if use_async else router.invoke("hello")
    assert calls(primary) == 1 and calls(secondary) == 0


@pytest.mark.parametrize("use_async", [False, True])
def test_all_failing_raises_one_error_with_every_attempt_in_order(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, use_async: bool
) -> None:
    primary.fail_next(500)
    secondary.fail_next(429)
    with pytest.raises(AllModelsFailedError) as info:
        run(router.ainvoke("hello")) if use_async else router.invoke("hello")
    error = info.value
    assert error.routes == ("primary", "secondary")
    assert isinstance(error.exceptions[0], openai.InternalServerError)
    assert isinstance(error.exceptions[1], openai.RateLimitError)
    assert "primary" in str(error) and "rate_limit" in str(error)
    assert "sk-test" not in str(error)


def test_fallbacks_setting_orders_the_attempts(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    router = RoutingChatModel(
        models={
            "primary": openai_child(primary, "gpt-4o-mini"),
            "middle": openai_child(primary, "gpt-4.1-mini"),
            "secondary": openai_child(secondary, "gpt-4o"),
        },
        fallbacks=["secondary", "middle"],
    )
    primary.fail_next(503)
    secondary.fail_next(503)
    message = router.invoke("hello")
    assert [route for route, _, _ in attempts(message)] == ["primary", "secondary", "middle"]
    assert message.content == "primary: hello"
    assert [r.body["model"] for r in primary.requests_to("chat/completions")] == [
        "gpt-4o-mini",
        "gpt-4.1-mini",
    ]


@pytest.mark.parametrize(
    ("error", "falls_back"),
    [
        (ModelRateLimitError("429"), True),
        (ModelAPIError("503"), True),
        (ModelConnectionError("reset"), True),
        (ModelTimeoutError("slow"), True),
        (ModelAuthenticationError("401"), False),
    ],
)
def test_langchain_core_standard_errors_follow_the_policy(
    error: Exception, falls_back: bool
) -> None:
    """langchain-core's provider-neutral errors, raised without any provider SDK base class."""
    secondary = ScriptedChatModel(model="fake-secondary")
    router = RoutingChatModel(
        models={
            "primary": ScriptedChatModel(model="fake-primary", errors=[error]),
            "secondary": secondary,
        }
    )
    if falls_back:
        assert router.invoke("hi").content == "[fake-secondary] hi"
    else:
        with pytest.raises(type(error)):
            router.invoke("hi")
        assert secondary.calls == []
    narrowed = RoutingChatModel(
        models={"primary": ScriptedChatModel(model="p", errors=[error]), "secondary": secondary},
        fallback_on=["connection"],
    )
    with (
        pytest.raises(type(error)) if not isinstance(error, ModelConnectionError) else nullcontext()
    ):
        narrowed.invoke("hi")


def test_programming_errors_propagate_unchanged_without_fallback() -> None:
    bug = TypeError("a bug in the model wrapper")
    secondary = ScriptedChatModel(model="fake-secondary")
    router = RoutingChatModel(
        models={
            "primary": ScriptedChatModel(model="fake-primary", errors=[bug]),
            "secondary": secondary,
        }
    )
    with pytest.raises(TypeError) as info:
        router.invoke("hello")
    assert info.value is bug
    with pytest.raises(TypeError):
        list(router.stream("hello"))
    with pytest.raises(TypeError):
        run(router.ainvoke("hello"))
    assert secondary.calls == []


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Joke(BaseModel):
    setup: str
    punchline: str


def test_tools_reach_each_provider_in_its_own_format_and_survive_fallback(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    primary.fail_next(429)
    secondary.reply_next(Reply(tool_calls=(ToolCall("add", '{"a": 2, "b": 3}', id="c1"),)))
    message = router.bind_tools([add], tool_choice="any").invoke("add 2 and 3")
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("add", {"a": 2, "b": 3}, "c1")
    ]
    for server in (primary, secondary):
        [request] = server.requests_to("chat/completions")
        assert request.body["tool_choice"] == "required"  # ChatOpenAI's own translation of "any"
        assert [t["function"]["name"] for t in request.body["tools"]] == ["add"]
        assert not {"routing_route", "tool_bind_kwargs"} & set(request.body)


@pytest.mark.parametrize("use_async", [False, True])
def test_json_schema_structured_output_falls_back(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, use_async: bool
) -> None:
    primary.fail_next(503)
    secondary.reply_next('{"setup": "why", "punchline": "because"}')
    structured = router.with_structured_output(Joke, method="json_schema", include_raw=True)
    out = run(structured.ainvoke("a joke")) if use_async else structured.invoke("a joke")
    assert out["parsed"] == Joke(setup="why", punchline="because")
    routing = out["raw"].response_metadata["routing"]
    assert [a["route"] for a in routing["attempts"]] == ["primary", "secondary"]
    body = secondary.requests_to("chat/completions")[0].body
    assert body["response_format"]["json_schema"]["name"] == "Joke"


# -- streaming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_stream_failing_before_the_first_chunk_falls_back(
    router: RoutingChatModel, primary: OpenAIServer, use_async: bool, fault: str
) -> None:
    if fault == "drop":
        primary.drop_next()
    else:
        primary.fail_next(int(fault))
    recorder = TokenRecorder()
    config: Any = {"callbacks": [recorder]}

    async def collect() -> list[AIMessageChunk]:
        return [chunk async for chunk in router.astream("hello there", config)]

    chunks = run(collect()) if use_async else list(router.stream("hello there", config))
    text = "".join(str(chunk.content) for chunk in chunks)
    assert text == "secondary: hello there"
    assert "".join(recorder.tokens) == text  # callbacks saw the committed attempt's tokens only
    assert len(recorder.starts) == 1 and recorder.ends == 1 and recorder.errors == []
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert [route for route, _, _ in attempts(total)] == ["primary", "secondary"]


@pytest.mark.parametrize("use_async", [False, True])
def test_stream_cut_after_the_first_chunk_raises_and_never_splices(
    router: RoutingChatModel, primary: OpenAIServer, secondary: OpenAIServer, use_async: bool
) -> None:
    primary.drop_next(after_chunks=2)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in router.astream("one two three four five"):
            received.append(str(chunk.content))

    with pytest.raises(StreamInterruptedError) as info:
        if use_async:
            run(consume())
        else:
            for chunk in router.stream("one two three four five"):
                received.append(str(chunk.content))
    assert info.value.route == "primary" and info.value.chunks_emitted >= 1
    text = "".join(received)
    assert text and "primary: one two three four five".startswith(text)
    assert "secondary" not in text and calls(secondary) == 0


@pytest.mark.parametrize("use_async", [False, True])
def test_scripted_mid_stream_failure_raises_stream_interrupted(use_async: bool) -> None:
    primary = ScriptedChatModel(
        model="fake-primary", errors=[ConnectionResetError("reset")], fail_after_chunks=2
    )
    secondary = ScriptedChatModel(model="fake-secondary")
    router = RoutingChatModel(models={"primary": primary, "secondary": secondary})
    recorder = TokenRecorder()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in router.astream("one two three", {"callbacks": [recorder]}):
            received.append(str(chunk.content))

    with pytest.raises(StreamInterruptedError) as info:
        if use_async:
            run(consume())
        else:
            for chunk in router.stream("one two three", {"callbacks": [recorder]}):
                received.append(str(chunk.content))
    assert info.value.chunks_emitted == 2 and "".join(received) == "[fake-primary] one "
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert secondary.calls == [] and len(recorder.errors) == 1 and recorder.ends == 0


def test_invoke_falls_back_even_when_a_stream_would_have_been_cut(
    router: RoutingChatModel, primary: OpenAIServer
) -> None:
    """invoke() has no caller-visible partial output, so any provider failure falls back."""
    primary.drop_next()
    assert router.invoke("hi").content == "secondary: hi"
