"""The loopback server's faults, as the real `openai` client sees them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.openai_server import OpenAIServer

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "one two three four"}]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(name="alpha") as srv:
        yield srv


@pytest.fixture
def client(server: OpenAIServer) -> Iterator[openai.OpenAI]:
    server.reset()
    with openai.OpenAI(
        base_url=server.base_url, api_key="test-key", max_retries=0, timeout=5
    ) as client:
        yield client


def stream_text(client: openai.OpenAI, received: list[str]) -> None:
    for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
        if chunk.choices:
            received.append(chunk.choices[0].delta.content or "")


def test_rate_limit_sends_openai_code_and_both_retry_headers(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.rate_limit_next(retry_after=1, retry_after_ms=1500)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.response.headers["retry-after-ms"] == "1500"


def test_context_length_error_is_openais_exact_format(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.context_length_next(limit=4096, used=5000)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.code == "context_length_exceeded"
    assert info.value.param == "messages"
    assert info.value.message.startswith("Error code: 400")
    assert "maximum context length is 4096 tokens" in info.value.message


def test_content_filter_refusal(server: OpenAIServer, client: openai.OpenAI) -> None:
    server.content_filter_next()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.code == "content_filter"
    assert isinstance(info.value.body, dict)
    assert info.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"


def test_malformed_body_and_malformed_chunk(server: OpenAIServer, client: openai.OpenAI) -> None:
    server.malformed_next()
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=USER)

    server.malformed_next(after_chunks=2)
    received: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        stream_text(client, received)
    assert "".join(received) == "alpha: one "


def test_error_event_ends_the_stream_with_an_api_error(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.error_event_next(after_chunks=1, type="server_error")
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        stream_text(client, received)
    assert type(info.value) is openai.APIError and info.value.type == "server_error"
    assert "".join(received) == "alpha: "

    server.error_event_next()  # a non-streaming request gets the error as a 500
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=USER)


def test_stall_pauses_a_stream_then_completes_it(
    server: OpenAIServer, client: openai.OpenAI
) -> None:
    server.stall_next(1.0, after_chunks=1)
    received: list[str] = []
    with pytest.raises(httpx.ReadTimeout):  # openai 2.x lets a mid-stream read timeout through
        for chunk in client.with_options(timeout=0.2).chat.completions.create(
            model="m", messages=USER, stream=True
        ):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "alpha: "

    server.stall_next(0.05, after_chunks=1)  # a short pause is only a pause
    received = []
    stream_text(client, received)
    assert "".join(received) == "alpha: one two three four"


def test_faults_are_per_request_and_recorded(server: OpenAIServer, client: openai.OpenAI) -> None:
    server.fail_next(503)
    server.context_length_next()
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=USER)
    assert client.chat.completions.create(model="m", messages=USER).choices
    assert len(server.requests_to("chat/completions")) == 3
