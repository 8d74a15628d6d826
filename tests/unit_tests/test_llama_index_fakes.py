"""`routing_chat_model.testing.ScriptedLLM`: the scripted LlamaIndex fake users test with."""

from __future__ import annotations

import copy

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool

from routing_chat_model.testing import ScriptedLLM, ScriptedLLMCall


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def weather(city: str) -> str:
    """Get the weather of a city."""
    return f"sunny in {city}"


def test_answers_name_the_model_and_record_calls() -> None:
    llm = ScriptedLLM(model="m")
    assert llm.chat(user("hi")).message.content == "[m] hi"
    assert llm.complete("yo", temperature=0).text == "[m] yo"
    assert [c.method for c in llm.calls] == ["chat", "complete"]
    assert llm.calls[1] == ScriptedLLMCall("complete", user("yo"), {"temperature": 0})
    llm.reset()
    assert llm.calls == []


def test_scripted_responses_and_errors_are_consumed_in_order() -> None:
    llm = ScriptedLLM(responses=["one", "two"], errors=[TimeoutError("x"), None])
    with pytest.raises(TimeoutError):
        llm.chat(user("a"))
    assert [llm.chat(user("a")).message.content for _ in range(3)] == ["one", "two", "two"]
    assert copy.deepcopy(llm).calls == []  # a copy starts its script over


def test_streams_fail_after_the_scripted_number_of_chunks() -> None:
    llm = ScriptedLLM(model="m", errors=[ConnectionError()], fail_after_chunks=2)
    seen = []
    with pytest.raises(ConnectionError):
        for chunk in llm.stream_chat(user("a b c")):
            seen.append(chunk.delta)
    assert seen == ["[m] ", "a "]


def test_usage_is_reported_on_the_answer_and_the_last_chunk_only() -> None:
    llm = ScriptedLLM()
    assert llm.chat(user("a b")).raw["usage"]["prompt_tokens"] == 2
    chunks = list(llm.stream_chat(user("a b")))
    assert [("usage" in c.raw) for c in chunks] == [False] * (len(chunks) - 1) + [True]


def test_tool_calls_from_the_prompt_and_tool_results() -> None:
    llm = ScriptedLLM(model="m")
    tool = FunctionTool.from_defaults(fn=weather)
    response = llm.chat_with_tools([tool], user_msg="weather in 'Paris'?")
    (call,) = llm.get_tool_calls_from_response(response)
    assert (call.tool_name, call.tool_kwargs, call.tool_id) == (
        "weather",
        {"city": "Paris"},
        "call_m_1",
    )
    assert llm.chat_with_tools([tool], user_msg="hello").message.content == "[m] hello"
    result = ChatMessage(
        role=MessageRole.TOOL, content="sunny", additional_kwargs={"tool_call_id": "x"}
    )
    assert llm.chat([*user("w?"), response.message, result]).message.content == "Tool said: sunny"
    with pytest.raises(ValueError, match="does not support tool calling"):
        ScriptedLLM(function_calling=False).chat_with_tools([tool], user_msg="weather")


def test_a_prompt_longer_than_the_window_is_a_bad_request() -> None:
    with pytest.raises(ValueError, match="exceed 2"):
        ScriptedLLM(context_window=2).complete("one two three")
