"""`RoutingMetricsHandler`: a LangChain callback handler that aggregates routing decisions.

```python
from routing_chat_model.langchain import RoutingMetricsHandler

handler = RoutingMetricsHandler()
chain.invoke(question, config={"callbacks": [handler]})
print(handler.metrics.table())
```

It listens to the `routing_decision` custom event each routed call dispatches. Passed in
`config={"callbacks": [...]}` (inheritable) it sees every router inside a chain, graph or agent.
Attached to the router itself (`RoutingChatModel(callbacks=[handler])`), custom events do not
reach it (LangChain sends them to inheritable handlers only), so it reads the same decision from
the answer's `response_metadata["routing"]` when the run ends; each call is counted once either
way. A router run that fails with no answer is counted by `RoutingMetrics.record_error`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.langchain._events import ROUTING_EVENT
from routing_chat_model.metrics import DecisionLog, RoutingMetrics

__all__ = ["RoutingMetricsHandler"]

_ROUTER_TYPE = "routing-chat-model"
"""`RoutingChatModel._llm_type`, as LangChain reports it in `invocation_params["_type"]`."""


class _Run:
    """A router run in flight: what it chose first, and whether its decision was counted."""

    __slots__ = ("counted", "route", "selector")

    def __init__(self, route: str | None = None, selector: str | None = None) -> None:
        self.route = route
        self.selector = selector
        self.counted = False


class RoutingMetricsHandler(BaseCallbackHandler):
    """Feeds each routed call's decision to a `RoutingMetrics` (and optionally a `DecisionLog`).

    Works in sync and async runs: its methods are quick and thread-safe, so it runs inline in
    the event loop (`run_inline`) rather than in a worker thread. It keeps no prompt text.

    Args:
        metrics: Where to aggregate; a new `RoutingMetrics()` when omitted.
        log: A `DecisionLog` to append every decision to.
        max_runs: Router runs in flight remembered at once (older ones are forgotten, so a
            run that never ends cannot grow memory).
    """

    run_inline: bool = True
    """Call the handler in the event loop: no executor hop for async runs."""

    def __init__(
        self,
        metrics: RoutingMetrics | None = None,
        *,
        log: DecisionLog | None = None,
        max_runs: int = 10_000,
    ) -> None:
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise RouteConfigError(f"max_runs must be an int >= 1, got {max_runs!r}.")
        self.metrics = metrics if metrics is not None else RoutingMetrics()
        self.log = log
        self.max_runs = max_runs
        self._runs: OrderedDict[UUID, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, decision: Mapping[str, Any]) -> None:
        """Count one decision and log it (what every hook below ends in)."""
        self.metrics.record(decision)
        if self.log is not None:
            self.log.write(decision)

    def _track(self, run_id: UUID, run: _Run) -> _Run:
        with self._lock:
            existing = self._runs.get(run_id)
            if existing is not None:
                return existing
            self._runs[run_id] = run
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
            return run

    def _finish(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

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
        """Remember router runs (by their `_type` or routing run metadata) until they end."""
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        if params.get("_type") == _ROUTER_TYPE or "routing_route" in metadata:
            route, selector = metadata.get("routing_route"), metadata.get("routing_selector")
            self._track(
                run_id,
                _Run(
                    route if isinstance(route, str) else None,
                    selector if isinstance(selector, str) else None,
                ),
            )

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
        """Count the decision a `routing_decision` event carries."""
        if name != ROUTING_EVENT or not isinstance(data, Mapping) or "route" not in data:
            return
        self._track(run_id, _Run()).counted = True
        self.record(data)

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Count a router run's decision from its answer when no event carried it."""
        run = self._finish(run_id)
        if run is None or run.counted:
            return
        decision = _routing_of(response)
        if decision is not None:
            self.record(decision)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Count a router run that failed with no answer (by error type and first choice)."""
        run = self._finish(run_id)
        if run is not None and not run.counted:
            self.metrics.record_error(error, route=run.route, selector=run.selector)

    def __repr__(self) -> str:
        return f"RoutingMetricsHandler({self.metrics!r})"


def _routing_of(response: LLMResult) -> Mapping[str, Any] | None:
    """The decision dict a routed answer carries, if any."""
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            routing = getattr(message, "response_metadata", {}).get("routing")
            if routing is None:
                routing = (generation.generation_info or {}).get("routing")
            if isinstance(routing, Mapping) and "route" in routing:
                return routing
    return None
