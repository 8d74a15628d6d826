"""Driving the chosen child inline: its own `_generate`/`_stream`, falling back along the plan.

The router's run manager is handed to the child, so the router's run is the only chat-model run
(tokens stream once, usage is counted once). Each function returns or yields the final decision
(the model that answered, attempts, usage, cost) next to the child's output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.langchain._convert import binding_kwargs, chunk_of, usage_of
from routing_chat_model.langchain._stream import StreamRelay, cannot_stream, is_empty_chunk
from routing_chat_model.router import Usage

if TYPE_CHECKING:
    from routing_chat_model.langchain.chat_model import RoutingChatModel

__all__ = ["agenerate", "astream", "attach", "child_call", "complete", "generate", "stream"]

_PRIVATE_KWARGS = ("model", "stream", "ls_structured_output_format")
"""Call kwargs meant for the router (or LangChain's tracing), never passed to a child."""


def child_call(
    owner: RoutingChatModel, route: str, kwargs: Mapping[str, Any]
) -> tuple[BaseChatModel, dict[str, Any]]:
    """The child for `route` and the kwargs to call it with, tools bound its own way."""
    child = owner.models[route]
    kw = {k: v for k, v in kwargs.items() if k not in _PRIVATE_KWARGS}
    tools = kw.pop("tools", None)
    tool_choice = kw.pop("tool_choice", None)
    extra = kw.pop("tool_bind_kwargs", None) or {}
    if tools:
        choice = {} if tool_choice is None else {"tool_choice": tool_choice}
        kw = {**binding_kwargs(child.bind_tools(tools, **choice, **extra), child), **kw}
    else:
        # bind_tools([], response_format=...) (create_agent's provider strategy without
        # tools): there is nothing to bind, so the rest are plain call kwargs.
        kw = {**extra, **kw}
    if owner.temperature is not None:
        kw.setdefault("temperature", owner.temperature)
    if owner.max_tokens is not None:
        kw.setdefault("max_tokens", owner.max_tokens)
    return child, kw


def complete(
    owner: RoutingChatModel, decision: RoutingDecision, usage: Usage | None, model_name: Any
) -> RoutingDecision:
    """The decision with the answer's usage, provider model name and cost."""
    ls = owner.models[decision.route]._get_ls_params()
    name = model_name if isinstance(model_name, str) and model_name else ls.get("ls_model_name")
    return owner.router.with_usage(decision, usage, model_name=name, provider=ls.get("ls_provider"))


def _annotate(
    owner: RoutingChatModel, result: ChatResult, decision: RoutingDecision
) -> RoutingDecision:
    message = result.generations[0].message if result.generations else None
    decision = complete(
        owner,
        decision,
        usage_of(message) if message is not None else None,
        message.response_metadata.get("model_name") if message is not None else None,
    )
    attach(result, decision.to_dict(), decision.model_name)
    return decision


def attach(result: ChatResult, routing: dict[str, Any], model_name: str | None) -> None:
    """Put the decision dict on every generation (it becomes `response_metadata["routing"]`)."""
    for generation in result.generations:
        generation.generation_info = {**(generation.generation_info or {}), "routing": routing}
        if not generation.message.response_metadata.get("model_name"):
            # LangChain's usage callback skips messages without a model name
            generation.message.response_metadata["model_name"] = model_name


def generate(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
) -> tuple[ChatResult, RoutingDecision]:
    """Call the plan's models in turn until one answers."""

    def call(route: str) -> ChatResult:
        child, child_kwargs = child_call(owner, route, kwargs)
        if child.rate_limiter:
            child.rate_limiter.acquire(blocking=True)
        return child._generate(messages, stop=stop, run_manager=run_manager, **child_kwargs)

    result, decision = owner.router.run(decision, call)
    return result, _annotate(owner, result, decision)


async def agenerate(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
) -> tuple[ChatResult, RoutingDecision]:
    """Async `generate`, on the children's native async path."""

    async def call(route: str) -> ChatResult:
        child, child_kwargs = child_call(owner, route, kwargs)
        if child.rate_limiter:
            await child.rate_limiter.aacquire(blocking=True)
        return await child._agenerate(messages, stop=stop, run_manager=run_manager, **child_kwargs)

    result, decision = await owner.router.arun(decision, call)
    return result, _annotate(owner, result, decision)


def stream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
    relay: StreamRelay,
    commit: Callable[[Any], bool] | None = None,
) -> Iterator[ChatGenerationChunk]:
    """Stream from the first model of the plan that commits; `relay.decision` is final."""

    def open_stream(route: str) -> Iterator[ChatGenerationChunk]:
        child, child_kwargs = child_call(owner, route, kwargs)
        if child.rate_limiter:
            child.rate_limiter.acquire(blocking=True)
        if cannot_stream(child, child_kwargs, async_api=False):
            result = child._generate(messages, stop=stop, run_manager=run_manager, **child_kwargs)
            yield chunk_of(result.generations[0])
            return
        yield from child._stream(messages, stop=stop, run_manager=run_manager, **child_kwargs)

    for chunk, current in owner.router.run_stream(decision, open_stream, commit, is_empty_chunk):
        yield from relay.push(chunk, current)
    yield from relay.close()


async def astream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
    relay: StreamRelay,
    commit: Callable[[Any], bool] | None = None,
) -> AsyncIterator[ChatGenerationChunk]:
    """Async `stream`."""

    async def open_stream(route: str) -> AsyncIterator[ChatGenerationChunk]:
        child, child_kwargs = child_call(owner, route, kwargs)
        if child.rate_limiter:
            await child.rate_limiter.aacquire(blocking=True)
        if cannot_stream(child, child_kwargs, async_api=True):
            result = await child._agenerate(
                messages, stop=stop, run_manager=run_manager, **child_kwargs
            )
            yield chunk_of(result.generations[0])
            return
        async for chunk in child._astream(
            messages, stop=stop, run_manager=run_manager, **child_kwargs
        ):
            yield chunk

    async for chunk, current in owner.router.arun_stream(
        decision, open_stream, commit, is_empty_chunk
    ):
        for out in relay.push(chunk, current):
            yield out
    for out in relay.close():
        yield out
