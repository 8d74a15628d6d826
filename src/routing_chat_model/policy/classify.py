"""Classify a provider exception without importing any provider SDK.

Provider clients (openai, anthropic, google-genai, google-api-core, mistralai, ollama, and the
LangChain and LlamaIndex packages built on them) raise their own exception types; the transports
underneath (httpx and its fork httpx2, aiohttp, requests) raise theirs. All of them can be read by
duck typing: the class names along the MRO, the HTTP status (`status_code`, `status`, `code`, or
`response.status_code`), and the provider's error code and message (`code`, `type`, `status`,
`error_code`, `str(exc)`). Keeping the SDKs out of the core keeps it importable without any.

The order of the checks, and why:

1. Unambiguous class names: langchain-core's `ContextOverflowError` and `ModelRefusalError`, rate
   limits, transport failures (timeouts, connection errors) that carry no HTTP status, and
   `JSONDecodeError` (the provider answered with a malformed body: a server error).
2. The HTTP status: 429 rate limit; 408 and 504 timeout (the provider may have accepted, and
   billed, the request); other 5xx server error; other 4xx client error unless the error's code
   or message says the prompt overflowed the context window or a content filter refused it.
3. Status-less errors of a known category (langchain-core's `Model*Error`, SDK base names).
4. Errors a provider sent inside a 200 response (an SSE `error` event mid-stream: Anthropic's
   `overloaded_error`, OpenAI's in-band `{"error": ...}`, Ollama's `{"error": ...}` line): kind
   from their error type, else a server error.
5. Builtin `TimeoutError` / `ConnectionError`. Anything else is `OTHER`: a bug or a user
   callback's error, which must propagate rather than trigger fallback.
"""

from __future__ import annotations

import asyncio
import enum
import re

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


_DECISIVE: tuple[tuple[str, ErrorKind], ...] = (
    # Checked before the HTTP status. Order matters: openai's and anthropic's APITimeoutError
    # subclass APIConnectionError; aiohttp's ServerTimeoutError subclasses ClientConnectionError.
    ("ContextOverflowError", ErrorKind.CONTEXT_WINDOW),  # langchain-core (OpenAI's wrapper too)
    ("ModelRefusalError", ErrorKind.CONTENT_FILTER),  # langchain-core
    ("ModelRateLimitError", ErrorKind.RATE_LIMIT),
    ("RateLimitError", ErrorKind.RATE_LIMIT),  # openai, anthropic
    ("TooManyRequests", ErrorKind.RATE_LIMIT),  # google.api_core
    ("ResourceExhausted", ErrorKind.RATE_LIMIT),  # google.api_core
    ("ModelTimeoutError", ErrorKind.TIMEOUT),
    ("APITimeoutError", ErrorKind.TIMEOUT),  # openai, anthropic
    ("DeadlineExceeded", ErrorKind.TIMEOUT),  # google.api_core
    ("TimeoutException", ErrorKind.TIMEOUT),  # httpx / httpx2
    ("ServerTimeoutError", ErrorKind.TIMEOUT),  # aiohttp
    ("Timeout", ErrorKind.TIMEOUT),  # requests
    ("ModelConnectionError", ErrorKind.CONNECTION),
    ("APIConnectionError", ErrorKind.CONNECTION),  # openai, anthropic
    ("NoResponseError", ErrorKind.CONNECTION),  # mistralai
    ("NetworkError", ErrorKind.CONNECTION),  # httpx / httpx2: connect, read, write errors
    ("RemoteProtocolError", ErrorKind.CONNECTION),  # httpx / httpx2: the peer cut the stream
    ("ProxyError", ErrorKind.CONNECTION),  # httpx / httpx2
    ("ClientConnectionError", ErrorKind.CONNECTION),  # aiohttp
    ("ConnectionError", ErrorKind.CONNECTION),  # requests, builtins
    ("ChunkedEncodingError", ErrorKind.CONNECTION),  # requests: a cut stream
    # A provider answered with a body that is not JSON (openai and ollama parse with `json`).
    ("JSONDecodeError", ErrorKind.SERVER_ERROR),
)

_BY_CATEGORY: tuple[tuple[str, ErrorKind], ...] = (
    # Checked after the HTTP status, for errors raised without one.
    ("ModelAPIError", ErrorKind.SERVER_ERROR),  # langchain-core: 5xx
    ("InternalServerError", ErrorKind.SERVER_ERROR),  # openai, anthropic, google.api_core
    ("ServiceUnavailable", ErrorKind.SERVER_ERROR),  # google.api_core
    ("ServiceUnavailableError", ErrorKind.SERVER_ERROR),  # anthropic
    ("OverloadedError", ErrorKind.SERVER_ERROR),  # anthropic
    ("ServerError", ErrorKind.SERVER_ERROR),  # google.genai
    ("ModelAuthenticationError", ErrorKind.CLIENT_ERROR),
    ("ModelPermissionDeniedError", ErrorKind.CLIENT_ERROR),
    ("ModelInvalidRequestError", ErrorKind.CLIENT_ERROR),
    ("ModelNotFoundError", ErrorKind.CLIENT_ERROR),
    ("AuthenticationError", ErrorKind.CLIENT_ERROR),
    ("PermissionDeniedError", ErrorKind.CLIENT_ERROR),
    ("BadRequestError", ErrorKind.CLIENT_ERROR),
    ("NotFoundError", ErrorKind.CLIENT_ERROR),
)

_PROVIDER_BASES = frozenset(
    {
        "APIError",  # openai, anthropic, google.genai: the SDK's base error
        "ModelError",  # langchain-core's base (its `is_retryable` says which way it goes)
        "ResponseError",  # ollama: status_code -1 for an error line inside a 200 stream
        "MistralError",  # mistralai
        "GoogleAPICallError",  # google.api_core
    }
)
"""Base classes of provider errors: an error that only has these is still a provider failure."""

_CONTENT_FILTER = re.compile(
    r"content[_ ]?filter|content[_ ]?policy|content management policy|responsibleaipolicy"
    r"|flagged as potentially violating|usage polic|safety system|prohibited content"
)
"""OpenAI `content_filter` / `content_policy_violation` / `invalid_prompt` ("flagged as
potentially violating our usage policy"), Azure's "content management policy"
(`ResponsibleAIPolicyViolation`), Anthropic's "Output blocked by content filtering policy"."""

_CONTEXT_WINDOW = re.compile(
    r"context[_ ]length|context[_ ]window|maximum context|prompt is too long|input is too long"
    r"|input token count|exceeds the maximum number of tokens|available context size"
    r"|reduce the length of the messages|input tokens exceed"
)
"""OpenAI `context_length_exceeded` ("maximum context length is N tokens"), Anthropic "prompt is
too long", Gemini "The input token count (N) exceeds the maximum number of tokens allowed",
Mistral and vLLM "maximum context length", Bedrock "Input is too long", llama.cpp "exceeds the
available context size", LiteLLM `ContextWindowExceededError`."""

_IN_BAND = (
    (re.compile(r"rate[_ ]?limit|resource[_ ]exhausted|too many requests"), ErrorKind.RATE_LIMIT),
    (re.compile(r"timeout|timed out|deadline[_ ]exceeded"), ErrorKind.TIMEOUT),
    (
        re.compile(r"invalid[_ ]request|authentication|permission|not[_ ]found|unauthenticated"),
        ErrorKind.CLIENT_ERROR,
    ),
)
"""Error types sent inside a 200 response; anything else there is a server error."""

_TEXT_LIMIT = 4096
"""Characters of an error message searched: the markers come first, bodies can be huge."""


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, if any."""
    for holder in (exc, getattr(exc, "response", None)):
        for attr in ("status_code", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
    code = getattr(exc, "code", None)  # google.genai / google.api_core
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return None


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


_NameKinds = tuple[ErrorKind | None, ErrorKind | None, bool]
_by_type: dict[type[BaseException], _NameKinds] = {}
_CACHE_LIMIT = 512


def _by_name(cls: type[BaseException]) -> _NameKinds:
    """The decisive kind, the category kind, and whether a provider base is in `cls`'s MRO.

    Cached per class (bounded: classes made on the fly must not grow it without limit).
    """
    cached = _by_type.get(cls)
    if cached is not None:
        return cached
    names = {c.__name__ for c in cls.__mro__}
    decisive = next((kind for name, kind in _DECISIVE if name in names), None)
    category = next((kind for name, kind in _BY_CATEGORY if name in names), None)
    result = (decisive, category, not names.isdisjoint(_PROVIDER_BASES))
    if len(_by_type) >= _CACHE_LIMIT:
        _by_type.clear()
    _by_type[cls] = result
    return result


def _classify_one(exc: BaseException) -> ErrorKind:
    decisive, category, provider = _by_name(type(exc))
    if decisive is not None:
        return decisive
    status = status_code_of(exc)
    if status is not None and status >= 400:
        if status == 429:
            return ErrorKind.RATE_LIMIT
        if status in (408, 504):
            return ErrorKind.TIMEOUT
        if status >= 500:
            return ErrorKind.SERVER_ERROR
        return _refused(exc) or ErrorKind.CLIENT_ERROR
    if category is ErrorKind.CLIENT_ERROR:
        return _refused(exc) or category
    if category is not None:
        return category
    if provider:
        return _in_band(exc)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ErrorKind.TIMEOUT
    if isinstance(exc, ConnectionError):
        return ErrorKind.CONNECTION
    return ErrorKind.OTHER


def _refused(exc: BaseException) -> ErrorKind | None:
    """CONTENT_FILTER or CONTEXT_WINDOW when a client error's code or message says so."""
    text = _codes(exc) + " " + _message(exc)
    if _CONTENT_FILTER.search(text):
        return ErrorKind.CONTENT_FILTER
    if _CONTEXT_WINDOW.search(text):
        return ErrorKind.CONTEXT_WINDOW
    return None


def _in_band(exc: BaseException) -> ErrorKind:
    """The kind of a provider error that came without an HTTP error status."""
    refused = _refused(exc)
    if refused is not None:
        return refused
    retryable = getattr(exc, "is_retryable", None)  # langchain-core's ModelError
    if isinstance(retryable, bool):
        return ErrorKind.SERVER_ERROR if retryable else ErrorKind.CLIENT_ERROR
    codes = _codes(exc)
    for pattern, kind in _IN_BAND:
        if pattern.search(codes or _message(exc)):
            return kind
    return ErrorKind.SERVER_ERROR


def _codes(exc: BaseException) -> str:
    """The provider's own error code/type fields, lower-cased (e.g. `context_length_exceeded`)."""
    parts = []
    for attr in ("code", "type", "error_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            parts.append(value)
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict):
        parts.extend(str(error[k]) for k in ("code", "type", "status") if error.get(k))
    return " ".join(parts).lower()


def _message(exc: BaseException) -> str:
    """The start of the error's message, lower-cased; never raises."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break classification
        return ""
    return text[:_TEXT_LIMIT].lower()
