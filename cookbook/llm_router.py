"""Recipe: let a cheap chat model pick the route (LLM-as-router), safely.

A support bot has a fine-tuned billing model and a small chat model. Instead of examples or
keywords, each route gets a one-line description, and a cheap model reads them and picks:

```python
selector = LLMRouterSelector(
    ChatOpenAI(model="gpt-4o-mini", max_retries=0),
    routes={"chat": "greetings, small talk, product questions",
            "billing": "invoices, refunds, charges, payment methods"},
)
router = RoutingChatModel(models={"chat": small, "billing": tuned}, selector=selector)
```

The routing model answers through `with_structured_output` with an enum of the route names, so
it cannot invent a route. Its decisions are cached (keyed by a hash of the text; no prompt text
is kept), and it never breaks a call: if it fails or answers nonsense, the default route answers
and the decision says why (the exception type only).

Offline: the routing model is a `ScriptedChatModel` that answers the structured-output tool
call the way a small model would; the answering models are scripted fakes.

Run it: `python cookbook/llm_router.py`
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from routing_chat_model.langchain import LLMRouterSelector, RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

ROUTES = {
    "chat": "greetings, small talk, questions about the product",
    "billing": "invoices, refunds, charges, payment methods",
}
MONEY_WORDS = ("invoice", "refund", "charged", "card", "payment")


def routing_answer(messages: list[BaseMessage]) -> AIMessage:
    """What a cheap routing model answers: a call of the `RouteChoice` tool."""
    request = messages[-1].text.lower()
    if "crash the router" in request:  # stands in for a provider outage
        raise TimeoutError("the routing model timed out")
    route = "billing" if any(word in request for word in MONEY_WORDS) else "chat"
    call = {"name": "RouteChoice", "args": {"route": route}, "id": "call_route"}
    return AIMessage(content="", tool_calls=[call])


def build_router() -> tuple[RoutingChatModel, ScriptedChatModel]:
    routing_model = ScriptedChatModel(model="gpt-4o-mini", respond=routing_answer)
    router = RoutingChatModel(
        models={
            "chat": ScriptedChatModel(model="small-chat"),
            "billing": ScriptedChatModel(model="ft-billing"),
        },
        selector=LLMRouterSelector(routing_model, ROUTES),
        default="chat",
    )
    return router, routing_model


def main() -> list[dict[str, Any]]:
    router, routing_model = build_router()
    questions = [
        "Hi there, what does your product do?",
        "I was charged twice for my subscription",
        "I was charged twice for my subscription",  # same text: the cached decision
        "please crash the router for this one",  # the routing model fails: default answers
    ]
    records = []
    for question in questions:
        routing = router.invoke(question).response_metadata["routing"]
        records.append(
            {"question": question, "route": routing["route"], "reason": routing["reason"]}
        )
        print(f"{question[:42]!r:46} -> {routing['route']:8} {routing['reason']}")
    print(f"routing model calls: {len(routing_model.calls)} for {len(questions)} questions")
    return records


if __name__ == "__main__":
    main()
