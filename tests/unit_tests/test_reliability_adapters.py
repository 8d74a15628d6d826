"""The reliability settings on both adapters: validated, passed to the Router, kept on copies."""

from __future__ import annotations

import asyncio
import copy
import warnings
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model import RouteConfigError
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.langchain._stream import has_tool_call_chunk
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.policy import CircuitBreaker, RetryPolicy
from routing_chat_model.testing.langchain import ScriptedChatModel
from routing_chat_model.testing.llama_index import ScriptedLLM


class Overloaded(Exception):
    status_code = 503


NO_WAIT = {"max_attempts": 2, "base_backoff_s": 0}


def lc(**kw: Any) -> LCRouter:
    models = kw.pop("models", None) or {
        "a": ScriptedChatModel(model="a"),
        "b": ScriptedChatModel(model="b"),
    }
    return LCRouter(models=models, **kw)


def li(**kw: Any) -> LIRouter:
    models = kw.pop("models", None) or {"a": ScriptedLLM(model="a"), "b": ScriptedLLM(model="b")}
    return LIRouter(models=models, **kw)


# -- LangChain --------------------------------------------------------------------------------


def test_langchain_settings_reach_the_router() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    model = lc(
        retry=3,
        circuit_breaker=breaker,
        deadline_s=30,
        attempt_timeout_s=10,
        first_token_timeout_s=5,
        idle_timeout_s=7,
        stream_hold_back=2,
    )
    router = model.router
    assert router.retry == RetryPolicy(max_attempts=3)
    assert router.circuit_breaker is breaker
    assert (router.deadline_s, router.attempt_timeout_s) == (30, 10)
    assert (router.first_token_timeout_s, router.idle_timeout_s) == (5, 7)
    assert router.stream_hold_back == 2
    assert copy.deepcopy(model).router.circuit_breaker is breaker  # health is shared, not copied
    assert model.model_copy(update={"deadline_s": 5}).router.deadline_s == 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"deadline_s": -1}, "deadline_s"),
        ({"attempt_timeout_s": "soon"}, "attempt_timeout_s"),
        ({"retry": "twice"}, "retry"),
        ({"retry": {"max_attempts": 0}}, "max_attempts"),
        ({"circuit_breaker": {"failure_threshold": 3}}, "circuit_breaker"),
        ({"stream_hold_back": 1.5}, "stream_hold_back"),
        ({"stream_hold_until_tool_call": "yes"}, "stream_hold_until_tool_call"),
    ],
)
@pytest.mark.parametrize("build", [lc, li])
def test_bad_settings_raise_at_construction(build: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=field):
        build(**kwargs)


@pytest.mark.parametrize("build", [lc, li])
def test_model_copy_checks_new_settings(build: Any) -> None:
    with pytest.raises(RouteConfigError, match="idle_timeout_s"):
        build().model_copy(update={"idle_timeout_s": 0})


def test_langchain_retry_on_the_same_model() -> None:
    a = ScriptedChatModel(model="a", errors=[Overloaded(), None])
    b = ScriptedChatModel(model="b")
    message = lc(models={"a": a, "b": b}, retry=NO_WAIT).invoke("hello")
    routing = message.response_metadata["routing"]
    assert routing["route"] == "a"
    assert [x.get("retry", 0) for x in routing["attempts"]] == [0, 1]
    assert (len(a.calls), len(b.calls)) == (2, 0)


def test_langchain_attempt_timeout_falls_back_on_ainvoke() -> None:
    slow = ScriptedChatModel(model="a", latency_s=30)
    model = lc(models={"a": slow, "b": ScriptedChatModel(model="b")}, attempt_timeout_s=0.02)
    message = asyncio.run(model.ainvoke("hello"))
    routing = message.response_metadata["routing"]
    assert routing["route"] == "b"
    assert routing["attempts"][0]["error"] == "AttemptTimeoutError"
    assert routing["attempts"][0]["billing"] == "unknown"


def test_langchain_hold_back_falls_back_with_nothing_shown() -> None:
    a = ScriptedChatModel(model="a", errors=[Overloaded()], fail_after_chunks=2)
    model = lc(models={"a": a, "b": ScriptedChatModel(model="b")}, stream_hold_back=4)
    text = "".join(str(chunk.content) for chunk in model.stream("hello there"))
    assert text == "[b] hello there"


def test_tool_call_chunks_commit() -> None:
    text = ChatGenerationChunk(message=AIMessageChunk(content="thinking"))
    tool = ChatGenerationChunk(
        message=AIMessageChunk(
            content="", tool_call_chunks=[{"name": "f", "args": "{", "id": "1", "index": 0}]
        )
    )
    assert (has_tool_call_chunk(text), has_tool_call_chunk(tool)) == (False, True)


def test_children_with_their_own_retries_get_a_warning() -> None:
    openai = pytest.importorskip("langchain_openai")
    retrying = openai.ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", max_retries=2)
    with pytest.warns(UserWarning, match=r"\['a'\] retry on their own"):
        lc(models={"a": retrying, "b": ScriptedChatModel(model="b")})
    quiet = openai.ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lc(models={"a": quiet, "b": ScriptedChatModel(model="b")})


# -- LlamaIndex -------------------------------------------------------------------------------

MESSAGES = [ChatMessage(role=MessageRole.USER, content="hello there")]


def test_llama_index_settings_reach_the_router() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    model = li(retry=RetryPolicy(max_attempts=2), circuit_breaker=breaker, deadline_s=9)
    assert model.router.retry == RetryPolicy(max_attempts=2)
    assert model.router.deadline_s == 9
    assert copy.deepcopy(model).router.circuit_breaker is breaker


def test_llama_index_retry_on_the_same_model() -> None:
    a = ScriptedLLM(model="a", errors=[Overloaded(), None])
    response = li(models={"a": a, "b": ScriptedLLM(model="b")}, retry=NO_WAIT).chat(MESSAGES)
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "a"
    assert len(routing["attempts"]) == 2


def test_llama_index_breaker_skips_a_cooling_child() -> None:
    a = ScriptedLLM(model="a", errors=[Overloaded()])
    model = li(
        models={"a": a, "b": ScriptedLLM(model="b")},
        circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown_s=60),
    )
    model.chat(MESSAGES)
    routing = model.chat(MESSAGES).additional_kwargs["routing"]
    assert routing["skipped"] == ["a: cooling"]
    assert len(a.calls) == 1
    assert model.router.health()["a"].state == "open"


def test_llama_index_async_hold_back_falls_back() -> None:
    a = ScriptedLLM(model="a", errors=[Overloaded()], fail_after_chunks=1)
    model = li(models={"a": a, "b": ScriptedLLM(model="b")}, stream_hold_back=3)

    async def run() -> str:
        last = ""
        async for chunk in await model.astream_chat(MESSAGES):
            last = chunk.message.content or ""
        return last

    assert asyncio.run(run()) == "[b] hello there"
