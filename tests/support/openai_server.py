"""A loopback server speaking enough of the OpenAI HTTP API for real clients to run offline.

`openai`, `langchain_openai.ChatOpenAI` and other OpenAI-compatible clients can point at it:

```python
with OpenAIServer(name="alpha") as srv:
    client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
    srv.fail_next(status=429, headers={"Retry-After": "2"})   # next chat call fails
    srv.hang_next(5.0)                                         # the one after hangs
    srv.drop_next(after_chunks=2)                              # then a stream breaks
    srv.context_length_next()               # 400 context_length_exceeded, OpenAI's format
    ...
    assert len(srv.requests_to("chat/completions")) == 3
```

Endpoints: `POST /v1/chat/completions` (plain and SSE streaming, with a final usage chunk when
`stream_options.include_usage`), `POST /v1/embeddings` (deterministic bag-of-words vectors, float
or base64) and `GET /v1/models`. Faults and scripted replies are queued per endpoint and used in
order, one per request; every request is recorded, faulted or not. The faults (HTTP errors,
429 with `Retry-After`, context-length and content-filter 400s, a slow first byte, a stall or a
cut mid-stream, malformed JSON, an in-band error event) are documented in `_faults.py`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from typing_extensions import Self

from tests.support._faults import ENDPOINTS, ERROR_TYPES, Endpoint, Fault, FaultScript, error_body

__all__ = [
    "Endpoint",
    "OpenAIServer",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "error_body",
    "hashed_embedding",
]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    """The path without the query string, e.g. `/v1/chat/completions`."""
    body: Any
    """The parsed JSON body, or None when there was none (or it was not JSON)."""
    headers: dict[str, str]
    """Header names lower-cased."""

    @property
    def endpoint(self) -> str:
        """The path after `/v1/`, e.g. `chat/completions`."""
        return self.path.removeprefix("/v1/").strip("/")


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes; `arguments` is a JSON object string."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the fake model answers: text, tool calls, or both."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    """Defaults to `tool_calls` when there are tool calls, else `stop`."""


ReplySpec = str | Reply | Callable[[dict[str, Any]], "str | Reply"]


def hashed_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: the sum of one seeded random vector per lower-cased word.

    Texts sharing words get similar vectors, so embedding routing behaves sensibly against the
    server without a real model.
    """
    vec = np.zeros(dim)
    for word in re.findall(r"\w+", text.lower()) or [""]:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        vec += np.random.default_rng(seed).standard_normal(dim)
    vec /= np.linalg.norm(vec)
    return [float(x) for x in vec.astype(np.float32)]


def _count_tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def _last_user_message(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


class OpenAIServer(FaultScript):
    """A fake OpenAI-compatible API on `127.0.0.1`, run in a background thread.

    Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        name: str = "server",
        *,
        reply: ReplySpec | None = None,
        embedding_dim: int = 16,
        reverse_embeddings: bool = False,
    ) -> None:
        """Configure the server; it listens once started.

        Args:
            name: Used in the default reply, `"<name>: <last user message>"`.
            reply: The answer to every chat request without a scripted `reply_next`: a string,
                a `Reply`, or a function of the request body returning either.
            embedding_dim: Width of embeddings when the request sets no `dimensions`.
            reverse_embeddings: List embeddings in reverse `index` order (real servers may
                answer out of order; clients must sort by `index`).
        """
        self.name = name
        self.reply = reply
        self.embedding_dim = embedding_dim
        self.reverse_embeddings = reverse_embeddings
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {e: deque() for e in ENDPOINTS}
        self._replies: deque[ReplySpec] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests hanging on `hang_next` are released at once."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("OpenAIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the value for clients' `base_url`."""
        return f"{self.url}/v1"

    # -- scripting -----------------------------------------------------------------------------

    def reply_next(self, reply: ReplySpec, *, times: int = 1) -> None:
        """Answer the next `times` chat requests with `reply` instead of the default."""
        with self._lock:
            self._replies.extend([reply] * times)

    def _push(self, endpoint: str, fault: Fault, times: int) -> None:
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        with self._lock:
            self._faults[endpoint].extend([fault] * times)

    def reset(self) -> None:
        """Forget queued faults, scripted replies and recorded requests."""
        with self._lock:
            for queue in self._faults.values():
                queue.clear()
            self._replies.clear()
            self._requests.clear()

    # -- inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """The recorded requests to `endpoint` (e.g. `"chat/completions"`)."""
        return [r for r in self.requests if r.endpoint == endpoint]

    # -- used by the handler -------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(request)
            queue = self._faults.get(request.endpoint)
            return queue.popleft() if queue else None

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-{self._counter}"

    def _reply_for(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            spec = self._replies.popleft() if self._replies else self.reply
        if spec is None:
            spec = f"{self.name}: {_last_user_message(body)}"
        if callable(spec):
            spec = spec(body)
        return Reply(content=spec) if isinstance(spec, str) else spec

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def chat_chunks(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Build the non-streaming response and the streaming chunks for one chat request."""
        reply = self._reply_for(body)
        model = str(body.get("model", "fake-model"))
        completion_id = self._next_id("chatcmpl")
        created = int(time.time())
        prompt_tokens = sum(
            _count_tokens(_text_of(m.get("content")))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        )
        content = reply.content
        completion_tokens = max(1, _count_tokens(content or "") + 5 * len(reply.tool_calls))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        tool_calls = [
            {
                "id": call.id or f"call_{completion_id}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
        finish = reply.finish_reason or ("tool_calls" if tool_calls else "stop")
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        full = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": usage,
            "system_fingerprint": None,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": piece}) for piece in re.findall(r"\S+\s*|\s+", content or "")]
        for i, call in enumerate(tool_calls):
            chunks.append(chunk({"tool_calls": [{"index": i, **call}]}))
        chunks.append(chunk({}, finish))
        options = body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append({**chunk({}), "choices": [], "usage": usage})
        return full, chunks

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Build the response to one embeddings request."""
        raw = body.get("input")
        inputs: list[Any] = raw if isinstance(raw, list) else [raw]
        if inputs and all(isinstance(x, int) for x in inputs):
            inputs = [inputs]  # one pre-tokenised input
        texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs]
        dim = int(body.get("dimensions") or self.embedding_dim)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = hashed_embedding(text, dim)
            embedding: Any = vector
            if as_base64:
                embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if self.reverse_embeddings:
            data.reverse()
        tokens = sum(_count_tokens(t) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": str(body.get("model", "fake-embedding")),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: OpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that time out or hang up are part of the tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Do not log each request to stderr."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.command, path, body, headers)
        fault = owner._record(request)
        try:
            self._respond(owner, request, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _respond(self, owner: OpenAIServer, request: RecordedRequest, fault: Fault | None) -> None:
        streaming = isinstance(request.body, dict) and bool(request.body.get("stream"))
        before = fault is not None and (
            fault.kind in ("hang", "fail")
            or not streaming
            or (fault.kind == "drop" and fault.after_chunks is None)
        )
        if fault is not None and before:
            # Faults acting before any response (every fault, for a non-streaming request).
            if fault.kind in ("hang", "stall"):
                owner._wait(fault.seconds)
            elif fault.kind == "fail":
                self._send(fault.status, fault.body or b"", fault.headers)
                return
            elif fault.kind == "drop":
                self._drop()
                return
            elif fault.kind == "malformed" and request.endpoint == "chat/completions":
                self._send(200, b'{"id": "chatcmpl-malformed", "object": "chat.completion", "cho')
                return
            elif fault.kind == "error_event":
                self._send_json(500, {"error": fault.error})
                return
        endpoint = request.endpoint
        if self.command == "GET" and endpoint == "models":
            models = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            self._send_json(200, models)
        elif self.command != "POST" or endpoint not in ("chat/completions", "embeddings"):
            self._send_error(404, f"Unknown request URL: {self.command} {request.path}")
        elif not isinstance(request.body, dict):
            self._send_error(400, "We could not parse the JSON body of your request.")
        elif endpoint == "embeddings":
            if request.body.get("input") in (None, "", []):
                self._send_error(400, "'input' is a required property")
            else:
                self._send_json(200, owner.embeddings(request.body))
        else:
            full, chunks = owner.chat_chunks(request.body)
            if not streaming:
                self._send_json(200, full)
            else:
                self._stream(owner, chunks, fault)

    def _send(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send_error(self, status: int, message: str) -> None:
        kind = ERROR_TYPES.get(status, ("api_error", ""))[0]
        error = {"message": message, "type": kind, "param": None, "code": None}
        self._send_json(status, {"error": error})

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may already be gone
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stream(
        self, owner: OpenAIServer, chunks: list[dict[str, Any]], fault: Fault | None
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # The first chunk only carries the role; `after_chunks` counts content chunks after it,
        # and a malformed stream with `after_chunks=None` breaks at its very first event.
        at = -1
        if fault is not None:
            at = 0 if fault.after_chunks is None else fault.after_chunks + 1
        for sent, event in enumerate(_events(chunks)):
            if fault is not None and sent == at:
                if fault.kind == "drop":
                    self._drop()
                    return
                if fault.kind == "stall":
                    owner._wait(fault.seconds)
                elif fault.kind == "malformed":
                    self._write_chunk('data: {"id": "chatcmpl-malformed", "choices": [{"delta\n\n')
                elif fault.kind == "error_event":
                    self._write_chunk(f"data: {json.dumps({'error': fault.error})}\n\n")
                    break
            self._write_chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _events(chunks: list[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"
