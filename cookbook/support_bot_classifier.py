"""Recipe: a support bot that sends billing questions to a fine-tuned model, chit-chat to a small one.

You have a few dozen labelled past messages. `ClassifierSelector` learns from them once (a small
logistic regression on the bundled offline encoder's embeddings), then routes each new message
to the most probable route, with its probability in the decision. A message it is unsure
about (below `threshold`) abstains, and the router's default, a general model, answers it.

The fitted selector is saved as JSON + `.npz` (no pickle) and loaded back, e.g. in the
process that serves traffic, so the examples are embedded and fitted only once.

Offline: the three models are `ScriptedChatModel`s, which answer "[<model name>] <question>".
In an application they would be e.g. your fine-tuned `ChatOpenAI(model="ft:gpt-4o-mini:acme:
billing:...")`, `ChatOllama(model="llama3.2:1b")` and `ChatOpenAI(model="gpt-4o")`.

Run it: `python cookbook/support_bot_classifier.py`
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.selectors import ClassifierSelector
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
        "do you offer a discount for annual billing",
        "the VAT on my receipt is wrong",
        "I want to change my billing address",
        "there is a charge on my statement I do not recognise",
        "when will my refund arrive",
    ],
    "chit_chat": [
        "hi there, how are you",
        "thanks a lot, have a nice day",
        "tell me a joke",
        "good morning!",
        "what's your favourite movie",
        "you are very helpful, thank you",
        "hello, anyone there?",
        "how is your day going",
        "bye, see you later",
        "that made me laugh",
        "do you like music",
        "great, cheers",
    ],
}

QUESTIONS = [
    "Hi! How's your day going?",
    "My card was charged twice for the same order, can I get my money back?",
    "What's the refund policy for annual plans?",
    "Thanks, you made my day!",
    "Can you explain how photosynthesis works?",
]


def build_selector() -> ClassifierSelector:
    """Fit the classifier on the labelled messages; unsure messages abstain.

    With a few dozen examples, a strong L2 penalty keeps the probabilities modest for messages
    unlike any example (they would otherwise look certain); with a few hundred examples the
    default `l2` and the temperature calibration fitted on held-out examples do that job.
    """
    return ClassifierSelector.from_examples(EXAMPLES, threshold=0.8, l2=1.0)


def build_router(selector: ClassifierSelector) -> RoutingChatModel:
    """The fine-tuned billing model, the small chit-chat model, and a general default."""
    return RoutingChatModel(
        models={
            "general": ScriptedChatModel(model="general-llm"),
            "billing": ScriptedChatModel(model="billing-ft-llm"),
            "chit_chat": ScriptedChatModel(model="small-llm"),
        },
        selector=selector,
        default="general",  # answers whatever the classifier is unsure about
    )


def main() -> list[dict[str, Any]]:
    """Fit, save, load, route the questions; return one record per question."""
    selector = build_selector()
    print(f"fitted: {selector!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = selector.save(Path(folder) / "support-router")
        print(
            f"saved to {path.name} + {path.with_suffix('.npz').name} (JSON and arrays, no pickle)"
        )
        loaded = ClassifierSelector.load(path)  # the same (default) encoder it was fitted with
    router = build_router(loaded)

    records: list[dict[str, Any]] = []
    print("\nquestion -> answer  [route, probabilities, reason]")
    for question in QUESTIONS:
        message = router.invoke(question)
        routing = message.response_metadata["routing"]
        scores = ", ".join(f"{r}={p:.2f}" for r, p in routing["scores"].items())
        print(f"  {question}\n    -> {message.content}  [{routing['route']}; {scores}; "
              f"{routing['reason']}]")  # fmt: skip
        records.append(
            {
                "question": question,
                "answer": message.content,
                "route": routing["route"],
                "abstained": routing["abstained"],
                "scores": routing["scores"],
                "selector": routing["selector"],
            }
        )
    return records


if __name__ == "__main__":
    main()
