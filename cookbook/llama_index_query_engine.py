"""Recipe: a LlamaIndex query engine whose LLM is the router.

`index.as_query_engine(llm=llm)` becomes `index.as_query_engine(llm=router, ...)`: each question
is answered by a fast model when it is a lookup and by a strong model when it needs reasoning,
chosen by an `EmbeddingSelector` from a few example questions. Sync `query`, async `aquery` and
streaming all route; each LLM call dispatches one `RoutingDecisionEvent` to instrumentation
handlers.

One thing to get right: route on the question, not on the retrieved context. LlamaIndex's
default question-answering prompt puts the context and the question into one user message; the
router recognises LlamaIndex's own QA, refine and condense templates and routes on the question
inside them (the recipe asks the reasoning question through the default prompt to show it). With
a custom template of your own, keep the context in the system message and the question alone in
the user message, as the recipe's `QA_PROMPT` does.

Offline: the index uses `MockEmbedding`; the models are `ScriptedLLM`s that answer
`"[<model name>] <question>"`, so you can see who answered; routing uses the bundled WordLlama
encoder. Swap in `OpenAI(model=..., max_retries=0)`, `Anthropic(...)`, `Ollama(...)` and nothing
else changes. `Settings.llm = router` works as well as `llm=router`.

Run it: `python cookbook/llama_index_query_engine.py`
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.prompts import ChatPromptTemplate
from pydantic import Field

from routing_chat_model import EmbeddingSelector
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM

DOCS = [
    "The Basic plan costs $10 a month, the Pro plan $30 and the Team plan $25 per seat.",
    "Support is open 9:00-17:00 CET on weekdays; Team plans get 24/7 support.",
    "Data can be hosted in the EU (Frankfurt) or the US (Virginia).",
    "API v2 replaces v1 webhooks with signed event subscriptions; v1 shuts down in June.",
]

QA_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Answer the user's question from this context only.\n"
            "---------------------\n{context_str}\n---------------------",
        ),
        ("user", "{query_str}"),
    ]
)
"""The question alone in the user message, so that routing sees the question only."""

EXAMPLES = {
    "fast": [
        "how much is the basic plan per month",
        "what does the pro plan cost",
        "when is support open",
        "where is your office",
        "how many seats are included",
        "which regions are available",
    ],
    "strong": [
        "compare the pro and team plans for a growing startup",
        "explain why latency grows under load and how to fix it",
        "write a step by step migration plan from the old API",
        "analyse the trade-offs between the two architectures",
        "draft a proposal for our security review",
        "recommend a plan for our company and justify it",
    ],
}

LOOKUP = "How much is the Team plan per month?"
REASONING = "Compare the Pro and Team plans for a 40-person company and recommend one."
STREAMED = "Explain step by step how to migrate our webhooks to API v2."


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


def build_router() -> RoutingChatModel:
    """A fast and a strong model, chosen by similarity to example questions."""
    return RoutingChatModel(
        models={"fast": ScriptedLLM(model="fast-llm"), "strong": ScriptedLLM(model="strong-llm")},
        selector=EmbeddingSelector(EXAMPLES).warm(),  # load the encoder now, not on 1st call
        default="fast",
    )


def build_index() -> VectorStoreIndex:
    """A small vector index (mock embeddings: retrieval is not the point here)."""
    documents = [Document(text=text) for text in DOCS]
    return VectorStoreIndex.from_documents(documents, embed_model=MockEmbedding(embed_dim=16))


def record(question: str, answer: str, decision: dict[str, Any]) -> dict[str, Any]:
    """What happened to one question."""
    scores = ", ".join(f"{k} {v:.2f}" for k, v in decision["scores"].items())
    first_line = answer.splitlines()[0] if answer else ""
    print(f"  {question!r}\n    -> {decision['route']} [{scores}]: {first_line}")
    return {"question": question, "answer": answer, "decision": decision}


async def ask_async(engine: Any, question: str) -> str:
    """`aquery`: the router awaits the chosen model's own async method."""
    return str(await engine.aquery(question))


def main() -> dict[str, Any]:
    """Ask a lookup and a reasoning question three ways; return what each route answered."""
    log = DecisionLog()
    root = get_dispatcher()
    root.add_event_handler(log)
    try:
        router = build_router()
        index = build_index()
        engine = index.as_query_engine(llm=router, text_qa_template=QA_PROMPT)

        print("query():")
        sync = [record(q, str(engine.query(q)), log.decisions[-1]) for q in (LOOKUP, REASONING)]

        print("aquery():")
        answer = asyncio.run(ask_async(engine, LOOKUP))
        async_ = record(LOOKUP, answer, log.decisions[-1])

        print("LlamaIndex's default prompt (context + question in one message):")
        # Every document in the context: mock embeddings tie, and ties would pick at random.
        default_prompt = index.as_query_engine(llm=router, similarity_top_k=len(DOCS))
        naive = [record(q, str(default_prompt.query(q)), log.decisions[-1]) for q in (REASONING,)]

        print("streaming=True:")
        streaming = index.as_query_engine(llm=router, text_qa_template=QA_PROMPT, streaming=True)
        response = streaming.query(STREAMED)
        assert isinstance(response, StreamingResponse)
        tokens = list(response.response_gen)
        streamed = record(STREAMED, "".join(tokens), log.decisions[-1])
        streamed["tokens"] = len(tokens)
    finally:
        root.event_handlers.remove(log)

    print(f"\n{len(log.decisions)} RoutingDecisionEvents, one per LLM call.")
    return {
        "query": sync,
        "aquery": async_,
        "default_prompt": naive[0],
        "stream": streamed,
        "events": log.decisions,
    }


if __name__ == "__main__":
    main()
