"""Recipe: watch what the router decided, from the outside, four ways.

Every routed call produces one decision (a plain dict: `route`, `selector`, `scores`, `reason`,
`attempts`, `latency_ms`, token counts and `cost_usd`). You can read it:

1. On the answer: `AIMessage.response_metadata["routing"]`, when you hold the message.
2. With a callback handler: `on_custom_event` receives the `routing_decision` event, wherever
   the router sits in a chain or agent (pass the handler in `config={"callbacks": [...]}`).
3. As run metadata: the router's chat-model run carries the chosen model's `ls_provider` /
   `ls_model_name` plus `routing_route` and `routing_selector`, so `on_chat_model_start`, LangSmith
   and any tracer see which model the run really used.
4. From `astream_events(version="v2")`: exactly one `on_custom_event` named `routing_decision` per
   routed call, next to the usual `on_chat_model_start` / `on_chat_model_stream` events.

The decision never contains the prompt text, so it is safe to log.

Offline: `ScriptedChatModel`s stand in for the providers, priced with `prices=` so that
`cost_usd` is filled in (real models are priced from genai-prices' catalogue).

Run it: `python cookbook/watching_decisions.py`
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from routing_chat_model import EmbeddingSelector
from routing_chat_model.langchain import ROUTING_EVENT, RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel


def build_router() -> RoutingChatModel:
    """A fast and a strong model, chosen by example utterances, priced per million tokens."""
    return RoutingChatModel(
        models={
            "fast": ScriptedChatModel(model="fast-llm", provider="acme"),
            "strong": ScriptedChatModel(model="strong-llm", provider="acme"),
        },
        selector=EmbeddingSelector(
            {
                "fast": ["hi there", "thanks!", "what time is it in Tokyo?"],
                "strong": ["prove that this holds", "derive the formula step by step"],
            }
        ).warm(),  # load the encoder now, not in the first call's decision time
        default="fast",
        prices={
            "fast": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
            "strong": {"input_per_mtok": 2.50, "output_per_mtok": 10.00},
        },
    )


def describe(decision: Mapping[str, Any]) -> str:
    """One line for a decision dict."""
    scores = ", ".join(f"{k} {v:.2f}" for k, v in decision["scores"].items())
    cost = decision["cost_usd"]
    return (
        f"route={decision['route']} selector={decision['selector']} scores=[{scores}] "
        f"in {decision['latency_ms']:.2f} ms, cost "
        + ("unknown" if cost is None else f"${cost:.8f}")
    )


class DecisionLogger(BaseCallbackHandler):
    """Records the routing decision and the run metadata of every chat-model run it sees."""

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.run_metadata: list[dict[str, Any]] = []

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Called for every custom event; the router's is named `routing_decision`."""
        if name == ROUTING_EVENT:
            self.decisions.append(data)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Called when a chat-model run starts; its metadata names the chosen model."""
        keys = ("ls_provider", "ls_model_name", "routing_route", "routing_selector")
        self.run_metadata.append({k: (metadata or {}).get(k) for k in keys})


async def collect_events(router: RoutingChatModel, question: str) -> dict[str, Any]:
    """Stream one call's events; keep the decision, the run metadata and the token count."""
    decisions: list[Any] = []  # each one the decision dict
    start_metadata: dict[str, Any] = {}
    tokens = 0
    async for event in router.astream_events(question, version="v2"):
        if event["event"] == "on_custom_event" and event["name"] == ROUTING_EVENT:
            decisions.append(event["data"])
        elif event["event"] == "on_chat_model_start":
            start_metadata = dict(event["metadata"])
        elif event["event"] == "on_chat_model_stream":
            tokens += 1
    return {"decisions": decisions, "metadata": start_metadata, "stream_events": tokens}


def main() -> dict[str, Any]:
    """Watch one decision each way; return what each way saw."""
    router = build_router()

    print("1. response_metadata['routing'] on the answer")
    message = router.invoke("Prove that the sum of two even numbers is even.")
    on_message = message.response_metadata["routing"]
    print(f"   {describe(on_message)}")
    print(f"   attempts: {on_message['attempts']}")

    print("2. a callback handler (on_custom_event)")
    logger = DecisionLogger()
    router.invoke("Hi there, thanks for yesterday!", config={"callbacks": [logger]})
    for decision in logger.decisions:
        print(f"   {describe(decision)}")

    print("3. run metadata (on_chat_model_start, what LangSmith shows)")
    for metadata in logger.run_metadata:
        print(f"   {metadata}")

    print("4. astream_events(version='v2')")
    streamed = asyncio.run(
        collect_events(router, "Derive the formula for the sum of the first n integers.")
    )
    for decision in streamed["decisions"]:
        print(f"   on_custom_event {ROUTING_EVENT!r}: {describe(decision)}")
    meta = streamed["metadata"]
    print(
        f"   on_chat_model_start metadata: ls_model_name={meta.get('ls_model_name')!r} "
        f"routing_route={meta.get('routing_route')!r}; "
        f"{streamed['stream_events']} on_chat_model_stream events"
    )
    return {
        "response_metadata": on_message,
        "callback": logger.decisions,
        "run_metadata": logger.run_metadata,
        "astream_events": streamed,
    }


if __name__ == "__main__":
    main()
