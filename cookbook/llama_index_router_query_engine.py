"""Recipe: route among existing LlamaIndex query engines with no LLM call to decide.

LlamaIndex's `RouterQueryEngine` chooses a query engine with a selector; its stock selectors ask
an LLM which engine fits (one extra model call per question). `RoutingSelector` puts this
package's selectors there instead: here an `EmbeddingSelector` whose routes are the tools' names,
each described by a few example questions. Deciding takes about a millisecond and no network.

It shows:

1. Single selection: billing questions go to the billing engine, SDK questions to the docs
   engine, and a question neither knows (best similarity under the threshold) goes to the
   `default` engine, a general FAQ.
2. Multi selection (`multi=True`): a question about both billing and the SDK queries both
   engines, and `RouterQueryEngine` combines their answers.
3. No examples yet: `RoutingSelector.from_tools(tools)` routes on the tools' descriptions.

Each selection is reported once as a `RoutingDecisionEvent` to LlamaIndex instrumentation event
handlers (the same event a routed chat call emits), and is also on the response, as
`response.metadata["selector_result"].decision`. The decision never holds the question text.

Offline: the indexes use `MockEmbedding` and the engines `MockLLM` (which answers by repeating
its prompt, so each answer shows the context its engine retrieved); routing uses the bundled
WordLlama encoder. Swap in your own indexes and LLM and nothing else changes.

Run it: `python cookbook/llama_index_router_query_engine.py`
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool
from pydantic import Field

from routing_chat_model import EmbeddingSelector
from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.llama_index.selector import RoutingSelector

KNOWLEDGE = {
    "billing": (
        "Billing questions: invoices, refunds, charges and subscriptions.",
        "Refunds for duplicate charges are paid back to the original card within 5 days.",
    ),
    "docs": (
        "SDK documentation: installing, configuring and using the Python client.",
        "Install the SDK with `pip install acme`; set ACME_API_KEY to configure the client.",
    ),
    "general": (
        "General questions about the company: offices, opening hours, contacts.",
        "Our support desk is open 9:00-17:00 CET, Monday to Friday.",
    ),
}
"""Tool name -> (description, the one document its index holds)."""

EXAMPLES = {
    "billing": [
        "I was charged twice this month",
        "how do I get a refund",
        "update the credit card on my account",
        "download last month's invoice",
        "why is my bill higher than usual",
        "cancel my subscription",
    ],
    "docs": [
        "how do I install the SDK",
        "configure the API key in the client",
        "the client raises a timeout error",
        "which Python versions are supported",
        "set up webhooks for my app",
        "example of paginating results",
    ],
}
"""Example questions per routed engine; `general` has none: it answers what nobody else does."""

QUESTIONS = [
    "Can I get my money back for the duplicate charge?",
    "How do I configure retries in the Python client?",
    "What are your opening hours?",
]
BOTH = "Refund my subscription; also how do I configure the API key?"


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


def build_tools() -> list[QueryEngineTool]:
    """One small vector index per topic, each behind a named, described query engine tool."""
    embed_model = MockEmbedding(embed_dim=16)
    llm = MockLLM()
    tools = []
    for name, (description, text) in KNOWLEDGE.items():
        index = VectorStoreIndex.from_documents([Document(text=text)], embed_model=embed_model)
        engine = index.as_query_engine(llm=llm)
        tools.append(QueryEngineTool.from_defaults(engine, name=name, description=description))
    return tools


def build_selector(*, multi: bool = False) -> RoutingSelector:
    """Embedding routing over the tools' names; under 0.2 similarity, the general FAQ answers."""
    return RoutingSelector(
        EmbeddingSelector(EXAMPLES, threshold=0.2).warm(),  # load the encoder now
        multi=multi,
        default="general",
    )


def ask(engine: RouterQueryEngine, question: str) -> dict[str, Any]:
    """Query the router engine; report which engine(s) answered and why."""
    response = engine.query(question)
    decision = (response.metadata or {})["selector_result"].decision
    return {
        "question": question,
        "engines": decision["routes"],
        "abstained": decision["abstained"],
        "scores": decision["scores"],
        "reason": decision["reason"],
        "context": sorted(node.node.get_content() for node in response.source_nodes),
    }


def show(record: dict[str, Any]) -> None:
    """Print one answered question."""
    scores = ", ".join(f"{k} {v:.2f}" for k, v in record["scores"].items())
    how = "default (abstained)" if record["abstained"] else f"scores [{scores}]"
    print(f"  {record['question']!r}\n    -> {' + '.join(record['engines'])}, {how}")
    for text in record["context"]:
        print(f"       context: {text}")


def main() -> dict[str, Any]:
    """Route questions among three query engines, three ways; return what happened."""
    log = DecisionLog()
    root = get_dispatcher()
    root.add_event_handler(log)
    try:
        tools = build_tools()
        llm = MockLLM()

        print("1. Single selection (EmbeddingSelector over the tool names, default='general'):")
        single = RouterQueryEngine(selector=build_selector(), query_engine_tools=tools, llm=llm)
        singles = [ask(single, q) for q in QUESTIONS]
        for record in singles:
            show(record)

        print("\n2. Multi selection: every engine scoring >= the threshold answers, combined:")
        multi = RouterQueryEngine(
            selector=build_selector(multi=True), query_engine_tools=tools, llm=llm
        )
        both = ask(multi, BOTH)
        show(both)

        print("\n3. No examples yet: route on the tools' descriptions:")
        described = RouterQueryEngine(
            selector=RoutingSelector.from_tools(tools[:2]), query_engine_tools=tools[:2], llm=llm
        )
        from_tools = [ask(described, q) for q in QUESTIONS[:2]]
        for record in from_tools:
            show(record)
    finally:
        root.event_handlers.remove(log)

    print(f"\n{len(log.decisions)} RoutingDecisionEvents reached the instrumentation handler.")
    return {"single": singles, "multi": both, "from_tools": from_tools, "events": log.decisions}


if __name__ == "__main__":
    main()
