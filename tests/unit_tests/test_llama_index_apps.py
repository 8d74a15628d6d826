"""LlamaIndex applications run unchanged with the router as their LLM, offline.

A `VectorStoreIndex` query engine (sync, async, streaming), a condense-plus-context chat engine,
a `FunctionAgent` / `AgentWorkflow` with a tool and a `ReActAgent`, each through the router, with
`llm=` and as `Settings.llm`. Embeddings are LlamaIndex's `MockEmbedding`; children are
`ScriptedLLM`s whose answers name the model that wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.chat_engine.types import ChatMode
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.mock import MockLLM
from llama_index.core.tools import FunctionTool
from llama_index_instrumentation import root_dispatcher
from pydantic import Field

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM


class Decisions(BaseEventHandler):
    decisions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Decisions"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.decisions.append(event.decision)

    def routes(self) -> list[str]:
        return [d["route"] for d in self.decisions]


@pytest.fixture
def decisions() -> Iterator[Decisions]:
    handler = Decisions()
    root_dispatcher.add_event_handler(handler)
    yield handler
    root_dispatcher.event_handlers.remove(handler)


@pytest.fixture
def settings() -> Iterator[Any]:
    saved = Settings._llm, Settings._embed_model, Settings._callback_manager
    yield Settings
    Settings._llm, Settings._embed_model, Settings._callback_manager = saved


def make_router(**models: Any) -> RoutingChatModel:
    models = models or {"fast": ScriptedLLM(model="fast"), "strong": ScriptedLLM(model="strong")}
    return RoutingChatModel(
        models=models, selector=RuleSelector([Rule(route="strong", keywords=["prove"])])
    )


DOCS = [
    Document(text="Routing sends easy questions to a fast model."),
    Document(text="Hard proofs go to a strong model."),
]


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCS, embed_model=MockEmbedding(embed_dim=8))


# -- query engine ------------------------------------------------------------------------------


def test_query_engine(index: VectorStoreIndex, decisions: Decisions) -> None:
    engine = index.as_query_engine(llm=make_router())
    answer = str(engine.query("prove that routing works"))
    assert answer.startswith("[strong]") and "prove that routing works" in answer
    assert str(engine.query("what is routing?")).startswith("[fast]")
    assert decisions.routes() == ["strong", "fast"]


async def test_query_engine_async(index: VectorStoreIndex, decisions: Decisions) -> None:
    fast, strong = ScriptedLLM(model="fast"), ScriptedLLM(model="strong")
    engine = index.as_query_engine(llm=make_router(fast=fast, strong=strong))
    answer = await engine.aquery("prove it")
    assert str(answer).startswith("[strong]")
    assert [c.method for c in strong.calls] == ["achat"]  # natively async down to the child
    assert decisions.routes() == ["strong"]


def test_query_engine_streaming(index: VectorStoreIndex, decisions: Decisions) -> None:
    engine = index.as_query_engine(llm=make_router(), streaming=True)
    response = engine.query("prove it")
    assert isinstance(response, StreamingResponse)
    tokens = list(response.response_gen)
    assert len(tokens) > 3
    assert "".join(tokens).startswith("[strong]")
    assert decisions.routes() == ["strong"]


def test_query_engine_with_settings_llm_counts_tokens_once(
    settings: Any, decisions: Decisions
) -> None:
    counter = TokenCountingHandler(tokenizer=str.split)
    settings.callback_manager = CallbackManager([counter])
    settings.embed_model = MockEmbedding(embed_dim=8)
    settings.llm = make_router()  # children built after the manager: they adopted it
    engine = VectorStoreIndex.from_documents(DOCS).as_query_engine()
    assert str(engine.query("prove it")).startswith("[strong]")
    assert len(counter.llm_token_counts) == 1
    assert decisions.routes() == ["strong"]


# -- chat engine -------------------------------------------------------------------------------


async def test_condense_plus_context_chat_engine(
    index: VectorStoreIndex, decisions: Decisions
) -> None:
    engine = index.as_chat_engine(chat_mode=ChatMode.CONDENSE_PLUS_CONTEXT, llm=make_router())
    first = engine.chat("what is routing?")
    assert str(first).startswith("[fast] what is routing?")
    second = engine.chat("now prove it")  # condenses the question, then answers
    assert str(second).startswith("[")
    streamed = engine.stream_chat("prove it once more")
    assert "".join(streamed.response_gen).startswith("[")
    third = await engine.achat("thanks")
    assert str(third)
    # one decision per LLM call: answer, condense + answer, condense + answer, condense + answer
    assert len(decisions.decisions) == 7
    assert "strong" in decisions.routes() and "fast" in decisions.routes()


# -- agents ------------------------------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_function_agent_routes_and_keeps_the_tool_round_together(
    decisions: Decisions,
) -> None:
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=add)], llm=make_router())
    result: Any = await agent.run("prove you can add 2 and 3")
    assert str(result) == "Tool said: 5"
    assert [c.tool_name for c in result.tool_calls] == ["add"]
    assert decisions.routes() == ["strong", "strong"]
    assert [d["selector"] for d in decisions.decisions] == ["rules", "tool_round"]


async def test_agent_workflow_with_settings_llm(settings: Any, decisions: Decisions) -> None:
    settings.llm = make_router()
    workflow = AgentWorkflow.from_tools_or_functions([add])
    result = await workflow.run(user_msg="add 2 and 40")
    assert str(result) == "Tool said: 42"
    assert decisions.routes() == ["fast", "fast"]


async def test_function_agent_falls_back_mid_run(decisions: Decisions) -> None:
    router = make_router(
        fast=ScriptedLLM(model="fast", errors=[None, TimeoutError()]),
        strong=ScriptedLLM(model="strong"),
    )
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=add)], llm=router)
    result = await agent.run("add 2 and 3")
    assert str(result) == "Tool said: 5"
    assert decisions.routes() == ["fast", "strong"]  # the tool round moved after a timeout


async def test_react_agent_routes_each_step(decisions: Decisions) -> None:
    """ReAct feeds observations back as user messages, so each step is routed afresh."""
    strong = ScriptedLLM(
        model="strong",
        responses=['Thought: I need a tool.\nAction: add\nAction Input: {"a": 2, "b": 3}'],
    )
    fast = ScriptedLLM(model="fast", responses=["Thought: I can answer.\nAnswer: 5"])
    agent = ReActAgent(
        tools=[FunctionTool.from_defaults(fn=add)], llm=make_router(fast=fast, strong=strong)
    )
    result = await agent.run("prove that 2 + 3 is 5")
    assert str(result) == "5"
    assert decisions.routes() == ["strong", "fast"]
    assert "Observation: 5" in (fast.calls[0].messages[-1].content or "")


async def test_function_agent_refuses_a_router_whose_children_cannot_call_tools() -> None:
    """The router's metadata is honest: it calls tools only if a child can."""
    router = RoutingChatModel(models={"a": MockLLM(), "b": ScriptedLLM(function_calling=False)})
    assert router.metadata.is_function_calling_model is False
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=add)], llm=router)
    with pytest.raises(ValueError, match="LLM must be a FunctionCallingLLM"):
        await agent.run("add 2 and 3")
