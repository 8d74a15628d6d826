"""Fault scripting for `OpenAIServer`: what the next request(s) to an endpoint get instead of a
normal answer, with errors in OpenAI's own format.

Faults queue per endpoint and are used in order, one per request. Positions inside a stream
(`after_chunks`) count content chunks after the first, role-only chunk, so `after_chunks=0` acts
before any text and `after_chunks=2` after two pieces of text reached the client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ENDPOINTS",
    "ERROR_TYPES",
    "Endpoint",
    "Fault",
    "FaultScript",
    "error_body",
]

Endpoint = Literal["chat/completions", "embeddings", "models"]
ENDPOINTS: tuple[Endpoint, ...] = ("chat/completions", "embeddings", "models")

ERROR_TYPES = {
    400: ("invalid_request_error", "Bad request"),
    401: ("authentication_error", "Incorrect API key provided"),
    403: ("permission_error", "Permission denied"),
    404: ("not_found_error", "Not found"),
    408: ("timeout_error", "Request timed out"),
    409: ("conflict_error", "Conflict"),
    422: ("invalid_request_error", "Unprocessable entity"),
    429: ("rate_limit_exceeded", "Rate limit reached, please try again later"),
    500: ("server_error", "The server had an error while processing your request"),
    502: ("server_error", "Bad gateway"),
    503: ("server_error", "The engine is currently overloaded, please try again later"),
    504: ("server_error", "Gateway timeout"),
}

FaultKind = Literal["fail", "hang", "drop", "stall", "malformed", "error_event"]


@dataclass
class Fault:
    """One scripted fault (see the `FaultScript` methods for what each kind does)."""

    kind: FaultKind
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    seconds: float = 0.0
    after_chunks: int | None = None
    error: dict[str, Any] | None = None


def error_body(
    message: str, *, type: str | None, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An error body in OpenAI's format: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _raw(body: str | bytes | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


class FaultScript:
    """The scripting half of `OpenAIServer`: queue faults for the next requests."""

    def _push(self, endpoint: str, fault: Fault, times: int) -> None:
        raise NotImplementedError

    def fail_next(
        self,
        status: int = 500,
        *,
        endpoint: Endpoint = "chat/completions",
        headers: Mapping[str, str] | None = None,
        body: str | bytes | Mapping[str, Any] | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests to `endpoint` with HTTP `status`.

        Args:
            status: The status code, e.g. 429, 500, 503, 400, 401.
            endpoint: Which endpoint's queue the fault joins.
            headers: Extra response headers, e.g. `{"Retry-After": "2"}`.
            body: The response body; by default an OpenAI-style `{"error": {...}}`.
            message: The `error.message` of the default body.
            times: How many consecutive requests fail.
        """
        if body is None:
            kind, default_message = ERROR_TYPES.get(status, ("api_error", "Error"))
            body = error_body(message or default_message, type=kind, code=str(status))
        fault = Fault("fail", status=status, headers=dict(headers or {}), body=_raw(body))
        self._push(endpoint, fault, times)

    def rate_limit_next(
        self,
        retry_after: str | float | None = None,
        *,
        retry_after_ms: str | float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next chat request(s) with OpenAI's 429 `rate_limit_exceeded`.

        Args:
            retry_after: The `Retry-After` header (seconds or an HTTP date); None sends none.
            retry_after_ms: The `retry-after-ms` header OpenAI also sends; None sends none.
            times: How many consecutive requests are limited.
        """
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        body = error_body(
            "Rate limit reached for gpt-4o in organization org-test on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 20s.",
            type="requests",
            code="rate_limit_exceeded",
        )
        self.fail_next(429, headers=headers, body=body, times=times)

    def context_length_next(self, *, limit: int = 8192, used: int = 9120, times: int = 1) -> None:
        """Answer the next chat request(s) with OpenAI's exact 400 `context_length_exceeded`."""
        body = error_body(
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {used} tokens. Please reduce the length of the messages.",
            type="invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        )
        self.fail_next(400, body=body, times=times)

    def content_filter_next(self, *, times: int = 1) -> None:
        """Refuse the next chat request(s) for content: a 400 with code `content_filter`.

        The body is Azure OpenAI's (the OpenAI-compatible API that rejects prompts this way);
        a completion cut by the filter is a normal reply instead:
        `reply_next(Reply("...", finish_reason="content_filter"))`.
        """
        body = error_body(
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy. Please modify your prompt and retry.",
            type=None,
            code="content_filter",
            param="prompt",
        )
        body["error"]["status"] = 400
        body["error"]["innererror"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
        }
        self.fail_next(400, body=body, times=times)

    def hang_next(
        self, seconds: float, *, endpoint: Endpoint = "chat/completions", times: int = 1
    ) -> None:
        """Send nothing for `seconds` (a slow first byte), then answer the request normally."""
        self._push(endpoint, Fault("hang", seconds=seconds), times)

    def drop_next(
        self,
        *,
        endpoint: Endpoint = "chat/completions",
        after_chunks: int | None = None,
        times: int = 1,
    ) -> None:
        """Close the connection of the next request(s) without a (complete) response.

        Args:
            endpoint: Which endpoint's queue the fault joins.
            after_chunks: None closes before any response. For a streaming chat request, a
                number sends that many content chunks first, then cuts the stream.
            times: How many consecutive requests are dropped.
        """
        self._push(endpoint, Fault("drop", after_chunks=after_chunks), times)

    def stall_next(self, seconds: float, *, after_chunks: int = 0, times: int = 1) -> None:
        """Stall the next chat stream(s) for `seconds` after `after_chunks` content chunks.

        The status line, headers and the role chunk are sent at once, so the client sees a
        `200` and then silence (a stall mid-stream, or before the first token with
        `after_chunks=0`); after the pause the stream completes normally. A non-streaming
        request stalls before its response, like `hang_next`.
        """
        self._push(
            "chat/completions", Fault("stall", seconds=seconds, after_chunks=after_chunks), times
        )

    def malformed_next(self, *, after_chunks: int | None = None, times: int = 1) -> None:
        """Answer the next chat request(s) with JSON that does not parse.

        Args:
            after_chunks: None sends a `200` whose body is truncated JSON (the whole response
                for a non-streaming request; the first event for a stream). A number sends that
                many good content chunks of a stream, then a truncated one, then the rest.
            times: How many consecutive requests get it.
        """
        self._push("chat/completions", Fault("malformed", after_chunks=after_chunks), times)

    def error_event_next(
        self,
        *,
        after_chunks: int = 0,
        message: str = "The server had an error while processing your request.",
        type: str = "server_error",
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """Send an in-band `data: {"error": {...}}` event in the next chat stream(s).

        After `after_chunks` content chunks the error event is sent and the stream ends (no
        finish chunk, no `[DONE]`), as OpenAI-compatible servers do when generation fails after
        the `200`. A non-streaming request gets the same error with status 500.
        """
        error = {"message": message, "type": type, "param": None, "code": code}
        fault = Fault("error_event", after_chunks=after_chunks, error=error)
        self._push("chat/completions", fault, times)
