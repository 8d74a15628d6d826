"""Each child call reported once: legacy callback isolation, instrumentation tags and spans.

The router's own `chat`/`complete`... are LlamaIndex LLM methods: their decorators report one
`CBEventType.LLM` start/end pair to the router's `callback_manager`, with the routed response
(and so the decision) in the payload. The chosen child then runs its own decorated method,
which reports again to *its* callback manager. A child built after `Settings.callback_manager`
was set has adopted the very same handlers (`CallbackManager([])` copies the global list), so
a `TokenCountingHandler` would count the call twice.

`RoutedCallbackManager` replaces each child's manager, keeping the child's handlers: outside a
routed call it behaves exactly as before (the child used directly still reports); inside one (a
`CallScope` is active) it skips the handlers the router already reports to. For calls the router
does not report itself (`structured_predict`, delegated whole to the child) the scope adds the
router's handlers instead, so they still see the child's call once.

The scope also tags the child's instrumentation events with `routing_route` and, for streams
consumed after the router's method returned, restores the router's span as the parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.callbacks import CallbackManager
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.instrumentation.span import active_span_id
from llama_index_instrumentation.dispatcher import active_instrument_tags

__all__ = ["ROUTE_TAG", "CallScope", "RoutedCallbackManager", "adopt", "ascoped", "scoped"]

ROUTE_TAG = "routing_route"
"""Instrumentation tag naming the route on the chosen child's own events."""

T = TypeVar("T")

_SCOPE: ContextVar[CallScope | None] = ContextVar("routing_chat_model_llama_scope", default=None)


class CallScope:
    """What a child call inside a routed call may report to, and how it is tagged.

    Args:
        route: The route being called.
        span_id: The router's span, the parent of the child's spans.
        router_handlers: The handlers the router's manager reports to.
        delegated: True when the router reports no LLM event of its own for this call.
    """

    __slots__ = ("exclude", "include", "route", "span_id", "tags")

    def __init__(
        self,
        route: str,
        span_id: str | None,
        router_handlers: list[BaseCallbackHandler],
        *,
        delegated: bool = False,
    ) -> None:
        outer = _SCOPE.get()
        excluded = set(outer.exclude) if outer is not None else set()
        if not delegated:
            excluded.update(id(h) for h in router_handlers)
        self.route = route
        self.span_id = span_id
        self.exclude: frozenset[int] = frozenset(excluded)
        self.include: tuple[BaseCallbackHandler, ...] = tuple(router_handlers) if delegated else ()
        self.tags: dict[str, Any] = {**active_instrument_tags.get(), ROUTE_TAG: route}

    def handlers(self, own: list[BaseCallbackHandler]) -> list[BaseCallbackHandler]:
        """The handlers a child manager holding `own` reports to in this scope."""
        out = [h for h in own if id(h) not in self.exclude]
        for handler in self.include:
            if not any(h is handler for h in out):
                out.append(handler)
        return out

    def active(self) -> _Active:
        """A context manager making this scope current; each step of a stream enters anew."""
        return _Active(self)


class _Active:
    """Sets the scope's context variables for one `with` block.

    A plain class, cheaper than `@contextmanager`: streams enter the scope once per chunk.
    """

    __slots__ = ("scope", "tokens")

    def __init__(self, scope: CallScope) -> None:
        self.scope = scope
        self.tokens: tuple[Token[Any], ...] = ()

    def __enter__(self) -> None:
        scope = self.scope
        tokens: tuple[Token[Any], ...] = (
            _SCOPE.set(scope),
            active_instrument_tags.set(scope.tags),
        )
        if scope.span_id is not None:
            tokens = (*tokens, active_span_id.set(scope.span_id))
        self.tokens = tokens

    def __exit__(self, *exc_info: object) -> None:
        tokens = self.tokens
        if len(tokens) == 3:
            active_span_id.reset(tokens[2])
        active_instrument_tags.reset(tokens[1])
        _SCOPE.reset(tokens[0])


class RoutedCallbackManager(CallbackManager):
    """A child's callback manager that steps aside for handlers its router already reports to.

    It holds the child's own handler list (the same list object, so handlers added to a shared
    manager later still apply) and behaves like a plain `CallbackManager` outside routed calls.
    """

    def __init__(self, handlers: list[BaseCallbackHandler]) -> None:
        # No super().__init__: it would adopt Settings' handlers or add the global handler
        # again; the child's manager already went through that when it was built.
        self._own = handlers
        self._trace_map: dict[str, list[str]] = defaultdict(list)

    @property
    def handlers(self) -> list[BaseCallbackHandler]:
        """The handlers reported to now: the child's own, filtered inside a routed call."""
        scope = _SCOPE.get()
        return self._own if scope is None else scope.handlers(self._own)

    @handlers.setter
    def handlers(self, value: list[BaseCallbackHandler]) -> None:
        self._own = value

    def add_handler(self, handler: BaseCallbackHandler) -> None:
        """Add a handler to the child's own list."""
        self._own.append(handler)

    def remove_handler(self, handler: BaseCallbackHandler) -> None:
        """Remove a handler from the child's own list."""
        self._own.remove(handler)

    def set_handlers(self, handlers: list[BaseCallbackHandler]) -> None:
        """Replace the child's own handlers."""
        self._own = handlers


def adopt(child: BaseLLM) -> None:
    """Give `child` a `RoutedCallbackManager` over its current handlers (idempotent).

    Runs when the router is built and before each child call, since frameworks reassign
    `callback_manager` on LLMs they are handed.
    """
    manager = child.callback_manager
    if isinstance(manager, RoutedCallbackManager):
        return
    handlers = manager.handlers if isinstance(manager, CallbackManager) else []
    child.callback_manager = RoutedCallbackManager(handlers)


def scoped(stream: Iterator[T], scope: CallScope) -> Iterator[T]:
    """Iterate a child's stream with `scope` active during each step (never between)."""
    try:
        while True:
            with scope.active():
                try:
                    item = next(stream)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            with scope.active():  # a closed child stream reports its end too
                close()


async def ascoped(stream: AsyncIterator[T], scope: CallScope) -> AsyncIterator[T]:
    """Async `scoped`."""
    try:
        while True:
            with scope.active():
                try:
                    item = await stream.__anext__()
                except StopAsyncIteration:
                    return
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with scope.active():
                await aclose()
