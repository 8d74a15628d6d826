"""Driving the chosen child through its own public methods, falling back along the plan.

The child's decorated `chat`/`complete`/`stream_*` run as they would when called directly (its
rate limiter, its instrumentation spans and events, its own retries), inside a `CallScope` that
tags its events with the route and keeps legacy callbacks from counting the call twice. The
router's own decorated method reports the routed response, which carries the decision in
`additional_kwargs["routing"]`; one `RoutingDecisionEvent` per call follows the answer.

Streaming contract: fallback happens only before a child's first chunk; a provider failure after
it raises `StreamInterruptedError` (another model's text is never spliced on).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse
from llama_index.core.instrumentation.span import active_span_id
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import Dispatcher
from llama_index_instrumentation.event_handlers import NullEventHandler

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.llama_index._callbacks import ROUTE_TAG, ascoped, scoped
from routing_chat_model.llama_index._convert import ROUTING_KEY, model_name_of, usage_of
from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.router import Usage, aclose_stream, close_stream

if TYPE_CHECKING:
    from routing_chat_model.llama_index.chat_model import RoutingChatModel

__all__ = [
    "arun",
    "arun_delegated",
    "astream",
    "complete",
    "dispatch",
    "has_tool_call",
    "run",
    "run_delegated",
    "stream",
    "tag",
]

R = TypeVar("R", bound=ChatResponse | CompletionResponse)
T = TypeVar("T")

dispatcher = get_dispatcher(__name__)


def complete(
    owner: RoutingChatModel, decision: RoutingDecision, usage: Usage | None, model_name: str | None
) -> RoutingDecision:
    """The decision with the answer's usage, provider model name and cost."""
    route = decision.route
    name = model_name or owner._child_model_name(route)
    return owner.router.with_usage(
        decision, usage, model_name=name, provider=owner.models[route].class_name()
    )


def tag(response: R, routing: dict[str, Any]) -> R:
    """A copy of `response` carrying the decision (response-level, never on the message)."""
    update = {"additional_kwargs": {**response.additional_kwargs, ROUTING_KEY: routing}}
    return cast("R", response.model_copy(update=update))


def _listening() -> bool:
    """Whether an event handler other than LlamaIndex's default no-op one would see an event."""
    current: Dispatcher | None = dispatcher
    while current is not None:
        if any(not isinstance(h, NullEventHandler) for h in current.event_handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def dispatch(owner: RoutingChatModel, decision: RoutingDecision, span_id: str | None) -> None:
    """One `RoutingDecisionEvent` for the call, in the router's span, tagged with the route.

    Skipped when no handler listens: building the event costs ~20 us a call. The decision
    is kept by span id for `record_feedback` (only for selectors that learn from feedback).
    """
    if span_id is not None:
        owner.router.remember(span_id, decision)
    if owner.emit_routing_event and _listening():
        dispatcher.event(
            RoutingDecisionEvent(
                decision=decision.to_dict(), span_id=span_id, tags={ROUTE_TAG: decision.route}
            )
        )


def _finish(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    response: R,
    span_id: str | None,
    tools: bool,
) -> R:
    decision = complete(owner, decision, usage_of(response), model_name_of(response))
    if tools and isinstance(response, ChatResponse):
        owner._tool_routes.record(owner.models[decision.route], decision.route, response)
    dispatch(owner, decision, span_id)
    return tag(response, decision.to_dict())


def run(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    invoke: Callable[[str], R],
    *,
    tools: bool = False,
) -> R:
    """Call the plan's children in turn until one answers; the routed response."""
    span_id = active_span_id.get()

    def attempt(route: str) -> R:
        with owner._scope(route, span_id).active():
            return invoke(route)

    response, decision = owner.router.run(decision, attempt)
    return _finish(owner, decision, response, span_id, tools)


async def arun(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    invoke: Callable[[str], Awaitable[R]],
    *,
    tools: bool = False,
) -> R:
    """Async `run`, awaiting each child's native async method."""
    span_id = active_span_id.get()

    async def attempt(route: str) -> R:
        with owner._scope(route, span_id).active():
            return await invoke(route)

    response, decision = await owner.router.arun(decision, attempt)
    return _finish(owner, decision, response, span_id, tools)


def run_delegated(
    owner: RoutingChatModel, decision: RoutingDecision, invoke: Callable[[str], T]
) -> T:
    """Run a whole operation on the chosen child (`structured_predict`), with fallback.

    The router reports no LLM event of its own here, so the child's events reach the router's
    callback handlers too (once); the decision has no usage (the child's calls are its own).
    """
    span_id = active_span_id.get()

    def attempt(route: str) -> T:
        with owner._scope(route, span_id, delegated=True).active():
            return invoke(route)

    result, decision = owner.router.run(decision, attempt)
    dispatch(owner, complete(owner, decision, None, None), span_id)
    return result


async def arun_delegated(
    owner: RoutingChatModel, decision: RoutingDecision, invoke: Callable[[str], Awaitable[T]]
) -> T:
    """Async `run_delegated`."""
    span_id = active_span_id.get()

    async def attempt(route: str) -> T:
        with owner._scope(route, span_id, delegated=True).active():
            return await invoke(route)

    result, decision = await owner.router.arun(decision, attempt)
    dispatch(owner, complete(owner, decision, None, None), span_id)
    return result


class _Relay:
    """Tags each streamed chunk with the decision.

    A chunk carrying usage is held until the next one arrives, so that the last of them can
    also carry the answer's usage and cost.
    """

    def __init__(self, owner: RoutingChatModel, span_id: str | None, tools: bool) -> None:
        self.owner = owner
        self.span_id = span_id
        self.tools = tools
        self.decision: RoutingDecision | None = None
        self.routing: dict[str, Any] = {}
        self.held: Any = None
        self.last: Any = None
        self.usage: Usage | None = None
        self.dispatched = False
        self.failed = False

    def push(self, chunk: R, decision: RoutingDecision) -> Iterator[R]:
        if self.decision is None:
            # not `complete`: that shows the gates the decision, once per call, in `close`
            name = model_name_of(chunk) or self.owner._child_model_name(decision.route)
            self.decision = decision.evolve(model_name=name)
            self.routing = self.decision.to_dict()
        self.last = chunk
        if self.held is not None:
            yield tag(self.held, self.routing)
            self.held = None
        usage = usage_of(chunk)
        if usage is None:
            yield tag(chunk, self.routing)
            return
        # LlamaIndex chunks are cumulative: the latest usage is the answer's usage.
        self.usage = usage
        self.held = chunk

    def close(self) -> Iterator[R]:
        if self.decision is None:
            return
        self.decision = complete(self.owner, self.decision, self.usage, model_name_of(self.last))
        if self.tools and isinstance(self.last, ChatResponse):
            route = self.decision.route
            self.owner._tool_routes.record(self.owner.models[route], route, self.last)
        held, self.held = self.held, None
        if held is not None:
            yield tag(held, self.decision.to_dict())

    def dispatch_once(self) -> None:
        """Dispatch the decision once, if a child streamed.

        At the end of the stream, or when the consumer abandons it; not when it failed (as for
        a call that raised).
        """
        if self.decision is not None and not self.dispatched and not self.failed:
            self.dispatched = True
            dispatch(self.owner, self.decision, self.span_id)


def has_tool_call(response: Any) -> bool:
    """Whether a streamed (cumulative) chat response carries a tool call yet.

    The commit point of `stream_hold_until_tool_call`: OpenAI-style `tool_calls` in the
    message's `additional_kwargs`, or a tool-call content block.
    """
    message = getattr(response, "message", None)
    if message is None:
        return False
    if message.additional_kwargs.get("tool_calls"):
        return True
    return any(getattr(block, "block_type", None) == "tool_call" for block in message.blocks)


def is_empty(response: Any) -> bool:
    """Whether a streamed response's latest chunk carries nothing of the answer.

    OpenAI-style streams open with a role-only chunk (no text delta, no tool call); it does
    not commit a stream.
    """
    return not getattr(response, "delta", None) and not has_tool_call(response)


def _commit(owner: RoutingChatModel, tools: bool) -> Callable[[Any], bool] | None:
    return has_tool_call if tools and owner.stream_hold_until_tool_call else None


def stream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    open_child: Callable[[str], Iterator[R]],
    *,
    tools: bool = False,
) -> Generator[R, None, None]:
    """A generator streaming from the first child of the plan that yields a chunk."""
    span_id = active_span_id.get()

    def open_stream(route: str) -> Iterator[R]:
        scope = owner._scope(route, span_id)
        with scope.active():
            child_stream = open_child(route)
        yield from scoped(child_stream, scope)

    def gen() -> Generator[R, None, None]:
        relay = _Relay(owner, span_id, tools)
        routed = owner.router.run_stream(decision, open_stream, _commit(owner, tools), is_empty)
        try:
            for chunk, current in routed:
                yield from relay.push(chunk, current)
            yield from relay.close()
        except Exception:
            relay.failed = True  # e.g. StreamInterruptedError: no answer to report
            raise
        finally:
            close_stream(routed)
            relay.dispatch_once()

    return gen()


def astream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    open_child: Callable[[str], Awaitable[AsyncIterator[R]]],
    *,
    tools: bool = False,
) -> AsyncGenerator[R, None]:
    """Async `stream`, over each child's native async stream."""
    span_id = active_span_id.get()

    async def open_stream(route: str) -> AsyncIterator[R]:
        scope = owner._scope(route, span_id)
        with scope.active():
            child_stream = await open_child(route)
        inner = ascoped(child_stream, scope)
        try:
            async for chunk in inner:
                yield chunk
        finally:
            await aclose_stream(inner)

    async def gen() -> AsyncGenerator[R, None]:
        relay = _Relay(owner, span_id, tools)
        routed = owner.router.arun_stream(decision, open_stream, _commit(owner, tools), is_empty)
        try:
            async for chunk, current in routed:
                for out in relay.push(chunk, current):
                    yield out
            for out in relay.close():
                yield out
        except Exception:
            relay.failed = True
            raise
        finally:
            await aclose_stream(routed)
            relay.dispatch_once()

    return gen()
