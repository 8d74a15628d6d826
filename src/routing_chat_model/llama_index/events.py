"""`RoutingDecisionEvent`: one instrumentation event per routed call, for LlamaIndex handlers."""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.events import BaseEvent
from pydantic import Field

__all__ = ["RoutingDecisionEvent"]


class RoutingDecisionEvent(BaseEvent):
    """The decision of one routed call, dispatched to instrumentation event handlers.

    `decision` holds the same plain dict as the response's `additional_kwargs["routing"]`
    (route, selector, scores, reason, attempts, latency_ms, ...). It never holds prompt text.
    """

    decision: dict[str, Any] = Field(default_factory=dict)
    """The decision, as `RoutingDecision.to_dict()`."""

    @classmethod
    def class_name(cls) -> str:
        """Name shown by instrumentation handlers."""
        return "RoutingDecisionEvent"
