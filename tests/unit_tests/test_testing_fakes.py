"""`routing_chat_model.testing`: the scripted fake chat model behaves like a real provider."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal, cast

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field, ValidationError

from routing_chat_model.testing import ScriptedCall, ScriptedChatModel
from routing_chat_model.testing._schema import PromptValues, example_from_schema, pick_tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def get_weather(location: str) -> str:
    """Tell the weather at a place."""
    return "sunny"


@tool
def ping() -> str:
    """Check the service is up."""
    return "pong"


class Joke(BaseModel):
    """Joke to tell user."""

    setup: str = Field(description="question to set up a joke")
    punchline: str = Field(description="answer to resolve the joke")
    rating: int | None = None


class Address(BaseModel):
    city: str
    kind: Literal["home", "work"]


class Person(BaseModel):
    name: str
    age: int
    addresses: list[Address]
    nickname: str | None = None


def _chunks(stream: Iterable[BaseMessage]) -> list[AIMessageChunk]:
    chunks = list(stream)
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    return cast(list[AIMessageChunk], chunks)


def _collect(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


async def _acollect(model: Any, prompt: Any) -> list[AIMessageChunk]:
    return [chunk async for chunk in model.astream(prompt)]


# --- package import -------------------------------------------------------------------------


def test_lazy_package_needs_no_framework_until_a_fake_is_asked_for() -> None:
    code = (
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "import routing_chat_model.testing as t\n"
        "try:\n"
        "    t.ScriptedChatModel\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'routing-chat-model[langchain]'" in out


def test_unknown_name_is_an_attribute_error() -> None:
    import routing_chat_model.testing as testing

    with pytest.raises(AttributeError, match="NoSuchFake"):
        _ = testing.NoSuchFake
    assert "ScriptedChatModel" in dir(testing)


# --- identity and default answers -----------------------------------------------------------


def test_default_reply_names_the_model_and_echoes_the_last_human_text() -> None:
    model = ScriptedChatModel(model="fast")
    reply = model.invoke([SystemMessage("be brief"), HumanMessage("hello there")])
    assert reply.content == "[fast] hello there"
    assert reply.response_metadata["model_name"] == "fast"
    assert reply.response_metadata["model_provider"] == "scripted"
    assert model.model_name == "fast"
    assert ScriptedChatModel(model_name="slow").model_name == "slow"


async def test_default_reply_async() -> None:
    reply = await ScriptedChatModel(model="fast", provider="acme").ainvoke("hi")
    assert reply.content == "[fast] hi"
    assert reply.response_metadata["model_provider"] == "acme"


def test_ls_params_report_provider_model_and_per_call_override() -> None:
    model = ScriptedChatModel(model="m", provider="p", temperature=0.5, stop=["x"])
    params = model._get_ls_params()
    assert params["ls_provider"] == "p"
    assert params["ls_model_name"] == "m"
    assert params["ls_temperature"] == 0.5
    assert params["ls_stop"] == ["x"]
    assert model._get_ls_params(model="other")["ls_model_name"] == "other"


def test_per_call_model_override_is_reported_like_a_provider() -> None:
    reply = ScriptedChatModel(model="m").invoke("hi", model="m-large")
    assert reply.content == "[m-large] hi"
    assert reply.response_metadata["model_name"] == "m-large"


# --- scripted answers -----------------------------------------------------------------------


def test_responses_are_consumed_in_order_and_the_last_repeats() -> None:
    model = ScriptedChatModel(responses=["one", AIMessage("two")])
    assert [model.invoke("x").content for _ in range(4)] == ["one", "two", "two", "two"]


async def test_responses_async_and_streamed_share_the_script() -> None:
    model = ScriptedChatModel(responses=["one", "two words", "three"])
    assert (await model.ainvoke("x")).content == "one"
    chunks = await _acollect(model, "x")
    assert _collect(chunks).content == "two words"
    assert model.invoke("x").content == "three"


def test_scripted_ai_message_keeps_its_tool_calls_and_is_not_mutated() -> None:
    scripted = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "t1"}])
    model = ScriptedChatModel(responses=[scripted])
    reply = model.invoke("x")
    assert reply.tool_calls[0]["id"] == "t1"
    assert reply.usage_metadata is not None
    assert scripted.usage_metadata is None and scripted.response_metadata == {}
    streamed = _collect(list(model.stream("x")))
    assert streamed.tool_calls == [
        {"name": "add", "args": {"a": 1}, "id": "t1", "type": "tool_call"}
    ]


def test_respond_callable_computes_the_answer() -> None:
    def shout(messages: list[BaseMessage]) -> str:
        return str(messages[-1].content).upper()

    assert ScriptedChatModel(respond=shout).invoke("hey").content == "HEY"


def test_script_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="not both"):
        ScriptedChatModel(responses=["a"], respond=lambda m: "b")
    with pytest.raises(ValidationError, match="empty"):
        ScriptedChatModel(responses=[])
    with pytest.raises(ValidationError):
        ScriptedChatModel(latency_s=-1)
    with pytest.raises(ValueError, match="times"):
        ScriptedChatModel.failing(RuntimeError(), times=-1)


# --- failures -------------------------------------------------------------------------------


def test_errors_are_raised_per_call_and_the_last_entry_repeats() -> None:
    model = ScriptedChatModel(errors=[TimeoutError("slow"), None], responses=["ok"])
    with pytest.raises(TimeoutError, match="slow"):
        model.invoke("x")
    assert model.invoke("x").content == "ok"
    assert model.invoke("x").content == "ok"


async def test_failing_fails_every_call_or_the_first_times() -> None:
    always = ScriptedChatModel.failing(ConnectionError("down"), model="a")
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await always.ainvoke("x")
    once = ScriptedChatModel.failing(ConnectionError("down"), times=1)
    with pytest.raises(ConnectionError):
        await once.ainvoke("x")
    assert (await once.ainvoke("x")).content == "[scripted] x"


def test_stream_error_without_fail_after_chunks_raises_before_any_chunk() -> None:
    model = ScriptedChatModel(errors=[RuntimeError("boom")])
    received: list[AIMessageChunk] = []
    with pytest.raises(RuntimeError, match="boom"):
        received.extend(model.stream("one two three"))
    assert received == []


def test_fail_after_chunks_fails_mid_stream_then_the_script_goes_on() -> None:
    model = ScriptedChatModel(errors=[RuntimeError("cut"), None], fail_after_chunks=2)
    received: list[AIMessageChunk] = []
    with pytest.raises(RuntimeError, match="cut"):
        received.extend(model.stream("one two three four"))
    assert [c.content for c in received] == ["[scripted] ", "one "]
    assert _collect(list(model.stream("a b"))).content == "[scripted] a b"


def test_fail_after_chunks_does_not_delay_invoke_failures() -> None:
    model = ScriptedChatModel(errors=[RuntimeError("cut")], fail_after_chunks=2)
    with pytest.raises(RuntimeError, match="cut"):
        model.invoke("one two three")


async def test_fail_after_chunks_async() -> None:
    model = ScriptedChatModel(errors=[ValueError("cut")], fail_after_chunks=1)
    received: list[AIMessageChunk] = []
    with pytest.raises(ValueError, match="cut"):
        async for chunk in model.astream("one two"):
            received.append(chunk)
    assert [c.content for c in received] == ["[scripted] "]


# --- call records ---------------------------------------------------------------------------


def test_calls_record_messages_and_kwargs_across_bindings() -> None:
    model = ScriptedChatModel()
    bound = model.bind(custom_flag=1)
    bound.invoke("first")
    list(model.stream("second", stop=["z"]))
    calls = model.calls
    assert all(isinstance(c, ScriptedCall) for c in calls)
    assert [c.messages[-1].content for c in calls] == ["first", "second"]
    assert calls[0].kwargs == {"custom_flag": 1}
    assert calls[0].stream is False and calls[1].stream is True
    assert calls[1].stop == ["z"]
    model.reset()
    assert model.calls == []


def test_deep_copy_starts_a_fresh_script() -> None:
    model = ScriptedChatModel(responses=["a", "b"])
    model.invoke("x")
    clone = copy.deepcopy(model)
    assert clone.calls == []
    assert clone.invoke("x").content == "a"
    assert model.invoke("x").content == "b"


# --- usage, stop, streaming -----------------------------------------------------------------


def test_usage_counts_words_of_prompt_and_reply() -> None:
    reply = ScriptedChatModel(model="m").invoke([HumanMessage("one two three")])
    assert reply.usage_metadata == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def test_streaming_yields_tokens_and_usage_on_the_last_chunk_only() -> None:
    model = ScriptedChatModel(model="m")
    chunks = list(model.stream("one two three"))
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == model.invoke("one two three").content
    assert [c.usage_metadata is not None for c in chunks].count(True) == 1
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].chunk_position == "last"
    full = _collect(chunks)
    assert full.usage_metadata == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    assert full.response_metadata["model_name"] == "m"


async def test_astream_matches_stream() -> None:
    model = ScriptedChatModel()
    sync_chunks = [c.content for c in model.stream("a b c")]
    async_chunks = [c.content for c in await _acollect(model, "a b c")]
    assert sync_chunks == async_chunks


def test_stop_sequences_truncate_the_reply() -> None:
    assert ScriptedChatModel().invoke("say you and me", stop=["you"]).content == "[scripted] say "
    model = ScriptedChatModel(stop=["and"])
    assert model.invoke("you and me").content == "[scripted] you "
    assert _collect(list(model.stream("you and me"))).content == "[scripted] you "


def test_streaming_flag_routes_invoke_through_stream() -> None:
    model = ScriptedChatModel(streaming=True)
    model.invoke("x")
    assert model.calls[0].stream is True


def test_latency_sleeps_before_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("routing_chat_model.testing.langchain.time.sleep", slept.append)
    ScriptedChatModel(latency_s=0.25).invoke("x")
    assert slept == [0.25]


async def test_async_is_native_with_latency_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("routing_chat_model.testing.langchain.asyncio.sleep", fake_sleep)
    threads: list[int] = []

    def record_thread(messages: list[BaseMessage]) -> str:
        threads.append(threading.get_ident())
        return "ok"

    model = ScriptedChatModel(respond=record_thread, latency_s=0.5)
    await model.ainvoke("x")
    await _acollect(model, "x")
    assert threads == [threading.get_ident()] * 2  # no executor thread
    assert slept == [0.5, 0.5]


# --- tool calling ---------------------------------------------------------------------------


def test_forced_tool_call_takes_numbers_from_the_prompt() -> None:
    model = ScriptedChatModel()
    reply = model.bind_tools([add], tool_choice="any").invoke("add 2 and 3")
    assert reply.content == ""
    assert reply.tool_calls == [
        {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1", "type": "tool_call"}
    ]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert model.calls[0].kwargs["tools"][0]["function"]["name"] == "add"
    assert model.calls[0].kwargs["tool_choice"] == "any"


@pytest.mark.parametrize(
    "tool_choice",
    ["get_weather", {"type": "function", "function": {"name": "get_weather"}}, "required", True],
)
def test_tool_choice_forms(tool_choice: Any) -> None:
    model = ScriptedChatModel().bind_tools([get_weather, add], tool_choice=tool_choice)
    reply = model.invoke("Weather in 'Paris'?")
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"location": "Paris"}


def test_tool_is_called_when_the_prompt_mentions_it_else_text() -> None:
    model = ScriptedChatModel().bind_tools([add, get_weather])
    assert model.invoke("What is the weather in Oslo?").tool_calls[0]["name"] == "get_weather"
    assert model.invoke("Please add 4 and 5").tool_calls[0]["args"] == {"a": 4, "b": 5}
    plain = model.invoke("Hello!")
    assert plain.tool_calls == [] and plain.content == "[scripted] Hello!"
    none = ScriptedChatModel().bind_tools([add], tool_choice="none").invoke("add 1 and 2")
    assert none.tool_calls == []


def test_unknown_forced_tool_is_a_bad_request() -> None:
    with pytest.raises(ValueError, match="not a bound tool"):
        ScriptedChatModel().bind_tools([add], tool_choice="multiply").invoke("x")


def test_after_tool_results_the_model_answers_with_them() -> None:
    model = ScriptedChatModel().bind_tools([add], tool_choice="any")
    first = model.invoke("add 2 and 3")
    result = add.invoke(first.tool_calls[0])
    final = model.invoke([HumanMessage("add 2 and 3"), first, result])
    assert final.tool_calls == []
    assert final.content == "Tool said: 5"


def test_no_argument_tool_and_unique_ids() -> None:
    model = ScriptedChatModel().bind_tools([ping], tool_choice="any")
    ids = {model.invoke("ping it").tool_calls[0]["id"] for _ in range(3)}
    assert model.invoke("x").tool_calls[0]["args"] == {}
    assert len(ids) == 3


def test_streamed_tool_call_arrives_as_chunks() -> None:
    model = ScriptedChatModel().bind_tools([add], tool_choice="add")
    chunks = _chunks(model.stream("add 7 and 8"))
    assert sum(len(c.tool_call_chunks) for c in chunks) > 1
    full = _collect(chunks)
    assert full.tool_calls[0]["name"] == "add"
    assert full.tool_calls[0]["args"] == {"a": 7, "b": 8}


async def test_tool_calling_async() -> None:
    model = ScriptedChatModel().bind_tools([add], tool_choice="any")
    reply = await model.ainvoke("add 2 and 40")
    assert reply.tool_calls[0]["args"] == {"a": 2, "b": 40}
    full = _collect(await _acollect(model, "add 1 and 1"))
    assert full.tool_calls[0]["args"] == {"a": 1, "b": 1}


def test_quoted_unicode_text_fills_string_arguments() -> None:
    @tool
    def create_customer(customer_name: str, description: str) -> str:
        """Create a customer."""
        return customer_name

    model = ScriptedChatModel().bind_tools([create_customer], tool_choice="any")
    args = model.invoke("Create a customer named '你好啊集团' (Hello Group)").tool_calls[0]["args"]
    assert args == {"customer_name": "你好啊集团", "description": "example description"}


def test_agent_loop_with_create_agent() -> None:
    from langchain.agents import create_agent

    agent = create_agent(ScriptedChatModel(), tools=[add])
    result = agent.invoke({"messages": [HumanMessage("please add 2 and 3")]})
    assert result["messages"][-1].content == "Tool said: 5"


def test_create_agent_structured_response() -> None:
    from langchain.agents import create_agent

    class Total(BaseModel):
        total: int

    agent = create_agent(ScriptedChatModel(), tools=[], response_format=Total)
    result = agent.invoke({"messages": [HumanMessage("the total is 15")]})
    assert result["structured_response"] == Total(total=15)


# --- structured output ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_structured_output_all_methods(method: Any) -> None:
    chat = ScriptedChatModel().with_structured_output(Joke, method=method)
    joke = chat.invoke("Tell me a joke about cats")
    assert joke == Joke(setup="example setup", punchline="example punchline")
    streamed = list(chat.stream("Tell me a joke"))
    assert streamed and all(isinstance(j, Joke) for j in streamed)
    assert streamed[-1] == joke


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
async def test_structured_output_async_with_dict_schema(method: Any) -> None:
    chat = ScriptedChatModel().with_structured_output(Joke.model_json_schema(), method=method)
    result = await chat.ainvoke("A joke about dogs with a rating of 4")
    assert result == {"setup": "example setup", "punchline": "example punchline", "rating": 4}


def test_structured_output_nested_schema_and_include_raw() -> None:
    chat = ScriptedChatModel().with_structured_output(
        Person, method="json_schema", include_raw=True
    )
    out = chat.invoke("Extract 'Ada', aged 36, living in 'London'")
    assert isinstance(out, dict)
    assert out["parsing_error"] is None
    assert out["parsed"] == Person(
        name="Ada", age=36, addresses=[Address(city="London", kind="home")]
    )
    assert isinstance(out["raw"], AIMessage)


def test_structured_output_bad_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="method"):
        ScriptedChatModel().with_structured_output(Joke, method="xml")  # type: ignore[arg-type]


def test_json_mode_without_schema_still_answers_json() -> None:
    chat = ScriptedChatModel().with_structured_output(None, method="json_mode")
    assert chat.invoke("hi") == {"answer": "[scripted] hi"}


# --- profile --------------------------------------------------------------------------------


def test_profile_defaults_and_partial_override() -> None:
    default = ScriptedChatModel().profile
    assert default is not None
    assert default["tool_calling"] is True and default["structured_output"] is True
    assert default["image_inputs"] is False
    custom = ScriptedChatModel(profile={"image_inputs": True, "max_input_tokens": 10}).profile
    assert custom is not None
    assert custom["image_inputs"] is True and custom["max_input_tokens"] == 10
    assert custom["tool_calling"] is True


def test_calls_beyond_the_profile_are_bad_requests() -> None:
    no_tools = ScriptedChatModel(profile={"tool_calling": False})
    with pytest.raises(ValueError, match="tool calling"):
        no_tools.bind_tools([add]).invoke("add 1 and 2")
    short = ScriptedChatModel(profile={"max_input_tokens": 3})
    with pytest.raises(ValueError, match="max_input_tokens"):
        short.invoke("one two three four")
    image = HumanMessage(
        [
            {"type": "text", "text": "what is this"},
            {"type": "image", "url": "https://example.com/a.png"},
        ]
    )
    with pytest.raises(ValueError, match="image"):
        ScriptedChatModel().invoke([image])
    seeing = ScriptedChatModel(profile={"image_inputs": True})
    assert seeing.invoke([image]).content == "[scripted] what is this"


# --- schema examples ------------------------------------------------------------------------


def test_schema_example_handles_refs_anyof_enums_and_arrays() -> None:
    schema = {
        "type": "object",
        "$defs": {"Tag": {"type": "string", "enum": ["red", "blue"]}},
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 2},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "flag": {"type": "boolean"},
            "when": {"type": "string", "format": "date"},
            "score": {"type": "number", "minimum": 10, "maximum": 20},
            "note": {"type": "string"},
        },
        "required": ["tags", "maybe", "flag", "when", "score"],
    }
    assert example_from_schema(schema, "55 then 99") == {
        "tags": ["red", "red"],
        "maybe": 55,
        "flag": True,
        "when": "2024-01-01",
        "score": 20,
    }


def test_schema_example_prefers_prompt_values_then_examples_and_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "examples": ["Rome"]},
            "n": {"type": "integer", "default": 7},
            "code": {"type": "string", "maxLength": 2},
        },
        "required": ["city", "n", "code"],
    }
    assert example_from_schema(schema, "") == {"city": "Rome", "n": 7, "code": "ex"}
    assert example_from_schema(schema, 'in "Oslo" 3 times') == {
        "city": "Oslo",
        "n": 3,
        "code": "ex",
    }


def test_schema_example_stops_on_recursive_schemas() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}},
                "required": ["child"],
            }
        },
    }
    value = example_from_schema(schema)
    depth = 0
    while value:
        value, depth = value["child"], depth + 1
    assert 1 < depth < 20


def test_prompt_values_read_numbers_and_quotes_in_order() -> None:
    values = PromptValues("What's 1.5 plus -2 for \u201cACME\u201d and 'Zed'? magic_function(3)")
    assert [values.number() for _ in range(4)] == [1.5, -2, 3, None]
    assert [values.string() for _ in range(3)] == ["ACME", "Zed", None]


def test_pick_tool_prefers_the_first_mentioned_tool() -> None:
    functions = [{"name": "get_weather"}, {"name": "lookupStock"}]
    assert pick_tool(functions, None, "stock price then weather") == functions[1]
    assert pick_tool(functions, "auto", "nothing relevant") is None
    assert pick_tool(functions, "any", "nothing relevant") == functions[0]
    assert pick_tool([{"name": "add"}], None, "my address is") is None  # whole words only
    assert pick_tool([{"name": "add"}], None, "add 1 and 2") == {"name": "add"}


def test_optional_fields_appear_only_when_the_prompt_names_them() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
    assert example_from_schema(schema, "see page 2") == {"name": "example name"}
    assert example_from_schema(schema, "her age is 41") == {"name": "example name", "age": 41}


def test_thread_pool_batch_answers_every_input() -> None:
    model = ScriptedChatModel()
    replies = model.batch(["a", "b", "c"])
    assert sorted(str(r.content) for r in replies) == [
        "[scripted] a",
        "[scripted] b",
        "[scripted] c",
    ]
    assert len(model.calls) == 3


def test_event_loop_safe_under_gather() -> None:
    async def run() -> list[AIMessage]:
        model = ScriptedChatModel()
        return list(await asyncio.gather(*(model.ainvoke(str(i)) for i in range(5))))

    replies = asyncio.run(run())
    assert [r.content for r in replies] == [f"[scripted] {i}" for i in range(5)]
