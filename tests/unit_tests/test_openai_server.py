"""The loopback OpenAI server works with the real `openai` client and `ChatOpenAI`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

from tests.support.openai_server import OpenAIServer, Reply, ToolCall, hashed_embedding

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(name="alpha") as srv:
        yield srv


@pytest.fixture
def client(server: OpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        yield client


def chat(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-fake",
        base_url=server.base_url,
        api_key=SecretStr("test-key"),
        max_retries=0,
        **kwargs,
    )


def test_chat_completion_echoes_model_and_reports_usage(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    response = client.chat.completions.create(model="m-1", messages=USER)

    assert response.choices[0].message.content == "alpha: hello there"
    assert response.model == "m-1"
    assert response.usage is not None and response.usage.total_tokens > 0
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"] == USER
    assert request.headers["authorization"] == "Bearer test-key"


def test_streaming_yields_the_reply_in_pieces_then_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m-1",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "alpha: hello there"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_streaming_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_configured_and_scripted_replies(server: OpenAIServer, client: openai.OpenAI) -> None:
    server.reply = lambda body: f"saw {len(body['messages'])} message(s)"
    server.reply_next("scripted")

    first = client.chat.completions.create(model="m", messages=USER)
    second = client.chat.completions.create(model="m", messages=USER)

    assert first.choices[0].message.content == "scripted"
    assert second.choices[0].message.content == "saw 1 message(s)"


def test_chat_openai_invoke_and_stream(server: OpenAIServer) -> None:
    # ChatOpenAI asks for usage in streams by default only against api.openai.com.
    model = chat(server, stream_usage=True)

    message = model.invoke("ping")
    chunks = list(model.stream("pong"))

    assert message.content == "alpha: ping"
    assert message.response_metadata["model_name"] == "gpt-fake"
    assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] > 0
    assert "".join(str(c.content) for c in chunks) == "alpha: pong"
    streamed = sum(chunks[1:], chunks[0])
    assert isinstance(streamed, AIMessageChunk)
    assert streamed.usage_metadata is not None  # the include_usage chunk arrived
    assert server.requests[-1].body["stream_options"] == {"include_usage": True}
    assert len(server.requests_to("chat/completions")) == 2


async def test_chat_openai_async(server: OpenAIServer) -> None:
    model = chat(server)

    message = await model.ainvoke("async hi")
    pieces = [str(c.content) async for c in model.astream("async stream")]

    assert message.content == "alpha: async hi"
    assert "".join(pieces) == "alpha: async stream"


def test_tool_calls_reach_chat_openai(server: OpenAIServer) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    server.reply_next(Reply(tool_calls=(ToolCall("get_weather", json.dumps({"city": "Oslo"})),)))
    server.reply_next(Reply(tool_calls=(ToolCall("get_weather", json.dumps({"city": "Rome"})),)))
    model = chat(server).bind_tools([get_weather])

    message = model.invoke("weather in Oslo?")
    streamed: Any = None
    for chunk in model.stream("weather in Rome?"):
        streamed = chunk if streamed is None else streamed + chunk

    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "Oslo"})
    ]
    assert isinstance(streamed, AIMessageChunk)
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        ("get_weather", {"city": "Rome"})
    ]
    assert server.requests[0].body["tools"][0]["function"]["name"] == "get_weather"


def test_rate_limit_fault_raises_rate_limit_error_once(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.fail_next(status=429, headers={"Retry-After": "2"})

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    after = client.chat.completions.create(model="m", messages=USER)

    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "2"
    assert after.choices[0].message.content == "alpha: hello there"
    assert len(server.requests) == 2


def test_chat_openai_rate_limit(server: OpenAIServer) -> None:
    server.fail_next(status=429)
    with pytest.raises(openai.RateLimitError):
        chat(server).invoke("hi")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_faults_map_to_openai_errors(
    client: openai.OpenAI, server: OpenAIServer, status: int, error: type[Exception]
) -> None:
    server.fail_next(status=status, message="scripted failure")
    with pytest.raises(error, match="scripted failure"):
        client.chat.completions.create(model="m", messages=USER)


def test_faults_are_consumed_in_order_per_endpoint(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.fail_next(status=503, times=2)
    server.fail_next(status=500, endpoint="embeddings")

    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x")
    client.embeddings.create(model="e", input="x")  # the embeddings queue is empty now
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=USER)
    client.chat.completions.create(model="m", messages=USER)

    assert [r.endpoint for r in server.requests] == ["embeddings"] * 2 + ["chat/completions"] * 3


def test_hang_makes_the_client_time_out(server: OpenAIServer, client: openai.OpenAI) -> None:
    server.hang_next(30.0)

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(model="m", messages=USER)
    # The server still answers the next request.
    assert client.chat.completions.create(model="m", messages=USER).choices


def test_drop_closes_the_connection_without_a_response(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.drop_next()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)


def test_drop_after_chunks_cuts_a_stream_midway(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.reply_next("one two three four")
    server.drop_next(after_chunks=2)
    received: list[str] = []

    # openai 3.x wraps the cut in APIConnectionError; 2.x (which llama-index-llms-openai pins)
    # lets the transport's RemoteProtocolError through. Both are a cut connection.
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
        for chunk in client.chat.completions.create(
            model="m",
            messages=USER,
            stream=True,
        ):
            received.append(chunk.choices[0].delta.content or "")

    assert "".join(received) == "one two "


def test_embeddings_are_deterministic_and_honour_dimensions(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    # The openai client asks for base64 by default; the float form is checked in test_encoders.
    result = client.embeddings.create(model="e", input=["reset my password", "hi"])
    short = client.embeddings.create(model="e", input="hi", dimensions=4)

    assert [d.index for d in result.data] == [0, 1]
    np.testing.assert_allclose(
        result.data[0].embedding, hashed_embedding("reset my password", 16), rtol=1e-6
    )
    assert len(short.data[0].embedding) == 4
    assert result.usage.total_tokens == 4


def test_unknown_path_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="m", prompt="legacy endpoint")
