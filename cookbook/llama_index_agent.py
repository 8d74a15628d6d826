"""Recipe: a LlamaIndex `FunctionAgent` with tools, its LLM behind the router, streaming.

`FunctionAgent(tools=..., llm=router)` takes the router where it would take an LLM. The router
says it can call functions when a child can, hands the tools to whichever model it picks (in
that model's own format, through its `chat_with_tools`), and lets that model parse its own tool
calls. Each question is routed on its own (a weather look-up to the fast model, an interest
calculation to the strong one), and a tool round stays on the model that called the tools: when
the tool results come back, the router sends them to the model that asked for them (the
decision's selector says `tool_round`), so one model's tool calls are never finished by another.

The agent's event stream works as usual: `handler.stream_events()` yields `AgentStream` deltas
(the chosen model's tokens), `ToolCall` and `ToolCallResult` events. Every LLM call also
dispatches one `RoutingDecisionEvent` to instrumentation handlers: this recipe reads which model
took each step from those.

Offline: the models are `ScriptedLLM`s, which call a bound tool when the question mentions it
(with arguments read from the question) and answer "Tool said: ..." once the tool returned.
Swap in `OpenAI(model="gpt-4o-mini", max_retries=0)` / `OpenAI(model="gpt-4o", max_retries=0)`
and nothing else changes. `AgentWorkflow` and `ReActAgent` take the router the same way.

Run it: `python cookbook/llama_index_agent.py`
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.tools import FunctionTool
from pydantic import Field

from routing_chat_model import EmbeddingSelector
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM

QUESTIONS = [
    "What's the weather in 'Lisbon' right now?",
    "Compute the compound interest on 2500 at 4 percent over 10 years.",
]


def get_weather(city: str) -> str:
    """Return the current weather for a city."""
    return f"sunny and 21 C in {city}"


def compound_interest(principal: float, rate_pct: float, years: int) -> str:
    """Return the value of `principal` after `years` at `rate_pct` percent a year."""
    return f"{principal * (1 + rate_pct / 100) ** years:.2f}"


class DecisionLog(BaseEventHandler):
    """An instrumentation handler that keeps every routing decision it sees."""

    decisions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        """Name shown by instrumentation."""
        return "DecisionLog"

    def handle(self, event: Any, **kwargs: Any) -> None:
        """Keep routing decisions; ignore LlamaIndex's other events."""
        if isinstance(event, RoutingDecisionEvent):
            self.decisions.append(event.decision)


def build_agent() -> FunctionAgent:
    """A function-calling agent over a router choosing between a fast and a strong model."""
    router = RoutingChatModel(
        models={
            "fast": ScriptedLLM(model="fast-llm"),  # e.g. OpenAI(model="gpt-4o-mini")
            "strong": ScriptedLLM(model="strong-llm"),  # e.g. OpenAI(model="gpt-4o")
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
        ).warm(),
        default="fast",
    )
    tools = [
        FunctionTool.from_defaults(fn=get_weather),
        FunctionTool.from_defaults(fn=compound_interest),
    ]
    return FunctionAgent(tools=tools, llm=router, system_prompt="Use the tools to answer.")


async def run(agent: FunctionAgent, question: str, log: DecisionLog) -> dict[str, Any]:
    """Run one question, streaming its events; return what each model step did and who did it."""
    first = len(log.decisions)
    handler = agent.run(user_msg=question)
    deltas = 0
    tools: list[dict[str, Any]] = []
    async for event in handler.stream_events():
        if isinstance(event, AgentStream):
            deltas += bool(event.delta)
        elif isinstance(event, ToolCallResult):
            tools.append(
                {
                    "tool": event.tool_name,
                    "kwargs": event.tool_kwargs,
                    "output": str(event.tool_output),
                }
            )
    answer = str(await handler)
    steps = [
        {"route": d["route"], "model": d["model_name"], "selector": d["selector"]}
        for d in log.decisions[first:]
    ]
    return {
        "question": question,
        "steps": steps,
        "tools": tools,
        "answer": answer,
        "deltas": deltas,
    }


async def amain() -> list[dict[str, Any]]:
    """Ask every question; print and return what happened."""
    agent = build_agent()
    log = DecisionLog()
    root = get_dispatcher()
    root.add_event_handler(log)
    try:
        results = []
        for question in QUESTIONS:
            result = await run(agent, question, log)
            print(f"Q: {question}")
            for step in result["steps"]:
                print(
                    f"   LLM step: {step['route']} -> {step['model']}, selector={step['selector']}"
                )
            for call in result["tools"]:
                print(f"   tool {call['tool']}({call['kwargs']}) = {call['output']}")
            print(f"A: {result['answer']}  ({result['deltas']} streamed deltas)\n")
            results.append(result)
        return results
    finally:
        root.event_handlers.remove(log)


def main() -> list[dict[str, Any]]:
    """Run the recipe (an agent runs in an event loop)."""
    return asyncio.run(amain())


if __name__ == "__main__":
    main()
