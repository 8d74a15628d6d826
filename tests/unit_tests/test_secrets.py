"""A canary API key set on every real client behind the router never shows up anywhere (S5, S7).

Real `ChatOpenAI`, LlamaIndex `OpenAI` and `OpenAICompatibleEncoder` clients carry the key
`sk-canary-<uuid4>` and talk to a loopback server. Every surface a user or a log sees is then
searched for the canary and for any 8-character piece of it: reprs, dumps, decisions, routing
events, callback arguments, log records at DEBUG, and the messages and tracebacks of errors from
provider failures (401/500 bodies that echo the request's data).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.llms.openai import OpenAI

from routing_chat_model import EmbeddingSelector
from routing_chat_model.encoders.openai_compatible import OpenAICompatibleEncoder
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from tests.support.openai_server import OpenAIServer

CANARY = f"sk-canary-{uuid.uuid4()}"
PROMPT = f"prompt-marker-{uuid.uuid4().hex[:12]} what is the weather"


def leaks(text: str) -> list[str]:
    """The 8-character pieces of the canary found in `text` (any longer piece holds one)."""
    return sorted({CANARY[i : i + 8] for i in range(len(CANARY) - 7)} & _windows(text))


def _windows(text: str) -> set[str]:
    return {text[i : i + 8] for i in range(len(text) - 7)}


def assert_clean(label: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    found = leaks(text)
    assert not found, f"{label} leaks pieces of the API key: {found}"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(name="srv") as srv:
        yield srv


@pytest.fixture
def srv(server: OpenAIServer) -> OpenAIServer:
    server.reset()
    return server


def encoder(srv: OpenAIServer) -> OpenAICompatibleEncoder:
    return OpenAICompatibleEncoder(srv.base_url, "text-embedding-3-small", api_key=CANARY)


def lc_router(srv: OpenAIServer) -> LCRouter:
    def child(model: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, base_url=srv.base_url, api_key=CANARY, max_retries=0)

    selector = EmbeddingSelector({"a": ["weather today"], "b": ["prove a theorem"]}, encoder(srv))
    return LCRouter(models={"a": child("gpt-4o-mini"), "b": child("gpt-4o")}, selector=selector)


def li_router(srv: OpenAIServer) -> LIRouter:
    def child(model: str) -> OpenAI:
        return OpenAI(model=model, api_base=srv.base_url, api_key=CANARY, max_retries=0)

    selector = EmbeddingSelector({"a": ["weather today"], "b": ["prove a theorem"]}, encoder(srv))
    return LIRouter(models={"a": child("gpt-4o-mini"), "b": child("gpt-4o")}, selector=selector)


def test_the_canary_is_really_used(srv: OpenAIServer) -> None:
    """Guards the other tests: the key does reach the provider, so its absence elsewhere counts."""
    lc_router(srv).invoke(PROMPT)
    auth = {r.headers.get("authorization") for r in srv.requests}
    assert auth == {f"Bearer {CANARY}"}
    assert leaks(f"Bearer {CANARY}")  # and the search finds it where it is


class Recorder(BaseCallbackHandler):
    """Keeps every argument LangChain passes to handlers."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append({"serialized": serialized, **kwargs})

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.seen.append({"response": response.model_dump(), **kwargs})

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.seen.append({"error": repr(error), **kwargs})

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.seen.append({"name": name, "data": data, **kwargs})


def test_langchain_surfaces_never_show_the_key(
    srv: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = lc_router(srv)
    recorder = Recorder()
    message = router.invoke(PROMPT, config={"callbacks": [recorder], "metadata": {"u": 1}})
    assert recorder.seen  # the handler did run
    assert_clean("repr(router)", repr(router))
    assert_clean("str(router)", str(router))
    assert_clean("repr(router.router)", repr(router.router))
    assert_clean("repr(selector)", repr(router.selector))
    assert_clean("model_dump", router.model_dump())
    assert_clean("dumpd", dumpd(router))
    assert_clean("decision", message.response_metadata["routing"])
    assert_clean("callback arguments", recorder.seen)
    assert_clean("log records", [r.getMessage() for r in caplog.records])


async def test_langchain_events_never_show_the_key(srv: OpenAIServer) -> None:
    router = lc_router(srv)
    events = [e async for e in router.astream_events(PROMPT, version="v2")]
    assert any(e["event"] == "on_custom_event" for e in events)
    assert_clean("astream_events", events)


def test_llama_index_surfaces_never_show_the_key(
    srv: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler

    seen: list[Any] = []

    class Handler(BaseEventHandler):
        def handle(self, event: Any, **kwargs: Any) -> None:
            seen.append(event.model_dump())

    caplog.set_level(logging.DEBUG)
    router = li_router(srv)
    dispatcher = get_dispatcher()
    handler = Handler()
    dispatcher.add_event_handler(handler)
    try:
        response = router.chat([ChatMessage(role=MessageRole.USER, content=PROMPT)])
    finally:
        dispatcher.event_handlers.remove(handler)
    assert any("decision" in e for e in seen)
    assert_clean("to_dict", router.to_dict())
    # to_json works although selectors, gates and policies are Python objects (their reprs)
    assert_clean("to_json", router.to_json())
    assert json.loads(router.to_json())["class_name"] == "RoutingChatModel"
    assert_clean("decision", response.additional_kwargs["routing"])
    assert_clean("instrumentation events", seen)
    assert_clean("log records", [r.getMessage() for r in caplog.records])


def test_llama_index_repr_never_shows_the_key(srv: OpenAIServer) -> None:
    router = li_router(srv)
    assert_clean("repr(router)", repr(router))
    assert_clean("str(router)", str(router))


def test_the_encoder_never_shows_the_key(srv: OpenAIServer) -> None:
    enc = encoder(srv)
    assert_clean("repr(encoder)", repr(enc))
    assert_clean("encoder name", enc.name)
    srv.fail_next(401, endpoint="embeddings", message=f"Incorrect API key for {PROMPT}")
    with pytest.raises(Exception) as info:
        enc.encode(["hello"])
    assert_clean("encoder error", "".join(traceback.format_exception(info.value)))


@pytest.mark.parametrize("status", [401, 500])
def test_langchain_provider_errors_never_show_the_key(srv: OpenAIServer, status: int) -> None:
    router = lc_router(srv)
    router.invoke("warm up the selector")
    srv.fail_next(status, times=2, message="upstream rejected the request; see request id 42")
    with pytest.raises(Exception) as info:
        router.invoke(PROMPT)
    assert_clean("error message", str(info.value))
    assert_clean("traceback", "".join(traceback.format_exception(info.value)))


@pytest.mark.parametrize("status", [401, 500])
def test_llama_index_provider_errors_never_show_the_key(srv: OpenAIServer, status: int) -> None:
    router = li_router(srv)
    srv.fail_next(status, times=2, message="upstream rejected the request; see request id 42")
    with pytest.raises(Exception) as info:
        router.chat([ChatMessage(role=MessageRole.USER, content=PROMPT)])
    assert_clean("error message", str(info.value))
    assert_clean("traceback", "".join(traceback.format_exception(info.value)))


def test_prompt_text_is_not_logged_at_debug_by_default(
    srv: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="routing_chat_model")
    lc_router(srv).invoke(PROMPT)
    li_router(srv).chat([ChatMessage(role=MessageRole.USER, content=PROMPT)])
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("routing_chat_model")]
    assert not any("prompt-marker" in m for m in ours)
