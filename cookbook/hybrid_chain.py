"""Recipe: combine selectors in one readable expression, and keep a conversation on its model.

The support bot of `support_bot_classifier.py` grows three requirements:

1. Messages carrying credentials must stay on a local model, whatever they are about: a rule,
   asked first. `first_of(rules, classifier)`: the first selector that picks a route decides,
   and the decision's reason names it ("rules: ..." or "classifier: ...").
2. A second opinion: `weighted({classifier: 0.6, embeddings: 0.4}, threshold=0.7)` adds both
   selectors' votes (each one's scores put on a 0..1 scale) and abstains when they disagree.
3. A conversation that started on the fine-tuned billing model stays there for its small-talk
   follow-ups: `sticky(...)`, keyed by the thread id in the call's metadata (LangGraph passes
   `configurable.thread_id` there for you).

Offline: the models are `ScriptedChatModel`s, which answer "[<model name>] <question>".

Run it: `python cookbook/hybrid_chain.py`
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from routing_chat_model import EmbeddingSelector, Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.selectors import (
    ClassifierSelector,
    Selector,
    first_of,
    sticky,
    weighted,
)
from routing_chat_model.testing import ScriptedChatModel

EXAMPLES = {
    "billing": [
        "I was charged twice for my subscription this month",
        "how do I update the credit card on my account",
        "can I get a refund for my last invoice",
        "why is my bill higher than usual",
        "please cancel my plan and stop the payments",
        "where can I download my invoices",
        "my payment failed, what should I do",
        "the VAT on my receipt is wrong",
    ],
    "chit_chat": [
        "hi there, how are you",
        "thanks a lot, have a nice day",
        "tell me a joke",
        "good morning!",
        "you are very helpful, thank you",
        "how is your day going",
        "bye, see you later",
        "great, cheers",
    ],
}


def build_selectors() -> dict[str, Selector]:
    """The three building blocks: rules, a classifier and an embedding selector."""
    return {
        "rules": RuleSelector(
            [Rule(route="local", pattern=r"\b(password|iban|passcode)\b", name="credentials")]
        ),
        "classifier": ClassifierSelector.from_examples(EXAMPLES, threshold=0.8, l2=1.0),
        "embeddings": EmbeddingSelector(EXAMPLES, threshold=0.5),
    }


def build_router(selector: Selector) -> RoutingChatModel:
    """General default, fine-tuned billing model, small chit-chat model, local model."""
    return RoutingChatModel(
        models={
            "general": ScriptedChatModel(model="general-llm"),
            "billing": ScriptedChatModel(model="billing-ft-llm"),
            "chit_chat": ScriptedChatModel(model="small-llm"),
            "local": ScriptedChatModel(model="local-llm"),
        },
        selector=selector,
        default="general",
        fallbacks={"local": []},  # credentials never fall back to a remote model
    )


def _ask(router: RoutingChatModel, text: str, thread: str | None = None) -> dict[str, Any]:
    config: RunnableConfig = {"metadata": {"thread_id": thread}} if thread else {}
    message = router.invoke(text, config)
    decision = message.response_metadata["routing"]
    print(
        f"  {text}\n    -> {decision['route']:<9} by {decision['selector']}: {decision['reason']}"
    )
    return {
        "text": text,
        "route": decision["route"],
        "selector": decision["selector"],
        "reason": decision["reason"],
        "scores": decision["scores"],
    }


def main() -> dict[str, list[dict[str, Any]]]:
    """Route a few messages with each composition; return what each decided."""
    parts = build_selectors()
    rules, classifier, embeddings = parts["rules"], parts["classifier"], parts["embeddings"]
    seen: dict[str, list[dict[str, Any]]] = {}

    print("1. first_of(rules, classifier)")
    router = build_router(first_of(rules, classifier))
    seen["first_of"] = [
        _ask(router, text)
        for text in (
            "My IBAN changed, please update the refund account",
            "Why was I charged twice this month?",
            "Hey, good morning!",
            "Can you explain how photosynthesis works?",
        )
    ]

    print("\n2. weighted({classifier: 0.6, embeddings: 0.4}, threshold=0.7)")
    router = build_router(weighted({classifier: 0.6, embeddings: 0.4}, threshold=0.7))
    seen["weighted"] = [
        _ask(router, text)
        for text in (
            "Can I get a refund for my invoice?",
            "Thanks, have a good one!",
            "Can you explain how photosynthesis works?",
        )
    ]

    print("\n3. sticky(first_of(rules, classifier)), two threads")
    router = build_router(sticky(first_of(rules, classifier)))
    seen["sticky"] = [
        _ask(router, "Why is my bill higher than usual?", thread="ticket-1"),
        _ask(router, "Thanks, you're great!", thread="ticket-1"),
        _ask(router, "Thanks, you're great!", thread="ticket-2"),
    ]
    return seen


if __name__ == "__main__":
    main()
