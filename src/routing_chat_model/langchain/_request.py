"""A LangChain call reduced to the core's `RoutingRequest`, with its per-call route override."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.utils.uuid import uuid7

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RoutingInputError
from routing_chat_model.langchain._convert import media_kinds, to_turns
from routing_chat_model.langchain._events import ROUTE_CONFIG_KEY, RUN_CONTEXT
from routing_chat_model.request import RoutingRequest

if TYPE_CHECKING:
    from routing_chat_model.langchain.chat_model import RoutingChatModel

__all__ = ["ROUTE_KWARG", "pending", "prepare", "routing_request"]

ROUTE_KWARG = "routing_route"
"""Call kwarg carrying the pre-selected route from the public entry points to `_generate`;
it also lands in run metadata and in the cache key, and never reaches a child."""


def routing_request(
    owner: RoutingChatModel,
    messages: Sequence[BaseMessage],
    kwargs: Mapping[str, Any],
    metadata: Mapping[str, Any],
    forced: Any = None,
    *,
    structured: bool = False,
) -> RoutingRequest:
    """The core's view of a call (text, tools, images, caller metadata, route override).

    Raises:
        RoutingInputError: no messages, or an override that names no model.
    """
    bind_extra = kwargs.get("tool_bind_kwargs") or {}
    return RoutingRequest.from_turns(
        to_turns(messages),
        route_on=owner.route_on,
        has_tools=bool(kwargs.get("tools")),
        # Native structured output (json_schema / json_mode, a provider response_format).
        # function_calling structured output is a tool call, filtered by has_tools.
        structured_output=structured
        or bool(kwargs.get("response_format") or bind_extra.get("response_format")),
        media=media_kinds(messages),
        metadata=metadata,
        forced_route=_forced_route(owner, kwargs.get("model", forced)),
    )


def _forced_route(owner: RoutingChatModel, forced: Any) -> str | None:
    if forced is None:
        return None
    if not isinstance(forced, str) or forced not in owner.models:
        raise RoutingInputError(
            f"route override {forced!r} (model= or configurable['{ROUTE_CONFIG_KEY}']) is not "
            f"one of this router's models {list(owner.models)}."
        )
    return forced


def prepare(
    owner: RoutingChatModel,
    input: LanguageModelInput,
    config: RunnableConfig | None,
    kwargs: Mapping[str, Any],
) -> tuple[RoutingRequest | None, RunnableConfig]:
    """For a public entry point: the request to route and the config with the run's id.

    Returns no request when an outer entry point of the same call routed already (the base
    class's `stream()` falls back to `invoke()` with the route in the kwargs).
    """
    config = ensure_config(config)
    if ROUTE_KWARG in kwargs:
        return None, config
    messages = owner._convert_input(input).to_messages()
    configurable = config.get("configurable") or {}
    forced = configurable.get(ROUTE_CONFIG_KEY)
    metadata = config.get("metadata") or {}
    if "thread_id" in configurable and "thread_id" not in metadata:
        # LangGraph copies it into metadata; a plain runnable config only has it here.
        metadata = {**metadata, "thread_id": configurable["thread_id"]}
    request = routing_request(owner, messages, kwargs, metadata, forced)
    return request, {**config, "run_id": config.get("run_id") or uuid7()}


def pending(
    owner: RoutingChatModel,
    messages: Sequence[BaseMessage],
    kwargs: dict[str, Any],
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> RoutingDecision | RoutingRequest:
    """For a chat-model hook: the entry point's decision, or the request to decide on here.

    `generate()` and v3 `stream_events` reach the hooks without passing an entry point.
    Pops the route kwarg, so it never reaches a child.
    """
    route = kwargs.pop(ROUTE_KWARG, None)
    ctx = RUN_CONTEXT.get()
    if ctx is not None and ctx.owner == id(owner) and ctx.decision.route == route:
        return ctx.decision
    metadata = run_manager.metadata if run_manager is not None else {}
    return routing_request(owner, messages, kwargs, metadata, route)
