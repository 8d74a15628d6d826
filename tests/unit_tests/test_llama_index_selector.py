"""RoutingSelector: this package's selectors in front of LlamaIndex query engines and retrievers.

Real `VectorStoreIndex` query engines and retrievers (built offline with `MockEmbedding` and
`MockLLM`) sit behind `RouterQueryEngine` / `RouterRetriever`; which engine answered is read
from the source nodes, which only that engine's index holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.retrievers import RouterRetriever
from llama_index.core.schema import QueryBundle
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool, RetrieverTool, ToolMetadata
from pydantic import Field

from routing_chat_model import (
    EmbeddingSelector,
    RouteConfigError,
    RoutingError,
    RoutingInputError,
    RoutingRequest,
    Rule,
    RuleSelector,
    Selection,
)
from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.llama_index.selector import RoutedSelection, RoutingSelector

TEXTS = {
    "billing": "Refunds are paid back to the original card within 5 days.",
    "docs": "Install the SDK with pip install acme, then set ACME_HOME.",
}
DESCRIPTIONS = {
    "billing": "Invoices, refunds, payments and credit cards.",
    "docs": "Installing and configuring the SDK.",
}
VOCAB = ["refund", "invoice", "card", "install", "configure", "sdk", "pip"]
EXAMPLES = {"billing": ["refund", "invoice card"], "docs": ["install sdk", "configure pip"]}


class AxisEncoder:
    """Deterministic encoder: one axis per vocabulary word, so similarities are exact."""

    name = "axis"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(VOCAB)), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in VOCAB:
                    out[i, VOCAB.index(word)] += 1
        return out

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


def embedding(**kw: Any) -> EmbeddingSelector:
    return EmbeddingSelector(EXAMPLES, encoder=AxisEncoder(), **kw)


class Recorder(BaseEventHandler):
    """Keeps the RoutingDecisionEvents instrumentation dispatches."""

    events: list[RoutingDecisionEvent] = Field(default_factory=list)

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.events.append(event)


@pytest.fixture
def events() -> Iterator[list[RoutingDecisionEvent]]:
    root = get_dispatcher()
    recorder = Recorder()
    root.add_event_handler(recorder)
    try:
        yield recorder.events
    finally:
        root.event_handlers.remove(recorder)


@pytest.fixture(scope="module")
def indexes() -> dict[str, VectorStoreIndex]:
    embed = MockEmbedding(embed_dim=8)
    return {
        name: VectorStoreIndex.from_documents([Document(text=text)], embed_model=embed)
        for name, text in TEXTS.items()
    }


@pytest.fixture(scope="module")
def engine_tools(indexes: dict[str, VectorStoreIndex]) -> list[QueryEngineTool]:
    return [
        QueryEngineTool.from_defaults(
            index.as_query_engine(llm=MockLLM()), name=name, description=DESCRIPTIONS[name]
        )
        for name, index in indexes.items()
    ]


@pytest.fixture(scope="module")
def retriever_tools(indexes: dict[str, VectorStoreIndex]) -> list[RetrieverTool]:
    return [
        RetrieverTool.from_defaults(index.as_retriever(), name=name, description=DESCRIPTIONS[name])
        for name, index in indexes.items()
    ]


def metas(*names: str | None) -> list[ToolMetadata]:
    return [ToolMetadata(description=f"tool {n}", name=n) for n in names]


def sources(response: Any) -> list[str]:
    return [node.node.get_content() for node in response.source_nodes]


def selector_result(response: Any) -> RoutedSelection:
    """What RouterQueryEngine stores as `response.metadata["selector_result"]`."""
    assert response.metadata is not None
    result = response.metadata["selector_result"]
    assert isinstance(result, RoutedSelection)
    return result


# -- in RouterQueryEngine ------------------------------------------------------------------


def test_the_chosen_query_engine_answers_and_one_event_carries_the_decision(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    engine = RouterQueryEngine(
        selector=RoutingSelector(embedding()), query_engine_tools=engine_tools, llm=MockLLM()
    )
    response = engine.query("How do I get a refund on my card?")
    assert sources(response) == [TEXTS["billing"]]
    result = selector_result(response)
    assert result.inds == [0]
    assert result.reason.startswith("embedding: similarity")
    assert "[billing " in result.reason  # the scores are in the reason

    assert len(events) == 1
    decision = events[0].decision
    assert decision == result.decision
    assert decision["route"] == "billing" and decision["selector"] == "embedding"
    assert decision["routes"] == ["billing"] and decision["plan"] == ["billing"]
    assert decision["candidates"] == ["billing", "docs"]
    assert decision["scores"]["billing"] > decision["scores"]["docs"]
    assert decision["attempts"] == [] and decision["abstained"] is False
    assert decision["latency_ms"] >= 0
    assert "refund" not in str(decision).lower()  # no query text in the decision

    engine.query("pip install fails, how do I configure the SDK?")
    assert [e.decision["route"] for e in events] == ["billing", "docs"]


class AsyncOnly:
    """A selector whose sync path must not be used from async code."""

    name = "async_only"
    route_names = frozenset({"billing", "docs"})

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        raise AssertionError("select() called from async code")

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        return Selection(route="docs", scores={"billing": 0.1, "docs": 0.9}, reason="awaited")


async def test_async_query_awaits_the_wrapped_selector(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    engine = RouterQueryEngine(
        selector=RoutingSelector(AsyncOnly()), query_engine_tools=engine_tools, llm=MockLLM()
    )
    response = await engine.aquery("anything")
    assert sources(response) == [TEXTS["docs"]]
    assert [e.decision["reason"] for e in events] == ["awaited"]
    assert selector_result(response).decision["selector"] == "async_only"


async def test_async_and_sync_selection_agree(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    selector = RoutingSelector(embedding(), multi=True)
    meta = [tool.metadata for tool in engine_tools]
    sync = selector.select(meta, "install the sdk with pip")
    async_ = await selector.aselect(meta, "install the sdk with pip")
    assert sync.inds == async_.inds == [1, 0]
    assert sync.reasons == async_.reasons
    assert len(events) == 2


def test_multi_selection_queries_every_qualifying_engine_and_combines(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    engine = RouterQueryEngine(
        selector=RoutingSelector(embedding(), multi=True),
        query_engine_tools=engine_tools,
        llm=MockLLM(),
    )
    response = engine.query("refund the invoice, and how do I install the sdk?")
    assert sorted(sources(response)) == sorted(TEXTS.values())
    result = selector_result(response)
    assert len(result.inds) == 2
    assert len(events) == 1
    assert events[0].decision["routes"] == [
        ["billing", "docs"][i] for i in result.inds
    ]  # best first


async def test_async_multi_selection_combines(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    engine = RouterQueryEngine(
        selector=RoutingSelector(embedding(), multi=True),
        query_engine_tools=engine_tools,
        llm=MockLLM(),
    )
    response = await engine.aquery("refund the invoice, and how do I install the sdk?")
    assert sorted(sources(response)) == sorted(TEXTS.values())
    assert len(events) == 1


def test_multi_selection_keeps_tools_above_the_cut_best_first() -> None:
    meta = metas("billing", "docs")
    # "refund sdk": billing 0.5 (mean of top examples), docs lower.
    no_cut = RoutingSelector(embedding(), multi=True).select(meta, "refund invoice sdk")
    assert no_cut.inds == [0, 1]
    assert no_cut.reasons[1].startswith("embedding: score ")
    scores = no_cut.decision["scores"]
    high = RoutingSelector(embedding(), multi=True, min_score=scores["docs"] + 0.01)
    assert high.select(meta, "refund invoice sdk").inds == [0]
    # The selector's own threshold is the default cut for the other tools.
    own = RoutingSelector(embedding(threshold=scores["docs"] + 0.01), multi=True)
    assert own.select(meta, "refund invoice sdk").inds == [0]
    capped = RoutingSelector(embedding(), multi=True, max_outputs=1)
    assert capped.select(meta, "refund invoice sdk").inds == [0]


def test_multi_selection_with_rules_returns_the_one_matching_tool() -> None:
    rules = RuleSelector([Rule(route="billing", keywords=["refund"])])
    selector = RoutingSelector(rules, multi=True, default="docs")
    assert selector.select(metas("billing", "docs"), "refund please").inds == [0]
    assert selector.select(metas("billing", "docs"), "hello").inds == [1]


# -- in RouterRetriever --------------------------------------------------------------------


def test_router_retriever_retrieves_from_the_chosen_retriever(
    retriever_tools: list[RetrieverTool], events: list[RoutingDecisionEvent]
) -> None:
    retriever = RouterRetriever(
        selector=RoutingSelector(embedding()), retriever_tools=retriever_tools, llm=MockLLM()
    )
    nodes = retriever.retrieve("configure the sdk")
    assert [n.node.get_content() for n in nodes] == [TEXTS["docs"]]
    assert [e.decision["route"] for e in events] == ["docs"]


async def test_router_retriever_async_multi_merges_nodes(
    retriever_tools: list[RetrieverTool], events: list[RoutingDecisionEvent]
) -> None:
    retriever = RouterRetriever(
        selector=RoutingSelector(embedding(), multi=True),
        retriever_tools=retriever_tools,
        llm=MockLLM(),
    )
    nodes = await retriever.aretrieve("refund and install")
    assert sorted(n.node.get_content() for n in nodes) == sorted(TEXTS.values())
    assert len(events) == 1 and len(events[0].decision["routes"]) == 2


# -- abstaining and the default ------------------------------------------------------------


def test_abstaining_selects_the_default_tool_and_says_so(
    engine_tools: list[QueryEngineTool], events: list[RoutingDecisionEvent]
) -> None:
    selector = RoutingSelector(embedding(threshold=0.5), default="docs")
    engine = RouterQueryEngine(selector=selector, query_engine_tools=engine_tools, llm=MockLLM())
    response = engine.query("what is the weather like?")  # no vocabulary word: abstains
    assert sources(response) == [TEXTS["docs"]]
    result = selector_result(response)
    assert result.reason.endswith("default tool 'docs'")
    assert events[0].decision["abstained"] is True
    assert events[0].decision["route"] == "docs"


def test_multi_selection_abstaining_gives_only_the_default() -> None:
    selector = RoutingSelector(embedding(threshold=0.99), multi=True, default="billing")
    assert selector.select(metas("billing", "docs"), "refund sdk").inds == [0]


def test_abstaining_without_a_default_is_a_clear_error(
    events: list[RoutingDecisionEvent],
) -> None:
    selector = RoutingSelector(RuleSelector([Rule(route="billing", keywords=["refund"])]))
    # docs has no rule: without a default it could never be chosen.
    with pytest.raises(RouteConfigError, match=r"\['docs'\] have no route"):
        selector.select(metas("billing", "docs"), "refund")
    only_billing = metas("billing")
    assert selector.select(only_billing, "refund").inds == [0]
    with pytest.raises(RoutingInputError, match=r"abstained.*no rule matched.*default=<tool name>"):
        selector.select(only_billing, "hello")
    assert len(events) == 1  # the successful selection only


def test_a_function_selector_names_a_tool_or_abstains() -> None:
    def pick(request: RoutingRequest) -> str | None:
        return {"a": "billing", "b": "nope"}.get(request.text)

    selector = RoutingSelector(pick, default="docs")
    assert selector.select(metas("billing", "docs"), "a").inds == [0]
    assert selector.select(metas("billing", "docs"), "c").inds == [1]
    with pytest.raises(RoutingError, match=r"returned 'nope', which is not one of the tools"):
        selector.select(metas("billing", "docs"), "b")


# -- bad input -----------------------------------------------------------------------------


def test_a_route_that_is_not_a_tool_is_named(events: list[RoutingDecisionEvent]) -> None:
    selector = RoutingSelector(
        EmbeddingSelector({"biling": ["refund"], "docs": ["install"]}, encoder=AxisEncoder())
    )
    with pytest.raises(RouteConfigError, match=r"routes to \['biling'\], which are not tools"):
        selector.select(metas("billing", "docs"), "refund")
    assert events == []


def test_tools_are_checked_again_when_they_change() -> None:
    selector = RoutingSelector(embedding())
    assert selector.select(metas("billing", "docs"), "refund").inds == [0]
    with pytest.raises(RouteConfigError, match="not tools"):
        selector.select(metas("billing", "support"), "refund")
    assert selector.select(metas("docs", "billing"), "refund").inds == [1]


def test_empty_nameless_or_duplicate_choices_are_rejected() -> None:
    selector = RoutingSelector(embedding())
    with pytest.raises(RoutingInputError, match="no choices"):
        selector.select([], "refund")
    with pytest.raises(RoutingInputError, match="tool 0 has no name"):
        selector.select(["billing description", "docs description"], "refund")
    with pytest.raises(RoutingInputError, match="two tools are named 'docs'"):
        selector.select(metas("billing", "docs", "docs"), "refund")


def test_default_must_be_one_of_the_tools() -> None:
    selector = RoutingSelector(embedding(), default="support")
    with pytest.raises(RouteConfigError, match="default='support' is not one of the tools"):
        selector.select(metas("billing", "docs"), "refund")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"selector": 42}, "selector"),
        ({"multi": "yes"}, "multi"),
        ({"multi": True, "max_outputs": 0}, "max_outputs"),
        ({"multi": True, "max_outputs": True}, "max_outputs"),
        ({"multi": True, "min_score": float("nan")}, "min_score"),
        ({"max_outputs": 2}, "multi=True"),
        ({"min_score": 0.5}, "multi=True"),
        ({"default": ""}, "default"),
    ],
)
def test_bad_settings_fail_when_built(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("selector", embedding())
    with pytest.raises(RouteConfigError, match=message):
        RoutingSelector(**kwargs)


# -- from_tools ----------------------------------------------------------------------------


def test_from_tools_routes_on_the_descriptions_with_the_bundled_encoder(
    engine_tools: list[QueryEngineTool],
) -> None:
    selector = RoutingSelector.from_tools(engine_tools)
    assert selector.selector.route_names == frozenset({"billing", "docs"})
    engine = RouterQueryEngine(selector=selector, query_engine_tools=engine_tools, llm=MockLLM())
    assert sources(engine.query("I was charged twice, I want a refund")) == [TEXTS["billing"]]
    assert sources(engine.query("How do I set up the SDK on my laptop?")) == [TEXTS["docs"]]


def test_from_tools_adds_examples_and_takes_tool_metadata() -> None:
    meta = [
        ToolMetadata(name="billing", description="refund"),
        ToolMetadata(name="docs", description="install"),
    ]
    selector = RoutingSelector.from_tools(
        meta, examples={"docs": ["configure pip"]}, encoder=AxisEncoder(), default="docs"
    )
    assert selector.select(meta, "configure").inds == [1]
    assert selector.default == "docs"


@pytest.mark.parametrize(
    ("tools", "examples", "message"),
    [
        ([], None, "tools is empty"),
        (["billing"], None, r"tools\[0\] is a str"),
        ([ToolMetadata(name=None, description="x")], None, "has no name"),
        ([ToolMetadata(name="a", description=" ")], None, "'a' has no description"),
        (
            [ToolMetadata(name="a", description="x"), ToolMetadata(name="a", description="y")],
            None,
            "two tools are named 'a'",
        ),
        (
            [ToolMetadata(name="a", description="x"), ToolMetadata(name="b", description="x")],
            None,
            "'a' and 'b' have the same description",
        ),
        ([ToolMetadata(name="a", description="x")], {"b": ["y"]}, "'b', which is not a tool"),
        ([ToolMetadata(name="a", description="x")], {"a": "y"}, "list of strings"),
    ],
)
def test_from_tools_rejects_tools_it_cannot_route(
    tools: list[Any], examples: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(RouteConfigError, match=message):
        RoutingSelector.from_tools(tools, examples=examples, encoder=AxisEncoder())


# -- LlamaIndex plumbing -------------------------------------------------------------------


def test_has_no_prompts_and_fits_prompt_mixin(engine_tools: list[QueryEngineTool]) -> None:
    selector = RoutingSelector(embedding())
    assert selector.get_prompts() == {}
    selector.update_prompts({})
    engine = RouterQueryEngine(selector=selector, query_engine_tools=engine_tools, llm=MockLLM())
    assert not any(key.startswith("selector:") for key in engine.get_prompts())
    # LlamaIndex's own LLM selector has prompts there: ours is a drop-in replacement for it.
    llm_engine = RouterQueryEngine(
        selector=LLMSingleSelector.from_defaults(llm=MockLLM()),
        query_engine_tools=engine_tools,
        llm=MockLLM(),
    )
    assert any(key.startswith("selector:") for key in llm_engine.get_prompts())


def test_select_accepts_a_query_bundle_and_the_event_is_inside_the_selector_span(
    events: list[RoutingDecisionEvent],
) -> None:
    selector = RoutingSelector(embedding())
    result = selector.select(metas("billing", "docs"), QueryBundle(query_str="install"))
    assert result.ind == 1
    assert len(events) == 1
    assert events[0].span_id is not None and "RoutingSelector" in events[0].span_id
    assert "RoutingSelector" in repr(selector) and "EmbeddingSelector" in repr(selector)
