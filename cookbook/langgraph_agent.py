"""Recipe: a LangGraph agent with tools, its model behind a router, streaming tokens.

`create_react_agent(router, tools)` takes the router where it would take a chat model. The
agent binds its tools to the router, which binds them to whichever model it picks, in that
model's own format. Each question is routed on its own (a weather look-up to the fast model,
a loan calculation to the strong one), and a tool-call round stays on the model that called the
tools: when the tool results come back, the router sends them to the model that asked for them
(the decision's selector says `tool_round`), so one model's tool calls are never finished by
another.

Tokens stream with `stream_mode="messages"`: LangGraph yields `(chunk, metadata)` pairs, and the
metadata of the chat model run names the model the router chose (`ls_model_name`) and the route
(`routing_route`, with `routing_selector`), so a UI can show which model is typing. The first
chunk of each answer also carries the whole decision in `response_metadata["routing"]`.

Offline: the models are `ScriptedChatModel`s, which call a bound tool when the question
mentions it (with arguments read from the question) and answer "Tool said: ..." once the tool
returned. LangGraph 1.x marks `create_react_agent` deprecated in favour of
`langchain.agents.create_agent`; the router works the same way in both.

Run it: `python cookbook/langgraph_agent.py`
"""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.messages import AIMessageChunk, ToolMessage
from langchain_core.tools import tool

from routing_chat_model import EmbeddingSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

QUESTIONS = [
    "What's the weather in 'Lisbon' right now?",
    "Compute the compound interest on 2500 at 4 percent over 10 years.",
]


@tool
def get_weather(city: str) -> str:
    """Return the current weather for a city."""
    return f"sunny and 21 C in {city}"


@tool
def compound_interest(principal: float, rate_pct: float, years: int) -> str:
    """Return the value of `principal` after `years` at `rate_pct` percent a year."""
    return f"{principal * (1 + rate_pct / 100) ** years:.2f}"


def build_agent() -> Any:
    """A ReAct agent over a router choosing between a fast and a strong model."""
    router = RoutingChatModel(
        models={
            "fast": ScriptedChatModel(model="fast-llm"),  # e.g. ChatOpenAI(model="gpt-4o-mini")
            "strong": ScriptedChatModel(model="strong-llm"),  # e.g. ChatOpenAI(model="gpt-4o")
        },
        selector=EmbeddingSelector(
            {
                "fast": ["what's the weather in Paris?", "is it raining in London?", "hi there"],
                "strong": [
                    "compute the compound interest on a loan",
                    "work out the monthly payment of a mortgage",
                    "plan a multi-step financial analysis",
                ],
            }
        ),
        default="fast",
    )
    with warnings.catch_warnings():  # LangGraph 1.x: "moved to langchain.agents"
        warnings.simplefilter("ignore", DeprecationWarning)
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(router, [get_weather, compound_interest])


def main() -> list[dict[str, Any]]:
    """Stream each question through the agent; return what each model turn did and who did it."""
    agent = build_agent()
    results = []
    for question in QUESTIONS:
        print(f"Q: {question}", end="")
        turns: list[dict[str, Any]] = []
        for chunk, metadata in agent.stream(
            {"messages": [("user", question)]}, stream_mode="messages"
        ):
            if isinstance(chunk, ToolMessage):
                print(f"\n  [tool {chunk.name}] {chunk.content}", end="")
                turns.append({"node": "tools", "tool": chunk.name, "text": chunk.content})
                continue
            if not isinstance(chunk, AIMessageChunk):
                continue
            route = metadata.get("routing_route")
            if not turns or turns[-1]["node"] != "agent":  # a new model turn starts
                turns.append(
                    {
                        "node": "agent",
                        "route": route,
                        "model": metadata.get("ls_model_name"),
                        "selector": metadata.get("routing_selector"),
                        "decision": chunk.response_metadata.get("routing"),
                        "text": "",
                        "tool_calls": [],
                        "chunks": 0,
                    }
                )
                print(
                    f"\n  [{route} -> {metadata.get('ls_model_name')}, "
                    f"selector={metadata.get('routing_selector')}] ",
                    end="",
                )
            turn = turns[-1]
            turn["chunks"] += 1
            turn["text"] += chunk.text
            print(chunk.text, end="", flush=True)
            for call in chunk.tool_call_chunks:
                if call.get("name"):
                    turn["tool_calls"].append(call["name"])
                    print(f"(calls {call['name']})", end="")
        print("\n")
        results.append({"question": question, "turns": turns})
    return results


if __name__ == "__main__":
    main()
