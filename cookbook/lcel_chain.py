"""Recipe: add routing to an LCEL chain you already have, by changing one line.

An existing chain `prompt | llm | parser` sends every question to one model. Replace `llm` by a
`RoutingChatModel` and nothing else changes: the prompt, the parser, `invoke`/`batch`/`stream`
and your callbacks all work as before, and each call now goes to the model that fits it.

The router here combines two selectors, asked in turn (the first that does not abstain wins):

1. Rules: questions that carry credentials go to a local model (they must not leave the
   building), and very long inputs go to the strong model.
2. Embeddings (the bundled offline encoder): small talk and simple look-ups go to the fast
   model, proofs and multi-step reasoning to the strong one.

And a fallback order: when the strong model is rate limited the fast one answers, while the local
model has no fallback at all, so a sensitive question never reaches a remote model.

Offline: the three models are `ScriptedChatModel`s, which answer "[<model name>] <question>" so
you can see who answered. In an application they would be e.g. `ChatOllama(model="llama3.2")`,
`ChatOpenAI(model="gpt-4o-mini")` and `ChatOpenAI(model="gpt-4o")`.

Run it: `python cookbook/lcel_chain.py`
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from routing_chat_model import (
    EmbeddingSelector,
    RoutingRequest,
    Rule,
    RuleSelector,
    Selection,
    Selector,
)
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

QUESTIONS = [
    "Hi! Thanks for the quick reply yesterday.",
    "My password is hunter2 and I am locked out, can you reset my account?",
    "Prove that our refund formula never pays out more than the order total.",
    "Reason step by step: which of our three pricing plans minimises churn risk?",
]


class RateLimitError(Exception):
    """What a provider's SDK raises on HTTP 429 (the router reads `status_code`)."""

    status_code = 429


class FirstMatch:
    """A selector that asks several selectors in turn; the first that picks a route decides.

    Any object with `name`, `route_names`, `select` and `aselect` is a `Selector`.
    """

    name = "rules+embedding"

    def __init__(self, *selectors: Selector) -> None:
        if not selectors:
            raise ValueError("FirstMatch needs at least one selector")
        self.selectors = selectors

    @property
    def route_names(self) -> frozenset[str]:
        """Every route any of the selectors can return (checked against the models)."""
        return frozenset().union(*(s.route_names or () for s in self.selectors))

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """The first selector's choice that is not an abstention."""
        selection = Selection(route=None, reason="no selector")
        for selector in self.selectors:
            selection = selector.select(request, candidates)
            if selection.route is not None:
                break
        return Selection(selection.route, selection.scores, f"{selector.name}: {selection.reason}")

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select` (the selectors here are CPU-only)."""
        return self.select(request, candidates)


def build_router() -> RoutingChatModel:
    """Three models, rules then embeddings, and a fallback order."""
    models = {
        "local": ScriptedChatModel(model="local-llm"),
        "fast": ScriptedChatModel(model="fast-llm"),
        # The strong model answers once, then is rate limited once (scripted), then recovers.
        "strong": ScriptedChatModel(model="strong-llm", errors=[None, RateLimitError(), None]),
    }
    rules = RuleSelector(
        [
            Rule(
                route="local",
                pattern=r"\b(password|passcode|iban|ssn)\b",
                name="credentials stay local",
            ),
            Rule(route="strong", min_tokens=2_000, name="long input"),
        ]
    )
    embeddings = EmbeddingSelector(
        {
            "fast": [
                "hi, thanks!",
                "hello there",
                "thank you for your help",
                "what are your opening hours?",
                "where is my order?",
            ],
            "strong": [
                "prove that this formula is correct",
                "reason step by step about the trade-offs",
                "compare these plans and justify which is best",
                "analyse the risks of this decision",
            ],
        }
    )
    return RoutingChatModel(
        models=models,
        selector=FirstMatch(rules, embeddings),
        default="fast",
        # strong -> fast on rate limits, timeouts, 5xx; local never falls back to a remote model.
        fallbacks={"strong": ["fast"], "fast": ["strong"], "local": []},
    )


def main() -> list[dict[str, Any]]:
    """Run the chain before and after the change; return one record per routed question."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are ACME's support assistant."), ("human", "{question}")]
    )
    parser = StrOutputParser()

    # Before: every question goes to one model.
    llm = ScriptedChatModel(model="strong-llm")
    chain = prompt | llm | parser
    print("Before: chain = prompt | llm | parser")
    for question in QUESTIONS:
        print(f"  {chain.invoke({'question': question})}")

    # After: the one-line change.
    router = build_router()
    chain = prompt | router | parser
    print("\nAfter:  chain = prompt | router | parser   (the only line that changed)")
    records: list[dict[str, Any]] = []
    for question in QUESTIONS:
        answer = chain.invoke({"question": question})
        print(f"  {answer}")
        records.append({"question": question, "answer": answer})

    # The parser returns text; to see the decision, stop the chain before it.
    print("\nDecisions (prompt | router, read from response_metadata['routing']):")
    router = build_router()  # fresh scripts: the strong model's rate limit hits question 4 again
    for record in records:
        message = (prompt | router).invoke({"question": record["question"]})
        routing = message.response_metadata["routing"]
        attempts = " -> ".join(
            f"{a['route']}" + (f" ({a['error']})" if a["error"] else "")
            for a in routing["attempts"]
        )
        print(f"  chose {routing['selected']:<6} ({routing['reason']}); attempts: {attempts}")
        record.update(
            selected=routing["selected"],
            route=routing["route"],
            reason=routing["reason"],
            attempts=[(a["route"], a["error"]) for a in routing["attempts"]],
        )
    return records


if __name__ == "__main__":
    main()
