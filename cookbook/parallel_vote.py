"""Recipe: ask three models at once and keep the answer most of them agree on.

For short factual answers (a category, a yes/no, a number) several cheap models voting can be
more reliable than one. `Parallel(k=3, aggregate="majority")` asks the selected model and the
next two of its fallback plan concurrently, compares the answers on normalised text (case,
spaces and trailing punctuation ignored) and returns the most common one; every model's cost is
counted in the decision. `aggregate="judge"` would let a judge model pick the best answer
instead, `"first_valid"` returns the first answer that passes the checks.

Offline: the models are `ScriptedChatModel`s; two agree, one does not. In an application they
would be three providers' small models (e.g. `ChatOpenAI(model="gpt-4o-mini")`,
`ChatAnthropic(model="claude-3-5-haiku-latest")`, `ChatGoogleGenerativeAI(model="gemini-2.0-flash")`).

Run it: `python cookbook/parallel_vote.py`
"""

from __future__ import annotations

import asyncio
from typing import Any

from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.modes import Parallel
from routing_chat_model.testing import ScriptedChatModel

LABELS = ("billing", "technical", "account")


def is_label(text: str) -> bool:
    """Only a known label counts as a vote."""
    return text.strip(" .").lower() in LABELS


def build_router() -> RoutingChatModel:
    """Three small models voting on a ticket's category."""
    return RoutingChatModel(
        models={
            "a": ScriptedChatModel(model="gpt-4o-mini", responses=["Billing."]),
            "b": ScriptedChatModel(model="claude-3-5-haiku", responses=["technical"]),
            "c": ScriptedChatModel(model="gemini-2.0-flash", responses=["billing"]),
        },
        mode=Parallel(k=3, aggregate="majority", checks=[is_label]),
        prices={name: {"input_per_mtok": 0.15, "output_per_mtok": 0.6} for name in "abc"},
    )


async def classify(router: RoutingChatModel, ticket: str) -> dict[str, Any]:
    """One vote (async: the three models are asked concurrently)."""
    message = await router.ainvoke(f"Category of this ticket ({', '.join(LABELS)}): {ticket}")
    routing = message.response_metadata["routing"]
    return {
        "label": str(message.content).strip(" .").lower(),
        "route": routing["route"],
        "votes": {s["route"]: s["reason"] or "chosen" for s in routing["steps"]},
        "cost_usd": routing["cost_usd"],
    }


def main() -> dict[str, Any]:
    """Classify one ticket by majority vote; print the votes and the total cost."""
    result = asyncio.run(classify(build_router(), "I was charged twice this month."))
    print(f"label: {result['label']} (from {result['route']!r})")
    for route, vote in result["votes"].items():
        print(f"  {route}: {vote}")
    print(f"total cost ${result['cost_usd']:.8f}")
    return result


if __name__ == "__main__":
    main()
