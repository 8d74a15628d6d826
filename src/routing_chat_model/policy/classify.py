"""Classify a provider exception without importing any provider SDK.

Provider clients (openai, anthropic, mistral, google, ollama...) raise their own exception
types; all carry either an HTTP status (`status_code`, or `response.status_code`) or a
recognisable class name, and the transport underneath raises httpx or builtin errors. Reading
those by duck typing keeps the core free of SDK imports.
"""

from __future__ import annotations

import asyncio
import enum

__all__ = ["ErrorKind", "classify_error", "status_code_of"]


class ErrorKind(str, enum.Enum):
    """What kind of failure an exception is, for the fallback policy."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    CONTEXT_WINDOW = "context_window"
    """The prompt is longer than the model's context window (a bigger model can serve it)."""
    CONTENT_FILTER = "content_filter"
    """The provider refused the content (another provider may not)."""
    OTHER = "other"
    """Not a provider failure (a bug, a user callback's error): never triggers fallback."""


_BY_NAME: tuple[tuple[str, ErrorKind], ...] = (
    # order matters: openai's APITimeoutError subclasses APIConnectionError
    # langchain-core's provider-neutral errors (integrations raise subclasses of these)
    ("ModelRateLimitError", ErrorKind.RATE_LIMIT),
    ("ModelTimeoutError", ErrorKind.TIMEOUT),
    ("ModelConnectionError", ErrorKind.CONNECTION),
    ("ModelAPIError", ErrorKind.SERVER_ERROR),
    ("ModelAuthenticationError", ErrorKind.CLIENT_ERROR),
    ("ModelPermissionDeniedError", ErrorKind.CLIENT_ERROR),
    ("ModelInvalidRequestError", ErrorKind.CLIENT_ERROR),
    ("ModelNotFoundError", ErrorKind.CLIENT_ERROR),
    ("ContextOverflowError", ErrorKind.CLIENT_ERROR),
    # provider SDKs (openai, anthropic, mistral, google...)
    ("RateLimitError", ErrorKind.RATE_LIMIT),
    ("TooManyRequests", ErrorKind.RATE_LIMIT),
    ("ResourceExhausted", ErrorKind.RATE_LIMIT),
    ("APITimeoutError", ErrorKind.TIMEOUT),
    ("DeadlineExceeded", ErrorKind.TIMEOUT),
    ("APIConnectionError", ErrorKind.CONNECTION),
    ("ServiceUnavailable", ErrorKind.SERVER_ERROR),
    ("ServiceUnavailableError", ErrorKind.SERVER_ERROR),
    ("InternalServerError", ErrorKind.SERVER_ERROR),
    ("OverloadedError", ErrorKind.SERVER_ERROR),
    ("AuthenticationError", ErrorKind.CLIENT_ERROR),
    ("PermissionDeniedError", ErrorKind.CLIENT_ERROR),
    ("BadRequestError", ErrorKind.CLIENT_ERROR),
    ("NotFoundError", ErrorKind.CLIENT_ERROR),
    # transports, by name so that no HTTP client is imported: httpx and its forks (openai 3.x
    # ships on httpx2) share these names
    ("TimeoutException", ErrorKind.TIMEOUT),
    ("NetworkError", ErrorKind.CONNECTION),
    ("RemoteProtocolError", ErrorKind.CONNECTION),
)


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, if any."""
    for holder in (exc, getattr(exc, "response", None)):
        for attr in ("status_code", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and 100 <= value <= 599:
                return value
    code = getattr(exc, "code", None)  # google.api_core / grpc-style errors
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    return None


def _kind_of_status(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status == 408:
        return ErrorKind.TIMEOUT
    if status >= 500:
        return ErrorKind.SERVER_ERROR
    return ErrorKind.CLIENT_ERROR


def classify_error(exc: BaseException) -> ErrorKind:
    """Classify `exc` (or the provider error it wraps) into an `ErrorKind`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _classify_one(current)
        if kind is not ErrorKind.OTHER:
            return kind
        current = current.__cause__
    return ErrorKind.OTHER


def _classify_one(exc: BaseException) -> ErrorKind:
    names = {cls.__name__ for cls in type(exc).__mro__}
    for name, kind in _BY_NAME:
        if name in names:
            return kind
    status = status_code_of(exc)
    if status is not None and status >= 400:
        return _kind_of_status(status)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ErrorKind.TIMEOUT
    if isinstance(exc, ConnectionError):
        return ErrorKind.CONNECTION
    return ErrorKind.OTHER
