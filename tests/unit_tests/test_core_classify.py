"""Error classification with the real exception types of provider clients and transports."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import httpx
import openai
import pytest

from routing_chat_model import ErrorKind, FallbackPolicy, RouteConfigError, classify_error

# openai 3.x builds on httpx2, a fork of httpx: its errors carry that package's objects.
_openai_errors = importlib.import_module("openai._exceptions")
openai_http: Any = getattr(_openai_errors, "httpx2", None) or _openai_errors.httpx
REQUEST = openai_http.Request("POST", "http://127.0.0.1/v1/chat/completions")
HTTPX_REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int) -> openai.APIStatusError:
    return cls("boom", response=openai_http.Response(status, request=REQUEST), body=None)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (status_error(openai.RateLimitError, 429), ErrorKind.RATE_LIMIT),
        (status_error(openai.InternalServerError, 500), ErrorKind.SERVER_ERROR),
        (status_error(openai.APIStatusError, 503), ErrorKind.SERVER_ERROR),
        (status_error(openai.BadRequestError, 400), ErrorKind.CLIENT_ERROR),
        (status_error(openai.AuthenticationError, 401), ErrorKind.CLIENT_ERROR),
        (status_error(openai.NotFoundError, 404), ErrorKind.CLIENT_ERROR),
        (openai.APITimeoutError(request=REQUEST), ErrorKind.TIMEOUT),
        (openai.APIConnectionError(request=REQUEST), ErrorKind.CONNECTION),
        (httpx.ConnectError("refused"), ErrorKind.CONNECTION),
        (httpx.ReadTimeout("slow"), ErrorKind.TIMEOUT),
        (httpx.RemoteProtocolError("cut"), ErrorKind.CONNECTION),
        (openai_http.ConnectError("refused"), ErrorKind.CONNECTION),
        (openai_http.ReadTimeout("slow"), ErrorKind.TIMEOUT),
        (ConnectionResetError(), ErrorKind.CONNECTION),
        (asyncio.TimeoutError(), ErrorKind.TIMEOUT),
        (TimeoutError(), ErrorKind.TIMEOUT),
        (ValueError("bug"), ErrorKind.OTHER),
        (TypeError("bug"), ErrorKind.OTHER),
    ],
)
def test_classify_real_exceptions(exc: BaseException, kind: ErrorKind) -> None:
    assert classify_error(exc) is kind


def test_httpx_status_error_and_wrapped_cause() -> None:
    response = httpx.Response(429, request=HTTPX_REQUEST)
    exc = httpx.HTTPStatusError("slow down", request=HTTPX_REQUEST, response=response)
    assert classify_error(exc) is ErrorKind.RATE_LIMIT
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert classify_error(outer) is ErrorKind.CONNECTION


def test_policy_defaults_and_extra_exception_types() -> None:
    class MyProviderDown(Exception):
        pass

    policy = FallbackPolicy.build(exceptions=[MyProviderDown])
    assert policy.classify(MyProviderDown())[1]
    assert policy.classify(status_error(openai.RateLimitError, 429)) == (ErrorKind.RATE_LIMIT, True)
    assert policy.classify(status_error(openai.BadRequestError, 400)) == (
        ErrorKind.CLIENT_ERROR,
        False,
    )
    narrow = FallbackPolicy.build(on=["rate_limit"])
    assert not narrow.classify(status_error(openai.InternalServerError, 500))[1]
    with pytest.raises(RouteConfigError, match="unknown error kind"):
        FallbackPolicy.build(on=["gremlins"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ModelRateLimitError", ErrorKind.RATE_LIMIT),
        ("ModelTimeoutError", ErrorKind.TIMEOUT),
        ("ModelConnectionError", ErrorKind.CONNECTION),
        ("ModelAPIError", ErrorKind.SERVER_ERROR),
        ("ModelAuthenticationError", ErrorKind.CLIENT_ERROR),
        ("ModelInvalidRequestError", ErrorKind.CLIENT_ERROR),
        ("ContextOverflowError", ErrorKind.CONTEXT_WINDOW),
    ],
)
def test_langchain_core_provider_neutral_errors(name: str, kind: ErrorKind) -> None:
    import langchain_core.exceptions

    error_type = getattr(langchain_core.exceptions, name)
    assert classify_error(error_type("boom")) is kind
