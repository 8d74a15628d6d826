"""An `Encoder` for any server speaking OpenAI's `POST /embeddings` (OpenAI, Ollama, vLLM, TEI).

Uses httpx directly, so no provider SDK is needed. Clients are created on first use, never when
the encoder is built: a sync `httpx.Client` shared by threads, and one `httpx.AsyncClient` per
event loop (an async client's connections belong to the loop that opened them). Code that runs
many short-lived loops (`asyncio.run` per call) should `await encoder.aclose()` before each loop
ends; otherwise that loop's connections are only reclaimed by the garbage collector.

The API key is kept as a `SecretStr` and is never put in a repr, a name or an error message;
if a server echoes it back in an error body, it is masked before the message is raised.
There are no retries here: fallback and retry policy belong to the router.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
from pydantic import SecretStr
from typing_extensions import Self

from routing_chat_model.encoders.adapters import check_vectors
from routing_chat_model.encoders.base import Vectors
from routing_chat_model.errors import EncoderError, RouteConfigError

__all__ = ["OpenAICompatibleEncoder"]

_MAX_MESSAGE = 300
"""Longest server error message quoted in an `EncoderError`."""


def _safe_url(url: str) -> str:
    """`url` without user info, query or fragment, which can carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # an invalid port; the constructor rejects it, this is for its message
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on an invalid port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_positive(field: str, value: object, *, integer: bool) -> None:
    """Raise `RouteConfigError` unless `value` is a finite number > 0 (an int if `integer`)."""
    kind: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "a positive integer" if integer else "a positive number of seconds"
        raise RouteConfigError(f"{field}: expected {wanted}; got {value!r}")
    assert isinstance(value, (int, float))
    if not math.isfinite(value) or value <= 0:
        raise RouteConfigError(f"{field}: must be finite and > 0; got {value!r}")


class OpenAICompatibleEncoder:
    """Embeds texts through an OpenAI-compatible `POST {base_url}/embeddings` endpoint.

    Example:
        ```python
        encoder = OpenAICompatibleEncoder("http://127.0.0.1:11434/v1", "nomic-embed-text")
        selector = EmbeddingSelector(routes, encoder=encoder)
        ```
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | SecretStr | None = None,
        timeout: float = 10.0,
        batch_size: int = 32,
        dimensions: int | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        """Validate the settings; opens no connection.

        Args:
            base_url: The API root including the version, e.g. `http://127.0.0.1:11434/v1`
                (Ollama), `http://localhost:8000/v1` (vLLM) or `https://api.openai.com/v1`.
            model: The embedding model name the server expects.
            api_key: Sent as `Authorization: Bearer ...` when given; local servers need none.
            timeout: Seconds allowed for each HTTP request.
            batch_size: Texts per request. 32 suits every common server (TEI rejects larger
                batches by default); raise it for OpenAI or vLLM when embedding many routes.
            dimensions: Ask the server for shorter vectors (models that support it, like
                OpenAI's text-embedding-3-*); None sends no `dimensions` field.
            headers: Extra HTTP headers. Put the key in `api_key`, not in an Authorization
                header, so it stays masked.
            name: Overrides the default name, `openai-compatible:<model>[:<dimensions>]`.

        Raises:
            RouteConfigError: A setting is empty, out of range or of the wrong type.
        """
        if not isinstance(base_url, str) or not base_url.strip():
            raise RouteConfigError(
                "base_url: give the API root of an OpenAI-compatible server, for example "
                f"'http://127.0.0.1:11434/v1'; got {base_url!r}"
            )
        base_url = base_url.strip().rstrip("/")
        if not _is_http_url(base_url):
            raise RouteConfigError(
                "base_url: must be an http:// or https:// URL such as 'http://127.0.0.1:11434/v1'"
                f"; got {_safe_url(base_url)!r}"
            )
        if base_url.endswith("/embeddings"):
            raise RouteConfigError(
                "base_url: give the API root without '/embeddings' (it is appended); got "
                f"{_safe_url(base_url)!r}"
            )
        if not isinstance(model, str) or not model.strip():
            raise RouteConfigError(
                f"model: give the embedding model's name as the server knows it; got {model!r}"
            )
        _check_positive("timeout", timeout, integer=False)
        _check_positive("batch_size", batch_size, integer=True)
        if dimensions is not None:
            _check_positive("dimensions", dimensions, integer=True)
        secret = self._check_key(api_key)
        extra = dict(headers or {})
        for key, value in extra.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise RouteConfigError("headers: keys and values must be strings")
        if secret is not None and any(k.lower() == "authorization" for k in extra):
            raise RouteConfigError(
                "headers: an Authorization header and api_key were both given; pass only api_key"
            )

        self._base_url = base_url
        self._model = model
        self._api_key = secret
        self._timeout = float(timeout)
        self._batch_size = batch_size
        self._dimensions = dimensions
        self._headers = extra
        self._name = name or (
            f"openai-compatible:{model}" + (f":{dimensions}" if dimensions is not None else "")
        )
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    @staticmethod
    def _check_key(api_key: str | SecretStr | None) -> SecretStr | None:
        if api_key is None:
            return None
        if isinstance(api_key, SecretStr):
            raw = api_key.get_secret_value()
        elif isinstance(api_key, str):
            raw = api_key
        else:
            raise RouteConfigError(
                f"api_key: expected a str or SecretStr; got {type(api_key).__name__}"
            )
        # The value is never echoed: only what is wrong with it.
        if not raw:
            raise RouteConfigError("api_key: is empty; pass None for servers that need no key")
        if not raw.isascii() or not raw.isprintable() or any(c.isspace() for c in raw):
            raise RouteConfigError(
                "api_key: contains whitespace or non-ASCII characters, which cannot go in an "
                "HTTP header (check for a stray newline or quote when it was copied)"
            )
        return SecretStr(raw)

    @property
    def name(self) -> str:
        """`openai-compatible:<model>[:<dimensions>]` unless overridden."""
        return self._name

    @property
    def model(self) -> str:
        """The embedding model requested from the server."""
        return self._model

    @property
    def base_url(self) -> str:
        """The API root (with any credentials in the URL removed)."""
        return _safe_url(self._base_url)

    def __repr__(self) -> str:
        key = "'**********'" if self._api_key is not None else "None"
        return (
            f"OpenAICompatibleEncoder(base_url={self.base_url!r}, model={self._model!r}, "
            f"api_key={key}, dimensions={self._dimensions!r})"
        )

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self._headers}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(headers=self._request_headers(), timeout=self._timeout)
            return self._client

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.get(loop)
            if client is None:
                # Clients of loops that have closed cannot be closed any more; drop them.
                for old in [lp for lp in self._async_clients if lp.is_closed()]:
                    del self._async_clients[old]
                client = httpx.AsyncClient(headers=self._request_headers(), timeout=self._timeout)
                self._async_clients[loop] = client
            return client

    def _payload(self, batch: list[str]) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self._model, "input": batch}
        if self._dimensions is not None:
            payload["dimensions"] = self._dimensions
        return payload

    def _mask(self, text: str) -> str:
        if self._api_key is not None:
            text = text.replace(self._api_key.get_secret_value(), "**********")
        return text

    def _transport_error(self, exc: httpx.HTTPError) -> EncoderError:
        url = f"{self.base_url}/embeddings"
        if isinstance(exc, httpx.TimeoutException):
            what = f"no response within {self._timeout:g}s"
        else:
            what = "request failed"
        detail = self._mask(str(exc))[:_MAX_MESSAGE]
        return EncoderError(
            f"encoder {self._name!r}: POST {url} {what} ({type(exc).__name__}: {detail})"
        )

    def _server_message(self, response: httpx.Response) -> str:
        message: object = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                message = error.get("message")
            elif isinstance(error, str):
                message = error
            if message is None:
                message = body.get("message") or body.get("detail")
        if not isinstance(message, str) or not message:
            message = response.text
        text = " ".join(self._mask(message).split())
        return text[:_MAX_MESSAGE] + ("..." if len(text) > _MAX_MESSAGE else "")

    def _parse(self, response: httpx.Response, expected: int) -> list[Any]:
        url = f"{self.base_url}/embeddings"
        if response.status_code >= 400:
            raise EncoderError(
                f"encoder {self._name!r}: POST {url} returned HTTP {response.status_code}: "
                f"{self._server_message(response)}"
            )
        try:
            body = response.json()
            items = sorted(body["data"], key=lambda item: int(item["index"]))
            rows = [self._row(item["embedding"]) for item in items]
        except (ValueError, TypeError, KeyError) as exc:
            raise EncoderError(
                f"encoder {self._name!r}: POST {url} returned a body that is not an embeddings "
                f"response ({type(exc).__name__}); is base_url an OpenAI-compatible API root?"
            ) from None
        if len(rows) != expected:
            raise EncoderError(
                f"encoder {self._name!r}: POST {url} returned {len(rows)} embedding(s) for "
                f"{expected} input(s)"
            )
        return rows

    @staticmethod
    def _row(embedding: object) -> object:
        if isinstance(embedding, str):  # encoding_format="base64": little-endian float32
            return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
        if not isinstance(embedding, list):
            raise TypeError("embedding is not a list")
        return embedding

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        batch = list(texts)
        return [batch[i : i + self._batch_size] for i in range(0, len(batch), self._batch_size)]

    # -- Encoder API ---------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` with one request per `batch_size` texts.

        Raises:
            EncoderError: The server could not be reached, timed out, answered with an HTTP
                error (status and the server's message are included) or a malformed body.
        """
        if not texts:
            return np.empty((0, self._dimensions or 0), dtype=np.float32)
        client = self._sync_client()
        rows: list[Any] = []
        for batch in self._batches(texts):
            try:
                response = client.post(f"{self._base_url}/embeddings", json=self._payload(batch))
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
            rows.extend(self._parse(response, len(batch)))
        return check_vectors(rows, len(rows), self._name, dim=self._dimensions)

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` without blocking the event loop; same contract as `encode`."""
        if not texts:
            return np.empty((0, self._dimensions or 0), dtype=np.float32)
        rows: list[Any] = []
        for batch in self._batches(texts):
            client = self._async_client()
            try:
                response = await client.post(
                    f"{self._base_url}/embeddings", json=self._payload(batch)
                )
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
            rows.extend(self._parse(response, len(batch)))
        return check_vectors(rows, len(rows), self._name, dim=self._dimensions)

    def close(self) -> None:
        """Close the sync client (a later call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client."""
        self.close()
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # The settings never change and the clients are thread-safe, so copies (pydantic and
        # LangChain deep-copy model fields) share this object instead of failing on its lock.
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
