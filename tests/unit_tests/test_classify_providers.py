"""Error classification with the exceptions the real provider clients raise.

Each case drives the real SDK client (openai, anthropic, google-genai, mistralai, ollama,
langchain-openai's `ChatOpenAI`, llama-index's `OpenAI`) through an in-memory `MockTransport`
that answers the way the provider does (status, headers, body in the provider's own error
format), so the exception is built by the SDK exactly as in production, then classified.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import anthropic
import httpx
import httpx2
import multidict
import ollama
import openai
import pytest
import requests
import yarl
from google import genai
from google.genai import types as genai_types
from langchain_core import exceptions as lc_exceptions
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai import OpenAI as LlamaOpenAI
from mistralai.client import Mistral

from routing_chat_model import ErrorKind, classify_error

USER: Any = [{"role": "user", "content": "hi"}]
Body = dict[str, Any] | str
Handler = Callable[[Any], Any]

# -- provider error bodies, in each provider's documented format --------------------------------

OPENAI_CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9120 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
OPENAI_FLAGGED = {
    "error": {
        "message": "Invalid prompt: your prompt was flagged as potentially violating our usage "
        "policy. Please try again with a different prompt.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_prompt",
    }
}
AZURE_CONTENT_FILTER = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation"},
    }
}
OPENAI_BAD_REQUEST = {
    "error": {
        "message": "Invalid value for 'temperature': expected a number.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": None,
    }
}


def openai_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


# -- transports ----------------------------------------------------------------------------------


def answering(http: Any, status: int, body: Body, headers: dict[str, str] | None = None) -> Any:
    """A MockTransport (of httpx or httpx2) answering every request with `status` and `body`."""

    def handler(request: Any) -> Any:
        if isinstance(body, dict):
            return http.Response(status, json=body, headers=headers or {})
        content_type = {"content-type": "text/event-stream"}
        return http.Response(status, content=body.encode(), headers=headers or content_type)

    return http.MockTransport(handler)


def raising(http: Any, error: str) -> Any:
    """A MockTransport whose every request fails in the transport (`ConnectError`, ...)."""

    def handler(request: Any) -> Any:
        raise getattr(http, error)("scripted transport failure", request=request)

    return http.MockTransport(handler)


def caught(call: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


# -- one call per client -------------------------------------------------------------------------


def call_openai(transport: Any, *, stream: bool = False) -> BaseException:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://provider.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )
    if stream:
        return caught(
            lambda: list(client.chat.completions.create(model="m", messages=USER, stream=True))
        )
    return caught(lambda: client.chat.completions.create(model="m", messages=USER))


def call_anthropic(transport: Any, *, stream: bool = False) -> BaseException:
    client = anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://provider.test",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )
    if stream:
        return caught(
            lambda: list(
                client.messages.create(model="c", max_tokens=8, messages=USER, stream=True)
            )
        )
    return caught(lambda: client.messages.create(model="c", max_tokens=8, messages=USER))


class Relay:
    """A MockTransport that hands each request to the transport the current test set.

    google-genai and mistralai clients take ~0.1-0.5 s to build, so each is built once.
    """

    def __init__(self, http: Any) -> None:
        self.target: Any = None
        self.transport = http.MockTransport(self.handle)

    def handle(self, request: Any) -> Any:
        return self.target.handler(request)


GOOGLE_RELAY = Relay(httpx2)
MISTRAL_RELAY = Relay(httpx2)


@functools.cache
def google_client() -> genai.Client:
    transport = {"transport": GOOGLE_RELAY.transport}
    options = genai_types.HttpOptions(
        base_url="http://provider.test", client_args=transport, async_client_args=transport
    )
    return genai.Client(api_key="test-key", http_options=options)


@functools.cache
def mistral_client() -> Mistral:
    return Mistral(
        api_key="test-key",
        server_url="http://provider.test",
        client=httpx2.Client(transport=MISTRAL_RELAY.transport),
    )


def call_google(transport: Any) -> BaseException:
    GOOGLE_RELAY.target = transport
    client = google_client()
    return caught(lambda: client.models.generate_content(model="gemini-2.5-flash", contents="hi"))


def call_google_async(transport: Any) -> BaseException:
    GOOGLE_RELAY.target = transport
    client = google_client()

    async def call() -> object:
        return await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")

    return caught(lambda: asyncio.run(call()))


def call_mistral(transport: Any) -> BaseException:
    MISTRAL_RELAY.target = transport
    client = mistral_client()
    return caught(lambda: client.chat.complete(model="mistral-small-latest", messages=USER))


def call_ollama(transport: Any, *, stream: bool = False) -> BaseException:
    client = ollama.Client(host="http://provider.test", transport=transport)
    if stream:
        return caught(lambda: list(client.chat(model="llama3", messages=USER, stream=True)))
    return caught(lambda: client.chat(model="llama3", messages=USER))


def call_chat_openai(transport: Any) -> BaseException:
    model = ChatOpenAI(
        model="gpt-4o-mini",
        base_url="http://provider.test/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )
    return caught(lambda: model.invoke("hi"))


def call_llama_openai(transport: Any) -> BaseException:
    llm = LlamaOpenAI(
        model="gpt-4o-mini",
        api_base="http://provider.test/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )
    return caught(lambda: llm.chat([ChatMessage(role="user", content="hi")]))


# -- openai and the framework clients built on it ------------------------------------------------

OPENAI_CASES = [
    pytest.param(429, openai_error(429, "requests", "Rate limit reached"), "rate_limit", id="429"),
    pytest.param(500, openai_error(500, "server_error", "Internal"), "server_error", id="500"),
    pytest.param(503, openai_error(503, "server_error", "Overloaded"), "server_error", id="503"),
    pytest.param(504, openai_error(504, "server_error", "Gateway"), "timeout", id="504"),
    pytest.param(408, openai_error(408, "timeout", "Request timed out"), "timeout", id="408"),
    pytest.param(400, OPENAI_BAD_REQUEST, "client_error", id="400"),
    pytest.param(
        401, openai_error(401, "invalid_api_key", "Incorrect key"), "client_error", id="401"
    ),
    pytest.param(
        404, openai_error(404, "invalid_request_error", "No model"), "client_error", id="404"
    ),
    pytest.param(400, OPENAI_CONTEXT, "context_window", id="context_length_exceeded"),
    pytest.param(400, OPENAI_FLAGGED, "content_filter", id="invalid_prompt"),
    pytest.param(400, AZURE_CONTENT_FILTER, "content_filter", id="azure_content_filter"),
]


@pytest.mark.parametrize("call", [call_openai, call_chat_openai, call_llama_openai])
@pytest.mark.parametrize(("status", "body", "kind"), OPENAI_CASES)
def test_openai_status_errors(
    call: Callable[[Any], BaseException], status: int, body: Body, kind: str
) -> None:
    error = call(answering(httpx, status, body))
    assert classify_error(error) is ErrorKind(kind)


def test_chat_openai_raises_context_overflow_as_both_types() -> None:
    """langchain-openai re-raises it as `BadRequestError` *and* `ContextOverflowError`: the
    context-window kind must win over the generic bad-request one."""
    error = call_chat_openai(answering(httpx, 400, OPENAI_CONTEXT))
    assert isinstance(error, openai.BadRequestError)
    assert isinstance(error, lc_exceptions.ContextOverflowError)
    assert classify_error(error) is ErrorKind.CONTEXT_WINDOW


@pytest.mark.parametrize("call", [call_openai, call_chat_openai, call_llama_openai])
@pytest.mark.parametrize(
    ("transport_error", "kind"),
    [
        ("ConnectError", "connection"),
        ("ReadError", "connection"),
        ("RemoteProtocolError", "connection"),
        ("ConnectTimeout", "timeout"),
        ("ReadTimeout", "timeout"),
    ],
)
def test_openai_transport_errors(
    call: Callable[[Any], BaseException], transport_error: str, kind: str
) -> None:
    error = call(raising(httpx, transport_error))
    assert classify_error(error) is ErrorKind(kind)


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"message": "The server had an error", "type": "server_error"}, "server_error"),
        ({"message": "Rate limit reached", "type": "rate_limit_exceeded"}, "rate_limit"),
        (
            {"message": "x", "type": "invalid_request_error", "code": "context_length_exceeded"},
            "context_window",
        ),
        ({"message": "stream failed"}, "server_error"),
    ],
)
def test_openai_error_inside_a_200_stream(event: dict[str, Any], kind: str) -> None:
    """An `{"error": ...}` SSE event: openai raises a bare `APIError` with no status."""
    sse = f"data: {json.dumps({'error': event})}\n\n"
    error = call_openai(answering(httpx, 200, sse), stream=True)
    assert type(error) is openai.APIError
    assert classify_error(error) is ErrorKind(kind)


def test_openai_malformed_json_body_is_a_server_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"id": "x", "choices": [', headers=JSON_HEADERS)

    error = call_openai(httpx.MockTransport(handler))
    assert isinstance(error, json.JSONDecodeError)
    assert classify_error(error) is ErrorKind.SERVER_ERROR


JSON_HEADERS = {"content-type": "application/json"}

# -- anthropic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            429,
            anthropic_error("rate_limit_error", "Number of request tokens has exceeded"),
            "rate_limit",
        ),
        (500, anthropic_error("api_error", "Internal server error"), "server_error"),
        (529, anthropic_error("overloaded_error", "Overloaded"), "server_error"),
        (504, anthropic_error("timeout_error", "Request timed out"), "timeout"),
        (
            400,
            anthropic_error("invalid_request_error", "max_tokens: Field required"),
            "client_error",
        ),
        (401, anthropic_error("authentication_error", "invalid x-api-key"), "client_error"),
        (
            413,
            anthropic_error("request_too_large", "Request exceeds the maximum size"),
            "client_error",
        ),
        (
            400,
            anthropic_error(
                "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"
            ),
            "context_window",
        ),
        (
            400,
            anthropic_error("invalid_request_error", "Output blocked by content filtering policy"),
            "content_filter",
        ),
    ],
)
def test_anthropic_status_errors(status: int, body: Body, kind: str) -> None:
    error = call_anthropic(answering(httpx2, status, body))
    assert isinstance(error, anthropic.APIStatusError)
    assert classify_error(error) is ErrorKind(kind)


ANTHROPIC_START = (
    "event: message_start\ndata: "
    + json.dumps(
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        }
    )
    + "\n\n"
)


@pytest.mark.parametrize(
    ("error_type", "message", "kind"),
    [
        ("overloaded_error", "Overloaded", "server_error"),
        ("api_error", "Internal server error", "server_error"),
        ("rate_limit_error", "Rate limited", "rate_limit"),
        ("invalid_request_error", "Output blocked by content filtering policy", "content_filter"),
    ],
)
def test_anthropic_error_event_inside_a_200_stream(
    error_type: str, message: str, kind: str
) -> None:
    """Anthropic sends `event: error` after `200 OK` (overloaded mid-stream, litellm #6957):
    the SDK raises a plain `APIStatusError` whose status is 200."""
    sse = (
        ANTHROPIC_START
        + f"event: error\ndata: {json.dumps(anthropic_error(error_type, message))}\n\n"
    )
    error = call_anthropic(answering(httpx2, 200, sse), stream=True)
    assert type(error) is anthropic.APIStatusError and error.status_code == 200
    assert classify_error(error) is ErrorKind(kind)


@pytest.mark.parametrize(
    ("transport_error", "kind"), [("ConnectError", "connection"), ("ReadTimeout", "timeout")]
)
def test_anthropic_transport_errors(transport_error: str, kind: str) -> None:
    error = call_anthropic(raising(httpx2, transport_error))
    assert isinstance(error, anthropic.APIConnectionError)
    assert classify_error(error) is ErrorKind(kind)


# -- google-genai ----------------------------------------------------------------------------------

GOOGLE_CASES = [
    (429, google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted"), "rate_limit"),
    (500, google_error(500, "INTERNAL", "An internal error has occurred"), "server_error"),
    (503, google_error(503, "UNAVAILABLE", "The model is overloaded"), "server_error"),
    (504, google_error(504, "DEADLINE_EXCEEDED", "Deadline expired"), "timeout"),
    (400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload"), "client_error"),
    (403, google_error(403, "PERMISSION_DENIED", "API key not valid"), "client_error"),
    (
        400,
        google_error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        "context_window",
    ),
]


@pytest.mark.parametrize("call", [call_google, call_google_async])
@pytest.mark.parametrize(("status", "body", "kind"), GOOGLE_CASES)
def test_google_genai_errors(
    call: Callable[[Any], BaseException], status: int, body: Body, kind: str
) -> None:
    error = call(answering(httpx2, status, body))
    assert isinstance(error, genai.errors.APIError)
    assert classify_error(error) is ErrorKind(kind)


@pytest.mark.parametrize(
    ("transport_error", "kind"), [("ConnectError", "connection"), ("ReadTimeout", "timeout")]
)
def test_google_genai_transport_errors(transport_error: str, kind: str) -> None:
    error = call_google(raising(httpx2, transport_error))
    assert classify_error(error) is ErrorKind(kind)


# -- mistralai -------------------------------------------------------------------------------------


def mistral_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": None}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"message": "Requests rate limit exceeded"}, "rate_limit"),
        (500, mistral_error("Internal server error", "internal_server_error"), "server_error"),
        (503, mistral_error("Service unavailable", "service_unavailable"), "server_error"),
        (401, {"message": "Unauthorized", "request_id": "r"}, "client_error"),
        (400, mistral_error("Invalid model: nope"), "client_error"),
        (
            400,
            mistral_error(
                "Prompt contains 40000 tokens and 0 draft tokens, too large for model with "
                "32768 maximum context length"
            ),
            "context_window",
        ),
    ],
)
def test_mistral_errors(status: int, body: Body, kind: str) -> None:
    error = call_mistral(answering(httpx2, status, body))
    assert type(error).__name__ == "SDKError"
    assert classify_error(error) is ErrorKind(kind)


@pytest.mark.parametrize(
    ("transport_error", "kind"), [("ConnectError", "connection"), ("ReadTimeout", "timeout")]
)
def test_mistral_transport_errors(transport_error: str, kind: str) -> None:
    assert classify_error(call_mistral(raising(httpx2, transport_error))) is ErrorKind(kind)


# -- ollama ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, {"error": "model 'llama3' not found, try pulling it first"}, "client_error"),
        (400, {"error": "invalid options"}, "client_error"),
        (429, {"error": "too many requests"}, "rate_limit"),
        (500, {"error": "llama runner process has terminated: signal: killed"}, "server_error"),
        (
            503,
            {"error": "server busy, please try again. maximum pending requests exceeded"},
            "server_error",
        ),
        (400, {"error": "the input length exceeds the context length"}, "context_window"),
    ],
)
def test_ollama_response_errors(status: int, body: Body, kind: str) -> None:
    error = call_ollama(answering(httpx, status, body))
    assert isinstance(error, ollama.ResponseError) and error.status_code == status
    assert classify_error(error) is ErrorKind(kind)


def test_ollama_error_line_inside_a_200_stream() -> None:
    """Ollama streams JSON lines; an `{"error": ...}` line raises `ResponseError` with status -1."""
    lines = '{"error": "an error was encountered while running the model: unexpected EOF"}\n'
    error = call_ollama(answering(httpx, 200, lines), stream=True)
    assert isinstance(error, ollama.ResponseError) and error.status_code == -1
    assert classify_error(error) is ErrorKind.SERVER_ERROR


def test_ollama_unreachable_is_a_connection_error() -> None:
    """The ollama client turns `httpx.ConnectError` into the builtin `ConnectionError`."""
    error = call_ollama(raising(httpx, "ConnectError"))
    assert type(error) is ConnectionError
    assert classify_error(error) is ErrorKind.CONNECTION


# -- langchain-core, transports, and what must not fall back --------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ModelRateLimitError", "rate_limit"),
        ("ModelTimeoutError", "timeout"),
        ("ModelConnectionError", "connection"),
        ("ModelAPIError", "server_error"),
        ("ModelAuthenticationError", "client_error"),
        ("ModelPermissionDeniedError", "client_error"),
        ("ModelInvalidRequestError", "client_error"),
        ("ModelNotFoundError", "client_error"),
        ("ContextOverflowError", "context_window"),
        ("ModelRefusalError", "content_filter"),
    ],
)
def test_langchain_core_model_errors(name: str, kind: str) -> None:
    error_type = getattr(lc_exceptions, name)
    assert classify_error(error_type("boom")) is ErrorKind(kind)


def test_langchain_core_model_error_subclass_follows_is_retryable() -> None:
    class FlakyProviderError(lc_exceptions.ModelError):
        is_retryable = True

    class RejectedError(lc_exceptions.ModelError):
        pass

    assert classify_error(FlakyProviderError("x")) is ErrorKind.SERVER_ERROR
    assert classify_error(RejectedError("x")) is ErrorKind.CLIENT_ERROR


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (requests.exceptions.ConnectionError("refused"), "connection"),
        (requests.exceptions.ChunkedEncodingError("cut"), "connection"),
        (requests.exceptions.ReadTimeout("slow"), "timeout"),
        (requests.exceptions.ConnectTimeout("slow"), "timeout"),
        (aiohttp.ServerDisconnectedError(), "connection"),
        (aiohttp.ServerTimeoutError("slow"), "timeout"),
        (httpx2.RemoteProtocolError("peer closed connection"), "connection"),
        (httpx.PoolTimeout("pool"), "timeout"),
        (ConnectionResetError(), "connection"),
        (TimeoutError(), "timeout"),
    ],
)
def test_transport_errors_of_other_http_stacks(error: BaseException, kind: str) -> None:
    assert classify_error(error) is ErrorKind(kind)


def test_aiohttp_response_error_uses_its_status() -> None:
    url = yarl.URL("http://provider.test")
    info = aiohttp.RequestInfo(
        url, "POST", multidict.CIMultiDictProxy(multidict.CIMultiDict()), url
    )
    error = aiohttp.ClientResponseError(info, (), status=503, message="Service Unavailable")
    assert classify_error(error) is ErrorKind.SERVER_ERROR


@pytest.mark.parametrize(
    "error",
    [
        ValueError("prompt is too long"),  # the words alone do not make it a provider error
        TypeError("rate limit"),
        KeyError("content_filter"),
        RuntimeError("internal server error"),
        genai.errors.UnknownFunctionCallArgumentError("bad arg"),
    ],
)
def test_non_provider_errors_never_fall_back(error: BaseException) -> None:
    assert classify_error(error) is ErrorKind.OTHER


def test_classification_follows_the_cause_chain() -> None:
    inner = call_openai(answering(httpx, 400, OPENAI_CONTEXT))
    try:
        try:
            raise inner
        except openai.BadRequestError as exc:
            raise RuntimeError("wrapped by a callback") from exc
    except RuntimeError as outer:
        assert classify_error(outer) is ErrorKind.CONTEXT_WINDOW


def test_a_broken_str_does_not_break_classification() -> None:
    class Weird(openai.APIError):
        def __str__(self) -> str:
            raise RuntimeError("no")

    error = Weird("x", httpx.Request("POST", "http://provider.test"), body=None)
    assert classify_error(error) is ErrorKind.SERVER_ERROR
