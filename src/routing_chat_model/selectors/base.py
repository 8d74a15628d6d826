"""The `Selector` protocol and the `Selection` a selector returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RoutingRequest

__all__ = ["CallableSelector", "Selection", "Selector", "as_selector"]


@dataclass(frozen=True)
class Selection:
    """A selector's answer.

    Attributes:
        route: The chosen model name, or None to abstain (the router's default answers).
        scores: Score per route, where the selector has scores.
        reason: Why, in a few words; never prompt text.
        decision_id: Set by selectors that learn from feedback: the id under which they keep what
            they need to credit an observed outcome to this choice (`Router.record_feedback`).
    """

    route: str | None
    scores: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    reason: str = ""
    decision_id: str | None = None


@runtime_checkable
class Selector(Protocol):
    """Picks a route for a request among the candidates that can serve it.

    A selector must only return a name in `candidates` (or None). `route_names` lists every
    route it can ever return, so the router can check them against its models when built.
    """

    @property
    def name(self) -> str:
        """Short name shown in decisions ("rules", "embedding", ...)."""
        ...

    @property
    def route_names(self) -> frozenset[str] | None:
        """Every route this selector can return, or None when it cannot tell (callables)."""
        ...

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Choose a route for `request` among `candidates`."""
        ...

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: must not block the event loop on I/O."""
        ...


class CallableSelector:
    """A plain function `(request) -> route name or None` used as a selector."""

    def __init__(self, fn: Callable[[RoutingRequest], str | None], name: str = "callable") -> None:
        if inspect.iscoroutinefunction(fn):
            raise RouteConfigError(
                "selector: an async function cannot be used as a plain selector; "
                "write a class with select() and aselect() (see the Selector protocol)."
            )
        self._fn = fn
        self._name = name

    @property
    def name(self) -> str:  # noqa: D102
        return self._name

    @property
    def route_names(self) -> frozenset[str] | None:  # noqa: D102
        return None

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:  # noqa: D102
        route = self._fn(request)
        return Selection(route=route, reason=f"{self._name} returned {route!r}")

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:  # noqa: D102
        return self.select(request, candidates)

    def __repr__(self) -> str:
        return f"CallableSelector({getattr(self._fn, '__qualname__', self._fn)!r})"


def as_selector(obj: object) -> Selector:
    """Accept a `Selector` or a plain callable; anything else is a `RouteConfigError`."""
    if isinstance(obj, Selector):
        return obj
    if callable(obj):
        return CallableSelector(obj)
    raise RouteConfigError(
        f"selector: expected a Selector (RuleSelector, EmbeddingSelector, ...) or a function "
        f"(request) -> route name, got {type(obj).__name__}."
    )
