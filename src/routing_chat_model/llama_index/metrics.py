"""`RoutingMetricsHandler`: a LlamaIndex instrumentation event handler aggregating decisions.

```python
from llama_index.core.instrumentation import get_dispatcher
from routing_chat_model.llama_index import RoutingMetricsHandler

handler = RoutingMetricsHandler()
get_dispatcher().add_event_handler(handler)   # the root dispatcher sees every module's events
...
print(handler.metrics.table())
```

Each routed call (and each `RoutingSelector` selection) dispatches one `RoutingDecisionEvent`;
the handler counts it. A router call that fails with no answer drops the router's span
(`SpanDropEvent`), which the handler counts as an error of that call.
"""

from __future__ import annotations

import sys
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation.events.span import SpanDropEvent
from pydantic import ConfigDict, Field

from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.metrics import DecisionLog, RoutingMetrics

__all__ = ["RoutingMetricsHandler"]

_LLM_METHODS = frozenset(
    {
        "chat",
        "achat",
        "stream_chat",
        "astream_chat",
        "complete",
        "acomplete",
        "stream_complete",
        "astream_complete",
    }
)
"""The router's own call spans: outer spans (`predict`, `chat_with_tools`...) wrap one of these,
so counting only these counts each failed call once."""


class RoutingMetricsHandler(BaseEventHandler):
    """Feeds each `RoutingDecisionEvent` to a `RoutingMetrics` (and optionally a `DecisionLog`).

    Attributes:
        metrics: Where decisions are aggregated (a new `RoutingMetrics()` by default).
        log: A `DecisionLog` every decision is appended to, or None.
        router_class_names: Class names whose dropped call spans count as failed routed
            calls; add the name of your own `RoutingChatModel` subclass.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    metrics: RoutingMetrics = Field(default_factory=RoutingMetrics)
    log: DecisionLog | None = None
    router_class_names: frozenset[str] = frozenset({"RoutingChatModel"})

    @classmethod
    def class_name(cls) -> str:
        """Name shown by instrumentation."""
        return "RoutingMetricsHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Count decisions; count failed router calls from their dropped spans."""
        if isinstance(event, RoutingDecisionEvent):
            if "route" in event.decision:
                self.metrics.record(event.decision)
                if self.log is not None:
                    self.log.write(event.decision)
        elif isinstance(event, SpanDropEvent) and self._is_router_call(event.span_id):
            # Dispatched inside the span's `except` block: the exception in flight is the
            # call's (the event itself only holds its message, which may quote the prompt).
            error = sys.exc_info()[1]
            self.metrics.record_error(error if error is not None else "unknown")

    def _is_router_call(self, span_id: str | None) -> bool:
        """Whether `span_id` ("<Class>.<method>-<uuid>") is a router's own LLM call."""
        if not span_id:
            return False
        owner, _, method = span_id.split("-", 1)[0].rpartition(".")
        return owner in self.router_class_names and method in _LLM_METHODS
