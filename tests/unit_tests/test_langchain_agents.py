"""The router inside agents: LangGraph's `create_react_agent` and `langchain.agents.create_agent`.

An agent gains routing by taking the router where it took a chat model; tool loops, token
streaming through LangGraph and structured responses keep working, and every model step is
routed (and reported) on its own.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

with warnings.catch_warnings():  # create_react_agent is deprecated in favour of create_agent
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Sum(BaseModel):
    total: int


def make_router(**children: ScriptedChatModel) -> RoutingChatModel:
    """Arithmetic ("add") goes to beta, everything else to alpha."""
    models = {
        "alpha": children.get("alpha") or ScriptedChatModel(model="fake-alpha"),
        "beta": children.get("beta") or ScriptedChatModel(model="fake-beta"),
    }
    return RoutingChatModel(
        models=models, selector=RuleSelector([Rule(route="beta", keywords=["add"])])
    )


def routing(message: BaseMessage) -> dict[str, Any]:
    return dict(message.response_metadata["routing"])


def react_agent(router: RoutingChatModel) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(router, [add])


QUESTION = {"messages": [("human", "please add 2 and 3")]}


def test_react_agent_tool_loop_is_routed_step_by_step() -> None:
    router = make_router()
    messages = react_agent(router).invoke(QUESTION)["messages"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    call, result, answer = messages[1], messages[2], messages[3]
    assert call.tool_calls[0]["name"] == "add" and call.tool_calls[0]["args"] == {"a": 2, "b": 3}
    assert routing(call)["route"] == "beta" and routing(call)["selector"] == "rules"
    assert result.content == "5"
    assert answer.content == "Tool said: 5"
    assert routing(answer)["route"] == "beta" and routing(answer)["selector"] == "tool_round"
    assert router.models["alpha"].calls == []  # type: ignore[attr-defined]


def test_react_agent_streams_tokens_once_with_the_route_in_metadata() -> None:
    chunks: list[tuple[Any, dict[str, Any]]] = list(
        react_agent(make_router()).stream(QUESTION, stream_mode="messages")
    )
    model_chunks = [(c, m) for c, m in chunks if isinstance(c, AIMessageChunk)]
    assert model_chunks and all(m["langgraph_node"] == "agent" for _, m in model_chunks)
    assert {m["routing_route"] for _, m in model_chunks} == {"beta"}
    assert {m["ls_model_name"] for _, m in model_chunks} == {"fake-beta"}
    tool_index = next(i for i, (c, _) in enumerate(chunks) if isinstance(c, ToolMessage))
    final_text = "".join(str(c.content) for c, _ in chunks[tool_index + 1 :])
    assert final_text == "Tool said: 5"  # each token exactly once, from one model run
    assert len([c for c, _ in chunks[tool_index + 1 :] if c.content]) > 1  # really streamed


def test_react_agent_emits_one_routing_event_per_model_step() -> None:
    agent = react_agent(make_router())

    async def collect() -> list[dict[str, Any]]:
        return [e async for e in agent.astream_events(QUESTION, version="v2")]

    events = asyncio.run(collect())
    starts = [e for e in events if e["event"] == "on_chat_model_start"]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert len(starts) == 2
    assert [e["name"] for e in custom] == ["routing_decision", "routing_decision"]
    assert [e["run_id"] for e in custom] == [e["run_id"] for e in starts]
    assert [e["data"]["selector"] for e in custom] == ["rules", "tool_round"]
    assert all(e["metadata"]["langgraph_node"] == "agent" for e in custom)
    assert all(e["metadata"]["routing_route"] == "beta" for e in starts)


def test_create_agent_tool_loop() -> None:
    router = make_router()
    out = create_agent(router, tools=[add]).invoke({"messages": [("human", "add 7 and 8")]})
    assert out["messages"][-1].content == "Tool said: 15"
    assert [routing(m)["route"] for m in out["messages"] if isinstance(m, AIMessage)] == [
        "beta",
        "beta",
    ]


def test_create_agent_response_format_with_provider_structured_output() -> None:
    """Children of one provider: the router claims native structured output, so create_agent
    sends a response_format, which must reach the chosen child intact."""
    router = make_router()
    assert router.profile is not None and router.profile.get("structured_output") is True
    agent = create_agent(router, tools=[add], response_format=Sum)
    out = agent.invoke({"messages": [("human", "add 7 and 8")]})
    assert isinstance(out["structured_response"], Sum)
    last_call = router.models["beta"].calls[-1]  # type: ignore[attr-defined]
    assert last_call.kwargs["response_format"]["json_schema"]["name"] == "Sum"
    assert "tool_bind_kwargs" not in last_call.kwargs


def test_create_agent_response_format_without_tools_reaches_the_child() -> None:
    router = make_router()
    out = create_agent(router, response_format=Sum).invoke({"messages": [("human", "total 42")]})
    assert out["structured_response"] == Sum(total=42)
    assert router.models["alpha"].calls[-1].kwargs["response_format"]["type"] == "json_schema"  # type: ignore[attr-defined]


def test_create_agent_response_format_with_tool_strategy() -> None:
    """Children of different providers: no provider response_format is sent; the structured
    answer comes as a tool call, which every tool-calling child can make."""

    def beta_script(messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            call = {"name": "Sum", "args": {"total": int(str(last.content))}, "id": "c2"}
        else:
            call = {"name": "add", "args": {"a": 7, "b": 8}, "id": "c1"}
        return AIMessage(content="", tool_calls=[call])

    beta = ScriptedChatModel(model="fake-beta", provider="other", respond=beta_script)
    router = make_router(beta=beta)
    assert router.profile is not None and router.profile.get("structured_output") is False
    out = create_agent(router, tools=[add], response_format=Sum).invoke(
        {"messages": [("human", "add 7 and 8")]}
    )
    assert out["structured_response"] == Sum(total=15)
    bound = [t["function"]["name"] for t in beta.calls[-1].kwargs["tools"]]
    assert bound == ["add", "Sum"] and beta.calls[-1].kwargs["tool_choice"] == "any"
    assert "response_format" not in beta.calls[-1].kwargs


@pytest.mark.parametrize("stream_mode", ["messages", "updates"])
def test_agent_async_stream(stream_mode: str) -> None:
    agent = react_agent(make_router())

    async def collect() -> list[Any]:
        return [item async for item in agent.astream(QUESTION, stream_mode=stream_mode)]

    items = asyncio.run(collect())
    if stream_mode == "messages":
        routes = {m.get("routing_route") for c, m in items if isinstance(c, AIMessageChunk)}
        assert routes == {"beta"}
    else:
        answers = [u["agent"]["messages"][-1] for u in items if "agent" in u]
        assert answers[-1].content == "Tool said: 5"
