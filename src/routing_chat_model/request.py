"""`RoutingRequest`: the framework-neutral view of one call that selectors route on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from routing_chat_model.errors import RouteConfigError, RoutingInputError

__all__ = [
    "MEDIA_KINDS",
    "RouteOn",
    "RoutingRequest",
    "Turn",
    "estimate_tokens",
    "validate_route_on",
]

RouteOn = Literal["last_user", "conversation"] | int
"""What text a request routes on: the last user message (default), the whole conversation
(user and assistant turns), or the last N turns (an int >= 1)."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})

MEDIA_KINDS = frozenset({"image", "audio", "video", "pdf", "file"})
"""The kinds of non-text input a request can carry (`RoutingRequest.media`): the adapters map
their frameworks' content blocks onto these, so the router can keep each kind away from models
that declare they cannot take it."""


@dataclass(frozen=True)
class Turn:
    """One message of the conversation, reduced to what routing needs.

    Attributes:
        role: "system", "user", "assistant" or "tool".
        text: The message's text parts joined (images and other blocks are left out).
        route: For assistant turns the router produced, the route that answered.
        tool_calls: How many tool calls an assistant turn issued.
        tool_args: The arguments of those tool calls as text, for compliance scans only (a
            selector never routes on them).
    """

    role: str
    text: str
    route: str | None = None
    tool_calls: int = 0
    tool_args: str = ""


def estimate_tokens(text: str) -> int:
    """Rough token count (4 characters a token), cheap enough for every call."""
    return math.ceil(len(text) / 4)


def validate_route_on(route_on: object) -> RouteOn:
    """Check a `route_on` setting, raising `RouteConfigError` with the accepted values."""
    if route_on in ("last_user", "conversation"):
        return cast("RouteOn", route_on)
    if isinstance(route_on, int) and not isinstance(route_on, bool) and route_on >= 1:
        return route_on
    raise RouteConfigError(
        f"route_on={route_on!r} is not valid: use 'last_user' (the default), 'conversation', "
        "or a positive int N to route on the last N turns."
    )


@dataclass(frozen=True)
class RoutingRequest:
    """What a selector sees of one call.

    Adapters build it from the framework's messages with `from_turns`; selectors read `text`
    (the text to route on) and the flags, never the raw framework objects.

    Attributes:
        text: The text to route on (see `RouteOn`).
        turns: The whole conversation, reduced.
        has_tools: Tools are bound to the call.
        structured_output: The caller asked for structured output.
        has_images: Some message carries an image.
        token_estimate: Rough prompt size in tokens, over the text of all turns.
        metadata: Caller metadata (user, tenant, ...) from the framework's config.
        forced_route: A per-call override of the route (A/B tests, tests).
        pinned_route: The route a tool-call round must return to (the model that issued the calls).
        media: The kinds of non-text input the messages carry (see `MEDIA_KINDS`); selectors
            route on text only, these say which models can be sent the request at all.

    Text that is empty or only whitespace (a system-only conversation, a blank or image-only
    last user message) gives `text == ""`: selectors abstain on it without embedding anything,
    so the router's default answers and the decision's reason says there was no text.
    """

    text: str
    turns: tuple[Turn, ...] = ()
    has_tools: bool = False
    structured_output: bool = False
    has_images: bool = False
    token_estimate: int = 0
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    forced_route: str | None = None
    pinned_route: str | None = None
    media: frozenset[str] = frozenset()

    @classmethod
    def from_turns(
        cls,
        turns: Sequence[Turn],
        *,
        route_on: RouteOn = "last_user",
        has_tools: bool = False,
        structured_output: bool = False,
        has_images: bool = False,
        metadata: Mapping[str, Any] | None = None,
        forced_route: str | None = None,
        media: Iterable[str] = (),
    ) -> RoutingRequest:
        """Build a request from a conversation.

        Args:
            turns: The conversation, oldest first; at least one turn.
            route_on: What text to route on (see `RouteOn`).
            has_tools: Tools are bound to the call.
            structured_output: The caller asked for structured output.
            has_images: Some message carries an image (implied by "image" in `media`).
            metadata: Caller metadata for selectors and gates.
            forced_route: A per-call route override.
            media: Kinds of non-text input the messages carry, from `MEDIA_KINDS`.

        Raises:
            RoutingInputError: `turns` is empty, or `media` names an unknown kind.
        """
        if not turns:
            raise RoutingInputError(
                "cannot route an empty message list: pass at least one message "
                "(for example a user message with the question)."
            )
        kinds = frozenset(media) | ({"image"} if has_images else set())
        if not kinds <= MEDIA_KINDS:
            raise RoutingInputError(
                f"unknown media kind(s) {sorted(kinds - MEDIA_KINDS)}; use {sorted(MEDIA_KINDS)}."
            )
        turns = tuple(turns)
        return cls(
            text=_routing_text(turns, route_on),
            turns=turns,
            has_tools=has_tools,
            structured_output=structured_output,
            has_images="image" in kinds,
            token_estimate=sum(estimate_tokens(t.text) for t in turns),
            metadata=MappingProxyType(dict(metadata)) if metadata else _EMPTY,
            forced_route=forced_route,
            pinned_route=_tool_round_route(turns),
            media=kinds,
        )


def _routing_text(turns: tuple[Turn, ...], route_on: RouteOn) -> str:
    if route_on == "last_user":
        for turn in reversed(turns):
            if turn.role == "user":
                return turn.text.strip()
        return ""
    dialogue = [t.text for t in turns if t.role in ("user", "assistant") and t.text.strip()]
    if isinstance(route_on, int):
        dialogue = dialogue[-route_on:]
    return "\n".join(dialogue).strip()


def _tool_round_route(turns: tuple[Turn, ...]) -> str | None:
    """The route of the assistant turn whose tool calls the trailing tool results answer."""
    if not turns or turns[-1].role != "tool":
        return None
    for turn in reversed(turns):
        if turn.role == "assistant":
            return turn.route if turn.tool_calls else None
    return None
