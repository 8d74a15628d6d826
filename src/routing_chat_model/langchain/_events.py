"""The `routing_decision` custom event, dispatched under the router's own chat-model run.

LangChain hands `_generate`/`_agenerate` a run manager, but `stream()`, `astream()` and
`invoke()` under a streaming handler call `_stream`/`_astream` without one. For those paths the
public entry points pre-assign the run id and leave a `RunContext` in a `ContextVar`, from which
a callback manager parented to that run is rebuilt. LLM run managers have no `get_child()`, so
managers are built by hand the way `ParentRunManager.get_child` does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import RunnableConfig

from routing_chat_model.decision import RoutingDecision

__all__ = [
    "ROUTE_CONFIG_KEY",
    "ROUTING_EVENT",
    "RUN_CONTEXT",
    "RunContext",
    "adispatch_decision",
    "dispatch_decision",
]

ROUTING_EVENT = "routing_decision"
"""Name of the custom event (`on_custom_event`) that carries each decision."""

ROUTE_CONFIG_KEY = "route"
"""`config={"configurable": {"route": "<model>"}}` forces the route of a call."""


@dataclass
class RunContext:
    """A decision made in a public entry point, handed to `_generate`/`_stream` of that call.

    Attributes:
        owner: `id()` of the router that made it (another router's hooks ignore it).
        config: The call's config, with the run id the base class will give the run.
        run_id: The router run's id.
        decision: The decision, before any model was called.
        metadata: The run's metadata (`ls_*` and `routing_*`), for the event's own metadata.
    """

    owner: int
    config: RunnableConfig
    run_id: UUID
    decision: RoutingDecision
    metadata: Mapping[str, Any] = field(default_factory=dict)


RUN_CONTEXT: ContextVar[RunContext | None] = ContextVar("routing_chat_model_run", default=None)
"""Set by the entry points only while the base class opens the run (never around user code)."""


def _from_run_manager(run_manager: Any, manager_cls: type[Any]) -> Any:
    """A callback manager parented to the router's LLM run, from its run manager."""
    manager = manager_cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _from_context(ctx: RunContext, owner: Any, manager_cls: type[Any]) -> Any:
    """The same manager, rebuilt from the entry point's config (no run manager at hand)."""
    config = ctx.config
    manager = manager_cls.configure(
        config.get("callbacks"),
        owner.callbacks,
        owner.verbose,
        config.get("tags"),
        owner.tags,
        {**(config.get("metadata") or {}), **ctx.metadata},
        owner.metadata,
    )
    manager.parent_run_id = ctx.run_id
    return manager


def _remember(
    owner: Any, decision: RoutingDecision, run_manager: Any, ctx: RunContext | None
) -> None:
    """Let `record_feedback` find the decision by the call's run id (learning selectors only)."""
    run_id = run_manager.run_id if run_manager is not None else ctx.run_id if ctx else None
    if run_id is not None:
        owner.router.remember(run_id, decision)


def dispatch_decision(
    owner: Any,
    decision: RoutingDecision,
    run_manager: CallbackManagerForLLMRun | None,
    ctx: RunContext | None,
) -> None:
    """Dispatch the decision as one `routing_decision` event of the router's run."""
    _remember(owner, decision, run_manager, ctx)
    if run_manager is not None:
        if not run_manager.inheritable_handlers:
            return  # nobody would receive it: building a manager costs ~0.1 ms per call
        manager = _from_run_manager(run_manager, CallbackManager)
    elif ctx is not None:
        manager = _from_context(ctx, owner, CallbackManager)
    else:  # `_stream` called outside the entry points: no run to attach the event to
        return
    dispatch_custom_event(ROUTING_EVENT, decision.to_dict(), config={"callbacks": manager})


async def adispatch_decision(
    owner: Any,
    decision: RoutingDecision,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    ctx: RunContext | None,
) -> None:
    """Async `dispatch_decision`."""
    _remember(owner, decision, run_manager, ctx)
    if run_manager is not None:
        if not run_manager.inheritable_handlers:
            return
        manager = _from_run_manager(run_manager, AsyncCallbackManager)
    elif ctx is not None:
        manager = _from_context(ctx, owner, AsyncCallbackManager)
    else:
        return
    await adispatch_custom_event(ROUTING_EVENT, decision.to_dict(), config={"callbacks": manager})
